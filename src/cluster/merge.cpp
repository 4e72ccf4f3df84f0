#include "shoppulse/cluster/merge.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <optional>
#include <unordered_map>
#include <utility>

#include "json_tree.hpp"
#include "shoppulse/api/reason_text.hpp"
#include "shoppulse/api/trend_model.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse::cluster {

RankedMerge merge_ranked(const std::vector<RankedPart>& parts, std::size_t n) {
  struct Total {
    std::int64_t known = 0;
    std::vector<bool> seen;
  };
  std::unordered_map<std::string, Total> totals;
  for (std::size_t p = 0; p < parts.size(); ++p)
    for (const RankedEntry& e : parts[p].entries) {
      Total& t = totals[e.id];
      if (t.seen.empty()) t.seen.assign(parts.size(), false);
      if (t.seen[p]) continue;  // an id twice in one list: the first counts
      t.seen[p] = true;
      t.known += e.count;
    }
  // The most a member whose list is cut may hold of an id it did not list.
  std::vector<std::int64_t> floor(parts.size(), 0);
  for (std::size_t p = 0; p < parts.size(); ++p)
    if (!parts[p].whole && !parts[p].entries.empty()) {
      std::int64_t m = parts[p].entries.front().count;
      for (const RankedEntry& e : parts[p].entries) m = std::min(m, e.count);
      floor[p] = m;
    }
  RankedMerge out;
  out.top.reserve(totals.size());
  for (const auto& [id, t] : totals) out.top.push_back(RankedEntry{id, t.known});
  const auto better = [](const RankedEntry& a, const RankedEntry& b) {
    return a.count != b.count ? a.count > b.count : a.id < b.id;
  };
  std::sort(out.top.begin(), out.top.end(), better);
  const std::size_t kept = std::min(n, out.top.size());
  // The most an id may have beyond its known total: the floors of the cut
  // lists that did not name it (t == nullptr: an id no list named).
  const auto bound = [&](const Total* t) {
    std::int64_t b = 0;
    for (std::size_t p = 0; p < parts.size(); ++p)
      if (!parts[p].whole && (t == nullptr || !t->seen[p])) b += floor[p];
    return b;
  };
  out.exact = true;
  // Every kept entry's total is exact, so their order is too.
  for (std::size_t i = 0; i < kept && out.exact; ++i)
    if (bound(&totals.at(out.top[i].id)) != 0) out.exact = false;
  if (out.exact && n > 0) {
    const std::int64_t unnamed = bound(nullptr);
    if (kept < n) {
      // Fewer entries than asked: exact unless a cut list may hide more.
      if (unnamed > 0) out.exact = false;
    } else {
      const RankedEntry& last = out.top[kept - 1];
      // An unnamed id has an unknown name, so it must lose even a tie.
      if (unnamed > 0 && unnamed >= last.count) out.exact = false;
      for (std::size_t i = kept; i < out.top.size() && out.exact; ++i) {
        const std::int64_t upper = out.top[i].count + bound(&totals.at(out.top[i].id));
        if (upper > last.count || (upper == last.count && out.top[i].id < last.id)) out.exact = false;
      }
    }
  }
  out.top.resize(kept);
  return out;
}

