#pragma once
// The exact merge of the partial answers cluster members give for their own
// partitions (scope=local) into the answer one node holding every partition
// would give (see README, Cluster, Queries). Pure functions over JSON text;
// no transport.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::cluster {

// One entry of a ranked list (top products, top categories): its id and count.
struct RankedEntry {
  std::string id;
  std::int64_t count = 0;
  friend bool operator==(const RankedEntry&, const RankedEntry&) = default;
};

// A member's top list: its entries, best first, and whether it is the
// member's whole list (fewer entries came back than were asked for).
struct RankedPart {
  std::vector<RankedEntry> entries;
  bool whole = false;
};

struct RankedMerge {
  std::vector<RankedEntry> top;  // by count descending, then id ascending
  // Every entry of `top` has its exact total, and nothing left out can
  // reach the last one's count: the list equals the top n of the union.
  bool exact = false;
};

// The top n of the union of the members' lists. Counts of one id add up.
// A member whose list is not whole may hold an id it did not return with at
// most its smallest returned count; the merge is exact when those bounds
// cannot change the top n (the threshold test of Fagin's TA / TPUT).
RankedMerge merge_ranked(const std::vector<RankedPart>& parts, std::size_t n);

// How a route's partial answers combine.
enum class MergeKind {
  realtime,  // GET /api/analytics/real-time
  snapshot,  // GET /api/analytics/snapshot (the WebSocket's message): as real-time, top lists from top_n only, /api/analytics/snapshot (each window as real-time)
  trends,    // GET /api/analytics/trends
  popular,   // GET /api/products/popular, /api/products/categories/{id}/popular
  range,     // GET /api/analytics/range
  funnel,    // GET /api/analytics/funnel
  cohorts,   // GET /api/analytics/cohorts
  propensity,  // GET /api/analytics/propensity
  trending,    // GET /api/products/trending: the members' candidates (scope=local&limit=all) added and ranked
  similar,     // GET /api/products/{id}/similar: the members' co-occurrence rows (scope=local&limit=all) added and scored
};

struct MergeOptions {
  MergeKind kind = MergeKind::realtime;
  // Top lists: the entries the client asked for, and the entries each
  // member was asked for (its candidates; a shorter list is the member's
  // whole list). Real-time: both the engine's windows.top_n.
  std::size_t limit = 10;
  std::size_t asked_limit = 10;
  // Trending: the category the client asked for (its id as text); empty: all.
  std::string category;
};

struct Merged {
  std::string body;         // the merged answer, shaped as one node's
  bool exact_top = true;    // every top list merged provably exact (merge_ranked)
};

// Merges the members' 200 bodies (JSON objects of the same route and
// parameters). Counts, revenue and series add; distinct users add (a user's
// events are on one partition); rates and averages are computed again from
// the sums; funnel steps add and their conversions are computed again;
// ranked lists merge by id; a trend's anomalies and forecast are fitted again
// over the merged series, as one node fits them. invalid_argument when a
// body is not JSON.
// Similar items: what the members' rows (scope=local&limit=all answers of
// /api/products/{id}/similar, one per member) say before the merge scores
// them. missing[i]: the neighbours of any row whose engagement member i did
// not give, in neither its row nor its "engagements" (what the merge must
// ask it for with `of`); known: some member knows the product.
struct SimilarRows {
  bool known = false;
  std::vector<std::vector<std::string>> missing;
};
SimilarRows similar_rows(const std::vector<std::string>& bodies);

Result<Merged> merge_answers(const std::vector<std::string>& bodies, const MergeOptions& options);

// What an answer says about the partitions it covers.
struct Coverage {
  std::uint32_t partitions = 0;           // of the events topic
  std::uint32_t current = 0;              // partitions of the members that answered
  std::uint32_t members = 0;              // current members asked
  std::vector<std::string> missing;       // node ids that did not answer in time
  std::string scope = "cluster";          // always "cluster": a scope=local answer carries no coverage
  bool exact_top = true;                  // popular: the merged top list is provably exact
  // Partitions whose figures two merged members' published state both hold
  // while both consume them by their records (a record a publication
  // interval old, so neither can be told to be the previous owner): counted
  // twice in this answer. Written only when not empty.
  std::vector<std::int32_t> overlap;
  // Members that answered but were left out of the merge: their published
  // state still holds a partition that moved to another answering member.
  // Written only when not empty.
  std::vector<std::string> left_out;
};

// The body with "coverage" added as the last field of its top-level object
// (the body unchanged when it is not a JSON object).
std::string with_coverage(std::string_view body, const Coverage& coverage);

}  // namespace shoppulse::cluster
