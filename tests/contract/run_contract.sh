#!/bin/sh
# The API against its own contract: schemathesis (PyPI, pinned in
# requirements.txt, installed into a venv under the build dir) generates
# requests from /openapi.json and runs every check against the real binary,
# started with keys required and an admin key.
#
#   run_contract.sh SHOPPULSE_BINARY VENV_DIR [MAX_EXAMPLES]
set -eu
binary=$1
venv=$2
examples=${3:-25}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

key=$("$binary" keys create --scope admin --name contract --data-dir "$work/data" 2>/dev/null)
"$binary" --port 0 --data-dir "$work/data" --generator off --set auth.required=true >"$work/out" 2>"$work/log" &
server=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/^shoppulse listening on http:\/\/[^:]*:\([0-9]*\)$/\1/p' "$work/out")
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/log"; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not start"; cat "$work/log"; exit 1; }

SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all \
  -H "Authorization: Bearer $key" \
  --hypothesis-max-examples "$examples" \
  --hypothesis-derandomize \
  --hypothesis-suppress-health-check all \
  --request-timeout 20000 \
  --workers 2 \
  --no-color
