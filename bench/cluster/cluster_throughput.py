#!/usr/bin/env python3
"""Cluster throughput: writes and processing with 1, 2 and 3 nodes on one broker.

Starts the tests' single-node Kafka 4.x broker (bench/cluster/kafka_broker
of the same build: tests/servers/kafka_server.cpp, jars from
tests/servers/kafka/fetch.sh) and, for each workload and each N of --nodes:
creates a fresh events topic of --partitions partitions (and a fresh group),
starts N shoppulse nodes in cluster mode (own temp data dir and port each,
generator off), waits until every node's GET /api/cluster lists N current
members whose partitions are disjoint and cover the topic, then posts the
workload as NDJSON batches of --batch events from --clients client threads,
batch i to node i mod N, and measures:
  - first, one event to each node, applied before the clock starts (a
    node's first POST also waits for its producer to start; that latency
    is printed apart), so the figures below are of the nodes' steady path;
  - writes: acknowledged events/s (a 200 means Kafka acknowledged the whole
    batch) from the first POST to the last 200, and the POST latency p50/p99;
  - processing: from the first POST until the sum over the nodes of
    /api/health `derived_state.applied_sequence` (windows and recommender
    both, on a fresh log = events applied) equals the events posted (plus
    the one first event per node);
  - CPU seconds (utime + stime, children included, from /proc) of the nodes,
    the broker's JVM and this client over that interval ("cores used" =
    their sum / the processing time: how much of the machine the run got),
    each node's peak RSS (VmHWM, start-up included) and the load average
    at the start and the end of the run.
Workloads: `taobao` (the Taobao sample amplified by
bench/workloads/amplify_taobao.py to --events rows; skipped with a `skip:`
line when the sample is absent) and `generated` (100k users, 50k products
with a skewed popularity, 70 % views, event times one ms apart). Every line
and the final Markdown table name the workload. Before the measured runs,
--warmup events of the first workload go through one node on a topic of
their own, unreported, so the broker's JIT is not in the N=1 figures.

All processes share this machine's cores: with 2 cores, more nodes cannot
add CPU; the CPU seconds per million events are what extrapolates.
A benchmark, not a test: nothing is asserted.

Usage: cluster_throughput.py BINARY [--nodes 1,2,3] [--events 500000] [--batch 5000]
         [--clients 3] [--workloads taobao,generated] [--warmup 100000] [--sample CSV] [--broker PATH]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from server_process import start_server  # noqa: E402
from soak.soak import loadavg, pct  # noqa: E402
from restart.restart_readiness import peak_rss_kib  # noqa: E402

TAOBAO_TYPES = {b"pv": "view", b"cart": "add_to_cart", b"fav": "favorite", b"buy": "purchase"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of pid (children waited for included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batches_of(lines, size):
    return [("\n".join(lines[i:i + size]) + "\n").encode() for i in range(0, len(lines), size)]


def taobao_lines(sample, events, tmp):
    """The amplified Taobao sample, `events` rows, as NDJSON lines; None when absent."""
    csv = os.path.join(tmp, "taobao.csv")
    rows = sum(1 for line in open(sample, "rb") if line.strip()) if os.path.isfile(sample) else 0
    copies = max(1, -(-events // rows)) if rows else 1
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "workloads", "amplify_taobao.py"), "--copies",
                        str(copies), "--limit", str(events), sample, csv], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    lines = []
    with open(csv, "rb") as f:
        for line in f:
            user, item, category, behaviour, ts = line.rstrip(b"\n").split(b",")
            lines.append('{"user_id":"%s","event_type":"%s","product_id":"%s","category_id":"%s","timestamp":%d}'
                         % (user.decode(), TAOBAO_TYPES[behaviour], item.decode(), category.decode(),
                            int(ts) * 1000))
    os.remove(csv)
    return lines


def generated_lines(events):
    """100k users, 50k products (Pareto popularity), 500 categories, 1 ms apart, ending now."""
    rnd = random.Random(42)
    t0 = int(time.time() * 1000) - events
    kinds = ["view"] * 70 + ["click"] * 20 + ["add_to_cart"] * 5 + ["favorite"] * 3 + ["purchase"] * 2
    lines = []
    for i in range(events):
        product = int(rnd.paretovariate(1.1)) % 50000
        kind = kinds[rnd.randrange(100)]
        price = ',"price":%d.%02d' % (5 + product % 200, product % 100) if kind == "purchase" else ""
        lines.append('{"user_id":"u%d","event_type":"%s","product_id":"p%d","category_id":"c%d","timestamp":%d%s}'
                     % (rnd.randrange(100000), kind, product, product % 500, t0 + i, price))
    return lines


def get_json(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return r.status, json.loads(body) if body else None
    except (OSError, http.client.HTTPException, ValueError):
        return None, None
    finally:
        conn.close()


class Broker:
    """The kafka_broker helper: one broker for the whole run, topics on demand."""

    def __init__(self, exe, log):
        self.proc = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        self.bootstrap = self.pid = None
        for line in self.proc.stdout:
            key, _, value = line.strip().partition(" ")
            if key == "bootstrap":
                self.bootstrap = value
            elif key == "pid":
                self.pid = int(value)
                break

    def create_topic(self, name, partitions):
        self.proc.stdin.write(f"topic {name} {partitions}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"create topic {name}: {answer or 'no answer'}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def settled(ports, partitions):
    """Every node sees len(ports) current members covering the topic's partitions once, none rebuilding."""
    for port in ports:
        status, c = get_json(port, "/api/cluster")
        if status != 200 or c.get("partitions") != partitions or len(c.get("members", [])) != len(ports):
            return False
        if c.get("rebuilding") or not c.get("assigned"):
            return False
        seen = []
        for m in c["members"]:
            if not m.get("current") or not m.get("partitions"):
                return False
            seen += m["partitions"]
        if sorted(seen) != list(range(partitions)):
            return False
    return True


