#!/usr/bin/env bash
# The dependency rules the design relies on, checked with `cargo tree` (the import rules inside
# the core are checked by core/tests/layering.rs):
#
# 1. The mobile library (`keyfob` with feature `ffi`, for iOS and Android targets) carries no
#    async runtime or HTTP stack: no tokio, hyper, mio or reqwest. The platform's transport is
#    passed in, and the core awaits only it and its own locks.
# 2. The testkit is an independent implementation of the other side: `keyfob-testkit` does not
#    depend on `keyfob` at all (normal, build or dev), so a protocol mistake cannot hide in both.
# 3. The core never depends on the CLI or the testkit (the testkit is a dev-dependency at most).
#
# Prints one line per rule; exits 1 at the first broken rule, naming the crates that break it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tree() { cargo tree --locked --prefix none --format '{p}' "$@" | sed 's/ (\*)$//' | sort -u; }
fail() { echo "check-layering: $1" >&2; exit 1; }

for target in aarch64-apple-ios aarch64-linux-android; do
  found=$(tree -p keyfob --features ffi -e normal,build --target "$target" | grep -E '^(tokio|hyper|mio|reqwest) ' || true)
  [ -z "$found" ] || fail "the mobile library for $target depends on $(echo "$found" | tr '\n' ' ')"
  echo "layering: mobile library ($target): no tokio, hyper, mio or reqwest"
done

found=$(tree -p keyfob-testkit -e normal,build,dev | grep -E '^keyfob v' || true)
[ -z "$found" ] || fail "keyfob-testkit depends on the core: $found"
echo "layering: keyfob-testkit does not depend on keyfob"

found=$(tree -p keyfob --all-features -e normal,build | grep -E '^keyfob-(cli|testkit) v' || true)
[ -z "$found" ] || fail "the core depends on $(echo "$found" | tr '\n' ' ')"
echo "layering: keyfob depends on neither keyfob-cli nor keyfob-testkit"
