# shellcheck shell=bash
# Rust flags of the shipped mobile libraries, in one place: sourced by scripts/build-android.sh,
# scripts/build-ios.sh and scripts/size.sh (which measures exactly what Android ships, issue 9).
#
#   mobile_rustflags common    path remapping and no panic locations, for every mobile target
#   mobile_rustflags android   common + the Android linker flags (lld, as in the NDK)
#   mobile_build_std_args      the cargo arguments that build std with the library
#   mobile_build_std_env       the environment they need (RUSTC_BOOTSTRAP=1)
#   mobile_need_rust_src       installs the toolchain's std sources when missing (rustup)
#   mobile_check_std_built     fails unless std was built with the library in a target dir
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
# *stable* toolchain the tests run on, with RUSTC_BOOTSTRAP=1 for that cargo command only (the
# Linux kernel, too, builds its Rust with stable releases and RUSTC_BOOTSTRAP=1, though it
# builds `core` itself and Rust's own CI builds it). The compiler is the tested release; cargo's
# std-building step and the location flag are unstable, so a toolchain update that changes them
# must fail the build, never quietly change the library: the flags are cargo arguments (an
# unknown `-Z` is an error) and mobile_check_std_built checks the result. RUSTC_BOOTSTRAP=1 is
# also seen by dependencies' build scripts: anyhow (in the library, through uniffi) and
# proc-macro2 (host) probe for nightly features and use them when the probe compiles, so the
# shipped anyhow is compiled with `error_generic_member_access`. std's own dependencies
# (hashbrown, libc, …) come from crates.io on the first build: `cargo fetch` does not cover them.

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

# The cargo arguments that build std with the library (see the top of this file), for
# `cargo build`, `cargo ndk … build` and `cargo bloat`. Needs an explicit --target and
# mobile_build_std_env in the environment.
mobile_build_std_args() {
  echo "-Z build-std=std,panic_unwind -Z build-std-features=panic-unwind,optimize_for_size"
}

# The environment mobile_build_std_args and -Zlocation-detail need, as VAR=value words for `env`.
mobile_build_std_env() {
  echo "RUSTC_BOOTSTRAP=1"
}

# Fails (with a message) unless the target dir $1 holds a std built for target $2 in the mobile
# profile: the proof that the library was linked with it, not with the prebuilt one.
mobile_check_std_built() {
  local found
  found=$(find "$1/$2/mobile/deps" -maxdepth 1 -name 'libstd-*.rlib' 2>/dev/null | head -n 1)
  if [ -z "$found" ]; then
    echo "mobile-flags: no std built with the library in $1/$2/mobile: -Zbuild-std did not run" >&2
    return 1
  fi
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
