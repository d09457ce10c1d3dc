# shellcheck shell=bash
# set_released_xcframework MANIFEST URL CHECKSUM: writes the release's archive URL and checksum
# into the root Package.swift's `releasedXCFramework` line (scripts/release-ios.sh). Portable, so
# that the Swift test stage checks it on Linux; fails if the line is not found exactly once.
set_released_xcframework() {
  local manifest=$1 url=$2 checksum=$3 pattern='^let releasedXCFramework: \(url: String, checksum: String\)\? = '
  [ "$(grep -c -E "$pattern" "$manifest")" = 1 ] || { echo "ios-manifest: no single releasedXCFramework line in $manifest" >&2; return 1; }
  [[ "$url" =~ ^https://[^\"\\]+$ ]] || { echo "ios-manifest: not an https URL: $url" >&2; return 1; }
  [[ "$checksum" =~ ^[0-9a-f]{64}$ ]] || { echo "ios-manifest: not a SwiftPM checksum: $checksum" >&2; return 1; }
  sed -E -i.bak "s#${pattern}.*#let releasedXCFramework: (url: String, checksum: String)? = (url: \"${url}\", checksum: \"${checksum}\")#" "$manifest"
  rm -f "$manifest.bak"
}
