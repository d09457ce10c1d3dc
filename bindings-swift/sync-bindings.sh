#!/usr/bin/env bash
# Keeps the committed uniffi output in this package equal to what the Rust core generates.
#
#   bindings-swift/sync-bindings.sh            regenerate and copy into the package
#   bindings-swift/sync-bindings.sh --check    fail (with a diff) if the committed files differ
#
# GENERATED_DIR (second argument) is the `swift` folder of a scripts/generate-bindings.sh run
# to use instead of running it again.
#
# The files are committed because SwiftPM consumers that fetch the package by URL cannot run
# scripts: they get these sources next to the released XCFramework. CI (scripts/test.d/20-swift.sh)
# runs the check, so they cannot drift from the Rust source.
set -euo pipefail
package="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$package")"

mode=copy
if [ "${1:-}" = "--check" ]; then mode=check; shift; fi
generated="${1:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$generated" ]; then
  bash "$repo/scripts/generate-bindings.sh" "$tmp/out" >/dev/null
  generated="$tmp/out/swift"
fi

# generated file -> committed file
pairs=(
  "KeyfobFFI.swift:Sources/KeyfobFFI/KeyfobFFI.swift"
  "KeyfobFFIC.h:Sources/KeyfobFFIC/KeyfobFFIC.h"
)
stale=0
for pair in "${pairs[@]}"; do
  from="$generated/${pair%%:*}"
  to="$package/${pair#*:}"
  [ -f "$from" ] || { echo "sync-bindings: $from was not generated" >&2; exit 1; }
  if [ "$mode" = check ]; then
    if ! diff -u "$to" "$from" > "$tmp/diff"; then
      echo "sync-bindings: bindings-swift/${pair#*:} is not what the Rust core generates:" >&2
      head -n 40 "$tmp/diff" >&2
      stale=1
    fi
  else
    cp "$from" "$to"
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "sync-bindings: run bindings-swift/sync-bindings.sh and commit the result" >&2
  exit 1
fi
[ "$mode" = check ] && echo "sync-bindings: the committed Swift bindings are up to date" >&2
exit 0
