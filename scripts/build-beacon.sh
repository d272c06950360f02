#!/usr/bin/env bash
# Builds the beacon into beacon/pkg/: spoor.js (wasm-bindgen glue + loader) and
# spoor_bg.wasm (size-optimized). Prints raw and gzip -9 sizes. Safe to re-run.
#
# Needs, already installed: the wasm32-unknown-unknown target, wasm-bindgen (the version
# in Cargo.lock) and binaryen's wasm-opt, version 110 or later. wasm-opt is taken from
# $WASM_OPT, else ./node_modules/.bin (npm package `binaryen`), else PATH.
#
# Why 110: binaryen up to 108 (Debian 12's package) rewrites the export of wasm-bindgen's
# externref table to point at the function table (WebAssembly/binaryen#4711, fixed in
# 110). The module then fails at load with "WebAssembly.Table.set(): Argument 1 is invalid
# for table", and the beacon silently does nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

pkg=beacon/pkg
wasm=target/wasm32-unknown-unknown/wasm-release/spoor_beacon.wasm

if [[ -n "${WASM_OPT:-}" ]]; then
    wasm_opt=$WASM_OPT
elif [[ -x node_modules/.bin/wasm-opt ]]; then
    wasm_opt=node_modules/.bin/wasm-opt
else
    wasm_opt=wasm-opt
fi
version=$("$wasm_opt" --version | grep -oE '[0-9]+' | head -n 1 || true)
if [[ -z "$version" || "$version" -lt 110 ]]; then
    echo "build-beacon: $wasm_opt is binaryen version ${version:-unknown}; 110 or later is" \
        "needed (older versions break wasm-bindgen's externref table)." >&2
    echo "build-beacon: install one, e.g. 'npm install binaryen@132' in the repository" \
        "root, or set WASM_OPT=/path/to/wasm-opt." >&2
    exit 1
fi

cargo build -p spoor-beacon --target wasm32-unknown-unknown --profile wasm-release

wasm-bindgen --target web --out-dir "$pkg" --out-name spoor --no-typescript "$wasm"

# Features rustc emits for wasm32-unknown-unknown. Newer binaryen enables most of them by
# default; naming them keeps older ones (which lack those defaults) from rejecting the file.
"$wasm_opt" -Oz \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-reference-types --enable-multivalue --enable-mutable-globals \
    --strip-debug --strip-producers \
    -o "$pkg/spoor_bg.wasm" "$pkg/spoor_bg.wasm"

# The loader: instantiate the wasm next to this script, which runs the beacon's start
# function. A failure (old browser, blocked wasm) must not surface on the host page.
if ! grep -q '__wbg_init as default' "$pkg/spoor.js"; then
    echo "build-beacon: the glue's default export is no longer __wbg_init" >&2
    exit 1
fi
printf '%s\n' '__wbg_init().catch(() => {});' >>"$pkg/spoor.js"

for f in "$pkg/spoor.js" "$pkg/spoor_bg.wasm"; do
    printf '%-24s %7d B raw %7d B gzip -9\n' "$f" "$(wc -c <"$f")" "$(gzip -9 -c "$f" | wc -c)"
done
