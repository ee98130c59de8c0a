#!/usr/bin/env bash
# Streaming bench (issue 7): a 1 GiB attachment composed and sent with
# bounded memory, native (SmtpClient, release build) and Node (SMTPClient
# over the wasm package), from a file and from a stream, to a discard sink
# (tests/servers/stream_sink.py) that decodes and checks the base64 part as
# it arrives. Reports the sender's peak RSS and throughput (attachment
# octets per second, wall clock of the send) and writes them to
# benches/results/streaming.md.
#
# The native numbers come from the memory test (tests/streaming.rs, with
# MIMEOGRAPH_STREAM_BYTES set), which asserts the peak RSS under 64 MiB.
# The Node rows come from js/test/stream_child.mjs runs whose bytes the sink
# checked; their peaks are reported, not asserted (js/test/stream.test.mjs
# asserts the library's growth over a 1 KiB send and a 72 MiB ceiling), and
# a row at or over 64 MiB is marked "(over 64)".
#
# Usage: benches/streaming.sh [--node-only] [BYTES]   (default 1073741824)
#   --node-only: only the Node rows; the native rows of the current
#   benches/results/streaming.md are kept.
# Needs: scripts/setup.sh done; builds the release test binary and, if
# missing, the wasm package (scripts/build-pkg.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

node_only=0
if [[ ${1:-} == --node-only ]]; then
    node_only=1
    shift
fi
bytes="${1:-1073741824}"
export MIMEOGRAPH_STREAM_BYTES="$bytes"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "streaming.sh: $bytes bytes per attachment"

# Native: the release test binary; each test starts its own child process.
# --node-only: the native lines come from the current results instead.
if [[ $node_only == 1 ]]; then
    if [[ ! -f benches/results/streaming.md ]]; then
        echo "streaming.sh: --node-only needs benches/results/streaming.md for the native rows" >&2
        exit 1
    fi
    sed -nE 's/^\| native \| ([a-z]+) \| ([0-9.]+) \| ([0-9]+) \| ([0-9.]+) \| ([0-9.]+) \|$/streaming \1: - bytes in \2 s (\3 MB\/s), peak RSS \5 MiB, CPU \4 s/p' \
        benches/results/streaming.md | tee -a "$log"
else
    cargo test --release --test streaming large_ -- --nocapture --test-threads=1 2>&1 | tee -a "$log"
fi

# Node: js/test/stream_child.mjs (the sender the JS tests run) against a
# sink per source; each record is checked here (all octets as generated).
if [[ ! -f js/wasm/mimeograph_bg.wasm ]]; then
    scripts/build-pkg.sh
fi
node_run() {
    local source="$1" expect="$2"
    shift 2
    local out port sink_pid
    out="$(mktemp)"
    python3 tests/servers/stream_sink.py "$out" --expect "$expect" "$@" >"$out.port" &
    sink_pid=$!
    for _ in $(seq 100); do [[ -s "$out.port" ]] && break; sleep 0.1; done
    port="$(sed -E 's/PORT //' "$out.port")"
    local report
    report="$(node js/test/stream_child.mjs "$port" "$source" "$bytes" | grep '^CHILD-REPORT ' | sed 's/^CHILD-REPORT //')"
    kill "$sink_pid"
    wait "$sink_pid" 2>/dev/null || true
    python3 - "$out" "$report" "$source" "$bytes" <<'PY' | tee -a "$log"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
report = json.loads(sys.argv[2])
source, size = sys.argv[3], int(sys.argv[4])
m = [r for r in records if r["event"] == "message"]
assert report["sent"] == {"Ok": True}, report
assert len(m) == 1 and m[0]["decoded"] == size and m[0]["expected"] and m[0]["b64_ok"], records
s = report["seconds"]
print(f"node {source}: {size} bytes in {s:.2f} s ({size / 1e6 / s:.0f} MB/s), peak RSS {report['peak_rss'] / 1048576:.1f} MiB, CPU {report['cpu_seconds']:.2f} s")
PY
    rm -f "$out" "$out.port"
}
node_run path zeros
node_run fsstream zeros
node_run iterable pattern --chunking
node_run stream pattern --chunking
# The references: the same Readable, and fs.createReadStream of the same
# file, read to their end by a loop that only copies each chunk (no
# library, no SMTP).
for source in stream fsstream; do
    drain="$(node js/test/stream_child.mjs drain "$source" "$bytes" | grep '^CHILD-REPORT ' | sed 's/^CHILD-REPORT //')"
    python3 - "$drain" "$source" <<'PY' | tee -a "$log"
import json, sys
r = json.loads(sys.argv[1])
print(f"drain {sys.argv[2]}: {r['bytes']} bytes in {r['seconds']:.2f} s ({r['bytes'] / 1e6 / r['seconds']:.0f} MB/s), peak RSS {r['peak_rss'] / 1048576:.1f} MiB, CPU {r['cpu_seconds']:.2f} s")
PY
done

