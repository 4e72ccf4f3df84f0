#include "shoppulse/auth/authorizer.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace shoppulse::auth {
namespace {

// Buckets of addresses that have not been seen for a while are dropped once
// the table is this large, so a scan from many addresses cannot grow it.
constexpr std::size_t kMaxAddressBuckets = 100000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "example.com:8000" -> "example.com"; "[::1]:80" -> "::1".
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return lower(host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  const auto colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) != std::string_view::npos) return lower(host);  // bare IPv6
  return lower(host.substr(0, colon));
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

unsigned required_scope(std::string_view method, std::string_view path, bool websocket, bool open_metrics) {
  if (websocket) return kScopeRead;
  if (method == "OPTIONS") return kScopeNone;
  if (path == "/api/health" || path == "/api/ready") return kScopeNone;  // probes carry no key
  if (path == "/metrics") return open_metrics ? kScopeNone : kScopeRead;
  if (!starts_with(path, "/api/")) return kScopeNone;  // dashboard, docs, /openapi.json, service info
  const bool reads = method == "GET" || method == "HEAD";
  if (path == "/api/events") return reads ? kScopeRead : kScopeIngest;
  if (starts_with(path, "/api/system/logs") || path == "/api/import" || starts_with(path, "/api/system/start-component") ||
      starts_with(path, "/api/system/stop-component"))
    return kScopeAdmin;
  return reads ? kScopeRead : kScopeAdmin;
}

