// Any range as a first-class range, checked on real history: the Taobao
// UserBehavior sample (see shared/data/SOURCES.md) is imported with
// `shoppulse import`, and GET /api/analytics/range, /funnel and /cohorts for
// historical ranges are compared with SQL over the same CSV in an in-memory
// SQLite database (the independent oracle).
//
// Without the dataset this executable prints "SKIPPED: range_taobao: ..." and
// exits 77, which ctest reports as a skipped test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "taobao_dataset.hpp"

namespace si = shoppulse::integration;
using si::Json;
using si::Sql;

namespace {

std::int64_t seconds_of(const std::string& iso) {
  // The tests' ranges are whole minutes of 2017-11-26 UTC: "2017-11-26THH:MM:00Z".
  const int h = std::stoi(iso.substr(11, 2)), m = std::stoi(iso.substr(14, 2));
  return 1511654400 + h * 3600 + m * 60;  // 2017-11-26T00:00:00Z
}

// Users who did the steps (behaviours) in order, each a later row than the
// one before (time, then file order), all within [from, to), the last at most
// window_s after the first.
// A step "cart/4756105" is also limited to that category.
std::uint64_t sql_funnel(Sql& sql, std::vector<std::string> steps, std::int64_t window_s, std::int64_t from,
                         std::int64_t to) {
  std::vector<std::string> categories(steps.size());
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const auto slash = steps[k].find('/');
    if (slash == std::string::npos) continue;
    categories[k] = steps[k].substr(slash + 1);
    steps[k].resize(slash);
  }
  auto category = [&](std::size_t k) {
    return categories[k].empty() ? std::string() : " AND s" + std::to_string(k) + ".category = '" + categories[k] + "'";
  };
  std::string q = "SELECT COUNT(DISTINCT s0.user) FROM ev s0";
  std::string where = " WHERE s0.behavior = '" + steps[0] + "' AND s0.ts >= " + std::to_string(from) +
                      " AND s0.ts < " + std::to_string(to) + category(0);
  for (std::size_t k = 1; k < steps.size(); ++k) {
    const std::string a = "s" + std::to_string(k - 1), b = "s" + std::to_string(k);
    q += " JOIN ev " + b + " ON " + b + ".user = s0.user AND " + b + ".behavior = '" + steps[k] + "' AND (" + b +
         ".ts > " + a + ".ts OR (" + b + ".ts = " + a + ".ts AND " + b + ".ord > " + a + ".ord)) AND " + b +
         ".ts - s0.ts <= " + std::to_string(window_s) + " AND " + b + ".ts < " + std::to_string(to) + category(k);
  }
  return sql.count(q + where);
}

}  // namespace

