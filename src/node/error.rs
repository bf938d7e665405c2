//! `NodeError`: why the node could not start or had to stop. Each variant
//! carries the context an operator needs (which address, which file).

use core::net::SocketAddr;
use std::path::PathBuf;

use super::config::ConfigError;
use super::store::StoreError;

/// Why the node could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A bad setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data dir failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No usable interface.
    #[error("network interface: {0}")]
    Interface(String),
    /// A socket could not be bound or configured.
    #[error("{what} {addr}: {source}")]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The cluster key could not be read or written.
    #[error("cluster key {}: {problem}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The control socket could not be opened.
    #[error("control socket {}: {source}", path.display())]
    Control {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted own state is not valid.
    #[error("own state: {0}")]
    Restore(String),
    /// The signal handlers (SIGTERM, SIGINT, SIGHUP) could not be installed;
    /// nothing was started.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    /// The OS refused randomness.
    #[error("no OS randomness: {0}")]
    Entropy(String),
    /// Own state could not be made durable: the writes were undone (a write
    /// takes effect only once durable). Fatal only for the declared groups
    /// at start; while running, writes are refused and retried.
    #[error("cannot persist own state: {0}")]
    Persist(StoreError),
}
