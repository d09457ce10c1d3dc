#!/usr/bin/env bash
# Lints every GitHub Actions workflow (.github/workflows/*.yml, *.yaml) with actionlint: syntax,
# expressions, runner labels, action inputs, and the `run:` scripts through shellcheck when it is
# installed. The workflows themselves run on GitHub's macOS and Android runners only; this is the
# check that they are at least well-formed.
#
#   scripts/lint-workflows.sh
#
# actionlint is a Go module: installed once with `go install` into $KEYFOB_CACHE/tools/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
version=v1.7.12
bin="$KEYFOB_CACHE/tools/bin"
actionlint="$bin/actionlint"

if ! { [ -x "$actionlint" ] && "$actionlint" -version 2>/dev/null | head -n 1 | grep -qx "$version"; }; then
  command -v go >/dev/null || { echo "lint-workflows: go not found (needed once to install actionlint $version)" >&2; exit 1; }
  echo "lint-workflows: installing actionlint $version into $bin" >&2
  mkdir -p "$bin"
  GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
[ ${#workflows[@]} -gt 0 ] || { echo "lint-workflows: no workflow found" >&2; exit 1; }
"$actionlint" -no-color "${workflows[@]}"
echo "lint-workflows: ${#workflows[@]} workflow(s) clean: ${workflows[*]}"