TEST_CASE("Ranges of imported Taobao history answer what SQL computes over the same file", "[integration][range]") {
  const auto csv = si::taobao_dataset_path();
  Sql sql;
  si::load_taobao_table(sql, csv);
  si::TempDir dir;
  const std::string data = (dir.path() / "data").string();
  const auto imported = si::run_shoppulse({"import", "--format", "taobao", csv.string(), "--data-dir", data, "--set",
                                           "eventlog.retention_max_age=0"},
                                          si::Millis(120000));
  INFO(imported.out);
  REQUIRE(imported.exit_code == 0);
  const std::uint64_t rows = sql.count("SELECT COUNT(*) FROM ev");

  si::ServerProcess server(si::ServerOptions{dir.path() / "data", {}, false, {"eventlog.retention_max_age=0"}});
  server.start();
  // The time index is built from the log after the start; until then 503.
  REQUIRE(si::poll_until([&] { return server.get("/api/analytics/range").status == 200; }, si::Millis(60000)));

  const std::string from = "2017-11-26T01:30:00Z", to = "2017-11-26T02:30:00Z";
  const std::int64_t f = seconds_of(from), t = seconds_of(to), len = t - f;
  const std::string in_range = " WHERE ts >= " + std::to_string(f) + " AND ts < " + std::to_string(t);
  const std::string in_previous = " WHERE ts >= " + std::to_string(f - len) + " AND ts < " + std::to_string(f);

  {  // range: distinct users, counts, conversion, previous period, traffic series, top categories
    const Json j = server.get_json("/api/analytics/range?from=" + from + "&to=" + to + "&limit=5");
    INFO(j.text().substr(0, 2000));
    CHECK(j.u64("/active_users") == sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range));
    CHECK(j.u64("/page_views") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'pv'"));
    CHECK(j.u64("/add_to_cart") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'cart'"));
    CHECK(j.u64("/favorites") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'fav'"));
    CHECK(j.u64("/purchases") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'buy'"));
    const std::uint64_t viewers = sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range + " AND behavior = 'pv'");
    const std::uint64_t buyers = sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range + " AND behavior = 'buy'");
    CHECK(j.u64("/viewers") == viewers);
    CHECK(j.u64("/purchasers") == buyers);
    CHECK(j.num("/conversion_rate") == Approx(std::round(double(buyers) / double(viewers) * 10000.0) / 100.0));
    CHECK(j.u64("/previous/active_users") == sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_previous));
    CHECK(j.u64("/previous/total_events") == sql.count("SELECT COUNT(*) FROM ev" + in_previous));
    CHECK(j.u64("/scan/events_in_range") == sql.count("SELECT COUNT(*) FROM ev WHERE ts >= " +
                                                      std::to_string(f - len) + " AND ts < " + std::to_string(t)));
    // The traffic series: one point per minute, views and purchases as SQL counts them.
    CHECK(j.str("/step") == "1m");
    REQUIRE(j.size("/series") == 60);
    const auto minutes = sql.rows("SELECT (ts - " + std::to_string(f) +
                                  ") / 60, SUM(behavior = 'pv'), SUM(behavior = 'buy') FROM ev" + in_range +
                                  " GROUP BY 1");
    std::vector<std::pair<std::uint64_t, std::uint64_t>> want(60);
    for (const auto& r : minutes) want.at(std::stoul(r[0])) = {std::stoull(r[1]), std::stoull(r[2])};
    for (std::size_t m = 0; m < 60; ++m) {
      INFO("minute " << m);
      CHECK(j.u64("/series/" + std::to_string(m) + "/page_views") == want[m].first);
      CHECK(j.u64("/series/" + std::to_string(m) + "/purchases") == want[m].second);
    }
    // Top categories by events of any type; ties go to the category logged
    // first (ids are interned in log order).
    const auto top = sql.rows(
        "WITH w AS (SELECT category, COUNT(*) AS c FROM ev" + in_range +
        " GROUP BY category), first AS (SELECT category, MIN(ord) AS o FROM ev GROUP BY category) "
        "SELECT w.category, w.c FROM w JOIN first USING (category) ORDER BY w.c DESC, first.o ASC LIMIT 5");
    REQUIRE(j.size("/popular_categories") == top.size());
    for (std::size_t i = 0; i < top.size(); ++i) {
      CHECK(j.str("/popular_categories/" + std::to_string(i) + "/category_id") == top[i][0]);
      CHECK(j.u64("/popular_categories/" + std::to_string(i) + "/interactions") == std::stoull(top[i][1]));
    }
  }

  {  // a drill-down: the same figures for the busiest category's events only, an unknown one matches nothing
    const std::string category = sql.rows("SELECT category FROM ev" + in_range +
                                          " GROUP BY category ORDER BY COUNT(*) DESC, MIN(ord) LIMIT 1")
                                     .at(0)
                                     .at(0);
    const std::string in_category = in_range + " AND category = " + category;
    const Json j = server.get_json("/api/analytics/range?from=" + from + "&to=" + to + "&category=" + category);
    INFO(j.text().substr(0, 2000));
    CHECK(j.str("/filters/category") == category);
    CHECK(j.u64("/active_users") == sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_category));
    CHECK(j.u64("/total_events") == sql.count("SELECT COUNT(*) FROM ev" + in_category));
    CHECK(j.u64("/purchasers") ==
          sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_category + " AND behavior = 'buy'"));
    CHECK(j.u64("/previous/active_users") ==
          sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_previous + " AND category = " + category));
    CHECK(j.size("/popular_categories") == 1);
    CHECK(j.u64("/total_events") < sql.count("SELECT COUNT(*) FROM ev" + in_range));  // the filter narrowed it
    const Json none = server.get_json("/api/analytics/range?from=" + from + "&to=" + to + "&category=no-such");
    CHECK(none.u64("/total_events") == 0);
    CHECK(none.u64("/active_users") == 0);
    CHECK(server.get("/api/analytics/range?category=1&category=2").status == 400);
  }

  {  // funnel: pv -> cart -> buy and pv -> fav, ordered within the conversion window
    const Json a = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to + "&steps=pv,cart,buy&window=30m");
    INFO(a.text());
    REQUIRE(a.size("/steps") == 3);
    CHECK(a.str("/steps/1/event_type") == "add_to_cart");
    CHECK(a.u64("/steps/0/users") == sql_funnel(sql, {"pv"}, 1800, f, t));
    CHECK(a.u64("/steps/1/users") == sql_funnel(sql, {"pv", "cart"}, 1800, f, t));
    CHECK(a.u64("/steps/2/users") == sql_funnel(sql, {"pv", "cart", "buy"}, 1800, f, t));
    CHECK(a.u64("/steps/2/users") > 0);  // the comparison says something
    const Json b = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to + "&steps=pv,fav&window=5m");
    INFO(b.text());
    CHECK(b.u64("/steps/1/users") == sql_funnel(sql, {"pv", "fav"}, 300, f, t));
    CHECK(b.u64("/steps/1/users") > 0);
    // A shorter window can only lose shoppers, and here it does.
    CHECK(b.u64("/steps/1/users") < sql_funnel(sql, {"pv", "fav"}, 3600, f, t));
    // A step limited to one category: the range's most carted one.
    const std::string cat =
        sql.rows("SELECT category FROM ev" + in_range + " AND behavior = 'cart' GROUP BY category "
                 "ORDER BY COUNT(*) DESC, category LIMIT 1").at(0).at(0);
    const Json e = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to +
                                   "&steps=pv,cart:category=" + cat + ",buy&window=1h");
    INFO(e.text());
    CHECK(e.str("/steps/1/category_id") == cat);
    CHECK(e.u64("/steps/1/users") == sql_funnel(sql, {"pv", "cart/" + cat}, 3600, f, t));
    CHECK(e.u64("/steps/1/users") > 0);
    CHECK(e.u64("/steps/2/users") == sql_funnel(sql, {"pv", "cart/" + cat, "buy"}, 3600, f, t));
    // Default steps are the types the data has: no click step for Taobao.
    const Json d = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to);
    REQUIRE(d.size("/steps") == 3);
    CHECK(d.str("/steps/0/event_type") == "view");
    CHECK(d.str("/steps/1/event_type") == "add_to_cart");
    CHECK(d.str("/steps/2/event_type") == "purchase");
    CHECK(d.u64("/steps/2/users") == sql_funnel(sql, {"pv", "cart", "buy"}, 86400, f, t));
  }

  {  // cohorts: shoppers by the hour they were first seen in the log, returning per hour
    const std::string cf = "2017-11-26T02:00:00Z", ct = "2017-11-26T04:00:00Z";
    const std::int64_t cfs = seconds_of(cf), cts = seconds_of(ct);
    const Json c = server.get_json("/api/analytics/cohorts?period=hour&from=" + cf + "&to=" + ct);
    INFO(c.text());
    REQUIRE(c.size("/cohorts") == 2);
    // First seen is the first event in the whole log, so shoppers of 01:xx
    // who come back at 02:xx are in no cohort here.
    const std::string first = "(SELECT user, MIN(ts) AS f FROM ev GROUP BY user)";
    for (std::size_t p = 0; p < 2; ++p) {
      const std::int64_t start = cfs + static_cast<std::int64_t>(p) * 3600;
      const std::string members = "SELECT user FROM " + first + " WHERE f >= " + std::to_string(start) +
                                  " AND f < " + std::to_string(start + 3600);
      CHECK(c.u64("/cohorts/" + std::to_string(p) + "/users") == sql.count("SELECT COUNT(*) FROM (" + members + ")"));
      for (std::size_t k = 0; p + k < 2; ++k) {
        const std::int64_t at = start + static_cast<std::int64_t>(k) * 3600;
        CHECK(c.u64("/cohorts/" + std::to_string(p) + "/returning/" + std::to_string(k)) ==
              sql.count("SELECT COUNT(DISTINCT user) FROM ev WHERE ts >= " + std::to_string(at) + " AND ts < " +
                        std::to_string(std::min(at + 3600, cts)) + " AND user IN (" + members + ")"));
      }
    }
    CHECK(c.u64("/cohorts/0/returning/1") > 0);
    CHECK(c.u64("/cohorts/0/users") < sql.count("SELECT COUNT(DISTINCT user) FROM ev WHERE ts >= " +
                                                std::to_string(cfs) + " AND ts < " + std::to_string(cfs + 3600)));
  }

  {  // drill-down filters on funnels and cohorts: a shopper's events are filtered first
    const std::string category = sql.rows("SELECT category FROM ev GROUP BY category ORDER BY COUNT(*) DESC, MIN(ord) "
                                          "LIMIT 1")
                                     .at(0)
                                     .at(0);
    // Filtering every event by the category is each step limited to it.
    const Json a = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to +
                                   "&steps=pv,cart&window=1h&category=" + category);
    INFO(a.text());
    CHECK(a.str("/filters/category") == category);
    CHECK(a.u64("/steps/0/users") == sql_funnel(sql, {"pv/" + category}, 3600, f, t));
    CHECK(a.u64("/steps/1/users") == sql_funnel(sql, {"pv/" + category, "cart/" + category}, 3600, f, t));
    CHECK(a.u64("/steps/0/users") > 0);
    CHECK(a.u64("/steps/0/users") < sql_funnel(sql, {"pv"}, 3600, f, t));  // the filter narrowed it
    const Json none = server.get_json("/api/analytics/funnel?from=" + from + "&to=" + to + "&steps=pv,buy&product=no-such");
    CHECK(none.u64("/steps/0/users") == 0);

    // Cohorts: first seen is the shopper's first event of the category in
    // the whole log; returning counts the category's events only.
    const std::string cf = "2017-11-26T02:00:00Z", ct = "2017-11-26T04:00:00Z";
    const std::int64_t cfs = seconds_of(cf), cts = seconds_of(ct);
    const Json c = server.get_json("/api/analytics/cohorts?period=hour&from=" + cf + "&to=" + ct +
                                   "&category=" + category);
    INFO(c.text());
    CHECK(c.str("/filters/category") == category);
    REQUIRE(c.size("/cohorts") == 2);
    const std::string in_category = " category = '" + category + "'";
    const std::string first = "(SELECT user, MIN(ts) AS f FROM ev WHERE" + in_category + " GROUP BY user)";
    std::uint64_t members_seen = 0;
    for (std::size_t p = 0; p < 2; ++p) {
      const std::int64_t start = cfs + static_cast<std::int64_t>(p) * 3600;
      const std::string members = "SELECT user FROM " + first + " WHERE f >= " + std::to_string(start) +
                                  " AND f < " + std::to_string(start + 3600);
      const std::uint64_t n = sql.count("SELECT COUNT(*) FROM (" + members + ")");
      members_seen += n;
      CHECK(c.u64("/cohorts/" + std::to_string(p) + "/users") == n);
      for (std::size_t k = 0; p + k < 2; ++k) {
        const std::int64_t at = start + static_cast<std::int64_t>(k) * 3600;
        CHECK(c.u64("/cohorts/" + std::to_string(p) + "/returning/" + std::to_string(k)) ==
              sql.count("SELECT COUNT(DISTINCT user) FROM ev WHERE ts >= " + std::to_string(at) + " AND ts < " +
                        std::to_string(std::min(at + 3600, cts)) + " AND" + in_category + " AND user IN (" + members +
                        ")"));
      }
    }
    CHECK(members_seen > 0);
    CHECK(server.get("/api/analytics/cohorts?period=hour&category=1&category=2").status == 400);
  }

  {  // wrong input is refused with the parameter named
    CHECK(server.get("/api/analytics/funnel?steps=pv,teleport").status == 400);
    CHECK(server.get("/api/analytics/funnel?window=forever").status == 400);
    CHECK(server.get("/api/analytics/cohorts?period=month").status == 400);
    const auto unknown = server.get("/api/analytics/range?form=2017-11-26");
    CHECK(unknown.status == 400);
    CHECK(Json(unknown.body).str("/field") == "form");
    CHECK(server.get("/api/analytics/range?from=2017-11-26T03:00:00Z&to=2017-11-26T02:00:00Z").status == 400);
    // The API's rules hold here too: epoch seconds are refused with a hint,
    // and durations are minutes, hours or days, equal ones equal.
    const auto seconds = server.get("/api/analytics/range?from=1511658000&to=1511661600");
    CHECK(seconds.status == 400);
    CHECK(Json(seconds.body).str("/field") == "from");
    CHECK(seconds.body.find("epoch seconds") != std::string::npos);
    CHECK(server.get("/api/analytics/funnel?window=90s").status == 400);
    CHECK(server.get("/api/analytics/funnel?window=91d").status == 400);
    const auto hourly = server.get("/api/analytics/range?from=2017-11-26T01:00:00Z&to=2017-11-26T03:00:00Z&step=60m");
    CHECK(hourly.status == 200);
    CHECK(Json(hourly.body).str("/step") == "1h");
  }

  const auto status = server.get_json("/api/system/status");
  CHECK(status.u64("/event_log/last_sequence") == rows);
  // The range worker is a component: indexed (it answered above), nothing
  // logged left for its index to read.
  CHECK(status.str("/components/range_queries/state") == "running");
  CHECK(status.u64("/components/range_queries/backlog") == 0);
}

