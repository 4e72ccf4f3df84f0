// shoppulse: real-time e-commerce analytics in one process. main() only
// parses the command line, builds the config and runs the Application.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "readiness.hpp"
#include "shoppulse/app/application.hpp"
#include "shoppulse/core/build_info.hpp"
#include "shoppulse/core/log.hpp"

#if defined(SHOPPULSE_JEMALLOC)
// jemalloc's options, read when it starts (MALLOC_CONF in the environment
// still overrides them): a background thread hands pages freed for 5 s back
// to the system with MADV_DONTNEED (muzzy decay 0: no MADV_FREE pages, which
// stay in RSS until the kernel wants them), so RSS follows what is in use
// instead of its high-water mark, without purging on the threads that
// ingest and answer. Requests of 1 MiB or more (request bodies, checkpoint
// parts, RocksDB's memtable blocks) come from jemalloc's arena for oversize
// requests, which hands them back as soon as they are freed instead of
// keeping them for 5 s: 40-45 MiB off the peak of an import of 5 M events.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0,oversize_threshold:1048576";
}
#endif

namespace {

constexpr const char* kUsage = R"(shoppulse - real-time e-commerce analytics in one process

Usage: shoppulse [options]
       shoppulse import --format taobao|rees46|ndjson FILE [--force] [options]
       shoppulse evaluate --format taobao|rees46|ndjson FILE [--json] [--train-fraction F] [--only-new]
                [--partitions N]
       shoppulse keys create --scope read|ingest|admin[,...] [--name NAME] [options]
       shoppulse keys create --public --origin URL [--origin URL ...] [--name NAME] [options]
       shoppulse keys list|revoke ID [options]
       shoppulse demo [options]
       shoppulse verify [--data-dir DIR] [options]
       shoppulse recover --to-last-good [--data-dir DIR] [options]

Commands:
  (none)               run the server: ingest, engine, API, dashboard, generator
  import               load FILE into the data dir through the ingest path
                       (durable and replayable; the server must not be running
                       on the same data dir: use POST /api/import instead);
                       a file with the same bytes imported completely before
                       is skipped, --force imports it again (rows already in
                       the log are still dropped by their derived event ids)
  evaluate             replay FILE offline, split it by time, and report
                       HitRate/Precision/Recall/NDCG@10 and coverage of every
                       recommender plus the AUC of purchase propensity;
                       --partitions N also answers each user from a model
                       learned from its partition's users only, as a cluster
                       of N partitions does, and reports its loss
  keys                 manage API keys in the data dir (stored hashed;
                       create prints the new key once); a running server
                       sees the change on its next request
  demo                 run the server as a demo appliance: the generator on
                       with a larger shop, bounded retention (30 days or
                       2 GiB of log), fsync durability; the kiosk dashboard
                       is at /?kiosk. A config file, the environment and
                       flags still override these settings
  verify               check the data dir without changing it: table and
                       block checksums, sequence continuity, dictionary,
                       checkpoints, rollups; exit 0 when consistent, 3 when
                       damaged (may run beside a server)
  recover              --to-last-good: keep the longest consistent prefix of
                       the log and print exactly what was dropped (the server
                       must be stopped)

Options:
  --config FILE        read settings from FILE (key = value lines; see config/shoppulse.conf)
  --port N             HTTP port (same as --set http.port=N)
  --data-dir DIR       database directory (same as --set eventlog.data_dir=DIR)
  --generator on|off   start the built-in event generator (same as --set generator.enabled=...)
  --static-dir DIR     serve dashboard files from DIR instead of the embedded copy
  --set KEY=VALUE      set any configuration key; may be repeated
  --print-config       print every key with its meaning, unit and default, then exit
  --help               show this help and exit
  --version            print the version, commit, build type and library versions, then exit

Precedence: built-in defaults < config file < environment (API_HOST, API_PORT,
LOG_LEVEL, SHOPPULSE_DATA_DIR, KAFKA_SERVERS, REDIS_HOST, REDIS_PORT,
MONGODB_URL) < command-line flags.
An unknown key or a bad value stops start-up with exit code 2.
A damaged event log stops start-up with exit code 3 (see verify, recover).
)";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "shoppulse: %s\nTry 'shoppulse --help'.\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shoppulse;
  app::AppConfig cfg;
  config::Schema schema;
  app::bind(schema, cfg);

  std::string config_file;
  std::vector<std::pair<std::string, std::string>> sets;  // applied after file and environment
  bool print_config = false;
  std::string command;  // "", "import", "evaluate" or "keys"
  std::vector<std::string> keys_args;
  std::string format, file;
  bool json = false, only_new = false, force = false;
  double train_fraction = 0.8;
  unsigned long partitions = 0;
  int first = 1;
  bool to_last_good = false;
  if (argc > 1 && (std::string_view(argv[1]) == "import" || std::string_view(argv[1]) == "evaluate" ||
                   std::string_view(argv[1]) == "keys" || std::string_view(argv[1]) == "verify" ||
                   std::string_view(argv[1]) == "recover")) {
    command = argv[1];
    first = 2;
  }
  // A command's own settings are applied first, so the file, the
  // environment and flags override them.
  const auto apply_preset = [&schema](const char* command_name,
                                      const std::vector<std::pair<std::string, std::string>>& settings) {
    for (const auto& [key, value] : settings) {
      if (auto r = schema.set(key, value); !r) {
        std::fprintf(stderr, "shoppulse: %s setting %s: %s\n", command_name, key.c_str(), r.error().detail.c_str());
        return false;
      }
    }
    return true;
  };
  const bool demo = argc > 1 && std::string_view(argv[1]) == "demo";
  if (demo) {
    first = 2;
    if (!apply_preset("demo", app::demo_settings())) return 1;
  }
  if (command == "import" && !apply_preset("import", app::import_settings())) return 1;
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto next = [&](std::string_view flag) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    auto split_eq = [](std::string_view a, std::string_view flag) -> std::optional<std::string> {
      if (a.size() > flag.size() && a.substr(0, flag.size()) == flag && a[flag.size()] == '=')
        return std::string(a.substr(flag.size() + 1));
      return std::nullopt;
    };
    std::optional<std::string> value;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--version") {
      std::fputs(version_text().c_str(), stdout);
      return 0;
    } else if (arg == "--print-config") {
      print_config = true;
    } else if (arg == "--config" || (value = split_eq(arg, "--config"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--config needs a file");
      config_file = v;
    } else if (arg == "--port" || (value = split_eq(arg, "--port"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--port needs a number");
      sets.emplace_back("http.port", v);
    } else if (arg == "--data-dir" || (value = split_eq(arg, "--data-dir"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--data-dir needs a directory");
      sets.emplace_back("eventlog.data_dir", v);
    } else if (arg == "--static-dir" || (value = split_eq(arg, "--static-dir"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--static-dir needs a directory");
      sets.emplace_back("http.static_dir", v);
    } else if (arg == "--generator" || (value = split_eq(arg, "--generator"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--generator needs on or off");
      sets.emplace_back("generator.enabled", v);
    } else if (command == "keys" && arg != "--set" && !split_eq(arg, "--set")) {
      keys_args.emplace_back(arg);
    } else if ((command == "import" || command == "evaluate") && (arg == "--format" || (value = split_eq(arg, "--format")))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--format needs taobao, rees46 or ndjson");
      format = v;
    } else if (command == "recover" && arg == "--to-last-good") {
      to_last_good = true;
    } else if (command == "import" && arg == "--force") {
      force = true;
    } else if (command == "evaluate" && arg == "--json") {
      json = true;
    } else if (command == "evaluate" && arg == "--only-new") {
      only_new = true;
    } else if (command == "evaluate" && (arg == "--train-fraction" || (value = split_eq(arg, "--train-fraction")))) {
      const char* v = value ? value->c_str() : next(arg);
      char* end = nullptr;
      train_fraction = v ? std::strtod(v, &end) : 0;
      if (!v || end == v || *end != '\0') return usage_error("--train-fraction needs a number between 0 and 1");
    } else if (command == "evaluate" && (arg == "--partitions" || (value = split_eq(arg, "--partitions")))) {
      const char* v = value ? value->c_str() : next(arg);
      char* end = nullptr;
      partitions = v ? std::strtoul(v, &end, 10) : 0;
      if (!v || end == v || *end != '\0' || partitions < 1 || partitions > 1024)
        return usage_error("--partitions needs a number from 1 to 1024");
    } else if ((command == "import" || command == "evaluate") && !arg.empty() && arg[0] != '-' && file.empty()) {
      file = std::string(arg);
    } else if (arg == "--set" || (value = split_eq(arg, "--set"))) {
      const char* v = value ? value->c_str() : next(arg);
      if (!v) return usage_error("--set needs KEY=VALUE");
      const std::string_view kv = v;
      const std::size_t eq = kv.find('=');
      if (eq == std::string_view::npos || eq == 0) return usage_error("--set needs KEY=VALUE, got '" + std::string(kv) + "'");
      sets.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    } else {
      return usage_error("unknown argument '" + std::string(arg) + "'");
    }
  }

  if (!config_file.empty()) {
    if (auto r = config::load_file(schema, config_file); !r) {
      std::fprintf(stderr, "shoppulse: config error: %s\n", r.error().detail.c_str());
      return 2;
    }
  }
  if (auto r = config::apply_environment(schema, app::environment_mapping(), [](const char* n) { return std::getenv(n); });
      !r) {
    std::fprintf(stderr, "shoppulse: config error: %s\n", r.error().detail.c_str());
    return 2;
  }
  for (const auto& [k, v] : sets) {
    if (auto r = schema.set(k, v); !r) {
      std::fprintf(stderr, "shoppulse: config error: %s\n", r.error().detail.c_str());
      return 2;
    }
  }
  if (auto r = app::finish(cfg); !r) {
    std::fprintf(stderr, "shoppulse: config error: %s%s%s\n", r.error().field.c_str(),
                 r.error().field.empty() ? "" : ": ", r.error().detail.c_str());
    return 2;
  }
  if (print_config) {
    std::fputs(schema.render_reference().c_str(), stdout);
    return 0;
  }
  if (command == "keys") return app::run_keys(cfg, keys_args);
  if (command == "recover" && !to_last_good)
    return usage_error("recover needs --to-last-good (the only repair it makes)");
  if ((command == "import" || command == "evaluate") && (format.empty() || file.empty()))
    return usage_error(command + " needs --format taobao|rees46|ndjson and a FILE");

  LogLevel level = LogLevel::info;
  parse_log_level(cfg.log_level, level);
  set_log_level(level);
  set_log_format(cfg.log_format == "json" ? LogFormat::json : LogFormat::logfmt);

  // Signals are taken synchronously by this thread; every thread started
  // after this inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (command == "evaluate") return app::run_evaluate(cfg, format, file, json, train_fraction, only_new,
                                                          static_cast<std::uint32_t>(partitions));
  if (command == "import") return app::run_import(cfg, format, file, force);
  if (command == "verify") return app::run_verify(cfg);
  if (command == "recover") return app::run_recover(cfg);

  const Logger log("app");
  const std::size_t descriptors = app::raise_descriptor_limit();
  if (descriptors != 0 && app::connection_cap(descriptors) < cfg.http.max_connections) {
    cfg.http.max_connections = app::connection_cap(descriptors);
    log.info("connection limit lowered to fit the descriptor limit",
             {{"max_connections", std::to_string(cfg.http.max_connections)},
              {"descriptors", std::to_string(descriptors)}});
  }
  app::ServiceNotifier notifier(std::getenv("NOTIFY_SOCKET"));
  // A start-up error: a damaged log (found by the open or by the dictionary
  // load that start() finishes) has an exit code and advice of its own.
  const auto refuse = [&](const Error& error) {
    log.error("start-up failed", {{"detail", error.detail}});
    std::fprintf(stderr, "shoppulse: %s\n", error.detail.c_str());
    if (error.code == Errc::corrupt) {
      std::fprintf(stderr, "shoppulse: refusing to start on a damaged event log; run 'shoppulse verify --data-dir %s' "
                   "for a report and 'shoppulse recover --to-last-good --data-dir %s' to keep its consistent part\n",
                   cfg.eventlog.data_dir.c_str(), cfg.eventlog.data_dir.c_str());
      return app::kExitDamaged;
    }
    if (error.field == "cluster.min_retention") return 2;  // a setting of the topic, refused like a bad key
    return 1;
  };
  auto opened = app::Application::open(cfg);
  if (!opened) return refuse(opened.error());
  auto& application = *opened.value();
  if (auto r = application.start(); !r) return refuse(r.error());
  std::printf("shoppulse listening on %s://%s:%u\n", cfg.http.tls_cert.empty() ? "http" : "https", cfg.http.host.c_str(),
              unsigned(application.port()));
  if (demo) std::printf("kiosk dashboard: %s://%s:%u/?kiosk\n", cfg.http.tls_cert.empty() ? "http" : "https", cfg.http.host.c_str(), unsigned(application.port()));
  std::fflush(stdout);
  // The service manager hears READY=1 once the engine has replayed the log
  // and applies live events (checked each turn of the loop below). A
  // notification that cannot be sent changes nothing for the server: its
  // result is ignored on purpose (systemd then times the start out).
  bool ready_sent = false;
  (void)notifier.send("STATUS=replaying the event log");
  for (;;) {
    if (!ready_sent && application.ready()) {
      (void)notifier.send("READY=1\nSTATUS=running on port " + std::to_string(application.port()));
      log.info("ready", {{"port", std::to_string(application.port())}});
      ready_sent = true;
    }
    timespec timeout{1, 0};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      log.info("signal received; shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      break;
    }
    application.sample_rate();
  }
  (void)notifier.send("STOPPING=1");
  application.stop();
  return 0;
}
