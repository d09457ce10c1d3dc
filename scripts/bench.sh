#!/usr/bin/env bash
# Keyfob's performance figures (issue 9) in one table: figure, measured, budget, result.
#
#   scripts/bench.sh            size budget (scripts/size.sh) + every benchmark, quick settings
#   scripts/bench.sh --full     criterion's default settings (slower, tighter intervals)
#   scripts/bench.sh --no-size  skip the size builds
#
# The benchmarks live in benches/ (package `keyfob-benches`, a workspace of its own so that
# `cargo test --workspace` never builds criterion or openidconnect). They drive the public API
# with an in-memory provider behind `HttpTransport`; see benches/benches/keyfob.rs.
#
# Timings come from one run on whatever machine runs this: compare ratios within a run, not
# absolute figures across machines. Budgets on counts (requests, refreshes) are exact.
# Exit status: 1 if a budget is missed (the table is printed first).
#
# Caches: $KEYFOB_CACHE (default /var/cache/keyfob): bench-target/ (cargo target dir, criterion
# results in bench-target/criterion, this run's logs and table in bench-target/keyfob-bench/),
# and what scripts/size.sh uses.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

full=0 size=1
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    --no-size) size=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${KEYFOB_BENCH_TARGET:-$KEYFOB_CACHE/bench-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
out="$CARGO_TARGET_DIR/keyfob-bench"
mkdir -p "$out"
start=$SECONDS

# 1. Size (its own cached builds; a missed budget shows in the table, a broken build stops here).
export KEYFOB_SIZE_SUMMARY="$KEYFOB_CACHE/size-target/size-summary.env"
if [ "$size" = 1 ]; then
  echo "=== size (scripts/size.sh, log: $out/size.log)" >&2
  rm -f "$KEYFOB_SIZE_SUMMARY"
  scripts/size.sh > "$out/size.log" 2>&1 || true
  [ -s "$KEYFOB_SIZE_SUMMARY" ] || { tail -30 "$out/size.log" >&2; echo "bench.sh: the size build failed" >&2; exit 1; }
  grep -E '^(=== size|  stripped|.*panic)' "$out/size.log" >&2 || true
else
  export KEYFOB_SIZE_SUMMARY=/dev/null
fi

# 2. Criterion benchmarks, one run (old results removed so that every ratio comes from this run).
echo "=== benchmarks (criterion, log: $out/criterion.log)" >&2
rm -rf "$CARGO_TARGET_DIR/criterion"
export KEYFOB_BENCH_FACTS="$out/facts.json"
rm -f "$KEYFOB_BENCH_FACTS"
[ "$full" = 1 ] && unset KEYFOB_BENCH_QUICK || export KEYFOB_BENCH_QUICK=1
(cd benches && cargo bench --locked --bench keyfob) > "$out/criterion.log" 2>&1 || {
  tail -40 "$out/criterion.log" >&2; echo "bench.sh: the benchmarks failed" >&2; exit 1; }
grep -E '^id_token/paired' "$out/criterion.log" >&2 || true

# 3. FFI figures (Swift and Kotlin harnesses, issues 5 and 6).
# The ≤ 2 µs budget for the synchronous cached accessor through the FFI (and the async
# `accessToken()` figure) is measured from Swift and Kotlin by scripts/bench-ffi-swift.sh and
# scripts/bench-ffi-kotlin.sh. Each is run with one argument, a file to which it appends lines
#   SWIFT_CACHED_ACCESS_TOKEN_NS=<median ns per call>    (or KOTLIN_…)
#   SWIFT_ACCESS_TOKEN_NS=<median ns per call, async>
# and the table shows them against the budget ("TODO" when a hook is missing).
export KEYFOB_FFI_SUMMARY="$out/ffi.env"
: > "$KEYFOB_FFI_SUMMARY"
for lang in swift kotlin; do
  hook="scripts/bench-ffi-$lang.sh"
  if [ -x "$hook" ]; then
    echo "=== FFI: $hook" >&2
    "$hook" "$KEYFOB_FFI_SUMMARY" > "$out/ffi-$lang.log" 2>&1 || {
      tail -20 "$out/ffi-$lang.log" >&2; echo "bench.sh: $hook failed" >&2; exit 1; }
  fi
done

# 4. The table.
machine() {
  local cpu
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
  echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr), $(rustc --version | cut -d' ' -f1-2)."
  if [ "$full" = 1 ]; then echo "Settings: criterion defaults."
  else echo "Settings: quick (warm-up 0.5 s, 1.5 s and 20 samples per benchmark; fewer for callback and concurrency)."; fi
  echo "Times are medians of one run (criterion); ratios compare figures of that same run."
}
set +e
{
  machine
  echo
  (cd benches && cargo run --locked --release --quiet --bin bench-report)
} | tee "$out/table.md"
status=${PIPESTATUS[0]}
set -e
echo "(table saved to $out/table.md; $((SECONDS - start)) s)" >&2
exit "$status"
