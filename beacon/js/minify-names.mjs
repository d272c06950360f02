// Renames the wasm imports and exports in wasm-bindgen's glue after binaryen minified them.
//
//     node beacon/js/minify-names.mjs GLUE NAMES WASM
//
// wasm-bindgen names each import `__wbg_<method>_<16 hex digits>`; those names sit once in
// the .wasm and once in the glue, and hex does not compress: about 1 KB gzipped for the
// pair. `wasm-opt --minify-imports-and-exports-and-modules` renames them (and the exports
// and the import module) to one or two letters and prints the old and new names as JSON
// (NAMES). This script rewrites the glue (GLUE, in place) to match the minified module
// (WASM), and fails loudly if the glue does not look the way it expects, so that a
// wasm-bindgen upgrade breaks the build rather than the beacon.
import { readFileSync, writeFileSync } from 'node:fs';

const [gluePath, namesPath, wasmPath] = process.argv.slice(2);
if (!wasmPath) fail('usage: minify-names.mjs GLUE NAMES WASM');

function fail(message) {
    console.error(`minify-names: ${message}`);
    process.exit(1);
}

let glue = readFileSync(gluePath, 'utf8');
const names = JSON.parse(readFileSync(namesPath, 'utf8'));
const module = new WebAssembly.Module(readFileSync(wasmPath));

// wasm-bindgen's glue supplies one import module object; binaryen renames it too.
const oldModules = new Set(names.imports.map(([module]) => module));
const newModules = new Set(WebAssembly.Module.imports(module).map((i) => i.module));
if (oldModules.size !== 1 || newModules.size !== 1) {
    fail(`expected one import module, got ${[...oldModules]} -> ${[...newModules]}`);
}
const [oldModule] = oldModules;
const [newModule] = newModules;

// Replaces exactly one occurrence of `pattern`, or fails.
function replaceOnce(pattern, replacement, what) {
    const count = glue.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
    if (count !== 1) fail(`${what}: found ${count} times in the glue, expected once`);
    glue = glue.replace(pattern, replacement);
}

// The import object: `"./spoor_bg.js": import0` and its keys, `__wbg_…: function(…)`.
const quote = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
replaceOnce(new RegExp(`"${quote(oldModule)}":`), `"${newModule}":`, `module ${oldModule}`);
for (const [, oldName, newName] of names.imports) {
    replaceOnce(new RegExp(`\\b${quote(oldName)}:`), `${newName}:`, `import ${oldName}`);
}

// The exports, which the glue reads as `wasm.<name>` only.
const exports = new Map(names.exports);
glue = glue.replace(/\bwasm\.(\w+)/g, (_, name) => {
    if (!exports.has(name)) fail(`the glue uses wasm.${name}, which the module does not export`);
    return `wasm.${exports.get(name)}`;
});

// The names printed must be the module's: every import it has is now a key in the glue.
const renamed = new Set(names.imports.map(([, , newName]) => newName));
for (const { name } of WebAssembly.Module.imports(module)) {
    if (!renamed.has(name)) fail(`the module imports ${name}, which the names do not list`);
}

writeFileSync(gluePath, glue);
