#!/usr/bin/env bash
# Swift FFI figures for scripts/bench.sh (issue 5): the median time per call of the synchronous
# `KeyfobClient.cachedAccessToken` (budget ≤ 2 µs) and of the async `accessToken()`, from Swift
# through the generated bindings into the release-built libkeyfob.so, on a client signed in at a
# keyfob-testkit provider with a valid token in memory.
#
#   scripts/bench-ffi-swift.sh [SUMMARY_FILE]
#
# Prints, and appends to SUMMARY_FILE when given (bench.sh's hook contract):
#   SWIFT_CACHED_ACCESS_TOKEN_NS=<median ns per call>
#   SWIFT_ACCESS_TOKEN_NS=<median ns per call, async>
# KEYFOB_BENCH_FFI_CALLS (default 200000) calls per round, KEYFOB_BENCH_FFI_ROUNDS (default 7)
# rounds after one warm-up round; the figure is the median round.
#
# Same setting as scripts/test.d/20-swift.sh (Swift 6 chroot, testkit on the host), but the
# harness is a small executable package written by this script to
# $KEYFOB_CACHE/ffi-bench/swift/pkg (it depends on the repository's root package by path), built
# with `swift build -c release` there: nothing is added to the package, so `swift test` is unchanged.
#
# Cargo builds go to $KEYFOB_FFI_TARGET (default $KEYFOB_CACHE/target, shared with the test
# stages) rather than bench.sh's CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
summary="${1:-}"
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${KEYFOB_FFI_TARGET:-$KEYFOB_CACHE/target}"
work="$KEYFOB_CACHE/ffi-bench/swift"
export KEYFOB_BENCH_FFI_CALLS="${KEYFOB_BENCH_FFI_CALLS:-200000}"
export KEYFOB_BENCH_FFI_ROUNDS="${KEYFOB_BENCH_FFI_ROUNDS:-7}"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

echo "--- swift bench: chroot" >&2
chroot_dir=$(bash scripts/swift-chroot.sh ensure)
mkdir -p "$work/lib" "$work/pkg/Sources/FfiBench"
if ! cmp -s "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"; then
  rm -rf "$work/build"
  cp "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"
fi

echo "--- swift bench: bindings, release library, testkit" >&2
bash scripts/generate-bindings.sh "$work/bindings" >/dev/null
# The committed Swift bindings must match the library, as in the test stage.
bash bindings-swift/sync-bindings.sh --check "$work/bindings/swift" >&2
cargo build --locked --release -p keyfob --features ffi --lib >&2
cargo build --locked -p keyfob-testkit --bin keyfob-testkit >&2
cp "$CARGO_TARGET_DIR/release/libkeyfob.so" "$work/lib/libkeyfob.so.tmp"
mv "$work/lib/libkeyfob.so.tmp" "$work/lib/libkeyfob.so"

cat > "$work/pkg/Package.swift" <<'SWIFT'
// swift-tools-version: 6.0
// Written by scripts/bench-ffi-swift.sh: the Swift FFI benchmark of scripts/bench.sh.
import PackageDescription

