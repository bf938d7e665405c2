//! `Frame`: one message as the protocol sees it, before encoding and after
//! decoding: who sent it, its freshness stamp, and its payload.
//!
//! The codec ([`crate::wire::Codec`]) turns a frame into sealed bytes and
//! back; the header fields that travel in clear (magic, version, kind,
//! cluster id, key id, nonce) are the codec's business, not the frame's.

use crate::model::{Message, NodeId};

use super::announce::Announce;
use super::forward::Forward;
use super::probe::{PingReq, Probe};
use super::pull::Pull;

/// A decoded (or to-be-encoded) frame.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Frame {
    /// The sending node (travels in the header, authenticated as AAD).
    pub sender: NodeId,
    /// The sender's incarnation: bumped at every start of its process.
    pub incarnation: u64,
    /// The sender's sequence number within this incarnation; every frame it
    /// sends takes the next one. Receivers accept an announce or probe with a
    /// given `(incarnation, seq)` once, within a window of the newest (see
    /// [`crate::wire::Freshness`]).
    pub seq: u64,
    /// What the frame carries.
    pub payload: Payload,
}

/// What a frame carries. The discriminant is the header's kind byte
/// ([`FrameKind`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// Multicast (or unicast to far peers) heartbeat with digests.
    Announce(Announce),
    /// "Here is my world clock of a group (or part of it): send what I lack."
    Pull(Pull),
    /// One group's chunk: items plus the coverage they carry.
    Delta(Message),
    /// A delta handed down the TCP distribution tree, with the rest of the
    /// receiver's part as its distribution list.
    Forward(Forward),
    /// Liveness probe (format version 2 and later).
    Ping(Probe),
    /// Answer to a [`Payload::Ping`] (format version 2 and later).
    Ack(Probe),
    /// "Probe this node for me" (indirect probing; format version 2 and later).
    PingReq(PingReq),
}

/// The header's kind byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum FrameKind {
    /// [`Payload::Announce`].
    Announce = 1,
    /// [`Payload::Pull`].
    Pull = 2,
    /// [`Payload::Delta`].
    Delta = 3,
    /// [`Payload::Forward`].
    Forward = 4,
    /// [`Payload::Ping`].
    Ping = 5,
    /// [`Payload::Ack`].
    Ack = 6,
    /// [`Payload::PingReq`].
    PingReq = 7,
}

impl FrameKind {
    /// Every kind, in byte order.
    pub const ALL: [FrameKind; 7] = [
        FrameKind::Announce,
        FrameKind::Pull,
        FrameKind::Delta,
        FrameKind::Forward,
        FrameKind::Ping,
        FrameKind::Ack,
        FrameKind::PingReq,
    ];

    /// The kind with this byte, if any.
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// The lowest format version that has this kind.
    #[must_use]
    pub const fn since_version(self) -> u8 {
        match self {
            FrameKind::Announce | FrameKind::Pull | FrameKind::Delta | FrameKind::Forward => 1,
            FrameKind::Ping | FrameKind::Ack | FrameKind::PingReq => 2,
        }
    }

    /// Lower-case name, for logs and drop counters.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FrameKind::Announce => "announce",
            FrameKind::Pull => "pull",
            FrameKind::Delta => "delta",
            FrameKind::Forward => "forward",
            FrameKind::Ping => "ping",
            FrameKind::Ack => "ack",
            FrameKind::PingReq => "ping_req",
        }
    }

    /// Whether a replayed frame of this kind could fake liveness or
    /// reachability, so receivers require `(incarnation, seq)` to increase.
    /// CRDT payloads (pull, delta, forward) are idempotent and exempt.
    #[must_use]
    pub const fn needs_freshness(self) -> bool {
        matches!(
            self,
            FrameKind::Announce | FrameKind::Ping | FrameKind::Ack | FrameKind::PingReq
        )
    }
}

impl Payload {
    /// The header kind of this payload.
    #[must_use]
    pub const fn kind(&self) -> FrameKind {
        match self {
            Payload::Announce(_) => FrameKind::Announce,
            Payload::Pull(_) => FrameKind::Pull,
            Payload::Delta(_) => FrameKind::Delta,
            Payload::Forward(_) => FrameKind::Forward,
            Payload::Ping(_) => FrameKind::Ping,
            Payload::Ack(_) => FrameKind::Ack,
            Payload::PingReq(_) => FrameKind::PingReq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_bytes_round_trip() {
        for k in FrameKind::ALL {
            assert_eq!(FrameKind::from_byte(k as u8), Some(k));
        }
        assert_eq!(FrameKind::from_byte(0), None);
        assert_eq!(FrameKind::from_byte(8), None);
    }
}
