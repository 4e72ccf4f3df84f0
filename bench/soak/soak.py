#!/usr/bin/env python3
"""Soak: RSS, memory by component and GET p99 of a long run with ever-new ids.

Starts the shoppulse binary on a fresh temporary data dir (generator off)
and, for --minutes, drives at once:
  - ingest: POST /api/events batches at --rate events/s with current
    timestamps; every user id is new after --events-per-user events and
    half of the product ids are new every --events-per-product events, the
    other half drawn from a hot set, so the dictionary grows without end
    unless it is bounded;
  - --ws WebSocket clients on /ws/real-time, read and discarded;
  - a steady read load of --reads GET requests/s over the real-time,
    popular, user and recommendation endpoints (recent users).
Every --sample seconds it prints one line: elapsed minutes, RSS, memory by
component (/api/system/status), interned ids and user profiles in memory
and evicted (/metrics), events ingested and applied, GET p50/p99/max of the
interval, load average. At the end a Markdown table per --summary minutes,
ready for bench/README.md (RSS, memory by component, GET p99 over every GET
of the interval, load average), whether RSS levelled off (last interval's
RSS within 10 % of the one before) and whether it stayed under --rss-bound.

Usage: soak.py BINARY [--minutes 30] [--rate 50000] [--rss-bound 1536] [--set KEY=VALUE ...]
"""
import argparse
import base64
import http.client
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import start_server  # noqa: E402


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Ingest(threading.Thread):
    def __init__(self, port, rate, batch, per_user, per_product, user_pool, product_pool, stop):
        super().__init__(daemon=True)
        self.port, self.rate, self.batch, self.stop = port, rate, batch, stop
        self.per_user, self.per_product, self.user_pool = per_user, per_product, user_pool
        self.product_pool = product_pool
        self.sent = 0
        self.errors = 0
        self.behind_ms = 0

    def user(self, n):
        u = n // self.per_user
        return f"su{u % self.user_pool if self.user_pool else u}"

    def recent_user(self):
        return self.user(max(0, self.sent - random.randint(1, 2000) * self.per_user))

    def body(self):
        parts = []
        base = self.sent
        for i in range(self.batch):
            n = base + i
            user = self.user(n)
            if n & 1:
                p = n // self.per_product
                product = f"sp{p % self.product_pool if self.product_pool else p}"
            else:
                product = f"hot{int(random.paretovariate(1.2)) % 20000}"
            kind = "view" if n % 10 < 7 else ("click" if n % 10 < 9 else "purchase")
            parts.append('{"user_id":"%s","event_type":"%s","product_id":"%s","category_id":"c%d","price":%d.5}'
                         % (user, kind, product, n % 97, 5 + n % 200))
        return ("[" + ",".join(parts) + "]").encode()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        start = time.monotonic()
        while not self.stop.is_set():
            due = start + self.sent / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            else:
                self.behind_ms = int((now - due) * 1000)
            body = self.body()
            try:
                conn.request("POST", "/api/events", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status >= 300:
                    self.errors += 1
                    if r.status == 503:
                        time.sleep(0.1)
                        continue
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            self.sent += self.batch


class WebSockets(threading.Thread):
    """Opens n clients and drains whatever the server pushes."""

    def __init__(self, port, n, stop):
        super().__init__(daemon=True)
        self.port, self.n, self.stop = port, n, stop
        self.open = 0
        self.bytes = 0

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws/real-time HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed during handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise OSError(head.split(b"\r\n", 1)[0].decode())
        s.setblocking(False)
        return s

    # An unsolicited pong (masked, empty) from every client now and then: the
    # server pings a client that sent nothing for a minute and drops it if
    # it does not answer, and this client does not parse the pushes.
    PONG = bytes([0x8A, 0x80]) + os.urandom(4)

    def run(self):
        sel = selectors.DefaultSelector()
        last_pong = time.monotonic()
        for _ in range(self.n):
            try:
                sel.register(self.connect(), selectors.EVENT_READ)
                self.open += 1
            except OSError as e:
                print(f"websocket: {e}", file=sys.stderr)
        while not self.stop.is_set():
            if time.monotonic() - last_pong > 20:
                last_pong = time.monotonic()
                for key in list(sel.get_map().values()):
                    try:
                        key.fileobj.send(self.PONG)
                    except OSError:
                        pass
            for key, _ in sel.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    self.open -= 1
                    continue
                self.bytes += len(data)


class Reads(threading.Thread):
    def __init__(self, port, rate, ingest, stop):
        super().__init__(daemon=True)
        self.port, self.rate, self.ingest, self.stop = port, rate, ingest, stop
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = 0
        self.statuses = {}  # (route, status) -> count of GETs answered >= 500

    def take(self):
        with self.lock:
            out, self.latencies = self.latencies, []
        return out

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        paths = [("real-time", lambda: "/api/analytics/real-time"),
                 ("popular", lambda: "/api/products/popular"),
                 ("user", lambda: f"/api/analytics/user/{self.ingest.recent_user()}"),
                 ("recommendations", lambda: f"/api/products/recommendations/user/{self.ingest.recent_user()}")]
        i = 0
        start = time.monotonic()
        while not self.stop.is_set():
            due = start + i / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            route, make_path = paths[i % len(paths)]
            path = make_path()
            i += 1
            t0 = time.monotonic()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                status = "no answer"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            dt = (time.monotonic() - t0) * 1000
            with self.lock:
                self.latencies.append(dt)
                if status == "no answer" or status >= 500:
                    self.errors += 1
                    # Which route failed: a user or recommendation query of a user not yet applied is a 503 by design.
                    self.statuses[(route, status)] = self.statuses.get((route, status), 0) + 1


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=50000, help="events/s posted")
    p.add_argument("--batch", type=int, default=1000, help="events per POST")
    p.add_argument("--events-per-user", type=int, default=5)
    p.add_argument("--events-per-product", type=int, default=40)
    p.add_argument("--user-pool", type=int, default=0,
                   help="users cycle through this many ids (0: every user id is new)")
    p.add_argument("--product-pool", type=int, default=0,
                   help="the non-hot products cycle through this many ids (0: every one is new)")
    p.add_argument("--ws", type=int, default=200, help="WebSocket clients")
    p.add_argument("--reads", type=float, default=20, help="GET requests/s")
    p.add_argument("--sample", type=float, default=60, help="seconds between samples")
    p.add_argument("--summary", type=float, default=5, help="minutes per row of the final table")
    p.add_argument("--rss-bound", type=float, default=1536, help="MiB the RSS must stay under (reported)")
    p.add_argument("--data-dir", help="default: a new temporary directory, removed at the end")
    p.add_argument("--set", action="append", default=[], dest="sets")
    a = p.parse_args()

    data_dir = a.data_dir or tempfile.mkdtemp(prefix="shoppulse-soak-")
    cmd = [a.binary, "--data-dir", data_dir, "--port", "0", "--generator", "off", "--set", "http.host=127.0.0.1",
           "--set", f"http.ws_max_clients={a.ws + 50}"]
    for s in a.sets:
        cmd += ["--set", s]
    print("command: " + " ".join(cmd), flush=True)
    print(f"workload: {a.rate:g} events/s in POSTs of {a.batch}, a new user every {a.events_per_user} events "
          f"({'all new' if not a.user_pool else f'cycling through {a.user_pool} ids'}), "
          f"a new product every {a.events_per_product} events (half the events"
          f"{'' if not a.product_pool else f', cycling through {a.product_pool} ids'}), {a.ws} WebSocket clients, "
          f"{a.reads:g} GET/s, {a.minutes:g} minutes; cores {os.cpu_count()}", flush=True)
    log = open(data_dir.rstrip("/") + ".soak.log", "w")
    proc, port = start_server(cmd, log)
    if port is None:
        print("server did not start", file=sys.stderr)
        return 1
    stop = threading.Event()
    ingest = Ingest(port, a.rate, a.batch, a.events_per_user, a.events_per_product, a.user_pool, a.product_pool, stop)
    ws = WebSockets(port, a.ws, stop)
    reads = Reads(port, a.reads, ingest, stop)
    for t in (ws, ingest, reads):
        t.start()

    def get(path):
        # A connection per sample: the server closes idle keep-alive ones.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    try:
        return run(a, proc, port, stop, ingest, ws, reads, get, data_dir)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not a.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(a, proc, port, stop, ingest, ws, reads, get, data_dir):
    rows = []
    samples = []  # the GET latencies of each row
    header = ("min", "rss_MiB", "dict_MiB", "windows_MiB", "profiles_MiB", "filter_MiB", "recomm_MiB", "memtab_MiB",
              "cache_MiB", "readers_MiB", "rings_MiB", "alloc_free_MiB", "unattr_MiB", "dict_ids", "profiles", "prof_evict",
              "ingested", "applied", "queued",
              "p50_ms", "p99_ms", "max_ms", "get_err", "post_err", "ws", "behind_ms", "load1", "spilled")
    col = {h: i for i, h in enumerate(header)}
    print(" ".join(f"{h:>11}" for h in header), flush=True)
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    next_sample = t0 + a.sample
    mib = lambda b: round(b / 1048576, 1)
    while True:
        time.sleep(max(0, next_sample - time.monotonic()))
        if proc.poll() is not None:
            print(f"server exited with {proc.returncode}", file=sys.stderr)
            return 1
        s = json.loads(get("/api/system/status"))
        metrics = get("/metrics")
        c = s["memory"]["components"]
        lat = reads.take()
        row = [round((time.monotonic() - t0) / 60, 1), mib(rss_bytes(proc.pid)), mib(c["dictionary"]),
               mib(c["windows"]), mib(c["user_profiles"]), mib(c["filter_buffer"]), mib(c["recommender"]),
               mib(c["rocksdb_memtables"]), mib(c["rocksdb_block_cache"]), mib(c["rocksdb_table_readers"]),
               mib(c.get("event_rings", 0)), mib(c.get("allocator_free", 0)), mib(s["memory"]["unattributed_bytes"]),
               int(metric(metrics, "shoppulse_dictionary_ids")),
               int(metric(metrics, "shoppulse_user_profiles_resident")),
               int(metric(metrics, "shoppulse_user_profiles_evicted")), s["throughput"]["events_ingested"],
               s["throughput"]["events_applied"], s["ingest"]["queued_events"], round(pct(lat, 0.5), 1), round(pct(lat, 0.99), 1),
               round(max(lat) if lat else 0, 1), reads.errors, ingest.errors, ws.open, ingest.behind_ms, loadavg(),
               int(metric(metrics, "shoppulse_window_spilled_minutes"))]
        rows.append(row)
        samples.append(lat)
        print(" ".join(f"{v:>11}" for v in row), flush=True)
        next_sample += a.sample
        if next_sample > end + 1:
            break
    stop.set()
    per = max(1, int(round(a.summary * 60 / a.sample)))
    print(f"\nsummary per {a.summary:g} minutes (memory at the end of the interval, GET p99 over all its GETs)\n")
    print("| minute | RSS MiB | dictionary | windows | user profiles | filter buffer | recommender | "
          "RocksDB memtables + cache + readers | event rings | allocator free | unattributed | interned ids | profiles (evicted) | events ingested | "
          "GET p99 ms | GET max ms | load avg | spilled minutes |")
    print("|" + "---|" * 18)
    for i in range(per - 1, len(rows), per):
        r = rows[i]
        lat = [x for chunk in samples[i - per + 1:i + 1] for x in chunk]
        rocks = round(r[col["memtab_MiB"]] + r[col["cache_MiB"]] + r[col["readers_MiB"]], 1)
        print(f"| {r[0]} | {r[1]} | {r[col['dict_MiB']]} | {r[col['windows_MiB']]} | {r[col['profiles_MiB']]} | "
              f"{r[col['filter_MiB']]} | {r[col['recomm_MiB']]} | {rocks} | {r[col['rings_MiB']]} | {r[col['alloc_free_MiB']]} | {r[col['unattr_MiB']]} | "
              f"{r[col['dict_ids']]} | {r[col['profiles']]} ({r[col['prof_evict']]}) | {r[col['ingested']]} | "
              f"{round(pct(lat, 0.99), 1)} | {round(max(lat) if lat else 0, 1)} | {r[col['load1']]} | {r[col['spilled']]} |")
    print()
    if len(rows) >= 2 * per:
        last, before = rows[-1][1], rows[-1 - per][1]
        flat = abs(last - before) <= 0.1 * before
        print(f"RSS {'levelled off' if flat else 'still changing'}: {before} -> {last} MiB over the last "
              f"{a.summary:g} minutes")
    peak = max(r[1] for r in rows)
    print(f"RSS peak {peak} MiB: {'under' if peak < a.rss_bound else 'OVER'} the bound of {a.rss_bound:g} MiB")
    with reads.lock:
        failed = sorted(reads.statuses.items(), key=lambda kv: str(kv[0]))
    if failed:
        print("GET errors by route and status: " + ", ".join(f"{r} {s}: {n}" for (r, s), n in failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