let package = Package(
    name: "KeyfobFfiBench",
    dependencies: [.package(path: "/src")],
    targets: [
        .executableTarget(
            name: "FfiBench",
            dependencies: [.product(name: "Keyfob", package: "src")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
SWIFT

cat > "$work/pkg/Sources/FfiBench/main.swift" <<'SWIFT'
// Written by scripts/bench-ffi-swift.sh. Signs in at the testkit (KEYFOB_TESTKIT), then times
// `cachedAccessToken` and `accessToken()`; prints SWIFT_*_NS=<median ns per call>.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Keyfob

struct Ready: Decodable {
    let issuer: String
    let client_id: String
}

struct Failure: Error, CustomStringConvertible {
    let description: String
}

let environment = ProcessInfo.processInfo.environment
let ready = try JSONDecoder().decode(Ready.self, from: Data((environment["KEYFOB_TESTKIT"] ?? "").utf8))
let calls = Int(environment["KEYFOB_BENCH_FFI_CALLS"] ?? "") ?? 200_000
let rounds = Int(environment["KEYFOB_BENCH_FFI_ROUNDS"] ?? "") ?? 7

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

var checksum = 0

let client = try KeyfobClient(
    configuration: .init(
        issuer: URL(string: ready.issuer)!,
        clientID: ready.client_id,
        redirectURI: URL(string: "myapp://callback")!,
        scopes: ["email", "offline_access"],
        httpTimeout: 10
    ),
    storage: .memory
)

// begin_login → the browser's GET (no redirects followed) → Location → handle_redirect.
let authorizationURL = try await client.beginLogin()
let response = try await URLSessionTransport().send(HTTPRequest(url: authorizationURL))
guard (300..<400).contains(response.status), let location = response.value(forHeader: "Location"),
      let callback = URL(string: location)
else { throw Failure(description: "authorize answered \(response.status) without a redirect") }
_ = try await client.handleRedirect(callback)
guard let token = client.cachedAccessToken else { throw Failure(description: "no cached access token") }
guard try await client.accessToken() == token else { throw Failure(description: "tokens differ") }

var cached: [Double] = []
for round in -1..<rounds {
    var acc = 0
    let start = now()
    for _ in 0..<calls { acc &+= client.cachedAccessToken!.utf8.count }
    let elapsed = now() - start
    checksum &+= acc
    if round >= 0 { cached.append(Double(elapsed) / Double(calls)) }
}

// The async call answers from the cached token on the caller's actor (here the main actor of
// top-level code), without suspending; calls / 20 of them, as when it went through the Rust future.
let asyncCalls = max(1, calls / 20)
var async: [Double] = []
for round in -1..<rounds {
    var acc = 0
    let start = now()
    for _ in 0..<asyncCalls { acc &+= try await client.accessToken().utf8.count }
    let elapsed = now() - start
    checksum &+= acc
    if round >= 0 { async.append(Double(elapsed) / Double(asyncCalls)) }
}
guard client.cachedAccessToken == token else { throw Failure(description: "the token changed during the benchmark") }

FileHandle.standardError.write(Data("swift: \(rounds) rounds of \(calls) cachedAccessToken / \(asyncCalls) accessToken() calls (token \(token.utf8.count) bytes, checksum \(checksum))\n".utf8))
print("SWIFT_CACHED_ACCESS_TOKEN_NS=\(String(format: "%.1f", median(cached)))")
print("SWIFT_ACCESS_TOKEN_NS=\(String(format: "%.1f", median(async)))")
SWIFT

echo "--- swift bench: swift build -c release" >&2
# -L/-rpath: the module map links `keyfob`; the binary finds the release library at run time.
link=(-Xlinker -L/cache/lib -Xlinker -rpath -Xlinker /cache/lib)
bash scripts/swift-chroot.sh run --bind "$repo:/src" --bind "$work:/cache" -- \
  sh -c 'cd /cache/pkg && exec swift build -c release --scratch-path /cache/build "$@"' sh "${link[@]}" >&2

echo "--- swift bench: testkit" >&2
log=$(mktemp)
# shellcheck source=scripts/testkit-start.sh
. scripts/testkit-start.sh
start_testkit "$CARGO_TARGET_DIR/debug/keyfob-testkit" "bench-ffi-swift: "
export KEYFOB_TESTKIT="$ready"

echo "--- swift bench: run ($KEYFOB_BENCH_FFI_ROUNDS rounds of $KEYFOB_BENCH_FFI_CALLS calls)" >&2
bash scripts/swift-chroot.sh run --bind "$work:/cache" \
  --env KEYFOB_TESTKIT --env KEYFOB_BENCH_FFI_CALLS --env KEYFOB_BENCH_FFI_ROUNDS -- \
  /cache/build/release/FfiBench > "$log"
grep -qE '^SWIFT_CACHED_ACCESS_TOKEN_NS=[0-9.]+$' "$log" || {
  cat "$log" >&2; echo "bench-ffi-swift: no figure in the harness output" >&2; exit 1; }
grep -E '^SWIFT_[A-Z_]+_NS=' "$log" | tee -a "${summary:-/dev/null}"
