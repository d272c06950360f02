//! Random UUID v4 strings: event ids (the collector's idempotency key) and new visitor and
//! session ids.
//!
//! The collector parses event ids as UUIDs, so they are formatted exactly: 36 lowercase
//! characters, version 4, RFC 4122 variant. Randomness comes from `crypto.getRandomValues`,
//! which every browser that runs WebAssembly has, in secure and insecure contexts alike.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::json::hex_digit;

/// Formats 16 random bytes as a UUID v4 (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`),
/// overwriting the version and variant bits.
pub fn format_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(hex_digit(byte >> 4)));
        out.push(char::from(hex_digit(byte & 0x0f)));
    }
    out
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues(bytes)`, imported by its global name: one import, where
    /// web-sys's `window.crypto` takes two. `Err` when it throws, or is missing.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(bytes: &mut [u8]) -> Result<(), JsValue>;
}

/// A new random UUID v4 from `crypto.getRandomValues`. Should the browser refuse, falls
/// back to `Math.random`: a weaker id is better than no event.
pub fn random_v4() -> String {
    let mut bytes = [0u8; 16];
    if get_random_values(&mut bytes).is_err() {
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    format_v4(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_bytes() {
        let bytes = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(format_v4(bytes), "00112233-4455-4677-8899-aabbccddeeff");
    }

    #[test]
    fn sets_version_and_variant() {
        assert_eq!(
            format_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(format_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn every_output_is_a_36_char_v4_uuid_and_a_valid_id() {
        for seed in 0..=255u8 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let id = format_v4(bytes);
            assert_eq!(id.len(), 36);
            assert_eq!(id.as_bytes()[14], b'4');
            assert!(
                matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
            assert!(crate::id::is_valid(&id));
            let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
            assert_eq!(dashes, [8, 13, 18, 23]);
        }
    }
}
