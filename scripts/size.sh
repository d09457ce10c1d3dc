#!/usr/bin/env bash
# Size budget of the mobile library (issue 9).
#
# Builds exactly what the mobile build scripts ship — `keyfob` with the `ffi` feature (uniffi
# exports, the platform's HTTP through `KeyfobHttpTransport`, no reqwest, no tokio), profile
# `mobile` (opt-level z, fat LTO, one codegen unit, stripped, panic = unwind), with std built
# with it and linked like scripts/build-android.sh builds and links it (scripts/mobile-flags.sh:
# -Zbuild-std without the backtrace symbolizer, lld, packed relocations, identical code folding,
# 16 KB pages) — for the host (x86_64 here, the proxy for each mobile ABI), prints
# the stripped cdylib's size and its largest contributors, and fails when it is above the budget.
# Needs lld (installed with apt-get when missing and possible) and the toolchain's rust-src
# component (installed with rustup when missing).
#
#   budget: 1.0 MB = 1,000,000 bytes (decimal megabyte), override with KEYFOB_SIZE_BUDGET=bytes
#
# Also prints, for the record, the weight of the desktop build with the reqwest transport: a
# program that signs in over `ReqwestTransport` (benches/size-probe), same profile, next to the
# same program over a stand-in platform transport. Options:
#   --no-breakdown   skip the per-crate breakdown (one build less)
#   --no-desktop     skip the desktop build
#   --panic-abort    also build the artifact with panic = "abort" and print the difference
#                    (informational: the shipped library unwinds, see README "Performance")
#
# Caches: $KEYFOB_CACHE (default /var/cache/keyfob): size-target/ (the shipped artifact),
# size-target/symbols/ (the same build unstripped, for the breakdown), size-target/desktop/ and
# desktop-platform/ (the probes), size-target/abort/, and tools/ (cargo-bloat). The last result
# is written to size-target/size-summary.env for scripts/bench.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

breakdown=1 desktop=1 abort=0
for arg in "$@"; do
  case "$arg" in
    --no-breakdown) breakdown=0 ;;
    --no-desktop) desktop=0 ;;
    --panic-abort) abort=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "size.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
SIZE_TARGET="$KEYFOB_CACHE/size-target"
TOOLS="$KEYFOB_CACHE/tools"
BUDGET="${KEYFOB_SIZE_BUDGET:-1000000}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$SIZE_TARGET" "$TOOLS"

# The shipped artifact: the exact command and flags of the mobile build scripts (host target
# here). An explicit --target keeps RUSTFLAGS off build scripts and proc macros.
HOST=$(rustc -vV | sed -n 's/^host: //p')
MOBILE_ARGS=(-p keyfob --profile mobile --features ffi --lib --locked --target "$HOST")
# (the std build's arguments are added below, once scripts/mobile-flags.sh is sourced)
if ! command -v ld.lld >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing lld (the Android NDK's linker) ..." >&2
    { apt-get install -y lld || { apt-get update && apt-get install -y lld; }; } >/dev/null 2>&1
  fi
  command -v ld.lld >/dev/null || { echo "size.sh: ld.lld not found: install lld" >&2; exit 1; }
fi
# shellcheck source=scripts/mobile-flags.sh
. scripts/mobile-flags.sh
MOBILE_RUSTFLAGS="-C link-arg=-fuse-ld=lld $(mobile_rustflags android)"
mobile_need_rust_src
read -r -a BUILD_STD_ENV <<<"$(mobile_build_std_env)"
read -r -a BUILD_STD_ARGS <<<"$(mobile_build_std_args)"
MOBILE_ARGS+=("${BUILD_STD_ARGS[@]}")

mb() { awk -v b="$1" 'BEGIN { printf "%.3f MB (%.3f MiB)", b / 1e6, b / 1048576 }'; }

sections() {
  # The sections that matter, in bytes.
  size -A "$1" | awk '$1 ~ /^\.(text|rodata|eh_frame|eh_frame_hdr|gcc_except_table|data\.rel\.ro|rela\.dyn|got|data|bss)$/ {
    printf "    %-18s %9d\n", $1, $2 }'
}

build_so() { # target-dir, then extra cargo args; prints the path of the .so
  local dir=$1; shift
  env "${BUILD_STD_ENV[@]}" RUSTFLAGS="$MOBILE_RUSTFLAGS" CARGO_TARGET_DIR="$dir" cargo build "$@" >&2
  mobile_check_std_built "$dir" "$HOST" || exit 1
  echo "$dir/$HOST/mobile/libkeyfob.so"
}

echo "=== mobile library: cargo build ${MOBILE_ARGS[*]}"
echo "    RUSTFLAGS=$MOBILE_RUSTFLAGS"
echo "    ${BUILD_STD_ENV[*]}"
so=$(build_so "$SIZE_TARGET" "${MOBILE_ARGS[@]}")
bytes=$(stat -c %s "$so")
gz=$(gzip -9c "$so" | wc -c)
echo "$so"
echo "  stripped cdylib: $bytes bytes = $(mb "$bytes"); gzip -9: $gz bytes"
echo "  budget:          $BUDGET bytes = $(mb "$BUDGET")"
sections "$so"

