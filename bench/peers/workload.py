"""The events and the three answers every system in the peer harness computes.

Events come from an amplified Taobao CSV (user,item,category,behavior,seconds;
no header; time never goes back). The answers are taken over the final state
of a run:

1. per-minute counts by event type for the minutes of the last REPORT_MINUTES
   of event time (ending with the newest event's minute);
2. exact distinct users per minute over the same minutes;
3. top-3 viewed (pv) items for 1-hour windows sliding by 5 minutes: windows
   [B - 3600 s, B) for the TOP_WINDOWS newest 5-minute boundaries B at or
   before the end of the newest minute, plus the live window, the hour ending
   with the newest minute. Ties rank the smaller item id first.

Answers are plain dicts with string keys so they survive JSON unchanged.
"""
import os

BEHAVIORS = ("pv", "cart", "fav", "buy")
# The taobao importer maps pv/cart/fav/buy to these shoppulse event types.
SHOPPULSE_TYPE = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}
TRENDS_FIELD = {"pv": "page_views", "cart": "add_to_cart", "fav": "favorites", "buy": "purchases"}
REPORT_MINUTES = 120
TOP_WINDOWS = 24
TOP_K = 3


def read_events(path, limit):
    """Returns (users, items, categories, behaviors, seconds) lists of the first `limit` rows (0 = all)."""
    users, items, cats, behs, secs = [], [], [], [], []
    with open(path, "rb") as f:
        for n, line in enumerate(f):
            if limit and n >= limit:
                break
            u, i, c, b, t = line.rstrip(b"\r\n").split(b",")
            users.append(int(u))
            items.append(int(i))
            cats.append(int(c))
            behs.append(b.decode())
            secs.append(int(t))
    return users, items, cats, behs, secs


def write_prefix(path, limit, out):
    """Copies the first `limit` lines of `path` to `out` (all when 0)."""
    with open(path, "rb") as f, open(out, "wb") as o:
        for n, line in enumerate(f):
            if limit and n >= limit:
                break
            o.write(line)


class Frame:
    """The time ranges the answers cover, fixed by the newest event time."""

    def __init__(self, newest_second):
        self.end = (newest_second // 60 + 1) * 60          # end of the newest minute (exclusive)
        self.first_minute = self.end // 60 - REPORT_MINUTES  # first minute reported
        self.minutes = list(range(self.first_minute, self.end // 60))
        last_boundary = self.end // 300 * 300
        self.window_ends = [last_boundary - 300 * k for k in range(TOP_WINDOWS)]
        self.live_end = self.end

    def hour(self):
        return self.end - 3600, self.end


def rank_top(counts, k=TOP_K):
    """Top-k (item, count) by count descending, item ascending."""
    return [[int(i), int(c)] for i, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:k]]


def empty_answers():
    return {"per_minute": {}, "distinct_users": {}, "top3": {}}


def sqlite_oracle(path, limit):
    """The answers computed by sqlite3 straight from the CSV: validates the harness itself."""
    import sqlite3
    users, items, cats, behs, secs = read_events(path, limit)
    frame = Frame(max(secs))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE ev(user INTEGER, item INTEGER, behavior TEXT, ts INTEGER)")
    db.executemany("INSERT INTO ev VALUES (?,?,?,?)", zip(users, items, behs, secs))
    return frame, answers_from_sql(lambda q: db.execute(q).fetchall(), frame, "ts / 60")


def answers_from_sql(run, frame, minute_expr):
    """The three answers from any SQL engine over a table ev(user, item, behavior, ts)."""
    lo, hi = frame.first_minute * 60, frame.end
    out = empty_answers()
    for m in frame.minutes:
        out["per_minute"][str(m)] = {b: 0 for b in BEHAVIORS}
        out["distinct_users"][str(m)] = 0
    for m, b, c in run(f"SELECT {minute_expr} AS m, behavior, count(*) FROM ev "
                       f"WHERE ts >= {lo} AND ts < {hi} GROUP BY m, behavior"):
        out["per_minute"][str(int(m))][b] = int(c)
    for m, c in run(f"SELECT {minute_expr} AS m, count(DISTINCT user) FROM ev "
                    f"WHERE ts >= {lo} AND ts < {hi} GROUP BY m"):
        out["distinct_users"][str(int(m))] = int(c)
    for end in frame.window_ends + [frame.live_end]:
        rows = run(f"SELECT item, count(*) AS c FROM ev WHERE behavior = 'pv' AND ts >= {end - 3600} "
                   f"AND ts < {end} GROUP BY item ORDER BY c DESC, item ASC LIMIT {TOP_K}")
        out["top3"][str(end)] = [[int(i), int(c)] for i, c in rows]
    return out


def compare(name, got, want):
    """Lists the differences between two answer sets (empty when equal)."""
    problems = []
    for key in ("per_minute", "distinct_users", "top3"):
        g, w = got.get(key, {}), want.get(key, {})
        for k in sorted(set(g) | set(w)):
            if g.get(k) != w.get(k):
                problems.append(f"{name}: {key}[{k}]: got {g.get(k)} want {w.get(k)}")
    return problems


def peak_rss_mb(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid):
    """utime + stime of a process from /proc/<pid>/stat, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds():
    t = os.times()
    return t.user + t.system


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
