#include "shoppulse/core/background_encoding.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <atomic>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shoppulse {
namespace {

// BackgroundEncoding::testing_fail_next_fork.
std::atomic<bool> fail_next_fork{false};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// In the child: encode, send (8-byte length, then the bytes), leave.
[[noreturn]] void child(int fd, const std::function<std::string()>& encode, pid_t parent) {
  // Dies with the thread that forked it; if that already happened, now.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  // The copy holds every descriptor of the process: the listening socket,
  // each client's connection, the store's files. It needs only its pipe and
  // the standard streams; holding the rest would keep a connection the
  // parent closes open (no FIN, and a reset instead when this copy exits
  // with bytes unread) and keep stale registrations in the parent's epoll
  // set, for as long as the encoding runs.
  if (fd > 3) ::close_range(3, static_cast<unsigned>(fd) - 1, 0);
  ::close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
  const std::string bytes = encode();
  const std::uint64_t size = bytes.size();
  char header[8];
  std::memcpy(header, &size, sizeof header);
  const bool ok = write_all(fd, header, sizeof header) && write_all(fd, bytes.data(), bytes.size());
  ::_exit(ok ? 0 : 1);
}

}  // namespace

bool BackgroundEncoding::testing_fail_next_fork(bool fail) noexcept {
  return fail_next_fork.exchange(fail, std::memory_order_relaxed);
}

BackgroundEncoding::~BackgroundEncoding() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0) reap(/*kill_first=*/true);
}

int BackgroundEncoding::reap(bool kill_first) noexcept {
  if (kill_first) ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

Result<void> BackgroundEncoding::start(const std::function<std::string()>& encode) {
  if (running()) return make_error(Errc::unavailable, "a background encoding is already running");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(Errc::unavailable, std::string("background encoding pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_t pid = -1;
  if (fail_next_fork.exchange(false, std::memory_order_relaxed))
    errno = EAGAIN;  // a fault test: the fork the system refused
  else
    pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return make_error(Errc::unavailable, std::string("background encoding fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1], encode, parent);
  }
  ::close(fds[1]);
  pid_ = pid;
  fd_ = fds[0];
  last_heard_ = std::chrono::steady_clock::now();
  return {};
}

Result<void> BackgroundEncoding::read_exactly(char* dst, std::size_t n) {
  while (n > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_heard_ + deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Errc::unavailable, "background encoding: the encoding process sent nothing for " +
                                               std::to_string(deadline_.count()) + " ms and was stopped");
    pollfd ready{fd_, POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (polled < 0 && errno != EINTR)
      return make_error(Errc::unavailable, std::string("background encoding: poll: ") + std::strerror(errno));
    if (polled <= 0) continue;
    const ssize_t r = ::read(fd_, dst, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return make_error(Errc::unavailable, "background encoding: the encoding process failed");
    last_heard_ = std::chrono::steady_clock::now();
    dst += r;
    n -= static_cast<std::size_t>(r);
  }
  return {};
}

Result<void> BackgroundEncoding::finish(const Sink& sink) {
  if (!running()) return make_error(Errc::unavailable, "no background encoding is running");
  std::uint64_t size = 0;
  char header[8];
  Result<void> result = read_exactly(header, sizeof header);
  if (result) {
    std::memcpy(&size, header, sizeof header);
    // A size beyond what memory could hold means a broken child, not an encoding.
    if (size >= (std::uint64_t{1} << 40))
      result = make_error(Errc::unavailable, "background encoding: the encoding process sent a broken length");
  }
  std::uint64_t left = size;
  if (result) {
    result = sink(size, [this, &left](char* dst, std::size_t n) -> Result<void> {
      if (n > left) return make_error(Errc::unavailable, "background encoding: read past the encoding");
      auto got = read_exactly(dst, n);
      if (got) left -= n;
      return got;
    });
    if (result && left != 0)
      result = make_error(Errc::unavailable, "background encoding: the encoding was not read to its end");
  }
  ::close(fd_);
  fd_ = -1;
  // A child that sent everything has nothing left to do but exit; one that
  // did not (failed, late, or the sink stopped early) is stopped.
  const int status = reap(/*kill_first=*/!result);
  if (result && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
    return make_error(Errc::unavailable, "background encoding: the encoding process failed");
  return result;
}

Result<std::string> BackgroundEncoding::finish() {
  std::string bytes;
  auto done = finish([&bytes](std::uint64_t size, const Read& read) -> Result<void> {
    bytes.resize(size);
    return read(bytes.data(), bytes.size());
  });
  if (!done) return std::move(done).error();
  return bytes;
}

}  // namespace shoppulse
