# shellcheck shell=bash
# Sourced by scripts/fuzz.sh (and through it by scripts/test.d/15-fuzz.sh): the toolchain and
# cargo-fuzz for Keyfob's fuzz targets.
#
# cargo-fuzz needs nightly compiler flags (-Zsanitizer=address and others). A nightly toolchain
# is used when one is installed; otherwise stable with RUSTC_BOOTSTRAP=1, which enables those
# flags on a stable compiler (stable toolchains ship the sanitizer runtimes too), so a fresh
# machine with only stable fuzzes as well. RUSTUP_TOOLCHAIN, when set, is obeyed as it is
# (e.g. RUSTUP_TOOLCHAIN=stable to run as a stable-only machine would). A nightly toolchain is
# installed only when KEYFOB_FUZZ_INSTALL_NIGHTLY=1 (CI has no rustup server, only registries).
#
# Sets: fuzz_cargo (the cargo command, as an array), CARGO_TARGET_DIR ($KEYFOB_FUZZ_TARGET_DIR,
# default $KEYFOB_CACHE/fuzz-target), PATH (with $KEYFOB_CACHE/tools/bin, where cargo-fuzz is
# installed when missing).

KEYFOB_CACHE=${KEYFOB_CACHE:-/var/cache/keyfob}
export CARGO_TARGET_DIR="${KEYFOB_FUZZ_TARGET_DIR:-$KEYFOB_CACHE/fuzz-target}"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export PATH="$KEYFOB_CACHE/tools/bin:$PATH"

fuzz_cargo=(cargo)
if [ -n "${RUSTUP_TOOLCHAIN:-}" ]; then
  case "$RUSTUP_TOOLCHAIN" in
    nightly*) ;;
    *) export RUSTC_BOOTSTRAP=1 ;;
  esac
elif rustup run nightly rustc --version >/dev/null 2>&1 \
  || { [ "${KEYFOB_FUZZ_INSTALL_NIGHTLY:-0}" = 1 ] \
       && rustup toolchain install nightly --profile minimal >/dev/null 2>&1; }; then
  fuzz_cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
echo "fuzz: $("${fuzz_cargo[@]}" --version)${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}" >&2

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz under $KEYFOB_CACHE/tools" >&2
  CARGO_INSTALL_ROOT="$KEYFOB_CACHE/tools" cargo install cargo-fuzz --version 0.13.2 --locked
fi
