//! Shared test support: a simple reference model (the oracle), proptest
//! strategies, a ground-truth history of writes, real node processes (and
//! namespace LANs for them), a tiny HTTP client, a WebDriver-driven
//! headless Chromium, checks of what the status page draws, and a lab of
//! Chatter nodes wired by hand for scripted protocol tests (lab.rs: a network
//! that delivers at once; chatter.rs: a bench moved frame by frame). Each test binary
//! uses only part of it.
#![allow(dead_code)]

pub mod browser;
// The status page's colours come from the library's `palette` (feature http).
#[cfg(feature = "http")]
pub mod drawing;
pub mod history;
pub mod http;
pub mod lab;
pub mod lan;
pub mod procs;
pub mod reference;
pub mod strategies;
pub mod wire;
