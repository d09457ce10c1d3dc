#!/usr/bin/env bash
# Swift: the Swift package (bindings-swift) built and tested on Linux with Swift 6, against the
# real Rust library and a testkit provider on loopback.
#
# 1. Swift 6 from Debian 13 in a chroot, cached under $KEYFOB_CACHE/trixie
#    (scripts/swift-chroot.sh; built once, about 2-4 minutes).
# 2. The Rust library with the uniffi exports, and the bindings generated from it: the Swift
#    sources committed in bindings-swift must be identical (bindings-swift/sync-bindings.sh).
# 3. A keyfob-testkit on the host (the chroot shares the network), its ready line handed to
#    the tests in KEYFOB_TESTKIT.
# 4. `swift test` in the chroot, from the root Package.swift (the manifest apps add by URL),
#    inside a private mount namespace, with the repository at /src and $KEYFOB_CACHE/swift at
#    /cache (library, SwiftPM build directory).
# 5. The release script's manifest rewrite on a copy (it must still evaluate), and actionlint on
#    every GitHub Actions workflow (scripts/lint-workflows.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
work="$KEYFOB_CACHE/swift"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

echo "--- swift: chroot"
chroot_dir=$(bash scripts/swift-chroot.sh ensure)
# SwiftPM's build directory is only valid for the toolchain that wrote it.
mkdir -p "$work"
if ! cmp -s "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"; then
  rm -rf "$work/build"
  cp "$chroot_dir/.keyfob-chroot-complete" "$work/build.toolchain"
fi

echo "--- swift: Rust library and bindings"
mkdir -p "$work/lib"
lib=$(bash scripts/generate-bindings.sh "$work/bindings")
bash bindings-swift/sync-bindings.sh --check "$work/bindings/swift"
# A copy, so that a concurrent cargo build cannot swap the library under the tests.
cp "$lib" "$work/lib/libkeyfob.so.tmp" && mv "$work/lib/libkeyfob.so.tmp" "$work/lib/libkeyfob.so"

echo "--- swift: testkit"
cargo build --locked -p keyfob-testkit >&2
log=$(mktemp)
# shellcheck source=scripts/testkit-start.sh
. scripts/testkit-start.sh
start_testkit "$CARGO_TARGET_DIR/debug/keyfob-testkit" ""
# shellcheck disable=SC2154 # `ready` is set by start_testkit
echo "$ready"
export KEYFOB_TESTKIT="$ready"

echo "--- swift: swift test"
rm -f "$work"/xunit*.xml
# -L/-rpath: the module map links `keyfob`; the test binary finds it at run time without
# LD_LIBRARY_PATH. The build directory lives in the cache: the repository stays clean.
bash scripts/swift-chroot.sh run --bind "$repo:/src" --bind "$work:/cache" --env KEYFOB_TESTKIT -- \
  sh -c 'cd /src && exec swift test --scratch-path /cache/build \
           --xunit-output /cache/xunit.xml \
           -Xlinker -L/cache/lib -Xlinker -rpath -Xlinker /cache/lib' 2>&1 | tee "$log"

# Every declared test must have run, so that a test lost to an `#if`, a rename or a disabled
# suite is noticed. Declared: the `@Test` functions in Tests/, each in the innermost `@Suite`
# written around it (by indentation); a parameterised test (`arguments:`) declares one case per
# element of its array literal, or at least one when the arguments are not a literal. Ran: the
# Swift Testing XUnit report (one <testcase> per test function, its classname ending in the
# suite) and, for the cases, the log's "Passing … to NAME(…)" lines.
# Test files wrapped whole in an Apple-only `#if` (the real Keychain, …) do not build here: the
# macOS workflow runs them. They are named, and left out of what Linux must run.
test_files=()
while IFS= read -r file; do
  if head -n 1 "$file" | grep -qE '^#if (canImport\((Security|AuthenticationServices|UIKit|LocalAuthentication)\)|os\((iOS|macOS)\))'; then
    echo "swift: $file is Apple-only (run by the macOS workflow)"
  else
    test_files+=("$file")
  fi