namespace {

using json::Value;

bool is_id_key(std::string_view k) {
  return k == "product_id" || k == "category_id" || k == "device" || k == "location" || k == "user_id";
}
bool is_count_key(std::string_view k) { return k == "interactions" || k == "events"; }

// Numbers that are not amounts: they describe the answer or one node.
bool keep_first_number(std::string_view k) {
  return k == "applied_sequence" || k == "logged_sequence" || k == "confidence" || k == "window_ms" ||
         k == "horizon_seconds" || k == "seconds" || k == "step_minutes" || k == "limit" || k == "step";
}

bool is_money_key(std::string_view k) { return k == "revenue" || k == "average_order_value"; }

double percent(std::int64_t part, std::int64_t whole) {
  return whole ? std::round(double(part) / double(whole) * 10000.0) / 100.0 : 0.0;
}

std::int64_t minor_units(const Value& v) {
  if (v.kind == Value::integer) return v.i * 100;
  if (v.kind == Value::number) return std::llround(v.d * 100.0);
  return 0;
}

std::int64_t int_of(const Value* v) {
  if (!v) return 0;
  if (v->kind == Value::integer) return v->i;
  if (v->kind == Value::number) return std::llround(v->d);
  return 0;
}

// The identity of an array element, for arrays merged element by element:
// its id field, a funnel step or a series point's start.
std::optional<std::string> element_key(const Value& v) {
  if (v.kind != Value::object) return std::nullopt;
  for (const auto& [k, x] : v.o) {
    if ((is_id_key(k) || k == "step" || k == "start") && x.kind == Value::string) return k + "=" + x.s;
    if (k == "step" && x.kind == Value::integer) return k + "=" + std::to_string(x.i);  // funnel steps 1, 2, ...
  }
  return std::nullopt;
}

const char* count_key_of(const Value& v) {
  if (v.kind != Value::object) return nullptr;
  for (const auto& [k, x] : v.o)
    if (is_count_key(k)) return k == "interactions" ? "interactions" : "events";
  return nullptr;
}

std::string id_of(const Value& v) {
  for (const auto& [k, x] : v.o)
    if (is_id_key(k) && x.kind == Value::string) return x.s;
  return {};
}

// What a merge knows beyond the values: the route's kind, the top-list
// limits, and whether every top list came out provably exact.
struct Ctx {
  MergeKind kind = MergeKind::realtime;
  std::size_t limit = 0;        // entries of a top list; 0: as long as the longest member's
  std::size_t asked_limit = 0;  // asked of each member; 0: unknown (a list as long as the longest may be cut)
  bool exact_top = true;
};

Value merge_values(Ctx& ctx, const std::vector<const Value*>& parts, std::string_view key);

// Rates and averages of one object, from its merged sums.
void recompute(const Ctx& ctx, Value& o) {
  // A cohort: retention[k] = returning[k] / users, in percent.
  if (Value* retention = o.find("retention");
      ctx.kind == MergeKind::cohorts && retention && retention->kind == Value::array) {
    const Value* returning = o.find("returning");
    const std::int64_t users = int_of(o.find("users"));
    if (returning && returning->kind == Value::array) {
      retention->a.clear();
      for (const Value& n : returning->a) retention->a.push_back(Value::of_double(percent(int_of(&n), users)));
    }
  }
  if (Value* rate = o.find("conversion_rate")) {
    const Value* viewers = o.find("viewers");
    const Value* purchasers = o.find("purchasers");
    if (viewers && purchasers) *rate = Value::of_double(percent(int_of(purchasers), int_of(viewers)));
  }
  if (Value* aov = o.find("average_order_value")) {
    const Value* revenue = o.find("revenue");
    const Value* purchases = o.find("purchases");
    if (revenue && purchases) {
      const std::int64_t p = int_of(purchases);
      *aov = Value::of_money(p ? minor_units(*revenue) / p : 0);
    }
  }
}

// Funnel steps: users add; conversions and drops follow from the sums; the
// average time to convert is weighted by each member's converted users.
void recompute_funnel(std::vector<Value>& steps, const std::vector<std::vector<const Value*>>& groups) {
  std::int64_t first = 0, previous = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    Value& s = steps[i];
    const std::int64_t users = int_of(s.find("users"));
    if (i == 0) first = previous = users;
    if (Value* v = s.find("conversion_from_previous")) *v = Value::of_double(percent(users, previous));
    if (Value* v = s.find("conversion_from_start")) *v = Value::of_double(percent(users, first));
    if (Value* v = s.find("dropped")) *v = Value::of_int(previous - users);
    if (Value* avg = s.find("average_time_to_convert_ms"); avg && i < groups.size()) {
      double weighted = 0;
      std::int64_t weight = 0;
      for (const Value* part : groups[i]) {
        const Value* a = part->find("average_time_to_convert_ms");
        if (!a || a->kind == Value::null) continue;
        const std::int64_t u = int_of(part->find("users"));
        weighted += double(int_of(a)) * double(u);
        weight += u;
      }
      *avg = weight ? Value::of_int(std::llround(weighted / double(weight))) : Value{};
    }
    // The median does not merge: the member with most converted users.
    if (Value* med = s.find("median_time_to_convert_ms"); med && i < groups.size()) {
      std::int64_t most = -1;
      for (const Value* part : groups[i]) {
        const Value* m = part->find("median_time_to_convert_ms");
        const std::int64_t u = int_of(part->find("users"));
        if (m && m->kind != Value::null && u > most) {
          most = u;
          *med = *m;
        }
      }
    }
    previous = users;
  }
}

