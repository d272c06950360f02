//! The no-wasm fallback's mark: why the beacon could not run in the browser that sent a
//! page view.
//!
//! When the wasm beacon cannot start (a Content-Security-Policy without
//! `'wasm-unsafe-eval'`, a `.wasm` that cannot be fetched or is not wasm, storage refused
//! at boot, a browser without WebAssembly), `beacon/js/loader.js` still sends the page
//! view, with no visitor or session id and a `nowasm` field: `"csp"` when the policy
//! refused to compile the wasm, else the JavaScript error's `name`. [`reason`] maps that
//! free text onto the few [`REASONS`] that metrics and the dashboard show, so a client
//! cannot grow the label set. The event is otherwise an ordinary page view: stored for the
//! cookieless daily visitor, since it carries no id and is sent without cookies.

use serde_json::Value;

/// Every reason a fallback page view is stored and counted under.
pub const REASONS: [&str; 6] = ["csp", "fetch", "compile", "storage", "unsupported", "error"];

/// The reason of a `nowasm` field: `None` when absent or `null` (the wasm beacon ran),
/// otherwise one of [`REASONS`]:
/// - `csp`: a Content-Security-Policy refused to compile the wasm;
/// - `fetch`: the `.wasm` could not be fetched (`TypeError`: network, a blocked URL);
/// - `compile`: what arrived is not valid wasm (`CompileError`, `LinkError`: a 404 page,
///   a stale file);
/// - `storage`: the browser refused storage at boot (`SecurityError`);
/// - `unsupported`: the browser lacks something the beacon needs (`ReferenceError`, such
///   as no `WebAssembly`);
/// - `error`: anything else, including a value that is not a string.
pub fn reason(nowasm: Option<&Value>) -> Option<&'static str> {
    let value = nowasm.filter(|v| !v.is_null())?;
    Some(match value.as_str().unwrap_or("") {
        "csp" => "csp",
        "TypeError" | "NetworkError" => "fetch",
        "CompileError" | "LinkError" => "compile",
        "SecurityError" => "storage",
        "ReferenceError" => "unsupported",
        _ => "error",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_names_map_onto_the_fixed_reasons() {
        let cases = [
            (json!("csp"), "csp"),
            (json!("TypeError"), "fetch"),
            (json!("CompileError"), "compile"),
            (json!("LinkError"), "compile"),
            (json!("SecurityError"), "storage"),
            (json!("ReferenceError"), "unsupported"),
            (json!("RuntimeError"), "error"),
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
