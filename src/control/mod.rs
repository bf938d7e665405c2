//! The local control interface: a Unix socket (mode 0660, group
//! `scalesmall`, never on the network) speaking one JSON request per line and
//! one JSON reply per line; `watch` streams one event per line. The CLI's
//! subcommands are its client. Optionally an HTTP listener (feature `http`)
//! serves Prometheus `/metrics`.

pub mod client;
#[cfg(feature = "http")]
pub mod http;
pub mod server;