# Lines like: "streaming path: 1073741824 bytes in 3.21 s (334 MB/s), peak RSS 7.4 MiB"
mapfile -t native < <(grep -o -E 'streaming (path|reader):.*' "$log")
mapfile -t node < <(grep -o -E '^node (path|fsstream|iterable|stream):.*' "$log" | sed -E 's/^node /streaming /')
if [[ ${#native[@]} -ne 2 || ${#node[@]} -ne 4 ]]; then
    echo "streaming.sh: expected 2 native and 4 Node results, got ${#native[@]} and ${#node[@]}" >&2
    exit 1
fi

row() {
    # "streaming SOURCE: N bytes in S s (R MB/s), peak RSS P MiB"
    local side="$1" line="$2"
    local source seconds rate peak cpu
    source="$(sed -E 's/^streaming ([a-z]+):.*/\1/' <<<"$line")"
    seconds="$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$line")"
    rate="$(sed -E 's/.*\(([0-9]+) MB\/s\).*/\1/' <<<"$line")"
    peak="$(sed -E 's/.*peak RSS ([0-9.]+) MiB.*/\1/' <<<"$line")"
    cpu="$(sed -E 's/.*CPU ([0-9.]+) s.*/\1/' <<<"$line")"
    # The issue's target is a peak under 64 MiB: a row at or over it says so.
    if awk -v p="$peak" 'BEGIN { exit !(p >= 64) }'; then peak="$peak (over 64)"; fi
    echo "| $side | $source | $seconds | $rate | $cpu | $peak |"
}

mkdir -p benches/results
{
    echo "# Streaming a large attachment with bounded memory"
    echo
    echo "Produced by \`benches/streaming.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -sr), $(rustc --version | cut -d' ' -f1-2), Node $(node --version); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), the machine was shared)."
    echo "One message with a $((bytes / 1048576)) MiB attachment per row, sent over loopback to"
    echo "\`tests/servers/stream_sink.py\` (a Python discard sink that decodes the base64 part as it"
    echo "arrives and checks every octet against what the sender generated). Peak RSS is the"
    echo "sending process's (\`VmHWM\` natively, \`process.resourceUsage().maxRSS\` in Node: a bare"
    echo "\`node\` process starts at about 40 MiB, one sending a 1 KiB attachment the same way peaks at"
    echo "about 57 MiB). The target is 64 MiB. MB/s is"
    echo "attachment octets (10^6) per second of the send, wall clock; the sink (one Python thread,"
    echo "about 100 MB/s of attachment: base64 decoding in CPython) shares the machine's cores with the"
    echo "sender and is the limit here, so the sender's own CPU time (user + system) is given too."
    echo
    echo "- native path: \`Attachment::path\` (a sparse file, zeros), server without CHUNKING: DATA, dot-stuffing, \`SIZE=\`."
    echo "- native reader: \`Attachment::reader\` (a generated pattern, length unknown), server with CHUNKING: BDAT chunks."
    echo "- Node path: \`{ path }\` (a sparse file), DATA, \`SIZE=\` from the file's size."
    echo "- Node fsstream: \`{ stream: fs.createReadStream(file) }\` (the same sparse file), DATA, \`SIZE=\`: the package"
    echo "  reads the file of a file stream nobody has read yet itself, into one reused buffer, as for \`path\`."
    echo "- Node iterable: \`{ stream: asyncGenerator }\` (the pattern in 64 KiB pieces, one buffer reused), CHUNKING: BDAT chunks."
    echo "- Node stream: \`{ stream: Readable }\` (the pattern, a new Buffer per 64 KiB chunk, as \`fs.createReadStream\`"
    echo "  makes), CHUNKING. V8 frees such buffers only after some 40 MiB of them pile up, whoever reads them:"
    echo "  the source's garbage, not the library's (which reuses its buffers)."
    echo "- Node, no library: the same Readable (stream), and fs.createReadStream of the sparse file"
    echo "  (fsstream), read to the end by a loop that only copies each chunk into one reused buffer"
    echo "  (\`js/test/stream_child.mjs drain SOURCE\`): what reading such a source costs by itself."
    echo "  js/test/stream.test.mjs checks that the send's growth stays within 12 MiB of it."
    echo
    echo "| sender | source | seconds | MB/s | sender CPU (s) | peak RSS (MiB) |"
    echo "|---|---|---|---|---|---|"
    for l in "${native[@]}"; do row native "$l"; done
    for l in "${node[@]}"; do row Node "$l"; done
    row "Node, no library (reading only)" "$(grep -o -E '^drain stream:.*' "$log" | sed -E 's/^drain /streaming /')"
    row "Node, no library (reading only)" "$(grep -o -E '^drain fsstream:.*' "$log" | sed -E 's/^drain /streaming /')"
    echo
    echo "Notes:"
    echo
    if [[ $node_only == 1 ]]; then
        echo "- The native rows are from the previous full run (this run: \`--node-only\`)."
    fi
    echo "- Native: the peak does not depend on the size (the same few MiB for 1 MiB or 1 GiB); the"
    echo "  tests assert under 64 MiB."
    echo "- Node: a process sending a 1 KiB attachment the same way already peaks at about 56-57 MiB"
    echo "  (the node binary's and its libraries' pages ~43 MiB, compiling the wasm module ~4.5 MiB"
    echo "  even with V8's lazy compilation, its memory 1.3 MiB). Streaming adds 3-6 MiB whatever the"
    echo "  size: the wasm memory grows to about 2 MiB (128 KiB output buffers, attachments fed 64 KiB"
    echo "  per engine turn; with 256 KiB for both it grew to 2.4-3.5 MiB), V8's young generation and"
    echo "  its JIT/GC threads' malloc arenas (which vary from run to run by about 2 MiB). The JS tests"
    echo "  assert less than 12 MiB over the 1 KiB send and under 72 MiB."
    echo "- Node stream (a Readable with a new Buffer per chunk) stays bounded too, but about 30 MiB"
    echo "  higher, all of it the source's own garbage buffers waiting for V8's next collection (the"
    echo "  package holds none of them: it copies each chunk into the wasm feed and drops it)."
} >benches/results/streaming.md
cat benches/results/streaming.md
