#!/usr/bin/env bash
# Rust: formatting, clippy (warnings are errors, `missing_docs` included), the dependency rules
# (scripts/check-layering.sh), and every test of the workspace (core/tests/layering.rs checks
# the core's import rules).
#
# A test that silently stops running (lost behind a `cfg`, a feature, a renamed file, or an
# `#[ignore]`) must fail this stage: every test binary (the unit tests of each crate taken
# together) must run at least as many tests as its sources declare with `#[test]` or
# `#[tokio::test]`, counting ignored ones. An `#[ignore]` needs a reason
# (`#[ignore = "why"]`); the stage prints every ignored test with its reason.
set -euo pipefail
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
bash scripts/check-layering.sh
# The benchmarks are their own workspace (criterion stays out of the main lock file); checking
# them here keeps scripts/bench.sh building as the API changes (cold about 1.5 min, warm seconds).
cargo fmt --manifest-path benches/Cargo.toml --check
cargo clippy --manifest-path benches/Cargo.toml --all-targets --locked -- -D warnings

artifacts=$(mktemp)
log=$(mktemp)
trap 'rm -f "$artifacts" "$log"' EXIT
# Which executable is which test target of which package: cargo's JSON build messages.
cargo test --workspace --all-features --locked --no-run --message-format=json >"$artifacts"
cargo test --workspace --all-features --locked 2>&1 | tee "$log"

# "test result: ok. 12 passed; 0 failed; 1 ignored; ..." once per test binary.
grep -oE 'test result: ok\. [0-9]+ passed' "$log" | awk '{n += $4} END {print n + 0}' > "${KEYFOB_STAGE_COUNT:-/dev/null}"

# The declared tests of a group of source files: `#[test]`, `#[tokio::test]`, `#[tokio::test(…)]`
# attributes at the start of a line.
declared() {
  { grep -hE '^\s*#\[([a-z_]+::)?test(\(.*\))?\]' "$@" 2>/dev/null || true; } | wc -l
}

# One line per test executable: group, source files (space-separated), executable file name.
# Unit tests (lib and bin targets) of a crate form one group: its src/ tree. An integration test
# `tests/NAME.rs` is its file plus `tests/NAME/`; `tests/NAME/main.rs` is its directory.
targets=$(grep '"reason":"compiler-artifact"' "$artifacts" | grep '"executable":"' |
  grep '"test":true},"features"' |
  sed -E 's/.*"manifest_path":"([^"]*)".*"kind":\["([^"]*)".*"src_path":"([^"]*)".*"executable":"([^"]*)".*/\1 \2 \3 \4/')
[ -n "$targets" ] || { echo "10-rust: no test executables in cargo's build messages" >&2; exit 1; }
groups=$(mktemp)
trap 'rm -f "$artifacts" "$log" "$groups"' EXIT
while read -r manifest kind src exe; do
  crate=$(dirname "$manifest")
  case "$kind" in
    lib | bin | proc-macro)
      group="${crate#"$PWD"/}/src (unit tests)"
      files=$(find "$crate/src" -name '*.rs' | sort | tr '\n' ' ') ;;
    test)
      group="${src#"$PWD"/}"
      if [ "$(basename "$src")" = main.rs ]; then
        files=$(find "$(dirname "$src")" -name '*.rs' | sort | tr '\n' ' ')
      else
        files="$src $( { find "${src%.rs}" -name '*.rs' 2>/dev/null || true; } | sort | tr '\n' ' ')"
      fi ;;
    *) continue ;;
  esac
  # shellcheck disable=SC2086 # the file list is split on purpose
  printf '%s\t%s\t%s\t%s\n' "$group" "$(declared $files)" "$(basename "$exe")" "$files"
done <<<"$targets" >"$groups"

# An ignored test must say why, in the source and therefore in the output.
# shellcheck disable=SC2046 # the file lists are split on purpose
bare_ignores=$(grep -nE '^\s*#\[ignore\]' $(cut -f4 "$groups" | tr ' ' '\n' | sort -u) || true)
if [ -n "$bare_ignores" ]; then
  echo "10-rust: #[ignore] without a reason (write #[ignore = \"why\"]):" >&2
  echo "$bare_ignores" >&2
  exit 1
fi
ignored=$(grep -E '^test .* \.\.\. ignored' "$log" || true)
if [ -n "$ignored" ]; then
  echo "--- rust: ignored tests"
  echo "$ignored"
fi

# Tests run per executable ("Running … (…/deps/NAME-HASH)" then its "test result" line),
# summed per group and compared with the declared count.
awk -F'\t' '
  FNR == NR { group[$3] = $1; want[$1] = $2; next }
  /^ *Running / {
    exe = $0; sub(/.*\//, "", exe); sub(/\)$/, "", exe); current = exe; next
  }
  /^ *Doc-tests / { current = ""; next }
  /^test result: / && current != "" {
    if (!(current in group)) { print "10-rust: no build message for the test executable " current > "/dev/stderr"; bad = 1; next }
    n = split($0, f, /[ .;]+/)
    for (i = 1; i < n; i++) {
      if (f[i + 1] == "passed" || f[i + 1] == "ignored") ran[group[current]] += f[i]
    }
    seen[group[current]] = 1
    current = ""
  }
  END {
    for (g in want) {
      if (!(g in seen)) { printf "10-rust: %s declares %d tests but did not run\n", g, want[g] > "/dev/stderr"; bad = 1; continue }
      status = ran[g] + 0 >= want[g] ? "ok" : "FEWER THAN DECLARED"
      printf "rust: %-45s %4d run of %4d declared  %s\n", g, ran[g], want[g], status | "sort"
      if (ran[g] + 0 < want[g]) bad = 1
    }
    close("sort")
    exit bad
  }
' "$groups" "$log" || {
  echo "10-rust: a test binary ran fewer tests than its sources declare (lost to a cfg, a feature or a rename?)" >&2
  exit 1
}
