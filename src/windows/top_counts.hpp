#pragma once
// Per-id interaction counts of a tier's current windows (a column per
// span), and each column's top ids without a scan of every id.
//
// Role: every snapshot ranks each window's products and categories. On a
// catalogue of millions a window holds hundreds of thousands of ids, and a
// scan of them all per span per publish came to most of the snapshot's cost
// (the amplified Taobao, bench/README.md). Each column keeps a threshold and
// the list of ids whose count has reached it since it was set; a flag bit
// in the count marks a listed id, so an id is listed at most once. Every id
// at or above the threshold is listed, so while at least `limit` listed ids
// are still at or above it, the top `limit` are all listed and are ranked
// from the list alone. When fewer are (counts fell as the window slid), or
// the list has grown to twice its size after the last rebuild (counts
// rose), one scan of every row sets the threshold again: the count of the
// (4 x limit)-th best id, or 1 when fewer ids have a count at all. A column
// never ranked lists nothing; between rankings apply() keeps each list near
// its last size by unlisting ids that fell below the threshold and raising
// the threshold over the listed ids alone (tidy()), so the lists and the
// rows their flags hold stay bounded whether or not anyone ranks.
// Ties rank the smaller id first, as a full scan does.
//
// Memory: the rows (DenseRows) plus the listed ids. Lifecycle: owned by a
// Tier. Threading: the engine thread; top() tidies the lists and rows
// behind a const interface, as the Tier's other caches do.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <functional>
#include <vector>

#include "dense_rows.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::windows {

class TopCounts {
 public:
  explicit TopCounts(std::size_t columns)  // at most kWindowSpanCount
      : rows_(columns),
        listed_(columns),
        listed_after_rebuild_(columns, 0),
        last_limit_(columns, 0) {}

  std::size_t columns() const noexcept { return rows_.width(); }
  std::size_t size() const noexcept { return rows_.size(); }  // ids with a row

  void prefetch_index(Id id) const noexcept { rows_.prefetch_index(id); }
  void prefetch_row(Id id) const noexcept { rows_.prefetch_row(id); }

  // Adds n to the id's count in the columns of `added` (bit i: column i),
  // then takes n from those of `removed` (never more than they hold).
  void apply(Id id, std::uint64_t n, std::uint32_t added, std::uint32_t removed) {
    if ((added | removed) == 0) return;
    std::uint64_t* row = rows_.get_or_add(id);
    std::uint32_t listed = 0;
    for (std::uint32_t bits = added; bits; bits &= bits - 1) {
      const auto c = static_cast<std::size_t>(std::countr_zero(bits));
      const std::uint64_t v = row[c] += n;
      if (v < kListed && v >= threshold_[c]) {
        row[c] = v | kListed;
        listed_[c].push_back(id);
        listed |= 1u << c;
      }
    }
    if (removed != 0) {
      for (std::uint32_t bits = removed; bits; bits &= bits - 1) row[std::countr_zero(bits)] -= n;
      release_if_zero(id, row);
    }
    // Between rankings (or with none) a list is kept near its size after
    // the last tidy, so neither it nor the rows its flags hold grow.
    for (std::uint32_t bits = listed; bits; bits &= bits - 1) {
      const auto c = static_cast<std::size_t>(std::countr_zero(bits));
      if (listed_[c].size() > 2 * listed_after_rebuild_[c] + kSlack) tidy(c);
    }
  }

  // The id's count in a column (0 when it has none).
  std::uint64_t count(Id id, std::size_t column) const noexcept {
    const std::uint64_t* row = rows_.find(id);
    return row == nullptr ? 0 : row[column] & kCount;
  }

  // The `limit` ids with the highest counts in the column, best first; a
  // limit past the ids held (SIZE_MAX: every id) gives them all.
  std::vector<RankedId> top(std::size_t column, std::size_t limit) const {
    std::vector<RankedId> heap;
    limit = std::min(limit, rows_.size());
    if (limit == 0) return heap;
    heap.reserve(limit);
    last_limit_[column] = limit;
    const std::size_t qualifying = rank_listed(column, limit, heap);
    if ((qualifying < limit && threshold_[column] > 1) ||
        listed_[column].size() > 2 * listed_after_rebuild_[column] + 16 * limit) {
      rebuild(column, limit);
      heap.clear();
      rank_listed(column, limit, heap);
    }
    std::sort(heap.begin(), heap.end(), ranks_before);
    return heap;
  }

  // Forgets every id; keeps the rows' capacity.
  void clear() noexcept {
    rows_.clear();
    std::fill(threshold_.begin(), threshold_.end(), kUnranked);
    std::fill(last_limit_.begin(), last_limit_.end(), 0);
    for (auto& l : listed_) l.clear();
    std::fill(listed_after_rebuild_.begin(), listed_after_rebuild_.end(), 0);
  }

  // Scans of every row top() has made since construction.
  std::uint64_t scans() const noexcept { return scans_; }

  std::size_t memory_bytes() const noexcept {
    std::size_t n = rows_.memory_bytes() +
                    listed_after_rebuild_.capacity() * sizeof(std::size_t);
    for (const auto& l : listed_) n += sizeof(l) + l.capacity() * sizeof(Id);
    n += tidy_counts_.capacity() * sizeof(std::uint64_t);
    return n;
  }

