#!/usr/bin/env bash
# Interop: the real `keyfob` CLI signs in through Debian's Chromium (headless) against real,
# independently written providers on loopback, and exercises the session (README.md, "Interop
# with real providers"):
#
#   node oidc-provider   npm, pinned in interop/package-lock.json; four configurations
#   Keycloak             org.keycloak:keycloak-quarkus-dist from Maven Central, Java 25
#   Ory Hydra            built from the Go module proxy, pinned in interop/hydra/go.{mod,sum}
#
# Everything is installed from the package registries on the first run and cached under
# $KEYFOB_CACHE/interop (and $KEYFOB_CACHE/m2 for Maven); providers and browsers listen on
# ephemeral loopback ports and are stopped on exit. A provider that cannot be installed or
# does not start fails the stage. Writes the number of passed checks to "$KEYFOB_STAGE_COUNT",
# the results to $KEYFOB_CACHE/interop/results.json, and fails when README.md's interop table
# differs from what this run found (`node interop/table.mjs --write` updates it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYFOB_CACHE/target}"
cache="$KEYFOB_CACHE/interop"
mkdir -p "$cache"
KEYCLOAK_VERSION=26.7.3

# Debian packages, installed only when missing.
# shellcheck source=scripts/need.sh
. scripts/need.sh
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }
command -v go >/dev/null || { echo "40-interop: go not found (Ory Hydra is built with it)" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || { echo "40-interop: Node.js 20 or later is needed (found: ${node_major})" >&2; exit 1; }
need chromium chromium
need mvn maven
need unzip unzip
need gcc gcc # Hydra's SQLite (cgo)
java25=$(find /usr/lib/jvm -maxdepth 1 -name '*25*' -type d | sort | tail -n 1)
[ -x "$java25/bin/java" ] || { echo "40-interop: Keycloak $KEYCLOAK_VERSION needs Java 25 in /usr/lib/jvm" >&2; exit 1; }

echo "--- interop: keyfob CLI"
cargo build --locked -p keyfob-cli

echo "--- interop: npm (oidc-provider, playwright-core)"
# Installed once per lock file into the cache; interop/node_modules links to it.
lock_sum=$(sha256sum interop/package-lock.json | cut -c1-16)
node_dir="$cache/node-$lock_sum"
if [ ! -f "$node_dir/.complete" ]; then
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  cp interop/package.json interop/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --cache "$cache/npm")
  touch "$node_dir/.complete"
fi
# A node_modules directory of a manual `npm install` gives way to the link.
[ -L interop/node_modules ] || rm -rf interop/node_modules
ln -sfn "$node_dir/node_modules" interop/node_modules

echo "--- interop: Keycloak $KEYCLOAK_VERSION"
keycloak="$cache/keycloak-$KEYCLOAK_VERSION"
if [ ! -x "$keycloak/bin/kc.sh" ]; then
  mvn -B -ntp -q -Dmaven.repo.local="$KEYFOB_CACHE/m2" dependency:copy \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" -DoutputDirectory="$cache"
  rm -rf "$cache/keycloak.tmp" && unzip -q "$cache/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" -d "$cache/keycloak.tmp"
  mv "$cache/keycloak.tmp/keycloak-$KEYCLOAK_VERSION" "$keycloak"
  rm -rf "$cache/keycloak.tmp" "$cache/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
fi

echo "--- interop: Ory Hydra"
# Built once per go.sum; the module and build caches stay under the cache too.
hydra_sum=$(cat interop/hydra/go.mod interop/hydra/go.sum | sha256sum | cut -c1-16)
hydra="$cache/hydra-$hydra_sum/hydra"
if [ ! -x "$hydra" ]; then
  mkdir -p "$(dirname "$hydra")"
  (cd interop/hydra && GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -tags sqlite,sqlite_omit_load_extension -o "$hydra.tmp" github.com/ory/hydra/v2)
  mv "$hydra.tmp" "$hydra"
fi

echo "--- interop: the matrix"
results="$cache/results.json"
log="$cache/interop.log"
rm -f "$results" "$log"
# The driver stops what it started; if it dies, the trap ends its process group.
set -m
KEYFOB_BIN="$CARGO_TARGET_DIR/debug/keyfob" CHROMIUM="$(command -v chromium)" \
  KEYFOB_INTEROP_KEYCLOAK="$keycloak" JAVA_HOME="$java25" KEYFOB_INTEROP_HYDRA="$hydra" \
  node interop/run.mjs --results "$results" --log "$log" </dev/null &
driver=$!
trap 'kill -- -"$driver" 2>/dev/null || true' EXIT
status=0
wait "$driver" || status=$?
set +m
if [ "$status" -ne 0 ]; then
  echo "40-interop: the matrix failed; the providers' and browsers' output is in $log" >&2
  exit 1
fi

echo "--- interop: README table"
if ! node interop/table.mjs --check "$results" README.md; then
  echo "40-interop: README.md's interop table is not this run's: run \`node interop/table.mjs --write $results README.md\`" >&2
  exit 1
fi
node -e 'const r = require(process.argv[1]); console.log(r.flatMap((row) => row.checks).filter((c) => c.ok).length)' \
  "$results" > "${KEYFOB_STAGE_COUNT:-/dev/null}"
