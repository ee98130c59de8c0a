#!/usr/bin/env bash
# W4 (issue 7): SMTP send throughput over one connection against a loopback
# sink, for mimeograph (blocking, tokio, npm package) and lettre, mail-send,
# nodemailer, emailjs. Installs the Node peers (benches/node) when missing,
# builds the npm package's wasm (scripts/build-pkg.sh), then runs
# `cargo bench --features tokio --bench smtp -- ARGS` (see --help), which
# prints the table and writes benches/results/w4.md.
#
# Usage: benches/w4.sh [--messages N] [--cap SECS] [--repeat R] [--senders a,b] [--sinks m:a,...] [--out PATH]
set -euo pipefail

cd "$(dirname "$0")/.."
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

node_dir=benches/node
if [[ ! -d "$node_dir/node_modules" || "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]]; then
    npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
    touch "$node_dir/node_modules"
fi

# cargo decides whether the wasm is stale; when it is not this takes seconds.
scripts/build-pkg.sh

exec cargo bench --features tokio --bench smtp -- "$@"
