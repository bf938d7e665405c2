//! Where hook events come from: the protocol's events, read as a hook
//! wants them. Peer liveness and expiry map one to one; `group-joined` and
//! `group-left` are this board's own membership changing; `owners-changed`
//! compares a group's owners (model::owners, ordered as `lookup` orders
//! them, down servers last) with what was last reported, once a window has
//! passed since the group's first unreported change, so a boot or an
//! auto-mode rebalance is one run per group, not hundreds.
//!
//! The first owners of each group are taken when the node starts (no event
//! for them): a service reads the current owners once at its own start
//! (`scalesmall topology`), then follows the events.

use std::collections::BTreeMap;

use super::{HookEvent, HookEventKind, OwnerView, RangeOwners};
use crate::model::{GroupName, KeyRange, NodeId, owners};
use crate::protocol::{Chatter, Event, Millis};
use crate::wire::Liveness;

/// A range's owners as compared: (member, priority, port, down), in order.
type OwnerKey = Vec<(NodeId, u16, u16, bool)>;

/// A group's key space as compared: ranges tiling it, each with its owners.
type Owned = Vec<(KeyRange, OwnerKey)>;

/// Turns protocol events into hook events.
pub struct HookSource {
    /// How long a group's changes gather before `owners-changed` (ms).
    window: u64,
    /// The groups this board was a member of at the last look.
    member_of: BTreeMap<GroupName, bool>,
    /// Each group's owners as last reported (or at start).
    reported: BTreeMap<GroupName, Owned>,
    /// Groups with unreported changes, and when to report them.
    pending: BTreeMap<GroupName, Millis>,
    /// The wall clock (RFC 3339), replaceable in tests.
    wall: fn() -> String,
}

impl HookSource {
    /// Starts from `c`'s current state; `window_ms` coalesces
    /// `owners-changed`.
    #[must_use]
    pub fn new(c: &Chatter, window_ms: u64) -> Self {
        let mut s = HookSource {
            window: window_ms,
            member_of: BTreeMap::new(),
            reported: BTreeMap::new(),
            pending: BTreeMap::new(),
            wall: crate::node::clock::wall_rfc3339,
        };
        for g in c.db().groups() {
            s.member_of.insert(g.clone(), c.holds(g));
            s.reported.insert(g.clone(), owned(c, g));
        }
        s
    }