def applied_sequences(ports, previous=None):
    """Each node's /api/health derived_state.applied_sequence (the previous figure when it does not answer)."""
    out = list(previous or [0] * len(ports))
    for k, port in enumerate(ports):
        status, h = get_json(port, "/api/health")
        if status == 200:
            out[k] = h["derived_state"]["applied_sequence"]
    return out


def post_all(ports, batches, clients, events_per_batch):
    """Posts every batch (batch i to node i mod N) from `clients` threads; retries a refused batch."""
    lock = threading.Lock()
    state = {"next": 0, "acked": 0, "last_ack": 0.0, "errors": 0}
    latencies = []

    def worker():
        conns = {}
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(batches):
                break
            port = ports[i % len(ports)]
            while True:
                conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conns[port] = conn
                t0 = time.monotonic()
                try:
                    conn.request("POST", "/api/events", batches[i], {"Content-Type": "application/x-ndjson"})
                    r = conn.getresponse()
                    body = r.read()
                    status = r.status
                except (OSError, http.client.HTTPException) as e:
                    status, body = None, str(e).encode()
                    conn.close()
                    conns.pop(port, None)
                t1 = time.monotonic()
                if status == 200:
                    accepted = json.loads(body).get("accepted", events_per_batch)
                    with lock:
                        latencies.append(t1 - t0)
                        state["acked"] += accepted
                        state["last_ack"] = max(state["last_ack"], t1)
                    break
                with lock:
                    state["errors"] += 1
                    if state["errors"] <= 3:
                        print(f"  POST to :{port} answered {status}: {body[:200]!r}; retrying", flush=True)
                time.sleep(0.2)
        for conn in conns.values():
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, state, latencies


