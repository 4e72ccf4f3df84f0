#!/usr/bin/env python3
"""Peak RSS of a whole `shoppulse import`, read from /proc while it runs.

Usage: import_peak.py BINARY FILE DATA_DIR [--format taobao] [--set KEY=VALUE ...] [--interval 0.2]

DATA_DIR is removed first, so every run imports into an empty data dir. The
process's own VmRSS is sampled (not ru_maxrss, which also counts the forked
children that write checkpoints, each starting with its parent's pages).
Prints the peak, when it came, the wall time and the command's last line,
then the CPU time (user + system) and the minor page faults of each thread
by name, as last read from /proc/PID/task/*/stat before the thread or the
process ended (threads of one name summed; a forked checkpoint writer is a
process apart and not counted).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import by_thread_name, proc_status_kib, thread_cpu  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("file")
    p.add_argument("data_dir")
    p.add_argument("--format", default="taobao")
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--interval", type=float, default=0.2)
    a = p.parse_args()
    shutil.rmtree(a.data_dir, ignore_errors=True)
    cmd = [a.binary, "import", "--format", a.format, a.file, "--data-dir", a.data_dir]
    for s in a.sets:
        cmd += ["--set", s]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak, peak_at = 0, 0.0
    threads = {}
    while proc.poll() is None:
        r = proc_status_kib(proc.pid, "VmRSS")
        if r > peak:
            peak, peak_at = r, time.monotonic() - start
        thread_cpu(proc.pid, threads)
        time.sleep(a.interval)  # a sampling period, not a wait for an event
    wall = time.monotonic() - start
    out = proc.stdout.read().strip().splitlines()
    print(f"peak RSS {peak / 1024:.0f} MiB ({peak * 1024 / 1e9:.3f} GB) at {peak_at:.1f} s; wall {wall:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f}")
    if out:
        print(out[-1])
    ranked = list(by_thread_name(threads).items())
    print("thread CPU (s, up to one sampling period short): " +
          " ".join(f"{n}={c:.2f}" for n, (c, _) in ranked if c >= 0.05))
    print("thread minor page faults (thousands, as last read): " +
          " ".join(f"{n}={f / 1000:.0f}k" for n, (c, f) in ranked if c >= 0.05))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
