//! `Interest`: the groups this node has heard of but not joined.
//!
//! A node stores, forwards and answers pulls only for the groups it is a
//! member of (it holds a live own item there: a `Get` marker, a claim or an
//! auto marker; [`crate::model::TopologyDb::my_groups`]). Of every other
//! group it keeps only the name and the last fingerprint a peer announced
//! for it, so listing groups still shows them, and never a world clock it
//! does not back with items (docs/ALGORITHM.md 8.6).
//!
//! Invariants: at most [`MAX_KNOWN_GROUPS`] names (the model's group cap),
//! the one heard from least recently making room; a name leaves when the
//! node joins the group (it then holds the group itself). Pure bookkeeping:
//! uses [`crate::model`] names and [`super::time`] only.

use std::collections::BTreeMap;

use crate::model::GroupName;

use super::time::Millis;

/// Most groups known but not joined (the same as the model's group cap,
/// [`crate::model::Caps`]).
pub const MAX_KNOWN_GROUPS: usize = 256;

/// What is kept of a group this node has not joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// The fingerprint a peer last announced for it (`None` until one did:
    /// the name may come from a delta or from our own leave).
    pub fingerprint: Option<u64>,
    /// When it was last heard of.
    pub at: Millis,
}

/// The groups known but not joined, each with its last-heard fingerprint.
#[derive(Clone, Debug)]
pub struct Interest {
    known: BTreeMap<GroupName, Heard>,
    cap: usize,
}

impl Default for Interest {
    fn default() -> Self {
        Self::new(MAX_KNOWN_GROUPS)
    }
}

impl Interest {
    /// No group known, at most `cap` remembered (at least one).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            known: BTreeMap::new(),
            cap: cap.max(1),
        }
    }

    /// `group` was heard of at `now`, with `fingerprint` if a peer announced
    /// one (a `None` keeps the fingerprint heard before). At the cap, the
    /// group heard from least recently makes room.
    pub fn note(&mut self, group: &GroupName, fingerprint: Option<u64>, now: Millis) {
        if let Some(h) = self.known.get_mut(group) {
            h.at = h.at.max(now);
            if fingerprint.is_some() {
                h.fingerprint = fingerprint;
            }
            return;
        }
        if self.known.len() >= self.cap
            && let Some(stale) = self
                .known
                .iter()
                .min_by_key(|(_, h)| h.at)
                .map(|(g, _)| g.clone())
        {
            self.known.remove(&stale);
        }
        self.known.insert(
            group.clone(),
            Heard {
                fingerprint,
                at: now,
            },
        );
    }

    /// Forgets `group` (the node joined it); returns whether it was known.
    pub fn forget(&mut self, group: &GroupName) -> bool {
        self.known.remove(group).is_some()
    }

    /// What is kept of `group`, if it is known and not joined.
    #[must_use]
    pub fn get(&self, group: &GroupName) -> Option<Heard> {
        self.known.get(group).copied()
    }

    /// The names known, sorted.
    pub fn names(&self) -> impl Iterator<Item = &GroupName> + '_ {
        self.known.keys()
    }

    /// Number of groups known but not joined.
    #[must_use]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no such group is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> GroupName {
        GroupName::new(name).unwrap()
    }

    #[test]
    fn a_name_keeps_its_last_announced_fingerprint() {
        let mut i = Interest::default();
        i.note(&g("a"), Some(7), Millis(1));
        i.note(&g("a"), None, Millis(5));
        assert_eq!(
            i.get(&g("a")),
            Some(Heard {
                fingerprint: Some(7),
                at: Millis(5)
            })
        );
        i.note(&g("a"), Some(9), Millis(6));
        assert_eq!(i.get(&g("a")).and_then(|h| h.fingerprint), Some(9));
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn the_least_recently_heard_makes_room_at_the_cap() {
        let mut i = Interest::new(3);
        for (k, name) in ["a", "b", "c"].iter().enumerate() {
            i.note(&g(name), Some(k as u64), Millis(k as u64));
        }
        // "a" is heard again: "b" is now the stalest.
        i.note(&g("a"), None, Millis(10));
        i.note(&g("d"), Some(4), Millis(11));
        let names: Vec<&str> = i.names().map(GroupName::as_str).collect();
        assert_eq!(names, ["a", "c", "d"]);
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn the_default_cap_is_the_models_group_cap() {
        assert_eq!(MAX_KNOWN_GROUPS, crate::model::Caps::default().groups);
        let mut i = Interest::default();
        for k in 0..(MAX_KNOWN_GROUPS as u64 + 50) {
            i.note(&g(&format!("g{k}")), Some(k), Millis(k));
        }
        assert_eq!(i.len(), MAX_KNOWN_GROUPS);
        assert!(i.get(&g("g0")).is_none(), "the oldest went");
    }

    #[test]
    fn joining_forgets_the_name() {
        let mut i = Interest::default();
        i.note(&g("a"), None, Millis(0));
        assert!(i.forget(&g("a")));
        assert!(!i.forget(&g("a")));
        assert!(i.is_empty());
    }
}
