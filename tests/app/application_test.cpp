// The embedding surface of Application: in-process ingest and the snapshot
// callback. The real engine runs on a scratch data dir, without HTTP or the
// generator; waits are on the callback's condition variable, never sleeps.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "shoppulse/app/application.hpp"
#include "shoppulse/auth/keys.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "support/eventually.hpp"

namespace {

using namespace shoppulse;

class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("shoppulse-app-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;  // best effort: a leftover scratch dir is harmless
    std::filesystem::remove_all(path_, ignored);
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

app::AppConfig quiet_config(const ScratchDir& dir) {
  app::AppConfig c;
  c.eventlog.data_dir = dir.str();
  c.serve_http = false;
  c.generator_enabled = false;
  c.engine.publish_interval_ms = 20;
  REQUIRE(app::finish(c));
  return c;
}

constexpr TimestampMs kStart = 1'700'000'000'000;  // a whole second

std::vector<RawEvent> purchases(int n, std::int64_t price_minor) {
  std::vector<RawEvent> out;
  for (int i = 0; i < n; ++i) {
    RawEvent e;
    e.event_id = "e" + std::to_string(i);
    e.user_id = "u" + std::to_string(i % 4);
    e.product_id = "p" + std::to_string(i % 3);
    e.type = EventType::purchase;
    e.price_minor = price_minor;
    e.time_ms = kStart + i * 1000;  // one a second
    out.push_back(std::move(e));
  }
  return out;
}

// Collects snapshots the engine thread hands to the callback.
struct SnapshotInbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::shared_ptr<const WindowSnapshot> newest;
  std::thread::id caller;
  int calls = 0;

  app::Application::SnapshotCallback callback() {
    return [this](const std::shared_ptr<const WindowSnapshot>& s) {
      std::lock_guard lock(mutex);
      newest = s;
      caller = std::this_thread::get_id();
      ++calls;
      changed.notify_all();
    };
  }
  std::shared_ptr<const WindowSnapshot> wait_through(Sequence sequence) {
    std::unique_lock lock(mutex);
    const bool arrived = changed.wait_for(lock, std::chrono::seconds(60),
                                          [&] { return newest && newest->applied_through >= sequence; });
    REQUIRE(arrived);
    return newest;
  }
};

}  // namespace

TEST_CASE("events fed in-process reach the snapshot handed to the callback", "[app]") {
  ScratchDir dir;
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  app::Application& shop = *opened.value();
  SnapshotInbox inbox;
  REQUIRE(shop.on_snapshot(inbox.callback()));
  REQUIRE(shop.start());

  std::promise<Result<IngestReceipt>> durable;
  REQUIRE(shop.ingest(purchases(20, 1250), [&](Result<IngestReceipt> r) { durable.set_value(std::move(r)); }));
  const Result<IngestReceipt> receipt = durable.get_future().get();
  REQUIRE(receipt);
  CHECK(receipt.value().accepted == 20);

  const auto snapshot = inbox.wait_through(receipt.value().last_sequence);
  CHECK(snapshot->events_applied == 20);
  // The same object is what snapshot() returns to any other thread now or
  // a newer one covering at least as much.
  CHECK(shop.snapshot()->applied_through >= snapshot->applied_through);
  {
    std::lock_guard lock(inbox.mutex);
    CHECK(inbox.caller != std::this_thread::get_id());  // the engine thread calls it
  }
  // The 1-minute window moves in 1-second buckets and ends at the
  // watermark, 2 s (allowed lateness) before the newest event at
  // kStart + 19 s: it holds the purchases at kStart + 0..16 s.
  const Kpis& minute = snapshot->window(WindowSpan::m1).current;
  CHECK(minute.count(EventType::purchase) == 17);
  CHECK(minute.revenue_minor == 17 * 1250);
  CHECK(minute.active_users == 4);
  shop.stop();
}

TEST_CASE("a batch ingested twice with the same event ids is counted once", "[app]") {
  ScratchDir dir;
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  app::Application& shop = *opened.value();
  REQUIRE(shop.start());
  for (int round = 0; round < 2; ++round) {
    std::promise<Result<IngestReceipt>> durable;
    REQUIRE(shop.ingest(purchases(5, 100), [&](Result<IngestReceipt> r) { durable.set_value(std::move(r)); }));
    const auto receipt = durable.get_future().get();
    REQUIRE(receipt);
    CHECK(receipt.value().accepted == (round == 0 ? 5u : 0u));
    CHECK(receipt.value().duplicates == (round == 0 ? 0u : 5u));
  }
  shop.stop();
}

