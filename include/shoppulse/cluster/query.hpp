#pragma once
// The cluster query layer (cluster.enabled; README, Cluster, Queries): a
// GET to an analytics or product endpoint of any node is answered for every
// partition by asking each current member for its partial answer
// (scope=local) in parallel and merging them exactly (merge.hpp); per-user
// endpoints go to the member that owns the user's partition; the user list,
// the product list and the event export page through the members one after
// another.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/api/handler.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse::cluster {

// One member as the query layer sees it.
struct MemberView {
  std::string node_id;
  std::string advertise;  // host:port of its HTTP server
  std::vector<std::int32_t> partitions;
  // The partitions its derived state covers (its record's "owned"); they
  // differ from `partitions` while a rebuild for a new set runs. Absent
  // from the record: taken as `partitions`.
  std::optional<std::vector<std::int32_t>> owned;
  // Gained partitions whose backlog it is still reading (its record's
  // "catching_up"): consumed, not yet current.
  std::vector<std::int32_t> catching_up;
  bool current = false;
  // Partitions it consumes whose figures its answers already hold: owned by
  // its published state and not catching up.
  std::uint32_t covered() const;
};

// The cluster at one moment: the events topic's partition count and the
// members with a record.
struct ClusterView {
  std::uint32_t partitions = 0;
  std::vector<MemberView> members;
  // The current member consuming partition p; nullptr when none does.
  const MemberView* owner(std::int32_t p) const;
};

// The "members" array of GET /api/cluster (ClusterMembers::members_json)
// as MemberViews; an empty list when the text is not that array.
std::vector<MemberView> parse_members(std::string_view members_json);

// An HTTP GET to another member. Role: one request per call on the
// client's own I/O thread, bounded by timeout_ms from start to the whole
// answer read; that thread also runs the merges (post()). Lifecycle: start() spawns the thread; stop() ends it (every
// pending call completes with an error first). Threading: get() from any
// thread; done runs on the client's thread. Beast stays in its one .cpp.
class MemberClient {
 public:
  struct Answer {
    int status = 0;  // 0: no answer (connect failure, timeout)
    std::string body;
    std::string content_type;
    std::string next_cursor;  // its X-Next-Cursor header (a paged answer's next page), empty when absent
    std::string error;
  };
  using Done = std::function<void(Answer)>;
  MemberClient();
  // Virtual so a test can stand in for the members (get() overridden).
  virtual ~MemberClient();
  MemberClient(const MemberClient&) = delete;
  MemberClient& operator=(const MemberClient&) = delete;
  void start();
  void stop();
  // target: path and query ("/api/x?scope=local"); authorization: the
  // Authorization header to send, empty for none.
  virtual void get(const std::string& advertise, std::string target, std::string authorization,
                   std::int64_t timeout_ms, Done done);
  // Runs task on the client's thread (the merges of the query layer, kept
  // off the threads that deliver a node's own answers, such as the engine's).
  void post(std::function<void()> task);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct QueryConfig {
  // false (one node, no cluster): scope is accepted and dropped, and every
  // request goes to the node's own handler as it is.
  bool cluster = true;
  std::string self_id;              // this node's id in the members topic
  std::int64_t timeout_ms = 2000;   // cluster.query_timeout: longest wait for a member's answer
  std::size_t max_limit = 1000;     // api.max_limit: the candidates asked of each member for a top list
  std::size_t realtime_top_n = 10;  // windows.top_n: entries of the real-time windows' top lists
  // GET /api/events: the most lines a page relayed from another member
  // holds (it is read whole before it is sent on).
  std::size_t export_relay_lines = 10000;
  // ... and the longest it waits for such a page (cluster.query_timeout when
  // that is longer): a page with selective filters reads many records first.
  std::int64_t export_relay_timeout_ms = 30000;
};

// Wraps the node's own handler. Every route accepts scope=local (answered
// by the node's own handler for its own partitions, today's behaviour) and
// scope=cluster (the default in cluster mode).
std::unique_ptr<api::Handler> make_cluster_query_handler(api::Handler& local, std::function<ClusterView()> view,
                                                         MemberClient& client, QueryConfig config);

// How a route is answered in cluster mode (exposed for tests). paged: the
// members' lists one after another (GET /api/users); exported: the
// members' event logs one after another, a page from one member at a time
// (GET /api/events); catalogue: the members' product lists one after
// another, each product counted by every member (GET /api/products).
enum class RouteKind { merged, per_user, paged, exported, catalogue, not_a_query };
RouteKind route_kind(std::string_view method, std::string_view path);

// Where a cluster walk of GET /api/users stands: the member whose users
// come next and that member's own cursor (nullopt: from its first user).
struct UsersCursor {
  std::string node_id;
  std::optional<std::string> member_cursor;
  friend bool operator==(const UsersCursor&, const UsersCursor&) = default;
};
// The cursor as the client sees it: opaque, URL-safe (base64url pieces).
std::string encode_users_cursor(const UsersCursor& cursor);
// invalid_argument (field "cursor") for any text encode_users_cursor does
// not give.
Result<UsersCursor> decode_users_cursor(std::string_view text);

}  // namespace shoppulse::cluster
