#include "shoppulse/cluster/query.hpp"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "json_tree.hpp"
#include "shoppulse/api/api.hpp"
#include "shoppulse/api/query_limit.hpp"
#include "shoppulse/cluster/merge.hpp"
#include "shoppulse/core/key_partition.hpp"

namespace shoppulse::cluster {

const MemberView* ClusterView::owner(std::int32_t p) const {
  for (const MemberView& m : members)
    if (m.current && std::find(m.partitions.begin(), m.partitions.end(), p) != m.partitions.end()) return &m;
  return nullptr;
}

std::uint32_t MemberView::covered() const {
  const auto has = [](const std::vector<std::int32_t>& v, std::int32_t p) {
    return std::find(v.begin(), v.end(), p) != v.end();
  };
  std::uint32_t n = 0;
  for (std::int32_t p : partitions) n += (!owned || has(*owned, p)) && !has(catching_up, p);
  return n;
}

std::vector<MemberView> parse_members(std::string_view members_json) {
  // The integers of a JSON array (other elements skipped).
  const auto ints = [](const json::Value& array) {
    std::vector<std::int32_t> v;
    for (const json::Value& p : array.a)
      if (p.kind == json::Value::integer) v.push_back(static_cast<std::int32_t>(p.i));
    return v;
  };
  std::vector<MemberView> out;
  auto parsed = json::parse(members_json);
  if (!parsed || parsed->kind != json::Value::array) return out;
  for (const json::Value& m : parsed->a) {
    if (m.kind != json::Value::object) continue;
    MemberView v;
    if (const auto* id = m.find("node_id"); id && id->kind == json::Value::string) v.node_id = id->s;
    if (const auto* a = m.find("advertise"); a && a->kind == json::Value::string) v.advertise = a->s;
    if (const auto* c = m.find("current"); c && c->kind == json::Value::boolean) v.current = c->b;
    if (const auto* ps = m.find("partitions"); ps && ps->kind == json::Value::array) v.partitions = ints(*ps);
    if (const auto* os = m.find("owned"); os && os->kind == json::Value::array) v.owned = ints(*os);
    if (const auto* cs = m.find("catching_up"); cs && cs->kind == json::Value::array) v.catching_up = ints(*cs);
    if (!v.node_id.empty()) out.push_back(std::move(v));
  }
  return out;
}

namespace {

bool matches(const std::vector<std::string>& segs, std::initializer_list<std::string_view> pattern) {
  if (segs.size() != pattern.size()) return false;
  std::size_t i = 0;
  for (std::string_view p : pattern) {
    if (p != "{}" && segs[i] != p) return false;
    ++i;
  }
  return true;
}

std::optional<MergeKind> merge_kind(std::string_view path) {
  const auto s = api::split_path(path);
  if (matches(s, {"api", "analytics", "real-time"})) return MergeKind::realtime;
  // The snapshot (the WebSocket's message) is the real-time fields at top
  // level and once per window under "windows": merged the same way, but in
  // one round (a push every second asks no whole lists; its top lists may
  // be unproven, coverage.exact_top false).
  if (matches(s, {"api", "analytics", "snapshot"})) return MergeKind::snapshot;
  if (matches(s, {"api", "analytics", "trends"})) return MergeKind::trends;
  if (matches(s, {"api", "analytics", "range"})) return MergeKind::range;
  if (matches(s, {"api", "analytics", "funnel"})) return MergeKind::funnel;
  if (matches(s, {"api", "analytics", "cohorts"})) return MergeKind::cohorts;
  if (matches(s, {"api", "analytics", "propensity"})) return MergeKind::propensity;
  if (matches(s, {"api", "products", "trending"})) return MergeKind::trending;
  if (matches(s, {"api", "products", "{}", "similar"})) return MergeKind::similar;
  if (matches(s, {"api", "products", "popular"}) || matches(s, {"api", "products", "categories", "{}", "popular"}))
    return MergeKind::popular;
  return std::nullopt;
}

std::string encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || c == ':') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

using Params = std::vector<std::pair<std::string, std::string>>;

std::string query_text(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) out += (out.empty() ? "" : "&") + encode(k) + "=" + encode(v);
  return out;
}

std::string path_text(std::string_view path) {
  std::string out;
  for (const std::string& s : api::split_path(path)) {
    out += '/';
    out += encode(s);
  }
  return out.empty() ? "/" : out;
}

void set_param(Params& params, std::string_view key, std::string value) {
  for (auto& [k, v] : params)
    if (k == key) {
      v = std::move(value);
      return;
    }
  params.emplace_back(std::string(key), std::move(value));
}

const std::string* find_param(const Params& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

// base64url without padding (RFC 4648, section 5): the pieces of a users
// cursor, so any node id or member cursor travels in a query string as is.
constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view bytes) {
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (const char c : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    held += 8;
    while (held >= 6) {
      held -= 6;
      out += kBase64Url[(bits >> held) & 63];
    }
  }
  if (held > 0) out += kBase64Url[(bits << (6 - held)) & 63];
  return out;
}

// The bytes of base64url text; nullopt for anything base64url() does not
// write (other characters, a dangling sixth of a byte, nonzero spare bits),
// so each cursor has exactly one spelling.
std::optional<std::string> unbase64url(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (const char c : text) {
    const std::size_t v = kBase64Url.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 0xFF);
    }
  }
  if ((bits & ((1u << held) - 1)) != 0) return std::nullopt;
  return out;
}

// The top-level string fields of an answer that fix its time range when the
// client gave none: members whose range differs are asked again with the
// latest (each node anchors a default range on its own newest event).
std::vector<std::string_view> pinned_fields(MergeKind kind) {
  switch (kind) {
    case MergeKind::popular: return {"end"};
    case MergeKind::trends:
    case MergeKind::range:
    case MergeKind::funnel:
    case MergeKind::cohorts: return {"from", "to"};
    default: return {};
  }
}

std::optional<std::string> top_string(const std::string& body, std::string_view key) {
  auto v = json::parse(body);
  if (!v || v->kind != json::Value::object) return std::nullopt;
  const json::Value* x = v->find(key);
  if (!x || x->kind != json::Value::string) return std::nullopt;
  return x->s;
}

class QueryHandler final : public api::Handler {
 public:
  QueryHandler(api::Handler& local, std::function<ClusterView()> view, MemberClient& client, QueryConfig config)
      : local_(local), view_(std::move(view)), client_(client), config_(std::move(config)) {}

