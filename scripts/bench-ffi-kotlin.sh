#!/usr/bin/env bash
# Kotlin FFI figures for scripts/bench.sh (issue 6): the median time per call of the synchronous
# `Keyfob.cachedAccessToken()` (budget ≤ 2 µs; the core's C accessor `keyfob_cached_access_token`
# through JNA direct mapping) and of the suspend `accessToken()` (the generated bindings), from
# Kotlin into the release-built libkeyfob.so, on a client signed in at a keyfob-testkit provider
# with a valid token in memory.
#
#   scripts/bench-ffi-kotlin.sh [SUMMARY_FILE]
#
# Prints, and appends to SUMMARY_FILE when given (bench.sh's hook contract):
#   KOTLIN_CACHED_ACCESS_TOKEN_NS=<median ns per call>
#   KOTLIN_ACCESS_TOKEN_NS=<median ns per call, suspend>
# KEYFOB_BENCH_FFI_CALLS (default 200000) calls per round, KEYFOB_BENCH_FFI_ROUNDS (default 7)
# rounds after one warm-up round; the figure is the median round.
#
# Same steps as scripts/test.d/30-kotlin.sh (bindings, testkit, Maven compile of the Kotlin layer
# in bindings-kotlin/jvm), except that the library loaded is the release build. The harness,
# bindings-kotlin/jvm/src/bench/kotlin/FfiBench.kt, is not part of the Maven build: it is compiled
# here with the Kotlin compiler that Maven already cached, and run in a JVM with the full JIT.
#
# Cargo builds go to $KEYFOB_FFI_TARGET (default $KEYFOB_CACHE/target, shared with the test
# stages) rather than bench.sh's CARGO_TARGET_DIR; outputs in $KEYFOB_CACHE/ffi-bench/kotlin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
summary="${1:-}"
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${KEYFOB_FFI_TARGET:-$KEYFOB_CACHE/target}"
work="$KEYFOB_CACHE/ffi-bench/kotlin"
m2="$KEYFOB_CACHE/m2"
calls="${KEYFOB_BENCH_FFI_CALLS:-200000}"
rounds="${KEYFOB_BENCH_FFI_ROUNDS:-7}"

for tool in cargo java mvn; do
  command -v "$tool" >/dev/null || { echo "bench-ffi-kotlin: $tool not found (see scripts/test.d/30-kotlin.sh)" >&2; exit 1; }
done

echo "--- kotlin bench: bindings, release library, testkit" >&2
mkdir -p "$work/native"
bash scripts/generate-bindings.sh "$work/bindings" >/dev/null
cargo build --locked --release -p keyfob --features ffi --lib >&2
cargo build --locked -p keyfob-testkit --bin keyfob-testkit >&2
cp "$CARGO_TARGET_DIR/release/libkeyfob.so" "$work/native/libkeyfob.so"
cp "$CARGO_TARGET_DIR/debug/keyfob-testkit" "$work/native/keyfob-testkit"

echo "--- kotlin bench: maven compile (bindings-kotlin/jvm)" >&2
(
  cd bindings-kotlin
  mvn -B -ntp -q -Dmaven.repo.local="$m2" -pl jvm \
    -Dkeyfob.bindings="$work/bindings" -Dkeyfob.native="$work/native" compile
) >&2

# Versions as the Maven build pins them (bindings-kotlin/pom.xml).
prop() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" bindings-kotlin/pom.xml | head -n 1; }
kotlin=$(prop kotlin.version)
coroutines=$(prop coroutines.version)
jna=$(prop jna.version)
jar() { # jar GROUP_PATH ARTIFACT VERSION
  local f="$m2/$1/$2/$3/$2-$3.jar"
  [ -f "$f" ] || { echo "bench-ffi-kotlin: $f missing: run scripts/test.sh kotlin once" >&2; exit 1; }
  echo "$f"
}
jb=org/jetbrains/kotlin
stdlib=$(jar "$jb" kotlin-stdlib "$kotlin")
# The compiler's own runtime dependencies (kotlin-compiler-embeddable's pom).
compiler_cp="$(jar "$jb" kotlin-compiler-embeddable "$kotlin"):$stdlib"
compiler_cp+=":$(jar "$jb" kotlin-script-runtime "$kotlin"):$(jar "$jb" kotlin-daemon-embeddable "$kotlin")"
compiler_cp+=":$(jar "$jb" kotlin-reflect 1.6.10):$(jar org/jetbrains annotations 13.0)"
compiler_cp+=":$(jar org/jetbrains/kotlinx kotlinx-coroutines-core-jvm 1.8.0)"
run_cp="$repo/bindings-kotlin/jvm/target/classes:$stdlib"
run_cp+=":$(jar org/jetbrains/kotlinx kotlinx-coroutines-core-jvm "$coroutines"):$(jar net/java/dev/jna jna "$jna")"

echo "--- kotlin bench: compile FfiBench.kt" >&2
rm -rf "$work/classes"
java -cp "$compiler_cp" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
  -no-stdlib -no-reflect -jvm-target 17 -nowarn -classpath "$run_cp" -d "$work/classes" \
  bindings-kotlin/jvm/src/bench/kotlin/FfiBench.kt >&2

echo "--- kotlin bench: testkit" >&2
log=$(mktemp)
# shellcheck source=scripts/testkit-start.sh
. scripts/testkit-start.sh
start_testkit "$work/native/keyfob-testkit" "bench-ffi-kotlin: "

echo "--- kotlin bench: run ($rounds rounds of $calls calls)" >&2
java -Djna.library.path="$work/native" -Djna.nosys=true -cp "$work/classes:$run_cp" \
  FfiBenchKt "$ready" "$calls" "$rounds" > "$log"
grep -qE '^KOTLIN_CACHED_ACCESS_TOKEN_NS=[0-9.]+$' "$log" || {
  cat "$log" >&2; echo "bench-ffi-kotlin: no figure in the harness output" >&2; exit 1; }
grep -E '^KOTLIN_[A-Z_]+_NS=' "$log" | tee -a "${summary:-/dev/null}"