TEST_CASE("in-process ingest is refused before start and after stop", "[app]") {
  ScratchDir dir;
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  app::Application& shop = *opened.value();
  auto before = shop.ingest(purchases(1, 100));
  REQUIRE_FALSE(before);
  CHECK(before.error().code == Errc::unavailable);
  REQUIRE(shop.start());
  shop.stop();
  auto after = shop.ingest(purchases(1, 100));
  REQUIRE_FALSE(after);
  CHECK(after.error().code == Errc::unavailable);
}

TEST_CASE("the snapshot callback can only be set before start", "[app]") {
  ScratchDir dir;
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  app::Application& shop = *opened.value();
  REQUIRE(shop.start());
  SnapshotInbox inbox;
  auto late = shop.on_snapshot(inbox.callback());
  REQUIRE_FALSE(late);
  CHECK(late.error().code == Errc::invalid_argument);
  shop.stop();
}

TEST_CASE("the application reports ready once the windows and the recommender have caught up with the log", "[app]") {
  ScratchDir dir;
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  app::Application& shop = *opened.value();
  CHECK_FALSE(shop.ready());
  SnapshotInbox inbox;
  REQUIRE(shop.on_snapshot(inbox.callback()));
  REQUIRE(shop.start());
  // A snapshot covering a live batch comes from an engine past its replay.
  std::promise<Result<IngestReceipt>> durable;
  REQUIRE(shop.ingest(purchases(3, 100), [&](Result<IngestReceipt> r) { durable.set_value(std::move(r)); }));
  const auto receipt = durable.get_future().get();
  REQUIRE(receipt);
  inbox.wait_through(receipt.value().last_sequence);
  // The engine has applied a live batch; the recommender reports reaching
  // the end of its start-up replay on its own thread.
  CHECK(testing::eventually([&] { return shop.ready(); }));
  shop.stop();
  CHECK_FALSE(shop.ready());
}

TEST_CASE("after a restart the snapshot callback and start()'s caller find every name logged before, and a "
          "damaged dictionary fails start() as corrupt",
          "[app]") {
  ScratchDir dir;
  constexpr int kUsers = 200000;  // a load of tens of milliseconds, one thread for the one large kind
  {
    auto opened = app::Application::open(quiet_config(dir));
    REQUIRE(opened);
    app::Application& shop = *opened.value();
    REQUIRE(shop.start());
    for (int batch = 0; batch < kUsers / 1000; ++batch) {
      std::vector<RawEvent> events = purchases(1000, 100);
      for (int i = 0; i < 1000; ++i) {
        events[i].event_id = "e" + std::to_string(batch * 1000 + i);
        events[i].user_id = "user-" + std::to_string(batch * 1000 + i);
      }
      std::promise<Result<IngestReceipt>> durable;
      REQUIRE(shop.ingest(std::move(events), [&](Result<IngestReceipt> r) { durable.set_value(std::move(r)); }));
      REQUIRE(durable.get_future().get());
    }
    shop.stop();
  }
  {
    auto opened = app::Application::open(quiet_config(dir));
    REQUIRE(opened);
    app::Application& shop = *opened.value();
    // The dictionary loads while the checkpoints restore: the engine's
    // first snapshot may be ready first, and must still not reach the
    // callback before every name can be looked up.
    std::atomic<std::size_t> users_at_first_call{0};
    std::atomic<bool> named_at_first_call{false};
    std::atomic<bool> called{false};
    std::atomic<bool> answered{false};  // set once the first call has looked both up
    REQUIRE(shop.on_snapshot([&](const std::shared_ptr<const WindowSnapshot>&) {
      if (called.exchange(true)) return;
      const InternTable& users = shop.dictionary().table(IdKind::user);
      users_at_first_call = users.resident();
      named_at_first_call = users.name(static_cast<Id>(kUsers)) == "user-" + std::to_string(kUsers - 1);
      answered = true;
    }));
    REQUIRE(shop.start());
    CHECK(shop.dictionary().table(IdKind::user).resident() == kUsers);
    REQUIRE(testing::eventually([&] { return answered.load(); }));
    CHECK(users_at_first_call == kUsers);
    CHECK(named_at_first_call);
    shop.stop();
  }
  {
    // A second id for a name already known: the load finds it and start()
    // fails with corrupt (main() turns that into the damaged-log exit code).
    EventLogConfig log = quiet_config(dir).eventlog;
    auto store = open_rocksdb_store(log);
    REQUIRE(store);
    std::vector<DictionaryEntry> repeated{{IdKind::user, static_cast<Id>(kUsers + 1), "user-7"}};
    REQUIRE(store.value()->append(AppendBatch{{}, repeated}));
  }
  auto opened = app::Application::open(quiet_config(dir));
  REQUIRE(opened);
  auto started = opened.value()->start();
  REQUIRE_FALSE(started);
  CHECK(started.error().code == Errc::corrupt);
  CHECK(started.error().detail.find("dictionary entry repeated") != std::string::npos);
}

