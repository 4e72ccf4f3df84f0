#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "shoppulse/importer/importer.hpp"
#include "shoppulse/importer/progress_renderer.hpp"
#include "support/temp_dir.hpp"

using namespace shoppulse;

namespace {

struct Imported {
  Result<ImportReport> report = make_error(Errc::internal, "not run");
  std::vector<RawEvent> events;
  std::size_t batches = 0;
};

Imported run(std::string_view text, ImportFormat format, ImportOptions options = {}) {
  Imported out;
  options.now_ms = 1700000000000;
  out.report = import_text(text, format, options, [&](std::vector<RawEvent>&& batch) -> Result<void> {
    ++out.batches;
    for (auto& e : batch) out.events.push_back(std::move(e));
    return {};
  });
  return out;
}

// "line N: reason" for every problem, for readable failures.
std::string problems(const ImportReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += "line " + std::to_string(p.line) + ": " + p.reason + "\n";
  return out;
}

bool has(const ImportReport& r, std::uint64_t line, std::string_view fragment) {
  for (const auto& p : r.problems)
    if (p.line == line && p.reason.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("Taobao rows map behaviours and seconds to events", "[importer]") {
  const auto r = run("543462,1715,1464116,pv,1511658000\n"
                     "1,2,3,cart,1511658001\n"
                     "1,2,3,fav,1511658002\n"
                     "1,2,3,buy,1511658003\n",
                     ImportFormat::taobao_csv);
  REQUIRE(r.report);
  CHECK(r.report->bad_lines == 0);
  REQUIRE(r.events.size() == 4);
  CHECK(r.events[0].user_id == "543462");
  CHECK(r.events[0].product_id == "1715");
  CHECK(r.events[0].category_id == "1464116");
  CHECK(r.events[0].type == EventType::view);
  CHECK(r.events[0].time_ms == 1511658000000);
  CHECK(r.events[1].type == EventType::add_to_cart);
  CHECK(r.events[2].type == EventType::favorite);
  CHECK(r.events[3].type == EventType::purchase);
  CHECK(r.events[0].event_id.size() == 14);
  CHECK(r.events[0].event_id != r.events[1].event_id);
}

TEST_CASE("Malformed Taobao lines are reported with number and reason, the rest loads", "[importer]") {
  const auto r = run("1,2,3,pv,1511658000\n"
                     "1,2,3,pv\n"                   // 2: too few fields
                     "1,2,3,like,1511658000\n"      // 3: unknown behaviour
                     "1,2,3,pv,soon\n"              // 4: bad timestamp
                     ",2,3,pv,1511658000\n"         // 5: empty user
                     "\n"                           // 6: blank, skipped silently
                     "1,2,3,pv,1511658000,extra\n"  // 7: too many fields
                     "1,2,3,pv,1511658000\n"        // 8: duplicate of 1
                     "7,8,9,buy,1511658009\n",
                     ImportFormat::taobao_csv);
  REQUIRE(r.report);
  INFO(problems(*r.report));
  CHECK(r.events.size() == 2);
  CHECK(r.report->bad_lines == 6);
  CHECK(r.report->lines == 9);
  CHECK(has(*r.report, 2, "expected 5 fields, found 4"));
  CHECK(has(*r.report, 3, "unknown behavior 'like'"));
  CHECK(has(*r.report, 4, "timestamp"));
  CHECK(has(*r.report, 5, "empty user_id"));
  CHECK(has(*r.report, 7, "expected 5 fields, found more"));
  CHECK(has(*r.report, 8, "duplicate of line 1"));
  CHECK(r.report->duplicates == 1);
}

TEST_CASE("REES46 rows load with header, CRLF, empty fields and zero prices", "[importer]") {
  const std::string text =
      "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\r\n"
      "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3\r\n"
      "2019-10-01 00:00:01 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,"
      "33.20,554748717,9333dfbd-b87a\r\n"
      "2019-10-01 00:00:02 UTC,purchase,17200506,,,,0,543272936,8187d148\r\n"
      "2019-10-01 00:00:03 UTC,remove_from_cart,17200506,,,,,543272936,8187d148\r\n";
  const auto r = run(text, ImportFormat::rees46_csv);
  REQUIRE(r.report);
  INFO(problems(*r.report));
  CHECK(r.report->bad_lines == 0);
  REQUIRE(r.events.size() == 4);
  CHECK(r.events[0].time_ms == 1569888000000);
  CHECK(r.events[0].type == EventType::view);
  CHECK(r.events[0].price_minor == 3579);
  CHECK(r.events[0].user_id == "541312140");
  CHECK(r.events[0].session_id == "72d76fde-8bb3");
  CHECK(r.events[1].type == EventType::add_to_cart);
  CHECK(r.events[1].category_id == "2053013552326770905");
  CHECK(r.events[2].type == EventType::purchase);
  CHECK(r.events[2].category_id.empty());
  CHECK(r.events[2].price_minor == 0);
  CHECK(r.events[3].type == EventType::remove_from_cart);
  CHECK(r.report->zero_prices == 1);
}

TEST_CASE("Malformed REES46 lines are reported with number and reason, the rest loads", "[importer]") {
  const std::string text =
      "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
      "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,10,s\n"             // 2 ok
      "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,10,s\r\n"           // 3 duplicate of 2 (CRLF aside)
      "yesterday,view,1,2,,,1.00,10,s\n"                           // 4 bad time
      "2019-10-01 00:00:05 UTC,wishlist,1,2,,,1.00,10,s\n"         // 5 unknown type
      "2019-10-01 00:00:06 UTC,view,1,2,,,1.00,,s\n"               // 6 empty user
      "2019-10-01 00:00:07 UTC,purchase,,2,,,1.00,10,s\n"          // 7 purchase without product
      "2019-10-01 00:00:08 UTC,view,1,2,,,-3,10,s\n"               // 8 negative price
      "2019-10-01 00:00:09 UTC,view,1,2,,,1.999,10,s\n"            // 9 too precise
      "2019-10-01 00:00:10 UTC,view,1,abc,,,1.00,10,s\n"           // 10 category not integer
      "2019-10-01 00:00:11 UTC,,1,2,,,1.00,10,s\n"                 // 11 empty type
      "2019-10-01 00:00:12 UTC,view,3,2,,,2.50,11,t\n"             // 12 ok
      "2019-10-01 00:00:13 UTC,purchase,3,2,,,2.5";                // 13 truncated, no newline
  const auto r = run(text, ImportFormat::rees46_csv);
  REQUIRE(r.report);
  INFO(problems(*r.report));
  CHECK(r.events.size() == 2);
  CHECK(r.report->lines == 13);
  CHECK(r.report->bad_lines == 10);
  CHECK(has(*r.report, 3, "duplicate of line 2"));
  CHECK(has(*r.report, 4, "event_time"));
  CHECK(has(*r.report, 5, "unknown event_type 'wishlist'"));
  CHECK(has(*r.report, 6, "empty user_id"));
  CHECK(has(*r.report, 7, "empty product_id"));
  CHECK(has(*r.report, 8, "price '-3'"));
  CHECK(has(*r.report, 9, "price '1.999'"));
  CHECK(has(*r.report, 10, "category_id"));
  CHECK(has(*r.report, 11, "empty event_type"));
  CHECK(has(*r.report, 13, "truncated last line"));
  CHECK(has(*r.report, 13, "expected 9 fields, found 7"));
}

TEST_CASE("A last line without newline that is complete still loads", "[importer]") {
  const auto r = run("1,2,3,pv,1511658000\n4,5,6,buy,1511658001", ImportFormat::taobao_csv);
  REQUIRE(r.report);
  CHECK(r.events.size() == 2);
  CHECK(r.report->bad_lines == 0);
}

TEST_CASE("NDJSON lines go through the API parser; bad lines are reported", "[importer]") {
  const std::string text =
      "{\"user_id\":\"u1\",\"event_type\":\"view\",\"product_id\":\"p1\",\"timestamp\":1511658000000}\n"
      "{\"user_id\":\"u1\",\"event_type\":\"teleport\"}\n"
      "not json\n"
      "\n"
      "{\"user_id\":\"u2\",\"event_type\":\"purchase\",\"product_id\":\"p1\",\"price\":\"19.99\","
      "\"location\":\"上海\",\"timestamp\":1511658001000}\n";
  const auto r = run(text, ImportFormat::ndjson);
  REQUIRE(r.report);
  INFO(problems(*r.report));
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[1].price_minor == 1999);
  CHECK(r.events[1].location == "上海");
  CHECK(r.report->bad_lines == 2);
  CHECK(has(*r.report, 2, "event_type"));
  CHECK(r.report->problems.size() == 2);
  CHECK(r.report->problems[1].line == 3);
}

TEST_CASE("Over-long lines are skipped without losing the lines after them", "[importer]") {
  ImportOptions options;
  options.max_line_bytes = 64;
  options.read_chunk_bytes = 16;  // forces lines across reads
  std::string text = "1,2,3,pv,1511658000\n" + std::string(500, 'x') + "\n4,5,6,pv,1511658001\n";
  for (std::size_t chunk : {std::size_t{16}, std::size_t{1} << 20}) {  // split across reads, and whole
    options.read_chunk_bytes = chunk;
    const auto r = run(text, ImportFormat::taobao_csv, options);
    REQUIRE(r.report);
    INFO(problems(*r.report));
    CHECK(r.events.size() == 2);
    CHECK(r.report->bad_lines == 1);
    CHECK(has(*r.report, 2, "longer than 64 bytes"));
  }
}

TEST_CASE("Batches respect the batch size and a failing sink stops the import", "[importer]") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::to_string(i) + ",2,3,pv," + std::to_string(1511658000 + i) + "\n";
  ImportOptions options;
  options.batch_events = 30;
  const auto ok = run(text, ImportFormat::taobao_csv, options);
  REQUIRE(ok.report);
  CHECK(ok.batches == 4);
  CHECK(ok.report->events == 100);
  int calls = 0;
  auto failed = import_text(text, ImportFormat::taobao_csv, options, [&](std::vector<RawEvent>&&) -> Result<void> {
    if (++calls == 2) return make_error(Errc::unavailable, "ingest stopped");
    return {};
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == Errc::unavailable);
  CHECK(calls == 2);
}

TEST_CASE("A sink may read a batch in place or take it; every batch holds only its own events", "[importer]") {
  std::string text;
  for (int i = 0; i < 7; ++i) text += std::to_string(i) + ",2,3,pv," + std::to_string(1511658000 + i) + "\n";
  ImportOptions options;
  options.batch_events = 3;
  for (const bool take : {false, true}) {
    INFO("sink takes the batch: " << take);
    std::vector<std::size_t> sizes;
    std::vector<std::string> users;
    auto r = import_text(text, ImportFormat::taobao_csv, options, [&](std::vector<RawEvent>&& batch) -> Result<void> {
      std::vector<RawEvent> kept;
      if (take) kept = std::move(batch);
      const std::vector<RawEvent>& seen = take ? kept : batch;
      sizes.push_back(seen.size());
      for (const RawEvent& e : seen) users.push_back(e.user_id);
      return {};
    });
    REQUIRE(r);
    CHECK(sizes == std::vector<std::size_t>{3, 3, 1});
    CHECK(users == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"});
  }
}

TEST_CASE("A missing file is an io_error, not a crash", "[importer]") {
  auto r = import_file("no/such/file.csv", ImportFormat::taobao_csv, {}, [](std::vector<RawEvent>&&) -> Result<void> {
    return {};
  });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::io_error);
}

TEST_CASE("Progress reports bytes and events and ends with finished", "[importer]") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += std::to_string(i) + ",2,3,pv,1511658000\n";
  ManualClock clock(1000);
  ImportOptions options;
  options.clock = &clock;
  options.read_chunk_bytes = 4096;
  options.progress_interval_ms = 0;
  std::vector<ImportProgress> seen;
  std::size_t at = 0;
  auto r = import_stream(
      [&](char* buf, std::size_t n) {
        clock.advance(10);
        const std::size_t k = std::min(n, text.size() - at);
        std::memcpy(buf, text.data() + at, k);
        at += k;
        return k;
      },
      text.size(), ImportFormat::taobao_csv, options, [](std::vector<RawEvent>&&) -> Result<void> { return {}; },
      [&](const ImportProgress& p) { seen.push_back(p); });
  REQUIRE(r);
  REQUIRE(seen.size() >= 2);
  CHECK(seen.back().finished);
  CHECK(seen.back().bytes_done == text.size());
  CHECK(seen.back().events == 1000);
  CHECK(seen.back().events_per_s > 0);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].bytes_done >= seen[i - 1].bytes_done);
}

