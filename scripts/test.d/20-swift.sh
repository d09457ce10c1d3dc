#!/usr/bin/env bash
# Swift: the Swift package (bindings-swift) built and tested on Linux with Swift 6, against the
# real Rust library and a testkit provider on loopback.
#
# 1. Swift 6 from Debian 13 in a chroot, cached under $KEYFOB_CACHE/trixie
#    (scripts/swift-chroot.sh; built once, about 2-4 minutes).
# 2. The Rust library with the uniffi exports, and the bindings generated from it: the Swift
#    sources committed in bindings-swift must be identical (bindings-swift/sync-bindings.sh).
# 3. A keyfob-testkit on the host (the chroot shares the network), its ready line handed to
#    the tests in KEYFOB_TESTKIT.
# 4. `swift test` in the chroot, from the root Package.swift (the manifest apps add by URL),
#    inside a private mount namespace, with the repository at /src and $KEYFOB_CACHE/swift at
#    /cache (library, SwiftPM build directory).
# 5. The release script's manifest rewrite on a copy (it must still evaluate), and actionlint on
#    every GitHub Actions workflow (scripts/lint-workflows.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
work="$KEYFOB_CACHE/swift"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

echo "--- swift: chroot"
chroot_dir=$(bash scripts/swift-chroot.sh ensure)
# SwiftPM's build directory is only valid for the toolchain that wrote it.
mkdir -p "$work"
if ! cmp -s "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"; then
  rm -rf "$work/build"
  cp "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"
fi

echo "--- swift: Rust library and bindings"
mkdir -p "$work/lib"
lib=$(bash scripts/generate-bindings.sh "$work/bindings")
bash bindings-swift/sync-bindings.sh --check "$work/bindings/swift"
# A copy, so that a concurrent cargo build cannot swap the library under the tests.
cp "$lib" "$work/lib/libkeyfob.so.tmp" && mv "$work/lib/libkeyfob.so.tmp" "$work/lib/libkeyfob.so"

echo "--- swift: testkit"
cargo build --locked -p keyfob-testkit >&2
log=$(mktemp)
# shellcheck source=scripts/testkit-start.sh
. scripts/testkit-start.sh
start_testkit "$CARGO_TARGET_DIR/debug/keyfob-testkit" ""
# shellcheck disable=SC2154 # `ready` is set by start_testkit
echo "$ready"
export KEYFOB_TESTKIT="$ready"

echo "--- swift: swift test"
# -L/-rpath: the module map links `keyfob`; the test binary finds it at run time without
# LD_LIBRARY_PATH. The build directory lives in the cache: the repository stays clean.
bash scripts/swift-chroot.sh run --bind "$repo:/src" --bind "$work:/cache" --env KEYFOB_TESTKIT -- \
  sh -c 'cd /src && exec swift test --scratch-path /cache/build \
           -Xlinker -L/cache/lib -Xlinker -rpath -Xlinker /cache/lib' 2>&1 | tee "$log"

# Swift Testing: "✔ Test run with 19 tests passed after 2.3 seconds."
# XCTest (also run by `swift test`): "Executed 0 tests, with 0 failures ..." (last = all tests).
swift_testing=$(grep -oE 'Test run with [0-9]+ tests? passed' "$log" | tail -n 1 | awk '{print $4}')
xctest=$(grep -oE 'Executed [0-9]+ tests?, with 0 failures' "$log" | tail -n 1 | awk '{print $2}')
count=$(( ${swift_testing:-0} + ${xctest:-0} ))
echo "swift: $count tests passed (Swift Testing ${swift_testing:-0}, XCTest ${xctest:-0})"
echo "$count" > "${KEYFOB_STAGE_COUNT:-/dev/null}"

echo "--- swift: release manifest rewrite"
# shellcheck source=scripts/ios-manifest.sh
. scripts/ios-manifest.sh
check="$work/manifest-check"
rm -rf "$check" && mkdir -p "$check"
cp Package.swift "$check/Package.swift"
ln -s /src/bindings-swift "$check/bindings-swift"
sum=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
set_released_xcframework "$check/Package.swift" "https://github.com/example/keyfob/releases/download/9.9.9/KeyfobFFIC.xcframework.zip" "$sum"
[ "$(diff Package.swift "$check/Package.swift" | grep -c '^>')" = 1 ] || { echo "20-swift: the rewrite changed more than one line" >&2; exit 1; }
grep -q "download/9.9.9/KeyfobFFIC.xcframework.zip\", checksum: \"$sum\")" "$check/Package.swift"
bash scripts/swift-chroot.sh run --bind "$repo:/src" --bind "$work:/cache" -- \
  swift package dump-package --package-path /cache/manifest-check > "$check/dump.json"
grep -q '"KeyfobTests"' "$check/dump.json" || { echo "20-swift: the rewritten manifest does not evaluate" >&2; exit 1; }

echo "--- swift: workflows"
bash scripts/lint-workflows.sh
