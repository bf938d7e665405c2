//! Group membership: join, leave and linger, and members' destinations.

use super::*;

impl Chatter {
    /// This node became a member of `group`: it starts with its own items
    /// only and pulls the group at once from a holder it knows (otherwise
    /// from the first member that welcomes it or announces the group).
    pub(super) fn joined(&mut self, now: Millis, group: &GroupName) {
        self.membership.member_of.insert(group.clone());
        if self.membership.leaving.remove(group).is_some() {
            // Back before the leave was done: still holding everything.
            return;
        }
        self.membership.interest.forget(group);
        let holders = self.group_holders(group);
        if let Some(target) = pick(&mut self.rng, &holders)
            && !self.pulls.busy(group, now)
        {
            self.pull_from(now, group, target);
        }
    }

    /// This node stopped being a member of `group` (its leave is on its
    /// way): it drops the others' items and keeps only the name.
    pub(super) fn left(&mut self, now: Millis, group: &GroupName) {
        self.membership.member_of.remove(group);
        self.membership.leaving.insert(group.clone(), now);
    }

    /// A group left lingers (held, announced, served) until a peer that
    /// announces it lately announces our fingerprint and none announces
    /// another (they cover our leave; our own announces make the others
    /// pull it from us if they lack it), at least [`LINGER_MIN`]. Past
    /// [`LINGER_MAX`] it is dropped anyway, unless a member of the group is
    /// down (not yet expired) in our view: cut off from every member, no
    /// announce is heard at all, and the leave must still be there to be
    /// pulled when the cut heals. Then the node drops the others' items and
    /// keeps only the name: a leave lost on its way to every member would
    /// otherwise never be repaired, since nobody pulls a group from a
    /// non-member.
    pub(super) fn finish_leaving(&mut self, now: Millis) {
        if self.membership.leaving.is_empty() {
            return;
        }
        let done: Vec<GroupName> = self
            .membership
            .leaving
            .iter()
            .filter(|(g, since)| self.linger_over(now, g, **since))
            .map(|(g, _)| g.clone())
            .collect();
        for g in done {
            self.membership.leaving.remove(&g);
            self.db.forget_others(g.as_str());
            self.pulls.abandon(&g);
            self.membership.interest.note(&g, None, now);
        }
    }

    /// Whether the linger of `group`, left at `since`, is over (see
    /// [`Chatter::finish_leaving`]).
    pub(super) fn linger_over(&self, now: Millis, group: &GroupName, since: Millis) -> bool {
        let age = now.since(since);
        let recent = self.hears_ttl();
        let ours = self.fingerprint(group);
        let (mut agree, mut differ) = (false, false);
        for h in self.peers.iter().filter_map(|p| p.groups.get(group)) {
            if now.since(h.at) <= recent {
                agree |= Some(h.fingerprint) == ours;
                differ |= Some(h.fingerprint) != ours;
            }
        }
        let me = self.me.id;
        let cut_off = || {
            self.db
                .members(group.as_str())
                .into_iter()
                .any(|m| m != me && self.swim.detector.state(m) == Liveness::Down)
        };
        (age >= LINGER_MIN && agree && !differ) || (age >= LINGER_MAX && !cut_off())
    }

