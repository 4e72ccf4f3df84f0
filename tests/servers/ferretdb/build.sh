#!/usr/bin/env bash
# Prints the path of the FerretDB test server, building it with Go from the
# module proxy into the user's cache the first time (1-2 minutes).
# Usage: tests/servers/ferretdb/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:^require github.com/FerretDB/FerretDB \(.*\)$:\1:p' "$here/go.mod")"
cache="${SHOPPULSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shoppulse}/ferretdb-$version"
sum="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" 2>/dev/null | sha256sum | cut -c1-16)"
# One at a time: tests that start servers in parallel on a fresh machine
# would otherwise fill the same folder at once and start half of it.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ ! -x "$cache/ferretdb-$sum" ]; then
  command -v go >/dev/null || { echo "build.sh: needs Go >= 1.24" >&2; exit 1; }
  mkdir -p "$cache"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp "$here/go.mod" "$here/main.go" "$work/"
  [ -f "$here/go.sum" ] && cp "$here/go.sum" "$work/"
  (cd "$work" && go mod tidy >&2 && CGO_ENABLED=0 go build -trimpath -o "$cache/ferretdb-$sum.tmp" . >&2)
  mv "$cache/ferretdb-$sum.tmp" "$cache/ferretdb-$sum"
fi
echo "$cache/ferretdb-$sum"
