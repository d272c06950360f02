//! Time-ordered UUID v7 strings: event ids (the collector's idempotency key) and new
//! visitor and session ids.
//!
//! The collector parses event ids as UUIDs, so they are formatted exactly: 36 lowercase
//! characters, version 7, RFC 9562 variant. The first 48 bits are the time the id was made
//! (milliseconds since 1970), so ids made later sort after earlier ones: the collector's
//! indexes on ids (the event id's dedupe index, the dictionary of visitor and session ids)
//! grow at their end instead of taking a random page each, which on a store larger than
//! memory is a disk read per event. The other 74 bits come from `crypto.getRandomValues`,
//! which every browser that runs WebAssembly has, in secure and insecure contexts alike.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::json::hex_digit;

/// Formats 16 random bytes as a UUID v7 of `ms` (`tttttttt-tttt-7xxx-[89ab]xxx-xxxxxxxxxxxx`),
/// overwriting the first six with `ms` and the version and variant bits.
pub fn format_v7(ms: u64, mut bytes: [u8; 16]) -> String {
    for (i, byte) in bytes.iter_mut().take(6).enumerate() {
        *byte = (ms >> (40 - 8 * i)) as u8;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
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

/// A new UUID v7 of now, its random bits from `crypto.getRandomValues`. That call cannot
/// fail for 16 bytes in a browser that runs WebAssembly; were it to throw anyway, the id
/// is still its millisecond's (the random bits zero), which is better than no event.
pub fn new_v7() -> String {
    let mut bytes = [0u8; 16];
    let _ = get_random_values(&mut bytes);
    format_v7(crate::now_ms(), bytes)
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
        assert_eq!(
            format_v7(0x0123_4567_89ab, bytes),
            "01234567-89ab-7677-8899-aabbccddeeff"
        );
    }

    #[test]
    fn sets_version_and_variant() {
        assert_eq!(
            format_v7(u64::MAX, [0xff; 16]),
            "ffffffff-ffff-7fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_v7(0, [0; 16]),
            "00000000-0000-7000-8000-000000000000"
        );
    }

    #[test]
    fn later_ids_sort_after_earlier_ones_whatever_their_random_bits() {
        let earlier = format_v7(1_780_000_000_000, [0xff; 16]);
        let later = format_v7(1_780_000_000_001, [0; 16]);
        assert!(earlier < later, "{earlier} {later}");
    }

    #[test]
    fn every_output_is_a_36_char_v7_uuid_and_a_valid_id() {
        for seed in 0..=255u8 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let id = format_v7(1_780_000_000_000 + u64::from(seed), bytes);
            assert_eq!(id.len(), 36);
            assert_eq!(id.as_bytes()[14], b'7');
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
