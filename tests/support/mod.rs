//! Shared test support: a simple reference model (the oracle), proptest
//! strategies, a ground-truth history of writes, real node processes (and
//! namespace LANs for them), a tiny HTTP client and a WebDriver-driven
//! headless Chromium. Each test binary uses only part of it.
#![allow(dead_code)]

pub mod browser;
pub mod history;
pub mod http;
pub mod lan;
pub mod procs;
pub mod reference;
pub mod strategies;
pub mod wire;
