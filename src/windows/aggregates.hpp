#pragma once
// The two aggregates the window engine is built from.
//
// Bucket: everything about the events of one time bucket (1 s or 60 s). A
// coarse bucket is exactly the MinuteRollup of its minute. Lifecycle: lives in
// a tier's ring slot and is reset when the slot is reused for a newer bucket.
// The sliding windows built from buckets are in tier.hpp.
//
// Threading: owned by the engine thread.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "packed_users.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/windows/rollup.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::windows {

inline constexpr std::int64_t kNoBucket = INT64_MIN;

// The top `limit` ids of a count map: larger count first, ties by smaller id.
std::vector<RankedId> ranked(const FlatMap<std::uint64_t>& map, std::size_t limit);

// The event type behind each funnel step, in FunnelStep order.
inline constexpr std::array<EventType, kFunnelSteps> kFunnelTypes{EventType::view, EventType::click,
                                                                  EventType::add_to_cart, EventType::purchase};

using TypeCounts = std::array<std::uint32_t, kEventTypeCount>;

struct ProductCell {
  Id category = kNoId;  // last non-empty category seen with the product in this bucket
  TypeCounts counts{};
};

struct Bucket {
  std::int64_t index = kNoBucket;  // bucket number (time_ms / width) held by this slot
  bool pending = false;            // closed minute changed since take_closed_minutes()
  // The coarse tier dropped the minute's own users (tier.hpp): `users` holds
  // only those of events applied since, and its rollup says users_partial.
  bool users_trimmed = false;
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  // user -> type_bit mask; empty while the users are packed (below). Read
  // them through for_each_user / user_count / has_users.
  FlatMap<std::uint8_t> users;
  // A closed second's users, packed (packed_users.hpp, pack_users()); the
  // map is then empty and released. add() unpacks them first.
  PackedUsers packed_users;
  FlatMap<ProductCell> products;
  FlatMap<TypeCounts> categories;
  FlatMap<std::uint32_t> devices;
  FlatMap<std::uint32_t> locations;
  // A closed bucket (a settled minute; a second once the end passed it)
  // keeps its products, categories, devices and locations as an encoded
  // rollup without users (encode_rollup, about 4 bytes a (product, type)
  // instead of ~65 in the maps); the maps are then empty. Its users stay in
  // their map; with none (a settled minute's), this is also what a
  // checkpoint writes for it. Any add() thaws it first. Empty: not frozen.
  std::string frozen;
  // A fine bucket out of every current window: its details are gone and
  // add() no longer keeps them (nothing reads them again).
  bool details_dropped = false;
  // A settled minute whose details live only in the rollup store (tier.hpp,
  // "Spilled minutes"): maps and `frozen` are empty; the tier reads the
  // store's copy back when it needs them.
  bool spilled = false;
  // Nonzero: the rollup store holds this minute exactly as it is, written
  // when the engine had applied every event through this sequence. add()
  // clears it (the copy is then behind). `through_known`: the value is the
  // store copy's own (false after a restore, until the copy is read).
  Sequence stored_through = 0;
  bool through_known = false;

  bool held() const noexcept { return index != kNoBucket; }
  // f(user, mask) for each of the bucket's users: any order from the map,
  // ascending ids when packed.
  template <class F>
  void for_each_user(F&& f) const {
    if (!packed_users.empty()) packed_users.for_each(f);
    else users.for_each(f);
  }
  std::size_t user_count() const noexcept { return packed_users.empty() ? users.size() : packed_users.size(); }
  // A cache hint for what moving the bucket between windows reads: its
  // users and its details (maps or frozen bytes).
  void prefetch_contents() const noexcept {
    packed_users.prefetch();
    users.prefetch_slots();
    products.prefetch_slots();
    categories.prefetch_slots(2);
    if (!frozen.empty()) prefetch_lines(frozen.data(), frozen.size());
  }
  bool has_users() const noexcept { return user_count() != 0; }
  // A closed second packs its users when there are enough of them for the
  // packing to pay for its sort (a map of fewer is at most 640 bytes).
  bool worth_packing() const noexcept { return users.size() >= 64; }
  // Packs the users and releases the map.
  void pack_users(PackedUsers::Scratch& scratch);
  // Back to a map (an event for the bucket).
  void unpack_users();
  bool is_frozen() const noexcept { return !frozen.empty(); }
  // Moves the details into `frozen` (nothing once they are dropped).
  void freeze();
  // A closed second is frozen only when its maps are large enough for the
  // encoding to pay for the encode and the decodes as it leaves each window
  // (on a slow event clock a second holds a handful of events, and freezing
  // them cost a third of the engine's rate while saving nothing).
  bool worth_freezing() const noexcept { return products.size() >= 64; }
  // Back to maps (a late event for the minute).
  void thaw();
  // Drops the details for good, their copy being in the rollup store
  // (stored_through != 0); sets spilled.
  void spill() noexcept;
  // Back to maps from the store's copy of a spilled minute.
  void unspill(const MinuteRollup& stored);
  // Adds an event's counts, but not its details nor its user: a spilled
  // minute's store copy (the windows' source) already has them (tier.hpp).
  void add_counts_only(const Event& e) noexcept;
  // Forgets the details for good (sets details_dropped).
  void drop_details() noexcept;
  // The details, from the maps or decoded once from `frozen`: each product
  // with its category and count over all types (ascending ids when frozen,
  // any order otherwise), each category's count, each device's and
  // location's count. Empty for a spilled bucket: its details are in the
  // rollup store (Tier::load_stored).
  struct Details {
    std::vector<std::pair<Id, std::uint64_t>> products, categories, devices, locations;
  };
  void details(Details& out) const;
  // The same from a rollup (a frozen bucket's, or a spilled one's store copy).
  static void details_of(const MinuteRollup& r, Details& out);

 private:
  // Adds the rollup's products, categories, devices and locations to the maps.
  void set_details(const MinuteRollup& r);
  // Empties the details' maps, releasing their memory.
  void clear_details() noexcept;
  // The rollup, with or without the users (freeze() keeps them apart).
  MinuteRollup to_rollup(std::int64_t minute, bool with_users) const;

 public:
  void reset(std::int64_t new_index) noexcept;
  // Adds one event and returns the user's type mask before it.
  std::uint8_t add(const Event& e);
  MinuteRollup to_rollup(std::int64_t minute) const { return to_rollup(minute, true); }
  void assign(const MinuteRollup& rollup);
  // Heap bytes held by the bucket's maps (their capacity, not their size).
  std::size_t memory_bytes() const noexcept;
};

}  // namespace shoppulse::windows