bool is_loopback_host(std::string_view host) {
  const std::string name = host_name(host);
  if (name == "localhost" || name == "::1") return true;
  in_addr a{};
  if (::inet_pton(AF_INET, name.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

Authorizer::Authorizer(AuthConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock), file_(config_.data_dir) {
  std::lock_guard lock(mutex_);
  reload_locked();
}

void Authorizer::reload_locked() {
  const std::uint64_t version = file_.version();
  if (version == loaded_version_) return;
  auto entries = file_.load();
  if (!entries) return;  // deliberately ignored: keep the last good table until the file reads again
  loaded_version_ = version;
  keys_.clear();
  public_origins_.clear();
  for (KeyEntry& e : *entries) {
    if (e.is_public && !e.revoked())
      for (const auto& o : e.origins) public_origins_.push_back(o);
    keys_[e.id] = std::move(e);
  }
}

std::size_t Authorizer::usable_keys() {
  std::lock_guard lock(mutex_);
  reload_locked();
  return static_cast<std::size_t>(
      std::count_if(keys_.begin(), keys_.end(), [](const auto& kv) { return !kv.second.revoked() && !kv.second.is_public; }));
}

bool Authorizer::host_allowed(std::string_view host) const {
  if (host.empty()) return true;  // HTTP/1.0 clients; browsers always send Host
  const std::string name = host_name(host);
  if (name == "localhost" || is_ip_literal(name)) return true;
  for (const auto& allowed : config_.allowed_hosts)
    if (allowed == "*" || lower(allowed) == name) return true;
  return false;
}

std::string Authorizer::allowed_origin(std::string_view origin, std::string_view path, std::string_view host,
                                       bool tls) {
  const auto normal = normalize_origin(origin);
  if (!normal) return {};
  const auto self = normalize_origin(std::string(tls ? "https://" : "http://") + std::string(host));
  if (self && *normal == *self) return *normal;
  for (const auto& o : config_.cors_origins)
    if (o == "*" || normalize_origin(o) == normal) return *normal;
  if (path == "/api/events") {
    std::lock_guard lock(mutex_);
    reload_locked();
    for (const auto& o : public_origins_)
      if (o == *normal) return *normal;
  }
  return {};
}

std::string Authorizer::preflight_origin(std::string_view origin, std::string_view path, std::string_view host,
                                         bool tls) {
  if (!host_allowed(host)) return {};
  return allowed_origin(origin, path, host, tls);
}

long Authorizer::take(std::unordered_map<std::string, Bucket>& buckets, const std::string& name, double rate,
                      double burst) {
  const std::int64_t now = clock_.now_ms();
  if (buckets.size() >= kMaxAddressBuckets && buckets.find(name) == buckets.end()) {
    // Full buckets carry no state worth keeping.
    for (auto it = buckets.begin(); it != buckets.end();) {
      const double refilled = it->second.tokens + double(now - it->second.last_ms) / 1000.0 * rate;
      it = refilled >= burst ? buckets.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets.try_emplace(name, Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh && now > b.last_ms) b.tokens = std::min(burst, b.tokens + double(now - b.last_ms) / 1000.0 * rate);
  b.last_ms = std::max(b.last_ms, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max(1L, static_cast<long>(std::ceil((1.0 - b.tokens) / rate)));
}

AuthDecision Authorizer::check(const AuthRequest& rq) {
  AuthDecision d;
  auto refuse = [&](int status, std::string code, std::string detail) {
    d.status = status;
    d.code = std::move(code);
    d.detail = std::move(detail);
    return d;
  };
  if (!host_allowed(rq.host))
    return refuse(421, "host_not_allowed", "this server does not answer for that Host; add it to http.allowed_hosts");
  if (!rq.origin.empty()) {
    // A shop's page (a public key's origin) may send events, never read them
    // back: GET /api/events is the raw log.
    const std::string_view origin_path = rq.method == "POST" ? rq.path : std::string_view();
    d.cors_origin = allowed_origin(rq.origin, origin_path, rq.host, rq.tls);
    if (d.cors_origin.empty()) return refuse(403, "origin_not_allowed", "requests from this origin are not allowed");
    const auto self = normalize_origin(std::string(rq.tls ? "https://" : "http://") + std::string(rq.host));
    if (self && *self == d.cors_origin) d.cors_origin.clear();  // same origin: no CORS headers needed
  }

  const unsigned needed = required_scope(rq.method, rq.path, rq.websocket, config_.open_metrics);
  if (needed == kScopeNone) return d;

  std::string_view presented;
  const std::string_view auth = rq.authorization;
  if (auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer ") presented = auth.substr(7);
  else if (!auth.empty()) return refuse(401, "invalid_key", "Authorization must be 'Bearer <key>'");
  if (presented.empty() && rq.websocket) presented = rq.query_key;
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  if (presented.empty()) {
    if (!config_.keys_required) return d;
    return refuse(401, "key_required", "this route needs an API key: Authorization: Bearer <key>");
  }

  const auto key = split_key(presented);
  if (!key) return refuse(401, "invalid_key", "the API key is not valid");
  KeyEntry entry;
  {
    std::lock_guard lock(mutex_);
    reload_locked();
    const auto it = keys_.find(key->id);
    if (it == keys_.end() || !secret_matches(it->second, key->secret))
      return refuse(401, "invalid_key", "the API key is not valid");
    entry = it->second;
  }
  if (entry.revoked()) return refuse(401, "key_revoked", "the API key was revoked");

  std::lock_guard lock(mutex_);
  if (entry.is_public) {
    if (rq.path != "/api/events" || rq.method != "POST")
      return refuse(403, "insufficient_scope", "a public key may only send events");
    const auto origin = normalize_origin(rq.origin);
    if (!origin || std::find(entry.origins.begin(), entry.origins.end(), *origin) == entry.origins.end())
      return refuse(403, "origin_not_allowed", "this public key is not allowed from this origin");
    d.public_key = true;
    d.retry_after_s = take(address_buckets_, std::string(rq.client_address), config_.public_rate_per_second,
                           config_.public_burst);
  } else {
    const bool granted = (entry.scopes & kScopeAdmin) != 0 || (entry.scopes & needed) == needed;
    if (!granted)
      return refuse(403, "insufficient_scope", "this key lacks the " + scopes_text(needed) + " scope");
    d.retry_after_s = take(key_buckets_, entry.id, config_.key_rate_per_second, config_.key_burst);
  }
  if (d.retry_after_s > 0) {
    const long retry = d.retry_after_s;
    refuse(429, "rate_limited", "too many requests for this key; retry later");
    d.retry_after_s = retry;
  }
  return d;
}

}  // namespace shoppulse::auth
