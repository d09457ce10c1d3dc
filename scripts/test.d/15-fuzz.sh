#!/usr/bin/env bash
# Fuzz: every cargo-fuzz target (fuzz/fuzz_targets) built and run for $KEYFOB_FUZZ_SECONDS
# (default 20) seconds each from the committed seeds and regressions, so that a new crash fails
# CI; the long runs are scripts/fuzz.sh. The targets are built as cargo-fuzz builds them: debug
# assertions on, AddressSanitizer, libFuzzer. Stable Rust is enough (RUSTC_BOOTSTRAP=1, see
# scripts/fuzz-env.sh). Caches: $KEYFOB_CACHE/fuzz-target (the build) and $KEYFOB_CACHE/tools
# (cargo-fuzz). The corpus a run grows is thrown away, so every run starts from what is
# committed. Counts the targets that ran clean.
#
# Cost on this 2-core machine while other builds ran (load 10-13), 11 targets, stable Rust:
#   cold: ~16 min = cargo-fuzz install 4.3 min + building the targets from nothing 7.7 min
#         + the runs 4 min (713 s for the stage without the install)
#   warm: 255 s (nothing to build: 11 x 20 s of fuzzing plus ~3 s start-up each); 334 s when
#         only Keyfob changed (a 74 s rebuild)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

corpus=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$corpus" "$log"' EXIT
KEYFOB_FUZZ_CORPUS="$corpus" bash scripts/fuzz.sh "${KEYFOB_FUZZ_SECONDS:-20}" 2>&1 | tee "$log"
# After "=== summary", one line per target: "<target> ok ..." or "<target> CRASH ...".
sed -n '/^=== summary/,$p' "$log" | grep -cE '^[a-z0-9_]+ +ok ' > "${KEYFOB_STAGE_COUNT:-/dev/null}"
