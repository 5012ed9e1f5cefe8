#!/bin/bash
# A real `systemd --user` manager for the integration tests, on a machine where systemd is not PID 1.
#
#   userManager.sh start DIR    start a manager (and its journald) for the sandbox DIR; idempotent
#   userManager.sh stop DIR     stop them by PID, kill leftovers of its units, remove its cgroups
#   userManager.sh env DIR      print the `export …` lines a shell needs to use it (systemctl --user …)
#   userManager.sh vars DIR     the same as plain KEY=VALUE lines (for programs)
#   userManager.sh status DIR   exit 0 when the manager answers
#
# Root only. Two conditions (see the project's systemd notes):
# 1. systemd --user only runs where /run/systemd/system exists (sd_booted()); it is created in a
#    PRIVATE mount namespace (setsid unshare --mount), never on the real /run, where apt would
#    conclude that systemd is PID 1.
# 2. The manager takes the cgroup it starts in as its own. Started from the root cgroup it would move
#    every process of the machine (PID 1 included) into /init.scope. So the launcher moves itself into
#    a cgroup of its own, checks that the move took, and only then execs systemd.
# Each DIR gets its own cgroups (…/user-0.slice/gpumod-ID.slice/user@0.service, ID from DIR), so
# concurrent sandboxes do not share one. Services land in …/user@0.service/app.slice/UNIT.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# Machine-wide record of the parent cgroups sandboxes created (on /run: it lives as long as cgroups do).
PARENTS_RECORD=/run/gpumod-sandbox-cgroups
PARENTS_LOCK=/run/gpumod-sandbox-cgroups.lock

die() {
  echo "userManager: $*" >&2
  exit 1
}

first_existing() {
  local f
  for f in "$@"; do [ -x "$f" ] && { echo "$f"; return 0; }; done
  return 1
}

SYSTEMD_BIN=$(first_existing /lib/systemd/systemd /usr/lib/systemd/systemd || true)
JOURNALD_BIN=$(first_existing /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald || true)

# The cgroup hierarchies a process must be moved in: hybrid (cgroup2 at unified/ + name=systemd),
# pure v2, or legacy v1.
cg_roots() {
  if [ -f /sys/fs/cgroup/unified/cgroup.procs ] && [ -f /sys/fs/cgroup/systemd/cgroup.procs ]; then
    echo /sys/fs/cgroup/unified /sys/fs/cgroup/systemd
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo /sys/fs/cgroup
  elif [ -f /sys/fs/cgroup/systemd/cgroup.procs ]; then
    echo /sys/fs/cgroup/systemd
  else
    die "no cgroup hierarchy found under /sys/fs/cgroup"
  fi
}

setup_paths() {
  [ -n "${1:-}" ] || die "usage: $0 start|stop|env|vars|status DIR"
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd -P)
  ID=$(printf '%s' "$DIR" | md5sum | cut -c1-12)
  USER_ID=$(id -u)
  PARENT_CG=user.slice/user-$USER_ID.slice/gpumod-$ID.slice
  MANAGER_CG=$PARENT_CG/user@$USER_ID.service
  JOURNALD_CG=system.slice/gpumod-$ID-journald.service
}

env_vars() {
  printf '%s\n' \
    "XDG_RUNTIME_DIR=$DIR/run" \
    "HOME=$DIR/home" \
    "XDG_CONFIG_HOME=$DIR/home/.config" \
    "XDG_DATA_HOME=$DIR/home/.local/share" \
    "XDG_STATE_HOME=$DIR/home/.local/state" \
    "XDG_CACHE_HOME=$DIR/home/.cache" \
    "DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/run/bus"
}

print_env() {
  local kv
  while IFS= read -r kv; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done < <(env_vars)
}

# Alive and not a zombie (PID 1 here may not reap orphans, and kill -0 succeeds on zombies).
alive() {
  local pid=$1 state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# A PID is ours only if it is alive, runs the expected program and sits in this sandbox's cgroup:
# a recycled PID from a crashed run must never be signalled.
ours() {
  local pid=$1 comm=$2 cg=$3
  alive "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  grep -q -- "$cg" "/proc/$pid/cgroup" 2>/dev/null
}

read_pid() {
  cat "$DIR/$1" 2>/dev/null || true
}

systemctl_ok() {
  local kv
  mapfile -t kv < <(env_vars)
  env "${kv[@]}" systemctl --user show -p Version --value >/dev/null 2>&1
}

running() {
  ours "$(read_pid manager.pid)" systemd "/gpumod-$ID.slice/" && systemctl_ok
}

wait_gone() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do alive "$pid" || return 0; sleep 0.1; done
  ! alive "$pid"
}

