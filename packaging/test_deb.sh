#!/usr/bin/env bash
# Installs the Debian package into a throwaway Debian 12 root made with
# debootstrap and checks what a box running it would see:
#   - apt resolves the package's dependencies inside the root;
#   - the shoppulse user, /var/lib/shoppulse and the conffile exist, the unit
#     is enabled, and `systemd-analyze verify` (the root's own) accepts it;
#   - the unit's ExecStart, run as the shoppulse user in the unit's working
#     directory, reports READY=1 on NOTIFY_SOCKET, answers /api/health and
#     /api/system/status, writes its data dir, and stops cleanly on SIGTERM;
#   - a reinstall keeps an edited /etc/shoppulse/shoppulse.conf;
#   - remove keeps the conffile, the data and the user; purge deletes the
#     conffile and the data and keeps the user.
# systemd cannot run as PID 1 in a chroot, so the unit's sandboxing
# (ProtectSystem=, ReadWritePaths=, NoNewPrivileges= ...), Restart= and the
# journal are not exercised here: only their syntax, by verify.
#
# Usage: packaging/test_deb.sh PACKAGE.deb
# The minbase root is cached as a tarball in $SHOPPULSE_DEBOOTSTRAP_CACHE
# (default ~/.cache/shoppulse); the first run downloads it (a few minutes).
set -euo pipefail

deb=$(realpath "$1")
cache=${SHOPPULSE_DEBOOTSTRAP_CACHE:-$HOME/.cache/shoppulse}
tarball=$cache/debian12-minbase.tar.gz
started=$(date +%s)
step() { echo "[$(( $(date +%s) - started ))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/shoppulse-deb.XXXXXX)
root=$work/root
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid" || true; fi
  local still_mounted=""
  for m in "$root/dev" "$root/proc"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m" || true; fi
    if mountpoint -q "$m"; then still_mounted="$still_mounted $m"; fi
  done
  # Never delete through a mount that is still there (it would reach the host's /dev).
  if [ -z "$still_mounted" ]; then rm -rf --one-file-system "$work"; else echo "left $work:$still_mounted still mounted" >&2; fi
}
trap cleanup EXIT

mkdir -p "$cache" "$root"
if [ ! -s "$tarball" ]; then
  step "debootstrap bookworm (minbase) into the cache"
  debootstrap --variant=minbase bookworm "$work/fresh" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  tar -C "$work/fresh" -czf "$tarball.part" . && mv "$tarball.part" "$tarball"
  rm -rf "$work/fresh"
fi
step "unpack the root"
tar -C "$root" -xzf "$tarball"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

step "apt-get install ./$(basename "$deb") in the root"
cp "$deb" "$root/tmp/shoppulse.deb"
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get update"; }
in_root apt-get install -y -qq /tmp/shoppulse.deb >>"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; fail "install"; }

step "check the installed files"
in_root id shoppulse
[ "$(in_root stat -c '%U:%G %a' /var/lib/shoppulse)" = "shoppulse:shoppulse 750" ] || fail "/var/lib/shoppulse owner/mode"
in_root dpkg-query -W -f='${Conffiles}\n' shoppulse | grep -q '/etc/shoppulse/shoppulse.conf' || fail "conffile not registered"
[ -L "$root/etc/systemd/system/multi-user.target.wants/shoppulse.service" ] || fail "unit not enabled"
in_root shoppulse --version | tee "$work/version"
grep -q '^rocksdb: ' "$work/version" || fail "--version lacks library versions"

step "systemd-analyze verify"
# --man=no: the minimal root has no man-db to resolve Documentation=man:shoppulse(1).
in_root systemd-analyze verify --man=no /lib/systemd/system/shoppulse.service >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
if grep -q 'shoppulse' "$work/verify.log"; then cat "$work/verify.log"; fail "verify warned about the unit"; fi