  void handle(api::ApiRequest request, api::Respond respond) override {
    Params params = api::parse_query(request.query);
    std::string scope = "cluster";
    std::size_t scopes = 0;
    for (const auto& [k, v] : params)
      if (k == "scope") {
        scope = v;
        ++scopes;
      }
    if (scopes > 0) {
      if (scope != "local" && scope != "cluster")
        return respond(api::error_response(make_error(
            Errc::invalid_argument, "must be local or cluster; got \"" + scope + "\"", "scope")));
      std::erase_if(params, [](const auto& kv) { return kv.first == "scope"; });
      request.query = query_text(params);
    }
    const bool get = request.method == "GET" || request.method == "HEAD";
    if (scope == "local") take_limit_all(request, params);
    if (!config_.cluster || scope == "local" || !get) return local_.handle(std::move(request), std::move(respond));
    switch (route_kind(request.method, request.path)) {
      case RouteKind::merged: return fan_out(std::move(request), std::move(params), std::move(respond));
      case RouteKind::per_user: return route_to_owner(std::move(request), std::move(respond));
      case RouteKind::paged: return page_users(std::move(request), std::move(params), std::move(respond));
      case RouteKind::exported: return page_events(std::move(request), std::move(params), std::move(respond));
      case RouteKind::catalogue: return page_products(std::move(request), std::move(params), std::move(respond));
      case RouteKind::not_a_query: return local_.handle(std::move(request), std::move(respond));
    }
  }

 private:
  struct Asked {
    const MemberView* member = nullptr;
    bool self = false;
  };

  // One fan-out: the answers as they come, merged once the last is in.
  struct Gather {
    std::mutex mutex;
    std::vector<int> status;
    std::vector<std::string> bodies;
    std::vector<api::ApiResponse> self_response;  // this node's own, whole (errors are passed on)
    std::size_t left = 0;
  };

  // Asks the members `which` (indices into `members`) with `params`; each
  // answer replaces that member's in `gather` (this node's own error answer
  // is also kept whole). `done` runs on the client's thread once all have
  // answered: the last answer may come on the engine's thread (this node's
  // own), which a merge must not hold.
  void ask_round(const std::shared_ptr<Gather>& gather, const std::shared_ptr<std::vector<MemberView>>& members,
                 const std::vector<std::size_t>& which, const std::string& path, const Params& params,
                 const std::string& authorization, std::function<void()> done) {
    auto then = std::make_shared<std::function<void()>>(std::move(done));
    if (which.empty()) return client_.post([then] { (*then)(); });
    {
      std::lock_guard lock(gather->mutex);
      gather->left = which.size();
    }
    for (std::size_t i : which)
      ask((*members)[i], i == 0, path, params, authorization,
          [this, gather, i, then](int status, std::string body, api::ApiResponse* whole) {
            std::unique_lock lock(gather->mutex);
            gather->status[i] = status;
            gather->bodies[i] = std::move(body);
            if (whole && status != 200) gather->self_response.push_back(std::move(*whole));
            if (--gather->left != 0) return;
            lock.unlock();
            client_.post([then] { (*then)(); });
          });
  }

  // scope=local&limit=all: a member's whole top lists for a merge.
  static void take_limit_all(api::ApiRequest& request, Params& params) {
    const std::string* limit = find_param(params, "limit");
    if (!limit || *limit != "all") return;
    std::erase_if(params, [](const auto& kv) { return kv.first == "limit"; });
    request.query = query_text(params);
    request.whole_lists = true;
  }

  void ask(const MemberView& m, bool self, const std::string& path, const Params& params,
           const std::string& authorization, std::function<void(int, std::string, api::ApiResponse*)> done) {
    if (self) {
      api::ApiRequest rq;
      rq.method = "GET";
      rq.path = path;
      Params own = params;
      rq.query = query_text(own);
      rq.authorization = authorization;
      take_limit_all(rq, own);
      local_.handle(std::move(rq), [done](api::ApiResponse r) {
        std::string body = r.body;
        done(r.status, std::move(body), &r);
      });
      return;
    }
    Params remote = params;
    remote.emplace_back("scope", "local");
    client_.get(m.advertise, path_text(path) + "?" + query_text(remote), authorization, config_.timeout_ms,
                [done](MemberClient::Answer a) { done(a.status, std::move(a.body), nullptr); });
  }

  void fan_out(api::ApiRequest request, Params params, api::Respond respond) {
    const MergeKind kind = *merge_kind(request.path);
    const ClusterView view = view_();
    auto members = std::make_shared<std::vector<MemberView>>();
    bool self_listed = false;
    for (const MemberView& m : view.members) {
      if (m.node_id == config_.self_id) {
        self_listed = true;
        members->push_back(m);
      } else if (m.current && !m.advertise.empty()) {
        members->push_back(m);
      }
    }
    if (!self_listed) members->push_back(MemberView{config_.self_id, {}, {}, std::nullopt, {}, true});
    // This node first: its answer decides errors and leads the merge.
    std::stable_partition(members->begin(), members->end(),
                          [this](const MemberView& m) { return m.node_id == config_.self_id; });
    MergeOptions options;
    options.kind = kind;
    if (kind == MergeKind::trending) {
      // Every member's whole candidate list, unfiltered: the merge adds the
      // counts, filters by category and keeps `limit` (refused, when one
      // node would refuse it, in the same words).
      auto limit = api::parse_limit(params, 10, config_.max_limit);
      if (!limit) return respond(api::error_response(limit.error()));
      options.limit = *limit;
      if (const std::string* c = find_param(params, "category")) options.category = *c;
      std::erase_if(params, [](const auto& kv) { return kv.first == "category"; });
      set_param(params, "limit", "all");
    } else if (kind == MergeKind::similar) {
      // Every member's whole row of the product (README, Cluster, Queries).
      if (find_param(params, "of"))
        return respond(api::error_response(
            make_error(Errc::invalid_argument, "only with scope=local&limit=all (a cluster's merge asks it)", "of")));
      auto limit = api::parse_limit(params, 10, config_.max_limit);
      if (!limit) return respond(api::error_response(limit.error()));
      options.limit = *limit;
      set_param(params, "limit", "all");
    } else if (kind == MergeKind::popular || kind == MergeKind::range || kind == MergeKind::propensity) {
      // Candidates: as many as a member may answer, so the merged top list
      // is exact whenever merge_ranked can prove it (README). Propensity:
      // each member's top `limit` (its shoppers are its own).
      std::size_t limit = 10;
      if (const std::string* l = find_param(params, "limit")) {
        try {
          limit = static_cast<std::size_t>(std::stoull(*l));
        } catch (const std::exception&) {
          limit = 10;  // the local handler refuses it with 400
        }
      }
      options.limit = limit;
      options.asked_limit = kind == MergeKind::propensity ? limit : std::max(limit, config_.max_limit);
      set_param(params, "limit", std::to_string(options.asked_limit));
    } else if (kind == MergeKind::realtime || kind == MergeKind::snapshot) {
      options.limit = options.asked_limit = config_.realtime_top_n;
    }
    auto gather = std::make_shared<Gather>();
    gather->status.assign(members->size(), 0);
    gather->bodies.assign(members->size(), {});
    const std::string path = request.path;
    const std::string authorization = request.authorization;
    const std::uint32_t partitions = view.partitions;
    auto finish = [this, gather, members, options, params, path, authorization, respond, partitions]() mutable {
      if (gather->status[0] != 200) {
        if (!gather->self_response.empty()) return respond(std::move(gather->self_response.front()));
        return respond(api::error_response(make_error(Errc::unavailable, "this node did not answer")));
      }
      // Ranges anchored on each node's newest event: the latest for all.
      std::vector<std::pair<std::string, std::string>> pins;
      for (std::string_view key : pinned_fields(options.kind)) {
        if (find_param(params, key)) continue;
        std::optional<std::string> latest;
        for (std::size_t i = 0; i < members->size(); ++i)
          if (gather->status[i] == 200)
            if (auto v = top_string(gather->bodies[i], key); v && (!latest || *v > *latest)) latest = v;
        if (latest) pins.emplace_back(std::string(key), *latest);
      }
      std::vector<std::size_t> again;
      if (!pins.empty())
        for (std::size_t i = 0; i < members->size(); ++i) {
          if (gather->status[i] != 200) continue;
          for (const auto& [k, v] : pins)
            if (top_string(gather->bodies[i], k) != v) {
              again.push_back(i);
              break;
            }
        }
      if (options.kind == MergeKind::similar)
        return complete_similar(gather, members, options, path, authorization, partitions, respond);
      if (again.empty()) return complete(gather, members, options, params, path, authorization, partitions, respond);
      Params pinned = params;
      for (const auto& [k, v] : pins) set_param(pinned, k, v);
      ask_round(gather, members, again, path, pinned, authorization,
                [this, gather, members, options, pinned, path, authorization, partitions, respond] {
                  complete(gather, members, options, pinned, path, authorization, partitions, respond);
                });
    };
    std::vector<std::size_t> everyone(members->size());
    for (std::size_t i = 0; i < everyone.size(); ++i) everyone[i] = i;
    ask_round(gather, members, everyone, path, params, authorization, std::move(finish));
  }

