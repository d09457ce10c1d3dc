#!/usr/bin/env bash
# Runs Keyfob's cargo-fuzz targets (fuzz/fuzz_targets) for SECONDS seconds each, one after the
# other, and prints executions, coverage and corpus size per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every target
#
# Uses a nightly toolchain when one is installed (or can be), else stable with RUSTC_BOOTSTRAP=1;
# installs cargo-fuzz under $KEYFOB_CACHE/tools if missing; builds in $KEYFOB_CACHE/fuzz-target.
# New corpus entries go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> and
# fuzz/regressions/<target> are read too. A crash stops the run with status 1 and leaves its
# input in fuzz/artifacts/<target>/: copy it into fuzz/regressions/<target>/ so that
# `cargo test -p keyfob --test fuzz_corpus` replays it from then on.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true

KEYFOB_CACHE=${KEYFOB_CACHE:-/var/cache/keyfob}
export CARGO_TARGET_DIR="${KEYFOB_FUZZ_TARGET_DIR:-$KEYFOB_CACHE/fuzz-target}"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
tools="$KEYFOB_CACHE/tools"
export PATH="$tools/bin:$PATH"

toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1 \
  || rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "fuzz.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi
if ! command -v cargo-fuzz >/dev/null; then
  CARGO_INSTALL_ROOT="$tools" cargo install cargo-fuzz --locked
fi

cd fuzz
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
cargo "${toolchain[@]}" fuzz build 2>&1 | tail -n 3

summary=()
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  dirs=("corpus/$target" "seeds/$target")
  [ -d "regressions/$target" ] && dirs+=("regressions/$target")
  log=$(mktemp)
  echo "=== $target: ${seconds} s"
  if cargo "${toolchain[@]}" fuzz run "$target" "${dirs[@]}" -- \
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
  [ "$result" = ok ] || break
done

echo "=== summary (logs in $CARGO_TARGET_DIR/fuzz-<target>.log)"
printf '%s\n' "${summary[@]}"
exit $status
