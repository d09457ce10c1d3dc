#!/usr/bin/env bash
# Kotlin: the Kotlin layer's JVM tests (Maven, JUnit 5) against the real host libkeyfob.so
# (JNA) and the testkit provider; the Android library's and the sample app's Kotlin, and both
# instrumented-test sources, compiled against the Android 16 (API 36) framework jar, and the
# sample's start-check tests; the 16 KB page alignment of JNA's Android libraries, which the AAR
# ships; shellcheck on the shell scripts.
#
# Caches: $KEYFOB_CACHE/m2 (Maven), $KEYFOB_CACHE/kotlin (bindings, library, testkit binary).
# Writes the number of Kotlin tests run to "$KEYFOB_STAGE_COUNT".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
cache="$KEYFOB_CACHE/kotlin"

# Debian packages, installed only when missing.
# shellcheck source=scripts/need.sh
. scripts/need.sh
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }
need javac openjdk-17-jdk-headless
need mvn maven
need shellcheck shellcheck
need readelf binutils
need unzip unzip

echo "--- shellcheck"
shellcheck --severity=warning scripts/*.sh scripts/test.d/*.sh .ci/run

echo "--- host library, bindings and testkit"
mkdir -p "$cache/native"
lib=$(bash scripts/generate-bindings.sh "$cache/bindings")
cargo build --locked -p keyfob-testkit --bin keyfob-testkit
# Copies, so that later cargo builds in the shared target directory (other features) cannot
# swap the library under the tests or out of step with the generated code.
cp "$lib" "$cache/native/libkeyfob.so"
cp "$CARGO_TARGET_DIR/debug/keyfob-testkit" "$cache/native/keyfob-testkit"

echo "--- maven"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(
  cd bindings-kotlin
  # clean: classes of renamed or deleted sources must not linger on the test classpath.
  mvn -B -ntp -Dmaven.repo.local="$KEYFOB_CACHE/m2" \
    -Dkeyfob.bindings="$cache/bindings" -Dkeyfob.native="$cache/native" clean test
) 2>&1 | tee "$log"

echo "--- 16 KB pages: JNA's Android libraries (the AAR's dependency)"
jna=$(sed -n 's:.*<jna.version>\(.*\)</jna.version>.*:\1:p' bindings-kotlin/pom.xml)
mvn -B -q -ntp -Dmaven.repo.local="$KEYFOB_CACHE/m2" dependency:get \
  -Dartifact="net.java.dev.jna:jna:$jna:aar" -Dtransitive=false
bash scripts/check-16kb.sh "$KEYFOB_CACHE/m2/net/java/dev/jna/jna/$jna/jna-$jna.aar"

# Surefire's per-module summary: "[INFO] Tests run: 56, Failures: 0, Errors: 0, Skipped: 0".
ran=$(grep -E '^\[(INFO|WARNING)\] Tests run: [0-9]+, Failures: 0, Errors: 0, Skipped: [0-9]+$' "$log" |
  sed -E 's/.*Tests run: ([0-9]+), .*Skipped: ([0-9]+)$/\1 \2/' |
  awk '{n += $1 - $2} END {print n + 0}')
# JUnit 5 silently skips a @Test whose function returns a value (e.g. `= runBlocking { … }`
# ending in an expression): every declared test must have run.
declared=$(grep -rhE '^\s*@Test\b' bindings-kotlin/keyfob/src/jvmTest examples-android/app/src/test | wc -l)
if [ "$ran" -lt "$declared" ]; then
  echo "30-kotlin: $declared tests declared but only $ran ran" >&2
  exit 1
fi
echo "kotlin: $ran tests passed"
echo "$ran" > "${KEYFOB_STAGE_COUNT:-/dev/null}"
