// Faults through the real binary: a full disk (a small tmpfs mounted for
// the test, so it needs root, as CI has), a damaged log at start-up, and a
// kill -9 loop with every acknowledged event accounted for.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace si = shoppulse::integration;
using si::Json;
using si::ServerProcess;

namespace {

// n events in NDJSON; ids unique per (tag, i).
std::string batch(const std::string& tag, int n, std::size_t pad = 0) {
  std::ostringstream o;
  const std::string padding(pad, 'x');
  for (int i = 0; i < n; ++i) {
    o << "{\"event_id\":\"" << tag << "-" << i << "\",\"user_id\":\"u" << tag << i << padding
      << "\",\"product_id\":\"p" << (i % 50) << "\",\"event_type\":\"view\"}\n";
  }
  return o.str();
}

si::HttpResponse post_ndjson(const ServerProcess& server, const std::string& body) {
  return server.post("/api/events", body, "application/x-ndjson");
}

// A tmpfs of `megabytes` mounted on a fresh directory for the life of the
// object. mounted() is false when this process may not mount (not root).
class SmallDisk {
 public:
  explicit SmallDisk(int megabytes) : dir_("shoppulse-fault-disk") {
    const std::string options = "size=" + std::to_string(megabytes) + "m";
    mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  si::TempDir dir_;
  bool mounted_ = false;
};

}  // namespace

TEST_CASE("a full disk answers 507 with Retry-After, shows degraded health, and resumes once space is freed",
          "[fault][disk]") {
  for (const std::string mode : {"process", "fsync"}) {
    DYNAMIC_SECTION(mode) {
      SmallDisk disk(24);
      if (!disk.mounted()) {
        WARN("SKIPPED: mounting a tmpfs needs root (CI runs as root); the full-disk test did not run");
        return;
      }
      si::TempDir logs("shoppulse-fault-logs");
      // Space to give back once the disk is full.
      const auto filler = disk.path() / "filler";
      { std::ofstream(filler, std::ios::binary) << std::string(6 << 20, '\0'); }

      si::ServerOptions options;
      options.data_dir = disk.path() / "data";
      options.log_file = logs.path() / "server.log";
      options.sets = {"eventlog.durability=" + mode, "eventlog.write_buffer_mb=4"};
      ServerProcess server(options);
      server.start();

      si::HttpResponse refused;
      int accepted_batches = 0;
      for (int i = 0; i < 2000; ++i) {
        auto r = post_ndjson(server, batch("b" + std::to_string(i), 2000, 100));
        if (r.status != 200) {
          refused = r;
          break;
        }
        ++accepted_batches;
      }
      INFO(server.log_tail());
      REQUIRE(accepted_batches > 0);
      REQUIRE(refused.status == 507);
      CHECK(refused.header("Retry-After").value_or("") == "5");
      CHECK(refused.body.find("disk full") != std::string::npos);
      CHECK(refused.body.find(disk.path().string()) == std::string::npos);  // no path for the client
      CHECK(refused.body.find('/') == std::string::npos);

      const Json degraded = server.get_json("/api/health");
      CHECK(degraded.str("/status") == "degraded");
      CHECK(degraded.str("/components/event_log/state") == "degraded");
      CHECK(degraded.str("/components/event_log/last_error").find("disk full") != std::string::npos);

      // More writes on the full disk: refused again, never an abort or
      // another error. RocksDB may free a little space by itself (files a
      // failed flush left behind), so a small batch can get through before
      // the disk is full again.
      int refused_again = 0;
      for (int i = 0; i < 20; ++i) {
        const int status = post_ndjson(server, batch("again" + std::to_string(i), 500, 100)).status;
        CHECK((status == 507 || status == 200));
        if (status == 507) ++refused_again;
      }
      CHECK(refused_again > 0);
      REQUIRE(server.alive());

      std::filesystem::remove(filler);
      int status = 0;
      const bool resumed = si::poll_until([&] {
        status = post_ndjson(server, batch("resume" + std::to_string(status), 10)).status;
        return status == 200;
      }, si::Millis(30000), si::Millis(100));
      CHECK(resumed);
      CHECK(server.get_json("/api/health").str("/status") == "healthy");
      CHECK(server.stop() == 0);
    }
  }
}

TEST_CASE("a damaged event log stops start-up with exit code 3; verify reports it, recover repairs it",
          "[fault][corruption]") {
  si::TempDir dir;
  const auto data = dir.path() / "data";
  {
    si::ServerOptions options;
    options.data_dir = data;
    ServerProcess server(options);
    server.start();
    for (int i = 0; i < 40; ++i) REQUIRE(post_ndjson(server, batch("e" + std::to_string(i), 100)).status == 200);
    // Killed, so the events are still in the WAL (a clean stop writes the
    // memtables to table files and leaves an empty WAL).
    server.kill_hard();
  }
  std::filesystem::path wal;
  for (const auto& e : std::filesystem::directory_iterator(data))
    if (e.path().extension() == ".log") wal = std::max(wal, e.path());
  REQUIRE_FALSE(wal.empty());
  REQUIRE(std::filesystem::file_size(wal) > 5008);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    // Among the first event batches.
    f.seekp(5000);
    f.write("\x13\x37\x13\x37\x13\x37\x13\x37", 8);
  }
  const std::string binary = si::shoppulse_binary();
  auto run = [&](const std::string& args, const std::string& out) {
    // Each command either refuses or finishes; `timeout` turns a hang into
    // a failure (exit 124) at once instead of at the test's own timeout.
    const std::string command = "timeout 120 " + binary + " " + args + " --data-dir " + data.string() +
                                " --port 0 --generator off > " + (dir.path() / out).string() + " 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  auto text = [&](const std::string& name) {
    std::ifstream in(dir.path() / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(run("", "start.txt") == 3);
  CHECK(text("start.txt").find("refusing to start on a damaged event log") != std::string::npos);
  CHECK(run("verify", "verify.txt") == 3);
  CHECK(text("verify.txt").find("DAMAGED") != std::string::npos);
  CHECK(run("recover --to-last-good", "recover.txt") == 0);
  INFO(text("recover.txt"));
  CHECK(text("recover.txt").find("dropped: sequences") != std::string::npos);
  CHECK(run("verify", "verify2.txt") == 0);

  si::ServerOptions options;
  options.data_dir = data;
  ServerProcess server(options);
  server.start();
  const Json status = server.get_json("/api/system/status");
  CHECK(status.u64("/event_log/last_sequence") < 4000);
  CHECK(server.stop() == 0);
}

TEST_CASE("kill -9 fifty times while writing: every acknowledged event is in the log once", "[fault][kill]") {
  constexpr int kKills = 50;
  si::TempDir dir;
  si::ServerOptions options;
  options.data_dir = dir.path() / "data";
  std::mt19937 rng(4242);
  std::uint64_t acknowledged = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // acknowledged sequences
  std::vector<std::string> acked_batches;                       // their bodies, to send again
  for (int kill = 0; kill < kKills; ++kill) {
    ServerProcess server(options);
    server.start();
    const int wanted = std::uniform_int_distribution<int>(1, 6)(rng);
    std::atomic<int> acked{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    // A writer keeps requests in flight while the process is killed.
    std::thread writer([&] {
      for (int b = 0; !stop.load(); ++b) {
        const std::string body = batch("k" + std::to_string(kill) + "-" + std::to_string(b), 200);
        si::HttpResponse r;
        try {
          r = post_ndjson(server, body);
        } catch (const std::exception&) {
          return;  // killed mid-request: not acknowledged
        }
        if (r.status != 200) return;
        const Json answer(r.body);
        std::lock_guard lock(mutex);
        ranges.emplace_back(answer.u64("/first_sequence"), answer.u64("/last_sequence"));
        acked_batches.push_back(body);
        acknowledged += answer.u64("/accepted");
        acked.fetch_add(1);
      }
    });
    si::poll_until([&] { return acked.load() >= wanted; }, si::Millis(60000), si::Millis(1));
    server.kill_hard();
    stop = true;
    writer.join();
  }
  ServerProcess server(options);
  server.start();
  const std::uint64_t last = server.get_json("/api/system/status").u64("/event_log/last_sequence");
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    REQUIRE(ranges[i].second <= last);
    if (i > 0) REQUIRE(ranges[i].first > ranges[i - 1].second);  // no sequence acknowledged twice
  }
  // Sent again, every acknowledged event is a duplicate: it is in the log.
  std::uint64_t duplicates = 0;
  for (const std::string& body : acked_batches) {
    const auto r = post_ndjson(server, body);
    REQUIRE(r.status == 200);
    duplicates += Json(r.body).u64("/duplicates");
  }
  std::printf("kill -9 loop: %d kills, %llu events acknowledged, %llu found again, log ends at %llu\n", kKills,
              static_cast<unsigned long long>(acknowledged), static_cast<unsigned long long>(duplicates),
              static_cast<unsigned long long>(last));
  CHECK(duplicates == acknowledged);
  CHECK(server.stop() == 0);
}
