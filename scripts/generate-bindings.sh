#!/usr/bin/env bash
# Generates the Swift and Kotlin bindings from the keyfob cdylib, in uniffi's library mode.
#
#   scripts/generate-bindings.sh [OUT_DIR]     (default: $KEYFOB_CACHE/bindings)
#
# Writes OUT_DIR/swift (Keyfob*.swift, the C header and modulemap), OUT_DIR/kotlin-android
# (Android flavour: android.* / androidx.annotation imports) and OUT_DIR/kotlin-jvm (plain JVM,
# for the Maven tests). Prints the path of the host library it generated from.
#
# The library is built unstripped in the dev profile (library mode reads uniffi's metadata
# from the symbols). The workspace uniffi.toml is passed explicitly: in library mode uniffi
# would otherwise look for one next to core/Cargo.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
out="${1:-$KEYFOB_CACHE/bindings}"

cargo build --locked -p keyfob --features ffi --lib >&2
cargo build --locked -p uniffi-bindgen >&2
lib="$CARGO_TARGET_DIR/debug/libkeyfob.so"
[ -f "$lib" ] || { echo "generate-bindings: $lib was not built" >&2; exit 1; }
bindgen="$CARGO_TARGET_DIR/debug/uniffi-bindgen"

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
"$bindgen" generate --library "$lib" --no-format --language swift --config uniffi.toml --out-dir "$out.tmp/swift" >&2
"$bindgen" generate --library "$lib" --no-format --language kotlin --config uniffi.toml --out-dir "$out.tmp/kotlin-android" >&2
# Same sources for the JVM: uniffi.toml with `android = false` in the kotlin section.
jvm_config="$out.tmp/uniffi-jvm.toml"
sed -e 's/^android *= *true/android = false/' uniffi.toml > "$jvm_config"
grep -q '^android = false' "$jvm_config" || { echo "generate-bindings: uniffi.toml must set android = true" >&2; exit 1; }
"$bindgen" generate --library "$lib" --no-format --language kotlin --config "$jvm_config" --out-dir "$out.tmp/kotlin-jvm" >&2
rm -f "$jvm_config"
# The generated error class would be dev.keyfob.ffi.KeyfobException, beside the public
# dev.keyfob.KeyfobException that apps catch: it becomes FfiException. (uniffi.toml's `rename`
# misses the converter calls in the error's own methods, so the rename is done here.)
for flavour in kotlin-android kotlin-jvm; do
  sed -i 's/\bKeyfobException\b/FfiException/g' "$out.tmp/$flavour/dev/keyfob/ffi/keyfob.kt"
  ! grep -q 'KeyfobException' "$out.tmp/$flavour/dev/keyfob/ffi/keyfob.kt" ||
    { echo "generate-bindings: KeyfobException left in the $flavour bindings" >&2; exit 1; }
done
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$lib"
