#!/usr/bin/env bash
# Prints the size of the npm package's .wasm (raw and gzip -9) and fails when
# the gzipped size exceeds the bound (issue 7: under 250 KB).
#
# Usage: scripts/wasm-size.sh [MAX_GZ_BYTES] (default 250000)
set -euo pipefail

cd "$(dirname "$0")/.."
max="${1:-250000}"
wasm=js/wasm/mimeograph_bg.wasm
if [[ ! -f $wasm ]]; then
    echo "wasm-size.sh: $wasm is missing: run scripts/build-pkg.sh" >&2
    exit 1
fi
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "wasm-size.sh: $wasm: $raw bytes, $gz bytes gzipped (-9); bound $max"
if ((gz > max)); then
    echo "wasm-size.sh: the gzipped .wasm ($gz bytes) is over the bound ($max bytes)" >&2
    exit 1
fi
