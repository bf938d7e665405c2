//! The simulator: many Chatter nodes in one process on a virtual clock, with
//! a network model (subnets, latency, loss, duplication, reordering,
//! partitions, one-way multicast) and crashes and restarts from persisted
//! own state. Deterministic from one seed.
//!
//! It is the proof of the protocol (checks run throughout against its own
//! log of writes) and its benchmark (`cargo run --release --bin sim -- run`).
//! Uses [`crate::protocol`] (and the model and wire it builds on) only; like
//! them it does no I/O and reads no clock.

mod auto;
mod auto_picture;
mod cluster;
mod diagnose;
mod expiry;
mod fault_kind;
mod flood;
mod heal;
mod interest;
mod links;
mod liveness;
mod long_run;
mod net;
mod reconnect_cost;
mod scenario;
mod tombstones;
mod truth;

pub use auto::{AutoPhase, AutoReport, AutoRun, Holdings, auto, holdings};
pub use auto_picture::{Panel, svg as auto_svg};
pub use cluster::{Cluster, SimConfig, Traffic, Verdict};
pub use diagnose::diagnose;
pub use expiry::{ExpiryReport, expiry};
pub use fault_kind::Fault;
pub use flood::{Flood, FloodReport, flood};
pub use heal::{AUTO_GROUP, HealOutcome, HealRun, heal, long_fault_ms, replay};
pub use interest::{InterestReport, InterestRun, interest};
pub use links::Links;
pub use liveness::{LivenessReport, LivenessRun, measure_liveness};
pub use long_run::{LongRunReport, Sample, long_run};
pub use net::{Net, NetConfig, PORT};
pub use reconnect_cost::{CostReport, CostWindow, reconnect_cost};
pub use scenario::{Faults, GROUP, Outcome, Report, faults, measure};
pub use tombstones::{TombReport, TombSample, tombstones};
pub use truth::Truth;
