//! Liveness (format version 2): probes and rumors.
//!
//! A `Ping` asks a node to answer with an `Ack` carrying the same nonce; a
//! `PingReq` asks a third node to probe a target on the sender's behalf
//! (indirect probing, for a path the sender cannot use or doubts). Pings,
//! acks and announces carry a few [`Rumor`]s: what the sender believes about
//! some node's liveness, so verdicts spread without frames of their own. How
//! and when they are used is the protocol's business.

use crate::model::NodeId;

use super::peer_ref::PeerRef;

/// The body of a `Ping` or an `Ack`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Probe {
    /// Chosen by the prober; echoed by the answer.
    pub nonce: u64,
    /// Liveness news, piggybacked (at most [`Rumor::MAX_PER_FRAME`]).
    pub rumors: Vec<Rumor>,
}

/// "Probe `target` for me and tell me if it answers."
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PingReq {
    /// Chosen by the requester; echoed in the relayed `Ack`.
    pub nonce: u64,
    /// The node to probe.
    pub target: PeerRef,
}

/// What a rumor says of a node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Liveness {
    /// It answers.
    Alive = 0,
    /// It stopped answering; it has a while to refute.
    Suspect = 1,
    /// It did not refute: down.
    Down = 2,
}

impl Liveness {
    /// The state with this byte.
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Alive),
            1 => Some(Self::Suspect),
            2 => Some(Self::Down),
            _ => None,
        }
    }

    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Suspect => "suspect",
            Self::Down => "down",
        }
    }
}

/// A belief about `id` as of its frame `(incarnation, seq)`: newer
/// `(incarnation, seq)` wins; at equal ones, the graver state wins. The node
/// itself refutes a suspicion with an `Alive` rumor at a newer `seq`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rumor {
    /// The node the rumor is about.
    pub id: NodeId,
    /// Its incarnation the rumor refers to.
    pub incarnation: u64,
    /// Its frame sequence number the rumor refers to.
    pub seq: u64,
    /// What is believed.
    pub state: Liveness,
}

impl Rumor {
    /// Most rumors in one frame.
    pub const MAX_PER_FRAME: usize = 6;

    /// Whether this rumor supersedes `other` (about the same node).
    #[must_use]
    pub fn supersedes(&self, other: &Rumor) -> bool {
        (self.incarnation, self.seq, self.state) > (other.incarnation, other.seq, other.state)
    }
}
