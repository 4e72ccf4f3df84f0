#include "shoppulse/core/background_encoding.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shoppulse {
namespace {

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
  const std::string bytes = encode();
  const std::uint64_t size = bytes.size();
  char header[8];
  std::memcpy(header, &size, sizeof header);
  const bool ok = write_all(fd, header, sizeof header) && write_all(fd, bytes.data(), bytes.size());
  ::_exit(ok ? 0 : 1);
}

}  // namespace

BackgroundEncoding::~BackgroundEncoding() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

Result<void> BackgroundEncoding::start(const std::function<std::string()>& encode) {
  if (running()) return make_error(Errc::unavailable, "a background encoding is already running");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(Errc::unavailable, std::string("background encoding pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
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
  return {};
}

Result<std::string> BackgroundEncoding::finish() {
  if (!running()) return make_error(Errc::unavailable, "no background encoding is running");
  std::string bytes;
  std::uint64_t size = 0;
  bool complete = false;
  char header[8];
  std::size_t got = 0;
  auto read_some = [&](char* p, std::size_t n) -> ssize_t {
    for (;;) {
      const ssize_t r = ::read(fd_, p, n);
      if (r < 0 && errno == EINTR) continue;
      return r;
    }
  };
  while (got < sizeof header) {
    const ssize_t r = read_some(header + got, sizeof header - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  if (got == sizeof header) {
    std::memcpy(&size, header, sizeof header);
    // A size beyond what memory could hold means a broken child, not an encoding.
    if (size < (std::uint64_t{1} << 40)) {
      bytes.resize(size);
      std::size_t off = 0;
      while (off < size) {
        const ssize_t r = read_some(bytes.data() + off, size - off);
        if (r <= 0) break;
        off += static_cast<std::size_t>(r);
      }
      complete = off == size;
    }
  }
  ::close(fd_);
  fd_ = -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !complete)
    return make_error(Errc::unavailable, "background encoding: the encoding process failed");
  return bytes;
}

}  // namespace shoppulse
