//! The membership model: scalesmall's group data and its merge laws.
//!
//! Pure data, no I/O: no sockets, files, clocks or randomness (the node layer
//! owns those). Everything above (wire, protocol, node) builds on these types.
//!
//! # The data
//! - [`NodeId`]: a member's random 64-bit name (not its address).
//! - [`LocalClock`]: `(member, counter)`; only the member advances its counter,
//!   once per item written, across all groups.
//! - [`Item`]: a member's statement: `kind` (serve / read), `live`, a
//!   [`KeyRange`], a priority hint and a service port. The seed's `Add`,
//!   `Get` and `Rmv` map onto `(kind, live)`.
//! - [`TimedItem`]: an item at a clock of its member. Its [`Identity`],
//!   `(member, kind, start, end)`, is what a later write overwrites.
//! - [`TimedSet`]: one group's timed items, one per identity, sorted.
//! - [`WorldClock`]: per member, the clock intervals a node *covers*.
//! - [`Message`]: a group name, a world clock and a timed set: a node's view
//!   of a group, or a delta of it.
//! - [`TopologyDb`]: the local node's messages for all groups, and the only
//!   place it writes its own items.
//!
//! # The coverage invariant
//! If clock `c` is covered for member `m`, then every identity of `m` in the
//! group whose latest write has clock `c` is held, at that write. Clocks where
//! `m` wrote nothing in the group are covered trivially. Coverage grows only
//! from own writes, merges and [`TopologyDb::delta_since`], never from merely
//! holding an item. `docs/ALGORITHM.md` shows why each operation keeps it.
//!
//! # Merge rules
//! - **Join** (the CRDT): per identity the higher clock wins; the same
//!   identity and clock with different contents (only a buggy or replayed
//!   writer does that) resolves by the greater `(live, priority, port)`.
//!   World clocks join by interval union. Join is idempotent, commutative and
//!   associative, so messages may arrive twice, late and in any order.
//! - **Apply** (a node receiving a message): an incoming item at a clock the
//!   receiver already covers is never news and is ignored; the rest is joined.
//!   This keeps a node from regressing to a superseded write and makes the
//!   "nothing new" fast path exact and allocation-free.
//!
//! # Example
//! ```
//! use scalesmall::model::{KeyRange, NodeId, TopologyDb};
//!
//! let mut a = TopologyDb::new(NodeId::from_u64(0xa));
//! let mut b = TopologyDb::new(NodeId::from_u64(0xb));
//! a.join("cache")?;
//! a.claim("cache", KeyRange::new(0, 0x7fff_ffff)?, 10, 11211)?;
//!
//! // b receives a's view of the group (twice: duplicates are harmless).
//! let msg = a.message("cache").expect("a wrote to it");
//! assert!(b.apply(msg).changed);
//! assert!(!b.apply(msg).changed);
//!
//! let servers = b.lookup("cache", 42);
//! assert_eq!(servers[0].member, NodeId::from_u64(0xa));
//! assert_eq!(servers[0].port, 11211);
//! # Ok::<(), scalesmall::model::ModelError>(())
//! ```

mod coverage;
mod delta;
mod error;
mod group_name;
mod item;
mod key_depth;
mod key_hash;
mod key_range;
mod local_clock;
mod message;
mod node_id;
mod owners;
mod timed_item;
mod timed_set;
mod topology_db;
pub mod world_clock;

pub use coverage::{Coverage, Span};
pub use delta::{ChunkSizer, FixedSizer};
pub use error::ModelError;
pub use group_name::GroupName;
pub use item::{Identity, Item, Kind, Op};
pub use key_depth::KeyDepth;
pub use key_hash::{key_hash, parse_key};
pub use key_range::{KeyRange, ParseKeyRangeError};
pub use local_clock::LocalClock;
pub use message::{Applied, Message};
pub use node_id::{NodeId, ParseNodeIdError};
pub use owners::{OwnedRange, Owner, owners};
pub use timed_item::TimedItem;
pub use timed_set::{MergeStats, TimedSet};
pub use topology_db::{Caps, Lag, Server, TopologyDb, TopologyFilter, Written};
pub use world_clock::{MemberClock, WorldClock};
