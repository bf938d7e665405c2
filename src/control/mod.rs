//! The local control interface: a Unix socket (mode 0660, group
//! `scalesmall`, never on the network) speaking one JSON request per line and
//! one JSON reply per line; `watch` streams one event per line. The CLI's
//! subcommands are its client.

pub mod client;
pub mod server;
