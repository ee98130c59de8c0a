#!/usr/bin/env bash
# Builds the wasm package with wasm-pack (no downloads: --mode no-install uses
# the locally installed wasm-bindgen) into pkg/, then assembles the npm
# package in js/ (copies the wasm glue into js/wasm/) and, with --pack, packs
# it into target/npm/mimeograph-VERSION.tgz.
#
# Usage: scripts/build-pkg.sh [--pack] [--dev]
set -euo pipefail

cd "$(dirname "$0")/.."
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

pack=0
profile=--release
for arg in "$@"; do
    case "$arg" in
        --pack) pack=1 ;;
        --dev) profile=--dev ;;
        -h | --help)
            sed -n '2,7p' "$0"
            exit 0
            ;;
        *)
            echo "build-pkg.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

wasm-pack build --target web --mode no-install --out-dir pkg "$profile" \
    -- --no-default-features --features wasm

for f in mimeograph.js mimeograph.d.ts mimeograph_bg.wasm mimeograph_bg.wasm.d.ts; do
    if [[ ! -f "pkg/$f" ]]; then
        echo "build-pkg.sh: wasm-pack did not produce pkg/$f" >&2
        exit 1
    fi
done

rm -rf js/wasm
mkdir -p js/wasm
cp pkg/mimeograph.js pkg/mimeograph.d.ts pkg/mimeograph_bg.wasm pkg/mimeograph_bg.wasm.d.ts js/wasm/

raw=$(wc -c <js/wasm/mimeograph_bg.wasm)
gz=$(gzip -9 -c js/wasm/mimeograph_bg.wasm | wc -c)
echo "build-pkg.sh: mimeograph_bg.wasm: $raw bytes, $gz bytes gzipped (-9)"

if [[ $pack == 1 ]]; then
    mkdir -p target/npm
    (cd js && npm pack --silent --pack-destination ../target/npm)
    ls -l target/npm/*.tgz
fi
