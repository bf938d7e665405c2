//! `KeyUse`: which key each peer seals its frames with, as the clear header
//! of the last replay-checked frame (announce, ping, ack) opened from it
//! says (no wire change: every frame carries its key id).
//!
//! A key rotation without restarts (`scalesmall keys`, docs/node.md) needs
//! one fact before the old key can go: nobody sends under it any more. This
//! table answers it per peer, with the time of that frame, so `keys list`
//! can tell a peer that switched from one not heard since. Bounded: at
//! [`MAX_PEERS`] entries, the one heard least recently makes room.

use std::collections::BTreeMap;

use crate::model::NodeId;

use super::peers::MAX_PEERS;
use super::time::Millis;

/// The key a peer's last opened frame was sealed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySeen {
    /// The key id from the frame's header.
    pub key_id: u32,
    /// When that frame was opened.
    pub at: Millis,
}

/// The last key id heard from each peer (see the module docs).
#[derive(Clone, Debug)]
pub struct KeyUse {
    last: BTreeMap<NodeId, KeySeen>,
    cap: usize,
}

impl Default for KeyUse {
    fn default() -> Self {
        Self::new(MAX_PEERS)
    }
}

impl KeyUse {
    /// An empty table holding at most `cap` peers (at least one).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            last: BTreeMap::new(),
            cap: cap.max(1),
        }
    }

    /// A frame from `sender`, sealed with `key_id`, was opened at `now`.
    pub fn note(&mut self, sender: NodeId, key_id: u32, now: Millis) {
        let seen = KeySeen { key_id, at: now };
        if let Some(e) = self.last.get_mut(&sender) {
            *e = seen;
            return;
        }
        if self.last.len() >= self.cap
            && let Some(oldest) = self
                .last
                .iter()
                .min_by_key(|(_, s)| s.at)
                .map(|(id, _)| *id)
        {
            self.last.remove(&oldest);
        }
        self.last.insert(sender, seen);
    }

    /// The key `sender` last sealed with, if a frame of it was opened.
    #[must_use]
    pub fn get(&self, sender: NodeId) -> Option<KeySeen> {
        self.last.get(&sender).copied()
    }

    /// Every peer heard, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, KeySeen)> + '_ {
        self.last.iter().map(|(id, s)| (*id, *s))
    }

    /// Forgets a peer (expired or forgotten).
    pub fn forget(&mut self, sender: NodeId) {
        self.last.remove(&sender);
    }

    /// How many peers are known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no peer is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> NodeId {
        NodeId::from_u64(n)
    }

    #[test]
    fn the_last_frame_wins_per_peer() {
        let mut k = KeyUse::default();
        k.note(id(1), 0xaa, Millis(10));
        k.note(id(2), 0xaa, Millis(11));
        k.note(id(1), 0xbb, Millis(20));
        assert_eq!(
            k.get(id(1)),
            Some(KeySeen {
                key_id: 0xbb,
                at: Millis(20)
            })
        );
        assert_eq!(k.get(id(2)).map(|s| s.key_id), Some(0xaa));
        assert_eq!(k.get(id(3)), None);
        k.forget(id(2));
        assert_eq!(k.iter().map(|(p, _)| p).collect::<Vec<_>>(), vec![id(1)]);
    }

    #[test]
    fn a_full_table_drops_the_peer_heard_least_recently() {
        let mut k = KeyUse::new(2);
        k.note(id(1), 1, Millis(5));
        k.note(id(2), 1, Millis(1));
        k.note(id(1), 2, Millis(6));
        k.note(id(3), 3, Millis(7));
        assert_eq!(k.len(), 2);
        assert_eq!(k.get(id(2)), None, "heard least recently");
        assert!(k.get(id(1)).is_some() && k.get(id(3)).is_some());
        let mut one = KeyUse::new(0);
        one.note(id(1), 1, Millis(1));
        one.note(id(2), 1, Millis(2));
        assert_eq!(one.iter().map(|(p, _)| p).collect::<Vec<_>>(), vec![id(2)]);
    }
}
