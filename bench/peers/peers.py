#!/usr/bin/env python3
"""Runs one system of the peer harness in its own process and writes a JSON result.

Usage: peers.py SYSTEM MODE CSV EVENTS BATCH OUT [--shoppulse BINARY] [--set KEY=VALUE ...]
SYSTEM: shoppulse, duckdb, chdb, redis, spark. MODE: bulk or incremental.

Each run loads the same events in the same order. Incremental: 10k-event
batches (BATCH); after each batch the last hour relative to the newest event
is queried (per-minute counts by type, distinct users per minute, top-3 viewed
items of the hour) and timed; freshness is the time from the batch's send to
the end of the first answer that includes it. Bulk: the whole file at once,
then the answers. The result holds the figures and the final answers (see
workload.py), computed over the final state.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload as wl  # noqa: E402

now = time.perf_counter
# Servers this process started (shoppulse, redis-server): stopped on the way out, even after an error.
STARTED = []


def batches(cols, size):
    n = len(cols[0])
    for s in range(0, n, size):
        yield [c[s:s + size] for c in cols]


def ndjson_bodies(cols, size):
    """The events as POST /api/events NDJSON bodies of `size` events each."""
    return ["".join(
        f'{{"user_id":{u},"event_type":"{wl.SHOPPULSE_TYPE[e]}","product_id":{i},"category_id":{c},'
        f'"timestamp":{t * 1000}}}\n' for u, i, c, e, t in zip(*b)).encode() for b in batches(cols, size)]


def result_base(system, mode, n):
    return {"system": system, "mode": mode, "events": n, "query_ms": [], "fresh_ms": [], "note": ""}


def finish(res, wall, cpu, peak, baseline=0.0):
    res["wall_s"] = wall
    res["cpu_s"] = cpu
    res["events_per_s"] = res["events"] / wall if wall > 0 else 0
    res["events_per_cpu_s"] = res["events"] / cpu if cpu > 0 else 0
    res["peak_rss_mb"] = peak
    res["baseline_rss_mb"] = baseline
    for k in ("query_ms", "fresh_ms"):
        v = res.pop(k)
        res[k[:-3] + "_p50_ms"] = wl.percentile(v, 50) if v else None
        res[k[:-3] + "_p99_ms"] = wl.percentile(v, 99) if v else None
        res[k[:-3] + "_samples"] = len(v)
    return res


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- SQL engines

def hour_queries(lo, hi, minute_expr):
    return [
        f"SELECT {minute_expr} AS m, behavior, count(*) FROM ev WHERE ts >= {lo} AND ts < {hi} GROUP BY m, behavior",
        f"SELECT {minute_expr} AS m, count(DISTINCT user) FROM ev WHERE ts >= {lo} AND ts < {hi} GROUP BY m",
        f"SELECT item, count(*) AS c FROM ev WHERE behavior = 'pv' AND ts >= {lo} AND ts < {hi} "
        f"GROUP BY item ORDER BY c DESC, item ASC LIMIT 3",
    ]


class DuckDbPeer:
    minute_expr = "ts // 60"

    def __init__(self, tmp):
        import duckdb
        self.con = duckdb.connect(os.path.join(tmp, "peer.duckdb"))
        self.version = duckdb.__version__

    def create(self):
        self.con.execute("CREATE TABLE ev(user BIGINT, item BIGINT, category BIGINT, behavior VARCHAR, ts BIGINT)")

    def bulk(self, csv):
        self.con.execute(
            f"CREATE TABLE ev AS SELECT * FROM read_csv('{csv}', header=false, "
            "columns={'user':'BIGINT','item':'BIGINT','category':'BIGINT','behavior':'VARCHAR','ts':'BIGINT'})")

    def prepare(self, cols):
        import pyarrow as pa
        return pa.table({"user": cols[0], "item": cols[1], "category": cols[2], "behavior": cols[3], "ts": cols[4]})

    def insert(self, batch):
        self.con.register("batch_view", batch)
        self.con.execute("INSERT INTO ev SELECT * FROM batch_view")
        self.con.unregister("batch_view")

    def run(self, sql):
        return self.con.execute(sql).fetchall()


class ChDbPeer:
    minute_expr = "intDiv(ts, 60)"

    def __init__(self, tmp):
        import chdb
        from chdb import session
        self.s = session.Session(os.path.join(tmp, "chdb"))
        self.version = chdb.__version__
        self.s.query("CREATE DATABASE IF NOT EXISTS peers")
        self.s.query("USE peers")

    def create(self):
        self.s.query("CREATE TABLE peers.ev(user Int64, item Int64, category Int64, behavior String, ts Int64) "
                     "ENGINE = MergeTree ORDER BY ts")

    def bulk(self, csv):
        self.create()
        self.s.query(f"INSERT INTO peers.ev SELECT * FROM file('{csv}', CSV, "
                     "'user Int64, item Int64, category Int64, behavior String, ts Int64')")

    def prepare(self, cols):
        import pyarrow as pa
        return pa.table({"user": cols[0], "item": cols[1], "category": cols[2], "behavior": cols[3], "ts": cols[4]})

    def insert(self, batch):
        # Python(batch) names this local variable: chDB reads the Arrow table in place.
        self.s.query("INSERT INTO peers.ev SELECT user, item, category, behavior, ts FROM Python(batch)")

    def run(self, sql):
        text = self.s.query(sql.replace(" FROM ev ", " FROM peers.ev "), "TabSeparated").bytes().decode()
        rows = []
        for line in text.splitlines():
            if not line:
                continue
            rows.append([int(x) if x.lstrip("-").isdigit() else x for x in line.split("\t")])
        return rows


def run_sql_peer(system, mode, csv, cols, batch, tmp):
    peer = DuckDbPeer(tmp) if system == "duckdb" else ChDbPeer(tmp)
    n = len(cols[0])
    res = result_base(system, mode, n)
    res["version"] = peer.version
    baseline = wl.rss_mb()
    newest = max(cols[4])
    frame = wl.Frame(newest)
    if mode == "bulk":
        c0, t0 = wl.self_cpu_seconds(), now()
        peer.bulk(csv)
        tq = now()
        answers = wl.answers_from_sql(peer.run, frame, peer.minute_expr)
        wall = now() - t0
        res["query_ms"].append((now() - tq) * 1000)
        res["note"] = "load from CSV + all answers once; query = all answers"
        return finish(res, wall, wl.self_cpu_seconds() - c0, wl.peak_rss_mb(), baseline), answers
    prepared = [peer.prepare(b) for b in batches(cols, batch)]
    peer.create()
    newest_so_far = 0
    c0, t0 = wl.self_cpu_seconds(), now()
    for b, raw in zip(prepared, batches([cols[4]], batch)):
        ts = now()
        peer.insert(b)
        newest_so_far = max(newest_so_far, max(raw[0]))
        lo, hi = wl.Frame(newest_so_far).hour()
        tq = now()
        for q in hour_queries(lo, hi, peer.minute_expr):
            peer.run(q)
        te = now()
        res["query_ms"].append((te - tq) * 1000)
        res["fresh_ms"].append((te - ts) * 1000)
    wall = now() - t0
    cpu = wl.self_cpu_seconds() - c0
    answers = wl.answers_from_sql(peer.run, frame, peer.minute_expr)
    res["note"] = "in-process; CPU and RSS of the whole process (input batches prepared before timing)"
    return finish(res, wall, cpu, wl.peak_rss_mb(), baseline), answers


# ---------------------------------------------------------------- Redis

class RedisPeer:
    """The classic counters: HINCRBY per minute and type, SADD per minute (exact; PFADD would be
    approximate), ZINCRBY per 5-minute bucket of item views, top-3 by ZUNIONSTORE of 12 buckets."""

    def __init__(self, tmp):
        import redis
        self.port = free_port()
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        STARTED.append(self.proc)
        self.r = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                self.r.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        self.version = self.r.info()["redis_version"] + " (redis-py " + redis.__version__ + ")"

    def load(self, cols):
        p = self.r.pipeline(transaction=False)
        for u, i, b, t in zip(cols[0], cols[1], cols[3], cols[4]):
            m = t // 60
            p.hincrby(f"c:{m}", b, 1)
            p.sadd(f"u:{m}", u)
            if b == "pv":
                p.zincrby(f"v:{t // 300}", 1, i)
        p.execute()

    def top(self, end, exact):
        keys = [f"v:{end // 300 - k}" for k in range(1, 13)]
        p = self.r.pipeline(transaction=False)
        p.zunionstore("tmp", keys)
        if not exact:
            p.zrevrange("tmp", 0, 2, withscores=True)
            return p.execute()[1]
        p.zrevrange("tmp", 2, 2, withscores=True)
        third = p.execute()[1]
        floor = third[0][1] if third else 0
        rows = self.r.zrevrangebyscore("tmp", "+inf", floor, withscores=True)
        return wl.rank_top({int(i): int(c) for i, c in rows})

    def hour(self, lo, hi, exact=False):
        p = self.r.pipeline(transaction=False)
        minutes = list(range(lo // 60, hi // 60))
        for m in minutes:
            p.hgetall(f"c:{m}")
            p.scard(f"u:{m}")
        out = p.execute()
        # The hour [lo, hi) is 5-minute aligned only at the window ends; the live hour is
        # answered from the 12 buckets before the one holding hi.
        return out, self.top((hi + 299) // 300 * 300, exact)

    def answers(self, frame):
        out = wl.empty_answers()
        p = self.r.pipeline(transaction=False)
        for m in frame.minutes:
            p.hgetall(f"c:{m}")
            p.scard(f"u:{m}")
        got = p.execute()
        for k, m in enumerate(frame.minutes):
            h = got[2 * k]
            out["per_minute"][str(m)] = {b: int(h.get(b.encode(), 0)) for b in wl.BEHAVIORS}
            out["distinct_users"][str(m)] = int(got[2 * k + 1])
        for end in frame.window_ends:
            out["top3"][str(end)] = self.top(end, True)
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def run_redis(mode, cols, batch, tmp):
    peer = RedisPeer(tmp)
    n = len(cols[0])
    res = result_base("redis", mode, n)
    res["version"] = peer.version
    frame = wl.Frame(max(cols[4]))
    pid = peer.proc.pid
    c0, cc0, t0 = wl.cpu_seconds(pid), wl.self_cpu_seconds(), now()
    if mode == "bulk":
        for b in batches(cols, 100_000):
            peer.load(b)
        res["note"] = "whole file through 100k-command pipelines, then all answers"
    else:
        newest = 0
        for b in batches(cols, batch):
            ts = now()
            peer.load(b)
            newest = max(newest, max(b[4]))
            lo, hi = wl.Frame(newest).hour()
            tq = now()
            peer.hour(lo, hi)
            te = now()
            res["query_ms"].append((te - tq) * 1000)
            res["fresh_ms"].append((te - ts) * 1000)
        res["note"] = "live top-3 from the 12 whole 5-min buckets before the newest one"
    tq = now()
    answers = peer.answers(frame)
    if mode == "bulk":
        res["query_ms"].append((now() - tq) * 1000)
    wall = now() - t0 if mode == "bulk" else None
    if wall is None:
        wall = tq - t0
    cpu = wl.cpu_seconds(pid) - c0
    res["client_cpu_s"] = wl.self_cpu_seconds() - cc0
    res["note"] += f"; CPU and RSS of redis-server only (the Python client used {res['client_cpu_s']:.1f} s more)"
    peak = wl.peak_rss_mb(pid)
    peer.stop()
    return finish(res, wall, cpu, peak), answers


# ---------------------------------------------------------------- Spark

def run_spark(mode, csv, cols, batch, tmp):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # listen on loopback only
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType
    import pyspark
    spark = (SparkSession.builder.master("local[2]").appName("peers")
             .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.streaming.stateStore.providerClass",
                     "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    schema = StructType([StructField("user", LongType()), StructField("item", LongType()),
                         StructField("category", LongType()), StructField("behavior", StringType()),
                         StructField("ts", LongType())])
    n = len(cols[0])
    res = result_base("spark", mode, n)
    res["version"] = pyspark.__version__
    frame = wl.Frame(max(cols[4]))

    def cpu():
        return wl.cpu_seconds(jvm_pid) + wl.self_cpu_seconds()

    if mode == "bulk":
        c0, t0 = cpu(), now()
        spark.read.schema(schema).csv(csv).createOrReplaceTempView("ev")
        spark.sql("CACHE TABLE ev")
        tq = now()
        answers = wl.answers_from_sql(lambda q: spark.sql(q).collect(), frame, "CAST(ts DIV 60 AS BIGINT)")
        wall = now() - t0
        res["query_ms"].append((now() - tq) * 1000)
        res["note"] = "batch Spark SQL: read CSV, cache, all answers; CPU and RSS of the JVM + driver"
        out = finish(res, wall, cpu() - c0, wl.peak_rss_mb(jvm_pid))
        spark.stop()
        return out, answers

    # Structured Streaming: a file source fed one CSV file per batch, three stateful
    # aggregations in update mode into memory sinks; each key's newest row is its count.
    indir = os.path.join(tmp, "in")
    os.makedirs(indir)
    src = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).csv(indir)
    m = (F.col("ts") / 60).cast("long").alias("m")
    q1 = (src.groupBy(m, "behavior").count().writeStream.outputMode("update").format("memory")
          .queryName("s_counts").option("checkpointLocation", os.path.join(tmp, "c1")).start())
    q2 = (src.groupBy(m, "user").count().writeStream.outputMode("update").format("memory")
          .queryName("s_users").option("checkpointLocation", os.path.join(tmp, "c2")).start())
    q3 = (src.where("behavior = 'pv'").groupBy((F.col("ts") / 300).cast("long").alias("b"), "item").count()
          .writeStream.outputMode("update").format("memory").queryName("s_views")
          .option("checkpointLocation", os.path.join(tmp, "c3")).start())
    queries = [q1, q2, q3]
    texts = ["\n".join(f"{u},{i},{c},{b},{t}" for u, i, c, b, t in zip(*bt)) + "\n" for bt in batches(cols, batch)]

    def hour_sql(lo, hi):
        spark.sql(f"SELECT m, behavior, max(count) FROM s_counts WHERE m >= {lo // 60} AND m < {hi // 60} "
                  "GROUP BY m, behavior").collect()
        spark.sql(f"SELECT m, count(DISTINCT user) FROM s_users WHERE m >= {lo // 60} AND m < {hi // 60} "
                  "GROUP BY m").collect()
        spark.sql(f"SELECT item, sum(c) AS c FROM (SELECT b, item, max(count) AS c FROM s_views "
                  f"WHERE b >= {lo // 300} AND b < {hi // 300} GROUP BY b, item) GROUP BY item "
                  "ORDER BY c DESC, item ASC LIMIT 3").collect()

    newest = 0
    c0, t0 = cpu(), now()
    for k, (text, raw) in enumerate(zip(texts, batches([cols[4]], batch))):
        ts = now()
        path = os.path.join(indir, f"b{k:06d}.csv")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        for q in queries:
            q.processAllAvailable()
        newest = max(newest, max(raw[0]))
        lo, hi = wl.Frame(newest).hour()
        tq = now()
        hour_sql(lo, hi)
        te = now()
        res["query_ms"].append((te - tq) * 1000)
        res["fresh_ms"].append((te - ts) * 1000)
    wall = now() - t0
    used = cpu() - c0
    out = wl.empty_answers()
    lo_m = frame.first_minute
    for mm in frame.minutes:
        out["per_minute"][str(mm)] = {b: 0 for b in wl.BEHAVIORS}
        out["distinct_users"][str(mm)] = 0
    for r in spark.sql(f"SELECT m, behavior, max(count) FROM s_counts WHERE m >= {lo_m} GROUP BY m, behavior").collect():
        out["per_minute"][str(r[0])][r[1]] = int(r[2])
    for r in spark.sql(f"SELECT m, count(DISTINCT user) FROM s_users WHERE m >= {lo_m} GROUP BY m").collect():
        out["distinct_users"][str(r[0])] = int(r[1])
    for end in frame.window_ends:
        rows = spark.sql(f"SELECT item, sum(c) AS c FROM (SELECT b, item, max(count) AS c FROM s_views "
                         f"WHERE b >= {(end - 3600) // 300} AND b < {end // 300} GROUP BY b, item) GROUP BY item "
                         "ORDER BY c DESC, item ASC LIMIT 3").collect()
        out["top3"][str(end)] = [[int(r[0]), int(r[1])] for r in rows]
    res["note"] = ("Structured Streaming, file source (one CSV file per batch), 3 stateful aggregations "
                   "in update mode to memory sinks, processAllAvailable per batch; CPU and RSS of the JVM + driver")
    peak = wl.peak_rss_mb(jvm_pid)
    for q in queries:
        q.stop()
    spark.stop()
    return finish(res, wall, used, peak), out


# ---------------------------------------------------------------- shoppulse

class Server:
    def __init__(self, binary, data_dir, sets):
        cmd = [binary, "--data-dir", data_dir, "--port", "0", "--generator", "off",
               "--set", "http.host=127.0.0.1"] + sets
        self.log = open(data_dir.rstrip("/") + ".log", "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        STARTED.append(self.proc)
        self.port = None
        import re
        for line in self.proc.stdout:
            mt = re.search(r"listening on .*:(\d+)", line)
            if mt:
                self.port = int(mt.group(1))
                break
        if self.port is None:
            raise RuntimeError("shoppulse did not start")
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            code, _ = self.get("/api/ready")
            if code == 200:
                break
            time.sleep(0.05)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        return r.status, r.read()

    def get(self, path):
        return self.request("GET", path)

    def get_json(self, path, retries=None):
        """GET returning the JSON body; a 503 (e.g. min_sequence not applied within api.max_wait) is
        asked again, up to 10 times, each counted in `retries` when given."""
        for _ in range(10):
            code, body = self.get(path)
            if code != 503:
                break
            if retries is not None:
                retries.append(path)
        if code != 200:
            raise RuntimeError(f"GET {path}: {code} {body[:200]!r}")
        return json.loads(body)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        self.log.close()


def shoppulse_top(srv, end, suffix=""):
    """Top-3 viewed items of the hour [end - 1 h, end), ties by item id: asks for enough rows to see every tie."""
    limit = 50
    while True:
        d = srv.get_json(f"/api/products/popular?window=1h&end={end * 1000}&event_type=view&limit={limit}{suffix}")
        rows = {int(p["product_id"]): int(p["interactions"]) for p in d["products"]}
        top = wl.rank_top(rows)
        if len(rows) < limit or not top or min(rows.values()) < top[-1][1] or limit >= 1000:
            return top
        limit = min(1000, limit * 4)


def shoppulse_answers(srv, frame):
    out = wl.empty_answers()
    d = srv.get_json(f"/api/analytics/trends?from={frame.first_minute * 60000}&to={frame.end * 1000}&step=1m")
    for p in d["points"]:
        from datetime import datetime
        m = int(datetime.fromisoformat(p["start"].replace("Z", "+00:00")).timestamp()) // 60
        out["per_minute"][str(m)] = {b: int(p[wl.TRENDS_FIELD[b]]) for b in wl.BEHAVIORS}
        out["distinct_users"][str(m)] = int(p["unique_users"])
    for end in frame.window_ends + [frame.live_end]:
        out["top3"][str(end)] = shoppulse_top(srv, end)
    return out


def run_shoppulse(mode, binary, csv, cols, batch, tmp, sets):
    n = len(cols[0])
    res = result_base("shoppulse", mode, n)
    frame = wl.Frame(max(cols[4]))
    data = os.path.join(tmp, "data")
    res["version"] = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    if mode == "bulk":
        t0 = now()
        proc = subprocess.Popen([binary, "import", "--format", "taobao", csv, "--data-dir", data,
                                 "--generator", "off"] + sets, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out_text = proc.stdout.read()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = now() - t0
        if status != 0:
            raise RuntimeError("import failed: " + out_text[-2000:])
        cpu = ru.ru_utime + ru.ru_stime
        peak = ru.ru_maxrss / 1024
        t1 = now()
        srv = Server(binary, data, sets)
        res["restart_to_ready_s"] = now() - t1
        tq = now()
        answers = shoppulse_answers(srv, frame)
        res["query_ms"].append((now() - tq) * 1000)
        res["note"] = ("whole `shoppulse import --format taobao` command; answers from a server started on the "
                       f"data dir afterwards (ready after {res['restart_to_ready_s']:.1f} s)")
        srv.stop()
        return finish(res, wall, cpu, peak), answers
    bodies = ndjson_bodies(cols, batch)
    srv = Server(binary, data, sets)
    pid = srv.proc.pid
    waits, overloaded = [], []
    newest = 0
    c0, t0 = wl.cpu_seconds(pid), now()
    for body, raw in zip(bodies, batches([cols[4]], batch)):
        ts = now()
        code, reply = srv.request("POST", "/api/events", body, {"Content-Type": "application/x-ndjson"})
        while code == 503:  # ingest saturated: the client backs off as Retry-After asks (counted)
            overloaded.append(1)
            time.sleep(0.1)
            code, reply = srv.request("POST", "/api/events", body, {"Content-Type": "application/x-ndjson"})
        if code != 200:
            raise RuntimeError(f"POST /api/events: {code} {reply[:300]!r}")
        posted = json.loads(reply)
        seq, inc = posted["last_sequence"], posted["incarnation"]
        newest = max(newest, max(raw[0]))
        lo, hi = wl.Frame(newest).hour()
        srv.get_json(f"/api/analytics/trends?from={lo * 1000}&to={hi * 1000}&step=1m&min_sequence={seq}&incarnation={inc}",
                     waits)
        te = now()
        srv.get_json(f"/api/analytics/trends?from={lo * 1000}&to={hi * 1000}&step=1m")
        srv.get_json(f"/api/products/popular?window=1h&end={hi * 1000}&event_type=view&limit=3")
        tq = now()
        res["fresh_ms"].append((te - ts) * 1000)
        res["query_ms"].append((tq - te) * 1000)
    wall = now() - t0
    cpu = wl.cpu_seconds(pid) - c0
    # The final answers once everything sent is applied.
    srv.get_json(f"/api/analytics/trends?min_sequence={seq}&incarnation={inc}", waits)
    answers = shoppulse_answers(srv, frame)
    peak = wl.peak_rss_mb(pid)
    res["waits_over_max"] = len(waits)
    res["posts_overloaded"] = len(overloaded)
    res["note"] = (f"{len(waits)} read-your-writes answers were 503 after api.max_wait and asked again, "
                   f"{len(overloaded)} POSTs 503 and sent again after 100 ms; "
                   "NDJSON POST per batch; freshness = POST start to the end of a trends answer with "
                   "min_sequence=last_sequence&incarnation=...; query = a trends (1 h, 1m step) and a popular (1 h, views, "
                   "top 3) answer after that; CPU and RSS of the server process")
    srv.stop()
    return finish(res, wall, cpu, peak), answers


def main():
    args = sys.argv[1:]
    binary = "build/release/src/app/shoppulse"
    sets = []
    while "--set" in args:
        k = args.index("--set")
        sets += ["--set", args[k + 1]]
        del args[k:k + 2]
    if "--shoppulse" in args:
        k = args.index("--shoppulse")
        binary = os.path.abspath(args[k + 1])
        del args[k:k + 2]
    system, mode, csv, events, batch, out = args
    events, batch = int(events), int(batch)
    tmp = tempfile.mkdtemp(prefix=f"peers-{system}-")
    try:
        cols = wl.read_events(csv, events)
        if system in ("duckdb", "chdb"):
            res, answers = run_sql_peer(system, mode, csv, cols, batch, tmp)
        elif system == "redis":
            res, answers = run_redis(mode, cols, batch, tmp)
        elif system == "spark":
            res, answers = run_spark(mode, csv, cols, batch, tmp)
        elif system == "shoppulse":
            res, answers = run_shoppulse(mode, binary, csv, cols, batch, tmp, sets)
        else:
            raise SystemExit(f"unknown system {system}")
        res["answers"] = answers
        with open(out, "w") as f:
            json.dump(res, f)
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
