//! The wire: every message scalesmall sends, as bytes.
//!
//! Pure Rust, sans-IO: bytes in, typed frames out. The caller passes keys and
//! nonce randomness; nothing here opens a socket, reads a clock or draws
//! random numbers. Builds on [`crate::model`] only.
//!
//! This module defines what the protocol speaks ([`Frame`], [`Payload`] and
//! the message types), and [`Codec`] turns frames into sealed, versioned,
//! MTU-bounded bytes and back. `docs/wire.md` documents the format byte by
//! byte.
//!
//! # Layout
//! - [`header`](Header): the clear 46-byte header (magic, version, kind,
//!   cluster id, sender, key id, nonce), checked before any cryptography.
//! - [`Keyring`] and [`Key`]: primary and accepted cluster keys, key ids.
//! - seal: XChaCha20-Poly1305 with the header as associated data.
//! - body: postcard wire structs, the per-frame id table, validation; every
//!   sequence bounded by its cap ([`caps`]).
//! - [`Codec`]: encode, decode, exact `encoded_len`, chunk sizers.
//! - [`negotiate`], [`VERSION`], [`MIN_VERSION`]: the version policy.
//! - [`Freshness`]: replay protection for announces and probes.
//! - [`FrameReader`], [`length_prefix`]: TCP framing.
//! - [`WireError`], [`DropCounters`]: why a frame was refused, and counts.
//!
//! # Example
//! ```
//! use scalesmall::model::NodeId;
//! use scalesmall::wire::{Codec, Frame, Key, Keyring, Limits, Payload, Probe, VERSION};
//!
//! let key = Key::from_base64("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")?;
//! let codec = Codec::new("lab", Keyring::new(key), Limits::default());
//! let frame = Frame {
//!     sender: NodeId::from_u64(0xa),
//!     incarnation: 1,
//!     seq: 7,
//!     payload: Payload::Ping(Probe { nonce: 42, rumors: vec![] }),
//! };
//! let nonce = [3u8; 24]; // the node draws this from the OS
//! let bytes = codec.encode_datagram(&frame, VERSION, nonce)?;
//! assert_eq!(bytes.len(), codec.encoded_len(&frame, VERSION));
//! assert_eq!(codec.decode(&bytes)?.frame, frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod announce;
mod body;
mod bounded;
mod codec;
mod error;
mod forward;
mod frame;
mod freshness;
mod header;
mod keyring;
mod limits;
mod peer_ref;
mod probe;
mod pull;
mod seal;
mod sizer;
mod stats;
mod stream;
mod version;

pub use announce::{Announce, GroupDigest, Window};
pub use codec::{Codec, Decoded};
pub use error::{Field, Invalid, WireError};
pub use forward::Forward;
pub use frame::{Frame, FrameKind, Payload};
pub use freshness::Freshness;
pub use header::{HEADER_LEN, Header, MAGIC, MIN_FRAME, TAG_LEN, cluster_id};
pub use keyring::{KEY_ID_AAD, KEY_ID_NONCE, Key, KeyError, Keyring};
pub use limits::{Limits, caps};
pub use peer_ref::PeerRef;
pub use probe::{Liveness, PingReq, Probe, Rumor};
pub use pull::Pull;
pub use stats::DropCounters;
pub use stream::{FrameReader, PREFIX_LEN, length_prefix};
pub use version::{MIN_VERSION, VERSION, negotiate};
