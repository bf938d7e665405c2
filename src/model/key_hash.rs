//! `key_hash`: the one stable hash from a string (or any bytes) key to the
//! 32-bit key space, so `lookup` works for names.
//!
//! It is **xxHash32 with seed 0** (the XXH32 algorithm of the xxHash
//! specification), chosen because it is fast on 32-bit ARM, has good
//! avalanche for short similar keys, and has independent implementations in
//! every language, so a client written in anything can compute the same key.
//! It is part of the protocol: changing it moves every string key. The test
//! vectors below pin it.

/// The key of `bytes` in the 32-bit key space: XXH32 with seed 0.
///
/// ```
/// use scalesmall::model::key_hash;
/// assert_eq!(key_hash(b""), 0x02cc_5d05);
/// assert_eq!(key_hash(b"user:42"), key_hash("user:42".as_bytes()));
/// ```
#[must_use]
pub fn key_hash(bytes: &[u8]) -> u32 {
    xxhash_rust::xxh32::xxh32(bytes, 0)
}

/// A key as a user gives it: a `u32` (decimal or 0x-hex), else a string,
/// hashed with [`key_hash`]; and whether it was hashed.
#[must_use]
pub fn parse_key(key: &str) -> (u32, bool) {
    let k = key.trim();
    let n = k
        .strip_prefix("0x")
        .or_else(|| k.strip_prefix("0X"))
        .map_or_else(
            || k.parse::<u32>().ok(),
            |h| u32::from_str_radix(h, 16).ok(),
        );
    match n {
        Some(n) => (n, false),
        None => (key_hash(key.as_bytes()), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_numbers_or_hashed_strings() {
        assert_eq!(parse_key("42"), (42, false));
        assert_eq!(parse_key("0xff"), (255, false));
        assert_eq!(parse_key("user:42"), (key_hash(b"user:42"), true));
        assert_eq!(parse_key("4294967296"), (key_hash(b"4294967296"), true));
    }

    /// Published XXH32 (seed 0) values, plus a few pinned on this
    /// implementation so a change of algorithm cannot go unnoticed.
    #[test]
    fn matches_the_test_vectors() {
        let vectors: [(&[u8], u32); 5] = [
            (b"", 0x02cc_5d05),
            (b"a", 0x550d_7456),
            (b"abc", 0x32d1_53ff),
            (b"message digest", 0x7c94_8494),
            (b"abcdefghijklmnopqrstuvwxyz", 0x63a1_4d5f),
        ];
        for (input, want) in vectors {
            assert_eq!(
                key_hash(input),
                want,
                "key_hash({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }
}