  // Offers `r` to a heap of the best `limit` so far, the worst of them on top.
  static void offer(std::vector<RankedId>& heap, const RankedId& r, std::size_t limit) {
    if (heap.size() < limit) {
      heap.push_back(r);
      std::push_heap(heap.begin(), heap.end(), ranks_before);
    } else if (ranks_before(r, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), ranks_before);
      heap.back() = r;
      std::push_heap(heap.begin(), heap.end(), ranks_before);
    }
  }

 private:
  static constexpr std::uint64_t kListed = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kCount = kListed - 1;
  // The threshold of a column never ranked: no count reaches it, nothing is
  // listed, and the first top() scans.
  static constexpr std::uint64_t kUnranked = kCount;
  static constexpr std::size_t kSlack = 1024;
  static constexpr std::array<std::uint64_t, kWindowSpanCount> filled(std::uint64_t v) {
    std::array<std::uint64_t, kWindowSpanCount> a{};
    a.fill(v);
    return a;
  }  // listed ids a column may gain before apply() tidies it

  // Unlists the column's ids below the threshold. Then, when more than
  // 8 x the last ranking's limit are still listed, raises the threshold to
  // the count of the (4 x limit)-th best of them and unlists those below:
  // every id at or above the new threshold was at or above the old one, so
  // all of them stay listed.
  void tidy(std::size_t column) const {
    const std::size_t want = 4 * last_limit_[column];
    std::vector<std::uint64_t>& counts = tidy_counts_;  // of the ids that stay
    counts.clear();
    const std::size_t kept = drop_below(column, threshold_[column], [&](Id, std::uint64_t v) {
      if (want > 0) counts.push_back(v);
    });
    if (want > 0 && kept > 2 * want) {
      std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(want - 1), counts.end(),
                       std::greater<>());
      threshold_[column] = std::max<std::uint64_t>(1, counts[want - 1]);
      drop_below(column, threshold_[column], [](Id, std::uint64_t) {});
    }
    listed_after_rebuild_[column] = listed_[column].size();
  }

  // Unlists the column's ids whose count is below `threshold` (their rows
  // go once nothing is left in them) and hands each id that stays, with
  // its count, to `kept`. Returns how many stayed.
  template <class Kept>
  std::size_t drop_below(std::size_t column, std::uint64_t threshold, Kept&& kept) const {
    std::vector<Id>& list = listed_[column];
    std::size_t n = 0;
    for (const Id id : list) {
      std::uint64_t* row = rows_.find(id);
      const std::uint64_t v = row[column] & kCount;
      if (v < threshold) {
        row[column] = v;
        release_if_zero(id, row);
      } else {
        list[n++] = id;
        kept(id, v);
      }
    }
    list.resize(n);
    return n;
  }

  void release_if_zero(Id id, const std::uint64_t* row) const noexcept {
    for (std::size_t i = 0; i < rows_.width(); ++i)
      if (row[i] != 0) return;  // a listed id's flag keeps its row
    rows_.release(id);
  }

  // Walks the column's list: ids that fell below the threshold leave it,
  // the others are offered to the heap. Returns how many stayed.
  std::size_t rank_listed(std::size_t column, std::size_t limit, std::vector<RankedId>& heap) const {
    return drop_below(column, threshold_[column], [&](Id id, std::uint64_t v) { offer(heap, RankedId{id, v}, limit); });
  }

  // Sets the column's threshold from a scan of every row and lists every
  // id at or above it.
  void rebuild(std::size_t column, std::size_t limit) const {
    ++scans_;
    const std::size_t want = 4 * limit;
    std::vector<RankedId> best;
    best.reserve(std::min(want, rows_.size()));
    rows_.for_each([&](Id id, const std::uint64_t* row) {
      const std::uint64_t v = row[column] & kCount;
      if (v != 0) offer(best, RankedId{id, v}, want);
    });
    const std::uint64_t threshold = best.size() < want ? 1 : std::max<std::uint64_t>(1, best.front().count);
    threshold_[column] = threshold;
    std::vector<Id>& list = listed_[column];
    list.clear();
    std::vector<Id> emptied;
    rows_.for_each([&](Id id, std::uint64_t* row) {
      const std::uint64_t v = row[column] & kCount;
      row[column] = v >= threshold ? v | kListed : v;
      if (v >= threshold) list.push_back(id);
      else if (std::all_of(row, row + rows_.width(), [](std::uint64_t x) { return x == 0; })) emptied.push_back(id);
    });
    for (const Id id : emptied) rows_.release(id);
    listed_after_rebuild_[column] = list.size();
  }

  mutable DenseRows<std::uint64_t> rows_;
  // Per column (at most one per span), at least 1; beside the rows, not
  // behind a pointer, since apply() reads it for every count it adds.
  mutable std::array<std::uint64_t, kWindowSpanCount> threshold_ = filled(kUnranked);
  mutable std::vector<std::vector<Id>> listed_;   // per column
  mutable std::vector<std::size_t> listed_after_rebuild_;
  mutable std::vector<std::size_t> last_limit_;  // per column: the limit of its last ranking, 0 = none yet
  mutable std::uint64_t scans_ = 0;
  mutable std::vector<std::uint64_t> tidy_counts_;  // scratch of tidy(), kept to avoid allocating
};

}  // namespace shoppulse::windows
