//! The wire: every message scalesmall sends, as bytes.
//!
//! Pure Rust, sans-IO: bytes in, typed frames out. The caller passes keys and
//! nonce randomness; nothing here opens a socket, reads a clock or draws
//! random numbers. Builds on [`crate::model`] only.
//!
//! This module defines what the protocol speaks ([`Frame`], [`Payload`] and
//! the message types); the codec turns frames into sealed, versioned,
//! MTU-bounded bytes and back. `docs/wire.md` documents the format byte by
//! byte.

mod announce;
mod forward;
mod frame;
mod peer_ref;
mod probe;
mod pull;

pub use announce::{Announce, GroupDigest, Window};
pub use forward::Forward;
pub use frame::{Frame, FrameKind, Payload};
pub use peer_ref::PeerRef;
pub use probe::{PingReq, Probe};
pub use pull::Pull;
