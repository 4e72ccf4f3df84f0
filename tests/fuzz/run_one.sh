#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: run_one.sh BINARY SECONDS
# WORK_CORPUS SEED_DIR ARTIFACT_PREFIX. New inputs go to WORK_CORPUS; the
# seeds are only read. Prints libFuzzer's final figures; fails on a crash,
# a sanitizer report, a leak or a violated property.
set -euo pipefail
binary=$1 seconds=$2 work=$3 seeds=$4 artifacts=$5
mkdir -p "$work" "$(dirname "$artifacts")"
exec "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
  -max_len=16384 -artifact_prefix="$artifacts" "$work" "$seeds"
