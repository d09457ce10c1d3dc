#!/usr/bin/env bash
# Mutation testing of the core's input checks with cargo-mutants (crates.io): every mutant is a
# small bug put into one function (a condition inverted, a return value replaced, …), and the
# core's tests run against it. A mutant the tests do not notice ("missed") is a check they do not
# pin down. One test run per mutant: far too long for scripts/test.sh, so it is run by hand.
#
#   scripts/mutants.sh                        the default input-checking modules
#   scripts/mutants.sh core/src/oidc/pkce.rs …   the given files of the core
#
# Installs cargo-mutants under $KEYFOB_CACHE/tools when missing. Works on a copy of the source
# tree (the checkout is never modified), with its own target directory under
# $KEYFOB_CACHE/mutants, where the results stay (mutants.out: caught.txt, missed.txt, …).
# Prints the counts at the end: caught, missed, unviable (does not build), timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KEYFOB_CACHE="${KEYFOB_CACHE:-/var/cache/keyfob}"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

version=27.0.0
tools="$KEYFOB_CACHE/tools"
mutants="$tools/bin/cargo-mutants"
if ! "$mutants" mutants --version 2>/dev/null | grep -qx "cargo-mutants $version"; then
  echo "--- installing cargo-mutants $version under $tools"
  cargo install --locked --root "$tools" --version "$version" cargo-mutants
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(core/src/oidc/jws.rs core/src/oidc/jwa.rs core/src/oidc/jwks.rs core/src/oidc/id_token.rs
         core/src/oidc/authorize.rs core/src/oidc/discovery.rs core/src/oidc/token.rs)
fi
args=()
for f in "${files[@]}"; do
  case "$f" in
    core/src/*) ;;
    *) echo "mutants.sh: $f is not a file of the core (core/src/…)" >&2; exit 2 ;;
  esac
  [ -f "$f" ] || { echo "mutants.sh: no such file: $f" >&2; exit 2; }
  args+=(--file "$f")
done

work="$KEYFOB_CACHE/mutants"
mkdir -p "$work"
# One build and test at a time (the machines have two cores), only the core's own tests (unit,
# integration and conformance, with the testkit), and a generous timeout: a mutant that makes a
# test hang is a "timeout", not a failure of the run.
status=0
CARGO_TARGET_DIR="$work/target" "$mutants" mutants \
  --package keyfob --test-workspace false "${args[@]}" \
  --jobs 1 --timeout-multiplier 5 \
  --output "$work" --no-shuffle || status=$?
# cargo-mutants exits 2 when mutants were missed and 3 when some timed out: still a result.
case "$status" in
  0 | 2 | 3) ;;
  *) echo "mutants.sh: cargo-mutants failed (exit $status)" >&2; exit "$status" ;;
esac

out="$work/mutants.out"
count() {
  if [ -f "$out/$1.txt" ]; then grep -c . "$out/$1.txt" || true; else echo 0; fi
}
echo "--- mutants of ${files[*]}"
printf 'caught %s  missed %s  unviable %s  timeout %s\n' \
  "$(count caught)" "$(count missed)" "$(count unviable)" "$(count timeout)"
if [ -s "$out/missed.txt" ]; then
  echo "--- missed (no test noticed these bugs):"
  cat "$out/missed.txt"
fi
