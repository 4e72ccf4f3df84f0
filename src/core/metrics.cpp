#include "shoppulse/core/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace shoppulse {

void Histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  const double ns = seconds > 0 ? seconds * 1e9 : 0;
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

std::array<std::uint64_t, Histogram::kBounds.size() + 1> Histogram::buckets() const noexcept {
  std::array<std::uint64_t, kBounds.size() + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double Histogram::sum() const noexcept { return double(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

std::uint64_t Histogram::count() const noexcept {
  std::uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const std::string& labels) {
  std::lock_guard lock(mutex_);
  Counter& c = counters_.emplace_back();
  entries_.push_back({name, help, labels, Entry::Kind::counter, &c, nullptr, {}});
  return c;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, const std::string& labels) {
  std::lock_guard lock(mutex_);
  Histogram& h = histograms_.emplace_back();
  entries_.push_back({name, help, labels, Entry::Kind::histogram, nullptr, &h, {}});
  return h;
}

void MetricsRegistry::gauge(const std::string& name, const std::string& help, std::function<double()> read,
                            const std::string& labels) {
  std::lock_guard lock(mutex_);
  entries_.push_back({name, help, labels, Entry::Kind::gauge, nullptr, nullptr, std::move(read)});
}

void MetricsRegistry::counter_read(const std::string& name, const std::string& help, std::function<double()> read,
                                   const std::string& labels) {
  std::lock_guard lock(mutex_);
  entries_.push_back({name, help, labels, Entry::Kind::counter_read, nullptr, nullptr, std::move(read)});
}

namespace {
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}
std::string with_labels(const std::string& labels, const std::string& extra) {
  if (labels.empty() && extra.empty()) return {};
  if (labels.empty()) return "{" + extra + "}";
  if (extra.empty()) return "{" + labels + "}";
  return "{" + labels + "," + extra + "}";
}
}  // namespace

std::string MetricsRegistry::render_prometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  std::set<std::string> described;
  // Prometheus wants every sample of one metric together.
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries_) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) { return a->name < b->name; });
  for (const Entry* ep : sorted) {
    const Entry& e = *ep;
    if (described.insert(e.name).second) {
      const char* type = e.kind == Entry::Kind::histogram ? "histogram"
                         : e.kind == Entry::Kind::gauge   ? "gauge"
                                                          : "counter";
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", e.name, e.help, e.name, type);
    }
    switch (e.kind) {
      case Entry::Kind::counter:
        out += fmt::format("{}{} {}\n", e.name, with_labels(e.labels, {}), e.counter->value());
        break;
      case Entry::Kind::gauge:
      case Entry::Kind::counter_read:
        out += fmt::format("{}{} {}\n", e.name, with_labels(e.labels, {}), number(e.read()));
        break;
      case Entry::Kind::histogram: {
        const auto b = e.histogram->buckets();
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
          cumulative += b[i];
          out += fmt::format("{}_bucket{} {}\n", e.name,
                             with_labels(e.labels, fmt::format("le=\"{}\"", Histogram::kBounds[i])), cumulative);
        }
        cumulative += b.back();
        out += fmt::format("{}_bucket{} {}\n", e.name, with_labels(e.labels, "le=\"+Inf\""), cumulative);
        out += fmt::format("{}_sum{} {}\n", e.name, with_labels(e.labels, {}), e.histogram->sum());
        out += fmt::format("{}_count{} {}\n", e.name, with_labels(e.labels, {}), cumulative);
        break;
      }
    }
  }
  return out;
}

}  // namespace shoppulse
