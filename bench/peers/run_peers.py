#!/usr/bin/env python3
"""Peer harness: shoppulse against DuckDB, chDB, Redis and Spark on the same events.

Usage:
  run_peers.py CSV [--events N] [--batch 10000] [--peers duckdb,chdb,redis,spark]
               [--modes bulk,incremental] [--spark-events N] [--shoppulse build/release/src/app/shoppulse]
               [--oracle-events 200000] [--set KEY=VALUE ...] [--json OUT]
  run_peers.py CSV --selfcheck      (20k events, answers only: every system against sqlite3)

CSV is the amplified Taobao file (bench/workloads/amplify_taobao.py). The
first time it creates a virtualenv under ~/.cache/shoppulse/peers-venv with
the pinned packages of requirements.txt and re-runs itself inside it.

Every system gets the same first N events in the same order, in each mode,
in its own process (peers.py). Their answers over the final state (see
workload.py) must equal shoppulse's; sqlite3 computes the same answers from
the CSV as an independent check of the harness (on the whole prefix when N
is at most --oracle-events). Prints one table row per system and mode, with
ratios to shoppulse in the same mode, and exits 1 on any mismatch.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.expanduser("~/.cache/shoppulse/peers-venv")
sys.path.insert(0, HERE)
import workload as wl  # noqa: E402


def ensure_venv():
    py = os.path.join(VENV, "bin", "python3")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    stamp = os.path.join(VENV, "requirements.installed")
    req = os.path.join(HERE, "requirements.txt")
    with open(req) as f:
        wanted = f.read()
    if not os.path.exists(stamp) or open(stamp).read() != wanted:
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", req])
        with open(stamp, "w") as f:
            f.write(wanted)
    os.execv(py, [py] + sys.argv)


def ensure_redis():
    if not os.path.exists("/usr/bin/redis-server"):
        if subprocess.call(["apt-get", "install", "-y", "-q", "redis-server"]) != 0:
            subprocess.check_call(["apt-get", "update", "-q"])
            subprocess.check_call(["apt-get", "install", "-y", "-q", "redis-server"])


def machine_limits(binary):
    lines = [f"nproc {os.cpu_count()}"]
    probe, d = None, os.path.dirname(binary)
    for _ in range(4):
        if os.path.exists(os.path.join(d, "bench", "ring", "bench_ring")):
            probe = os.path.join(d, "bench", "ring", "bench_ring")
            break
        d = os.path.dirname(d)
    if probe:
        out = subprocess.run([probe, "--quick"], capture_output=True, text=True).stdout
        lines += [l.strip() for l in out.splitlines() if any(k in l for k in ("memcpy", "simdjson", "RocksDB"))]
    return lines


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0 and abs(v) >= 1000:
        return f"{v / 1000:.1f} k" if v < 1e6 else f"{v / 1e6:.2f} M"
    return f"{v:.{digits}f}"


def ratio(v, ref):
    if v is None or ref in (None, 0):
        return ""
    return f" ({v / ref:.2f}×)"


def table(results):
    cols = [("events_per_s", "events/s", 0), ("events_per_cpu_s", "events/CPU-s", 0),
            ("query_p50_ms", "query p50 ms", 1), ("query_p99_ms", "query p99 ms", 1),
            ("fresh_p50_ms", "fresh p50 ms", 1), ("fresh_p99_ms", "fresh p99 ms", 1),
            ("peak_rss_mb", "peak RSS MiB", 0)]
    head = "| system | mode | events | " + " | ".join(c[1] for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 3)]
    ref = {r["mode"]: r for r in results if r["system"] == "shoppulse"}
    for r in results:
        base = ref.get(r["mode"], {})
        cells = []
        for key, _, d in cols:
            v = r.get(key)
            cells.append(fmt(v, d) + ("" if r["system"] == "shoppulse" else ratio(v, base.get(key))))
        lines.append(f"| {r['system']} | {r['mode']} | {r['events']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparable(want, got):
    """Redis and Spark keep item views in 5-minute buckets, so they answer top-3 only for windows
    ending on a 5-minute boundary: the live hour (ending with the newest minute) is left out for them."""
    return dict(want, top3={k: v for k, v in want["top3"].items() if k in got["top3"]})


def main():
    ensure_venv()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("--events", type=int, default=0, help="prefix of the file (0 = all)")
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--peers", default="duckdb,chdb,redis,spark")
    p.add_argument("--modes", default="bulk,incremental")
    p.add_argument("--spark-events", type=int, default=0,
                   help="Spark Structured Streaming (incremental) gets only this prefix (0 = the same as the others); its answers "
                        "are then checked against sqlite3 on that prefix")
    p.add_argument("--shoppulse", default="build/release/src/app/shoppulse")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                   help="shoppulse configuration for both modes (e.g. windows.publish_interval=10ms)")
    p.add_argument("--oracle-events", type=int, default=200000)
    p.add_argument("--selfcheck", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    if a.selfcheck:
        a.events, a.modes = 20000, "incremental"
    binary = os.path.abspath(a.shoppulse)
    if not os.path.exists(a.csv):
        print(f"skip: workload not found at {a.csv} (make it with bench/workloads/amplify_taobao.py)")
        return 3
    ensure_redis()
    tmp = tempfile.mkdtemp(prefix="peers-run-")
    prefix = os.path.join(tmp, "events.csv")
    wl.write_prefix(a.csv, a.events, prefix)
    n = sum(1 for _ in open(prefix, "rb"))
    print(f"workload: first {n} events of {a.csv}, batch {a.batch}"
          + (f"; shoppulse --set {' --set '.join(a.sets)}" if a.sets else ""))
    limits = machine_limits(binary)
    load0 = os.getloadavg()
    print("machine: " + "; ".join(limits) + f"; load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    systems = ["shoppulse"] + [s for s in a.peers.split(",") if s]
    results, problems = [], []
    oracle = {}

    def oracle_for(count):
        if count not in oracle:
            t = time.perf_counter()
            oracle[count] = wl.sqlite_oracle(prefix, count)[1]
            print(f"  sqlite3 oracle on {count} events: {time.perf_counter() - t:.1f} s", flush=True)
        return oracle[count]

    for mode in a.modes.split(","):
        ref = None
        for system in systems:
            count = n
            if system == "spark" and mode == "incremental" and a.spark_events and a.spark_events < n:
                count = a.spark_events
            out = os.path.join(tmp, f"{system}-{mode}.json")
            t = time.perf_counter()
            cmd = [sys.executable, os.path.join(HERE, "peers.py"), system, mode, prefix, str(count), str(a.batch),
                   out, "--shoppulse", binary]
            for kv in a.sets:
                cmd += ["--set", kv]
            print(f"{system} {mode} ({count} events) ...", flush=True)
            run = subprocess.run(cmd)
            if run.returncode != 0:
                problems.append(f"{system} {mode}: exited {run.returncode}")
                continue
            with open(out) as f:
                r = json.load(f)
            answers = r.pop("answers")
            print(f"  done in {time.perf_counter() - t:.1f} s: {r['events_per_s']:.0f} events/s; {r['note']}",
                  flush=True)
            results.append(r)
            if count == n:
                if system == "shoppulse":
                    ref = answers
                elif ref is not None:
                    want = comparable(ref, answers)
                    problems += wl.compare(f"{system} {mode} vs shoppulse", answers, want)
            if count <= a.oracle_events:
                want = comparable(oracle_for(count), answers)
                problems += wl.compare(f"{system} {mode} vs sqlite3", answers, want)
    shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()
    print()
    print(table(results))
    print()
    print("machine: " + "; ".join(limits))
    print(f"load average: start {load0[0]:.2f}, end {load1[0]:.2f} (1 min)")
    for r in results:
        print(f"{r['system']} {r['mode']}: {r['version']}; {r['note']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "limits": limits, "load": [load0, load1]}, f, indent=1)
    if problems:
        print(f"\n{len(problems)} mismatches:")
        for line in problems[:50]:
            print("  " + line)
        return 1
    print("\nanswers: every system equals shoppulse" +
          (" and the sqlite3 oracle" if n <= a.oracle_events else "") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
