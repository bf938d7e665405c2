//! `KeyRange`: an inclusive sub-range `start..=end` of the 32-bit key space.
//!
//! The key space is `0..=0xffff_ffff`; a range always has `start <= end`, so
//! it is never empty and the full space is one range ([`KeyRange::FULL`]).

use std::fmt;
use std::str::FromStr;

use super::error::ModelError;

/// An inclusive, non-empty range of keys.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    start: u32,
    end: u32,
}

impl KeyRange {
    /// The whole key space, `0..=0xffff_ffff`.
    pub const FULL: KeyRange = KeyRange {
        start: 0,
        end: u32::MAX,
    };

    /// The range `start..=end`.
    ///
    /// # Errors
    /// [`ModelError::InvalidRange`] if `start > end`.
    pub const fn new(start: u32, end: u32) -> Result<Self, ModelError> {
        if start > end {
            return Err(ModelError::InvalidRange { start, end });
        }
        Ok(Self { start, end })
    }

    /// Unpacks `start << 32 | end` (always valid when packed from a range;
    /// a reversed pair is swapped rather than trusted).
    pub(crate) const fn from_packed(packed: u64) -> Self {
        let start = (packed >> 32) as u32;
        let end = packed as u32;
        if start <= end {
            Self { start, end }
        } else {
            Self {
                start: end,
                end: start,
            }
        }
    }

    /// First key in the range.
    #[must_use]
    pub const fn start(self) -> u32 {
        self.start
    }

    /// Last key in the range (inclusive).
    #[must_use]
    pub const fn end(self) -> u32 {
        self.end
    }

    /// Whether `key` lies in the range.
    #[must_use]
    pub const fn contains(self, key: u32) -> bool {
        self.start <= key && key <= self.end
    }

    /// Whether the two ranges share at least one key.
    #[must_use]
    pub const fn overlaps(self, other: KeyRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Number of keys in the range (1 ..= 2^32).
    #[must_use]
    pub const fn len(self) -> u64 {
        (self.end as u64) - (self.start as u64) + 1
    }

    /// Always false: a range holds at least one key. Present for clippy's
    /// `len_without_is_empty`.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        false
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}..{:#010x}", self.start, self.end)
    }
}

impl fmt::Debug for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRange({:#x}..={:#x})", self.start, self.end)
    }
}

/// Why a string is not a [`KeyRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a key range: expected START..END (inclusive), each a decimal or 0x-hex u32, \
     like 0..0x7fffffff or 1000..1999, with START <= END"
)]
pub struct ParseKeyRangeError {
    input: String,
}

fn parse_key(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

impl FromStr for KeyRange {
    type Err = ParseKeyRangeError;

    /// Parses `START..END` or `START..=END` (both inclusive) and `full`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseKeyRangeError {
            input: s.to_owned(),
        };
        if s.trim() == "full" {
            return Ok(Self::FULL);
        }
        let (a, b) = s.split_once("..").ok_or_else(err)?;
        let b = b.strip_prefix('=').unwrap_or(b);
        let start = parse_key(a).ok_or_else(err)?;
        let end = parse_key(b).ok_or_else(err)?;
        Self::new(start, end).map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_reversed_ranges() {
        assert_eq!(
            KeyRange::new(5, 4),
            Err(ModelError::InvalidRange { start: 5, end: 4 })
        );
        assert!(KeyRange::new(4, 4).is_ok());
    }

    #[test]
    fn contains_is_inclusive_at_both_ends() {
        let r = KeyRange::new(10, 20).unwrap();
        assert!(!r.contains(9));
        assert!(r.contains(10));
        assert!(r.contains(20));
        assert!(!r.contains(21));
        assert!(KeyRange::FULL.contains(u32::MAX));
    }

    #[test]
    fn overlap_includes_touching_ends() {
        let a = KeyRange::new(0, 10).unwrap();
        assert!(a.overlaps(KeyRange::new(10, 12).unwrap()));
        assert!(!a.overlaps(KeyRange::new(11, 12).unwrap()));
    }

    #[test]
    fn full_range_has_two_to_the_32_keys() {
        assert_eq!(KeyRange::FULL.len(), 1 << 32);
    }

    #[test]
    fn parses_decimal_hex_and_full() {
        assert_eq!(
            "0..0x7fffffff".parse().ok(),
            KeyRange::new(0, 0x7fff_ffff).ok()
        );
        assert_eq!("1000..=1999".parse().ok(), KeyRange::new(1000, 1999).ok());
        assert_eq!("full".parse(), Ok(KeyRange::FULL));
        let shown = KeyRange::new(3, 0xffff).unwrap();
        assert_eq!(shown.to_string().parse(), Ok(shown));
        for bad in [
            "",
            "1",
            "2..1",
            "0..4294967296",
            "a..b",
            "0x..1",
            "..",
            "-1..2",
        ] {
            assert!(bad.parse::<KeyRange>().is_err(), "{bad:?} parsed");
        }
    }
}
