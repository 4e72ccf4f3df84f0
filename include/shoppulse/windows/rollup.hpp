#pragma once
// Per-minute rollups: the history behind trends and past "popular" queries.
// The engine closes a minute when the watermark passes its end and hands the
// rollup to a RollupStore; a late event for a minute still in memory re-closes it.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse {

// Bit per EventType in a user's mask.
constexpr std::uint8_t type_bit(EventType t) noexcept { return std::uint8_t(1u << static_cast<unsigned>(t)); }

struct MinuteRollup {
  std::int64_t minute = 0;  // floor(time_ms / 60000)
  // Every event of the minute with a log sequence up to this one is counted
  // here (the engine's applied sequence when the minute was written to the
  // store); 0: not known (in memory, or written before this was recorded).
  Sequence through = 0;
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  // Distinct users active this minute with the types they did; sorted by user.
  std::vector<std::pair<Id, std::uint8_t>> users;
  // Set on a minute the engine re-closes after a late event once it no
  // longer holds the minute's own users: `users` then holds only the users of
  // the events since its previous rollup, and merge_partial_users() joins
  // them with that rollup before it is stored. Never encoded.
  bool users_partial = false;
  struct ProductCount {
    Id product = kNoId;
    Id category = kNoId;  // the product's category (as last seen)
    EventType type = EventType::view;
    std::uint32_t count = 0;
    bool operator==(const ProductCount&) const = default;
  };
  std::vector<ProductCount> products;  // sorted by (product, type)
  struct CategoryCount {
    Id category = kNoId;
    EventType type = EventType::view;
    std::uint32_t count = 0;
    bool operator==(const CategoryCount&) const = default;
  };
  std::vector<CategoryCount> categories;  // sorted by (category, type)
  std::vector<RankedId> devices;          // sorted by id
  std::vector<RankedId> locations;        // sorted by id
};

std::string encode_rollup(const MinuteRollup& rollup);
// Adds the users of `earlier` (the minute's previous rollup) to those of a
// users_partial rollup of the same minute, OR-ing the type masks, and clears
// the flag. Everything else of `partial` is complete and stays.
void merge_partial_users(MinuteRollup& partial, const MinuteRollup& earlier);
// With `with_users` false the users are read and checked but not kept
// (`users` is empty): for the routes that read only products and counts,
// a minute of a busy shop is mostly its users.
Result<MinuteRollup> decode_rollup(std::int64_t minute, std::string_view bytes, bool with_users = true);

// One point of a trend series over [start, start+step).
struct TrendPoint {
  TimestampMs start_ms = 0;
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  std::uint64_t unique_users = 0;  // exact distinct over the step
  std::uint64_t viewers = 0;       // distinct users with a view
  std::uint64_t purchasers = 0;    // distinct users with a purchase
  double conversion_rate() const noexcept { return viewers ? double(purchasers) / double(viewers) : 0.0; }
  bool operator==(const TrendPoint&) const = default;
};

// Aggregates minute rollups (any order, any gaps) into points of
// step_minutes covering [from_minute, to_minute). Every step gets a point,
// empty or not.
std::vector<TrendPoint> aggregate_trend(std::span<const MinuteRollup> minutes, std::int64_t from_minute,
                                        std::int64_t to_minute, std::int64_t step_minutes);

// The same, one minute at a time, for minutes handed over in ascending
// order (fold_minutes): it holds the points and the users of the step being
// filled only, merged into distinct users whenever they double, so a day of
// minutes in 1 h steps costs at most about twice one hour's distinct users,
// not every minute's users at once. Threading: one caller at a time.
class TrendFold {
 public:
  TrendFold(std::int64_t from_minute, std::int64_t to_minute, std::int64_t step_minutes);
  // Precondition: m.minute is not older than the minutes added before it
  // (a minute outside [from, to) is ignored).
  void add(const MinuteRollup& m);
  // The points; the fold is empty afterwards.
  std::vector<TrendPoint> finish();
  // Bytes held for the open step's users (their vector's capacity).
  std::size_t user_bytes() const noexcept { return users_.capacity() * sizeof(users_[0]); }

 private:
  // Counts the open step's distinct users into its point and forgets them.
  void close_step();
  // Sorts the open step's users and merges each user's masks into one.
  void merge_users();

  std::int64_t from_minute_, to_minute_, step_minutes_;
  std::vector<TrendPoint> points_;
  std::int64_t open_step_ = -1;                        // point the users belong to; -1: none
  std::vector<std::pair<Id, std::uint8_t>> users_;     // the open step's, merged up to merged_
  std::size_t merged_ = 0;                             // users_ size after the last merge
};

struct ProductRank {
  Id product = kNoId;
  Id category = kNoId;
  std::uint64_t interactions = 0;
  bool operator==(const ProductRank&) const = default;
};

// Interactions per product added up one minute at a time, so the minutes of
// a window need not be held together: a day of minutes costs one minute of
// memory plus a total per product. type: only that event type (nullopt =
// all types); category: only products of that category. add() the minutes
// in ascending order (a product's category is the one of its latest minute).
class ProductTotals {
 public:
  ProductTotals(std::optional<EventType> type, std::optional<Id> category);
  ~ProductTotals();
  ProductTotals(ProductTotals&&) noexcept;
  ProductTotals& operator=(ProductTotals&&) noexcept;
  void add(const MinuteRollup& minute);
  // The `limit` products with most interactions; ties: smaller id first.
  std::vector<ProductRank> top(std::size_t limit) const;

 private:
  // The totals by product: a FlatMap (an open-addressing table, no node
  // per product), defined where it is used.
  struct Table;

  std::optional<EventType> type_;
  std::optional<Id> category_;
  std::unique_ptr<Table> table_;
};

// Top products over the given minutes (ProductTotals over all of them).
std::vector<ProductRank> top_products(std::span<const MinuteRollup> minutes, std::optional<EventType> type,
                                      std::optional<Id> category, std::size_t limit);

}  // namespace shoppulse
