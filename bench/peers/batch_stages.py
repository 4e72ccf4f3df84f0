#!/usr/bin/env python3
"""Where one in-order client's batches spend their time on the HTTP path.

Usage:
  batch_stages.py CSV [--events N] [--batch 10000] [--shoppulse build/release/src/app/shoppulse]
                  [--slowest 12] [--set KEY=VALUE ...]

The client of run_peers.py's incremental mode, with each batch's time split
in three: the POST (parse, intern, append to the log: until the receipt),
the wait for what it posted to be visible (a trends answer with
min_sequence=last_sequence: the windows applied and published), and the two
queries after it (last-hour trends, top-3 viewed). Prints p50/p90/p99/max
of each and of POST + wait (what run_peers.py calls freshness), the slowest
batches by that sum with their split, and the server's own request time
from /metrics. The slowest batches say which stall a tail comes from: a
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


def summary(xs):
    s = sorted(xs)
    pick = lambda q: s[min(len(s) - 1, int(len(s) * q))] * 1000  # noqa: E731
    return (f"p50 {pick(0.5):7.1f}  p90 {pick(0.9):7.1f}  p99 {pick(0.99):7.1f}  "
            f"max {s[-1] * 1000:7.1f}  mean {statistics.mean(s) * 1000:6.1f} ms")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--events", type=int, default=0, help="first N events (0 = all)")
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--shoppulse", default="build/release/src/app/shoppulse")
    p.add_argument("--slowest", type=int, default=12)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
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
            srv.get_json("/api/analytics/trends?step=1m")
            srv.get_json("/api/products/popular?window=1h&event_type=view&limit=3")
            tq = time.perf_counter()
            post.append(tp - ts)
            wait.append(te - tp)
            query.append(tq - te)
        wall = time.perf_counter() - t0
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
    print(f"queries            {summary(query)}")
    slow = sorted(sorted(range(len(fresh)), key=lambda i: -fresh[i])[:a.slowest])
    print("slowest batches (index: POST / wait ms): " +
          " ".join(f"{i}: {post[i] * 1000:.0f} / {wait[i] * 1000:.0f}" for i in slow))
    for line in metrics.decode().splitlines():
        if line.startswith("shoppulse_http_request_duration_seconds_") and 'route="api"' in line and \
                ("_sum" in line or "_count" in line):
            print("server:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
