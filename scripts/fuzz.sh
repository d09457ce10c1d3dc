#!/usr/bin/env bash
# Runs Keyfob's cargo-fuzz targets (fuzz/fuzz_targets) for SECONDS seconds each, one after the
# other, and prints executions, coverage and corpus size per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every target
#
# Toolchain and cargo-fuzz: scripts/fuzz-env.sh (nightly when installed, else stable with
# RUSTC_BOOTSTRAP=1); builds in $KEYFOB_CACHE/fuzz-target. Targets are built as cargo-fuzz
# builds them by default: optimised, with debug assertions, AddressSanitizer and libFuzzer.
# New corpus entries go to $KEYFOB_FUZZ_CORPUS/<target> (default fuzz/corpus, not committed);
# fuzz/seeds/<target> and fuzz/regressions/<target> are read too. A crashing target is reported
# and the next target runs; the status is 1 if any target crashed. The crash input is left in
# fuzz/artifacts/<target>/: copy it into fuzz/regressions/<target>/ so that
# `cargo test -p keyfob --test fuzz_corpus` replays it from then on.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true

# shellcheck source=scripts/fuzz-env.sh
source scripts/fuzz-env.sh
corpus_root=${KEYFOB_FUZZ_CORPUS:-corpus}

cd fuzz
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
build_log=$(mktemp)
if ! "${fuzz_cargo[@]}" fuzz build >"$build_log" 2>&1; then
  tail -n 40 "$build_log"; rm -f "$build_log"
  echo "fuzz.sh: the build failed" >&2; exit 1
fi
tail -n 2 "$build_log"; rm -f "$build_log"

summary=()
status=0
for target in "${targets[@]}"; do
  mkdir -p "$corpus_root/$target"
  dirs=("$corpus_root/$target" "seeds/$target")
  [ -d "regressions/$target" ] && dirs+=("regressions/$target")
  log=$(mktemp)
  echo "=== $target: ${seconds} s"
  if "${fuzz_cargo[@]}" fuzz run "$target" "${dirs[@]}" -- \
      -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    grep -E "^(==|SUMMARY|artifact_prefix|Test unit written)|panicked" "$log" | head -n 20 || true
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  stat() { grep -E "^stat::$1:" "$log" | awk '{print $2}' || true; }
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  summary+=("$(printf '%-16s %-6s %6s s %12s execs %8s exec/s  cov %6s  ft %6s  corpus %6s' \
    "$target" "$result" "$seconds" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$cov" "$ft" "$corp")")
  echo "${summary[-1]}"
  cp "$log" "$CARGO_TARGET_DIR/fuzz-$target.log"
  rm -f "$log"
done

echo "=== summary (logs in $CARGO_TARGET_DIR/fuzz-<target>.log)"
printf '%s\n' "${summary[@]}"
exit $status
