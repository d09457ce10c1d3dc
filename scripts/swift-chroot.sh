#!/usr/bin/env bash
# Swift 6 on this Debian 12 machine: a Debian 13 (trixie) chroot with Debian's `swiftlang`,
# cached under $KEYFOB_CACHE/trixie.
#
#   scripts/swift-chroot.sh ensure
#       Builds the chroot unless a complete one is cached; prints its path.
#   scripts/swift-chroot.sh run [--bind HOST_DIR:CHROOT_DIR]... [--env NAME]... -- COMMAND...
#       Runs COMMAND in the chroot with /proc, a fresh /tmp and the given directories mounted,
#       in a clean environment plus the named variables of the caller's. Everything is mounted
#       inside a private mount namespace (`unshare -m`): the mounts vanish with the command,
#       even if it is killed.
#
# Safety rules:
# - The chroot is built in a temporary directory next to the cache, stamped when complete and
#   only then renamed into place: a half-built chroot is never used (it lacks the stamp, and a
#   later run removes it).
# - Nothing is deleted while anything is mounted below it (checked in /proc/self/mountinfo),
#   and a chroot in use by `run` (shared lock) is not replaced by `ensure` (exclusive lock).
set -euo pipefail

export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
root="$KEYFOB_CACHE/trixie"
stamp_file=".keyfob-chroot-complete"
# Changing the recipe (suite or packages) changes the stamp, so the chroot is rebuilt.
suite=trixie
packages=(swiftlang libswiftlang libc6-dev libstdc++-14-dev ca-certificates)
recipe="suite=$suite packages=${packages[*]} v1"

die() { echo "swift-chroot: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"

# True when something is mounted at or below $1 in this mount namespace.
has_mounts() {
  local dir
  dir=$(realpath -m "$1")
  # Field 5 of mountinfo is the mount point (spaces escaped as \040; not expected here).
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Removes a directory tree unless something is mounted in it.
remove_tree() {
  if has_mounts "$1"; then
    die "not removing $1: something is mounted in it (see /proc/self/mountinfo)"
  fi
  rm -rf --one-file-system -- "$1"
}

is_complete() {
  [ -f "$root/$stamp_file" ] && [ "$(cat "$root/$stamp_file")" = "$recipe" ]
}

debian_mirror() {
  local m
  m=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
         grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | grep -m1 '/debian/*$' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build() {
  if ! command -v debootstrap >/dev/null; then
    echo "swift-chroot: installing debootstrap" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
  fi
  mkdir -p "$KEYFOB_CACHE"
  # Leftovers of interrupted builds (never stamped, so never used).
  local old
  for old in "$KEYFOB_CACHE"/trixie.build.*; do
    if [ -e "$old" ]; then remove_tree "$old"; fi
  done
  local tmp mirror log="$KEYFOB_CACHE/trixie-build.log"
  tmp=$(mktemp -d "$KEYFOB_CACHE/trixie.build.XXXXXX")
  mirror=$(debian_mirror)
  echo "swift-chroot: building a $suite chroot with ${packages[*]} from $mirror (log: $log)" >&2
  if ! build_into "$tmp" "$mirror" > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    has_mounts "$tmp" || rm -rf --one-file-system -- "$tmp"
    die "building the chroot failed (see $log)"
  fi
  printf '%s' "$recipe" > "$tmp/$stamp_file"
  if [ -e "$root" ]; then
    # Outdated or unstamped: move it aside, then remove it (unless something is mounted in it).
    local aside="$KEYFOB_CACHE/trixie.build.old.$$"
    has_mounts "$root" && die "cannot replace $root: something is mounted in it"
    mv "$root" "$aside"
    remove_tree "$aside"
  fi
  mv "$tmp" "$root"
  echo "swift-chroot: ready: $root" >&2
}

# debootstrap, then the packages, into $1 from mirror $2. (Called in a condition, where
# `set -e` does not apply: every step checks its own status.)
build_into() {
  debootstrap --variant=minbase "$suite" "$1" "$2" || return 1
  cp /etc/resolv.conf "$1/etc/resolv.conf" || return 1
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  unshare -m --propagation private sh -c '
    set -e
    mount -t proc proc "$1/proc"
    chroot "$1" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $2 && apt-get clean"
  ' sh "$1" "${packages[*]}" || return 1
  chroot "$1" sh -c 'command -v swift' >/dev/null || { echo "swift missing after install"; return 1; }
}

# Serialises building against use: `ensure` holds the lock exclusively, `run` shared, so a
# chroot is never replaced under a running command, nor built twice at once.
lock() {
  mkdir -p "$KEYFOB_CACHE"
  exec 9>"$KEYFOB_CACHE/trixie.lock"
  flock "$@" 9
}

ensure() {
  lock --exclusive
  if is_complete; then
    echo "swift-chroot: reusing $root" >&2
  else
    build
  fi
  echo "$root"
}

run() {
  local binds=() envs=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --bind) binds+=("$2"); shift 2 ;;
      --env) envs+=("$2=${!2:-}"); shift 2 ;;
      --) shift; break ;;
      *) die "run: unexpected argument $1 (missing --?)" ;;
    esac
  done
  [ $# -gt 0 ] || die "run: no command"
  lock --shared
  is_complete || die "run: no complete chroot at $root (run: $0 ensure)"
  local spec src dst
  for spec in "${binds[@]}"; do
    src=${spec%%:*}; dst=${spec#*:}
    [ -d "$src" ] || die "run: $src is not a directory"
    case "$dst" in /*) ;; *) die "run: $dst must be an absolute path" ;; esac
    mkdir -p "$root$dst"
  done
  # The inner script gets the chroot and the binds as a counted list, then `NAME=VALUE`
  # assignments and the command for env(1). `--propagation private` (unshare's default,
  # spelled out): no mount made here reaches the host's namespace, and all of them end with
  # the namespace.
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  unshare -m --propagation private sh -c '
    set -e
    root=$1; nbinds=$2; shift 2
    mount -t proc proc "$root/proc"
    mount -t tmpfs tmpfs "$root/tmp"
    while [ "$nbinds" -gt 0 ]; do
      mount --bind "${1%%:*}" "$root${1#*:}"
      shift; nbinds=$((nbinds - 1))
    done
    exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"
' sh "$root" "${#binds[@]}" "${binds[@]}" "${envs[@]}" "$@"
}

case "${1:-}" in
  ensure) ensure ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 ensure | run [--bind HOST:CHROOT]... -- COMMAND..." >&2; exit 2 ;;
esac
