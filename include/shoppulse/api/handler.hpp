#pragma once
// The transport-free request/response surface between http and api. The http
// module turns Beast messages into ApiRequest and ApiResponse back; api never
// sees Beast.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoppulse::api {

struct ApiRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // decoded path without query, e.g. "/api/analytics/real-time"
  std::string query;         // raw query string without '?', e.g. "window=5m&limit=3"
  std::string content_type;  // request Content-Type, lower-cased, parameters stripped
  std::string body;
  // Sent with a public key from a shop's page: only the browser event types
  // (view, click, add_to_cart, remove_from_cart, favorite, purchase) may be
  // posted.
  bool browser_events_only = false;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Retry-After
};

// Called exactly once, from any thread. The http module posts back to the
// connection's own executor.
using Respond = std::function<void(ApiResponse)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // Must not block: long work completes later through respond.
  virtual void handle(ApiRequest request, Respond respond) = 0;
};

// Splits "a=1&b=x%20y" into decoded pairs; returns the value of key or empty.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
std::string url_decode(std::string_view text);

}  // namespace shoppulse::api
