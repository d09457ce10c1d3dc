#!/usr/bin/env bash
# Runs the Android tests that need a device, on the emulator .github/workflows/android.yml starts
# (with the testkit listening on the host, which the emulator reaches as 10.0.2.2):
#
#   1. the library's instrumented tests (bindings-kotlin/keyfob/src/androidTest): the Keystore
#      store, the redirect and authorization activities, the merged manifest, login and its
#      cancellation through a stand-in browser;
#   2. the sample's instrumented test with the device's real browser (Chrome: Auth Tab or Custom
#      Tab): sign in, call server A, sign out;
#   3. the sample's release build (R8): it starts, and explains why it cannot sign in.
#
#   scripts/android-emulator-tests.sh DIR
#
# DIR holds the APKs the workflow's build job uploads: keyfob-debug-androidTest.apk,
# app-debug.apk, app-debug-androidTest.apk, app-release.apk. Needs adb and one device.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${1:?usage: scripts/android-emulator-tests.sh DIR}
runner=androidx.test.runner.AndroidJUnitRunner

# Runs an instrumentation and fails unless JUnit reports OK.
instrument() { # instrument PACKAGE LABEL
  local out
  out=$(adb shell am instrument -w "$1/$runner" | tee /dev/stderr)
  case "$out" in
    *"OK ("*) echo "$2: passed" ;;
    *) echo "$2: FAILED" >&2; return 1 ;;
  esac
}

adb wait-for-device
# Chrome without its first-run screens, so that a Custom Tab or Auth Tab opens straight away.
adb shell 'echo "_ --disable-fre --no-default-browser-check --no-first-run" > /data/local/tmp/chrome-command-line'
adb shell am set-debug-app --persistent com.android.chrome || true

echo "--- library instrumented tests"
adb install -r -t "$dir/keyfob-debug-androidTest.apk"
instrument dev.keyfob.test "library"

echo "--- sample with the real browser"
adb install -r "$dir/app-debug.apk"
adb install -r -t "$dir/app-debug-androidTest.apk"
instrument dev.keyfob.sample.test "sample"
adb uninstall dev.keyfob.sample >/dev/null

echo "--- sample release build"
bash scripts/android-release-smoke.sh "$dir/app-release.apk"