done < <(find bindings-swift/Tests -name '*.swift' | sort)
xunit="$work/xunit-swift-testing.xml"
[ -s "$xunit" ] || { echo "20-swift: no Swift Testing report at $xunit" >&2; exit 1; }
# shellcheck disable=SC2046 # the file list is split on purpose
declared=$(awk '
  function indent(s) { return match(s, /[^ \t]/) ? RSTART - 1 : length(s) }
  function pop_to(ind) { while (depth > 0 && sind[depth] >= ind) depth-- }
  function type_name(s,   m) {
    if (!match(s, /(struct|class|enum|actor) +[A-Za-z_][A-Za-z0-9_]*/)) return ""
    m = substr(s, RSTART, RLENGTH); sub(/^[a-z]+ +/, "", m); return m
  }
  # The number of top-level elements of the array literal after "arguments:", or -1.
  function cases(s,   i, c, level, quoted, n, body) {
    if (!match(s, /arguments: *\[/)) return -1
    body = substr(s, RSTART + RLENGTH); level = 1; n = 0; quoted = 0
    for (i = 1; i <= length(body); i++) {
      c = substr(body, i, 1)
      if (quoted) { if (c == "\\") i++; else if (c == "\"") quoted = 0; continue }
      if (c == "\"") { quoted = 1; if (n == 0) n = 1; continue }
      if (c ~ /[[(]/) level++
      else if (c ~ /[])]/) { if (--level == 0) return n }
      else if (c == "," && level == 1) n++
      else if (c !~ /[ \t]/ && n == 0) n = 1
    }
    return -1
  }
  FNR == 1 { depth = 0; suite_at = -1; test_at = -1 }
  suite_at >= 0 && type_name($0) != "" { pop_to(suite_at); sind[++depth] = suite_at; sname[depth] = type_name($0); suite_at = -1 }
  /^[ \t]*@Suite/ { if (type_name($0) != "") { pop_to(indent($0)); sind[++depth] = indent($0); sname[depth] = type_name($0) } else suite_at = indent($0) }
  /^[ \t]*@Test/ { pop_to(indent($0)); test_suite = depth > 0 ? sname[depth] : "(top level)"; test_at = indent($0); attr = "" }
  test_at >= 0 {
    attr = attr " " $0
    if (match($0, /func +[A-Za-z_][A-Za-z0-9_]*/)) {
      name = substr($0, RSTART + 5, RLENGTH - 5); sub(/^ +/, "", name)
      c = attr ~ /arguments:/ ? cases(attr) : "-"
      print test_suite "\t" name "\t" (c == -1 ? "?" : c)
      test_at = -1
    }
  }
' $(printf '%s\n' "${test_files[@]}"))
[ -n "$declared" ] || { echo "20-swift: no @Test declared in bindings-swift/Tests" >&2; exit 1; }

bad=0
# Per suite: test functions in the report against @Test functions declared.
while IFS= read -r suite; do
  want=$(awk -F'\t' -v s="$suite" '$1 == s' <<<"$declared" | wc -l)
  ran=$(grep -oE '<testcase classname="[^"]*"' "$xunit" | sed -E 's/.*classname="([^"]*)"/\1/' |
    awk -v s="$suite" '{ n = split($0, p, "."); if (p[n] == s) c++ } END { print c + 0 }')
  status=ok; [ "$ran" -ge "$want" ] || { status="FEWER THAN DECLARED"; bad=1; }
  printf 'swift: suite %-28s %3d run of %3d declared  %s\n' "$suite" "$ran" "$want" "$status"
done < <(cut -f1 <<<"$declared" | sort -u)
# Per parameterised test: the cases that ran against its arguments ("?": not an array literal,
# so at least one). An empty literal declares no case: the test would pass without running.
while IFS=$'\t' read -r suite name want; do
  [ "$want" != - ] || continue
  ran=$(grep -cE "^. Passing .* to ${name}\(" "$log" || true)
  [ "$want" != "?" ] || want=1
  status=ok
  if [ "$want" -lt 1 ]; then status="DECLARES NO CASE"; bad=1
  elif [ "$ran" -lt "$want" ]; then status="FEWER CASES THAN DECLARED"; bad=1; fi
  printf 'swift: %s.%s: %d cases run of %d declared  %s\n' "$suite" "$name" "$ran" "$want" "$status"
done <<<"$declared"
if grep -q '<skipped' "$xunit"; then
  echo "--- swift: skipped tests"
  grep -B1 '<skipped' "$xunit" | grep -oE 'name="[^"]*"' || true
fi
[ "$bad" = 0 ] || { echo "20-swift: fewer Swift tests ran than are declared (lost to an #if, a rename or a trait?)" >&2; exit 1; }

# The count: every test function, and each case of a parameterised one beyond its first.
# Swift Testing: "✔ Test run with 19 tests passed after 2.3 seconds." (cases not counted).
# XCTest (also run by `swift test`): "Executed 0 tests, with 0 failures ..." (last = all tests).
swift_testing=$(grep -oE 'Test run with [0-9]+ tests? passed' "$log" | tail -n 1 | awk '{print $4}')
xctest=$(grep -oE 'Executed [0-9]+ tests?, with 0 failures' "$log" | tail -n 1 | awk '{print $2}')
parameterised=$(awk -F'\t' '$3 != "-"' <<<"$declared" | wc -l)
extra_cases=$(( $(grep -cE '^. Passing .* to [A-Za-z_][A-Za-z0-9_]*\(' "$log" || true) - parameterised ))
[ "$extra_cases" -ge 0 ] || extra_cases=0
count=$(( ${swift_testing:-0} + extra_cases + ${xctest:-0} ))
echo "swift: $count tests passed (Swift Testing ${swift_testing:-0} tests, $extra_cases more argument cases; XCTest ${xctest:-0})"
echo "$count" > "${KEYFOB_STAGE_COUNT:-/dev/null}"

echo "--- swift: release manifest rewrite"
# shellcheck source=scripts/ios-manifest.sh
. scripts/ios-manifest.sh
check="$work/manifest-check"
rm -rf "$check" && mkdir -p "$check"
cp Package.swift "$check/Package.swift"
ln -s /src/bindings-swift "$check/bindings-swift"
sum=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
set_released_xcframework "$check/Package.swift" "https://github.com/example/keyfob/releases/download/9.9.9/KeyfobFFIC.xcframework.zip" "$sum"
[ "$(diff Package.swift "$check/Package.swift" | grep -c '^>')" = 1 ] || { echo "20-swift: the rewrite changed more than one line" >&2; exit 1; }
grep -q "download/9.9.9/KeyfobFFIC.xcframework.zip\", checksum: \"$sum\")" "$check/Package.swift"
bash scripts/swift-chroot.sh run --bind "$repo:/src" --bind "$work:/cache" -- \
  swift package dump-package --package-path /cache/manifest-check > "$check/dump.json"
grep -q '"KeyfobTests"' "$check/dump.json" || { echo "20-swift: the rewritten manifest does not evaluate" >&2; exit 1; }

echo "--- swift: workflows"
bash scripts/lint-workflows.sh
