// Writes seed inputs for the binary-format fuzz targets with the project's
// own encoders, so the fuzzer starts from real checkpoints, blocks and
// rollups: seed_writer <tests/fuzz folder>. Each file is named after what
// it holds; running it again rewrites the same bytes.
#include <bit>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "block_codec.hpp"
#include "fuzz_configs.hpp"
#include "shoppulse/core/byte_codec.hpp"

using namespace shoppulse;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// A small, deterministic shop: 12 users over 30 products, a few hours.
std::vector<Event> stream(std::size_t n) {
  std::vector<Event> events;
  TimestampMs t = 1709294400000;
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    Event e;
    e.sequence = i + 1;
    t += (x >> 8) % 9000;
    e.time_ms = t;
    e.type = static_cast<EventType>((x >> 4) % kEventTypeCount);
    e.user = 1 + (x >> 12) % 12;
    e.product = 1 + (x >> 16) % 30;
    e.category = 1 + e.product % 6;
    e.device = (x >> 20) % 3;
    e.location = (x >> 22) % 5;
    e.price_minor = e.type == EventType::purchase ? 1999 : 0;
    e.rating = e.type == EventType::rate ? 4 : 0;
    events.push_back(e);
  }
  return events;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: seed_writer <tests/fuzz folder>\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  for (std::size_t n : {0, 5, 60}) {
    const std::vector<Event> events = stream(n);
    const std::string suffix = std::to_string(n) + "-events";

    WindowEngine engine(fuzz::window_config());
    engine.apply(events);
    write(root / "window_checkpoint", "checkpoint-" + suffix, std::string(1, '\0') + engine.checkpoint());

    Recommender model(fuzz::recommender_config());
    model.apply(events);
    const std::string cp = model.checkpoint();
    write(root / "recommender_checkpoint", "checkpoint-" + suffix,
          std::string(1, '\0') + cp.substr(0, cp.size() - 8));

    if (n > 0) {
      std::vector<LogRecord> records;
      for (const Event& e : events) records.push_back(LogRecord{e, "ev-" + std::to_string(e.sequence), "s1"});
      auto block = eventlog::encode_block(records);
      if (block) write(root / "block_codec", "block-" + suffix, std::string(1, '\0') + *block);

      int kept = 0;
      for (const MinuteRollup& r : engine.take_closed_minutes()) {
        if (++kept > 3) break;
        std::string minute(4, '\0');
        const std::int32_t m = static_cast<std::int32_t>(r.minute);
        std::memcpy(minute.data(), &m, 4);
        write(root / "rollup", "rollup-" + suffix + "-" + std::to_string(kept), minute + std::string(1, '\0') + encode_rollup(r));
      }
    }
  }
  // Products in categories far apart: an ordinary id, the first id the
  // recommender keeps in a map rather than its dense index, and ids near the
  // largest a checkpoint may name.
  std::vector<Event> far = stream(40);
  for (Event& e : far) {
    const Id k = e.product % 4;
    e.category = k == 0 ? Id{1000} : k == 1 ? Id{1} << 20 : (Id{1} << 27) - k;
  }
  Recommender model(fuzz::recommender_config());
  model.apply(far);
  const std::string cp = model.checkpoint();
  write(root / "recommender_checkpoint", "checkpoint-far-categories", std::string(1, '\0') + cp.substr(0, cp.size() - 8));
  return 0;
}
