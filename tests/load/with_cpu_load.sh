#!/usr/bin/env bash
# Runs a command while a CPU-heavy job runs beside it, then stops the job:
#   tests/load/with_cpu_load.sh COMMAND...
# The load is one busy process per core (nproc), each compressing random
# bytes, started before the command and killed (by its own pids) when the
# command ends, however it ends. LOAD_SECONDS bounds the load if the command
# outlives it (default 1800). The command's exit code is returned.
set -uo pipefail
load_seconds=${LOAD_SECONDS:-1800}
pids=()
stop_load() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${pids[@]}" 2>/dev/null
}
trap stop_load EXIT
for _ in $(seq "$(nproc)"); do
  timeout "$load_seconds" sh -c 'while :; do head -c 64M /dev/urandom | gzip -1 >/dev/null; done' &
  pids+=($!)
done
echo "cpu load: ${#pids[@]} busy processes (pids ${pids[*]}) for at most ${load_seconds} s"
"$@"
rc=$?
echo "command exited with $rc; stopping the load"
exit $rc
