// Per-minute rollups as stored. First byte even: the rest is a stored value;
// a decoded rollup re-encodes to bytes that decode to the same rollup, with
// users, products and categories sorted as the format promises. First byte
// odd: the rest describes a rollup; decode(encode(x)) == x.
#include <algorithm>
#include <cstdint>

#include "fuzz_input.hpp"
#include "shoppulse/windows/rollup.hpp"

using namespace shoppulse;

namespace {

bool same(const MinuteRollup& a, const MinuteRollup& b) {
  auto ranked_eq = [](const std::vector<RankedId>& x, const std::vector<RankedId>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].id != y[i].id || x[i].count != y[i].count) return false;
    return true;
  };
  return a.minute == b.minute && a.events == b.events && a.revenue_minor == b.revenue_minor && a.users == b.users &&
         a.products == b.products && a.categories == b.categories && ranked_eq(a.devices, b.devices) &&
         ranked_eq(a.locations, b.locations);
}

void check_sorted(const MinuteRollup& r) {
  for (std::size_t i = 1; i < r.users.size(); ++i) FUZZ_CHECK(r.users[i - 1].first < r.users[i].first);
  auto pkey = [](const MinuteRollup::ProductCount& p) { return std::pair(p.product, p.type); };
  for (std::size_t i = 1; i < r.products.size(); ++i) FUZZ_CHECK(pkey(r.products[i - 1]) < pkey(r.products[i]));
  auto ckey = [](const MinuteRollup::CategoryCount& c) { return std::pair(c.category, c.type); };
  for (std::size_t i = 1; i < r.categories.size(); ++i) FUZZ_CHECK(ckey(r.categories[i - 1]) < ckey(r.categories[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::int64_t minute = in.integer<std::int32_t>();
  if ((in.byte() & 1) == 0) {
    auto decoded = decode_rollup(minute, in.rest());
    if (!decoded) {
      FUZZ_CHECK(decoded.error().code == Errc::corrupt);
      return 0;
    }
    FUZZ_CHECK(decoded->minute == minute);
    check_sorted(*decoded);
    auto again = decode_rollup(minute, encode_rollup(*decoded));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same(*decoded, *again));
    return 0;
  }

  MinuteRollup r;
  r.minute = minute;
  for (auto& n : r.events) n = in.integer<std::uint32_t>();
  r.revenue_minor = in.integer<std::int64_t>();
  Id user = 0, product = 0, category = 0, device = 0, location = 0;
  for (std::size_t n = in.byte() % 16; n > 0; --n) {
    user += 1 + in.byte();
    r.users.emplace_back(user, static_cast<std::uint8_t>(1 + in.byte() % 127));
  }
  for (std::size_t n = in.byte() % 16; n > 0; --n) {
    product += 1 + in.byte();
    r.products.push_back({product, in.integer<std::uint16_t>(), static_cast<EventType>(in.byte() % kEventTypeCount),
                          in.integer<std::uint32_t>()});
  }
  for (std::size_t n = in.byte() % 16; n > 0; --n) {
    category += 1 + in.byte();
    r.categories.push_back({category, static_cast<EventType>(in.byte() % kEventTypeCount), in.integer<std::uint32_t>()});
  }
  for (std::size_t n = in.byte() % 8; n > 0; --n) {
    device += 1 + in.byte();
    r.devices.push_back(RankedId{device, in.integer<std::uint32_t>()});
  }
  for (std::size_t n = in.byte() % 8; n > 0; --n) {
    location += 1 + in.byte();
    r.locations.push_back(RankedId{location, in.integer<std::uint32_t>()});
  }
  auto decoded = decode_rollup(minute, encode_rollup(r));
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(same(r, *decoded));
  return 0;
}
