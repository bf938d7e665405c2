//! The local control interface: a Unix socket (mode 0660, group
//! `scalesmall`, never on the network) speaking one JSON request per line and
//! one JSON reply per line; `watch` streams one event per line. The CLI's
//! subcommands are its client.
//!
//! Optionally (feature `http`) an HTTP listener serves, read-only, the
//! status page, the JSON API (the same documents as the CLI's `--json`) and
//! Prometheus `/metrics`: [`http`] listens and routes with [`route`],
//! [`json_api`] answers the JSON paths, [`page`] is the embedded page and
//! [`prometheus`] the metrics text.

pub mod client;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod json_api;
#[cfg(feature = "http")]
pub mod page;
#[cfg(feature = "http")]
pub mod palette;
#[cfg(feature = "http")]
pub mod prometheus;
#[cfg(feature = "http")]
pub mod route;
pub mod server;
