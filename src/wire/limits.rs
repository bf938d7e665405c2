//! `Limits` (sizes the node configures) and the hard caps on every sequence
//! a frame's body may hold.
//!
//! The caps bound what a decoder keeps in memory whatever a sender declares;
//! the encoder enforces the same caps, so a frame this codec produces always
//! decodes. A declared count is never trusted: sequences are read element by
//! element, each element consumes at least one byte, and the initial capacity
//! is a small constant, so memory stays proportional to the bytes present.

use crate::model::Coverage;

use super::announce::Announce;

/// Frame size limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Largest UDP datagram payload, in bytes (default 1200, which passes any
    /// path without IP fragmentation).
    pub mtu: usize,
    /// Largest TCP frame, in bytes (default 1 MiB). A longer declared length
    /// closes the connection.
    pub max_frame: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            mtu: 1200,
            max_frame: 1 << 20,
        }
    }
}

/// Hard caps on the sequences of a frame's body.
pub mod caps {
    use super::{Announce, Coverage};

    /// Member entries in one message or world clock.
    pub const MAX_MEMBERS: usize = 65_536;
    /// Items in one message (each encodes to at least 13 bytes, so a 1 MiB
    /// frame holds at most about 80 000).
    pub const MAX_ITEMS: usize = 262_144;
    /// Coverage spans of one member: the prefix plus the fragment cap.
    pub const MAX_SPANS: usize = Coverage::MAX_FRAGMENTS + 1;
    /// Addresses in one announce.
    pub const MAX_ADDRS: usize = Announce::MAX_ADDRS;
    /// Island heads in one announce.
    pub const MAX_HEADS: usize = Announce::MAX_HEADS;
    /// Entries in an announce's hears window (twice [`HEARS_WINDOW`]).
    pub const MAX_HEARS: usize = 2 * HEARS_WINDOW;
    /// Liveness rumors in one frame.
    pub const MAX_RUMORS: usize = super::super::probe::Rumor::MAX_PER_FRAME;
    /// Entries in an announce's groups window.
    pub const MAX_GROUPS: usize = 64;
    /// Nodes in a forward's distribution list.
    pub const MAX_FORWARD_LIST: usize = 4096;
    /// Ids in a frame's id table: every member of a message, a forward list,
    /// and its author.
    pub const MAX_IDS: usize = MAX_MEMBERS + MAX_FORWARD_LIST + 1;

    /// Entries the protocol should put in one announce's hears window.
    pub const HEARS_WINDOW: usize = 16;
    /// Bytes of group digests (name, length byte and fingerprint) the
    /// protocol should put in one announce's groups window (at least one
    /// digest always fits: a 255-byte name makes 264 bytes).
    pub const GROUPS_WINDOW_BYTES: usize = 384;
}
