#pragma once
// The transport-free request/response surface between http and api. The http
// module turns Beast messages into ApiRequest and ApiResponse back; api never
// sees Beast.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoppulse/core/result.hpp"

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
  // The Authorization header as sent, for a cluster node to forward when it
  // asks the other members (README, Cluster, Queries); empty when absent.
  std::string authorization;
  // A member's part of a cluster query asked with scope=local&limit=all:
  // top lists are answered whole, not cut at api.max_limit, so the merge of
  // the members' lists is exact (README, Cluster, Queries).
  bool whole_lists = false;
};

// The next piece of a streamed body.
struct BodyPiece {
  std::string bytes;  // may be empty (nothing matched in this slice)
  bool last = false;  // no piece follows
};

// A body produced piece by piece as the client takes it, for answers too
// large to hold whole (GET /api/events). The http module asks for one piece,
// writes it, and asks for the next only once it is written: a client that
// stops reading stops the production, and at most one piece per stream is
// in memory. Lifecycle: owned by the connection; dropping it (client gone,
// server stopping) ends the production. Thread: pull() from the connection's
// thread, at most one pull outstanding.
class BodyStream {
 public:
  using Deliver = std::function<void(Result<BodyPiece>)>;
  virtual ~BodyStream() = default;
  // Produces the next piece off the caller's thread; deliver is called
  // exactly once, from any thread. An error ends the stream: the status and
  // headers are already sent, so the connection is closed without the
  // body's end and the client sees an incomplete answer.
  virtual void pull(Deliver deliver) = 0;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Retry-After
  // When set, the body is this stream (sent chunked) and `body` is unused.
  std::shared_ptr<BodyStream> stream;
};

// Called exactly once, from any thread. The http module posts back to the
// connection's own executor.
using Respond = std::function<void(ApiResponse)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // Must not block: long work completes later through respond. A request's
  // body may be its thread's spare buffer: an implementation in this build
  // gives it back (SpareBody, core/thread_spare.hpp) once nothing reads it.
  virtual void handle(ApiRequest request, Respond respond) = 0;
};

// Splits "a=1&b=x%20y" into decoded pairs; returns the value of key or empty.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
std::string url_decode(std::string_view text);

// The non-empty segments of a request path ("/api/x/1" -> api, x, 1).
std::vector<std::string> split_path(std::string_view path);

}  // namespace shoppulse::api