  // The answers of a fan-out that came back, and what they cover. A
  // member whose published state still holds a partition it no longer
  // consumes, which another answering member's state holds too (a
  // partition that moved; the previous owner has not yet rebuilt without
  // it), is left out, so no partition is counted twice: its answer is not
  // merged and its partitions do not count as current (README, Cluster,
  // Queries, `coverage`).
  static Coverage answered(const Gather& gather, const std::vector<MemberView>& members, std::uint32_t partitions,
                           std::vector<std::string>& bodies) {
    Coverage coverage;
    coverage.partitions = partitions;
    coverage.members = static_cast<std::uint32_t>(members.size());
    std::vector<const MemberView*> held;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (gather.status[i] == 200) held.push_back(&members[i]);
    const std::vector<const MemberView*> stale = previous_owners(held);
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (gather.status[i] != 200) {
        coverage.missing.push_back(members[i].node_id);
      } else if (std::find(stale.begin(), stale.end(), &members[i]) != stale.end()) {
        coverage.left_out.push_back(members[i].node_id);
      } else {
        bodies.push_back(gather.bodies[i]);
        coverage.current += members[i].covered();
      }
    }
    std::erase_if(held, [&](const MemberView* m) { return std::find(stale.begin(), stale.end(), m) != stale.end(); });
    coverage.overlap = overlapping(held);
    return coverage;
  }

  // Every member that answered was left out (partitions moving twice in a
  // row): nothing can be merged yet.
  static api::ApiResponse nothing_merged(const Coverage& coverage) {
    std::string nodes;
    for (const std::string& n : coverage.left_out) nodes += (nodes.empty() ? "" : ", ") + n;
    return api::error_response(make_error(
        Errc::unavailable, "every member that answered (" + nodes +
                               ") still holds a partition that moved and is rebuilding; ask again shortly"));
  }

  // The members whose published state holds a partition they no longer
  // consume while another of `answered` consumes it: the partition's
  // previous owners, whose figures of it are the new owner's to give (once
  // it is current with them; until then the partition is not current).
  static std::vector<const MemberView*> previous_owners(const std::vector<const MemberView*>& answered) {
    const auto consumes = [](const MemberView& m, std::int32_t p) {
      return std::find(m.partitions.begin(), m.partitions.end(), p) != m.partitions.end();
    };
    std::vector<const MemberView*> out;
    for (const MemberView* m : answered) {
      if (!m->owned) continue;
      for (const std::int32_t p : *m->owned) {
        if (consumes(*m, p)) continue;
        const bool also = std::any_of(answered.begin(), answered.end(),
                                      [&](const MemberView* o) { return o != m && consumes(*o, p); });
        if (also) {
          out.push_back(m);
          break;
        }
      }
    }
    return out;
  }

  // Similar items: once every answering member's row is in, each member is
  // asked for the engagement of the other members' neighbours it did not
  // give (`of`, in pieces that keep a request line short), which go into
  // its row before the merge scores the summed rows.
  void complete_similar(const std::shared_ptr<Gather>& gather, const std::shared_ptr<std::vector<MemberView>>& members,
                        const MergeOptions& options, const std::string& path, const std::string& authorization,
                        std::uint32_t partitions, const api::Respond& respond) {
    std::vector<std::string> rows;
    std::vector<std::size_t> which;  // the member of each row
    for (std::size_t i = 0; i < members->size(); ++i)
      if (gather->status[i] == 200) {
        rows.push_back(gather->bodies[i]);
        which.push_back(i);
      }
    // Unknown to every member: a 404 as on one node. While a member is
    // missing the product may be its alone: an empty list naming it.
    const SimilarRows said = similar_rows(rows);
    if (!said.known && rows.size() == members->size()) {
      const auto segs = api::split_path(path);
      return respond(api::error_response(make_error(Errc::not_found, "unknown product: " + segs[2])));
    }
    auto extras = std::make_shared<std::vector<Ask>>();
    for (std::size_t r = 0; r < rows.size(); ++r)
      for (std::string& of : id_batches(said.missing[r]))
        extras->push_back({which[r], {{"limit", "all"}, {"of", std::move(of)}}});
    auto merge = [this, gather, members, options, partitions, respond, extras](std::vector<int> status,
                                                                               std::vector<std::string> bodies) {
      // A member that fails a second-round ask is left out whole.
      for (std::size_t e = 0; e < extras->size(); ++e) {
        const std::size_t m = (*extras)[e].member;
        if (status[e] != 200) {
          gather->status[m] = status[e];
          continue;
        }
        if (gather->status[m] != 200) continue;
        auto row = json::parse(gather->bodies[m]);
        auto more = json::parse(bodies[e]);
        json::Value* into = row ? row->find("engagements") : nullptr;
        const json::Value* from = more ? more->find("engagements") : nullptr;
        if (!into || into->kind != json::Value::object || !from || from->kind != json::Value::object) {
          gather->status[m] = 0;
          continue;
        }
        for (const auto& kv : from->o) into->o.push_back(kv);
        gather->bodies[m] = json::serialize(*row);
      }
      if (gather->status[0] != 200) {
        if (!gather->self_response.empty()) return respond(std::move(gather->self_response.front()));
        return respond(api::error_response(make_error(Errc::unavailable, "this node did not answer")));
      }
      std::vector<std::string> answers;
      Coverage coverage = answered(*gather, *members, partitions, answers);
      if (answers.empty()) return respond(nothing_merged(coverage));
      auto merged = merge_answers(answers, options);
      if (!merged) return respond(api::error_response(merged.error()));
      api::ApiResponse r;
      r.body = with_coverage(merged->body, coverage);
      respond(std::move(r));
    };
    if (extras->empty()) return merge({}, {});
    ask_each(*members, *extras, path, authorization, std::move(merge));
  }

  // Ids as comma-separated lists, each at most kIdBatchBytes once encoded
  // in a query string (well inside the 16 KiB a request's header may take).
  static constexpr std::size_t kIdBatchBytes = 6000;
  static std::vector<std::string> id_batches(const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    std::string batch;
    std::size_t encoded = 0;
    for (const std::string& id : ids) {
      const std::size_t size = encode(id).size() + 3;  // and its comma, %2C
      if (!batch.empty() && encoded + size > kIdBatchBytes) {
        out.push_back(std::move(batch));
        batch.clear();
        encoded = 0;
      }
      batch += (batch.empty() ? "" : ",") + id;
      encoded += size;
    }
    if (!batch.empty()) out.push_back(std::move(batch));
    return out;
  }

  // Requests to members, each with its own parameters, in parallel; `done`
  // gets the answers in the order of `asks` (status 0: none), on the
  // client's thread.
  struct Ask {
    std::size_t member;  // index into the members given
    Params params;
  };
  using AllAnswered = std::function<void(std::vector<int>, std::vector<std::string>)>;
  void ask_each(const std::vector<MemberView>& members, std::vector<Ask> asks, const std::string& path,
                const std::string& authorization, AllAnswered done) {
    struct Each {
      std::mutex mutex;
      std::vector<int> status;
      std::vector<std::string> bodies;
      std::size_t left = 0;
    };
    auto then = std::make_shared<AllAnswered>(std::move(done));
    if (asks.empty()) return client_.post([then] { (*then)({}, {}); });
    auto state = std::make_shared<Each>();
    state->status.assign(asks.size(), 0);
    state->bodies.assign(asks.size(), {});
    state->left = asks.size();
    for (std::size_t e = 0; e < asks.size(); ++e) {
      const MemberView& m = members[asks[e].member];
      ask(m, m.node_id == config_.self_id, path, asks[e].params, authorization,
          [this, state, e, then](int status, std::string body, api::ApiResponse*) {
            std::unique_lock lock(state->mutex);
            state->status[e] = status;
            state->bodies[e] = std::move(body);
            if (--state->left != 0) return;
            lock.unlock();
            client_.post([state, then] { (*then)(std::move(state->status), std::move(state->bodies)); });
          });
    }
  }

  void complete(const std::shared_ptr<Gather>& gather, const std::shared_ptr<std::vector<MemberView>>& members,
                const MergeOptions& options, const Params& params, const std::string& path,
                const std::string& authorization, std::uint32_t partitions, const api::Respond& respond) {
    const bool cut_lists =
        options.kind == MergeKind::popular || options.kind == MergeKind::range || options.kind == MergeKind::realtime;
    std::vector<std::string> bodies;
    Coverage coverage = answered(*gather, *members, partitions, bodies);
    if (bodies.empty()) return respond(nothing_merged(coverage));
    auto merged = merge_answers(bodies, options);
    if (!merged) return respond(api::error_response(merged.error()));
    if (cut_lists && !merged->exact_top && options.asked_limit != SIZE_MAX) {
      // The candidates could not prove the top list: the members that
      // answered are asked once more for their whole lists (limit=all).
      Params whole = params;
      set_param(whole, "limit", "all");
      MergeOptions again = options;
      again.asked_limit = SIZE_MAX;
      std::vector<std::size_t> again_asked;
      for (std::size_t i = 0; i < members->size(); ++i)
        if (gather->status[i] == 200) again_asked.push_back(i);
      ask_round(gather, members, again_asked, path, whole, authorization,
                [this, gather, members, again, whole, path, authorization, partitions, respond] {
                  complete(gather, members, again, whole, path, authorization, partitions, respond);
                });
      return;
    }
    coverage.exact_top = merged->exact_top;
    api::ApiResponse r;
    r.body = with_coverage(merged->body, coverage);
    respond(std::move(r));
  }

  // The partitions that more than one of these members' published state
  // holds (its record's "owned", else what it consumes): after a partition
  // moved, its new owner may be current with it while the previous owner
  // still answers from a state that has it, until its own rebuild is done
  // (README, Cluster). From the member records, which are at most a
  // publication interval old.
  static std::vector<std::int32_t> overlapping(const std::vector<const MemberView*>& answered) {
    std::map<std::int32_t, int> holders;
    for (const MemberView* m : answered)
      for (const std::int32_t p : m->owned ? *m->owned : m->partitions) ++holders[p];
    std::vector<std::int32_t> out;
    for (const auto& [p, n] : holders)
      if (n > 1) out.push_back(p);
    return out;
  }

  // One page of GET /api/users for the whole cluster (README, Cluster,
  // Queries): the members sorted by node id, each one's users in its own
  // order (its scope=local pages), one member after another.
  struct Walk {
    std::vector<MemberView> members;  // by node_id
    std::size_t at = 0;               // the member asked next
    std::optional<std::string> member_cursor;  // its own cursor; nullopt: from its first user
    std::size_t limit = 100;
    Params params;  // the client's, without limit and cursor
    std::string path;
    std::string authorization;
    std::vector<json::Value> users;
    json::Value first;  // the first answer of the page: its other fields lead the page's
    bool complete = true;
    Coverage coverage;
    std::uint32_t partitions = 0;  // of the events topic; 0: unknown
    bool self_listed = false;      // this node has a member record
  };

  void page_users(api::ApiRequest request, Params params, api::Respond respond) {
    auto walk = std::make_shared<Walk>();
    // Checked here as one node checks it: the walk counts what is left.
    auto limit = api::parse_limit(params, walk->limit, config_.max_limit);
    if (!limit) return respond(api::error_response(limit.error()));
    walk->limit = *limit;
    auto walk_from = walk_cursor(params);
    if (!walk_from) return respond(api::error_response(walk_from.error()));
    const std::optional<UsersCursor> cursor = std::move(walk_from).value();
    std::erase_if(params, [](const auto& kv) { return kv.first == "limit" || kv.first == "cursor"; });
    const ClusterView view = view_();
    walk->members = walk_members(view, walk->self_listed);
    walk->partitions = view.partitions;
    // The walk's reach: every member is asked in turn, none is skipped (one
    // that fails fails the page), so `missing` stays empty and `current`
    // counts the partitions whose users the walk's members hold now.
    walk->coverage.partitions = view.partitions;
    walk->coverage.members = static_cast<std::uint32_t>(walk->members.size());
    for (const MemberView& m : walk->members) walk->coverage.current += m.covered();
    if (cursor) walk->at = walk_start(walk->members, *cursor, walk->member_cursor);
    walk->params = std::move(params);
    walk->path = request.path;
    walk->authorization = request.authorization;
    ask_next_member(walk, std::move(respond));
  }

  // The cluster cursor a walk's page was asked with; none: from the first
  // member. One the cluster did not give is a 400 naming `cursor`.
  static Result<std::optional<UsersCursor>> walk_cursor(const Params& params) {
    const std::string* c = find_param(params, "cursor");
    if (!c) return std::optional<UsersCursor>();
    auto decoded = decode_users_cursor(*c);
    if (!decoded) return std::move(decoded).error();
    return std::optional<UsersCursor>(std::move(decoded).value());
  }

  // The members a walk goes through (this node and the current ones), in
  // an order every node agrees on (by node id), so a cursor from one node
  // pages on any. self_listed: this node has a member record.
  std::vector<MemberView> walk_members(const ClusterView& view, bool& self_listed) const {
    std::vector<MemberView> members;
    self_listed = false;
    for (const MemberView& m : view.members) {
      if (m.node_id == config_.self_id) {
        self_listed = true;
        members.push_back(m);
      } else if (m.current && !m.advertise.empty()) {
        members.push_back(m);
      }
    }
    if (!self_listed) members.push_back(MemberView{config_.self_id, {}, {}, std::nullopt, {}, true});
    std::sort(members.begin(), members.end(),
              [](const MemberView& a, const MemberView& b) { return a.node_id < b.node_id; });
    return members;
  }

  // Where a cursor's walk goes on: its member, or for a member that has
  // left the next one by node id, from its start (what moved with its
  // partitions is listed by their new owner; README says what that costs).
  static std::size_t walk_start(const std::vector<MemberView>& members, const UsersCursor& cursor,
                                std::optional<std::string>& member_cursor) {
    const auto it = std::lower_bound(members.begin(), members.end(), cursor.node_id,
                                     [](const MemberView& m, const std::string& id) { return m.node_id < id; });
    if (it != members.end() && it->node_id == cursor.node_id) member_cursor = cursor.member_cursor;
    return static_cast<std::size_t>(it - members.begin());
  }

  // One page of GET /api/events for the whole cluster (README, Cluster,
  // Queries): the members' logs one after another by node id, each page
  // one member's page. This node's own page is streamed as one node
  // streams it; another member's is read whole (at most
  // export_relay_lines lines) and sent on.
  void page_events(api::ApiRequest request, Params params, api::Respond respond) {
    auto walk_from = walk_cursor(params);
    if (!walk_from) return respond(api::error_response(walk_from.error()));
    const std::optional<UsersCursor> cursor = std::move(walk_from).value();
    std::erase_if(params, [](const auto& kv) { return kv.first == "cursor"; });
    const ClusterView view = view_();
    bool self_listed = false;
    const std::vector<MemberView> members = walk_members(view, self_listed);
    std::optional<std::string> member_cursor;
    const std::size_t at = cursor ? walk_start(members, *cursor, member_cursor) : 0;
    std::uint32_t covered = 0;
    for (const MemberView& m : members) covered += m.covered();
    const std::string coverage = "cluster; partitions=" + std::to_string(covered) + "/" +
                                 std::to_string(view.partitions) + "; members=" + std::to_string(members.size());
    if (at >= members.size()) {
      // The cursor's member and every one after it have left: the walk is over.
      api::ApiResponse r;
      r.content_type = "application/x-ndjson";
      r.headers.emplace_back("X-Shoppulse-Coverage", coverage);
      return respond(std::move(r));
    }
    const MemberView& m = members[at];
    // The cluster's cursor of the page after this one: more of this member,
    // else the next member from its start, else none.
    const std::string node = m.node_id;
    std::optional<std::string> next_member;
    if (at + 1 < members.size()) next_member = members[at + 1].node_id;
    auto next_cursor = [node, next_member](const std::string& member_next) -> std::optional<std::string> {
      if (!member_next.empty()) return encode_users_cursor(UsersCursor{node, member_next});
      if (next_member) return encode_users_cursor(UsersCursor{*next_member, std::nullopt});
      return std::nullopt;
    };
    auto finish = [coverage, next_cursor](api::ApiResponse r) {
      std::string member_next;
      std::erase_if(r.headers, [&](const auto& h) {
        if (h.first != "X-Next-Cursor") return false;
        member_next = h.second;
        return true;
      });
      if (r.status == 200) {
        if (auto next = next_cursor(member_next)) r.headers.emplace_back("X-Next-Cursor", *next);
        r.headers.emplace_back("X-Shoppulse-Coverage", coverage);
      }
      return r;
    };
    if (member_cursor) params.emplace_back("cursor", *member_cursor);
    if (m.node_id == config_.self_id) {
      request.query = query_text(params);
      return local_.handle(std::move(request),
                           [finish, respond](api::ApiResponse r) { respond(finish(std::move(r))); });
    }
    // Another member's page is held whole here: at most export_relay_lines
    // lines (the page may hold fewer than limit, as any page may).
    // Only a limit of digits is cut; anything else the member refuses with
    // 400, as one node would.
    const std::string* l = find_param(params, "limit");
    const bool digits = l && !l->empty() && l->size() < 19 && l->find_first_not_of("0123456789") == std::string::npos;
    if (!l || (digits && std::stoull(*l) > config_.export_relay_lines))
      set_param(params, "limit", std::to_string(config_.export_relay_lines));
    params.emplace_back("scope", "local");
    // A page with selective filters reads up to api.export_max_page records
    // before its first line: the relay waits longer than a query does.
    const std::int64_t timeout = std::max(config_.timeout_ms, config_.export_relay_timeout_ms);
    client_.get(m.advertise, path_text(request.path) + "?" + query_text(params), request.authorization, timeout,
                [this, finish, respond, node, timeout](MemberClient::Answer a) {
                  if (a.status == 0)
                    return respond(member_failed(node, "events",
                                                 "did not answer within " + std::to_string(timeout) + " ms"));
                  if (a.status != 200 && a.status != 400)
                    return respond(member_failed(node, "events", "answered " + std::to_string(a.status)));
                  api::ApiResponse r;
                  r.status = a.status;
                  r.body = std::move(a.body);
                  if (!a.content_type.empty()) r.content_type = a.content_type;
                  if (!a.next_cursor.empty()) r.headers.emplace_back("X-Next-Cursor", a.next_cursor);
                  respond(finish(std::move(r)));
                });
  }

  // One page of GET /api/products for the whole cluster (README, Cluster,
  // Queries). The walk goes through the members by node id, a page from
  // one member's product list at a time; a product is listed by the first
  // member of the walk that knows it, with the counts of every member.
  // Round 1 asks the page's member for its page and the others for the
  // newest minute their windows end at (unless the client pinned `end`);
  // round 2 asks every member for the page's products (ids, with the end
  // pinned to the latest), which the merge adds.
  struct ProductsPage {
    std::vector<MemberView> members;  // by node id
    std::size_t at = 0;               // the member whose page this is
    Params params;                    // the client's, without cursor, limit, category
    std::optional<std::string> category;
    std::string path;
    std::string authorization;
    Coverage coverage;
    std::vector<bool> stale;       // by member: a previous owner of a moved partition (its counts are left out)
    std::vector<std::string> ids;  // the page member's products, in its order
    std::optional<std::string> next;  // the cluster's cursor after this page
    std::string end;                  // the window's end every member counts to ("" when no member has one)
  };

  void page_products(api::ApiRequest request, Params params, api::Respond respond) {
    auto page = std::make_shared<ProductsPage>();
    auto walk_from = walk_cursor(params);
    if (!walk_from) return respond(api::error_response(walk_from.error()));
    const std::optional<UsersCursor> cursor = std::move(walk_from).value();
    if (find_param(params, "ids"))
      return respond(api::error_response(
          make_error(Errc::invalid_argument, "only with scope=local&limit=all (a cluster's walk asks it)", "ids")));
    if (const std::string* c = find_param(params, "category"); c && !c->empty()) page->category = *c;
    Params first = params;  // the page member's request: the client's, without category
    std::erase_if(first, [](const auto& kv) { return kv.first == "cursor" || kv.first == "category"; });
    std::erase_if(params, [](const auto& kv) {
      return kv.first == "cursor" || kv.first == "limit" || kv.first == "category" || kv.first == "search";
    });
    const ClusterView view = view_();
    bool self_listed = false;
    page->members = walk_members(view, self_listed);
    std::optional<std::string> member_cursor;
    page->at = cursor ? walk_start(page->members, *cursor, member_cursor) : 0;
    page->coverage.partitions = view.partitions;
    page->coverage.members = static_cast<std::uint32_t>(page->members.size());
    // As in a merged answer, a previous owner of a moved partition still
    // lists its products, but its counts are left out (README, `coverage`).
    std::vector<const MemberView*> all;
    for (const MemberView& m : page->members) all.push_back(&m);
    const std::vector<const MemberView*> stale = previous_owners(all);
    page->stale.assign(page->members.size(), false);
    for (std::size_t i = 0; i < page->members.size(); ++i) {
      if (std::find(stale.begin(), stale.end(), &page->members[i]) != stale.end()) {
        page->stale[i] = true;
        page->coverage.left_out.push_back(page->members[i].node_id);
      } else {
        page->coverage.current += page->members[i].covered();
      }
    }
    page->params = std::move(params);
    page->path = request.path;
    page->authorization = request.authorization;
    if (page->at >= page->members.size()) return finish_products(page, {}, respond);
    if (member_cursor) first.emplace_back("cursor", *member_cursor);
    std::vector<Ask> asks{{page->at, first}};
    const bool pinned = find_param(page->params, "end") != nullptr;
    if (!pinned)
      for (std::size_t m = 0; m < page->members.size(); ++m)
        if (m != page->at) {
          Params ends = page->params;
          set_param(ends, "limit", "all");
          set_param(ends, "ids", "");
          asks.push_back({m, std::move(ends)});
        }
    std::vector<std::size_t> asked;
    for (const Ask& a : asks) asked.push_back(a.member);
    ask_each(page->members, std::move(asks), page->path, page->authorization,
             [this, page, asked, respond](std::vector<int> status, std::vector<std::string> bodies) {
               if (status[0] == 400) {
                 api::ApiResponse r;
                 r.status = 400;
                 r.body = std::move(bodies[0]);
                 return respond(std::move(r));
               }
               if (auto failed = first_failure(*page, asked, status)) return respond(std::move(*failed));
               auto parsed = json::parse(bodies[0]);
               const json::Value* list = parsed ? parsed->find("products") : nullptr;
               const json::Value* next = list ? parsed->find("next_cursor") : nullptr;
               if (!list || list->kind != json::Value::array || !next ||
                   (next->kind != json::Value::string && next->kind != json::Value::null))
                 return respond(member_failed(page->members[page->at].node_id, "products",
                                              "answered something other than a page of products"));
               for (const json::Value& p : list->a)
                 if (const json::Value* id = p.find("product_id"); id && id->kind == json::Value::string)
                   page->ids.push_back(id->s);
               const MemberView& m = page->members[page->at];
               if (next->kind == json::Value::string)
                 page->next = encode_users_cursor(UsersCursor{m.node_id, next->s});
               else if (page->at + 1 < page->members.size())
                 page->next = encode_users_cursor(UsersCursor{page->members[page->at + 1].node_id, std::nullopt});
               // The latest end of the members' windows, unless pinned.
               if (const std::string* e = find_param(page->params, "end")) page->end = *e;
               else
                 for (std::size_t i = 0; i < bodies.size(); ++i)
                   if (auto e = top_string(bodies[i], "end"); e && *e > page->end) page->end = *e;
               count_products(page, respond);
             });
  }

  // The page's products counted by every member (round 2).
  void count_products(const std::shared_ptr<ProductsPage>& page, const api::Respond& respond) {
    std::vector<Ask> asks;
    Params base = page->params;
    set_param(base, "limit", "all");
    if (!page->end.empty()) set_param(base, "end", page->end);
    std::vector<std::string> batches = id_batches(page->ids);
    if (batches.empty()) batches.emplace_back();  // also with no ids: the answer's window and sequences
    for (std::size_t m = 0; m < page->members.size(); ++m)
      for (const std::string& ids : batches) {
        Params p = base;
        set_param(p, "ids", ids);
        asks.push_back({m, std::move(p)});
      }
    std::vector<std::size_t> asked;
    for (const Ask& a : asks) asked.push_back(a.member);
    ask_each(page->members, std::move(asks), page->path, page->authorization,
             [this, page, asked, respond](std::vector<int> status, std::vector<std::string> bodies) {
               if (auto failed = first_failure(*page, asked, status)) return respond(std::move(*failed));
               std::vector<std::pair<std::size_t, json::Value>> answers;
               for (std::size_t i = 0; i < bodies.size(); ++i) {
                 auto v = json::parse(bodies[i]);
                 if (!v || v->kind != json::Value::object)
                   return respond(member_failed(page->members[asked[i]].node_id, "products",
                                                "answered something other than a list of products"));
                 answers.emplace_back(asked[i], std::move(v).value());
               }
               finish_products(page, std::move(answers), respond);
             });
  }

  // A member of the walk that did not answer 200: the page is refused
  // rather than answered without it.
  std::optional<api::ApiResponse> first_failure(const ProductsPage& page, const std::vector<std::size_t>& asked,
                                                const std::vector<int>& status) const {
    for (std::size_t i = 0; i < status.size(); ++i) {
      if (status[i] == 200) continue;
      const std::string& node = page.members[asked[i]].node_id;
      if (status[i] == 0)
        return member_failed(node, "products", "did not answer within " + std::to_string(config_.timeout_ms) + " ms");
      return member_failed(node, "products", "answered " + std::to_string(status[i]));
    }
    return std::nullopt;
  }

  // The page as one node shapes it: products (each with the counts of every
  // member; a product a later member of the walk knows is listed there, not
  // here, so one known when the walk starts is never missed, while one a
  // member learns during the walk may be listed twice; the category of the
  // member that saw it last), start, end, next_cursor, then complete (every
  // member's), the sequences of the page's member, and the walk's coverage.
  static void finish_products(const std::shared_ptr<ProductsPage>& page,
                              std::vector<std::pair<std::size_t, json::Value>> answers,
                              const api::Respond& respond) {
    struct Summed {
      std::vector<std::pair<std::string, std::int64_t>> events;  // by type, in the members' order
      std::optional<std::string> category;
      std::int64_t category_minute = -1;
      bool later = false;  // a member after the page's in the walk knows it
    };
    std::map<std::string, Summed> sums;
    for (const std::string& id : page->ids) sums.emplace(id, Summed{});
    bool complete = true;
    const json::Value* lead = nullptr;
    for (const auto& [member, v] : answers) {
      if (member == page->at && !lead) lead = &v;
      const bool counted = !page->stale[member];
      if (const json::Value* c = v.find("complete"); counted && c && c->kind == json::Value::boolean)
        complete = complete && c->b;
      const json::Value* list = v.find("products");
      if (!list || list->kind != json::Value::array) continue;
      for (const json::Value& p : list->a) {
        const json::Value* id = p.find("product_id");
        if (!id || id->kind != json::Value::string) continue;
        auto it = sums.find(id->s);
        if (it == sums.end()) continue;
        Summed& s = it->second;
        if (member > page->at) s.later = true;
        if (const json::Value* ev = p.find("events"); ev && ev->kind == json::Value::object)
          for (const auto& [type, n] : ev->o) {
            auto at = std::find_if(s.events.begin(), s.events.end(), [&](const auto& e) { return e.first == type; });
            if (at == s.events.end()) at = s.events.insert(s.events.end(), {type, 0});
            if (counted) at->second += n.kind == json::Value::integer ? n.i : 0;
          }
        if (!counted) continue;
        const json::Value* minute = p.find("category_minute");
        const json::Value* category = p.find("category_id");
        if (minute && minute->kind == json::Value::integer && minute->i > s.category_minute && category &&
            category->kind == json::Value::string) {
          s.category = category->s;
          s.category_minute = minute->i;
        }
      }
    }
    json::Value out;
    out.kind = json::Value::object;
    json::Value list;
    list.kind = json::Value::array;
    for (const std::string& id : page->ids) {
      const Summed& s = sums.at(id);
      if (s.later) continue;
      if (page->category && s.category != *page->category) continue;
      json::Value p;
      p.kind = json::Value::object;
      p.o.emplace_back("product_id", json::Value::of_string(id));
      p.o.emplace_back("category_id", s.category ? json::Value::of_string(*s.category) : json::Value{});
      json::Value events;
      events.kind = json::Value::object;
      std::int64_t total = 0;
      for (const auto& [type, n] : s.events) {
        events.o.emplace_back(type, json::Value::of_int(n));
        total += n;
      }
      p.o.emplace_back("events", std::move(events));
      p.o.emplace_back("interactions", json::Value::of_int(total));
      list.a.push_back(std::move(p));
    }
    out.o.emplace_back("products", std::move(list));
    const auto copy = [&](std::string_view key) {
      const json::Value* v = lead ? lead->find(key) : nullptr;
      out.o.emplace_back(std::string(key), v ? *v : json::Value{});
    };
    copy("start");
    copy("end");
    out.o.emplace_back("next_cursor", page->next ? json::Value::of_string(*page->next) : json::Value{});
    out.o.emplace_back("complete", json::Value::of_bool(complete));
    copy("applied_sequence");
    copy("logged_sequence");
    api::ApiResponse r;
    r.body = with_coverage(json::serialize(out), page->coverage);
    if (page->next) r.headers.emplace_back("X-Next-Cursor", *page->next);
    respond(std::move(r));
  }

  void ask_next_member(const std::shared_ptr<Walk>& walk, api::Respond respond) {
    if (walk->at >= walk->members.size()) return finish_page(*walk, std::nullopt, respond);
    const MemberView& m = walk->members[walk->at];
    Params asked = walk->params;
    asked.emplace_back("limit", std::to_string(walk->limit - walk->users.size()));
    if (walk->member_cursor) asked.emplace_back("cursor", *walk->member_cursor);
    ask(m, m.node_id == config_.self_id, walk->path, asked, walk->authorization,
        [this, walk, respond](int status, std::string body, api::ApiResponse*) {
          // On the client's thread: this node's own page comes on the
          // engine's, which must not parse pages nor start the next ask.
          client_.post([this, walk, respond, status, body = std::move(body)]() mutable {
            take_member_page(walk, status, std::move(body), respond);
          });
        });
  }

  // A member's page could not be had: the page is refused rather than
  // answered without that member's users.
  api::ApiResponse member_failed(const std::string& node, const std::string& listed, const std::string& what) const {
    return api::error_response(make_error(
        Errc::unavailable, "node " + node + ", whose " + listed + " this page lists, " + what + "; ask again shortly"));
  }

  // Whether the walk lists a user a member answered: only when the member
  // consumes the user's partition. A node's dictionary keeps the users of
  // partitions it has lost (its log keeps their events), so after a
  // rebalance the old owner still lists them, with what its rebuilt state
  // holds of them (nothing); their owner lists them once. A node without a
  // record yet (its own part, before it publishes one) is taken as it is.
  bool lists(const Walk& walk, const MemberView& m, const json::Value& user) const {
    if (walk.partitions == 0 || (m.node_id == config_.self_id && !walk.self_listed)) return true;
    const json::Value* id = user.find("user_id");
    if (!id || id->kind != json::Value::string) return true;
    const auto p = static_cast<std::int32_t>(key_partition(id->s, walk.partitions));
    return std::find(m.partitions.begin(), m.partitions.end(), p) != m.partitions.end();
  }

  void take_member_page(const std::shared_ptr<Walk>& walk, int status, std::string body, const api::Respond& respond) {
    const MemberView& m = walk->members[walk->at];
    if (status == 400) {
      // The member refuses the request itself (a search or parameter it does
      // not take, a member cursor it did not give): as one node answers it.
      api::ApiResponse r;
      r.status = 400;
      r.body = std::move(body);
      return respond(std::move(r));
    }
    if (status == 0)
      return respond(member_failed(m.node_id, "users", "did not answer within " + std::to_string(config_.timeout_ms) + " ms"));
    if (status != 200) return respond(member_failed(m.node_id, "users", "answered " + std::to_string(status)));
    auto parsed = json::parse(body);
    json::Value* users = parsed && parsed->kind == json::Value::object ? parsed->find("users") : nullptr;
    const json::Value* next = users ? parsed->find("next_cursor") : nullptr;
    if (!users || users->kind != json::Value::array || !next ||
        (next->kind != json::Value::string && next->kind != json::Value::null))
      return respond(member_failed(m.node_id, "users", "answered something other than a page of users"));
    for (json::Value& u : users->a)
      if (lists(*walk, m, u)) walk->users.push_back(std::move(u));
    if (const json::Value* c = parsed->find("complete"); c && c->kind == json::Value::boolean)
      walk->complete = walk->complete && c->b;
    std::optional<std::string> member_next;
    if (next->kind == json::Value::string) member_next = next->s;
    if (walk->first.kind == json::Value::null) walk->first = std::move(parsed).value();
    // More of this member's users (a full page, or a search that stopped
    // at its scan limit): the next page starts there.
    if (member_next) return finish_page(*walk, UsersCursor{m.node_id, std::move(member_next)}, respond);
    ++walk->at;
    walk->member_cursor.reset();
    if (walk->users.size() >= walk->limit) {
      // Full, and this member's last: the next page starts at the next member.
      std::optional<UsersCursor> after;
      if (walk->at < walk->members.size()) after = UsersCursor{walk->members[walk->at].node_id, std::nullopt};
      return finish_page(*walk, std::move(after), respond);
    }
    ask_next_member(walk, respond);
  }

  // The page as one node shapes it: users, next_cursor, then the first
  // answer's other fields (complete only when every member's page was),
  // and the walk's coverage.
  static void finish_page(Walk& walk, const std::optional<UsersCursor>& next, const api::Respond& respond) {
    json::Value out;
    out.kind = json::Value::object;
    json::Value list;
    list.kind = json::Value::array;
    list.a = std::move(walk.users);
    // Amounts as one node writes them (two decimals).
    for (json::Value& u : list.a)
      if (json::Value* spend = u.find("total_spend"))
        if (spend->kind == json::Value::number || spend->kind == json::Value::integer)
          *spend = json::Value::of_money(spend->kind == json::Value::integer ? spend->i * 100
                                                                              : std::llround(spend->d * 100.0));
    out.o.emplace_back("users", std::move(list));
    std::optional<std::string> cursor;
    if (next) cursor = encode_users_cursor(*next);
    out.o.emplace_back("next_cursor", cursor ? json::Value::of_string(*cursor) : json::Value{});
    for (auto& [k, v] : walk.first.o) {
      if (k == "users" || k == "next_cursor" || k == "coverage") continue;
      if (k == "complete")
        out.o.emplace_back(k, json::Value::of_bool(walk.complete));
      else
        out.o.emplace_back(k, std::move(v));
    }
    api::ApiResponse r;
    r.body = with_coverage(json::serialize(out), walk.coverage);
    if (cursor) r.headers.emplace_back("X-Next-Cursor", *cursor);
    respond(std::move(r));
  }

  void route_to_owner(api::ApiRequest request, api::Respond respond) {
    const ClusterView view = view_();
    const auto segs = api::split_path(request.path);
    const std::string& user = segs.back();
    if (view.partitions == 0) return local_.handle(std::move(request), std::move(respond));
    const auto p = static_cast<std::int32_t>(key_partition(user, view.partitions));
    const MemberView* owner = view.owner(p);
    if (!owner || owner->node_id == config_.self_id || owner->advertise.empty())
      return local_.handle(std::move(request), std::move(respond));
    Params params = api::parse_query(request.query);
    params.emplace_back("scope", "local");
    const std::string node = owner->node_id;
    const std::int64_t timeout = config_.timeout_ms;
    client_.get(owner->advertise, path_text(request.path) + "?" + query_text(params), request.authorization,
                config_.timeout_ms, [respond, node, p, timeout](MemberClient::Answer a) {
                  if (a.status == 0) {
                    api::ApiResponse r = api::error_response(make_error(
                        Errc::unavailable, "node " + node + ", which owns partition " + std::to_string(p) +
                                               " of this user, did not answer within " + std::to_string(timeout) +
                                               " ms: " + a.error));
                    return respond(std::move(r));
                  }
                  api::ApiResponse r;
                  r.status = a.status;
                  r.body = std::move(a.body);
                  if (!a.content_type.empty()) r.content_type = a.content_type;
                  respond(std::move(r));
                });
  }

  api::Handler& local_;
  std::function<ClusterView()> view_;
  MemberClient& client_;
  QueryConfig config_;
};

}  // namespace

