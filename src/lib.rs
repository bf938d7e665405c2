//! scalesmall: membership and key-range ownership for clusters of small ARM
//! boards.
//!
//! Each node alone decides and writes its own participation: it joins or
//! leaves named groups and claims (`Add`) or drops (`Rmv`) sub-ranges of the
//! 32-bit key space, each with a priority hint and a service port. Everyone
//! else only reads. State is a CRDT merged last-write-wins per identity, so
//! messages may arrive twice, late and in any order.
//!
//! # Layout
//! Layers, each importing only the ones above it in this list:
//! - [`model`]: the data and its merge laws (pure; no I/O, clock or randomness).
//! - [`wire`]: frames and their sealed, versioned byte format (pure).
//! - [`protocol`]: Chatter, the sans-IO state machine that spreads each
//!   node's writes (multicast plus a TCP tree, anti-entropy).
//! - [`sim`]: many protocol instances on a virtual clock with a simulated
//!   network; the protocol's proof and benchmark.
//!
//! - [`node`]: the thin tokio shell that runs the protocol on real sockets,
//!   timers and files (`scalesmall run`).
//! - [`control`]: the local control socket, its server and client.
//! - [`cli`]: the `scalesmall` command line.
//!
//! The core (model, wire, protocol, and the simulator on top of them) is
//! sans-IO, so the deterministic simulation drives exactly the code that
//! runs on the boards.
//!
//! # Promises
//! - No panics on any input: every constructor validates and returns a typed
//!   error.
//! - `#![forbid(unsafe_code)]`.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod cli;
pub mod control;
pub mod model;
pub mod node;
pub mod protocol;
pub mod sim;
pub mod wire;
