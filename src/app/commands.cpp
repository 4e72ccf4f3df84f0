#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "shoppulse/app/application.hpp"
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
// plain line every 5 s otherwise) instead of a silent pause, until both have
// applied everything or nothing moved for a minute. Returns the seconds spent.
double wait_for_derived_state(Application& app, bool tty) {
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
    const bool done = is.queued_events == 0 && windows >= target && recommend >= target;
    const auto now = Clock::now();
    if (tty || done || now - last_plain >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "%sapplying: windows %llu / %llu, recommendations %llu / %llu%s", tty ? "\r" : "",
                   static_cast<unsigned long long>(windows), static_cast<unsigned long long>(target),
                   static_cast<unsigned long long>(recommend), static_cast<unsigned long long>(target),
                   tty && !done ? "" : "\n");
      last_plain = now;
    }
    if (done) break;
    if (windows + recommend != last_seen) {
      last_seen = windows + recommend;
      last_progress = now;
    } else if (now - last_progress > std::chrono::minutes(1)) {
      if (tty) std::fprintf(stderr, "\n");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 100 : 250));
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int run_import(AppConfig cfg, const std::string& format_text, const std::string& path) {
  const auto format = format_of(format_text);
  if (!format) {
    std::fprintf(stderr, "shoppulse import: --format must be %s, got '%s'\n", kFormats, format_text.c_str());
    return 2;
  }
  cfg.serve_http = false;
  cfg.generator_enabled = false;
  auto opened = Application::open(cfg);
  if (!opened) {
    std::fprintf(stderr, "shoppulse import: %s\n", opened.error().detail.c_str());
    if (opened.error().detail.find("lock") != std::string::npos)
      std::fprintf(stderr, "(a running shoppulse holds this data dir; stop it, or upload with POST /api/import)\n");
    return 1;
  }
  Application& app = *opened.value();
  if (auto started = app.start(); !started) {
    std::fprintf(stderr, "shoppulse import: %s\n", started.error().detail.c_str());
    return 1;
  }
  Ingestor& ingestor = app.ingestor();
  ProgressRenderer render(stderr, stream_is_terminal(stderr));
  ImportOptions options;
  // The ingestor's queue is the backpressure: a refused batch is left intact
  // and retried, so nothing is dropped.
  auto report = import_file(
      path, *format, options,
      [&ingestor](std::vector<RawEvent>&& batch) -> Result<void> {
        for (;;) {
          auto submitted = ingestor.submit(std::move(batch), {});
          if (submitted || submitted.error().code != Errc::overloaded) return submitted;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
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
  const double catch_up_s = wait_for_derived_state(app, stream_is_terminal(stderr));
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
                 double train_fraction, bool only_new_items) {
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

}  // namespace shoppulse::app