step "run ExecStart as the shoppulse user"
exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/shoppulse.service")
working_dir=$(sed -n 's/^WorkingDirectory=//p' "$root/lib/systemd/system/shoppulse.service")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$root/run/shoppulse-test" && chmod 0777 "$root/run/shoppulse-test"
notify_log=$work/notify.log
# The listener exits once READY=1 arrives (or after 120 s without it).
python3 - "$root/run/shoppulse-test/notify" "$notify_log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
import os; os.chmod(sys.argv[1], 0o777)
s.settimeout(120)
with open(sys.argv[2], "w") as log:
    try:
        while True:
            msg = s.recv(4096).decode()
            log.write(msg + "\n"); log.flush()
            if "READY=1" in msg.split("\n"):
                break
    except socket.timeout:
        sys.exit(1)
PY
listener=$!
while [ ! -S "$root/run/shoppulse-test/notify" ]; do kill -0 $listener || fail "notify listener"; python3 -c 'import time; time.sleep(0.05)'; done
# API_PORT overrides the config's http.port (8000 may be taken on this machine).
chroot --userspec=shoppulse:shoppulse "$root" env -i PATH=/usr/bin:/bin API_PORT="$port" \
  NOTIFY_SOCKET=/run/shoppulse-test/notify sh -c "cd $working_dir && exec $exec_start" \
  >"$work/server.log" 2>&1 &
server_pid=$!
wait $listener || { cat "$work/server.log"; fail "no READY=1 within 120 s"; }
step "READY=1 received: $(tr '\n' ' ' <"$notify_log")"
python3 - "$port" <<'PY' || { cat "$work/server.log"; fail "HTTP checks"; }
import json, sys, urllib.request
port = sys.argv[1]
def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return r.status, r.read().decode()
status, body = get("/api/health")
assert status == 200 and json.loads(body)["status"] == "healthy", body
status, body = get("/api/system/status")
build = json.loads(body)["build"]
assert build["version"] and build["libraries"]["rocksdb"], build
status, body = get("/metrics")
assert "shoppulse_build_info{" in body
print("health:", json.loads(get("/api/health")[1])["status"], "build:", build["version"], build["git_commit"])
PY
kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not exit 0 on SIGTERM"
server_pid=""
[ -n "$(ls -A "$root/var/lib/shoppulse")" ] || fail "nothing written to /var/lib/shoppulse"
owners=$(find "$root/var/lib/shoppulse" -mindepth 1 ! -user "$(in_root id -u shoppulse)" | wc -l)
[ "$owners" = 0 ] || fail "files in /var/lib/shoppulse not owned by shoppulse"
step "stopped cleanly; data dir written by shoppulse"

step "reinstall keeps an edited conffile"
echo "# edited by the admin" >>"$root/etc/shoppulse/shoppulse.conf"
in_root apt-get install -y -qq --reinstall /tmp/shoppulse.deb >>"$work/apt.log" 2>&1 || fail "reinstall"
grep -q '^# edited by the admin' "$root/etc/shoppulse/shoppulse.conf" || fail "conffile replaced on reinstall"

step "remove"
in_root apt-get remove -y -qq shoppulse >>"$work/apt.log" 2>&1 || fail "remove"
[ ! -e "$root/usr/bin/shoppulse" ] || fail "binary left after remove"
[ -e "$root/etc/shoppulse/shoppulse.conf" ] || fail "conffile gone after remove"
[ -d "$root/var/lib/shoppulse" ] || fail "data gone after remove"
echo "after remove: $(cd "$root" && ls -d etc/shoppulse/* var/lib/shoppulse 2>/dev/null | tr '\n' ' ')"
step "purge"
in_root apt-get purge -y -qq shoppulse >>"$work/apt.log" 2>&1 || fail "purge"
[ ! -e "$root/etc/shoppulse" ] || fail "/etc/shoppulse left after purge: $(ls -A "$root/etc/shoppulse")"
[ ! -e "$root/var/lib/shoppulse" ] || fail "/var/lib/shoppulse left after purge"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/shoppulse.service" ] || fail "enable link left after purge"
in_root id shoppulse >/dev/null || fail "the user should stay"
left=$(cd "$root" && find . -path ./proc -prune -o -path ./dev -prune -o -name '*shoppulse*' -print | grep -v '^./tmp/shoppulse.deb$' | grep -v '^./run/shoppulse-test' || true)
echo "after purge, paths named shoppulse: ${left:-none}; user: $(in_root getent passwd shoppulse)"
step "package test passed"
