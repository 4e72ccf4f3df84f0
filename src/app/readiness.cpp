#include "readiness.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace shoppulse::app {

ServiceNotifier::ServiceNotifier(const char* notify_socket) {
  if (notify_socket == nullptr || notify_socket[0] == '\0') return;
  address_ = notify_socket;
  if (address_.size() >= sizeof(sockaddr_un{}.sun_path)) return;  // cannot be addressed
  if (address_[0] != '/' && address_[0] != '@') return;           // not a socket this protocol names
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

ServiceNotifier::~ServiceNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool ServiceNotifier::send(std::string_view message) {
  if (fd_ < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  const ssize_t sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), length);
  return sent == static_cast<ssize_t>(message.size());
}

}  // namespace shoppulse::app
