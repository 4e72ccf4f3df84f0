"""Starts the shoppulse binary on port 0 and reads the port it listens on.

Shared by the Python benchmarks (range/range_scan.py, soak/soak.py,
restart/restart_readiness.py): each runs the real binary with `--port 0`
and learns the port from the one line the server prints on stdout,
"shoppulse listening on http://HOST:PORT". Each script imports it after
putting bench/ on sys.path (they are run as files, not as a package).
proc_status_kib reads a process's memory figures (restart_readiness.py,
import/import_peak.py); thread_cpu and by_thread_name its threads' CPU time
and page faults (import/import_peak.py, peers/batch_stages.py).
"""
import os
import re
import subprocess

_LISTENING = re.compile(r"listening on https?://.*:(\d+)")


def start_server(cmd, stderr):
    """Spawns cmd (which must carry --port 0) with stderr to `stderr`.

    Returns (process, port); port is None when the server closed its stdout
    (exited) before saying where it listens. The caller stops the process.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    for line in proc.stdout:
        m = _LISTENING.search(line)
        if m:
            return proc, int(m.group(1))
    return proc, None


def proc_status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_cpu(pid, seen):
    """Records each live thread's (CPU seconds, minor page faults) in seen[(name, tid)].

    Read from /proc/PID/task/*/stat; a thread that ended keeps its last
    reading. Minor faults are those served without I/O: fresh pages, and
    copies after a fork.
    """
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seen[(name, tid)] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[7]))


def by_thread_name(seen):
    """{name: [CPU seconds, minor faults]} summed over the threads of each name, most CPU first."""
    out = {}
    for (name, _), (cpu, faults) in seen.items():
        total = out.setdefault(name, [0.0, 0])
        total[0] += cpu
        total[1] += faults
    return dict(sorted(out.items(), key=lambda kv: -kv[1][0]))