def run_once(a, broker, workload, lines, batches, n, tmp):
    topic = f"cbench-{workload}-n{n}-{os.getpid()}"
    broker.create_topic(topic, a.partitions)
    nodes = []  # (proc, port, data_dir, log)
    try:
        for k in range(n):
            data = os.path.join(tmp, f"{topic}-node{k + 1}")
            port = free_port()
            cmd = [a.binary, "--data-dir", data, "--port", str(port), "--generator", "off",
                   "--set", "http.host=127.0.0.1", "--set", "cluster.enabled=true",
                   "--set", f"kafka.servers={broker.bootstrap}", "--set", f"cluster.advertise=127.0.0.1:{port}",
                   "--set", f"kafka.topic={topic}", "--set", f"kafka.group=g-{topic}",
                   "--set", f"kafka.dead_letter_topic={topic}.dlq"]
            for s in a.sets:
                cmd += ["--set", s]
            log = open(data + ".log", "w")
            proc, listening = start_server(cmd, log)
            nodes.append((proc, port, data, log))
            if listening is None:
                print(f"  node {k + 1} did not start (exit {proc.wait()}); its log: {data}.log", flush=True)
                return None
        ports = [port for _, port, _, _ in nodes]
        t_settle = time.monotonic()
        while not settled(ports, a.partitions):
            if time.monotonic() - t_settle > 180:
                print(f"  {workload} N={n}: membership did not settle in 180 s", flush=True)
                return None
            time.sleep(0.2)
        settle_s = time.monotonic() - t_settle
        # One event to each node first, applied before the clock starts: a
        # node's first POST also waits for its producer to start, which is
        # not the steady rate (its latency is reported apart).
        primes, first_post_ms = [], []
        for k, port in enumerate(ports):
            event = json.loads(lines[0])
            event["user_id"] = f"prime-{k}"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            t1 = time.monotonic()
            conn.request("POST", "/api/events", json.dumps(event), {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            conn.close()
            first_post_ms.append((time.monotonic() - t1) * 1000)
            if r.status != 200:
                print(f"  {workload} N={n}: the first POST to node {k + 1} answered {r.status}", flush=True)
                return None
            primes.append(event)
        while sum(applied_sequences(ports)) < len(primes):
            time.sleep(0.05)
        total = len(lines)
        pids = [proc.pid for proc, _, _, _ in nodes]
        cpu0 = [cpu_seconds(p) for p in pids]
        broker0 = cpu_seconds(broker.pid)
        client0 = sum(os.times()[:2])
        load0 = loadavg()
        t0 = time.monotonic()
        threads, state, latencies = post_all(ports, batches, a.clients, a.batch)
        applied = [0] * n
        t_done = None
        while t_done is None:
            time.sleep(0.1)
            applied = applied_sequences(ports, applied)
            if sum(applied) >= total + len(primes) and state["acked"] >= total:
                t_done = time.monotonic()
            elif time.monotonic() - t0 > a.timeout:
                print(f"  {workload} N={n}: not processed after {a.timeout} s: applied {applied}, "
                      f"acknowledged {state['acked']} of {total}", flush=True)
                return None
            for proc, _, data, _ in nodes:
                if proc.poll() is not None:
                    print(f"  a node exited with {proc.returncode}; its log: {data}.log", flush=True)
                    return None
        for t in threads:
            t.join()
        cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0)]
        broker_cpu = cpu_seconds(broker.pid) - broker0
        client_cpu = sum(os.times()[:2]) - client0
        write_s = state["last_ack"] - t0
        process_s = t_done - t0
        rss = [peak_rss_kib(p) / 1024 for p in pids]
        statuses = [get_json(port, "/api/system/status")[1] or {} for port in ports]
        ingested = [s.get("throughput", {}).get("events_ingested", 0) for s in statuses]
        clusters = [get_json(port, "/api/cluster")[1] or {} for port in ports]
        rebalances = sum(c.get("rebalances", 0) for c in clusters)
        return {
            "workload": workload, "nodes": n, "events": total, "settle_s": settle_s,
            "write_eps": state["acked"] / write_s, "write_s": write_s,
            "process_eps": total / process_s, "process_s": process_s,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000,
            "post_errors": state["errors"], "node_cpu": cpu, "broker_cpu": broker_cpu, "client_cpu": client_cpu,
            "cores": (sum(cpu) + broker_cpu + client_cpu) / process_s, "first_post_ms": first_post_ms, "rss": rss, "applied": applied, "ingested": ingested, "rebalances": rebalances,
            "load": f"{load0}-{loadavg()}",
        }
    finally:
        for proc, _, _, _ in nodes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _, data, log in nodes:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            if not a.keep:
                shutil.rmtree(data, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary", help="build/<preset>/src/app/shoppulse")
    p.add_argument("--nodes", default="1,2,3", help="cluster sizes to run, comma-separated")
    p.add_argument("--events", type=int, default=500000, help="events posted per run")
    p.add_argument("--batch", type=int, default=5000, help="events per POST")
    p.add_argument("--clients", type=int, default=3, help="client threads posting")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--workloads", default="taobao,generated")
    p.add_argument("--sample", default=os.environ.get("BENCH_TAOBAO_SAMPLE", os.path.join(
        HERE, "..", "..", "..", "shared", "data", "taobao_userbehavior_sample_110k.csv")))
    p.add_argument("--broker", help="the kafka_broker helper (default: bench/cluster/kafka_broker of BINARY's build)")
    p.add_argument("--warmup", type=int, default=100000,
                   help="events of the first workload posted to one node first, not reported (the broker's JIT)")
    p.add_argument("--timeout", type=float, default=300, help="seconds a run may take before it is given up")
    p.add_argument("--keep", action="store_true", help="keep the nodes' data dirs and logs")
    p.add_argument("--set", action="append", default=[], dest="sets", help="KEY=VALUE for every node")
    a = p.parse_args()
    sizes = [int(x) for x in a.nodes.split(",")]
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(a.binary))))
    broker_exe = a.broker or os.path.join(build, "bench", "cluster", "kafka_broker")
    if not os.access(broker_exe, os.X_OK):
        print(f"skip: no Kafka broker helper at {broker_exe} (built with the tests: SHOPPULSE_TESTS=ON)")
        return 3

    tmp = tempfile.mkdtemp(prefix="shoppulse-cluster-bench-")
    workloads = []
    for name in a.workloads.split(","):
        if name == "taobao":
            lines = taobao_lines(a.sample, a.events, tmp)
            if lines is None:
                print(f"skip: workload taobao: no Taobao sample at {a.sample}")
                continue
        elif name == "generated":
            lines = generated_lines(a.events)
        else:
            print(f"unknown workload {name}", file=sys.stderr)
            return 2
        workloads.append((name, lines, batches_of(lines, a.batch)))
    if not workloads:
        shutil.rmtree(tmp, ignore_errors=True)
        return 3
    print(f"cluster throughput: {os.cpu_count()} cpus, load {loadavg()}, nodes {sizes}, {a.events} events per run "
          f"in NDJSON POSTs of {a.batch} from {a.clients} client threads, topic of {a.partitions} partitions; "
          f"workloads {', '.join(f'{w} ({len(l)} events)' for w, l, _ in workloads)}", flush=True)
    broker_log = open(os.path.join(tmp, "broker.log"), "w")
    t_broker = time.monotonic()
    broker = Broker(broker_exe, broker_log)
    results = []
    try:
        if broker.pid is None:
            broker_log.flush()
            print("the Kafka broker did not start:\n" + open(os.path.join(tmp, "broker.log")).read()[-3000:],
                  file=sys.stderr)
            return 1
        print(f"broker {broker.bootstrap} up in {time.monotonic() - t_broker:.1f} s", flush=True)
        if a.warmup and workloads:
            name, lines, _ = workloads[0]
            w = run_once(a, broker, "warmup", lines[:a.warmup], batches_of(lines[:a.warmup], a.batch), 1, tmp)
            if w:
                print(f"warm-up (not reported): {len(lines[:a.warmup])} events of {name} through one node, "
                      f"{w['process_s']:.1f} s", flush=True)
        for name, lines, batches in workloads:
            for n in sizes:
                r = run_once(a, broker, name, lines, batches, n, tmp)
                if r is None:
                    continue
                results.append(r)
                print(f"{name} N={n}: settled in {r['settle_s']:.1f} s; writes {r['write_eps']:,.0f} events/s "
                      f"({r['write_s']:.2f} s, POST p50 {r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms, "
                      f"{r['post_errors']} refused; first POST per node, 1 event, before the clock: "
                      f"{[round(x) for x in r['first_post_ms']]} ms); processed {r['process_eps']:,.0f} events/s "
                      f"({r['process_s']:.2f} s); CPU s nodes {[round(c, 1) for c in r['node_cpu']]} "
                      f"broker {r['broker_cpu']:.1f} client {r['client_cpu']:.1f} ({r['cores']:.2f} cores); peak RSS MiB "
                      f"{[round(x) for x in r['rss']]}; applied per node {r['applied']}, logged {r['ingested']}; "
                      f"rebalances {r['rebalances']}; load {r['load']}", flush=True)
    finally:
        broker.stop()
        broker_log.close()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")

    if results:
        print("\n| workload | nodes | write events/s | processing events/s | POST p50 / p99 ms | "
              "CPU-s per M events: nodes (per node) | broker | client | cores used | peak RSS per node MiB | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            per_m = 1e6 / r["events"]
            nodes_cpu = sum(r["node_cpu"]) * per_m
            each = " / ".join(f"{c * per_m:.1f}" for c in r["node_cpu"])
            print(f"| {r['workload']} | {r['nodes']} | {r['write_eps']:,.0f} | {r['process_eps']:,.0f} | "
                  f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {nodes_cpu:.1f} ({each}) | "
                  f"{r['broker_cpu'] * per_m:.1f} | {r['client_cpu'] * per_m:.1f} | {r['cores']:.2f} | "
                  f"{' / '.join(str(round(x)) for x in r['rss'])} | {r['load']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
