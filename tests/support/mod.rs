//! Shared test support: a simple reference model (the oracle), proptest
//! strategies, and a ground-truth history of writes. Each test binary uses
//! only part of it.
#![allow(dead_code)]

pub mod history;
pub mod procs;
pub mod reference;
pub mod strategies;
pub mod wire;
