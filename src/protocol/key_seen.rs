//! `KeySeen`: which key a peer seals its frames with, as the clear header
//! of its last replay-checked frame (announce, ping, ack) opened here says
//! (no wire change: every frame carries its key id). Kept per peer in
//! [`super::Peer::key_seen`], so it is bounded and forgotten with the peer
//! table.
//!
//! A key rotation without restarts (`scalesmall keys`, docs/node.md) needs
//! one fact before the old key can go: nobody sends under it any more.
//! This answers it per peer, with the time of that frame, so `keys list`
//! can tell a peer that switched from one not heard since. Only
//! replay-checked kinds count (every peer sends them every few seconds): a
//! replayed old frame says nothing.

use super::time::Millis;

/// The key a peer's last opened replay-checked frame was sealed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySeen {
    /// The key id from the frame's header.
    pub key_id: u32,
    /// When that frame was opened.
    pub at: Millis,
}