    /// The hook events `e` gives at once (`owners-changed` comes later,
    /// from [`HookSource::poll`]).
    pub fn on_event(&mut self, c: &Chatter, e: &Event, now: Millis) -> Vec<HookEvent> {
        let peer = |kind, id: NodeId, restarted| HookEvent {
            node: Some(id.to_string()),
            restarted,
            ..self.event(kind, None, now)
        };
        match e {
            Event::Liveness {
                id,
                state,
                restarted,
            } => {
                let kind = match state {
                    Liveness::Alive => HookEventKind::PeerAlive,
                    Liveness::Suspect => HookEventKind::PeerSuspect,
                    Liveness::Down => HookEventKind::PeerDown,
                };
                let out = vec![peer(kind, *id, *restarted)];
                // Down servers move last in lookup order.
                self.touch_groups_of(c, *id, now);
                out
            }
            Event::Expired { id, .. } => {
                let out = vec![peer(HookEventKind::PeerExpired, *id, false)];
                self.touch_groups_of(c, *id, now);
                out
            }
            Event::Changed { group, .. } => {
                self.touch(group, now);
                let now_member = c.holds(group);
                let was = self.member_of.insert(group.clone(), now_member);
                match (was.unwrap_or(false), now_member) {
                    (false, true) => vec![self.event(HookEventKind::GroupJoined, Some(group), now)],
                    (true, false) => vec![self.event(HookEventKind::GroupLeft, Some(group), now)],
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// The `owners-changed` events due at `now`.
    pub fn poll(&mut self, c: &Chatter, now: Millis) -> Vec<HookEvent> {
        let due: Vec<GroupName> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(g, _)| g.clone())
            .collect();
        let mut out = Vec::new();
        for g in due {
            self.pending.remove(&g);
            let new = owned(c, &g);
            let old = self.reported.insert(g.clone(), new.clone());
            let ranges = changed(old.as_deref().unwrap_or(&[]), &new, c);
            if !ranges.is_empty() {
                let mut e = self.event(HookEventKind::OwnersChanged, Some(&g), now);
                e.ranges = ranges;
                out.push(e);
            }
        }
        out
    }

    /// When [`HookSource::poll`] next has something.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Millis> {
        self.pending.values().min().copied()
    }

    fn touch(&mut self, group: &GroupName, now: Millis) {
        self.pending
            .entry(group.clone())
            .or_insert(Millis(now.0.saturating_add(self.window)));
    }

    fn touch_groups_of(&mut self, c: &Chatter, id: NodeId, now: Millis) {
        let groups: Vec<GroupName> = c
            .db()
            .groups()
            .filter(|g| c.db().members(g.as_str()).contains(&id))
            .cloned()
            .collect();
        for g in &groups {
            self.touch(g, now);
        }
    }

    fn event(&self, kind: HookEventKind, group: Option<&GroupName>, now: Millis) -> HookEvent {
        HookEvent {
            event: kind,
            group: group.map(ToString::to_string),
            node: None,
            time: (self.wall)(),
            uptime_ms: now.0,
            restarted: false,
            ranges: Vec::new(),
        }
    }
}

/// `group`'s owners now, down servers last (as `lookup` orders them).
fn owned(c: &Chatter, group: &GroupName) -> Owned {
    owners(c.db(), group.as_str())
        .into_iter()
        .map(|p| {
            let mut key: OwnerKey = p
                .owners
                .iter()
                .map(|o| (o.member, o.priority, o.port, is_down(c, o.member)))
                .collect();
            key.sort_by_key(|o| o.3);
            (p.range, key)
        })
        .collect()
}

fn is_down(c: &Chatter, id: NodeId) -> bool {
    id != c.identity().id && c.liveness(id) == Liveness::Down
}

/// The parts of the key space whose owners differ between `old` and `new`
/// (both tile it; an empty `old` owns nothing), with their new owners;
/// neighbouring parts with the same new owners merged.
fn changed(
    old: &[(KeyRange, OwnerKey)],
    new: &[(KeyRange, OwnerKey)],
    c: &Chatter,
) -> Vec<RangeOwners> {
    let state = |m: NodeId| {
        if m == c.identity().id {
            "alive"
        } else {
            c.liveness(m).name()
        }
    };
    diff(old, new)
        .into_iter()
        .map(|(start, end, key)| RangeOwners {
            range: format!("{start:#x}..{end:#x}"),
            start,
            end,
            owners: key
                .iter()
                .map(|&(member, priority, port, _)| OwnerView {
                    node: member.to_string(),
                    priority,
                    port,
                    state: state(member).to_owned(),
                })
                .collect(),
        })
        .collect()
}

/// [`changed`]'s ranges: (first key, last key, new owners).
fn diff<'a>(
    old: &[(KeyRange, OwnerKey)],
    new: &'a [(KeyRange, OwnerKey)],
) -> Vec<(u32, u32, &'a OwnerKey)> {
    let mut out: Vec<(u32, u32, &OwnerKey)> = Vec::new();
    let empty = OwnerKey::new();
    let mut i = 0;
    for (nr, nk) in new {
        let mut at = nr.start();
        loop {
            while i < old.len() && old[i].0.end() < at {
                i += 1;
            }
            let (ok, oend) = old.get(i).map_or((&empty, u32::MAX), |(r, k)| (k, r.end()));
            let end = oend.min(nr.end());
            if ok != nk {
                match out.last_mut() {
                    Some(last) if last.2 == nk && last.1.checked_add(1) == Some(at) => last.1 = end,
                    _ => out.push((at, end, nk)),
                }
            }
            if end == nr.end() {
                break;
            }
            at = end + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(members: &[u64]) -> OwnerKey {
        members
            .iter()
            .map(|&m| (NodeId::from_u64(m), 1, 80, false))
            .collect()
    }

    fn tiles(parts: &[(u32, u32, &[u64])]) -> Owned {
        parts
            .iter()
            .map(|&(s, e, m)| (KeyRange::new(s, e).unwrap_or(KeyRange::FULL), key(m)))
            .collect()
    }

    #[test]
    fn only_the_parts_whose_owners_differ_are_reported_merged() {
        let old = tiles(&[(0, 99, &[1]), (100, 199, &[1, 2]), (200, u32::MAX, &[])]);
        let new = tiles(&[(0, 49, &[1]), (50, 149, &[2]), (150, u32::MAX, &[])]);
        let d: Vec<(u32, u32, Vec<u64>)> = diff(&old, &new)
            .into_iter()
            .map(|(s, e, k)| (s, e, k.iter().map(|o| o.0.as_u64()).collect()))
            .collect();
        assert_eq!(d, vec![(50, 149, vec![2]), (150, 199, vec![])]);
    }

    #[test]
    fn nothing_known_before_reports_every_owned_part_and_no_change_reports_none() {
        let new = tiles(&[(0, 9, &[3]), (10, u32::MAX, &[])]);
        assert_eq!(diff(&[], &new).len(), 1);
        assert!(diff(&new, &new).is_empty());
        // A server going down reorders (down last): a change.
        let mut down = new.clone();
        let mut two = tiles(&[(0, 9, &[3, 4]), (10, u32::MAX, &[])]);
        two[0].1[0].3 = true;
        two[0].1.sort_by_key(|o| o.3);
        down[0].1 = key(&[3, 4]);
        assert_eq!(diff(&down, &two).len(), 1);
    }
}