Value merge_array(Ctx& ctx, const std::vector<const Value*>& parts, std::string_view key) {
  const Value* first = nullptr;
  for (const Value* p : parts)
    if (p->kind == Value::array) {
      first = p;
      break;
    }
  if (!first) return *parts.front();
  // A cohort's returning users per period: they add period by period (a
  // user is on one node).
  if (ctx.kind == MergeKind::cohorts && key == "returning") {
    Value out;
    out.kind = Value::array;
    for (const Value* p : parts) {
      if (p->kind != Value::array) continue;
      if (out.a.size() < p->a.size()) out.a.resize(p->a.size(), Value::of_int(0));
      for (std::size_t i = 0; i < p->a.size(); ++i) out.a[i] = Value::of_int(int_of(&out.a[i]) + int_of(&p->a[i]));
    }
    return out;
  }
  // Arrays of scalars, or of elements without identity: the first member's
  // (a trend's anomalies are fitted again over the merged series after, see
  // refit_trends).
  bool keyed = false;
  for (const Value* p : parts)
    if (p->kind == Value::array && !keyed)
      for (const Value& e : p->a)
        if (element_key(e)) {
          keyed = true;
          break;
        }
  if (!keyed) return *first;
  Value out;
  out.kind = Value::array;
  std::vector<std::vector<const Value*>> ordered_groups;
  const Value* sample = nullptr;  // an element, of whichever member has one
  for (const Value* p : parts)
    if (p->kind == Value::array && !p->a.empty() && !sample) sample = &p->a.front();
  if (ctx.kind == MergeKind::propensity && key == "users") {
    // Shoppers most likely to buy: each is on one node, scored by its
    // owner's model; the union ordered by score (ties by id), cut at limit
    // (0: not cut).
    std::vector<const Value*> all;
    std::set<std::string> seen;
    for (const Value* p : parts)
      if (p->kind == Value::array)
        for (const Value& e : p->a)
          if (seen.insert(id_of(e)).second) all.push_back(&e);
    const auto score = [](const Value* v) {
      const Value* x = v->find("purchase_propensity");
      return !x ? 0.0 : x->kind == Value::number ? x->d : x->kind == Value::integer ? double(x->i) : 0.0;
    };
    std::stable_sort(all.begin(), all.end(), [&](const Value* a, const Value* b) {
      const double sa = score(a), sb = score(b);
      if (sa != sb) return sa > sb;
      return id_of(*a) < id_of(*b);
    });
    if (ctx.limit > 0 && all.size() > ctx.limit) all.resize(ctx.limit);
    for (const Value* v : all) out.a.push_back(*v);
    return out;
  }
  const char* count = sample ? count_key_of(*sample) : nullptr;
  if (count && element_key(*sample) && element_key(*sample)->rfind("start=", 0) != 0) {
    // A top list: the top of the union by merge_ranked (count, then id).
    // Devices and locations are listed whole, products and categories cut.
    const std::string sample_key = *element_key(*sample);
    const bool whole_lists = sample_key.rfind("device=", 0) == 0 || sample_key.rfind("location=", 0) == 0;
    std::size_t longest = 0;
    std::vector<RankedPart> ranked;
    std::unordered_map<std::string, std::vector<const Value*>> by_id;
    for (const Value* p : parts) {
      if (p->kind != Value::array) continue;
      longest = std::max(longest, p->a.size());
    }
    for (const Value* p : parts) {
      if (p->kind != Value::array) continue;
      RankedPart part;
      for (const Value& e : p->a) {
        const std::string id = id_of(e);
        part.entries.push_back(RankedEntry{id, int_of(e.find(count))});
        by_id[id].push_back(&e);
      }
      part.whole = whole_lists || p->a.size() < (ctx.asked_limit ? ctx.asked_limit : longest);
      ranked.push_back(std::move(part));
    }
    const RankedMerge top = merge_ranked(ranked, whole_lists ? by_id.size() : ctx.limit ? ctx.limit : longest);
    ctx.exact_top = ctx.exact_top && top.exact;
    for (const RankedEntry& e : top.top) {
      Value item = merge_values(ctx, by_id[e.id], {});
      if (Value* c = item.find(count)) *c = Value::of_int(e.count);
      out.a.push_back(std::move(item));
    }
    return out;
  }
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Value*>> groups;
  for (const Value* p : parts) {
    if (p->kind != Value::array) continue;
    for (const Value& e : p->a) {
      auto k = element_key(e);
      if (!k) continue;
      auto [it, fresh] = groups.try_emplace(*k);
      if (fresh) order.push_back(*k);
      it->second.push_back(&e);
    }
  }
  for (const std::string& k : order) {
    out.a.push_back(merge_values(ctx, groups[k], {}));
    ordered_groups.push_back(groups[k]);
  }
  if (!out.a.empty() && element_key(out.a.front())->rfind("start=", 0) == 0) {
    // A series: by start (ISO 8601 text orders as time does).
    std::vector<std::size_t> idx(out.a.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) {
      return out.a[x].find("start")->s < out.a[y].find("start")->s;
    });
    Value sorted;
    sorted.kind = Value::array;
    for (std::size_t i : idx) sorted.a.push_back(std::move(out.a[i]));
    out = std::move(sorted);
  } else if (!out.a.empty() && out.a.front().find("conversion_from_start")) {
    recompute_funnel(out.a, ordered_groups);
  }
  (void)key;
  return out;
}