TEST_CASE("the demo settings are known keys with valid values", "[app]") {
  app::AppConfig cfg;
  config::Schema schema;
  app::bind(schema, cfg);
  for (const auto& [key, value] : app::demo_settings()) {
    INFO(key << " = " << value);
    REQUIRE(schema.set(key, value));
  }
  REQUIRE(app::finish(cfg));
  CHECK(cfg.generator_enabled);
  CHECK(cfg.generator.users_count == 5000);
  CHECK(cfg.durability == "fsync");
  // Retention is bounded by age and by size.
  CHECK(cfg.ingest.retention_max_age_ms == 30LL * 24 * 3600 * 1000);
  CHECK(cfg.ingest.retention_max_bytes == 2147483648ULL);
  CHECK(cfg.engine.rollup_retention_ms == cfg.ingest.retention_max_age_ms);
}

TEST_CASE("api.time_zone takes an IANA zone name and refuses anything else, naming the key", "[app]") {
  const auto finish_with = [](const std::string& zone) {
    app::AppConfig c;
    c.api.time_zone = zone;
    return app::finish(c);
  };
  CHECK(finish_with("").ok());
  CHECK(finish_with("UTC").ok());
  CHECK(finish_with("Asia/Shanghai").ok());
  CHECK(finish_with("America/Argentina/Buenos_Aires").ok());
  // tzdata is one of the test packages: unknown names are checked against it.
  REQUIRE(std::filesystem::is_directory("/usr/share/zoneinfo"));
  for (const std::string bad : {"Asia/Shang hai", "../etc/passwd", "/Asia", "Asia/", "Mars/Olympus_Mons", "CST 8"}) {
    INFO(bad);
    const auto r = finish_with(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().field == "api.time_zone");
  }
}

TEST_CASE("cluster.key_file: a cluster with keys required does not start without a read key in it, and the "
          "refusal names the key and what is wrong", "[app][auth]") {
  ScratchDir dir;
  std::filesystem::create_directories(dir.str());
  const auth::KeyFile keys(dir.str());
  auto admin = keys.create(auth::kScopeAdmin, "operator", false, {}, kStart);
  auto ingest = keys.create(auth::kScopeIngest, "writer", false, {}, kStart);
  REQUIRE(admin);
  REQUIRE(ingest);
  const std::string key_file = dir.str() + "/member.key";
  const auto open_with = [&](const std::string& file, bool required) {
    app::AppConfig c;
    c.eventlog.data_dir = dir.str();
    c.generator_enabled = false;
    c.auth_required = required;
    c.cluster.enabled = true;
    c.kafka.servers = "127.0.0.1:9";  // never reached: the key is checked first
    c.cluster.key_file = file;
    REQUIRE(app::finish(c));
    return app::Application::open(c);
  };
  const auto refusal = [&](const std::string& file, std::string_view says) {
    INFO(file);
    auto opened = open_with(file, true);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().code == Errc::invalid_argument);
    CHECK(opened.error().field == "cluster.key_file");
    INFO(opened.error().detail);
    CHECK(opened.error().detail.find(says) != std::string::npos);
  };
  const auto write = [&](const std::string& text) {
    std::FILE* f = std::fopen(key_file.c_str(), "w");
    REQUIRE(f);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  refusal("", "shoppulse keys create --scope read");
  refusal(dir.str() + "/absent.key", "cannot read");
  write("\n");
  refusal(key_file, "must hold one API key");
  write(ingest->key + "\n");
  refusal(key_file, "lacks the read scope");
  write("sp_000000000000_" + std::string(48, '0'));
  refusal(key_file, "not valid");
  REQUIRE(keys.revoke(admin->entry.id, kStart + 1));
  write(admin->key);
  refusal(key_file, "revoked");
}
