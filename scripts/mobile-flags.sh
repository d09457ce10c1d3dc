# shellcheck shell=bash
# Rust flags of the shipped mobile libraries, in one place: sourced by scripts/build-android.sh,
# scripts/build-ios.sh and scripts/size.sh (which measures exactly what Android ships, issue 9).
#
#   mobile_rustflags common    path remapping, for every mobile target
#   mobile_rustflags android   common + the Android linker flags (lld, as in the NDK)
#
# Prints the flags on one line, for RUSTFLAGS. Paths with spaces are not supported (RUSTFLAGS is
# split on spaces); a registry directory with one is skipped with a warning.

# common: the build machine's crate registry paths (panic locations in the binary) become
# /crates/…, so that the library carries no home directory and is the same on every machine.
# android:
# - `--pack-dyn-relocs=android`: Android's packed relocation format (API 23+; minSdk is 24);
#   ~60 KB of 24-byte relocation entries become ~8 KB.
# - `--icf=all`: identical code folding, 14 KB. Rust makes no promise that distinct functions
#   have distinct addresses, so correct Rust code cannot depend on it; Chromium links its Android
#   libraries this way. (`--icf=safe` folds 1 KB here.) Apple's linker folds by default.
# - `-z max-page-size=16384`: 16 KB pages (Android 15+); NDK r28+ and recent cargo-ndk do it too.
mobile_rustflags() {
  local flags=() dir
  for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    case "$dir" in
      *" "*) echo "mobile-flags: not remapping $dir (it has a space)" >&2 ;;
      *) flags+=("--remap-path-prefix=$dir=/crates") ;;
    esac
  done
  case "$1" in
    common) ;;
    android)
      # shellcheck disable=SC2054 # the commas belong to the linker arguments
      flags+=(-C link-arg=-Wl,--pack-dyn-relocs=android -C link-arg=-Wl,--icf=all
        -C link-arg=-Wl,-z,max-page-size=16384) ;;
    *) echo "mobile_rustflags: common or android, not '$1'" >&2; return 2 ;;
  esac
  echo "${flags[*]}"
}