Value merge_object(Ctx& ctx, const std::vector<const Value*>& parts) {
  const Value* first = nullptr;
  for (const Value* p : parts)
    if (p->kind == Value::object) {
      first = p;
      break;
    }
  if (!first) return *parts.front();
  Value out;
  out.kind = Value::object;
  // Keys in the first member's order, then any only others have.
  std::vector<std::string> keys;
  for (const Value* p : parts)
    if (p->kind == Value::object)
      for (const auto& [k, v] : p->o)
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (const std::string& k : keys) {
    std::vector<const Value*> values;
    for (const Value* p : parts)
      if (p->kind == Value::object)
        if (const Value* v = p->find(k)) values.push_back(v);
    out.o.emplace_back(k, merge_values(ctx, values, k));
  }
  recompute(ctx, out);
  return out;
}

Value merge_values(Ctx& ctx, const std::vector<const Value*>& parts, std::string_view key) {
  if (parts.empty()) return Value{};
  const Value* nonnull = nullptr;
  for (const Value* p : parts)
    if (p->kind != Value::null) {
      nonnull = p;
      break;
    }
  if (!nonnull) return Value{};
  switch (nonnull->kind) {
    case Value::object: return merge_object(ctx, parts);
    case Value::array: return merge_array(ctx, parts, key);
    case Value::boolean: {
      // complete, available: every member's; partial, estimated: any.
      const bool all = key == "complete" || key == "available" || key == "caught_up";
      bool r = all;
      for (const Value* p : parts)
        if (p->kind == Value::boolean) r = all ? (r && p->b) : (r || p->b);
      return Value::of_bool(r);
    }
    case Value::string: {
      // Times (window ends, watermarks) are the latest; the rest agree.
      const Value* best = nonnull;
      for (const Value* p : parts)
        if (p->kind == Value::string && p->s > best->s) best = p;
      return *best;
    }
    case Value::integer:
    case Value::number: {
      if (keep_first_number(key)) return *nonnull;
      if (is_money_key(key)) {
        std::int64_t minor = 0;
        for (const Value* p : parts) minor += minor_units(*p);
        return Value::of_money(minor);
      }
      bool all_int = true;
      for (const Value* p : parts)
        if (p->kind == Value::number) all_int = false;
      if (all_int) {
        std::int64_t s = 0;
        for (const Value* p : parts) s += p->kind == Value::integer ? p->i : 0;
        return Value::of_int(s);
      }
      double s = 0;
      for (const Value* p : parts)
        s += p->kind == Value::integer ? double(p->i) : p->kind == Value::number ? p->d : 0.0;
      return Value::of_double(s);
    }
    default: return *nonnull;
  }
}