TEST_CASE("A range needing more reads than range.max_scan_events is refused with 413, not run",
          "[integration][range]") {
  si::TempDir dir;
  const std::string data = (dir.path() / "data").string();
  REQUIRE(si::run_shoppulse({"import", "--format", "taobao", si::taobao_dataset_path().string(), "--data-dir", data, "--set",
                             "eventlog.retention_max_age=0"},
                            si::Millis(120000))
              .exit_code == 0);
  si::ServerProcess server(
      si::ServerOptions{dir.path() / "data", {}, false, {"eventlog.retention_max_age=0", "range.max_scan_events=1000"}});
  server.start();
  si::HttpResponse r;
  REQUIRE(si::poll_until([&] { return (r = server.get("/api/analytics/funnel?from=2017-11-26T01:00:00Z&to=2017-11-26T04:00:00Z")).status != 503; },
                         si::Millis(60000)));
  CHECK(r.status == 413);
  CHECK(Json(r.body).str("/error") == "payload_too_large");
  CHECK(Json(r.body).str("/detail").find("range.max_scan_events") != std::string::npos);
}

namespace {

// Imports the Taobao sample into dir/data without retention, in blocks of at
// most 8192 events, so a retention bound drops some blocks, not all.
void import_for_retention(const si::TempDir& dir) {
  REQUIRE(si::run_shoppulse({"import", "--format", "taobao", si::taobao_dataset_path().string(), "--data-dir",
                             (dir.path() / "data").string(), "--set", "eventlog.retention_max_age=0", "--set",
                             "ingest.max_append_events=8192"},
                            si::Millis(120000))
              .exit_code == 0);
}

}  // namespace

