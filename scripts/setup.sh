#!/usr/bin/env bash
# Install everything the test suite needs. Idempotent: every tool is checked
# first and only installed when missing (or at the wrong version), so a run on
# a machine that already has everything takes a few seconds.
#
# Usage: scripts/setup.sh [--dry-run]
#   --dry-run (or SETUP_DRY_RUN=1): check only; print what would be installed.
set -euo pipefail

cd "$(dirname "$0")/.."

DRY_RUN="${SETUP_DRY_RUN:-0}"
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h | --help)
            sed -n '2,8p' "$0"
            exit 0
            ;;
        *)
            echo "setup: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive
# cargo install puts binaries here; make sure we find them.
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

present() { printf 'setup: %-22s present (%s)\n' "$1" "$2"; }
installed() { printf 'setup: %-22s installed (%s)\n' "$1" "$2"; }

# run_install NAME WHAT COMMAND...: run COMMAND (or only report it in dry-run).
run_install() {
    local name="$1" what="$2"
    shift 2
    if [[ "$DRY_RUN" == 1 ]]; then
        printf 'setup: %-22s needed, would run: %s\n' "$name" "$*"
        return 0
    fi
    printf 'setup: %-22s installing: %s\n' "$name" "$*"
    "$@"
    installed "$name" "$what"
}

# --- Rust toolchain pieces ---------------------------------------------------
if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    present "wasm32 target" "wasm32-unknown-unknown"
else
    run_install "wasm32 target" "wasm32-unknown-unknown" \
        rustup target add wasm32-unknown-unknown
fi

installed_components="$(rustup component list --installed)"
for comp in rustfmt clippy; do
    if grep -q "^${comp}\b" <<<"$installed_components"; then
        present "$comp" "rustup component"
    else
        run_install "$comp" "rustup component" rustup component add "$comp"
    fi
done

# --- Fuzzing: the nightly toolchain and cargo-fuzz (scripts/fuzz.sh) ---------
if rustup toolchain list | grep -q '^nightly'; then
    present "nightly toolchain" "$(rustc +nightly --version 2>/dev/null | awk '{print $2}')"
else
    run_install "nightly toolchain" "rustup, minimal profile" \
        rustup toolchain install nightly --profile minimal
fi
if have_cf="$(cargo fuzz --version 2>/dev/null)"; then
    present "cargo-fuzz" "${have_cf#cargo-fuzz }"
else
    run_install "cargo-fuzz" "from crates.io" cargo install cargo-fuzz --locked
fi

# --- wasm-bindgen-cli, at exactly the version Cargo.toml pins ----------------
# Matches `wasm-bindgen = { version = "=0.2.130", ... }` and `wasm-bindgen = "=0.2.130"`.
wbg_version="$(sed -nE \
    -e 's/^wasm-bindgen[[:space:]]*=[[:space:]]*\{.*version[[:space:]]*=[[:space:]]*"=?([0-9][0-9.]*)".*/\1/p' \
    -e 's/^wasm-bindgen[[:space:]]*=[[:space:]]*"=?([0-9][0-9.]*)".*/\1/p' \
    Cargo.toml | head -n 1)"
if [[ -z "$wbg_version" ]]; then
    echo "setup: cannot find the wasm-bindgen version pinned in Cargo.toml" >&2
    exit 1
fi
have_wbg="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have_wbg" == "$wbg_version" ]]; then
    present "wasm-bindgen-cli" "$wbg_version"
else
    # Deliberately without --locked: with it the install fails on our machines.
    run_install "wasm-bindgen-cli" "$wbg_version (had: ${have_wbg:-none})" \
        cargo install wasm-bindgen-cli --version "$wbg_version" --force
fi

# --- wasm-pack -----------------------------------------------------------------
# From crates.io: the npm `wasm-pack` package downloads a binary from GitHub,
# which our machines cannot reach.
if have_wp="$(wasm-pack --version 2>/dev/null)"; then
    present "wasm-pack" "${have_wp#wasm-pack }"
else
    run_install "wasm-pack" "from crates.io" cargo install wasm-pack --locked
fi

# --- Python packages -----------------------------------------------------------
# Every `name==version` line of tests/requirements.txt must be installed at
# exactly that version; otherwise pip installs the whole file.
py_missing="$(python3 - tests/requirements.txt <<'EOF'
import sys
from importlib import metadata

missing = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        have = None
    if have is None or (want and have != want.strip()):
        missing.append(f"{line} (have {have or 'none'})")
print(", ".join(missing))
EOF
)"
if [[ -z "$py_missing" ]]; then
    present "python packages" "$(grep -Ev '^\s*(#|$)' tests/requirements.txt | paste -sd' ')"
else
    echo "setup: python packages missing or at other versions: $py_missing"
    run_install "python packages" "tests/requirements.txt" \
        python3 -m pip install --quiet -r tests/requirements.txt
fi

# --- npm packages: tests/node (test deps), benches/node (the Node bench's
# peers), scripts/tools (binaryen's wasm-opt for scripts/build-pkg.sh) --------
# `npm ci` only when node_modules is missing or older than the lockfile.
for node_dir in tests/node benches/node scripts/tools; do
    if [[ -d "$node_dir/node_modules" && ! "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]]; then
        present "npm packages" "$node_dir/node_modules"
    else
        run_install "npm packages" "$node_dir/node_modules" \
            npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
        # npm ci does not always touch the folder itself; mark it as up to date.
        [[ "$DRY_RUN" == 1 ]] || touch "$node_dir/node_modules"
    fi
done

# --- Chromium + ChromeDriver (Debian) for browser tests ----------------------
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    present "chromium" "$(/usr/bin/chromium --version 2>/dev/null | head -n 1 || echo '/usr/bin/chromium')"
else
    if [[ "$(id -u)" == 0 ]]; then sudo=""; else sudo="sudo "; fi
    run_install "chromium" "Debian chromium + chromium-driver" bash -c \
        "${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver"
fi

# --- Postfix (Debian) for the CHUNKING/BDAT test (tests/native_postfix.rs) ----
# The test runs its own instance from a private config directory; the system
# instance is not wanted (it would take port 25). Preseeding "No configuration"
# makes the package install without prompting and without writing
# /etc/postfix/main.cf, so there is no system instance to start. If one is
# running anyway (configured by someone else), it is stopped below.
if [[ -x /usr/sbin/postfix ]]; then
    present "postfix" "$(/usr/sbin/postconf -d -h mail_version 2>/dev/null || echo /usr/sbin/postfix)"
else
    if [[ "$(id -u)" == 0 ]]; then sudo=""; else sudo="sudo "; fi
    run_install "postfix" "Debian postfix, system instance not configured" bash -c \
        "echo 'postfix postfix/main_mailer_type select No configuration' | ${sudo}debconf-set-selections \
        && ${sudo}apt-get update -qq \
        && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix"
fi
if [[ "$DRY_RUN" != 1 && -x /usr/sbin/postfix ]] && /usr/sbin/postfix status >/dev/null 2>&1; then
    echo "setup: postfix                system instance is running; stopping it (it takes port 25)"
    if [[ "$(id -u)" == 0 ]]; then /usr/sbin/postfix stop || true; else sudo /usr/sbin/postfix stop || true; fi
fi

if [[ "$DRY_RUN" == 1 ]]; then
    echo "setup: done (dry run: nothing installed)"
else
    echo "setup: done"
fi
