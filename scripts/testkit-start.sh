# shellcheck shell=bash
# start_testkit BINARY PREFIX: starts the keyfob-testkit BINARY for as long as this script runs
# (its stdin is a coproc pipe: it exits when that closes), waits up to 60 s for its ready line
# and sets `ready` to it. Installs an EXIT trap that stops it and removes "$log" and
# "$log.testkit", where its stderr goes: set `log` first (log=$(mktemp)). On failure prints
# PREFIX, "the testkit did not start:" and its stderr, and exits 1.
# Sourced by scripts/test.d/20-swift.sh and scripts/bench-ffi-{swift,kotlin}.sh.
# shellcheck disable=SC2154,SC2034 # `log` comes from, and `ready` goes to, the caller
start_testkit() {
  local binary=$1 prefix=$2
  coproc TESTKIT { exec "$binary" --exit-on-stdin-eof 2>>"$log.testkit"; }
  # shellcheck disable=SC2153 # TESTKIT_PID is set by coproc
  testkit_pid=$TESTKIT_PID
  trap 'kill "$testkit_pid" 2>/dev/null || true; rm -f "$log" "$log.testkit"' EXIT
  if ! IFS= read -r -t 60 ready <&"${TESTKIT[0]}"; then
    echo "${prefix}the testkit did not start:" >&2
    cat "$log.testkit" >&2
    exit 1
  fi
}
