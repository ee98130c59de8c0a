#!/usr/bin/env bash
# Builds the wasm package with wasm-pack (no downloads: --mode no-install uses
# the locally installed wasm-bindgen) into pkg/ with the size-tuned
# `wasm-release` profile, shrinks the .wasm with binaryen's `wasm-opt -Oz`
# (scripts/tools, installed by setup.sh), then assembles the npm package in
# js/ (copies the wasm glue into js/wasm/) and, with --pack, packs it into
# target/npm/mimeograph-VERSION.tgz. --dev: debug build, no wasm-opt.
#
# Usage: scripts/build-pkg.sh [--pack] [--dev]
set -euo pipefail

cd "$(dirname "$0")/.."
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

pack=0
profile=(--profile wasm-release)
for arg in "$@"; do
    case "$arg" in
        --pack) pack=1 ;;
        --dev) profile=(--dev) ;;
        -h | --help)
            sed -n '2,10p' "$0"
            exit 0
            ;;
        *)
            echo "build-pkg.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

wasm-pack build --target web --mode no-install --no-opt --out-dir pkg "${profile[@]}" \
    -- --no-default-features --features wasm

if [[ ${profile[0]} != --dev ]]; then
    wasm_opt=scripts/tools/node_modules/.bin/wasm-opt
    if [[ ! -x $wasm_opt ]]; then
        echo "build-pkg.sh: $wasm_opt is missing: run scripts/setup.sh" >&2
        exit 1
    fi
    # Features come from the module's target_features section.
    # Two runs: the second still finds ~300 B (gzipped) to drop.
    # --low-memory-unused: constant offsets fold into loads and stores
    # (-729 B gzipped), which differs only for an address that would wrap
    # past 4 GiB into the low 1 KiB. rustc's wasm32 layout puts the 1 MiB
    # stack first (growing down from 1 MiB) and the data above it: pointers
    # never wrap, and the low 1 KiB is only the end of a full stack.
    # -ocimfs 20: a function with one caller is inlined only when tiny
    # (binaryen's default inlines it whatever its size). V8 compiles a hot
    # function whole with its optimizing tier: with cold code (the SMTP
    # opening, error paths) folded into a per-message function, that is
    # compile time the npm package pays in its first thousands of messages
    # (W4: ~9% fewer instructions per message over 1,000 sends, W1 ~3%),
    # and the module compresses better (-2.7 KB gzipped).
    for _ in 1 2; do
        "$wasm_opt" -Oz -ocimfs 20 --low-memory-unused --strip-debug --strip-producers \
            pkg/mimeograph_bg.wasm -o pkg/mimeograph_bg.opt.wasm
        mv pkg/mimeograph_bg.opt.wasm pkg/mimeograph_bg.wasm
    done
    # Similar functions side by side for gzip (wasm-reorder.mjs), then a
    # third run that sorts them so: -2.6 KB gzipped, nothing else changes.
    node scripts/wasm-reorder.mjs pkg/mimeograph_bg.wasm pkg/mimeograph_bg.named.wasm
    "$wasm_opt" --reorder-functions-by-name -Oz -ocimfs 20 --low-memory-unused --strip-debug \
        --strip-producers pkg/mimeograph_bg.named.wasm -o pkg/mimeograph_bg.wasm
    rm pkg/mimeograph_bg.named.wasm
fi

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