if [ "$breakdown" = 1 ]; then
  echo "=== largest contributors (same build, symbols kept: CARGO_PROFILE_MOBILE_STRIP=false)"
  export PATH="$TOOLS/bin:$PATH"
  if ! cargo bloat --version >/dev/null 2>&1; then
    echo "installing cargo-bloat into $TOOLS ..."
    CARGO_INSTALL_ROOT="$TOOLS" CARGO_TARGET_DIR="$TOOLS/build" \
      cargo install cargo-bloat --version 0.12.1 --locked >/dev/null 2>&1 || true
    rm -rf "$TOOLS/build"
  fi
  symbols_dir="$SIZE_TARGET/symbols"
  if cargo bloat --version >/dev/null 2>&1; then
    # .text by crate; std split into core/alloc/std/gimli/... so the backtrace printer shows.
    env "${BUILD_STD_ENV[@]}" RUSTFLAGS="$MOBILE_RUSTFLAGS" CARGO_PROFILE_MOBILE_STRIP=false cargo bloat "${MOBILE_ARGS[@]}" \
      --target-dir "$symbols_dir" --crates --split-std -n 16 2>/dev/null |
      sed -n '/^ *File/,$p' | sed '/^Note: numbers/d; /^$/d'
    symbols_so="$symbols_dir/$HOST/mobile/libkeyfob.so"
  else
    echo "(cargo-bloat unavailable: falling back to nm --size-sort on the unstripped build)"
    symbols_so=$(CARGO_PROFILE_MOBILE_STRIP=false build_so "$symbols_dir" "${MOBILE_ARGS[@]}")
    # Sum code symbol sizes by the first path segment of the demangled name.
    nm -S --size-sort -C "$symbols_so" | awk '$3 ~ /^[tTwW]$/ {
        name = $4; for (i = 5; i <= NF; i++) name = name " " $i
        sub(/^</, "", name); sub(/^_/, "", name)
        split(name, p, "::"); crate = (p[2] == "" ? "[C/asm] " p[1] : p[1])
        if (crate ~ /^\[C\/asm\] /) crate = "[C/asm]"
        total[crate] += ("0x" $2) + 0 }
      END { for (c in total) printf "%9d  %s\n", total[c], c }' | sort -rn | head -16
  fi
  # cargo-bloat counts .text only; the largest read-only data objects (4 KiB and more):
  echo "  largest data objects (.rodata/.data):"
  nm -S --size-sort -C "$symbols_so" | while read -r _ size kind name; do
    case "$kind" in r|R|d|D) n=$((16#$size)); [ "$n" -ge 4096 ] && printf '    %9d  %s\n' "$n" "$name" ;; esac
  done | sort -rn | head -8 || true
fi

if [ "$abort" = 1 ]; then
  echo "=== for comparison: the same with panic = \"abort\" (NOT what ships)"
  abort_so=$(CARGO_PROFILE_MOBILE_PANIC=abort build_so "$SIZE_TARGET/abort" "${MOBILE_ARGS[@]}")
  abort_bytes=$(stat -c %s "$abort_so")
  echo "  panic=abort: $abort_bytes bytes = $(mb "$abort_bytes") ($(awk -v a="$abort_bytes" -v b="$bytes" 'BEGIN { printf "%+.1f%%", (a - b) * 100 / b }'))"
fi

desktop_bytes=""
if [ "$desktop" = 1 ]; then
  # The cdylib cannot serve: the FFI never reaches `ReqwestTransport` (apps pass their own
  # transport), so LTO drops it. A desktop program that signs in over it shows its weight.
  echo "=== for the record: a desktop program signing in over the reqwest transport (benches/size-probe, profile mobile)"
  probe=(cargo build --manifest-path benches/Cargo.toml --locked -p keyfob-size-probe --profile mobile)
  CARGO_TARGET_DIR="$SIZE_TARGET/desktop" "${probe[@]}" --features reqwest >&2
  CARGO_TARGET_DIR="$SIZE_TARGET/desktop-platform" "${probe[@]}" >&2
  desktop_bytes=$(stat -c %s "$SIZE_TARGET/desktop/mobile/keyfob-size-probe")
  platform_bytes=$(stat -c %s "$SIZE_TARGET/desktop-platform/mobile/keyfob-size-probe")
  echo "  with ReqwestTransport (reqwest, rustls/ring, hyper, tokio): $desktop_bytes bytes = $(mb "$desktop_bytes") (not budgeted)"
  echo "  the same program over a stand-in platform transport:        $platform_bytes bytes = $(mb "$platform_bytes")"
  echo "  the desktop HTTP stack adds:                                $((desktop_bytes - platform_bytes)) bytes"
fi

status=PASS
[ "$bytes" -le "$BUDGET" ] || status=FAIL
cat > "$SIZE_TARGET/size-summary.env" <<EOF
MOBILE_BYTES=$bytes
MOBILE_GZIP_BYTES=$gz
DESKTOP_BYTES=$desktop_bytes
DESKTOP_PLATFORM_BYTES=${platform_bytes:-}
BUDGET_BYTES=$BUDGET
STATUS=$status
EOF
echo "=== size: $bytes bytes ($(mb "$bytes")) against a budget of $BUDGET bytes: $status"
[ "$status" = PASS ]
