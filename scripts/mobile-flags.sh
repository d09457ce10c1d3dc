# shellcheck shell=bash
# Rust flags of the shipped mobile libraries, in one place: sourced by scripts/build-android.sh,
# scripts/build-ios.sh and scripts/size.sh (which measures exactly what Android ships, issue 9).
#
#   mobile_rustflags common    path remapping and no panic locations, for every mobile target
#   mobile_rustflags android   common + the Android linker flags (lld, as in the NDK)
#   mobile_build_std_env       the environment that makes cargo build std with the library
#   mobile_need_rust_src       installs the toolchain's std sources when missing (rustup)
#
# Prints the flags on one line, for RUSTFLAGS. Paths with spaces are not supported (RUSTFLAGS is
# split on spaces); a registry directory with one is skipped with a warning.
#
# std built with the library: the mobile libraries do not link the prebuilt std that rustup
# ships. Cargo builds std from the toolchain's own sources (`rust-src`) with the library, in the
# `mobile` profile (opt-level z, fat LTO), with std's features `panic-unwind` and
# `optimize_for_size` and without `backtrace`: the prebuilt std carries a backtrace symbolizer
# (gimli, addr2line, rustc-demangle, miniz_oxide) that only the panic hook's RUST_BACKTRACE
# printing uses, and nothing on a phone reads that stderr. −215 KB of the 1.29 MB library.
# Panics still unwind and are still caught at the FFI boundary (README "Panics").
# -Zlocation-detail=none, with it: panics carry no file, line and column (−24 KB of strings,
# location records and their relocations). A panic's message still reaches the app as an error;
# its location never did (only the panic hook printed it, to a stderr that phones discard).
# `-Zbuild-std` and `-Zlocation-detail` are flags of the nightly channel: the build runs the
# *stable* toolchain the tests run on, with RUSTC_BOOTSTRAP=1 for that cargo command only, as the
# Linux kernel builds its Rust with stable releases. The compiler is the tested release; only
# cargo's std-building step and the location flag are unstable, and a toolchain update that
# changes them fails the build, never the library.

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
  # std's own sources (built with the library, above) become /rustc/<commit>/…, as in the
  # prebuilt std, instead of this machine's rustup directory.
  local sysroot commit
  sysroot=$(rustc --print sysroot)
  commit=$(rustc -vV | sed -n 's/^commit-hash: //p')
  case "$sysroot" in
    *" "*) echo "mobile-flags: not remapping $sysroot (it has a space)" >&2 ;;
    *) flags+=("--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc/${commit:-unknown}") ;;
  esac
  # No panic locations (see the top of this file): needs RUSTC_BOOTSTRAP=1, which the
  # callers set with mobile_build_std_env.
  flags+=(-Zlocation-detail=none)
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

# The environment that makes cargo build std with the library (see the top of this file), as
# VAR=value words for `env`: cargo's -Zbuild-std and -Zbuild-std-features through their config
# variables, so that cargo-ndk and cargo-bloat pass them on too. Needs an explicit --target.
mobile_build_std_env() {
  echo "RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_unwind" \
    "CARGO_UNSTABLE_BUILD_STD_FEATURES=panic-unwind,optimize_for_size"
}

# -Zbuild-std needs the toolchain's std sources: installed with rustup when missing.
mobile_need_rust_src() {
  local src
  src="$(rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml"
  [ -f "$src" ] && return 0
  echo "mobile-flags: installing the rust-src component (std's sources, for -Zbuild-std)" >&2
  if ! rustup component add rust-src >&2 || [ ! -f "$src" ]; then
    echo "mobile-flags: no std sources at $src: rustup component add rust-src" >&2
    return 1
  fi
}
