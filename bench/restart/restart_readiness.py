#!/usr/bin/env python3
"""Restart to complete answers: how long a restarted server takes to be ready.

Starts the shoppulse binary on an existing data dir (filled beforehand, e.g.
by `shoppulse import` of the amplified Taobao workload) and measures, from
the spawn: the first /api/health answer, the first answer of each health
status (starting, replaying, healthy), /api/ready turning 200, and the
latency of a user query and a real-time query issued while it is not yet
ready. Prints the server's own view at the end (replayed events, restored
checkpoints) and its peak RSS. With --kill the server is killed with
SIGKILL at the end (no shutdown checkpoint), otherwise stopped with SIGTERM.

Usage: restart_readiness.py BINARY DATA_DIR [--user ID] [--set KEY=VALUE ...]
"""
import argparse
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import proc_status_kib, start_server  # noqa: E402


def get(port, path, timeout=60):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def peak_rss_kib(pid):
    return proc_status_kib(pid, "VmHWM")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("data_dir")
    p.add_argument("--user", default="1", help="user id queried during the start-up")
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--kill", action="store_true")
    a = p.parse_args()
    cmd = [a.binary, "--data-dir", a.data_dir, "--port", "0", "--generator", "off", "--set", "http.host=127.0.0.1"]
    for s in a.sets:
        cmd += ["--set", s]
    t0 = time.monotonic()
    log_path = a.data_dir.rstrip("/") + ".restart.log"
    log = open(log_path, "w")
    proc, port = start_server(cmd, log)
    if port is None:
        print("server did not start", file=sys.stderr)
        return 1
    ms = lambda: round((time.monotonic() - t0) * 1000)
    print(f"command: {' '.join(cmd)}")
    print(f"listening after {ms()} ms")
    seen = {}
    probed = False
    while True:
        code, body = get(port, "/api/health")
        status = json.loads(body)["status"]
        seen.setdefault(status, ms())
        ready_code, ready_body = get(port, "/api/ready")
        if ready_code == 200:
            seen.setdefault("ready", ms())
            break
        if not probed:
            probed = True
            for path in (f"/api/analytics/user/{a.user}", "/api/analytics/real-time?window=1h"):
                q0 = time.monotonic()
                qc, qb = get(port, path)
                took = round((time.monotonic() - q0) * 1000)
                complete = json.loads(qb).get("complete") if qc == 200 else None
                print(f"while not ready: GET {path} -> {qc} in {took} ms (complete={complete})")
            print(f"readiness then: {ready_code} {ready_body[:300]}")
        time.sleep(0.02)
    for k, v in seen.items():
        print(f"first '{k}' at {v} ms")
    code, body = get(port, "/api/analytics/real-time?window=1h")
    j = json.loads(body)
    print(f"after ready: real-time complete={j['complete']} applied={j['applied_sequence']} logged={j['logged_sequence']}")
    st = json.loads(get(port, "/api/system/status")[1])
    print("stream_processor:", json.dumps(st["stream_processor"]))
    print("recommender:", json.dumps({k: st["recommender"][k] for k in
                                      ("state", "restored_through", "replayed_events", "applied_through")}))
    print(f"peak RSS {peak_rss_kib(proc.pid) / 1024:.0f} MiB")
    proc.send_signal(signal.SIGKILL if a.kill else signal.SIGTERM)
    proc.wait(timeout=600)
    log.close()
    # The server's own account of the phases (wall-clock stamps of its log).
    with open(log_path) as f:
        for line in f:
            if re.search(r'msg="(storage opened|dictionary loaded|engine restored|recommender restored|shoppulse started)"', line):
                print("log:", line.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