TEST_CASE("A range older than the log's retention is answered from the minute rollups, the rest null with the reason",
          "[integration][range][retention]") {
  const auto csv = si::taobao_dataset_path();
  Sql sql;
  si::load_taobao_table(sql, csv);
  si::TempDir dir;
  import_for_retention(dir);
  // A short retention: about half the log's events go; the rollups (kept by
  // age only) stay.
  si::ServerProcess server(si::ServerOptions{dir.path() / "data",
                                             {},
                                             false,
                                             {"eventlog.retention_max_age=0", "eventlog.retention_max_bytes=1500000",
                                              "eventlog.retention_interval=200ms"}});
  server.start();
  std::uint64_t first = 0, last = 0;
  REQUIRE(si::poll_until([&] {
    const Json status = server.get_json("/api/system/status");
    first = status.u64("/event_log/first_sequence");
    last = status.u64("/event_log/last_sequence");
    return first > 1;
  }));
  REQUIRE(first < last);
  REQUIRE(si::poll_until([&] { return server.get("/api/analytics/range").status == 200; }, si::Millis(60000)));
  // Exact figures start at the minute after the oldest retained event's.
  const si::HttpResponse oldest = server.get("/api/events?limit=1");
  REQUIRE(oldest.status == 200);
  const std::string oldest_time = Json(oldest.body.substr(0, oldest.body.find('\n'))).str("/timestamp");
  const std::int64_t oldest_s = seconds_of(oldest_time.substr(0, 17) + "00Z") + std::stoi(oldest_time.substr(17, 2));
  const std::int64_t exact_s = (oldest_s / 60 + 1) * 60;
  REQUIRE(exact_s > seconds_of("2017-11-26T02:00:00Z"));  // the hour below is wholly before it

  {  // 01:00-02:00, dropped from the log: counts, users and series from the rollups, as SQL counts them
    const std::int64_t f = seconds_of("2017-11-26T01:00:00Z"), t = f + 3600;
    const std::string in_range = " WHERE ts >= " + std::to_string(f) + " AND ts < " + std::to_string(t);
    const Json j = server.get_json("/api/analytics/range?from=2017-11-26T01:00:00Z&to=2017-11-26T02:00:00Z");
    INFO(j.text().substr(0, 1500));
    CHECK(j.str("/retention/current_period") == "rollups");
    CHECK(j.str("/retention/exact_from").substr(0, 19) == si::iso8601(exact_s * 1000).substr(0, 19));
    CHECK(j.u64("/scan/events_in_range") < sql.count("SELECT COUNT(*) FROM ev" + in_range));  // the log lost them
    CHECK(j.u64("/total_events") == sql.count("SELECT COUNT(*) FROM ev" + in_range));
    CHECK(j.u64("/page_views") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'pv'"));
    CHECK(j.u64("/purchases") == sql.count("SELECT COUNT(*) FROM ev" + in_range + " AND behavior = 'buy'"));
    CHECK(j.u64("/active_users") == sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range));
    CHECK(j.u64("/viewers") == sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range + " AND behavior = 'pv'"));
    CHECK(j.u64("/funnel/2/users") ==
          sql.count("SELECT COUNT(DISTINCT user) FROM ev" + in_range + " AND behavior = 'cart'"));
    // The lists too, ranked as the log's answer ranks them (ties: the
    // category logged first).
    const auto top = sql.rows(
        "WITH w AS (SELECT category, COUNT(*) AS c FROM ev" + in_range +
        " GROUP BY category), first AS (SELECT category, MIN(ord) AS o FROM ev GROUP BY category) "
        "SELECT w.category, w.c FROM w JOIN first USING (category) ORDER BY w.c DESC, first.o ASC LIMIT 10");  // the default limit
    REQUIRE(j.size("/popular_categories") == top.size());
    for (std::size_t i = 0; i < top.size(); ++i) {
      CHECK(j.str("/popular_categories/" + std::to_string(i) + "/category_id") == top[i][0]);
      CHECK(j.u64("/popular_categories/" + std::to_string(i) + "/interactions") == std::stoull(top[i][1]));
    }
    const auto top_item = sql.rows("SELECT item, COUNT(*) FROM ev" + in_range +
                                   " GROUP BY item ORDER BY COUNT(*) DESC, MIN(ord) LIMIT 1");
    REQUIRE(top_item.size() == 1);
    CHECK(j.u64("/popular_products/0/interactions") == std::stoull(top_item[0][1]));
    CHECK(j.size("/devices") == 0);  // Taobao rows name no device
    REQUIRE(j.size("/series") == 60);
    CHECK(j.u64("/series/30/page_views") == sql.count("SELECT COUNT(*) FROM ev WHERE ts >= " + std::to_string(f + 1800) +
                                                       " AND ts < " + std::to_string(f + 1860) + " AND behavior = 'pv'"));
    // Drill-down filters: the rollups are not split by them, so null, not zero.
    const Json filtered =
        server.get_json("/api/analytics/range?from=2017-11-26T01:00:00Z&to=2017-11-26T02:00:00Z&category=1");
    CHECK(filtered.str("/retention/current_period") == "unavailable");
    CHECK(filtered.is_null("/page_views"));
    CHECK(filtered.is_null("/active_users"));
    CHECK(filtered.is_null("/series"));
  }
  {  // a range (and its previous period) after exact_from: the log's exact figures, no retention note
    const std::int64_t f = exact_s + 1200, t = f + 1200;
    const Json j = server.get_json("/api/analytics/range?from=" + std::to_string(f * 1000) +
                                   "&to=" + std::to_string(t * 1000));
    INFO(j.text().substr(0, 800));
    CHECK(!j.has("/retention"));
    CHECK(j.u64("/active_users") == sql.count("SELECT COUNT(DISTINCT user) FROM ev WHERE ts >= " + std::to_string(f) +
                                              " AND ts < " + std::to_string(t)));
    CHECK(j.u64("/active_users") > 0);
  }
}

