//! Auto-claim: each auto node picks its own slices of a group's key space so
//! that every key is served by R nodes, load follows capacity weights within
//! a stated bound, and little moves when nodes come and go (issue 10).
//!
//! Pure and deterministic: no I/O, no clock (`now` is passed in), no
//! randomness. Every board computes the same thing from the same view, bit
//! for bit (integer arithmetic only), whatever the order of its inputs.
//!
//! - [`Policy`]: the group's shared replication factor and granularity
//!   (slices), with the fingerprint announces will carry.
//! - [`Assignment`]: the nominal owners of every slice for the group's
//!   membership (weighted rendezvous hashing with bounded loads, as a
//!   stable matching), each slice's rank order, and the targets for a
//!   liveness view.
//! - [`Situation::decide`]: one node's [`Plan`] of claims and releases,
//!   damped by a hold-down and make-before-break.
//! - [`slices`]: between slices and the aligned blocks of [`crate::model::KeyRange`]s
//!   that are actually written.
//!
//! The algorithm, its bounds and the safety proof: `docs/ALGORITHM.md`,
//! section Auto-claim. Builds on [`crate::model`] and [`crate::wire`]'s
//! liveness states; the wiring (Chatter, node, CLI) calls it.

mod assignment;
mod decision;
mod policy;
mod score;
pub mod slices;

pub use assignment::{Assignment, Member, Rank};
pub use decision::{DEFAULT_HOLD_DOWN_MS, Observed, Plan, Situation};
pub use policy::{Policy, PolicyError};
pub use score::{group_salt, key, mix64};
