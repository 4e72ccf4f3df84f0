// GET /api/events streams pages of the log, checked on real history: the
// Taobao UserBehavior sample (see shared/data/SOURCES.md) is imported with
// `shoppulse import`, paged out through X-Next-Cursor and compared with SQL
// over the same CSV in an in-memory SQLite database (the independent
// oracle); then the stream's shape on the wire: chunked, bounded server
// memory for a page far larger than a piece, and a client that leaves
// mid-stream.
//
// Without the dataset this executable prints "SKIPPED: export_taobao: ..."
// and exits 77, which ctest reports as a skipped test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>

#include "harness.hpp"
#include "taobao_dataset.hpp"

namespace si = shoppulse::integration;
using si::Json;
using si::Sql;

namespace {

// The sample `copies` times over (copy k: user ids + k * 10^9, times + k
// days, so no row repeats another), as a CSV in dir.
std::filesystem::path repeated_sample(const std::filesystem::path& dir, int copies) {
  const auto path = dir / "repeated.csv";
  std::ofstream out(path);
  for (int k = 0; k < copies; ++k) {
    std::ifstream in(si::taobao_dataset_path());
    std::string line;
    while (std::getline(in, line)) {
      const auto r = si::parse_taobao_line(line);
      if (!r) continue;
      out << std::stoll(r->user) + k * 1000000000LL << ',' << r->item << ',' << r->category << ',' << r->behavior
          << ',' << std::stoll(r->ts) + k * 86400LL << '\n';
    }
  }
  return path;
}

// An imported sample (the file itself, or `copies` of it) and a server over
// it; with the file itself, its rows in SQL.
struct Imported {
  explicit Imported(int copies = 1) {
    auto csv = si::taobao_dataset_path();
    if (copies == 1) si::load_taobao_table(sql, csv);
    else csv = repeated_sample(dir.path(), copies);
    const std::string data = (dir.path() / "data").string();
    const auto imported = si::run_shoppulse({"import", "--format", "taobao", csv.string(), "--data-dir", data,
                                             "--set", "eventlog.retention_max_age=0"},
                                            si::Millis(120000));
    INFO(imported.out);
    REQUIRE(imported.exit_code == 0);
    server = std::make_unique<si::ServerProcess>(
        si::ServerOptions{dir.path() / "data", {}, false, {"eventlog.retention_max_age=0"}});
    server->start();
  }
  Sql sql;
  si::TempDir dir;
  std::unique_ptr<si::ServerProcess> server;
};

// The Taobao behaviours as the log names them.
std::string behaviour_of(const std::string& type) {
  if (type == "view") return "pv";
  if (type == "add_to_cart") return "cart";
  if (type == "favorite") return "fav";
  if (type == "purchase") return "buy";
  return type;
}

// A line as "user item category behaviour unix-seconds", the SQL row's shape.
std::string row_of(const Json& line) {
  const std::string ts = line.str("/timestamp");  // 2017-11-26T01:02:03Z
  std::tm tm{};
  std::istringstream in(ts);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  return line.str("/user_id") + " " + line.str("/product_id") + " " + line.str("/category_id") + " " +
         behaviour_of(line.str("/event_type")) + " " + std::to_string(timegm(&tm));
}

// Resident memory of a process from /proc, in bytes.
std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  throw std::runtime_error("no VmRSS for pid " + std::to_string(pid));
}

// A client that sends one request and then reads only as much as it is
// told to: what a slow or vanishing reader looks like to the server.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    // A small receive buffer, so the server soon has to wait for this reader.
    const int small = 64 * 1024;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
  }
  ~RawClient() { close(); }
  void send(const std::string& request) {
    if (::write(fd_, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
      throw std::runtime_error("short write");
  }
  // Reads until at least n bytes have come since the start; returns them.
  std::string read_at_least(std::size_t n, si::Millis timeout = si::Millis(30000)) {
    const auto deadline = std::chrono::steady_clock::now() + si::scaled(timeout);
    char buf[16384];
    while (got_.size() < n) {
      const auto left = std::chrono::duration_cast<si::Millis>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) throw std::runtime_error("read timed out");
      const ssize_t r = ::read(fd_, buf, sizeof buf);
      if (r <= 0)
        throw std::runtime_error("connection closed after " + std::to_string(got_.size()) + " bytes: " +
                                 got_.substr(0, 600));
      got_.append(buf, static_cast<std::size_t>(r));
    }
    return got_;
  }
  // Gone without a word: a reset rather than an orderly close.
  void abort() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::string got_;
};

}  // namespace