RouteKind route_kind(std::string_view method, std::string_view path) {
  if (method != "GET" && method != "HEAD") return RouteKind::not_a_query;
  if (merge_kind(path)) return RouteKind::merged;
  const auto s = api::split_path(path);
  if (matches(s, {"api", "analytics", "user", "{}"}) || matches(s, {"api", "products", "recommendations", "user", "{}"}))
    return RouteKind::per_user;
  if (matches(s, {"api", "users"})) return RouteKind::paged;
  if (matches(s, {"api", "events"})) return RouteKind::exported;
  if (matches(s, {"api", "products"})) return RouteKind::catalogue;
  return RouteKind::not_a_query;
}

std::string encode_users_cursor(const UsersCursor& cursor) {
  // The member's own cursor after a dot; none (no dot) for its start.
  std::string out = base64url(cursor.node_id);
  if (cursor.member_cursor) out += "." + base64url(*cursor.member_cursor);
  return out;
}

Result<UsersCursor> decode_users_cursor(std::string_view text) {
  const auto refuse = [] {
    return make_error(Errc::invalid_argument, "not a cursor this endpoint gave (next_cursor)", "cursor");
  };
  if (text.size() > 4096) return refuse();
  const std::size_t dot = text.find('.');
  auto node = unbase64url(text.substr(0, dot));
  if (!node || node->empty()) return refuse();
  UsersCursor cursor{std::move(*node), std::nullopt};
  if (dot != std::string_view::npos) {
    // A second dot is not base64url: refused here.
    auto member = unbase64url(text.substr(dot + 1));
    if (!member) return refuse();
    cursor.member_cursor = std::move(*member);
  }
  return cursor;
}

std::unique_ptr<api::Handler> make_cluster_query_handler(api::Handler& local, std::function<ClusterView()> view,
                                                         MemberClient& client, QueryConfig config) {
  return std::make_unique<QueryHandler>(local, std::move(view), client, std::move(config));
}

}  // namespace shoppulse::cluster
