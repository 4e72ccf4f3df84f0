#!/usr/bin/env python3
"""Where one in-order client's batches spend their time on the HTTP path.

Usage:
  batch_stages.py CSV [--events N] [--batch 10000] [--shoppulse build/release/src/app/shoppulse]
                  [--slowest 12] [--no-queries] [--set KEY=VALUE ...]

The client of run_peers.py's incremental mode, with each batch's time split
in three: the POST (parse, intern, append to the log: until the receipt),
the wait for what it posted to be visible (a trends answer with
min_sequence=last_sequence: the windows applied and published), and the two
queries after it (last-hour trends, top-3 viewed; --no-queries leaves them
out). Prints p50/p90/p99/max
of each and of POST + wait (what run_peers.py calls freshness), the slowest
batches by that sum with their split, and the server's own figures from
/metrics: the API request time and each stage of the event path (parse, queue,
append, apply, publish, checkpoint pause, and submission to visible), as
count, mean and the bucket bounds holding p50 and p99. The slowest batches say which stall a tail comes from: a
POST that stalls is the ingest thread (or the dictionary), a wait that
stalls is the window engine (a checkpoint every windows.checkpoint_every_events).

CSV is the amplified Taobao file (bench/workloads/amplify_taobao.py); the
server runs on a fresh data directory with the generator off. Needs only
the standard library.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
import workload as wl  # noqa: E402
sys.path.insert(0, os.path.dirname(HERE))
from server_process import by_thread_name, thread_cpu  # noqa: E402


def summary(xs):
    s = sorted(xs)
    pick = lambda q: s[min(len(s) - 1, int(len(s) * q))] * 1000  # noqa: E731
    return (f"p50 {pick(0.5):7.1f}  p90 {pick(0.9):7.1f}  p99 {pick(0.99):7.1f}  "
            f"max {s[-1] * 1000:7.1f}  mean {statistics.mean(s) * 1000:6.1f} ms")


def histograms(text):
    """name -> (cumulative [(le, count)], sum, count) of the unlabelled histograms in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        if series.endswith("_sum") and "{" not in series:
            out.setdefault(series[:-4], [[], 0.0, 0])[1] = float(value)
        elif series.endswith("_count") and "{" not in series:
            out.setdefault(series[:-6], [[], 0.0, 0])[2] = int(float(value))
        elif "_bucket{le=" in series and series.count("=") == 1:
            name, le = series.split("_bucket{le=")
            out.setdefault(name, [[], 0.0, 0])[0].append((float(le.strip('"}')), int(float(value))))
    return out


def bound_of(buckets, count, q):
    """The upper bound of the bucket that holds quantile q, in ms (inf: beyond the last bound)."""
    for le, cum in buckets:
        if cum >= q * count:
            return le * 1000
    return float("inf")


STAGES = [("ingest_parse", "shoppulse_ingest_parse_seconds"),
          ("ingest_queue", "shoppulse_ingest_queue_seconds"),
          ("ingest_append", "shoppulse_ingest_append_seconds"),
          ("engine_apply", "shoppulse_engine_apply_seconds"),
          ("engine_publish", "shoppulse_engine_publish_seconds"),
          ("checkpoint_pause", "shoppulse_engine_checkpoint_pause_seconds"),
          ("ingest_to_visible", "shoppulse_ingest_to_visible_seconds")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--events", type=int, default=0, help="first N events (0 = all)")
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--shoppulse", default="build/release/src/app/shoppulse")
    p.add_argument("--slowest", type=int, default=12)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-queries", action="store_true",
                   help="skip the two queries after each batch (POST and wait only)")
    a = p.parse_args()
    if not os.path.exists(a.csv):
        print(f"skipped: {a.csv} not found (make it with bench/workloads/amplify_taobao.py)")
        return 0

    cols = wl.read_events(a.csv, a.events)
    bodies = peers.ndjson_bodies(cols, a.batch)
    n = len(cols[0])
    tmp = tempfile.mkdtemp(prefix="batch-stages-")
    sets = [x for kv in a.set for x in ("--set", kv)]
    srv = peers.Server(os.path.abspath(a.shoppulse), os.path.join(tmp, "data"), sets)
    try:
        post, wait, query = [], [], []
        before, after = {}, {}
        thread_cpu(srv.proc.pid, before)
        t0 = time.perf_counter()
        for body in bodies:
            ts = time.perf_counter()
            code, reply = srv.request("POST", "/api/events", body, {"Content-Type": "application/x-ndjson"})
            while code == 503:  # saturated: back off as Retry-After asks
                time.sleep(0.1)
                code, reply = srv.request("POST", "/api/events", body, {"Content-Type": "application/x-ndjson"})
            if code != 200:
                raise RuntimeError(f"POST /api/events: {code} {reply[:300]!r}")
            tp = time.perf_counter()
            receipt = json.loads(reply)
            srv.get_json(f"/api/analytics/trends?min_sequence={receipt['last_sequence']}"
                         f"&incarnation={receipt['incarnation']}&step=1m")
            te = time.perf_counter()
            if not a.no_queries:
                srv.get_json("/api/analytics/trends?step=1m")
                srv.get_json("/api/products/popular?window=1h&event_type=view&limit=3")
            tq = time.perf_counter()
            post.append(tp - ts)
            wait.append(te - tp)
            query.append(tq - te)
        wall = time.perf_counter() - t0
        thread_cpu(srv.proc.pid, after)
        _, metrics = srv.get("/metrics")
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    fresh = [x + y for x, y in zip(post, wait)]
    print(f"workload: first {n} events of {a.csv}, batches of {a.batch}, one in-order client")
    print(f"rate               {n / wall / 1000:.1f} k events/s ({wall:.1f} s)")
    print(f"POST + wait        {summary(fresh)}")
    print(f"POST (logged)      {summary(post)}")
    print(f"wait (visible)     {summary(wait)}")
    if not a.no_queries:
        print(f"queries            {summary(query)}")
    slow = sorted(sorted(range(len(fresh)), key=lambda i: -fresh[i])[:a.slowest])
    print("slowest batches (index: POST / wait ms): " +
          " ".join(f"{i}: {post[i] * 1000:.0f} / {wait[i] * 1000:.0f}" for i in slow))
    for line in metrics.decode().splitlines():
        if line.startswith("shoppulse_http_request_duration_seconds_") and 'route="api"' in line and \
                ("_sum" in line or "_count" in line):
            print("server:", line)
    # The server's threads over the batches (start-up excluded): CPU
    # time and minor page faults per batch, by thread name (the I/O threads
    # and the main thread carry the executable's name).
    start = by_thread_name(before)
    per_batch = {name: ((cpu - start.get(name, [0.0, 0])[0]) / len(bodies) * 1000,
                        (faults - start.get(name, [0.0, 0])[1]) / len(bodies))
                 for name, (cpu, faults) in by_thread_name(after).items()}
    print("server threads per batch (CPU ms / minor faults): " +
          " ".join(f"{name}={cpu:.1f}/{faults:.0f}" for name, (cpu, faults) in per_batch.items() if cpu >= 0.05))
    found = histograms(metrics.decode())
    for label, name in STAGES:
        if name not in found or found[name][2] == 0:
            continue
        buckets, total, count = found[name]
        print(f"server {label:18} n {count:6d}  mean {total / count * 1000:7.2f} ms  "
              f"p50 <= {bound_of(buckets, count, 0.5):g} ms  p99 <= {bound_of(buckets, count, 0.99):g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
