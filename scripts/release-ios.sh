#!/usr/bin/env bash
# Releases the Swift package: builds the XCFramework (scripts/build-ios.sh --zip), records the
# archive's URL and checksum in Package.swift, commits that, and tags the commit VERSION — the
# tag SwiftPM resolves when an app adds this repository by URL. With --publish it also pushes
# the tag and creates the GitHub release carrying the archive (gh CLI), which the URL names.
#
#   scripts/release-ios.sh VERSION [--repo OWNER/NAME] [--publish] [--sizes FILE]
#
#   VERSION   semantic version without a `v` (1.2.3, 1.2.3-beta.1)
#   --repo    the GitHub repository of the release URL (default: from the `origin` remote)
#   --publish push the tag and create the release with the archive (needs GH_TOKEN)
#   --sizes   passed to build-ios.sh: each slice's size, appended to FILE as Markdown
#
# macOS with Xcode only (the XCFramework needs xcodebuild): anywhere else it stops at once.
# The release commit sits on top of the current one; only the tag needs to be pushed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "release-ios: $*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || die "needs macOS with Xcode: the XCFramework is built with xcodebuild (this is $(uname -s)); run it on a Mac or through the ios workflow (push a tag vVERSION)"

version=""
repo=""
publish=false
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo="${2:?--repo needs OWNER/NAME}"; shift 2 ;;
    --publish) publish=true; shift ;;
    --sizes) sizes=(--sizes "${2:?--sizes needs a file}"); shift 2 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$version" ] || die "one version only"; version=$1; shift ;;
  esac
done
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "usage: scripts/release-ios.sh VERSION (semantic version, e.g. 1.2.3) [--repo OWNER/NAME] [--publish]"
for tool in git swift xcodebuild; do command -v "$tool" >/dev/null || die "$tool not found"; done
if $publish; then command -v gh >/dev/null || die "gh not found (needed for --publish)"; fi
[ -z "$(git status --porcelain)" ] || die "the work tree has changes: commit or stash them first"
if git rev-parse -q --verify "refs/tags/$version" >/dev/null; then die "tag $version exists already"; fi

if [ -z "$repo" ]; then
  remote=$(git remote get-url origin 2>/dev/null) || die "no origin remote: pass --repo OWNER/NAME"
  repo=$(printf '%s\n' "$remote" | sed -E 's#^(git@github\.com:|https://github\.com/)##; s#\.git$##')
  [[ "$repo" =~ ^[^/]+/[^/]+$ ]] || die "origin is not a GitHub repository ($remote): pass --repo OWNER/NAME"
fi
url="https://github.com/$repo/releases/download/$version/KeyfobFFIC.xcframework.zip"

scripts/build-ios.sh --zip "${sizes[@]}"
archive=bindings-swift/KeyfobFFIC.xcframework.zip
checksum=$(swift package compute-checksum "$archive")
[[ "$checksum" =~ ^[0-9a-f]{64}$ ]] || die "unexpected checksum: $checksum"

# shellcheck source=scripts/ios-manifest.sh
. scripts/ios-manifest.sh
set_released_xcframework Package.swift "$url" "$checksum"
# The manifest must still evaluate, now pointing at the release (the local build is ignored).
KEYFOB_XCFRAMEWORK=release swift package dump-package | grep -q "$checksum" || die "Package.swift does not name the new checksum"

git add Package.swift
git commit -q -m "Release $version: KeyfobFFIC.xcframework.zip ($checksum)"
git tag -a "$version" -m "Keyfob $version"
echo "release-ios: tagged $version: $url ($checksum)"

if $publish; then
  git push origin "refs/tags/$version"
  gh release create "$version" "$archive" --repo "$repo" --title "Keyfob $version" --verify-tag \
    --notes "Swift package: add https://github.com/$repo at $version (product Keyfob). XCFramework checksum: $checksum"
  echo "release-ios: published https://github.com/$repo/releases/tag/$version"
else
  echo "release-ios: push the tag (git push origin $version) and attach $archive to its GitHub release"
fi
