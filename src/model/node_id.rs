//! `NodeId`: how a member is named.
//!
//! A random 64-bit number a node draws once (from OS entropy, in the node
//! layer) and persists in its data dir. It is deliberately *not* an address:
//! the original used `ip:port`, so a board that got a new DHCP lease became a
//! new member. Addresses are something the protocol learns *about* an id. A
//! board whose data dir is wiped draws a new id and is a new member; the old
//! one expires (hardening issue).
//!
//! Shown as 16 lower-case hex digits. Totally ordered and `Copy`, so members
//! compare as plain integers on the merge path.

use std::fmt;
use std::str::FromStr;

/// A member's identity: 64 random bits, shown in hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(u64);

impl NodeId {
    /// Every id: `NodeId(0)..=NodeId(u64::MAX)`.
    pub const ALL: std::ops::RangeInclusive<NodeId> = NodeId(0)..=NodeId(u64::MAX);

    /// The id with this numeric value.
    #[must_use]
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// Its numeric value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:016x})", self.0)
    }
}

/// Why a string is not a [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a node id: expected 1 to 16 hex digits, like 3f2a9c0d12e4b7a1")]
pub struct ParseNodeIdError {
    input: String,
}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    /// Parses 1 to 16 hex digits, with an optional `0x` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        let err = || ParseNodeIdError {
            input: s.to_owned(),
        };
        if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(err());
        }
        u64::from_str_radix(digits, 16).map(Self).map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_sixteen_hex_digits() {
        assert_eq!(NodeId::from_u64(0xab).to_string(), "00000000000000ab");
        assert_eq!(NodeId::from_u64(u64::MAX).to_string(), "ffffffffffffffff");
    }

    #[test]
    fn parses_what_it_displays() {
        for v in [0, 1, 0xdead_beef, u64::MAX] {
            let id = NodeId::from_u64(v);
            assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        }
        assert_eq!("0xFF".parse::<NodeId>(), Ok(NodeId::from_u64(255)));
    }

    #[test]
    fn rejects_non_hex_and_overlong_input() {
        for bad in ["", "0x", "xyz", "+1", "-1", "12345678901234567", " 1"] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn orders_by_value() {
        assert!(NodeId::from_u64(1) < NodeId::from_u64(2));
    }
}