int main(int argc, char** argv) { return si::run_with_taobao_dataset("range_taobao", argc, argv); }

TEST_CASE("A range older than the rollups' retention by age is null with the reason, never zero",
          "[integration][range][retention]") {
  si::TempDir dir;
  import_for_retention(dir);
  // The sample's events run from 01:00:00 to 03:10:11; with an hour of
  // retention behind the newest event the log and the rollups keep about
  // 02:10 on, so 01:00-02:00 (and its previous hour) is held by neither.
  si::ServerProcess server(si::ServerOptions{
      dir.path() / "data", {}, false, {"eventlog.retention_max_age=1h", "eventlog.retention_interval=200ms"}});
  server.start();
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/event_log/first_sequence") > 1; }));
  REQUIRE(si::poll_until([&] { return server.get("/api/analytics/range").status == 200; }, si::Millis(60000)));
  const Json j = server.get_json("/api/analytics/range?from=2017-11-26T01:00:00Z&to=2017-11-26T02:00:00Z");
  INFO(j.text().substr(0, 1500));
  CHECK(j.str("/retention/current_period") == "unavailable");
  CHECK(j.str("/retention/previous_period") == "unavailable");
  CHECK(j.str("/retention/detail").find("eventlog.retention_max_age") != std::string::npos);
  CHECK(j.is_null("/page_views"));
  CHECK(j.is_null("/active_users"));
  CHECK(j.is_null("/popular_categories"));
  CHECK(j.is_null("/series"));
  CHECK(j.is_null("/previous/active_users"));
  CHECK(j.is_null("/funnel/0/users"));
}
