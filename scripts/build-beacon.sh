#!/usr/bin/env bash
# Builds the beacon into beacon/pkg/: spoor.js (wasm-bindgen glue + loader, bundled and
# minified) and spoor_bg.wasm (size-optimized). Prints raw and gzip -9 sizes against the
# budget (scripts/beacon-size.sh --report). Safe to re-run.
#
# Needs, already installed (scripts/setup.sh does it): the wasm32-unknown-unknown target,
# wasm-bindgen (the version in Cargo.lock), node, and in ./node_modules (npm packages
# pinned in package.json) binaryen's wasm-opt, version 110 or later, and esbuild.
# wasm-opt is taken from $WASM_OPT, else ./node_modules/.bin, else PATH.
#
# Why binaryen 110: up to 108 (Debian 12's package) it rewrites the export of
# wasm-bindgen's externref table to point at the function table (WebAssembly/binaryen#4711,
# fixed in 110). The module then fails at load with "WebAssembly.Table.set(): Argument 1
# is invalid for table", and the beacon silently does nothing.
#
# Steps, and what each one saves (docs/BENCHMARKS.md has the figures):
#   1. cargo: the `wasm-release` profile (opt-level z, LTO, panic=abort), cdylib only.
#   2. wasm-bindgen --target web: the .wasm and its JS glue, into target/beacon/.
#   3. wasm-opt -Oz, which also renames every import and export to a letter or two
#      (wasm-bindgen's are `__wbg_<method>_<16 hex digits>`) and prints the renaming;
#      beacon/js/minify-names.mjs applies it to the glue.
#   4. esbuild bundles beacon/js/loader.js with the glue and minifies them into spoor.js.
# Also written, for `twiggy` (see docs/BENCHMARKS.md): target/beacon/spoor_bg.names.wasm,
# the same optimized code with its function names and unminified import names kept.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

pkg=beacon/pkg
work=target/beacon
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
    echo "build-beacon: run scripts/setup.sh (npm install in the repository root), or set" \
        "WASM_OPT=/path/to/wasm-opt." >&2
    exit 1
fi
esbuild=node_modules/.bin/esbuild
if [[ ! -x "$esbuild" ]]; then
    echo "build-beacon: $esbuild is missing; run scripts/setup.sh (npm install)." >&2
    exit 1
fi

# Only the cdylib: Cargo.toml also asks for an rlib (the browser tests link the crate), and
# building both at once costs about 3.3 KB gzipped, as rustc then keeps the crate's public
# items and inlines less across it even under LTO. `--crate-type` overrides the list.
cargo rustc -p spoor-beacon --lib --crate-type cdylib --target wasm32-unknown-unknown \
    --profile wasm-release

rm -rf "$work"
mkdir -p "$work" "$pkg"
wasm-bindgen --target web --out-dir "$work" --out-name spoor --no-typescript "$wasm"

# The loader imports the glue's default export, its init function.
if ! grep -q '__wbg_init as default' "$work/spoor.js"; then
    echo "build-beacon: the glue's default export is no longer __wbg_init" >&2
    exit 1
fi

# Features rustc emits for wasm32-unknown-unknown. Newer binaryen enables most of them by
# default; naming them keeps older ones (which lack those defaults) from rejecting the file.
features=(
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-reference-types --enable-multivalue --enable-mutable-globals
)
"$wasm_opt" -Oz "${features[@]}" --strip-debug --strip-producers \
    --strip-target-features --minify-imports-and-exports-and-modules \
    -o "$pkg/spoor_bg.wasm" "$work/spoor_bg.wasm" >"$work/names.json"
"$wasm_opt" -Oz "${features[@]}" --debuginfo --strip-producers --strip-target-features \
    -o "$work/spoor_bg.names.wasm" "$work/spoor_bg.wasm"

node beacon/js/minify-names.mjs "$work/spoor.js" "$work/names.json" "$pkg/spoor_bg.wasm"
cp beacon/js/loader.js "$work/loader.js"
"$esbuild" "$work/loader.js" --bundle --minify --format=esm --legal-comments=none \
    --log-level=warning --outfile="$pkg/spoor.js"

scripts/beacon-size.sh --report
