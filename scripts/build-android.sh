#!/usr/bin/env bash
# Builds the Keyfob Android library (AAR):
#
#   1. libkeyfob.so for each ABI with cargo-ndk (profile `mobile`, feature `ffi`, 16 KB page
#      alignment), copied to bindings-kotlin/keyfob/src/main/jniLibs/<abi>/;
#   2. the Android flavour of the Kotlin bindings (scripts/generate-bindings.sh), copied to
#      bindings-kotlin/keyfob/src/generated/kotlin;
#   3. Gradle's :keyfob:assembleRelease, which writes
#      bindings-kotlin/keyfob/build/outputs/aar/keyfob-release.aar, then checks that every
#      native library in it (libkeyfob.so and JNA's libjnidispatch.so) is aligned for 16 KB
#      pages (scripts/check-16kb.sh).
#
#   scripts/build-android.sh [--no-gradle] [--publish] [--abi ABI]...
#
#   --no-gradle   stop after steps 1 and 2 (then build in Android Studio, e.g. examples-android)
#   --publish     also publish dev.keyfob:keyfob-android to the local Maven repository
#                 (~/.m2; :keyfob:publishToMavenLocal), for an app to depend on by coordinates
#   --abi ABI     only this ABI (repeatable): arm64-v8a, armeabi-v7a, x86_64, x86 [default: all];
#                 the libraries of the other ABIs already built are kept
#
# Needs: the Rust targets (rustup target add aarch64-linux-android armv7-linux-androideabi
# x86_64-linux-android i686-linux-android) and std's sources (rustup component add rust-src,
# done here when missing), cargo-ndk (cargo install cargo-ndk), the Android NDK
# (ANDROID_NDK_HOME, or ANDROID_HOME with ndk/<version>), and for step 3 the Android SDK
# (ANDROID_HOME, or sdk.dir in bindings-kotlin/local.properties) and JDK 17 or later; Gradle comes
# through the committed wrapper (bindings-kotlin/gradlew).
#
# Caches: $KEYFOB_CACHE, by default /var/cache/keyfob when it is writable (CI, the project's
# machines), else $XDG_CACHE_HOME/keyfob (~/.cache/keyfob) for a developer's own account.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${KEYFOB_CACHE:-}" ]; then
  if mkdir -p /var/cache/keyfob 2>/dev/null && [ -w /var/cache/keyfob ]; then
    KEYFOB_CACHE=/var/cache/keyfob
  else
    KEYFOB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/keyfob"
  fi
fi
export KEYFOB_CACHE
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
mkdir -p "$KEYFOB_CACHE"

# Keep in step with minSdk in bindings-kotlin/gradle/libs.versions.toml.
min_sdk=24
library="bindings-kotlin/keyfob"
jni_libs="$library/src/main/jniLibs"
generated="$library/src/generated/kotlin"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "build-android: $*" >&2; exit 1; }

run_gradle=true
publish=false
abis=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-gradle) run_gradle=false ;;
    --publish) publish=true ;;
    --abi) [ $# -ge 2 ] || die "--abi needs a value"; abis+=("$2"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ ${#abis[@]} -gt 0 ] || abis=(arm64-v8a armeabi-v7a x86_64 x86)

rust_target() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android ;;
    armeabi-v7a) echo armv7-linux-androideabi ;;
    x86_64) echo x86_64-linux-android ;;
    x86) echo i686-linux-android ;;
    *) die "unknown ABI $1 (arm64-v8a, armeabi-v7a, x86_64, x86)" ;;
  esac
}

for abi in "${abis[@]}"; do rust_target "$abi" >/dev/null; done

# --- tools
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup"
cargo ndk --version >/dev/null 2>&1 || die "cargo-ndk not found: cargo install cargo-ndk"
installed=$(rustup target list --installed)
missing=()
for abi in "${abis[@]}"; do
  target=$(rust_target "$abi")
  grep -qx "$target" <<<"$installed" || missing+=("$target")
