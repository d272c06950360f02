// The entry of the served `spoor.js`. scripts/build-beacon.sh bundles it with
// wasm-bindgen's `--target web` glue (`./spoor.js` here, in target/beacon/) and minifies the
// result, so everything the glue exports but this file does not use (`initSync`, the
// JS wrapper of the wasm `start` export) is left out.
//
// Importing the module instantiates `spoor_bg.wasm` from next to this script, which runs
// the beacon's `#[wasm_bindgen(start)]` function. A failure (an old browser, wasm blocked
// by a Content-Security-Policy, a network error) must not surface on the host page, so
// it is swallowed. The default export stays the glue's init function, as before bundling.
import init from './spoor.js';

init().catch(() => {});

export default init;