// A trend answer with a forecast: the model is fitted again over the merged
// series by one node's code (api::fit_trend_model, same options), so the
// anomalies and the forecast are those of one node holding every event; the
// members' own (over their own series) are dropped. The complete points are
// those before the first partial one, as on one node. Every member answers
// the same steps (from and to are pinned, see query.cpp), and a merged point
// is partial when any member's is, so the merged series has no more
// complete points than any member's: when it has enough for a model so had
// every member, and each member's forecast holds the asked points ahead.
void refit_trends(Value& merged, const std::vector<const Value*>& parts) {
  Value* forecast = merged.find("forecast");
  Value* points = merged.find("points");
  if (!forecast || forecast->kind != Value::object || !points || points->kind != Value::array) return;
  std::size_t horizon = 0;
  for (const Value* p : parts) {
    const Value* f = p->kind == Value::object ? p->find("forecast") : nullptr;
    const Value* ahead = f && f->kind == Value::object ? f->find("points") : nullptr;
    if (ahead && ahead->kind == Value::array) horizon = std::max(horizon, ahead->a.size());
  }
  std::vector<Value>& series = points->a;
  std::size_t complete = 0;
  for (; complete < series.size(); ++complete) {
    const Value* partial = series[complete].find("partial");
    if (partial && partial->kind == Value::boolean && partial->b) break;
  }
  api::TrendSeries values;
  for (std::size_t k = 0; k < api::kTrendSeries.size(); ++k)
    for (std::size_t i = 0; i < complete; ++i) {
      const Value* v = series[i].find(api::kTrendSeries[k]);
      // Revenue in major units from its exact minor ones, as one node divides them.
      values[k].push_back(api::kTrendSeries[k] == "revenue" ? double(v ? minor_units(*v) : 0) / 100.0
                                                          : double(int_of(v)));
    }
  const api::TrendModel model = api::fit_trend_model(values, horizon);
  const auto start_of = [&](std::size_t i) -> TimestampMs {
    const Value* s = series[i].find("start");
    const auto t = s && s->kind == Value::string ? parse_iso8601(s->s) : std::nullopt;
    return t.value_or(0);
  };
  for (std::size_t i = 0; i < series.size(); ++i) {
    Value& point = series[i];
    std::erase_if(point.o, [](const auto& kv) { return kv.first == "anomalies"; });
    if (i < complete) {
      auto anomalies = json::parse(api::trend_anomalies_json(model, i));
      if (anomalies) point.o.emplace_back("anomalies", std::move(anomalies).value());
    }
  }
  // The first point ahead is the step after the last complete point (the
  // answer's from when none is; no points are written then).
  const std::int64_t step_ms = series.size() >= 2 ? start_of(1) - start_of(0) : 0;
  const TimestampMs first = complete > 0 ? start_of(complete - 1) + step_ms : series.empty() ? 0 : start_of(0);
  if (auto refitted = json::parse(api::trend_forecast_json(model, first, step_ms)))
    *forecast = std::move(refitted).value();
}

