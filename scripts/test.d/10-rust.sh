#!/usr/bin/env bash
# Rust: formatting, clippy (warnings are errors, `missing_docs` included), the dependency rules
# (scripts/check-layering.sh), and every test of the workspace (core/tests/layering.rs checks
# the core's import rules).
set -euo pipefail
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
bash scripts/check-layering.sh
log=$(mktemp)
cargo test --workspace --all-features --locked 2>&1 | tee "$log"
# "test result: ok. 12 passed; 0 failed; ..." once per test binary.
grep -oE 'test result: ok\. [0-9]+ passed' "$log" | awk '{n += $4} END {print n + 0}' > "${KEYFOB_STAGE_COUNT:-/dev/null}"
rm -f "$log"