    /// The tree's destinations for a write to `group` we are a member of:
    /// its members only. One per far island: a member representative covers
    /// its island (it multicasts there); a member of an island whose
    /// representative is not a member, or whose island we do not know, gets
    /// its own step. Plus one random member that hears our multicast.
    pub(super) fn member_destinations(&mut self, now: Millis, group: &GroupName) -> Vec<PeerRef> {
        let ttl = self.hears_ttl();
        let members: BTreeSet<NodeId> = self.db.members(group.as_str()).into_iter().collect();
        let Sorted {
            hear_us,
            reps,
            mut far,
            other_reps,
        } = self.sort_for(now, group, &members);
        shuffle(&mut self.rng, &mut far);
        let peers = &self.peers;
        // `c` hears `head`'s multicast, as far as we know: it said so, or
        // it named `head` its island's representative, or `head` hears it.
        let covered = |c: NodeId, head: NodeId| {
            peers
                .get(c)
                .is_some_and(|p| p.rep_of == Some(head) || p.hears(head, now, ttl))
                || peers.get(head).is_some_and(|h| h.hears(c, now, ttl))
        };
        // Every far island's representative is a member (a group most
        // nodes joined): they cover every island, as in the full tree.
        let all_islands = !reps.is_empty() && other_reps.is_empty();
        // A member whose address we do not know (we hold its items but never
        // heard from it) is reached through every far island's
        // representative, which multicasts on its LAN: the full tree.
        let me = self.me.id;
        let unreachable = members
            .iter()
            .any(|m| *m != me && self.peers.get(*m).is_none_or(|p| p.addr.is_none()));
        let mut dests = reps;
        if unreachable {
            dests.extend(other_reps);
        }
        for c in far.into_iter().filter(|_| !all_islands) {
            if !dests.iter().any(|h| covered(c.id, h.id)) {
                dests.push(c);
            }
        }
        if let Some(extra) = pick(&mut self.rng, &hear_us) {
            dests.push(extra);
        }
        shuffle(&mut self.rng, &mut dests);
        dests
    }

    /// The live peers with an address, sorted for a write to `group`'s
    /// members (the members' set given).
    fn sort_for(&self, now: Millis, group: &GroupName, members: &BTreeSet<NodeId>) -> Sorted {
        let ttl = self.hears_ttl();
        let rep_ttl = self.rep_ttl();
        let multicast = self.cfg.multicast;
        let mut hear_us = Vec::new();
        let mut reps = Vec::new();
        let mut far = Vec::new();
        let mut other_reps = Vec::new();
        for p in self.peers.iter() {
            if !(members.contains(&p.id) || p.holds(group)) {
                if multicast
                    && p.is_rep(now, rep_ttl)
                    && !self.is_local(p, now, ttl)
                    && self.swim.detector.state(p.id) != Liveness::Down
                {
                    if let Some(r) = p.peer_ref() {
                        other_reps.push(r);
                    }
                }
                continue;
            }
            let Some(r) = p.peer_ref() else { continue };
            if self.swim.detector.state(p.id) == Liveness::Down {
                continue;
            }
            if multicast && p.hears_us(now, ttl) {
                hear_us.push(r);
            } else if self.is_local(p, now, ttl) {
                continue;
            } else if multicast && p.is_rep(now, rep_ttl) {
                reps.push(r);
            } else {
                far.push(r);
            }
        }
        Sorted {
            hear_us,
            reps,
            far,
            other_reps,
        }
    }
}

/// A group left is held on at least this long (ms) ...
pub(super) const LINGER_MIN: u64 = 20_000;

/// ... and at most this long (ms), whatever the others announce.
pub(super) const LINGER_MAX: u64 = 600_000;

/// Peers sorted for a write to a group's members.
struct Sorted {
    /// Members that hear our multicast.
    hear_us: Vec<PeerRef>,
    /// Members that represent a far island.
    reps: Vec<PeerRef>,
    /// Other far members.
    far: Vec<PeerRef>,
    /// Far islands' representatives that are not members.
    other_reps: Vec<PeerRef>,
}

/// The groups this node is a member of, and those it is leaving.
pub(super) struct Membership {
    /// The groups known but not joined: names and last-heard fingerprints.
    pub(super) interest: crate::protocol::interest::Interest,
    /// The groups this node is a member of, as of its last own write (to
    /// see a write join or leave).
    pub(super) member_of: BTreeSet<GroupName>,
    /// Groups left, held on since when: until the others announce our
    /// fingerprint (they have the leave), at least [`membership::LINGER_MIN`], at most
    /// [`membership::LINGER_MAX`].
    pub(super) leaving: BTreeMap<GroupName, Millis>,
}
