//! The node: the thin tokio shell that runs the Chatter protocol on real
//! sockets, timers and files.
//!
//! It owns sockets ([`udp`], [`unicast`], [`tcp`]), the clock and OS randomness
//! ([`clock`]), the data dir ([`store`]), the configuration ([`config`]) and
//! the keyring ([`keys`]; changed at run time by [`key_admin`], stored in
//! [`keyring`]), tells systemd it is ready and alive ([`notify`]), follows
//! its interface's addresses ([`renumber`]), and feeds them to the protocol through
//! [`driver::Driver`], which holds no protocol logic. [`run`] composes a node
//! from its config (store → keys → sockets → protocol → driver), so a test
//! can run one in-process; the control socket and the signals are added
//! above, in the CLI. [`request`] is what the control layer may ask.

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
pub mod request;
pub mod run;
pub mod store;
pub mod tcp;
pub mod udp;
pub mod unicast;

pub use driver::{Driver, NodeHandle};
pub use error::NodeError;
pub use run::{Node, run, start};
