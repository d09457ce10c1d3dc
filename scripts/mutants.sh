#!/usr/bin/env bash
# Mutation testing of the core's input checks with cargo-mutants (crates.io): every mutant is a
# small bug put into one function (a condition inverted, a return value replaced, …), and the
# core's tests run against it. A mutant the tests do not notice ("missed") is a check they do not
# pin down. One build and test run per mutant: far too long for scripts/test.sh, so it is run by
# hand (about an hour for the default files on a 2-core machine, see "Speed" below).
#
#   scripts/mutants.sh                          the default input-checking modules
#   scripts/mutants.sh core/src/oidc/pkce.rs …  the given files of the core
#   scripts/mutants.sh --iterate                again, skipping what an earlier run caught
#                                               (after adding tests for the missed ones)
#   scripts/mutants.sh --re 'parse_key' …       only the mutants whose name matches (regex,
#                                               repeatable; passed to cargo-mutants)
#
# Two passes, file by file in the order given (the default list is in order of importance, so
# an interrupted run has done the important files first):
#   1. unit  every mutant against the core's unit tests only (`cargo test --lib`: one test
#            binary to rebuild and run);
#   2. all   the mutants that pass 1 did not catch, against all the core's tests (unit,
#            integration and conformance, with the testkit), through cargo-mutants' --iterate.
# A mutant counts as missed only if pass 2 misses it too. Each pass checks first that the tests
# pass on the unmutated tree (cargo-mutants' baseline).
#
# Speed, measured on the 2-core machine (issue 22): run plainly (a temporary copy, every test
# target, full debug info) a mutant took 15 s to build and 2 s (caught by a unit test) to 18 s
# (missed) to test, after a first build of 170 s: 1.5 hours or more for the 261 mutants of the
# default files, and a full rebuild at every run. Here the builds use no
# debug info and incremental compilation, in a copy of the checkout that stays at the same path
# from run to run (cargo-mutants mutates it in place), so that the next file or the next run
# rebuilds only what changed: pass 1 takes about 10 s a mutant (45 minutes for the default
# files), pass 2 about 27 s a mutant on the few that survive pass 1 (15 minutes). The checkout
# itself is never modified. Everything runs under `nice -n 10`.
#
# Installs cargo-mutants under $KEYFOB_CACHE/tools when missing. The copy, its target directory
# and the results are under $KEYFOB_CACHE/mutants: unit/FILE/mutants.out and, when pass 1 left
# survivors, all/FILE/mutants.out (caught.txt, missed.txt, …, and log/ with each mutant's build
# and tests).
# Prints the counts per file and pass at the end: caught, missed, unviable (does not build),
# timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

version=27.0.0
tools="$KEYFOB_CACHE/tools"
mutants="$tools/bin/cargo-mutants"
if ! "$mutants" mutants --version 2>/dev/null | grep -qx "cargo-mutants $version"; then
  echo "--- installing cargo-mutants $version under $tools"
  cargo install --locked --root "$tools" --version "$version" cargo-mutants
fi

iterate=()
filters=()
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iterate) iterate=(--iterate) ;;
    --re)
      [ $# -ge 2 ] || { echo "mutants.sh: --re needs a regular expression" >&2; exit 2; }
      filters+=(--re "$2"); shift ;;
    -*) echo "mutants.sh: unknown option $1" >&2; exit 2 ;;
    *) files+=("$1") ;;
  esac
  shift