// A ranked list answered as one node answers it: the other fields of the
// parts (`rest`) merged, then "recommendations" after the leading id and
// "algorithm" fields, the best `limit` of `ranked` by score (6 decimals),
// ties by id text, each with its reason (related: the reason's id, empty
// for none).
Value ranked_answer(Ctx& ctx, const std::vector<Value>& rest, std::vector<std::pair<double, const std::string*>>& ranked,
                    std::size_t limit, ReasonKind reason, const std::string& related) {
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  if (ranked.size() > limit) ranked.resize(limit);
  std::vector<const Value*> rest_ptrs;
  for (const Value& r : rest) rest_ptrs.push_back(&r);
  Value merged = merge_values(ctx, rest_ptrs, {});
  Value list;
  list.kind = Value::array;
  for (const auto& [score, id] : ranked) {
    Value e;
    e.kind = Value::object;
    e.o.emplace_back("product_id", Value::of_string(*id));
    e.o.emplace_back("score", Value::of_double(std::round(score * 1e6) / 1e6));
    e.o.emplace_back("reason", Value::of_string(api::reason_text(reason, related)));
    e.o.emplace_back("reason_code", Value::of_string(std::string(to_string(reason))));
    if (!related.empty()) e.o.emplace_back("related_id", Value::of_string(related));
    list.a.push_back(std::move(e));
  }
  if (merged.kind == Value::object) {
    // Where one node writes them: after the product asked about and "algorithm".
    auto at = merged.o.begin();
    while (at != merged.o.end() && (at->first == "product_id" || at->first == "algorithm")) ++at;
    merged.o.insert(at, {"recommendations", std::move(list)});
  }
  return merged;
}

// Trending over the cluster. Each member answers its candidates (items of
// its last three clock hours) with their weighted counts per clock hour and
// its clock; an item's counts add hour by hour, aligned on the latest
// clock's hour, and are scored at that clock as one node scores its own
// (Recommender::trend_score), so the merged list is one node's holding
// every event (the weights are whole numbers: float sums are exact). A
// product's category is the one of the member that saw it last among those
// that know one. Ties are ordered by product id text (one node orders them
// by its dictionary). The rest of the answer (complete, sequences) merges
// as every answer does.
Value merge_trending(Ctx& ctx, const std::vector<const Value*>& parts, const MergeOptions& options) {
  const auto number = [](const Value* v) {
    if (!v) return 0.0;
    return v->kind == Value::integer ? double(v->i) : v->kind == Value::number ? v->d : 0.0;
  };
  TimestampMs now = 0;
  for (const Value* p : parts) now = std::max(now, static_cast<TimestampMs>(number(p->find("now"))));
  const std::int64_t hour = now / Recommender::kTrendHourMs;
  struct Summed {
    std::array<float, 3> counts{};
    std::string category;
    TimestampMs category_seen = -1;
  };
  std::unordered_map<std::string, Summed> items;
  std::size_t listed = 0;
  for (const Value* p : parts)
    if (const Value* c = p->find("candidates"); c && c->kind == Value::array) listed += c->a.size();
  items.reserve(listed);
  std::vector<Value> rest;  // each part without its candidates and clock
  for (const Value* p : parts) {
    Value r;  // the fields besides the candidates and the clock, not a copy of the whole list
    r.kind = p->kind;
    for (const auto& [k, v] : p->o)
      if (k != "candidates" && k != "now") r.o.emplace_back(k, v);
    rest.push_back(std::move(r));
    const Value* candidates = p->find("candidates");
    if (!candidates || candidates->kind != Value::array) continue;
    for (const Value& c : candidates->a) {
      const Value* id = c.find("product_id");
      const Value* counts = c.find("counts");
      if (!id || id->kind != Value::string || !counts || counts->kind != Value::array) continue;
      Summed& m = items[id->s];
      Recommender::TrendCounts t;
      t.hour = static_cast<std::int64_t>(number(c.find("hour")));
      for (std::size_t i = 0; i < counts->a.size() && i < t.counts.size(); ++i)
        t.counts[i] = static_cast<float>(number(&counts->a[i]));
      Recommender::add_trend_counts(hour, m.counts, t);
      const Value* category = c.find("category_id");
      const auto seen = static_cast<TimestampMs>(number(c.find("last_seen")));
      if (category && category->kind == Value::string && seen >= m.category_seen) {
        m.category = category->s;
        m.category_seen = seen;
      }
    }
  }
  std::vector<std::pair<double, const std::string*>> ranked;
  for (const auto& [id, m] : items) {
    if (!options.category.empty() && m.category != options.category) continue;
    if (const double score = Recommender::trend_score(hour, m.counts, now); score > 0) ranked.emplace_back(score, &id);
  }
  return ranked_answer(ctx, rest, ranked, options.limit, ReasonKind::trending, {});
}

