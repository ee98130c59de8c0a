#!/usr/bin/env bash
# Fuzzing (cargo-fuzz, libFuzzer): builds every target in fuzz/ once, then
# runs each for FUZZ_SECONDS from a scratch copy of its checked-in seed
# corpus (fuzz/corpus/<target>), so a run never adds files to the tree.
# Fails on any crash (a panic is a failed property), leak, OOM or input
# slower than 10 s, and prints how to reproduce it.
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every target)
#   FUZZ_SECONDS=N  seconds per target (default 30); 0 runs each seed once
#   FUZZ_ARGS=...   more libFuzzer flags, e.g. FUZZ_ARGS=-jobs=2
# Needs the nightly toolchain and cargo-fuzz (scripts/setup.sh installs them).
set -euo pipefail

cd "$(dirname "$0")/.."
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

seconds="${FUZZ_SECONDS:-30}"
all_targets=(address reply engine header compose)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

# Inputs longer than libFuzzer's default (4096 octets is its default cap,
# but it grows lengths slowly): the structure-aware targets need room.
max_len() {
    case "$1" in
        engine | compose) echo "-max_len=4096 -len_control=20" ;;
        header) echo "-max_len=8192 -len_control=20" ;;
        *) echo "" ;;
    esac
}

echo "fuzz.sh: building ${#all_targets[@]} targets (cargo +nightly fuzz build)"
cargo +nightly fuzz build

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
    if [[ ! -f "fuzz/fuzz_targets/$t.rs" ]]; then
        echo "fuzz.sh: no such target: $t" >&2
        exit 2
    fi
    corpus="$scratch/$t"
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    cp -R "fuzz/corpus/$t/." "$corpus/"
    touch "$scratch/$t.start"
    if [[ "$seconds" == 0 ]]; then
        flags=(-runs=0)
    else
        read -r -a flags <<<"-max_total_time=$seconds $(max_len "$t") ${FUZZ_ARGS:-}"
    fi
    echo
    echo "==> fuzz $t (${seconds}s, seeds: $(ls "fuzz/corpus/$t" | wc -l))"
    rc=0
    cargo +nightly fuzz run "$t" "$corpus" -- \
        "${flags[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$t.log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$scratch/$t.log" || true
    if [[ $rc -ne 0 ]]; then
        echo "fuzz.sh: target $t FAILED (exit $rc):" >&2
        if ! grep -m 1 -A 6 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "$scratch/$t.log" >&2; then
            tail -n 40 "$scratch/$t.log" >&2
        fi
        find "fuzz/artifacts/$t" -type f -newer "$scratch/$t.start" | while read -r f; do
            echo "fuzz.sh: reproducer: $f" >&2
            echo "fuzz.sh:   cargo +nightly fuzz run $t $f" >&2
        done
        failed+=("$t")
    fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ok: ${targets[*]} (${seconds}s each)"
