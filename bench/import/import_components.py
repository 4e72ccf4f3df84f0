#!/usr/bin/env python3
"""Memory by component at the peak of an import sent to a running server.

Usage: import_components.py BINARY FILE [--chunks 20] [--interval 0.2] [--set KEY=VALUE ...]

Starts BINARY (generator off, an empty temp data dir, the import command's
queue and ring of 65,536 events), sends FILE (Taobao CSV) in CHUNKS
`POST /api/import?format=taobao` requests, and reads `/metrics` every
INTERVAL seconds meanwhile and for 3 s after. Prints the components of
`shoppulse_memory_bytes` at the sample with the largest process RSS and at
the last sample, in MiB; "unattributed" is the RSS the components do not
account for. `shoppulse import` has no HTTP server, so this is how its
peak is taken apart (bench/README.md, "Numeric ids kept as numbers").
"""
import argparse
import http.client
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import peers  # noqa: E402

_GAUGE = re.compile(r'shoppulse_memory_bytes\{component="(\w+)"\} ([0-9.e+]+)')


def line(label, at, d):
    known = sum(v for k, v in d.items() if k != "process_rss")
    parts = " ".join(f"{k}={v:.0f}" for k, v in sorted(d.items(), key=lambda x: -x[1]))
    return f"{label} {at:.1f} s: {parts} unattributed={d.get('process_rss', 0) - known:.0f} (MiB)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("file")
    p.add_argument("--chunks", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--set", action="append", default=[], dest="sets")
    a = p.parse_args()
    if not os.path.exists(a.file):
        print(f"skipped: {a.file} not found (make it with bench/workloads/amplify_taobao.py)")
        return 0
    tmp = tempfile.mkdtemp(prefix="import-components-")
    sets = ["--set", "ingest.queue_capacity_events=65536", "--set", "ingest.ring_capacity=65536"]
    for s in a.sets:
        sets += ["--set", s]
    srv = peers.Server(os.path.abspath(a.binary), os.path.join(tmp, "data"), sets)
    samples, stop = [], threading.Event()

    def sample():
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        while not stop.is_set():
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
            samples.append((time.monotonic(), {m.group(1): float(m.group(2)) / 2**20 for m in _GAUGE.finditer(body)}))
            stop.wait(a.interval)

    try:
        with open(a.file, "rb") as f:
            lines = f.read().split(b"\n")
        n = len(lines)
        sampler = threading.Thread(target=sample)
        t0 = time.monotonic()
        sampler.start()
        for i in range(a.chunks):
            chunk = b"\n".join(lines[i * n // a.chunks:(i + 1) * n // a.chunks]) + b"\n"
            code, reply = srv.request("POST", "/api/import?format=taobao", chunk, {"Content-Type": "text/csv"})
            if code != 200:
                raise RuntimeError(f"POST /api/import: {code} {reply[:300]!r}")
        time.sleep(3)  # the samples after the last chunk, not a synchronisation
        stop.set()
        sampler.join()
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    peak = max(samples, key=lambda s: s[1].get("process_rss", 0))
    print(f"workload: {a.file} in {a.chunks} POST /api/import chunks, /metrics every {a.interval} s")
    print(line("peak", peak[0] - t0, peak[1]))
    print(line("end ", samples[-1][0] - t0, samples[-1][1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
