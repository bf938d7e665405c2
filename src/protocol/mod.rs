//! Chatter: the sans-IO protocol that carries each node's writes to every
//! interested board (mixed multicast and TCP-tree broadcast, anti-entropy).
//!
//! Pure: time comes in as [`Millis`], randomness from a seed, bytes in and
//! out through [`Chatter`]'s `handle_*` and `poll_*` methods. No sockets,
//! tokio, files or clocks; the node layer drives it, and the simulator
//! drives many instances on a virtual clock. Builds on [`crate::model`] and
//! [`crate::wire`].

mod anti_entropy;
pub mod auto_claim;
mod auto_mode;
mod chatter;
mod config;
mod conns;
mod dedupe;
mod drop_reason;
mod durability;
mod error;
mod interest;
mod io;
mod islands;
mod key_seen;
mod liveness;
mod peers;
mod rate;
mod reconnect;
mod stats;
mod time;
mod tree;

pub use auto_mode::{AutoConfig, AutoMode};
pub use chatter::{Chatter, NodeIdentity};
pub use config::ProtocolConfig;
pub use drop_reason::DropReason;
pub use durability::{OwnState, RETRY_AFTER};
pub use error::ProtocolError;
pub use interest::{Heard, Interest, MAX_KNOWN_GROUPS};
pub use io::{Command, ConnEvent, ConnId, Event, Outputs, Persisted, Transmit, Via};
pub use islands::Island;
pub use key_seen::KeySeen;
pub use liveness::{DetectorConfig, View};
pub use peers::{GroupHeard, MAX_PEERS, Peer, PeerStates, PeerTable};
pub use rate::{Buckets, Budget};
pub use reconnect::{BACKOFF_MAX, Backoff, Contacts};
pub use stats::{Sizes, Stats};
pub use time::Millis;
pub use tree::{island_heads, split};
