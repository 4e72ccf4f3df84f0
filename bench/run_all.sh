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

# The amplified Taobao workload (bench/workloads/amplify_taobao.py) for the
# benchmarks that read BENCH_TAOBAO: written once to a temp file when the
# sample exists (BENCH_TAOBAO_SAMPLE, default ../shared/data/ beside the
# checkout); without it those parts print a skip line.
if [ -z "${BENCH_TAOBAO:-}" ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  sample=${BENCH_TAOBAO_SAMPLE:-$here/../../shared/data/taobao_userbehavior_sample_110k.csv}
  if [ -f "$sample" ] && command -v python3 >/dev/null; then
    BENCH_TAOBAO=$(mktemp --suffix=.csv)
    trap 'rm -f "$BENCH_TAOBAO"' EXIT
    if python3 "$here/workloads/amplify_taobao.py" "$sample" "$BENCH_TAOBAO"; then
      export BENCH_TAOBAO
    else
      unset BENCH_TAOBAO
    fi
  else
    echo "skip: no Taobao sample at $sample; the amplified Taobao parts will say so"
  fi
fi

# Component benchmarks first, then the end-to-end ones.
order=(ring engine recommend import dictionary_keys dictionary_names pipeline rebuild cluster_merge http_ingest http_read ws)
failed=0
ran=0
echo "shoppulse benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for name in "${order[@]}"; do
  exe="$bench_dir/$name/bench_$name"
  [ -x "$exe" ] || [ ! -x "$bench_dir/cluster/bench_$name" ] || exe="$bench_dir/cluster/bench_$name"
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