TEST_CASE("The whole imported sample pages out through X-Next-Cursor as SQL holds it, streamed and chunked",
          "[integration][export]") {
  Imported im;
  si::ServerProcess& server = *im.server;
  const std::uint64_t rows = im.sql.count("SELECT COUNT(*) FROM ev");
  REQUIRE(rows > 100000);

  std::map<std::string, std::uint64_t> per_type;
  std::string first, last;
  std::uint64_t lines = 0;
  std::string cursor;
  int pages = 0;
  do {
    const si::HttpResponse r =
        server.get("/api/events?limit=25000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type").value_or("") == "application/x-ndjson");
    CHECK(r.header("Transfer-Encoding").value_or("") == "chunked");
    CHECK(!r.header("Content-Length"));
    std::size_t pos = 0;
    while (pos < r.body.size()) {
      const std::size_t nl = r.body.find('\n', pos);
      REQUIRE(nl != std::string::npos);
      const Json line(r.body.substr(pos, nl - pos));
      ++per_type[behaviour_of(line.str("/event_type"))];
      if (lines == 0) first = row_of(line);
      last = row_of(line);
      ++lines;
      pos = nl + 1;
    }
    cursor = r.header("X-Next-Cursor").value_or("");
    REQUIRE(++pages < 100);
  } while (!cursor.empty());

  CHECK(lines == rows);
  CHECK(pages == static_cast<int>((rows + 24999) / 25000));
  for (const auto& row : im.sql.rows("SELECT behavior, COUNT(*) FROM ev GROUP BY behavior")) {
    INFO(row[0]);
    CHECK(per_type[row[0]] == std::stoull(row[1]));
  }
  auto sql_row = [&](const std::string& order) {
    const auto r = im.sql.rows("SELECT user, item, category, behavior, ts FROM ev ORDER BY ord " + order + " LIMIT 1");
    return r.at(0)[0] + " " + r.at(0)[1] + " " + r.at(0)[2] + " " + r.at(0)[3] + " " + r.at(0)[4];
  };
  CHECK(first == sql_row("ASC"));
  CHECK(last == sql_row("DESC"));

  // Filters page the same way: purchases of one user-free range against SQL.
  const std::int64_t from_s = 1511654400 + 3600, to_s = from_s + 7200;  // 2017-11-26 01:00 to 03:00
  std::uint64_t buys = 0;
  cursor.clear();
  do {
    const si::HttpResponse r = server.get("/api/events?event_type=purchase&from=" + std::to_string(from_s * 1000) +
                                          "&to=" + std::to_string(to_s * 1000) + "&limit=50" +
                                          (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    buys += static_cast<std::uint64_t>(std::count(r.body.begin(), r.body.end(), '\n'));
    cursor = r.header("X-Next-Cursor").value_or("");
  } while (!cursor.empty());
  CHECK(buys == im.sql.count("SELECT COUNT(*) FROM ev WHERE behavior = 'buy' AND ts >= " + std::to_string(from_s) +
                             " AND ts < " + std::to_string(to_s)));
  CHECK(buys > 0);

  // gzip when asked: the same bytes once inflated (the harness does not
  // inflate, so the compressed body is only checked for its gzip magic).
  const si::HttpResponse zipped =
      si::http_request(server.port(), "GET", "/api/events?limit=5000", {}, {{"Accept-Encoding", "gzip"}});
  REQUIRE(zipped.status == 200);
  CHECK(zipped.header("Content-Encoding").value_or("") == "gzip");
  REQUIRE(zipped.body.size() > 2);
  CHECK(static_cast<unsigned char>(zipped.body[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(zipped.body[1]) == 0x8b);

  // Errors are JSON 4xx before any byte of a stream.
  const si::HttpResponse bad = server.get("/api/events?limit=1000001");
  CHECK(bad.status == 400);
  CHECK(Json(bad.body).str("/field") == "limit");

  // HEAD: the GET's status and headers and not one byte of the page, so the
  // next answer on the same connection follows the headers at once.
  CHECK(si::http_request(server.port(), "HEAD", "/api/events?limit=1000001").status == 400);
  RawClient both(server.port());
  both.send("HEAD /api/events?limit=10 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string replies = both.read_at_least(16);
  while (replies.find("\r\n\r\n") == std::string::npos) replies = both.read_at_least(replies.size() + 1);
  const std::size_t head_end = replies.find("\r\n\r\n") + 4;
  replies = both.read_at_least(head_end + 12);
  CHECK(replies.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(replies.substr(0, head_end).find("Content-Type: application/x-ndjson") != std::string::npos);
  CHECK(replies.compare(head_end, 12, "HTTP/1.1 200") == 0);
}

TEST_CASE("A page of the whole log sent to a reader that stops does not sit in the server's memory, and readers "
          "that vanish mid-stream leave it serving",
          "[integration][export]") {
  // Five copies of the sample: a ~100 MB page, far above the few MB the
  // server's memory moves by on its own.
  Imported im(5);
  si::ServerProcess& server = *im.server;
  // Quiet first: the windows, the recommender and the range worker's time
  // index read the log after a start, and their memory would blur the figure.
  si::wait_ready(server);
  REQUIRE(si::poll_until([&] { return server.get("/api/analytics/range").status == 200; }, si::Millis(60000)));
  // Warm up: the whole log read and formatted once in small pages, so the
  // store's block cache and the dictionary's names are what they will be.
  std::uint64_t rows = 0, page_bytes = 0;
  std::string cursor;
  do {
    const si::HttpResponse r = server.get("/api/events?limit=50000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    rows += static_cast<std::uint64_t>(std::count(r.body.begin(), r.body.end(), '\n'));
    page_bytes += r.body.size();
    cursor = r.header("X-Next-Cursor").value_or("");
  } while (!cursor.empty());
  REQUIRE(rows == 5 * 110300);
  const std::uint64_t before = rss_bytes(server.pid());

  // The whole log on one page; the reader takes 64 KB and stops. Built
  // whole, the page would be resident now.
  REQUIRE(page_bytes > 80'000'000);
  RawClient slow(server.port());
  slow.send("GET /api/events?limit=1000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const std::string head = slow.read_at_least(64 * 1024);
  CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  std::uint64_t peak = rss_bytes(server.pid());
  // Another request while the stream waits: the server answers it, and the
  // stream has had that long to grow.
  CHECK(server.get("/api/health").status == 200);
  peak = std::max(peak, rss_bytes(server.pid()));
  INFO("rss before " << before << ", during " << peak << ", page " << page_bytes);
  CHECK(peak < before + page_bytes / 4);
  slow.abort();

  // More readers vanish mid-stream than pages may be open at once
  // (max_open_pages = 8). A place comes back once the server's next write to
  // the vanished reader fails, so each round waits for an export to be taken
  // again: a place kept would make the ninth round wait in vain.
  for (int i = 0; i < 10; ++i) {
    REQUIRE(si::poll_until([&] { return server.get("/api/events?limit=10").status == 200; }));
    RawClient gone(server.port());
    gone.send("GET /api/events?limit=1000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(gone.read_at_least(16 * 1024).rfind("HTTP/1.1 200", 0) == 0);
    gone.abort();
  }
  CHECK(server.get("/api/health").status == 200);
  si::HttpResponse page;
  REQUIRE(si::poll_until([&] { return (page = server.get("/api/events?limit=100000")).status == 200; }));
  CHECK(std::count(page.body.begin(), page.body.end(), '\n') == 100000);
  CHECK(page.header("X-Next-Cursor"));
  CHECK(server.alive());
}

int main(int argc, char** argv) { return si::run_with_taobao_dataset("export_taobao", argc, argv); }
