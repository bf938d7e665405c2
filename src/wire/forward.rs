//! `Forward`: a delta handed down the TCP distribution tree.
//!
//! The sender shuffled the destinations still to reach, split them into
//! parts, and hands each part's first node this frame with the rest of its
//! part as `list`; the receiver does the same with `list`, whether or not
//! the delta was news to it. `(author, upto)` identifies the broadcast so a
//! node forwards each one once.

use crate::model::{Message, NodeId};

use super::peer_ref::PeerRef;

/// A tree broadcast step.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Forward {
    /// The node whose write this is.
    pub author: NodeId,
    /// The author's clock after the write: with `author`, the broadcast's id.
    pub upto: u64,
    /// The nodes the receiver must pass the delta on to (its part).
    pub list: Vec<PeerRef>,
    /// The delta (one group's chunk).
    pub message: Message,
}
