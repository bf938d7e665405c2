//! Liveness probes (format version 2): `Ping`, `Ack` and `PingReq`.
//!
//! A `Ping` asks a node to answer with an `Ack` carrying the same nonce; a
//! `PingReq` asks a third node to probe a target on the sender's behalf
//! (indirect probing, for a path the sender cannot use or doubts). How and
//! when they are used is the protocol's business.

use super::peer_ref::PeerRef;

/// The body of a `Ping` or an `Ack`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Probe {
    /// Chosen by the prober; echoed by the answer.
    pub nonce: u64,
}

/// "Probe `target` for me and tell me if it answers."
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PingReq {
    /// Chosen by the requester; echoed in the relayed `Ack`.
    pub nonce: u64,
    /// The node to probe.
    pub target: PeerRef,
}
