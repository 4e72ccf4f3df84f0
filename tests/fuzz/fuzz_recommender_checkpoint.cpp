// The recommender's checkpoint decoder (Recommender::restore).
// Mode 0: the rest of the input is a checkpoint body; the target seals it
//   with the format's checksum so the decoder behind the checksum is
//   reached (seeds are real checkpoints, which carry the configuration's
//   fingerprint).
// Mode 1: an event stream applied straight and across a checkpoint/restore
//   half-way must end in the same checkpoint and the same answers.
// Mode 2: a real checkpoint with bytes overwritten and resealed.
// Whatever restore accepts must checkpoint to bytes that restore to the same
// bytes, answer every kind of query and keep learning without failing.
#include <bit>
#include <cstdint>

#include "event_stream.hpp"
#include "fuzz_configs.hpp"
#include "fuzz_input.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/recommend/recommender.hpp"

using namespace shoppulse;

namespace {

std::string seal(std::string body) {
  ByteWriter w;
  w.f64(std::bit_cast<double>(checksum64(body)));
  return body + std::string(w.view());
}

void exercise(Recommender& r, fuzz::FuzzInput& in) {
  const std::string cp = r.checkpoint();
  auto again = Recommender::restore(fuzz::recommender_config(), cp);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->checkpoint() == cp);
  for (Id u = 0; u < 6; ++u) {
    RecommendQuery q;
    q.user = u;
    q.limit = 5;
    q.strategy = static_cast<Strategy>(u % 4);
    q.exclude_viewed = u & 1;
    if (u == 5) q.category = 2;
    (void)r.recommend(q);
  }
  (void)r.similar(1 + in.byte() % 40, 5);
  (void)r.popular(PopularQuery{5, Id(in.byte() % 7), Id(in.byte() % 5)});
  (void)r.trending(5, Id(in.byte() % 7));
  (void)r.stats();
  std::vector<Event> more = fuzz::event_stream(in, 8);
  for (Event& e : more) {
    e.sequence += r.applied_through();
    e.time_ms = r.stats().now_ms + (e.time_ms - fuzz::kStreamBase);
  }
  r.apply(more);
  (void)r.recommend(RecommendQuery{});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const int mode = in.byte() % 3;
  if (mode == 0) {
    auto restored = Recommender::restore(fuzz::recommender_config(), seal(std::string(in.rest())));
    if (!restored) {
      FUZZ_CHECK(restored.error().code == Errc::corrupt || restored.error().code == Errc::invalid_argument);
      return 0;
    }
    fuzz::FuzzInput none(nullptr, 0);
    exercise(*restored, none);
    return 0;
  }

  const std::vector<Event> events = fuzz::event_stream(in, 64);
  const std::size_t half = events.empty() ? 0 : in.byte() % (events.size() + 1);
  const std::span<const Event> all(events);
  if (mode == 1) {
    Recommender straight(fuzz::recommender_config());
    straight.apply(all);
    Recommender first(fuzz::recommender_config());
    first.apply(all.first(half));
    auto resumed = Recommender::restore(fuzz::recommender_config(), first.checkpoint());
    FUZZ_CHECK(resumed.ok());
    resumed->apply(all.subspan(half));
    FUZZ_CHECK(resumed->checkpoint() == straight.checkpoint());
    for (Id u = 1; u <= 24; u += 5) {
      RecommendQuery q;
      q.user = u;
      const auto a = straight.recommend(q);
      const auto b = resumed->recommend(q);
      FUZZ_CHECK(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i)
        FUZZ_CHECK(a[i].product == b[i].product && a[i].score == b[i].score && a[i].reason.kind == b[i].reason.kind);
    }
    return 0;
  }

  Recommender model(fuzz::recommender_config());
  model.apply(all);
  std::string cp = model.checkpoint();
  std::string body = cp.substr(0, cp.size() - 8);
  for (std::size_t edits = 1 + in.byte() % 4; edits > 0 && !body.empty(); --edits) {
    const std::size_t at = in.integer<std::uint16_t>() % body.size();
    body[at] = static_cast<char>(in.byte());
  }
  if (in.byte() & 1) body.resize(in.integer<std::uint16_t>() % (body.size() + 1));
  auto restored = Recommender::restore(fuzz::recommender_config(), seal(body));
  if (!restored) {
    FUZZ_CHECK(restored.error().code == Errc::corrupt || restored.error().code == Errc::invalid_argument);
    return 0;
  }
  exercise(*restored, in);
  return 0;
}
