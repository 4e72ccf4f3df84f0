#!/usr/bin/env python3
"""Range queries over the amplified Taobao workload: how fast the log is read.

Imports the amplified Taobao file (bench/workloads/amplify_taobao.py, COPIES
copies of the sample) into a fresh data dir with `shoppulse import`, starts
the server on it (generator off, loopback, port 0), waits for the range
worker's time index, then asks each query REPEAT times and prints, per
query, the events the answer read, the seconds the read took (best of the
repeats), events read per second and the request's wall time. Ends with the
machine's limits (cores, memory) and the server's RSS.

Usage: range_scan.py [--copies N] [--repeat N] SHOPPULSE_BINARY SAMPLE
Exit status 3 (and a message) when SAMPLE is absent.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from server_process import start_server  # noqa: E402


def get(port, target):
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{target}", timeout=600) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    return status, json.loads(body), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("sample")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not os.path.isfile(args.sample):
        print(f"skip: no Taobao sample at {args.sample}")
        return 3
    tmp = tempfile.mkdtemp(prefix="shoppulse-range-bench-")
    server = None
    try:
        csv = os.path.join(tmp, "taobao.csv")
        subprocess.run([sys.executable, os.path.join(HERE, "..", "workloads", "amplify_taobao.py"), "--copies",
                        str(args.copies), args.sample, csv], check=True)
        data = os.path.join(tmp, "data")
        sets = ["--set", "eventlog.retention_max_age=0", "--set", "range.max_scan_events=100000000"]
        t0 = time.perf_counter()
        subprocess.run([args.binary, "import", "--format", "taobao", csv, "--data-dir", data] + sets, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"import: {time.perf_counter() - t0:.1f} s")
        log = open(os.path.join(tmp, "server.log"), "w")
        server, port = start_server([args.binary, "--data-dir", data, "--generator", "off", "--port", "0"] + sets, log)
        if port is None:
            print("server did not start", file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        while get(port, "/api/analytics/range")[0] == 503:
            time.sleep(0.05)  # polling the server's own readiness, not synchronising a test
        print("load average at start: " + " ".join(open("/proc/loadavg").read().split()[:3]))
        print(f"time index ready {time.perf_counter() - t0:.2f} s after listening")
        status, first, _ = get(port, "/api/analytics/range")
        newest = first["to"]
        queries = [
            ("range, last hour of data (+ previous hour)", "/api/analytics/range"),
            ("range, whole data (+ previous period: same events)", "/api/analytics/range?from=2017-01-01T00:00:00Z&to=" + newest),
            ("funnel pv,cart,buy window 1d, whole data", "/api/analytics/funnel?from=2017-11-20T00:00:00Z&to=" + newest + "&steps=pv,cart,buy&window=1d"),
            ("funnel default steps (two passes), whole data", "/api/analytics/funnel?from=2017-11-20T00:00:00Z&to=" + newest),
            ("cohorts by day, whole data", "/api/analytics/cohorts?period=day&from=2017-11-20T00:00:00Z&to=" + newest),
        ]
        print(f"{args.copies} copies of the sample; server: generator off, range.max_scan_events=100000000")
        print(f"{'query':52} {'read':>10} {'in range':>10} {'read s':>8} {'Mev/s':>7} {'wall s':>7}")
        for name, target in queries:
            best = None
            for _ in range(args.repeat):
                status, body, wall = get(port, target)
                if status != 200:
                    print(f"{name}: {status} {body}")
                    break
                scan = body["scan"]
                if best is None or scan["seconds"] < best[2]:
                    best = (scan["events_read"], scan["events_in_range"], scan["seconds"], wall)
            if best:
                rate = best[0] / best[2] / 1e6 if best[2] > 0 else float("inf")
                print(f"{name:52} {best[0]:>10} {best[1]:>10} {best[2]:>8.3f} {rate:>7.2f} {best[3]:>7.2f}")
        with open(f"/proc/{server.pid}/status") as f:
            rss = next(l for l in f if l.startswith("VmRSS")).split()[1]
        mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]
        load = open("/proc/loadavg").read().split()[:3]
        print(f"machine: {os.cpu_count()} cores, {int(mem) // 1024} MiB, load average {' '.join(load)}; "
              f"server RSS {int(rss) // 1024} MiB")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
