//! `ProtocolError`: what the protocol refuses. Frames from the network are
//! never an error here (they are counted and dropped); only local requests
//! and restored state can be refused.

use crate::model::ModelError;

/// Why a local request was refused; no state changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The model refused the write (bad group name, release of a range not
    /// claimed, ...).
    #[error(transparent)]
    Model(ModelError),
    /// The persisted own state is not valid.
    #[error("the persisted own state is invalid: {0}")]
    Restore(ModelError),
}