TEST_CASE("The progress line shows bar, percent, rate and ETA", "[importer]") {
  ImportProgress p;
  p.bytes_done = 50 << 20;
  p.bytes_total = 100 << 20;
  p.events = 1500000;
  p.elapsed_s = 10;
  p.events_per_s = 150000;
  const std::string line = ProgressRenderer::format_line(p, true, 10);
  CHECK(line.find("[#####.....]") == 0);
  CHECK(line.find("50.0%") != std::string::npos);
  CHECK(line.find("150.0k ev/s") != std::string::npos);
  CHECK(line.find("ETA 0:10") != std::string::npos);
  p.finished = true;
  CHECK(ProgressRenderer::format_line(p, false).find("done in 0:10") != std::string::npos);
  p.bytes_total = 0;  // a pipe: no percent
  CHECK(ProgressRenderer::format_line(p, true).find('%') == std::string::npos);
}

TEST_CASE("CSV parsing runs at over a million events per second", "[importer][.slow]") {
  std::string text;
  for (int i = 0; i < 2000000; ++i)
    text += std::to_string(100000 + i % 70000) + "," + std::to_string(2000000 + i % 90000) + ",4000,pv," +
            std::to_string(1511658000 + i / 100) + "\n";
  ImportOptions options;
  options.derive_event_ids = true;
  std::size_t n = 0;
  const auto start = std::chrono::steady_clock::now();
  auto r = import_text(text, ImportFormat::taobao_csv, options, [&](std::vector<RawEvent>&& b) -> Result<void> {
    n += b.size();
    return {};
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r);
  WARN("parsed " << n << " events in " << s << " s: " << n / s / 1e6 << " M events/s");
  CHECK(n / s > 1e6);
}

TEST_CASE("an import fingerprint depends on the bytes and the format, not on how they arrive", "[importer]") {
  std::string data;
  for (int i = 0; i < 300000; ++i) data += std::to_string(i) + ",1,2,pv,1511658000\n";  // several MiB
  ImportFingerprint whole;
  whole.add(data);
  ImportFingerprint pieces;
  for (std::size_t at = 0; at < data.size(); at += 777) pieces.add(std::string_view(data).substr(at, 777));
  CHECK(whole.record_name("taobao") == pieces.record_name("taobao"));
  CHECK(whole.record_name("taobao") != whole.record_name("rees46"));
  std::string changed = data;
  changed[data.size() / 2] ^= 1;
  ImportFingerprint other;
  other.add(changed);
  CHECK(other.record_name("taobao") != whole.record_name("taobao"));
  ImportFingerprint shorter;
  shorter.add(std::string_view(data).substr(0, data.size() - 1));
  CHECK(shorter.record_name("taobao") != whole.record_name("taobao"));
  CHECK(whole.record_name("taobao").rfind("import/taobao/", 0) == 0);
}

TEST_CASE("count_names estimates each kind's distinct names in a file, against exact sets", "[importer]") {
  test_support::TempDir dir("shoppulse-importer");
  const std::string path = dir.sub("rows.csv");
  // Users repeat, items are drawn from a larger set, a few hundred
  // categories; the exact sets are the oracle.
  std::set<std::string> users, items, categories;
  {
    std::ofstream out(path);
    std::uint64_t x = 7;
    for (int i = 0; i < 60'000; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const std::string user = std::to_string(1000 + (x >> 33) % 20'000);
      const std::string item = std::to_string(500'000 + (x >> 13) % 45'000);
      const std::string category = std::to_string(9 + (x >> 40) % 300);
      users.insert(user);
      items.insert(item);
      categories.insert(category);
      out << user << ',' << item << ',' << category << ",pv," << 1511544070 + i << '\n';
    }
    out << "not,a,row\n";  // a bad line is skipped, as the import skips it
  }
  auto counted = count_names(path, ImportFormat::taobao_csv);
  REQUIRE(counted.ok());
  CHECK(counted->events == 60'000);
  const auto near = [](std::size_t estimate, std::size_t exact) {
    INFO(estimate << " estimated, " << exact << " exact");
    // 1.6 % standard error; a fixed input, so 4 of them is no matter of luck.
    CHECK(std::abs(static_cast<double>(estimate) - static_cast<double>(exact)) <= 0.064 * static_cast<double>(exact));
  };
  near(counted->distinct[static_cast<std::size_t>(IdKind::user)], users.size());
  near(counted->distinct[static_cast<std::size_t>(IdKind::product)], items.size());
  near(counted->distinct[static_cast<std::size_t>(IdKind::category)], categories.size());
  CHECK(counted->distinct[static_cast<std::size_t>(IdKind::device)] == 0);
  CHECK(counted->distinct[static_cast<std::size_t>(IdKind::location)] == 0);

  // Counted in parts cut at line ends (threads of their own), the sketches
  // merged: the registers, and so the estimates, are the very same, and so
  // is the number of events, whatever the cuts.
  for (const std::size_t parts : {std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{64}}) {
    INFO(parts << " parts");
    auto in_parts = count_names(path, ImportFormat::taobao_csv, {}, parts);
    REQUIRE(in_parts.ok());
    CHECK(in_parts->distinct == counted->distinct);
    CHECK(in_parts->events == counted->events);
  }
  {  // more parts than lines, and a last line without its newline
    const std::string tiny = dir.sub("tiny.csv");
    std::ofstream(tiny) << "1,2,3,pv,1511544070\n4,5,6,buy,1511544071";
    for (const std::size_t parts : {std::size_t{1}, std::size_t{2}, std::size_t{50}}) {
      auto few = count_names(tiny, ImportFormat::taobao_csv, {}, parts);
      REQUIRE(few.ok());
      CHECK(few->events == 2);
      CHECK(few->distinct[static_cast<std::size_t>(IdKind::user)] == 2);
      CHECK(few->distinct[static_cast<std::size_t>(IdKind::product)] == 2);
    }
  }

  auto missing = count_names(dir.sub("absent.csv"), ImportFormat::taobao_csv);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::io_error);
}
