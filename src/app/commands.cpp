#include "commands.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "shoppulse/app/application.hpp"
#include "shoppulse/auth/keys.hpp"
#include "shoppulse/core/key_partition.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/importer/progress_renderer.hpp"
#include "shoppulse/recommend/evaluation.hpp"

namespace shoppulse::app {
namespace {

constexpr const char* kFormats = "taobao, rees46 or ndjson";

std::optional<ImportFormat> format_of(const std::string& text) {
  if (text == "taobao") return ImportFormat::taobao_csv;
  if (text == "rees46") return ImportFormat::rees46_csv;
  return parse_import_format(text);
}

// After an import the events are durable; the engine and the recommender
// are still applying them. Shows that work (a line redrawn on a terminal, a
// plain line every 5 s otherwise) instead of a silent pause, until the
// ingestor has taken `events` more than `before` (appended or refused as
// duplicates) and both have applied everything, or nothing moved for a
// minute. Returns the seconds spent.
double wait_for_derived_state(Application& app, const IngestStats& before, std::uint64_t events, bool tty) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_plain = start - std::chrono::seconds(10);
  auto last_progress = start;
  Sequence last_seen = 0;
  for (;;) {
    const IngestStats is = app.ingestor().stats();
    const Sequence target = is.last_sequence;
    const Sequence windows = app.engine().stats().applied_through;
    const Sequence recommend = app.recommend().stats().applied_through;
    const bool taken =
        is.appended_events + is.duplicate_events >= before.appended_events + before.duplicate_events + events;
    const bool done = taken && is.queued_events == 0 && windows >= target && recommend >= target;
    const auto now = Clock::now();
    if (tty || done || now - last_plain >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "%sapplying: windows %llu / %llu, recommendations %llu / %llu%s", tty ? "\r" : "",
                   static_cast<unsigned long long>(windows), static_cast<unsigned long long>(target),
                   static_cast<unsigned long long>(recommend), static_cast<unsigned long long>(target),
                   tty && !done ? "" : "\n");
      last_plain = now;
    }
    if (done) break;
    const std::uint64_t moved = windows + recommend + is.appended_events + is.duplicate_events;
    if (moved != last_seen) {
      last_seen = moved;
      last_progress = now;
    } else if (now - last_progress > std::chrono::minutes(1)) {
      if (tty) std::fprintf(stderr, "\n");
      break;
    }
    const auto next_draw = now + std::chrono::milliseconds(tty ? 100 : 250);
    if (taken && is.queued_events == 0) {
      // Everything is in the log and the target is final: the rest is the
      // two threads applying it, and they say when they have, so the wait
      // ends then rather than at the next redraw.
      app.engine().wait_until([&](const EngineStats& s) { return s.applied_through >= target; }, next_draw);
      app.recommend().wait_until([&](const RecommendRunnerStats& s) { return s.applied_through >= target; },
                                 next_draw);
    } else {
      // The ingestor's counters have no change signal: looked at again at
      // the next redraw.
      std::this_thread::sleep_until(next_draw);
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The record name of the file's bytes (see ImportFingerprint); empty when
// unreadable.
std::string import_record_name(const std::string& path, const std::string& format) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string block(1 << 20, '\0');
  ImportFingerprint fingerprint;
  for (;;) {
    const std::size_t n = std::fread(block.data(), 1, block.size(), f);
    if (n == 0) break;
    fingerprint.add(std::string_view(block.data(), n));
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  return failed ? std::string() : fingerprint.record_name(format);
}

// A large file's distinct names are counted in a first pass, and the
// dictionary's tables made at that size before the import fills them:
// growing by half again and again while millions of names arrive moved
// every entry about three times and made lookups probe two tables
// meanwhile, and held the old and the new tables at once (amplified Taobao
// 5M: the import's peak 35-73 MiB higher). The pass costs a parse of the
// file, without interning or storing anything; under kCountNamesFrom
// bytes it is not worth it.
void expect_names_of(const std::string& path, ImportFormat format, const ImportOptions& options, Ingestor& ingestor) {
  constexpr std::uintmax_t kCountNamesFrom = 16u << 20;
  std::error_code size_error;
  const std::uintmax_t size = std::filesystem::file_size(path, size_error);
  if (size_error || size < kCountNamesFrom) return;
  const auto began = std::chrono::steady_clock::now();
  // Both cores are idle before the import: a part each.
  auto counted = count_names(path, format, options, /*parts=*/2);
  if (!counted) return;  // the import itself reports what is wrong with the file
  std::array<std::size_t, kIdKindCount> expected{};
  // A tenth more than the estimate (six standard errors): a table that
  // filled up just before the end would grow by half after all.
  for (std::size_t k = 0; k < kIdKindCount; ++k) expected[k] = counted->distinct[k] + counted->distinct[k] / 10;
  ingestor.expect_names(expected);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::fprintf(stderr, "counted the file's names ahead in %.2f s: about %zu users, %zu products, %zu categories\n", took,
               counted->distinct[static_cast<std::size_t>(IdKind::user)],
               counted->distinct[static_cast<std::size_t>(IdKind::product)],
               counted->distinct[static_cast<std::size_t>(IdKind::category)]);
}

}  // namespace

int run_import(AppConfig cfg, const std::string& format_text, const std::string& path, bool force) {
  const auto format = format_of(format_text);
  if (!format) {
    std::fprintf(stderr, "shoppulse import: --format must be %s, got '%s'\n", kFormats, format_text.c_str());
    return 2;
  }
  cfg.serve_http = false;
  cfg.generator_enabled = false;
  // No adapters offline: the Kafka source would consume beside the import;
  // the Kafka sink and MongoDB pick the imported events and minutes up from
  // the log and the embedded store at the server's next start.
  cfg.kafka.servers.clear();
  cfg.redis.host.clear();
  cfg.mongodb.url.clear();
  cfg.storage_rollups = "rocksdb";
  auto opened = Application::open(cfg);
  if (!opened) {
    std::fprintf(stderr, "shoppulse import: %s\n", opened.error().detail.c_str());
    if (opened.error().detail.find("lock") != std::string::npos)
      std::fprintf(stderr, "(a running shoppulse holds this data dir; stop it, or upload with POST /api/import)\n");
    return opened.error().code == Errc::corrupt ? kExitDamaged : 1;
  }
  Application& app = *opened.value();
  // A completed import of the same bytes is on record: importing it again
  // would only be refused row by row (and not at all once its derived ids
  // left the bounded dedupe table), so it is skipped as a whole.
  const std::string record = import_record_name(path, format_text);
  if (!record.empty() && !force) {
    auto done = app.records().get_checkpoint(record);
    if (done && done.value()) {
      std::printf("%s was imported completely before (%s, through log sequence %llu); nothing to do "
                  "(--force imports it again)\n",
                  path.c_str(), done.value()->bytes.c_str(),
                  static_cast<unsigned long long>(done.value()->covers_through));
      return 0;
    }
  }
  if (auto started = app.start(); !started) {  // a damaged dictionary is found here, as it loads
    std::fprintf(stderr, "shoppulse import: %s\n", started.error().detail.c_str());
    return started.error().code == Errc::corrupt ? kExitDamaged : 1;
  }
  Ingestor& ingestor = app.ingestor();
  const IngestStats before = ingestor.stats();
  ProgressRenderer render(stderr, stream_is_terminal(stderr));
  ImportOptions options;
  // A batch larger than the whole queue would be refused outright.
  options.batch_events = std::min(options.batch_events, cfg.ingest.queue_capacity_events);
  expect_names_of(path, *format, options, ingestor);
  // The ingestor's queue is the backpressure: a refused batch is left intact
  // and submitted again once the ingest thread made room, so nothing is
  // dropped and nothing polls.
  auto report = import_file(
      path, *format, options,
      [&ingestor](std::vector<RawEvent>&& batch) -> Result<void> {
        for (;;) {
          auto submitted = ingestor.submit(std::move(batch), {});
          if (submitted || submitted.error().code != Errc::overloaded) return submitted;
          ingestor.wait_for_room(batch.size(), std::chrono::steady_clock::now() + std::chrono::seconds(1));
        }
      },
      std::ref(render));
  if (!report) {
    std::fprintf(stderr, "shoppulse import: %s\n", report.error().detail.c_str());
    app.stop();
    return 1;
  }
  for (const ImportProblem& p : report->problems)
    std::fprintf(stderr, "%s:%llu: %s\n", path.c_str(), static_cast<unsigned long long>(p.line), p.reason.c_str());
  const double catch_up_s = wait_for_derived_state(app, before, report->events, stream_is_terminal(stderr));
  if (!record.empty()) {
    const IngestStats done = ingestor.stats();
    const std::string what = std::to_string(report->lines) + " lines, " + std::to_string(done.appended_events) +
                             " events added";
    if (auto put = app.records().put_checkpoint(record, Checkpoint{done.last_sequence, what}); !put)
      std::fprintf(stderr, "shoppulse import: could not record the import: %s\n", put.error().detail.c_str());
  }
  // stop() drains what is left, flushes rollups and writes both checkpoints,
  // so the next start has nothing to replay.
  app.stop();
  const IngestStats stats = ingestor.stats();
  std::printf("imported %llu events from %s (%llu lines, %llu bad, %llu duplicates skipped, %llu zero prices) "
              "in %.2f s; log sequence now %llu; windows and recommendations caught up %.2f s later\n",
              static_cast<unsigned long long>(stats.appended_events), path.c_str(),
              static_cast<unsigned long long>(report->lines), static_cast<unsigned long long>(report->bad_lines),
              static_cast<unsigned long long>(stats.duplicate_events + report->duplicates),
              static_cast<unsigned long long>(report->zero_prices), report->elapsed_s,
              static_cast<unsigned long long>(stats.last_sequence), catch_up_s);
  return 0;
}

int run_evaluate(const AppConfig& cfg, const std::string& format_text, const std::string& path, bool json,
                 double train_fraction, bool only_new_items, std::uint32_t partitions) {
  const auto format = format_of(format_text);
  if (!format) {
    std::fprintf(stderr, "shoppulse evaluate: --format must be %s, got '%s'\n", kFormats, format_text.c_str());
    return 2;
  }
  if (!(train_fraction > 0 && train_fraction < 1)) {
    std::fprintf(stderr, "shoppulse evaluate: --train-fraction must be between 0 and 1\n");
    return 2;
  }
  ProgressRenderer render(stderr, stream_is_terminal(stderr));
  auto loaded = load_events(path, *format, {}, std::ref(render));
  if (!loaded) {
    std::fprintf(stderr, "shoppulse evaluate: %s\n", loaded.error().detail.c_str());
    return 1;
  }
  EvaluationOptions options;
  options.train_fraction = train_fraction;
  options.only_new_items = only_new_items;
  options.recommender = cfg.recommend;
  // The partition a cluster's producer gives the user's events: Kafka's
  // partitioner over the user id's text, as key_partition computes it.
  std::vector<std::uint32_t> partition_of;
  if (partitions > 0) {
    options.partitions = partitions;
    options.partition_of = [&, partitions](Id user) {
      if (user >= partition_of.size()) partition_of.resize(user + 1, ~0u);
      std::uint32_t& p = partition_of[user];
      if (p == ~0u) p = key_partition(loaded->dictionary->name(IdKind::user, user), partitions);
      return p;
    };
  }
  // A propensity example is resolved only once its horizon has passed: on a
  // short data set a horizon longer than the test part leaves no test example
  // at all. Keep it within half the test span.
  if (!loaded->events.empty()) {
    auto [lo, hi] = std::minmax_element(loaded->events.begin(), loaded->events.end(),
                                        [](const Event& a, const Event& b) { return a.time_ms < b.time_ms; });
    const auto test_span = static_cast<std::int64_t>(double(hi->time_ms - lo->time_ms) * (1 - train_fraction));
    auto& horizon = options.recommender.propensity.horizon_ms;
    if (test_span > 0 && horizon > test_span / 2) {
      horizon = std::max<std::int64_t>(60000, test_span / 2);
      std::fprintf(stderr, "shoppulse evaluate: purchase-propensity horizon shortened to %lld s to fit the test part\n",
                   static_cast<long long>(horizon / 1000));
    }
  }
  const EvaluationResult result = evaluate(loaded->events, options);
  std::fputs((json ? to_json(result) : to_table(result)).c_str(), stdout);
  if (json) std::fputc('\n', stdout);
  return 0;
}

namespace {

constexpr const char* kKeysUsage =
    "usage: shoppulse keys create --scope read|ingest|admin[,...] [--name NAME] [--data-dir DIR]\n"
    "       shoppulse keys create --public --origin https://shop.example [--origin ...] [--name NAME]\n"
    "       shoppulse keys list [--data-dir DIR]\n"
    "       shoppulse keys revoke ID|KEY [--data-dir DIR]\n";

int keys_usage(const std::string& problem) {
  std::fprintf(stderr, "shoppulse keys: %s\n%s", problem.c_str(), kKeysUsage);
  return 2;
}

std::string hex_id(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

}  // namespace

int run_keys(const AppConfig& cfg, const std::vector<std::string>& args) {
  if (args.empty()) return keys_usage("missing create, list or revoke");
  const std::string& action = args[0];
  auth::KeyFile file(cfg.eventlog.data_dir);
  const auto now = SystemClock().now_ms();
  if (action == "create") {
    std::optional<unsigned> scopes;
    std::string name;
    bool is_public = false;
    std::vector<std::string> origins;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&](const char* flag) -> const std::string* {
        return i + 1 < args.size() ? &args[++i] : (keys_usage(std::string(flag) + " needs a value"), nullptr);
      };
      if (a == "--scope") {
        const auto* v = value("--scope");
        if (!v) return 2;
        scopes = auth::parse_scopes(*v);
        if (!scopes) return keys_usage("--scope must be read, ingest or admin (comma-separated), got '" + *v + "'");
      } else if (a == "--name") {
        const auto* v = value("--name");
        if (!v) return 2;
        name = *v;
      } else if (a == "--origin") {
        const auto* v = value("--origin");
        if (!v) return 2;
        origins.push_back(*v);
      } else if (a == "--public") {
        is_public = true;
      } else {
        return keys_usage("unknown argument '" + a + "'");
      }
    }
    if (is_public && !scopes) scopes = auth::kScopeIngest;
    if (!scopes) return keys_usage("create needs --scope (or --public)");
    auto created = file.create(*scopes, name, is_public, origins, now);
    if (!created) {
      std::fprintf(stderr, "shoppulse keys: %s\n", created.error().detail.c_str());
      return created.error().code == Errc::invalid_argument ? 2 : 1;
    }
    std::printf("%s\n", created->key.c_str());
    std::fprintf(stderr,
                 "created key %s (%s%s); it is shown only this once and stored hashed in %s\n",
                 created->entry.id.c_str(), auth::scopes_text(created->entry.scopes).c_str(),
                 is_public ? ", public" : "", file.path().c_str());
    return 0;
  }
  if (action == "list") {
    if (args.size() > 1) return keys_usage("list takes no arguments");
    auto entries = file.load();
    if (!entries) {
      std::fprintf(stderr, "shoppulse keys: %s\n", entries.error().detail.c_str());
      return 1;
    }
    std::printf("%-12s  %-18s  %-8s  %-24s  %s\n", "ID", "SCOPES", "STATUS", "CREATED", "NAME / ORIGINS");
    for (const auto& e : *entries) {
      std::string label = e.name;
      for (const auto& o : e.origins) label += (label.empty() ? "" : " ") + o;
      const std::string scopes = auth::scopes_text(e.scopes) + (e.is_public ? ",public" : "");
      std::printf("%-12s  %-18s  %-8s  %-24s  %s\n", e.id.c_str(), scopes.c_str(),
                  e.revoked() ? "revoked" : "active", format_iso8601(e.created_ms).c_str(), label.c_str());
    }
    return 0;
  }
  if (action == "revoke") {
    if (args.size() != 2) return keys_usage("revoke needs exactly one key id");
    auto revoked = file.revoke(args[1], now);
    if (!revoked) {
      std::fprintf(stderr, "shoppulse keys: %s\n", revoked.error().detail.c_str());
      return revoked.error().code == Errc::not_found ? 1 : 1;
    }
    std::printf("revoked %s\n", revoked->id.c_str());
    return 0;
  }
  return keys_usage("unknown action '" + action + "'");
}

std::size_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t connection_cap(std::size_t descriptors) {
  // A quarter of the descriptors (at least 64, at most 1024) stay for
  // RocksDB's files, the log and the listener.
  if (descriptors == SIZE_MAX) return SIZE_MAX;
  const std::size_t reserve = std::clamp<std::size_t>(descriptors / 4, 64, 1024);
  return descriptors > reserve + 8 ? descriptors - reserve : 8;
}

const std::vector<std::pair<std::string, std::string>>& demo_settings() {
  // A shop of a few thousand shoppers and ~1,500 products at a steady 20
  // events/s: a busy small shop whose panels all move. 30 days or 2 GiB of
  // log, whichever is reached first, fits a small SD card or disk for
  // months; rollups follow the same age.
  static const std::vector<std::pair<std::string, std::string>> settings{
      {"generator.enabled", "true"},
      {"generator.events_per_second", "20"},
      {"generator.users_count", "5000"},
      {"generator.products_count", "1500"},
      {"generator.categories_count", "30"},
      {"generator.behavior_patterns", "view:0.62, click:0.22, add_to_cart:0.1, purchase:0.045, rate:0.015"},
      {"generator.price_range.min", "5"},
      {"generator.price_range.max", "2000"},
      {"eventlog.durability", "fsync"},
      {"eventlog.retention_max_age", "30d"},
      {"eventlog.retention_max_bytes", "2147483648"},
  };
  return settings;
}

const std::vector<std::pair<std::string, std::string>>& import_settings() {
  // The importing thread waits for room (it is never refused), so eight of
  // its batches of 8192 keep the ingest thread busy; the server's defaults
  // (2^20 each) are burst room for HTTP clients. With the server's defaults
  // the engine, the slowest stage on large catalogues, keeps its ring full
  // and the ingest queue fills behind it: about 56 MiB and 115 MiB more RSS
  // on the amplified Taobao 5M, with the log running seconds ahead of the
  // windows and no faster end to end.
  static const std::vector<std::pair<std::string, std::string>> settings{
      {"ingest.queue_capacity_events", "65536"},
      {"ingest.ring_capacity", "65536"},
  };
  return settings;
}

int run_verify(const AppConfig& cfg) {
  const VerifyReport r = verify_rocksdb_store(cfg.eventlog);
  std::printf("data dir: %s\n", cfg.eventlog.data_dir.c_str());
  if (r.opened) {
    std::printf("log: sequences %llu..%llu in %llu blocks (%llu events)\n",
                static_cast<unsigned long long>(r.first_sequence), static_cast<unsigned long long>(r.last_sequence),
                static_cast<unsigned long long>(r.blocks), static_cast<unsigned long long>(r.events));
    std::printf("dictionary: %llu entries; checkpoints: %llu; rollup minutes: %llu\n",
                static_cast<unsigned long long>(r.dictionary_entries), static_cast<unsigned long long>(r.checkpoints),
                static_cast<unsigned long long>(r.rollup_minutes));
  }
  if (r.incarnation)
    std::printf("incarnation %s, synced through sequence %llu\n", hex_id(r.incarnation).c_str(),
                static_cast<unsigned long long>(r.synced_through));
  if (r.problems.empty()) {
    std::printf("ok: every check passed\n");
    return 0;
  }
  std::printf("DAMAGED: %zu problem%s\n", r.problems.size(), r.problems.size() == 1 ? "" : "s");
  for (const std::string& p : r.problems) std::printf("  - %s\n", p.c_str());
  std::printf("'shoppulse recover --to-last-good --data-dir %s' keeps the consistent part\n",
              cfg.eventlog.data_dir.c_str());
  return kExitDamaged;
}

int run_recover(const AppConfig& cfg) {
  auto done = recover_rocksdb_store(cfg.eventlog);
  if (!done) {
    std::fprintf(stderr, "shoppulse recover: %s\n", done.error().detail.c_str());
    if (done.error().detail.find("lock") != std::string::npos)
      std::fprintf(stderr, "(a running shoppulse holds this data dir; stop it first)\n");
    return done.error().code == Errc::corrupt ? kExitDamaged : 1;
  }
  const RecoverReport& r = *done;
  for (const std::string& note : r.notes) std::printf("found: %s\n", note.c_str());
  std::printf("kept: the log through sequence %llu\n", static_cast<unsigned long long>(r.kept_through));
  if (r.dropped_from) {
    std::printf("dropped: sequences %llu..%llu (%llu events removed from the log, %llu synced events already "
                "missing), %llu blocks\n",
                static_cast<unsigned long long>(r.dropped_from), static_cast<unsigned long long>(r.dropped_through),
                static_cast<unsigned long long>(r.dropped_events),
                static_cast<unsigned long long>(r.lost_synced_events),
                static_cast<unsigned long long>(r.dropped_blocks));
  } else {
    std::printf("dropped: no event\n");
  }
  std::printf("dropped: %llu dictionary entries, %llu checkpoints, %llu rollup minutes (rebuilt from the log at the "
              "next start)\n",
              static_cast<unsigned long long>(r.dropped_dictionary_entries),
              static_cast<unsigned long long>(r.dropped_checkpoints),
              static_cast<unsigned long long>(r.dropped_rollup_minutes));
  if (r.rebuilt_manifest) std::printf("rebuilt: the MANIFEST, from the table files\n");
  if (r.new_incarnation != r.old_incarnation)
    std::printf("incarnation: %s -> %s (acknowledgements after sequence %llu of the old one no longer hold)\n",
                hex_id(r.old_incarnation).c_str(), hex_id(r.new_incarnation).c_str(),
                static_cast<unsigned long long>(r.kept_through));
  else
    std::printf("incarnation: %s, unchanged\n", hex_id(r.new_incarnation).c_str());
  return 0;
}

}  // namespace shoppulse::app