// Similar items over the cluster. Each member answers its row of the
// product: the co-occurrence with each neighbour and the engagements (its
// own, its neighbours' and those the merge asked for with `of`), all
// decayed to the member's clock. Co-occurrence and engagement are sums over
// users and a user is on one member, so decayed to the latest clock and
// added they are one model's holding every event; scored with
// Recommender::similarity_of as one node scores its row. Ties are ordered
// by product id text (one node orders them by its dictionary).
double number_of(const Value* v) {
  if (!v) return 0.0;
  return v->kind == Value::integer ? double(v->i) : v->kind == Value::number ? v->d : 0.0;
}

Value merge_similar(Ctx& ctx, const std::vector<const Value*>& parts, const MergeOptions& options) {
  TimestampMs now = 0;
  for (const Value* p : parts) now = std::max(now, static_cast<TimestampMs>(number_of(p->find("now"))));
  const Value& lead = *parts.front();
  const auto hl = static_cast<std::int64_t>(number_of(lead.find("half_life_ms")));
  const double damping = number_of(lead.find("damping"));
  const double shrinkage = number_of(lead.find("shrinkage"));
  double engagement = 0;
  std::unordered_map<std::string, double> co;
  std::unordered_map<std::string, double> engagements;
  std::vector<Value> rest;
  for (const Value* p : parts) {
    // Decayed on to the latest clock, as Recommender decays (a half life of hl).
    const auto dt = now - static_cast<TimestampMs>(number_of(p->find("now")));
    const double to_now = dt <= 0 || hl <= 0 ? 1.0 : std::exp2(-static_cast<double>(dt) / static_cast<double>(hl));
    engagement += number_of(p->find("engagement")) * to_now;
    std::unordered_map<std::string, double> own;  // this member's engagements, each once
    if (const Value* n = p->find("neighbours"); n && n->kind == Value::array)
      for (const Value& e : n->a) {
        const Value* id = e.find("product_id");
        if (!id || id->kind != Value::string) continue;
        co[id->s] += number_of(e.find("co")) * to_now;
        own.emplace(id->s, number_of(e.find("engagement")));
      }
    if (const Value* asked = p->find("engagements"); asked && asked->kind == Value::object)
      for (const auto& [id, v] : asked->o) own.emplace(id, number_of(&v));
    for (const auto& [id, v] : own) engagements[id] += v * to_now;
    Value r;
    r.kind = Value::object;
    for (const auto& [k, v] : p->o)
      if (k == "product_id" || k == "algorithm" || k == "complete" || k == "applied_sequence" ||
          k == "logged_sequence")
        r.o.emplace_back(k, v);
    rest.push_back(std::move(r));
  }
  std::vector<std::pair<double, const std::string*>> ranked;
  for (const auto& [id, c] : co) {
    // A neighbour no member holds any more (evicted under recommend.max_items
    // everywhere, so engagement 0) scores 0 on one node, which drops it.
    const double b = engagements[id];
    if (b <= 0) continue;
    const double score = Recommender::similarity_of(c, engagement, b, damping, shrinkage);
    if (score > 0) ranked.emplace_back(score, &id);
  }
  const Value* product = lead.find("product_id");
  const std::string related = product && product->kind == Value::string ? product->s : std::string();
  return ranked_answer(ctx, rest, ranked, options.limit, ReasonKind::viewed_together, related);
}

}  // namespace

