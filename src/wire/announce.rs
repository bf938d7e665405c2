//! `Announce`: the periodic heartbeat a node multicasts on its LAN (and
//! unicasts to a few far peers), sized so it does not grow with the cluster.
//!
//! Lists that could grow with N (who the sender hears, its groups) travel as
//! rotating [`Window`]s: each announce carries the next slice, with the total
//! and the slice's offset, so a listener assembles the whole list over a few
//! announces. `groups_fp` hashes all of the sender's group fingerprints, so a
//! listener can tell from any single announce whether anything differs.

use core::net::SocketAddr;

use crate::model::{GroupName, NodeId};

use super::peer_ref::PeerRef;

/// A node's heartbeat.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Announce {
    /// The highest wire format version the sender accepts (so peers send it
    /// the highest version every peer accepts, and a rolling upgrade never
    /// partitions the cluster).
    pub max_version: u8,
    /// Where the sender is reached (IPv4 and/or IPv6; UDP and TCP share the
    /// port). At most [`Announce::MAX_ADDRS`].
    pub addrs: Vec<SocketAddr>,
    /// A slice of the nodes whose multicast the sender hears.
    pub hears: Window<NodeId>,
    /// A slice of the sender's joined groups with their world clock
    /// fingerprints.
    pub groups: Window<GroupDigest>,
    /// Hash of every `(group, fingerprint)` the sender has joined, in name
    /// order: equal on two nodes when all their joined groups agree.
    pub groups_fp: u64,
    /// A few heads of other multicast islands (subnet discovery).
    /// At most [`Announce::MAX_HEADS`].
    pub heads: Vec<PeerRef>,
    /// Hash of the group policies the sender uses (auto-claim; 0 = none).
    /// Format version 2 and later; a version 1 frame decodes it as 0.
    pub policy_fp: u64,
    /// Liveness news, piggybacked (at most [`super::Rumor::MAX_PER_FRAME`]).
    /// Format version 2 and later; a version 1 frame decodes none.
    pub rumors: Vec<super::Rumor>,
}

impl Announce {
    /// Most addresses one announce carries.
    pub const MAX_ADDRS: usize = 4;
    /// Most island heads one announce carries.
    pub const MAX_HEADS: usize = 4;
}

/// One group's digest: its name and the sender's world clock fingerprint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupDigest {
    /// The group.
    pub group: GroupName,
    /// [`crate::model::WorldClock::fingerprint`] of the sender's view.
    pub fingerprint: u64,
}

impl GroupDigest {
    /// Bytes this digest takes in an announce: the name with its length
    /// byte, and the 8-byte fingerprint (for
    /// [`crate::wire::caps::GROUPS_WINDOW_BYTES`]).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        1 + self.group.as_str().len() + 8
    }
}

/// A slice of a list too long for one frame: `entries` are the items at
/// `offset .. offset + entries.len()` of a list of `total` (wrapping around).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Window<T> {
    /// Length of the whole list.
    pub total: u32,
    /// Index of `entries[0]` in the whole list.
    pub offset: u32,
    /// The slice.
    pub entries: Vec<T>,
}

impl<T> Window<T> {
    /// The whole list in one window.
    #[must_use]
    pub fn whole(entries: Vec<T>) -> Self {
        Self {
            total: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            offset: 0,
            entries,
        }
    }

    /// An empty list.
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            total: 0,
            offset: 0,
            entries: Vec::new(),
        }
    }

    /// The next slice of `all` for a rotating window: entries from `offset`
    /// (modulo the length, wrapping around) while at most `max` entries and,
    /// summing `len` over them, at most `budget` bytes (at least one entry
    /// whatever its size, if `all` is not empty). The next announce starts
    /// at `offset + entries.len()`.
    #[must_use]
    pub fn rotating(
        all: &[T],
        offset: usize,
        max: usize,
        budget: usize,
        len: impl Fn(&T) -> usize,
    ) -> Self
    where
        T: Clone,
    {
        if all.is_empty() {
            return Self::empty();
        }
        let start = offset % all.len();
        let mut entries = Vec::new();
        let mut used = 0;
        for e in all.iter().cycle().skip(start).take(all.len().min(max)) {
            let l = len(e);
            if !entries.is_empty() && used + l > budget {
                break;
            }
            used += l;
            entries.push(e.clone());
        }
        Self {
            total: u32::try_from(all.len()).unwrap_or(u32::MAX),
            offset: u32::try_from(start).unwrap_or(u32::MAX),
            entries,
        }
    }

    /// Whether this window holds the entire list.
    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.entries.len() as u64 == u64::from(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotating_windows_wrap_and_respect_both_limits() {
        let all: Vec<u32> = (0..10).collect();
        let w = Window::rotating(&all, 8, 4, usize::MAX, |_| 1);
        assert_eq!((w.total, w.offset, w.entries), (10, 8, vec![8, 9, 0, 1]));
        let w = Window::rotating(&all, 23, 100, 5, |_| 2);
        assert_eq!((w.offset, w.entries), (3, vec![3, 4]));
        // One entry always, even over the budget.
        let w = Window::rotating(&all, 0, 100, 1, |_| 7);
        assert_eq!(w.entries, vec![0]);
        assert!(Window::rotating(&all, 0, 100, usize::MAX, |_| 1).is_whole());
        assert_eq!(
            Window::<u32>::rotating(&[], 5, 4, 9, |_| 1),
            Window::empty()
        );
    }
}