done
[ ${#missing[@]} -eq 0 ] || die "missing Rust targets: rustup target add ${missing[*]}"

# The NDK, for cargo-ndk (which also looks there) and for checking the result.
ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
if [ -z "$ndk" ] && [ -d "${ANDROID_HOME:-/nonexistent}/ndk" ]; then
  ndk=$(find "$ANDROID_HOME/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)
fi
if [ -z "$ndk" ] || [ ! -d "$ndk" ]; then
  die "no Android NDK: set ANDROID_NDK_HOME (or ANDROID_HOME with an ndk/<version>)"
fi
export ANDROID_NDK_HOME="$ndk"

# --- 1. native libraries
# The flags scripts/size.sh measures (scripts/mobile-flags.sh): packed relocations, identical
# code folding, 16 KB pages (Android 15+ devices: every LOAD segment aligned to 16 KB, checked
# below), registry paths remapped, std built with the library. RUSTFLAGS reach only the Android
# target: cargo-ndk always passes --target.
# Android's packed relocations need API 23 or later.
[ "$min_sdk" -ge 23 ] || die "minSdk $min_sdk: --pack-dyn-relocs=android needs 23+ (scripts/mobile-flags.sh)"
# shellcheck source=scripts/mobile-flags.sh
. scripts/mobile-flags.sh
# Set for cargo-ndk's build only: exported, they would reach step 2's host build (generate-
# bindings.sh), where the -Z flag and Android's linker flags do not belong.
android_rustflags="${RUSTFLAGS:+$RUSTFLAGS }$(mobile_rustflags android)"
# std is built with the library, without its backtrace symbolizer (scripts/mobile-flags.sh).
mobile_need_rust_src || die "no rust-src component: rustup component add rust-src"
read -r -a build_std_env <<<"$(mobile_build_std_env)"
read -r -a build_std_args <<<"$(mobile_build_std_args)"
ndk_args=()
for abi in "${abis[@]}"; do ndk_args+=(-t "$abi"); done
echo "--- cargo ndk ${abis[*]} (profile mobile, API $min_sdk, std built with it)" >&2
env "${build_std_env[@]}" RUSTFLAGS="$android_rustflags" cargo ndk "${ndk_args[@]}" --platform "$min_sdk" \
  build --locked -p keyfob --lib --features ffi --profile mobile "${build_std_args[@]}"

# The NDK's llvm-readelf for scripts/check-16kb.sh (binutils' readelf, if installed, also works).
READELF=$(find "$ndk/toolchains/llvm/prebuilt" -maxdepth 3 -name llvm-readelf -type f 2>/dev/null | head -n 1)
[ -n "$READELF" ] || READELF=$(command -v readelf || true)
[ -n "$READELF" ] || die "no llvm-readelf in the NDK and no readelf: cannot check 16 KB alignment"
export READELF
for abi in "${abis[@]}"; do
  so="$CARGO_TARGET_DIR/$(rust_target "$abi")/mobile/libkeyfob.so"
  [ -f "$so" ] || die "$so was not built"
  mobile_check_std_built "$CARGO_TARGET_DIR" "$(rust_target "$abi")" || die "$abi: linked with the prebuilt std"
  bash scripts/check-16kb.sh "$so" >/dev/null || die "$abi: $so is not aligned for 16 KB pages"
  # Only this ABI's directory is replaced: `--abi x86_64` keeps the other ABIs built before.
  rm -rf "${jni_libs:?}/$abi"
  mkdir -p "$jni_libs/$abi"
  cp "$so" "$jni_libs/$abi/libkeyfob.so"
  echo "$abi: $(du -h "$so" | cut -f1) $so" >&2
done

# --- 2. Kotlin bindings (generated from the host library: the same code, with its metadata)
bindings="$KEYFOB_CACHE/android/bindings"
bash scripts/generate-bindings.sh "$bindings" >/dev/null
rm -rf "$generated"
mkdir -p "$generated"
cp -R "$bindings/kotlin-android/." "$generated/"

# --- 3. the AAR
if [ "$run_gradle" = false ]; then
  echo "native libraries in $jni_libs, bindings in $generated" >&2
  exit 0
fi
tasks=(:keyfob:assembleRelease)
[ "$publish" = false ] || tasks+=(:keyfob:publishToMavenLocal)
(cd bindings-kotlin && ./gradlew --no-daemon "${tasks[@]}")
aar="bindings-kotlin/keyfob/build/outputs/aar/keyfob-release.aar"
# Every packaged library, JNA's included: what a device loads is what the AAR carries.
bash scripts/check-16kb.sh "$aar" >&2
echo "$aar"
