#!/usr/bin/env bash
# Checks that every native library is aligned for 16 KB pages (Android 15+ devices, and Google
# Play for apps targeting them): each ELF LOAD segment aligned to at least 16384 bytes.
#
#   scripts/check-16kb.sh PATH...
#
# PATH is a .so, an archive holding .so files (.aar, .apk, .aab, .jar, .zip), or a directory
# searched for both. Every library found is checked, not only Keyfob's: an AAR or APK also
# carries JNA's libjnidispatch.so. Exits 1 naming each misaligned library, 2 when a PATH holds
# no library at all (a packaging mistake, not a pass).
#
# Uses $READELF, else llvm-readelf, else binutils' readelf (both read every Android ABI).
set -euo pipefail

die() { echo "check-16kb: $*" >&2; exit 2; }
[ $# -gt 0 ] || die "usage: scripts/check-16kb.sh PATH..."

readelf="${READELF:-}"
if [ -z "$readelf" ]; then
  for candidate in llvm-readelf readelf; do
    if command -v "$candidate" >/dev/null; then readelf=$candidate; break; fi
  done
fi
[ -n "$readelf" ] || die "no readelf: install binutils or put the NDK's llvm-readelf on PATH (or set READELF)"
command -v unzip >/dev/null || die "unzip not found"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "OK|BAD <alignments> <name>" for one library.
check_one() { # check_one FILE NAME
  local aligns bad=false a
  aligns=$("$readelf" -lW "$1" | awk '$1 == "LOAD" {print $NF}')
  [ -n "$aligns" ] || { echo "BAD (no LOAD segment) $2"; return; }
  for a in $aligns; do
    [ $((a)) -ge 16384 ] || bad=true
  done
  if [ "$bad" = true ]; then echo "BAD $(echo "$aligns" | tr '\n' ' ')$2"; else echo "OK $2"; fi
}

# Lists "FILE<TAB>NAME" for every library under PATH (archives unpacked into $work).
libraries() { # libraries PATH
  local path=$1 dir
  case "$path" in
    *.so) printf '%s\t%s\n' "$path" "$path" ;;
    *.aar | *.apk | *.aab | *.jar | *.zip)
      dir=$(mktemp -d "$work/x.XXXXXX")
      unzip -q -o "$path" '*.so' -d "$dir" 2>/dev/null || true
      find "$dir" -name '*.so' -type f | sort | while read -r so; do
        printf '%s\t%s!/%s\n' "$so" "$path" "${so#"$dir"/}"
      done ;;
    *)
      [ -d "$path" ] || die "$path: not a .so, an archive or a directory"
      find "$path" -type f \( -name '*.so' -o -name '*.aar' -o -name '*.apk' \) | sort |
        while read -r f; do libraries "$f"; done ;;
  esac
}

status=0
for path in "$@"; do
  [ -e "$path" ] || die "$path does not exist"
  found=0
  while IFS=$'\t' read -r file name; do
    found=$((found + 1))
    result=$(check_one "$file" "$name")
    echo "$result"
    case "$result" in BAD*) status=1 ;; esac
  done < <(libraries "$path")
  [ "$found" -gt 0 ] || die "$path holds no native library"
done
if [ "$status" -ne 0 ]; then
  echo "check-16kb: some libraries are not aligned for 16 KB pages (link with -z max-page-size=16384)" >&2
fi
exit "$status"
