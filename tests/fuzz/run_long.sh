#!/usr/bin/env bash
# The long fuzz run: every target for SECONDS (default 600) each, one after
# another, then a table of what each reached.
#   tests/fuzz/run_long.sh [BUILD_DIR] [SECONDS] [TARGET...]
# BUILD_DIR is the fuzz preset's build (default build/fuzz; `make
# build-fuzz` makes it). Corpora grow under BUILD_DIR/tests/fuzz/corpus-long/
# and are kept between runs; crashes are saved under .../artifacts-long/ and
# make the script exit non-zero after the table. Columns: executions,
# executions per second, edges covered (libFuzzer's "cov"), features
# ("ft"), corpus files and bytes at the end, peak RSS.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build/fuzz}
seconds=${2:-600}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(event_parser import_taobao import_rees46 import_ndjson config query api_handler block_codec rollup
           window_checkpoint recommender_checkpoint)
fi
bin=$build/tests/fuzz
logs=$build/tests/fuzz/logs-long
mkdir -p "$logs" "$bin/artifacts-long"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
rows=()
for t in "${targets[@]}"; do
  corpus=$bin/corpus-long/$t
  mkdir -p "$corpus"
  echo "fuzzing $t for $seconds s" >&2
  "$bin/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$bin/artifacts-long/$t-" "$corpus" "$here/$t" >"$logs/$t.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || failed=1
  last=$(grep -a -E '^#[0-9]+.*(DONE|NEW|REDUCE|pulse|INITED)' "$logs/$t.log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logs/$t.log")
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s MiB | %s |' "$t" "$seconds" "${runs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$files" "$bytes" "${rss:-?}" "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($logs/$t.log)")")")
done
echo "| target | s | execs | execs/s | cov | ft | corpus files | corpus bytes | peak RSS | result |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
