#pragma once
// Who may do what, decided per request before the api sees it: the Host
// header (DNS rebinding), the Origin header (cross-site pages), the API key
// and its scopes, and per-key / per-address token buckets.
//
// Role: a pure decision from an AuthRequest to an AuthDecision; no
// transport. Lifecycle: built by the application with the keys file of the
// data dir, shared by every connection for the server's life. Thread: check()
// may be called from any I/O thread; one mutex guards the key table and the
// buckets (both tiny critical sections).
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shoppulse/auth/keys.hpp"
#include "shoppulse/core/clock.hpp"

namespace shoppulse::auth {

struct AuthConfig {
  // Requests to protected routes need a key. The application sets this when
  // auth.required is true or the listen address is not a loopback address.
  bool keys_required = false;
  bool open_metrics = false;            // /metrics without a key (auth.open_metrics)
  double key_rate_per_second = 100;     // token refill per key; requests/s (auth.key_rate)
  double key_burst = 200;               // bucket size per key; requests (auth.key_burst)
  double public_rate_per_second = 5;    // refill per client address for public keys; requests/s (auth.public_rate)
  double public_burst = 30;             // bucket size per client address; requests (auth.public_burst)
  std::vector<std::string> cors_origins;   // origins allowed to call the API from a browser (auth.cors_origins)
  std::vector<std::string> allowed_hosts;  // Host names accepted besides IP literals and localhost (http.allowed_hosts)
  std::string data_dir;                    // where auth/keys lives
};

struct AuthRequest {
  std::string_view method;         // "GET", "OPTIONS", ...
  std::string_view path;           // decoded path
  std::string_view host;           // Host header
  std::string_view origin;         // Origin header, empty when absent
  std::string_view authorization;  // Authorization header
  std::string_view query_key;      // ?key= (honoured for the WebSocket only)
  std::string_view client_address; // peer IP
  bool websocket = false;
  bool tls = false;
};

struct AuthDecision {
  int status = 0;            // 0: go ahead; else the HTTP status to answer
  std::string code;          // error code for the JSON body
  std::string detail;
  long retry_after_s = 0;    // set with 429
  std::string cors_origin;   // echo in Access-Control-Allow-Origin when non-empty
  bool public_key = false;   // a public key: only browser event types may be sent
  bool allowed() const noexcept { return status == 0; }
};

// The scope a route needs, or kScopeNone when it is open to everyone.
unsigned required_scope(std::string_view method, std::string_view path, bool websocket, bool open_metrics);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

class Authorizer {
 public:
  Authorizer(AuthConfig config, const Clock& clock);

  const AuthConfig& config() const noexcept { return config_; }

  // Host and Origin checks, then the key (for routes that need one), then
  // the rate limit.
  AuthDecision check(const AuthRequest& request);

  // For a CORS preflight: the origin to allow for path, or empty to refuse.
  std::string preflight_origin(std::string_view origin, std::string_view path, std::string_view host, bool tls);

  // Valid (not revoked, not public) keys in the file now.
  std::size_t usable_keys();

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t last_ms = 0;
  };
  // Takes one token; 0 when granted, else seconds until one is there.
  long take(std::unordered_map<std::string, Bucket>& buckets, const std::string& name, double rate, double burst);
  void reload_locked();
  bool host_allowed(std::string_view host) const;
  // The allowed origin (normalised) or empty.
  std::string allowed_origin(std::string_view origin, std::string_view path, std::string_view host, bool tls);

  const AuthConfig config_;
  const Clock& clock_;
  KeyFile file_;
  std::mutex mutex_;
  std::uint64_t loaded_version_ = 0;
  std::unordered_map<std::string, KeyEntry> keys_;               // by id
  std::vector<std::string> public_origins_;                       // every public key's origins
  std::unordered_map<std::string, Bucket> key_buckets_;           // by key id
  std::unordered_map<std::string, Bucket> address_buckets_;       // by client address (public keys)
};

}  // namespace shoppulse::auth
