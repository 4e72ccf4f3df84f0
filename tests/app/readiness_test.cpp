// ServiceNotifier speaks the sd_notify datagram protocol; a socket bound here
// plays the service manager.
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "readiness.hpp"

namespace {

// A bound datagram socket; receive() returns the next message (blocking).
class FakeManager {
 public:
  explicit FakeManager(std::string address) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    if (address_[0] == '@') addr.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), length) == 0);
  }
  ~FakeManager() {
    ::close(fd_);
    if (address_[0] == '/') ::unlink(address_.c_str());
  }
  std::string receive() {
    char buffer[512];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    REQUIRE(n >= 0);
    return std::string(buffer, std::size_t(n));
  }

 private:
  std::string address_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("the notifier sends each message as one datagram to a socket path", "[app]") {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("shoppulse-notify-" + std::to_string(::getpid()))).string();
  ::unlink(path.c_str());
  FakeManager manager(path);
  shoppulse::app::ServiceNotifier notifier(path.c_str());
  REQUIRE(notifier.enabled());
  REQUIRE(notifier.send("READY=1\nSTATUS=running"));
  CHECK(manager.receive() == "READY=1\nSTATUS=running");
  REQUIRE(notifier.send("STOPPING=1"));
  CHECK(manager.receive() == "STOPPING=1");
}

TEST_CASE("the notifier reaches an abstract socket named with @", "[app]") {
  const std::string name = "@shoppulse-notify-test-" + std::to_string(::getpid());
  FakeManager manager(name);
  shoppulse::app::ServiceNotifier notifier(name.c_str());
  REQUIRE(notifier.send("READY=1"));
  CHECK(manager.receive() == "READY=1");
}

TEST_CASE("without NOTIFY_SOCKET the notifier does nothing and says so", "[app]") {
  shoppulse::app::ServiceNotifier unset(nullptr);
  CHECK_FALSE(unset.enabled());
  CHECK_FALSE(unset.send("READY=1"));
  shoppulse::app::ServiceNotifier relative("not/a/socket");
  CHECK_FALSE(relative.enabled());
}
