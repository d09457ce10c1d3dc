#!/usr/bin/env bash
# The seed scenario in one command: `keyfob demo` against the embedded test provider and
# servers A and B on loopback. Extra arguments go to `keyfob demo` (e.g. --json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${KEYFOB_CACHE:-/var/cache/keyfob}/target}"
exec cargo run --quiet --locked -p keyfob-cli -- demo "$@"
