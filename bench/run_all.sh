#!/usr/bin/env bash
# Runs every benchmark of a build directory, one after the other, printing
# all their output. Usage: bench/run_all.sh <build-dir> [--quick]
# Example: bench/run_all.sh build/release
# Exit status: the number of benchmarks that failed to run (0 = all ran);
# figures are reported, never judged.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 <build-dir> [--quick]" >&2
  exit 2
fi
build_dir=$1
shift
bench_dir="$build_dir/bench"
if [ ! -d "$bench_dir" ]; then
  echo "$0: no $bench_dir (configure with -DSHOPPULSE_BENCH=ON and build first)" >&2
  exit 2
fi

# Component benchmarks first, then the end-to-end ones.
order=(ring engine recommend import pipeline http_ingest http_read ws)
failed=0
ran=0
echo "shoppulse benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for name in "${order[@]}"; do
  exe="$bench_dir/$name/bench_$name"
  if [ ! -x "$exe" ]; then
    echo "!! bench_$name not built ($exe missing)"
    failed=$((failed + 1))
    continue
  fi
  "$exe" "$@"
  status=$?
  ran=$((ran + 1))
  if [ $status -ne 0 ]; then
    echo "!! bench_$name exited with status $status"
    failed=$((failed + 1))
  fi
done
echo "ran $ran benchmarks, $failed failed"
exit $failed