SimilarRows similar_rows(const std::vector<std::string>& bodies) {
  // Each body parsed once: its neighbours, and the engagements it gave.
  SimilarRows out;
  std::vector<std::set<std::string>> given(bodies.size());
  std::set<std::string> wanted;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto v = json::parse(bodies[i]);
    if (!v || v->kind != Value::object) continue;
    if (const Value* k = v->find("known"); k && k->kind == Value::boolean && k->b) out.known = true;
    if (const Value* n = v->find("neighbours"); n && n->kind == Value::array)
      for (const Value& e : n->a)
        if (const Value* id = e.find("product_id"); id && id->kind == Value::string) {
          given[i].insert(id->s);
          wanted.insert(id->s);
        }
    if (const Value* asked = v->find("engagements"); asked && asked->kind == Value::object)
      for (const auto& [id, x] : asked->o) given[i].insert(id);
  }
  out.missing.resize(bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i)
    for (const std::string& id : wanted)
      if (!given[i].count(id)) out.missing[i].push_back(id);
  return out;
}

Result<Merged> merge_answers(const std::vector<std::string>& bodies, const MergeOptions& options) {
  std::vector<Value> parsed;
  parsed.reserve(bodies.size());
  for (const std::string& b : bodies) {
    auto v = json::parse(b);
    if (!v) return std::move(v).error();
    parsed.push_back(std::move(v).value());
  }
  if (parsed.empty()) return make_error(Errc::invalid_argument, "no answers to merge");
  Ctx ctx;
  ctx.kind = options.kind;
  ctx.limit = options.limit;
  ctx.asked_limit = options.asked_limit;
  std::vector<const Value*> ptrs;
  for (const Value& v : parsed) ptrs.push_back(&v);
  Merged out;
  Value merged = ctx.kind == MergeKind::trending  ? merge_trending(ctx, ptrs, options)
                 : ctx.kind == MergeKind::similar ? merge_similar(ctx, ptrs, options)
                                                  : merge_values(ctx, ptrs, {});
  if (ctx.kind == MergeKind::trends && merged.kind == Value::object) refit_trends(merged, ptrs);
  out.body = json::serialize(merged);
  out.exact_top = ctx.exact_top;
  return out;
}

std::string with_coverage(std::string_view body, const Coverage& c) {
  std::size_t end = body.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos || body[end] != '}' || body.find_first_not_of(" \t\r\n") == end ||
      body[body.find_first_not_of(" \t\r\n")] != '{')
    return std::string(body);
  std::string out(body.substr(0, end));
  const bool empty_object = body.find_first_not_of(" \t\r\n") == body.substr(0, end).find_last_not_of(" \t\r\n");
  out += empty_object ? "" : ",";
  out += "\"coverage\":{\"scope\":\"" + c.scope + "\",\"partitions\":" + std::to_string(c.partitions) +
         ",\"current\":" + std::to_string(c.current) + ",\"members\":" + std::to_string(c.members) + ",\"missing\":[";
  for (std::size_t i = 0; i < c.missing.size(); ++i) {
    out += i ? ",\"" : "\"";
    json::append_escaped(out, c.missing[i]);
    out += '"';
  }
  out += "]";
  if (!c.exact_top) out += ",\"exact_top\":false";
  if (!c.left_out.empty()) {
    out += ",\"left_out\":[";
    for (std::size_t i = 0; i < c.left_out.size(); ++i) {
      out += i ? ",\"" : "\"";
      json::append_escaped(out, c.left_out[i]);
      out += '"';
    }
    out += "]";
  }
  if (!c.overlap.empty()) {
    out += ",\"overlap\":[";
    for (std::size_t i = 0; i < c.overlap.size(); ++i) out += (i ? "," : "") + std::to_string(c.overlap[i]);
    out += "]";
  }
  out += "}}";
  return out;
}

}  // namespace shoppulse::cluster
