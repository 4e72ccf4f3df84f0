#include "server_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace shoppulse::servers {

ScratchDir::ScratchDir(std::string_view tag) {
  std::string templ = (std::filesystem::temp_directory_path() / ("shoppulse_" + std::string(tag) + "_XXXXXX")).string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool wait_for(const std::function<bool()>& check, Millis timeout, Millis interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return check();
    std::this_thread::sleep_for(interval);
  }
}

ChildProcess::~ChildProcess() { kill_hard(); }

void ChildProcess::spawn(const std::vector<std::string>& argv, const std::filesystem::path& output) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // A server never outlives the test that started it, even one that crashed.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::setpgid(0, 0);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  pid_ = pid;
}

bool ChildProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

// Signals go to the child's process group (it made its own), so a server
// started through runuser stops with its wrapper.
void ChildProcess::terminate(Millis timeout) {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  if (!wait_for([this] { return !alive(); }, timeout)) kill_hard();
}

void ChildProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

namespace {

bool redis_answers(std::uint16_t port) {
  const timeval tv{0, 200000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool ok = false;
  if (c && !c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
  }
  if (c) redisFree(c);
  return ok;
}

}  // namespace

RedisServer::RedisServer() : dir_("redis") {}
RedisServer::~RedisServer() { stop(); }

void RedisServer::start() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (port_ == 0) port_ = free_port();
    process_.spawn({"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", dir_.path().string(), "--protected-mode", "no"},
                   dir_.path() / "redis.log");
    if (wait_for([this] { return !process_.alive() || redis_answers(port_); }, Millis(15000)) && process_.alive())
      return;
    process_.kill_hard();
    port_ = 0;  // taken meanwhile by someone else: try another
  }
  throw std::runtime_error("redis-server did not start (is it installed? `make deps-test`):\n" + log_tail());
}

void RedisServer::stop() { process_.terminate(); }

std::string RedisServer::log_tail() const {
  std::ifstream in(dir_.path() / "redis.log");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

}  // namespace shoppulse::servers
