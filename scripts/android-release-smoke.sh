#!/usr/bin/env bash
# Starts the sample's release build on a connected emulator or device and checks that it runs:
# the release APK is shrunk by R8 (so the library's consumer rules for JNA and the generated
# bindings are exercised), and its issuer is the testkit's plain-http one, which release builds
# refuse. The app must not crash: it must show its "release build ... not HTTPS" message, which
# it can only show after calling into libkeyfob.so through JNA (the core refuses the issuer).
#
#   scripts/android-release-smoke.sh APK
#
# Needs adb on PATH and one device. Used by .github/workflows/android.yml.
set -euo pipefail
apk=${1:?usage: scripts/android-release-smoke.sh APK}
package=dev.keyfob.sample
die() { echo "android-release-smoke: $*" >&2; exit 1; }

adb install -r "$apk" >/dev/null
adb logcat -c
adb shell am start -W -n "$package/.MainActivity" >/dev/null

# Poll the screen for the message (the first frames may still be drawing).
dump=""
for _ in $(seq 1 30); do
  sleep 2
  adb shell uiautomator dump /sdcard/keyfob-window.xml >/dev/null 2>&1 || continue
  dump=$(adb shell cat /sdcard/keyfob-window.xml)
  case "$dump" in *"This release build"*"not HTTPS"*) break ;; esac
done

if adb logcat -d -b crash | grep -q "$package"; then
  adb logcat -d -b crash >&2
  die "the release build crashed"
fi
[ -n "$(adb shell pidof "$package" || true)" ] || die "the release build is not running"
case "$dump" in
  *"This release build"*"not HTTPS"*) echo "release build started and explains the insecure issuer" ;;
  *) echo "$dump" >&2; die "the release build does not show its start-check message" ;;
esac
