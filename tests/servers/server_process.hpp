#pragma once
// Real servers for adapter tests, started by the test itself on 127.0.0.1,
// on a free port, with a temporary directory, and stopped afterwards.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shoppulse::servers {

using Millis = std::chrono::milliseconds;

// A fresh directory under the system temp dir, removed with its contents.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A port nobody listens on at the moment of the call (bound and released).
std::uint16_t free_port();

// Polls check() until true or the deadline; returns the last result.
bool wait_for(const std::function<bool()>& check, Millis timeout, Millis interval = Millis(20));

// One child process with its output in a file. Lifecycle: spawn() → running →
// terminate() (SIGTERM, waits) or the destructor (SIGKILL if still running).
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // argv[0] is looked up in PATH. Throws when it cannot be started.
  void spawn(const std::vector<std::string>& argv, const std::filesystem::path& output);
  bool alive();
  void terminate(Millis timeout = Millis(20000));
  void kill_hard();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Debian's redis-server, without persistence.
// Lifecycle: start() picks a free port the first time and keeps it, so
// stop() then start() brings the same server address back (an outage).
class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  void start();  // returns once it answers PING; throws otherwise
  void stop();
  std::uint16_t port() const { return port_; }
  std::string log_tail() const;

 private:
  ScratchDir dir_;
  ChildProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace shoppulse::servers
