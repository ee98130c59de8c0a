#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run).
#
# Installs what is missing (scripts/setup.sh), then runs every stage in order
# and stops at the first failure. Stages for later work (wasm tests in Node
# and in the browser, JS tests) run only once their files exist, so adding a
# test file is enough to get it run here.
#
# Usage: scripts/test.sh [--no-setup]
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

run_setup=1
for arg in "$@"; do
    case "$arg" in
        --no-setup) run_setup=0 ;;
        -h | --help)
            sed -n '2,9p' "$0"
            exit 0
            ;;
        *)
            echo "test.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

passed=()
skipped=()
started_at=$SECONDS

# stage NAME COMMAND...: announce, run, and stop everything on failure.
stage() {
    local name="$1"
    shift
    local t0=$SECONDS
    echo
    echo "==> [$name] $*"
    local rc=0
    "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo
        echo "test.sh: FAILED at stage [$name] (exit code $rc): $*" >&2
        if [[ ${#passed[@]} -gt 0 ]]; then
            echo "test.sh: stages that passed before it: ${passed[*]}" >&2
        fi
        exit "$rc"
    fi
    echo "<== [$name] ok ($((SECONDS - t0)) s)"
    passed+=("$name")
}

# skip NAME REASON: record a stage that does not apply (yet).
skip() {
    echo
    echo "--- [$1] skipped: $2"
    skipped+=("$1")
}

# --- setup ---------------------------------------------------------------------
if [[ $run_setup == 1 ]]; then
    stage setup scripts/setup.sh
else
    skip setup "--no-setup"
fi
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

# --- fixtures ------------------------------------------------------------------
# Shared fixtures live beside the repo in ../shared/fixtures (read-only). In a
# git worktree, they are beside the main checkout instead. tests/fixtures in
# the repo is the fallback. A MIMEOGRAPH_FIXTURES already set wins.
if [[ -z "${MIMEOGRAPH_FIXTURES:-}" ]]; then
    git_common="$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
    for candidate in \
        "$repo_root/../shared/fixtures" \
        ${git_common:+"$git_common/../../shared/fixtures"} \
        "$repo_root/tests/fixtures"; do
        if [[ -d "$candidate" ]]; then
            MIMEOGRAPH_FIXTURES="$(cd "$candidate" && pwd)"
            break
        fi
    done
fi
if [[ -n "${MIMEOGRAPH_FIXTURES:-}" ]]; then
    export MIMEOGRAPH_FIXTURES
    echo "test.sh: MIMEOGRAPH_FIXTURES=$MIMEOGRAPH_FIXTURES"
else
    echo "test.sh: warning: no fixtures folder found (../shared/fixtures, tests/fixtures); MIMEOGRAPH_FIXTURES unset" >&2
fi

# --- Rust: format, lints, wasm build, tests ----------------------------------
stage fmt cargo fmt --all --check

# --all-features includes `wasm`; it builds natively (wasm-bindgen and js-sys
# compile on any target), so one native clippy sees all code. The second run
# lints what only exists under cfg(target_arch = "wasm32").
stage clippy cargo clippy --all-targets --all-features -- -D warnings
stage clippy-wasm cargo clippy --target wasm32-unknown-unknown --no-default-features --features wasm -- -D warnings

stage wasm-build cargo build --target wasm32-unknown-unknown --no-default-features --features wasm

# --all-targets runs lib, bins, tests/*.rs and examples but not doctests.
stage cargo-test cargo test --all-targets --all-features
stage doc-test cargo test --doc --all-features
# Every intra-doc link resolves, private items' too.
stage docs env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --all-features

# --- external parser checkers: self-test on the hand-written corpus ----------
stage parsers-python python3 tests/parsers/check_python.py tests/parsers/sample
stage parsers-mailparser node tests/parsers/check_mailparser.mjs tests/parsers/sample

# --- later stages: run only when their files exist ----------------------------
# wasm-pack never downloads anything here (--mode no-install): it uses the
# wasm-bindgen-test-runner and chromedriver that setup.sh installed.
wasm_test_args=(--no-default-features --features wasm)
if [[ -f tests/wasm_node.rs ]]; then
    stage wasm-node wasm-pack test --mode no-install --node -- "${wasm_test_args[@]}" --test wasm_node
else
    skip wasm-node "tests/wasm_node.rs does not exist"
fi
# The library's own #[wasm_bindgen_test]s under Node (encoding::text: the
# SIMD128 block tests against the plain ones, the scan and CRLF conversion
# against their byte-at-a-time definitions).
stage wasm-lib wasm-pack test --mode no-install --node -- "${wasm_test_args[@]}" --lib

if [[ -f tests/wasm_browser.rs ]]; then
    export CHROMEDRIVER=/usr/bin/chromedriver
    stage wasm-browser wasm-pack test --mode no-install --headless --chrome --chromedriver /usr/bin/chromedriver \
        -- "${wasm_test_args[@]}" --test wasm_browser
else
    skip wasm-browser "tests/wasm_browser.rs does not exist"
fi

if [[ -d js/test ]]; then
    # The npm package's tests run against the built wasm package.
    stage build-pkg scripts/build-pkg.sh
    # The .wasm's download size: printed, and a bound (issue 7).
    stage wasm-size scripts/wasm-size.sh 250000
    stage js-test node --test js/test/*.test.mjs
    # The Node bench in its quick mode: a smoke test (outputs checked with
    # mailparser; no assertion on speed).
    stage bench-node-quick node benches/node/bench.mjs --quick
else
    skip js-test "js/test/ does not exist"
fi

# --- fuzzing: every cargo-fuzz target for FUZZ_SECONDS (default 30) each ------
if [[ -d fuzz/fuzz_targets ]]; then
    # All five targets, 30 s each after one build; longer runs by hand:
    # FUZZ_SECONDS=300 scripts/fuzz.sh TARGET (see fuzz/README.md).
    stage fuzz scripts/fuzz.sh address reply engine header compose
else
    skip fuzz "fuzz/ does not exist"
fi

# --- summary -------------------------------------------------------------------
echo
echo "test.sh: all stages ok in $((SECONDS - started_at)) s; ran: ${passed[*]}; skipped: ${skipped[*]:-none}"
