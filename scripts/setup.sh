#!/usr/bin/env bash
# Installs what building and testing Spoor needs, on Debian 12 with rustup/cargo present.
# Idempotent: each step checks first and stays quiet when its tool is already there.
#   - Debian packages: chromium, chromium-driver (browser tests), nginx (reverse-proxy test),
#     wrk and sqlite3 (scripts/bench.sh: the load generator, and counting the events stored),
#     clickhouse-server, clickhouse-client and zookeeper (the ClickHouse store's tests and
#     scripts/cluster.sh, which run them as plain processes of their own)
#   - npm: the devDependencies package.json pins, into node_modules/: binaryen (wasm-opt;
#     Debian's binaryen 108 corrupts wasm-bindgen output, see scripts/build-beacon.sh) and
#     esbuild (bundles and minifies spoor.js)
#   - rustup: the wasm32-unknown-unknown target, clippy and rustfmt
#   - cargo: wasm-pack, and wasm-bindgen-cli at exactly the version in Cargo.lock
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "root is needed for: $*"
        exit 1
    fi
}

# Runs a noisy install step, showing its output only if it fails.
quietly() {
    local out
    out=$(mktemp)
    if ! "$@" >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        log "failed: $*"
        exit 1
    fi
    rm -f "$out"
}

missing=()
for pkg in chromium chromium-driver nginx wrk sqlite3 clickhouse-server clickhouse-client zookeeper; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    quietly as_root apt-get update -q
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    # Debian starts nginx's system service on install (where policy-rc.d allows it); the
    # tests run their own nginx on free loopback ports, so stop the service again.
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        as_root service nginx stop >/dev/null 2>&1 || true
    fi
    # The same for ClickHouse's service (Debian's zookeeper package has none; zookeeperd
    # would): the tests and scripts/cluster.sh start their own servers on free ports.
    if [[ " ${missing[*]} " == *" clickhouse-server "* ]]; then
        as_root service clickhouse-server stop >/dev/null 2>&1 || true
    fi
fi

# Whether every devDependency in package.json is in node_modules at its pinned version.
npm_dev_deps_installed() {
    node -e '
        const fs = require("fs");
        const want = JSON.parse(fs.readFileSync("package.json", "utf8")).devDependencies || {};
        for (const [name, version] of Object.entries(want)) {
            const file = `node_modules/${name}/package.json`;
            if (!fs.existsSync(file) || JSON.parse(fs.readFileSync(file, "utf8")).version !== version) {
                process.exit(1);
            }
        }' 2>/dev/null
}

want_binaryen=$(sed -n 's/.*"binaryen": *"\([^"]*\)".*/\1/p' package.json)
have_binaryen=$(node_modules/.bin/wasm-opt --version 2>/dev/null | grep -oE '[0-9]+' | head -n 1 || true)
want_esbuild=$(sed -n 's/.*"esbuild": *"\([^"]*\)".*/\1/p' package.json)
have_esbuild=$(node_modules/.bin/esbuild --version 2>/dev/null || true)
if [ "$have_binaryen" != "${want_binaryen%%.*}" ] || [ "$have_esbuild" != "$want_esbuild" ] ||
    ! npm_dev_deps_installed; then
    log "npm install (package.json devDependencies: binaryen's wasm-opt, esbuild)"
    # No lock file: npm resolves the exact versions package.json pins.
    quietly npm install --no-package-lock --no-audit --no-fund
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "rustup target add wasm32-unknown-unknown"
    quietly rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$component"; then
        log "rustup component add $component"
        quietly rustup component add "$component"
    fi
done

if ! command -v wasm-pack >/dev/null 2>&1; then
    log "cargo install wasm-pack (about 2 minutes)"
    quietly cargo install wasm-pack
fi

# wasm-bindgen's CLI must match the library version exactly; read it from Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$want" ]; then
    log "cannot find wasm-bindgen in Cargo.lock"
    exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    # No --locked: the registry here lacks a version its lock file pins (TOOLCHAIN.md).
    log "cargo install wasm-bindgen-cli --version =$want (about 5 minutes)"
    quietly cargo install wasm-bindgen-cli --version "=$want"
fi
