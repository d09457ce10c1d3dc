#!/usr/bin/env bash
# The one test command: runs every stage in scripts/test.d in order (or only the stages named
# on the command line, e.g. `scripts/test.sh rust`), on a fresh machine or a warm one.
#
# Each stage installs what it needs, reuses the caches under $KEYFOB_CACHE (default
# /var/cache/keyfob), and writes the number of tests it ran to "$KEYFOB_STAGE_COUNT".
# A stage that fails, or that ran zero tests, fails the whole run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$KEYFOB_CACHE"

stages=()
for f in scripts/test.d/[0-9]*.sh; do
  name=$(basename "$f" .sh); name=${name#*-}
  if [ $# -eq 0 ] || printf '%s\n' "$@" | grep -qx "$name"; then stages+=("$f"); fi
done
[ ${#stages[@]} -gt 0 ] || { echo "test.sh: no stage matches: $*" >&2; exit 2; }

summary=()
total=0
start_all=$SECONDS
for stage in "${stages[@]}"; do
  name=$(basename "$stage" .sh)
  echo "=== stage $name"
  export KEYFOB_STAGE_COUNT; KEYFOB_STAGE_COUNT=$(mktemp)
  start=$SECONDS
  if ! bash "$stage"; then
    echo "=== stage $name FAILED after $((SECONDS - start)) s" >&2
    exit 1
  fi
  count=$(cat "$KEYFOB_STAGE_COUNT" 2>/dev/null || true); rm -f "$KEYFOB_STAGE_COUNT"
  if ! [[ "$count" =~ ^[0-9]+$ ]] || [ "$count" -eq 0 ]; then
    echo "=== stage $name ran no tests: that is a failure" >&2
    exit 1
  fi
  total=$((total + count))
  summary+=("$(printf '%-12s %5d tests %5d s' "$name" "$count" "$((SECONDS - start))")")
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "all stages: $((SECONDS - start_all)) s"
echo "$total passed, 0 failed"
