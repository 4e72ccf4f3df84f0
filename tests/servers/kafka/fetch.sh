#!/usr/bin/env bash
# Prints the directory holding the jars of a Kafka broker, fetching them from
# Maven Central into the user's cache the first time (about 45 MB, ~10 s).
# Usage: tests/servers/kafka/fetch.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
cache="${SHOPPULSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shoppulse}/kafka-$version"
# One at a time: tests that start servers in parallel on a fresh machine
# would otherwise fill the same folder at once and start half of it.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ ! -f "$cache/complete" ]; then
  command -v mvn >/dev/null && command -v java >/dev/null || {
    echo "fetch.sh: needs java (17+) and mvn (make deps-test installs them)" >&2; exit 1; }
  rm -rf "$cache.tmp"
  mkdir -p "$cache.tmp"
  mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache.tmp/libs" >&2
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
  touch "$cache/complete"
fi
echo "$cache/libs"