# Every PID still in this sandbox's cgroups (units whose processes outlived the manager).
leftover_pids() {
  local r
  for r in $(cg_roots); do
    if [ -d "$r/$PARENT_CG" ]; then find "$r/$PARENT_CG" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
  done | sort -un
}

remove_cgroups() {
  local r d
  for r in $(cg_roots); do
    if [ -d "$r/$PARENT_CG" ]; then find "$r/$PARENT_CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
    if [ -d "$r/$JOURNALD_CG" ]; then rmdir "$r/$JOURNALD_CG" 2>/dev/null || true; fi
  done
  # Parents a gpumod sandbox created (user.slice, user-0.slice, system.slice), deepest first, once
  # empty. They are recorded machine-wide because concurrent sandboxes share them: the last one out
  # removes them. rmdir never removes a cgroup that is still in use.
  (
    flock 9
    [ -f "$PARENTS_RECORD" ] || exit 0
    local keep=()
    while IFS= read -r d; do
      if [ -d "$d" ]; then rmdir "$d" 2>/dev/null || keep+=("$d"); fi
    done < <(sort -ru "$PARENTS_RECORD")
    if [ ${#keep[@]} -eq 0 ]; then rm -f "$PARENTS_RECORD"; else printf '%s\n' "${keep[@]}" >"$PARENTS_RECORD"; fi
  ) 9>>"$PARENTS_LOCK"
  return 0
}

cmd_stop() {
  local mpid jpid pid
  mpid=$(read_pid manager.pid)
  if ours "$mpid" systemd "/gpumod-$ID.slice/"; then
    # A user manager answers TERM by starting exit.target: it stops its units, then exits.
    kill -TERM "$mpid" 2>/dev/null || true
    wait_gone "$mpid" 150 || { echo "userManager: manager $mpid ignored TERM, killing" >&2; kill -KILL "$mpid" 2>/dev/null || true; wait_gone "$mpid" 30 || true; }
  fi
  for pid in $(leftover_pids); do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  jpid=$(read_pid journald.pid)
  if ours "$jpid" systemd-journal "/$JOURNALD_CG"; then
    kill -TERM "$jpid" 2>/dev/null || true
    wait_gone "$jpid" 50 || { kill -KILL "$jpid" 2>/dev/null || true; wait_gone "$jpid" 30 || true; }
  fi
  sleep 0.1 # let the kernel drop the exited tasks from cgroup.procs
  remove_cgroups
  rm -f "$DIR/manager.pid" "$DIR/journald.pid"
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "must run as root (it moves processes between cgroups)"
  [ -n "$SYSTEMD_BIN" ] && [ -n "$JOURNALD_BIN" ] || die "systemd and systemd-journald binaries not found"
  if running; then
    echo "userManager: already running (PID $(read_pid manager.pid))" >&2
    return 0
  fi
  cmd_stop # the remains of a crashed run, if any
  mkdir -p -m 700 "$DIR/run"
  chmod 700 "$DIR/run"
  mkdir -p "$DIR/home/.config/systemd/user" "$DIR/home/.local/share" "$DIR/home/.local/state" "$DIR/home/.cache"
  local r d
  (
    flock 9
    for r in $(cg_roots); do
      for d in user.slice user.slice/user-$USER_ID.slice system.slice; do
        [ -d "$r/$d" ] || echo "$r/$d" >>"$PARENTS_RECORD"
      done
    done
  ) 9>>"$PARENTS_LOCK"
  local t0=$SECONDS kv outer_ns
  mapfile -t kv < <(env_vars)
  outer_ns=$(readlink /proc/self/ns/mnt) || die "cannot read this shell's mount namespace"
  [ -n "$outer_ns" ] || die "cannot read this shell's mount namespace"
  (
    cd /
    exec env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" LANG=C.UTF-8 "${kv[@]}" \
      GPUMOD_SANDBOX_OUTER_NS="$outer_ns" \
      setsid unshare --mount --propagation private "$SELF" _launch "$DIR" >"$DIR/manager.log" 2>&1 </dev/null
  ) &
  local i
  for ((i = 0; i < 100; i++)); do
    if systemctl_ok; then
      # Belt and braces: the sd_booted() marker must exist only inside the manager's namespace.
      if [ -e /run/systemd/system ]; then
        cmd_stop
        die "/run/systemd/system appeared outside the sandbox's mount namespace; stopped the manager"
      fi
      echo "userManager: manager PID $(read_pid manager.pid) ready ($((SECONDS - t0)) s), journald PID $(read_pid journald.pid)" >&2
      return 0
    fi
    sleep 0.1
  done
  echo "userManager: the manager did not answer within 10 s; manager.log:" >&2
  tail -n 20 "$DIR/manager.log" >&2 || true
  cmd_stop
  exit 1
}

# Runs inside `setsid unshare --mount --propagation private`, with the sandbox variables set.
cmd_launch() {
  # Refuse unless this is a new mount namespace (not the launching shell's) in which no mount
  # propagates: the tmpfs mounts below must never reach the real /run. Compared with the parent's
  # namespace and the one the launcher passed (PID 1's may be unreadable); anything unreadable refuses.
  local own parent outer=${GPUMOD_SANDBOX_OUTER_NS:-}
  own=$(readlink /proc/self/ns/mnt || true)
  parent=$(readlink "/proc/$PPID/ns/mnt" || true)
  [ -n "$outer" ] && [ -n "$own" ] && [ -n "$parent" ] && [ "$own" != "$outer" ] && [ "$own" != "$parent" ] ||
    die "_launch must run in a new private mount namespace (started by 'start')"
  ! grep -q ' shared:' /proc/self/mountinfo || die "_launch: mounts still propagate (shared); refusing"
  local r
  # /run/systemd and /run/log exist on most systems; created empty if not (harmless without system/).
  mkdir -p /run/systemd /run/log
  mount -t tmpfs -o mode=755 tmpfs /run/systemd
  mount -t tmpfs -o mode=755 tmpfs /run/log
  mkdir -p /run/systemd/system /run/systemd/journal
  # journald then writes straight to /var/log/journal, where journalctl outside this namespace reads.
  touch /run/systemd/journal/flushed
  # Only the sandbox's own messages: no copy of the kernel ring buffer, no syslog or wall forwarding.
  mkdir -p /run/systemd/journald.conf.d
  printf '[Journal]\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\n' >/run/systemd/journald.conf.d/gpumod-sandbox.conf
  for r in $(cg_roots); do mkdir -p "$r/$JOURNALD_CG"; echo $$ >"$r/$JOURNALD_CG/cgroup.procs"; done
  "$JOURNALD_BIN" >"$DIR/journald.log" 2>&1 &
  echo $! >"$DIR/journald.pid"
  for ((r = 0; r < 50; r++)); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.1; done
  for r in $(cg_roots); do mkdir -p "$r/$MANAGER_CG"; echo $$ >"$r/$MANAGER_CG/cgroup.procs"; done
  # Never exec the manager unless every hierarchy shows us in our own cgroup (see condition 2).
  local line
  while IFS= read -r line; do
    case "$line" in
      *:name=systemd:* | 0::*) [[ "$line" == *"/$MANAGER_CG" ]] || die "cgroup move failed ($line); not starting systemd" ;;
    esac
  done <"/proc/$$/cgroup"
  echo $$ >"$DIR/manager.pid"
  exec "$SYSTEMD_BIN" --user --log-level=info
}

case "${1:-}" in
  start) setup_paths "${2:-}"; cmd_start ;;
  stop) setup_paths "${2:-}"; cmd_stop ;;
  env) setup_paths "${2:-}"; print_env ;;
  vars) setup_paths "${2:-}"; env_vars ;;
  status) setup_paths "${2:-}"; running ;;
  _launch) setup_paths "${2:-}"; cmd_launch ;;
  *) die "usage: $0 start|stop|env|vars|status DIR" ;;
esac