done
if [ ${#files[@]} -eq 0 ]; then
  # In order of importance: signature and claim checks first.
  files=(core/src/oidc/id_token.rs core/src/oidc/jws.rs core/src/oidc/jwa.rs core/src/oidc/jwks.rs
         core/src/oidc/token.rs core/src/oidc/authorize.rs core/src/oidc/discovery.rs)
fi
for f in "${files[@]}"; do
  case "$f" in
    core/src/*) ;;
    *) echo "mutants.sh: $f is not a file of the core (core/src/…)" >&2; exit 2 ;;
  esac
  [ -f "$f" ] || { echo "mutants.sh: no such file: $f" >&2; exit 2; }
done

work="$KEYFOB_CACHE/mutants"
src="$work/src"
mkdir -p "$src"
# The copy: tracked and untracked (not ignored) files of the checkout as they are now, with their
# modification times, so that cargo rebuilds only what changed since the last run. A file list
# that changed (a file added or removed) starts the copy afresh.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
git ls-files --cached --others --exclude-standard -z | sort -z >"$list"
if ! cmp -s "$list" "$work/src.files"; then
  rm -rf "$src" && mkdir -p "$src"
fi
# `--ignore-failed-read`: a tracked file deleted in the checkout but not yet in git's index.
tar --null --ignore-failed-read -T "$list" -cf - | tar -xf - -C "$src"
cp "$list" "$work/src.files"
# Cargo tells a stale build by modification times, and the last build in this target directory
# may have been of a mutant (an interrupted run, or cargo-mutants run by hand on another copy:
# cargo's fingerprints do not depend on the tree's path). Touching the core's sources makes the
# baseline a real build of the unmutated core (incremental, so quick).
find "$src/core/src" -name '*.rs' -exec touch {} +

# The mutants' builds only: no debug info (faster to compile and link), incremental (each mutant
# changes one function of one crate), their own target directory.
export CARGO_TARGET_DIR="$work/target" CARGO_INCREMENTAL=1 CARGO_PROFILE_DEV_DEBUG=0

# One build and test at a time (the machines have two cores; --in-place implies it), only the
# core's own tests, and a generous timeout: a mutant that makes a test hang is a "timeout", not a failure of the run.
# cargo-mutants exits 2 when mutants were missed and 3 when some timed out: still a result.
run() {
  local out="$1" file="$2"
  shift 2
  local status=0
  nice -n 10 "$mutants" mutants --dir "$src" --in-place \
    --package keyfob --test-workspace false --file "$file" "${filters[@]}" \
    --timeout-multiplier 5 --no-shuffle --output "$out" "$@" || status=$?
  case "$status" in
    0 | 2 | 3) ;;
    *) echo "mutants.sh: cargo-mutants failed on $file (exit $status)" >&2; exit "$status" ;;
  esac
}

# Lines of the outcome files of a pass.
count() {
  local dir="$1/mutants.out" n=0 f
  for f in "${@:2}"; do
    if [ -f "$dir/$f.txt" ]; then n=$((n + $(grep -c . "$dir/$f.txt" || true))); fi
  done
  echo "$n"
}
# With --iterate, cargo-mutants lists what earlier runs caught or found unviable in
# previously_caught.txt, and only this run's outcomes in the others. Pass 2 adds its outcomes to
# pass 1's; pass 1 run with --iterate counts those of earlier runs as caught.
counts() {
  local unit="$1" all="${2:-}" caught unviable
  caught=$(count "$unit" caught previously_caught)
  unviable=$(count "$unit" unviable)
  if [ -n "$all" ]; then
    caught=$((caught + $(count "$all" caught)))
    unviable=$((unviable + $(count "$all" unviable)))
    unit="$all"
  fi
  printf 'caught %3s  missed %3s  unviable %3s  timeout %3s' "$caught" "$(count "$unit" missed)" \
    "$unviable" "$(count "$unit" timeout)"
}

summary=()
for f in "${files[@]}"; do
  name=$(basename "$f" .rs)
  unit="$work/unit/$name" all="$work/all/$name"
  mkdir -p "$unit"
  echo "=== $f, pass 1: unit tests"
  start=$SECONDS
  run "$unit" "$f" "${iterate[@]}" -- --lib
  summary+=("$(printf '%-34s unit: %s  (%ss)' "$f" "$(counts "$unit")" "$((SECONDS - start))")")
  # Pass 2 starts from pass 1's results and tests only what pass 1 did not catch.
  rm -rf "$all" && mkdir -p "$all"
  if [ "$(count "$unit" missed timeout)" -gt 0 ]; then
    echo "=== $f, pass 2: all the core's tests on what pass 1 did not catch"
    cp -a "$unit/mutants.out" "$all/"
    start=$SECONDS
    run "$all" "$f" --iterate
    summary+=("$(printf '%-34s all:  %s  (%ss)' "" "$(counts "$unit" "$all")" "$((SECONDS - start))")")
  fi
done

echo "--- mutants (results in $work/{unit,all}/FILE/mutants.out)"
printf '%s\n' "${summary[@]}"
missed=0
for f in "${files[@]}"; do
  out="$work/all/$(basename "$f" .rs)/mutants.out"
  [ -d "$out" ] || continue
  for kind in missed timeout; do
    if [ -s "$out/$kind.txt" ]; then
      [ "$missed" -eq 1 ] || echo "--- missed by every test (or timed out):"
      missed=1
      sed "s/^/$kind: /" "$out/$kind.txt"
    fi
  done
done
