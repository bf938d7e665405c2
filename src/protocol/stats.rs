//! `Stats`: what the protocol counts, for `status` and Prometheus `/metrics`:
//! frames and bytes in and out by kind, frames dropped by reason, news
//! applied and own writes; and `Sizes`, how big the node's tables are (what
//! must stay flat over years of boards coming and going).

use super::drop_reason::DropReason;
use std::collections::BTreeMap;

use crate::wire::FrameKind;

/// Counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received and accepted, by kind.
    pub frames_in: BTreeMap<&'static str, u64>,
    /// Frames sent, by kind.
    pub frames_out: BTreeMap<&'static str, u64>,
    /// Bytes received (every datagram and frame, accepted or not).
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Frames (or work) dropped, by reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// Received messages that changed the local view.
    pub news: u64,
    /// Own writes.
    pub own_writes: u64,
    /// Groups where collecting own tombstones raised the own GC floor.
    pub floors_raised: u64,
    /// Far members' announces passed on to a member of our LAN that
    /// announced one of their groups differently.
    pub relays: u64,
    /// Reconnect contacts sent (unicast announces to seeds, unreachable
    /// islands and down members; `super::reconnect`).
    pub reconnects: u64,
    /// Peers asked to ping a node that holds them at an address they left
    /// (see `Chatter::ping_for`).
    pub introductions: u64,
}

/// The sizes of a node's tables now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Peers known.
    pub peers: usize,
    /// Liveness views (peers the failure detector tracks).
    pub views: usize,
    /// Expiry markers held.
    pub markers: usize,
    /// Members known, summed over groups.
    pub members: usize,
    /// Items held, summed over groups.
    pub items: usize,
}

impl Stats {
    /// Counts an accepted frame.
    pub fn frame_in(&mut self, kind: FrameKind) {
        *self.frames_in.entry(kind.name()).or_insert(0) += 1;
    }

    /// Counts a sent frame of `len` bytes.
    pub fn frame_out(&mut self, kind: FrameKind, len: usize) {
        *self.frames_out.entry(kind.name()).or_insert(0) += 1;
        self.bytes_out += len as u64;
    }

    /// Counts a drop under [`DropReason::as_str`].
    pub fn drop(&mut self, reason: DropReason) {
        *self.drops.entry(reason.as_str()).or_insert(0) += 1;
    }

    /// Total frames sent.
    #[must_use]
    pub fn frames_sent(&self) -> u64 {
        self.frames_out.values().sum()
    }

    /// Total frames accepted.
    #[must_use]
    pub fn frames_received(&self) -> u64 {
        self.frames_in.values().sum()
    }
}
