//! The no-wasm fallback's mark: why the beacon could not run in the browser that sent a
//! page view.
//!
//! When the wasm beacon cannot start (a Content-Security-Policy without
//! `'wasm-unsafe-eval'`, a `.wasm` that cannot be fetched or is not wasm, storage refused
//! at boot, a browser without WebAssembly), `beacon/js/loader.js` still sends the page
//! view, with no visitor or session id and a `nowasm` field: the JavaScript error as text
//! (`String(error)`, such as `CompileError: WebAssembly.instantiateStreaming(): Refused to
//! compile or instantiate WebAssembly module because … Content Security Policy …`).
//! Sorting that text here rather than in the loader costs the beacon no bytes. [`reason`]
//! maps it onto the few [`REASONS`] that metrics and the dashboard show, so a client cannot
//! grow the label set; the text itself is not stored. The event is otherwise an ordinary
//! page view: stored for the cookieless daily visitor, since it carries no id and is sent
//! without cookies.

use serde_json::Value;

/// Every reason a fallback page view is stored and counted under.
pub const REASONS: [&str; 6] = ["csp", "fetch", "compile", "storage", "unsupported", "error"];

/// The reason of a `nowasm` field: `None` when absent or `null` (the wasm beacon ran),
/// otherwise one of [`REASONS`], read from the error text of the engines (their messages
/// are in English in every locale):
/// - `csp`: a Content-Security-Policy refused to compile the wasm (the message names the
///   policy: Chromium and Safari say "Content Security Policy", Firefox "CSP"); also the
///   literal `csp`;
/// - `fetch`: the `.wasm` could not be fetched: a network error or a URL that `connect-src`
///   blocks (`TypeError: Failed to fetch`, `NetworkError …`, Safari's `Load failed`), or an
///   error status (wasm-bindgen's `failed to fetch Wasm: 404 …`);
/// - `compile`: what arrived is not valid wasm (`CompileError`, `LinkError`: a 404 page
///   served as wasm, a stale file);
/// - `storage`: the browser refused storage at boot (`SecurityError`);
/// - `unsupported`: the browser lacks something the beacon needs (another `TypeError` or a
///   `ReferenceError`, such as no `WebAssembly`);
/// - `error`: anything else, including a value that is not a string.
pub fn reason(nowasm: Option<&Value>) -> Option<&'static str> {
    let value = nowasm.filter(|v| !v.is_null())?;
    let text = value.as_str().unwrap_or("");
    let name = text.split(':').next().unwrap_or("").trim();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    Some(
        if text == "csp" || says(&["Content Security Policy", "Content-Security-Policy", "CSP"]) {
            "csp"
        } else if says(&["fetch", "Load failed"]) || name == "NetworkError" {
            "fetch"
        } else if matches!(name, "CompileError" | "LinkError") {
            "compile"
        } else if name == "SecurityError" {
            "storage"
        } else if matches!(name, "TypeError" | "ReferenceError") {
            "unsupported"
        } else {
            "error"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_texts_map_onto_the_fixed_reasons() {
        let cases = [
            (json!("csp"), "csp"),
            // Chromium, Firefox and Safari under a policy without 'wasm-unsafe-eval'.
            (
                json!(
                    "CompileError: WebAssembly.instantiateStreaming(): Refused to compile or \
                     instantiate WebAssembly module because 'unsafe-eval' is not an allowed \
                     source of script in the following Content Security Policy directive: \
                     \"script-src 'self'\""
                ),
                "csp",
            ),
            (
                json!("CompileError: call to WebAssembly.instantiate() blocked by CSP"),
                "csp",
            ),
            (
                json!(
                    "EvalError: Refused to create a WebAssembly object because \
                     'unsafe-eval' or 'wasm-unsafe-eval' is not an allowed source of script \
                     in the following Content Security Policy directive"
                ),
                "csp",
            ),
            (json!("TypeError: Failed to fetch"), "fetch"),
            (
                json!("TypeError: NetworkError when attempting to fetch resource."),
                "fetch",
            ),
            (json!("TypeError: Load failed"), "fetch"),
            (
                json!(
                    "Error: failed to fetch Wasm: 404 Not Found fetching 'http://x/spoor_bg.wasm'"
                ),
                "fetch",
            ),
            (
                json!("CompileError: WebAssembly.instantiateStreaming(): expected magic word"),
                "compile",
            ),
            (
                json!("LinkError: WebAssembly.instantiate(): Import #0"),
                "compile",
            ),
            (
                json!("SecurityError: Failed to read the 'localStorage' property"),
                "storage",
            ),
            (
                json!("ReferenceError: WebAssembly is not defined"),
                "unsupported",
            ),
            (json!("TypeError: x is not a function"), "unsupported"),
            (json!("RuntimeError: unreachable"), "error"),
            (json!("x".repeat(10_000)), "error"),
            (json!(""), "error"),
            (json!(true), "error"),
            (json!({"name": "csp"}), "error"),
        ];
        for (value, want) in cases {
            let got = reason(Some(&value));
            assert_eq!(got, Some(want), "{value}");
            assert!(got.is_some_and(|r| REASONS.contains(&r)));
        }
    }

    #[test]
    fn no_mark_is_the_beacon_itself() {
        assert_eq!(reason(None), None);
        assert_eq!(reason(Some(&Value::Null)), None);
    }
}
