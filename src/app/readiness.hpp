#pragma once
// Tells the service manager how start-up and shutdown go, by the sd_notify
// protocol: one datagram per message to the AF_UNIX socket named by
// NOTIFY_SOCKET (a path, or an abstract name starting with '@'). Without a
// socket every call does nothing, so the binary runs the same by hand.
// Lifecycle: built once in main() with the variable's value. Threading: main
// thread only.
#include <string>
#include <string_view>

namespace shoppulse::app {

class ServiceNotifier {
 public:
  explicit ServiceNotifier(const char* notify_socket);  // NOTIFY_SOCKET or nullptr
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;
  ~ServiceNotifier();

  bool enabled() const noexcept { return fd_ >= 0; }
  // Sends message ("READY=1", "STATUS=...", "STOPPING=1"); false when it
  // could not be sent (or no socket). The service still runs either way.
  [[nodiscard]] bool send(std::string_view message);

 private:
  std::string address_;
  int fd_ = -1;
};

}  // namespace shoppulse::app
