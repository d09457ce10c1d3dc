#!/usr/bin/env bash
# Builds bindings-swift/KeyfobFFIC.xcframework: the Keyfob Rust core as a static library for
# iOS devices, the iOS simulator and macOS, with the uniffi C header and module map, so that the
# Swift package's `binaryTarget` (Package.swift) links it.
#
#   scripts/build-ios.sh [--zip] [--sizes FILE]
#
#   --zip         also write KeyfobFFIC.xcframework.zip and print its SwiftPM checksum, for a
#                 release whose Package.swift points at a URL + checksum (scripts/release-ios.sh).
#   --sizes FILE  append a Markdown table of each slice's library, raw and zipped, to FILE (the
#                 workflow's job summary); also printed.
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup (the targets and rust-src are added here).
# Slices:
#   ios-arm64                    aarch64-apple-ios
#   ios-arm64_x86_64-simulator   aarch64-apple-ios-sim + x86_64-apple-ios (lipo)
#   macos-arm64_x86_64           aarch64-apple-darwin + x86_64-apple-darwin (lipo), so that
#                                `swift test` and SwiftUI previews work on the Mac
#
# The libraries are built with the `mobile` profile (opt-level z, fat LTO) and the `ffi`
# feature: the uniffi exports, no HTTP stack (the Swift package passes URLSession). The
# header is generated from the device library itself and the Swift bindings committed in
# bindings-swift must match it: a stale package fails here rather than at run time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

die() { echo "build-ios: $*" >&2; exit 1; }

zip=false
sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --zip) zip=true; shift ;;
    --sizes) sizes="${2:?--sizes needs a file}"; shift 2 ;;
    *) die "usage: scripts/build-ios.sh [--zip] [--sizes FILE]" ;;
  esac
done

[ "$(uname -s)" = Darwin ] || die "needs macOS with Xcode (xcodebuild, lipo)"
for tool in cargo rustup xcodebuild lipo; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

# Keep in step with `platforms` in Package.swift.
export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0

device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
macs=(aarch64-apple-darwin x86_64-apple-darwin)
profile=mobile
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out="$repo/bindings-swift/KeyfobFFIC.xcframework"
work="$target_dir/ios-xcframework"

rustup target add "$device" "${simulators[@]}" "${macs[@]}"
# Registry paths remapped (scripts/mobile-flags.sh); with --target, RUSTFLAGS skip build scripts.
# shellcheck source=scripts/mobile-flags.sh
. scripts/mobile-flags.sh
ios_rustflags="${RUSTFLAGS:+$RUSTFLAGS }$(mobile_rustflags common)"
# std is built with the library, without its backtrace symbolizer (scripts/mobile-flags.sh).
mobile_need_rust_src || die "no rust-src component: rustup component add rust-src"
read -r -a build_std_env <<<"$(mobile_build_std_env)"
read -r -a build_std_args <<<"$(mobile_build_std_args)"
for target in "$device" "${simulators[@]}" "${macs[@]}"; do
  echo "build-ios: $target" >&2
  env "${build_std_env[@]}" RUSTFLAGS="$ios_rustflags" cargo build --locked -p keyfob --lib --profile "$profile" \
    --features ffi --target "$target" "${build_std_args[@]}"
  mobile_check_std_built "$target_dir" "$target" || die "$target: linked with the prebuilt std"
done
lib() { echo "$target_dir/$1/$profile/libkeyfob.a"; }

rm -rf "$work"
mkdir -p "$work/simulator" "$work/macos" "$work/generated"

# The header and module map, generated in library mode from the device library (the metadata
# uniffi reads is in the static library's symbols). The committed Swift must be the same.
cargo build --locked -p uniffi-bindgen --release
"$target_dir/release/uniffi-bindgen" generate --library "$(lib "$device")" --no-format \
  --language swift --config uniffi.toml --out-dir "$work/generated"
for pair in KeyfobFFI.swift:Sources/KeyfobFFI/KeyfobFFI.swift KeyfobFFIC.h:Sources/KeyfobFFIC/KeyfobFFIC.h; do
  if ! cmp -s "$work/generated/${pair%%:*}" "bindings-swift/${pair#*:}"; then
    die "bindings-swift/${pair#*:} does not match the library: run bindings-swift/sync-bindings.sh (on Linux) or copy $work/generated/${pair%%:*}"
  fi
done

# Headers/KeyfobFFIC/: a subdirectory of its own, so that this module map cannot collide with
# another XCFramework's `module.modulemap` in the app's build products.
headers="$work/headers/KeyfobFFIC"
mkdir -p "$headers"
cp "$work/generated/KeyfobFFIC.h" "$headers/KeyfobFFIC.h"
# The hand-written header of the cached-token accessor, which the Swift layer calls directly;
# the module map is Linux's without its `link` line (the library is static here).
cp bindings-swift/Sources/KeyfobFFIC/KeyfobCachedToken.h "$headers/KeyfobCachedToken.h"
grep -v '^ *link ' bindings-swift/Sources/KeyfobFFIC/module.modulemap > "$headers/module.modulemap"

# One library per platform: the two simulator architectures, and the two Mac ones, in one file.
lipo -create "$(lib "${simulators[0]}")" "$(lib "${simulators[1]}")" -output "$work/simulator/libkeyfob.a"
lipo -create "$(lib "${macs[0]}")" "$(lib "${macs[1]}")" -output "$work/macos/libkeyfob.a"

rm -rf "$out"
xcodebuild -create-xcframework \
  -library "$(lib "$device")" -headers "$work/headers" \
  -library "$work/simulator/libkeyfob.a" -headers "$work/headers" \
  -library "$work/macos/libkeyfob.a" -headers "$work/headers" \
  -output "$out"
echo "build-ios: wrote $out" >&2

if $zip; then
  archive="$out.zip"
  rm -f "$archive"
  # SwiftPM expects the .xcframework folder at the root of the archive.
  (cd "$(dirname "$out")" && ditto -c -k --sequesterRsrc --keepParent "$(basename "$out")" "$archive")
  echo "build-ios: wrote $archive" >&2
  echo "checksum: $(swift package compute-checksum "$archive")"
fi

# Each slice's library, raw and zipped (what an app downloads per platform is in the one archive;
# this shows what each slice weighs in it).
report_sizes() {
  local table slice lib raw zipped
  table="| slice | library | zipped |"$'\n'"| --- | ---: | ---: |"
  for slice in "$out"/*/; do
    lib=$(find "$slice" -name '*.a' | head -n 1)
    [ -n "$lib" ] || continue
    raw=$(stat -f %z "$lib")
    zipped=$( (cd "$(dirname "$lib")" && zip -q -9 - "$(basename "$lib")") | wc -c | tr -d ' ')
    table+=$'\n'"| $(basename "$slice") | $raw B | $zipped B |"
  done
  echo "$table"
  if [ -n "$sizes" ]; then printf '### KeyfobFFIC.xcframework slices\n\n%s\n' "$table" >> "$sizes"; fi
}
report_sizes
