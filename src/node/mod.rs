//! The node: the thin tokio shell that runs the Chatter protocol on real
//! sockets, timers and files.
//!
//! It owns sockets ([`udp`], [`unicast`], [`tcp`]), the clock and OS randomness
//! ([`clock`]), the data dir ([`store`]), the configuration ([`config`]) and
//! the keyring ([`keys`]; changed at run time by [`key_admin`], stored in
//! [`keyring`]), tells systemd it is ready and alive ([`notify`]), follows
//! its interface's addresses ([`renumber`]), and feeds them to the protocol through
//! [`driver::Driver`], which holds no protocol logic. Composition (config →
//! store → protocol → sockets → control server) happens above, in the CLI.

pub mod api;
pub mod clock;
pub mod config;
pub mod driver;
pub mod error;
pub mod fs;
pub mod group_health;
pub mod hooks;
pub mod iface;
pub mod key_admin;
pub mod keyring;
pub mod keys;
pub mod netplan;
pub mod notify;
pub mod process_stats;
pub mod renumber;
pub mod store;
pub mod tcp;
pub mod udp;
pub mod unicast;

pub use driver::{Driver, NodeHandle};
pub use error::NodeError;
