//! `AutoMode`: runs [`super::auto_claim`] inside Chatter, for each group
//! where this node has a live auto marker.
//!
//! The algorithm ([`super::auto_claim`]) is a pure function of a view; this
//! is when to call it and with what: the group's auto members and weights
//! (the live [`Kind::Auto`](crate::model::Kind::Auto) items of the model, so
//! every node reads the same input from the CRDT), the serve items those
//! members hold, and this node's liveness view of them. Decisions are
//!
//! - **event-driven**: a group is re-decided after news in it or a liveness
//!   change, at most once per `period` (a burst of news costs one decision);
//! - **timed**: also when a down member's hold-down runs out (the moment it
//!   stops counting as present);
//! - **settled**: never in the first `settle` ms after start, when this
//!   node has not yet heard the others and would claim everything;
//! - **debounced on membership changes**: a change of the group's auto
//!   members or weights is taken in once it has been quiet for
//!   `membership_quiet` ms (at the latest after three times that, under
//!   constant change), so a boot or a rolling restart costs one
//!   recomputation of the assignment, not one per marker heard; and
//!   releases wait until the membership has been quiet that long, since
//!   nodes that have not heard a change yet still rank slices the old way
//!   (the window `docs/ALGORITHM.md` 10.5 leaves open).
//!
//! The [`Assignment`] is cached per group and recomputed only when the
//! members or weights change, not on liveness changes (those only change
//! the targets, read per slice). Pure and sans-IO like the rest of the
//! protocol: `now` is passed in.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{GroupName, KeyRange, Kind, NodeId, TopologyDb, TopologyFilter};
use crate::wire::Liveness;

use super::auto_claim::{Assignment, Member, Observed, Plan, Policy, Situation, group_salt, mix64};
use super::time::Millis;

/// Auto-claim settings of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoConfig {
    /// The groups' policies; a group not listed uses [`Policy::default`].
    /// Every board must list the same (announces carry a fingerprint).
    pub policies: Vec<(GroupName, Policy)>,
    /// A member down for less than this (ms) still counts as present: a
    /// reboot moves nothing.
    pub hold_down: u64,
    /// No decision in the first `settle` ms after start (ms).
    pub settle: u64,
    /// Shortest time between two decisions of one group (ms).
    pub period: u64,
    /// Longest a leave of an auto group waits for the others to hold the
    /// node's ranges before it retracts them anyway (ms).
    pub drain_timeout: u64,
    /// No releases for this long (ms) after the group's auto members or
    /// weights changed in this node's view: others may still rank slices
    /// with the old membership until the change has reached them.
    pub membership_quiet: u64,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            policies: Vec::new(),
            hold_down: super::auto_claim::DEFAULT_HOLD_DOWN_MS,
            settle: 5_000,
            period: 500,
            membership_quiet: 5_000,
            drain_timeout: 60_000,
        }
    }
}

impl AutoConfig {
    /// The policy of `group`.
    #[must_use]
    pub fn policy(&self, group: &GroupName) -> Policy {
        self.policies
            .iter()
            .find(|(g, _)| g == group)
            .map_or_else(Policy::default, |(_, p)| *p)
    }

    /// Hash of the policies that differ from the default, in group order
    /// (0 when none): two boards configured alike announce the same value.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        let mut set: Vec<(&GroupName, Policy)> = self
            .policies
            .iter()
            .filter(|(_, p)| *p != Policy::default())
            .map(|(g, p)| (g, *p))
            .collect();
        set.sort_by(|a, b| a.0.cmp(b.0));
        set.dedup_by(|a, b| a.0 == b.0);
        set.iter().fold(0, |acc, (g, p)| {
            mix64(acc ^ group_salt(g.as_str())).wrapping_add(p.fingerprint()) | 1
        })
    }
}

/// Per-group state.
#[derive(Clone, Debug, Default)]
struct Group {
    /// Something changed since the last decision.
    dirty: bool,
    /// Not before this.
    next: Millis,
    /// The assignment and the members it was computed for.
    cache: Option<(Vec<Member>, Assignment)>,
    /// When the next hold-down runs out, if a member is down.
    hold_until: Option<Millis>,
    /// The members last seen, and since when they are unchanged.
    seen: Vec<Member>,
    seen_since: Millis,
    /// Since when a membership change waits to be taken in.
    pending_since: Option<Millis>,
    /// Leaving: the marker is retracted, the ranges are handed over.
    drain: Option<Drain>,
}

impl Group {
    /// Notes the auto members seen now; when their membership has been
    /// quiet for `quiet` ms.
    fn note_members(&mut self, now: Millis, members: &[Member], quiet: u64) -> Millis {
        if members != self.seen {
            self.seen = members.to_vec();
            self.seen_since = now;
        }
        self.seen_since.plus(quiet)
    }

    /// Recomputes the cached assignment when the membership changed, once
    /// it has been quiet (a boot or a rolling restart is one
    /// recomputation, not one per marker) or at the latest after 3 quiet
    /// times. False while that wait lasts (the decision is deferred).
    fn refresh_assignment(
        &mut self,
        now: Millis,
        members: &[Member],
        (quiet, quiet_end): (u64, Millis),
        policy: Policy,
        group: &GroupName,
    ) -> bool {
        if self.cache.as_ref().is_none_or(|(m, _)| m != members) {
            if self.cache.is_some() {
                let since = *self.pending_since.get_or_insert(now);
                let forced = since.plus(quiet.saturating_mul(3));
                if now < quiet_end && now < forced {
                    self.dirty = true;
                    self.next = quiet_end.min(forced);
                    return false;
                }
            }
            let a = Assignment::compute(policy, group_salt(group.as_str()), members);
            self.cache = Some((members.to_vec(), a));
            self.pending_since = None;
        }
        true
    }
}

/// A graceful leave in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Drain {
    /// The service port of the ranges still held.
    port: u16,
    /// Leave anyway at this time.
    until: Millis,
}

/// The auto-claim driver (see the module docs).
#[derive(Clone, Debug)]
pub struct AutoMode {
    cfg: AutoConfig,
    started: Millis,
    groups: BTreeMap<GroupName, Group>,
    /// Priority of the ranges claimed per group (client ordering).
    priority: BTreeMap<GroupName, u16>,
}

impl AutoMode {
    /// The driver of a node started at `started` with the groups where its
    /// restored state has a live auto marker.
    #[must_use]
    pub fn new(cfg: AutoConfig, started: Millis, db: &TopologyDb) -> Self {
        let mut me = Self {
            cfg,
            started,
            groups: BTreeMap::new(),
            priority: BTreeMap::new(),
        };
        let own = db.own_id();
        let mine: BTreeSet<GroupName> = db
            .groups()
            .filter(|g| db.auto_members(g.as_str()).iter().any(|m| m.0 == own))
            .cloned()
            .collect();
        for g in mine {
            me.enable(g, None);
        }
        me
    }

    /// Auto mode is on for `group`; `priority` for its claims (None keeps
    /// the one given before, else the highest of the node's current claims).
    pub fn enable(&mut self, group: GroupName, priority: Option<u16>) {
        if let Some(p) = priority {
            self.priority.insert(group.clone(), p);
        }
        let g = self.groups.entry(group).or_default();
        g.dirty = true;
        g.drain = None;
    }

    /// A graceful leave of `group` starts at `now` (its marker is being
    /// retracted): the node keeps deciding as a non-member, which releases
    /// each of its slices once the others hold it (make-before-break), and
    /// leaves when it holds nothing or at the drain timeout
    /// ([`AutoMode::drained`]).
    pub fn drain(&mut self, group: GroupName, port: u16, now: Millis) {
        let until = now.plus(self.cfg.drain_timeout);
        let g = self.groups.entry(group).or_default();
        g.dirty = true;
        g.drain = Some(Drain { port, until });
    }

    /// Whether `group` is being left gracefully.
    #[must_use]
    pub fn is_draining(&self, group: &GroupName) -> bool {
        self.groups.get(group).is_some_and(|g| g.drain.is_some())
    }

    /// Whether the graceful leave of `group` is over at `now`: the node
    /// holds no range of it any more, no auto member is left to hand over
    /// to (they all left), or the drain timeout passed.
    #[must_use]
    pub fn drained(&self, group: &GroupName, now: Millis, db: &TopologyDb) -> bool {
        let Some(d) = self.groups.get(group).and_then(|g| g.drain) else {
            return false;
        };
        let serve = TopologyFilter {
            member: Some(db.own_id()),
            kind: Some(Kind::Serve),
            live_only: true,
        };
        now >= d.until
            || db.auto_members(group.as_str()).is_empty()
            || db.topology(group.as_str(), serve).next().is_none()
    }

    /// Auto mode is off for `group`.
    pub fn disable(&mut self, group: &GroupName) {
        self.groups.remove(group);
        self.priority.remove(group);
    }

    /// Whether auto mode is on for `group`.
    #[must_use]
    pub fn is_on(&self, group: &GroupName) -> bool {
        self.groups.contains_key(group)
    }

    /// News in `group`.
    pub fn touch(&mut self, group: &GroupName) {
        if let Some(g) = self.groups.get_mut(group) {
            g.dirty = true;
        }
    }

    /// A liveness change: every auto group is re-decided.
    pub fn touch_all(&mut self) {
        for g in self.groups.values_mut() {
            g.dirty = true;
        }
    }

    /// When a decision is next due (`None`: nothing to do until news).
    #[must_use]
    pub fn next_deadline(&self) -> Option<Millis> {
        let settled = self.started.plus(self.cfg.settle);
        self.groups
            .values()
            .filter_map(|g| {
                let due = g.dirty.then_some(g.next.max(settled));
                let timed = match (g.hold_until, g.drain) {
                    (Some(h), Some(d)) => Some(h.min(d.until)),
                    (h, d) => h.or(d.map(|d| d.until)),
                };
                match (due, timed) {
                    (Some(a), Some(b)) => Some(a.min(b.max(settled))),
                    (a, b) => a.or(b.map(|b| b.max(settled))),
                }
            })
            .min()
    }

    /// The groups whose decision is due at `now`.
    #[must_use]
    pub fn due(&self, now: Millis) -> Vec<GroupName> {
        if now < self.started.plus(self.cfg.settle) {
            return Vec::new();
        }
        self.groups
            .iter()
            .filter(|(_, g)| {
                (g.dirty && now >= g.next)
                    || g.hold_until.is_some_and(|t| now >= t)
                    || g.drain.is_some_and(|d| now >= d.until)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Decides `group` at `now` from `db` and the liveness view `state`
    /// (state and since when of a peer, if ever heard of). Returns the
    /// plan and the priority and port its claims are written with; the
    /// caller writes it ([`TopologyDb::rewrite_claims`]).
    pub fn decide(
        &mut self,
        now: Millis,
        group: &GroupName,
        db: &TopologyDb,
        state: impl Fn(NodeId) -> Option<(Liveness, Millis)>,
    ) -> Option<(Plan, u16, u16)> {
        let me = db.own_id();
        let policy = self.cfg.policy(group);
        let hold_down = self.cfg.hold_down;
        let markers = db.auto_members(group.as_str());
        let g = self.groups.get_mut(group)?;
        g.dirty = false;
        g.next = now.plus(self.cfg.period);
        // A hold-down that ran out is handled by this decision (or the
        // deferred one): it must not stay due, or the timer would spin.
        g.hold_until = g.hold_until.filter(|&t| t > now);
        let port = match g.drain {
            Some(d) => d.port,
            None => markers.iter().find(|m| m.0 == me).map(|m| m.2)?,
        };
        let members = members_of(&markers);
        let quiet = self.cfg.membership_quiet;
        let quiet_end = g.note_members(now, &members, quiet);
        if !g.refresh_assignment(now, &members, (quiet, quiet_end), policy, group) {
            return None;
        }
        let releases = now >= quiet_end;
        let (_, assignment) = g.cache.as_ref()?;
        let (liveness, hold_until) = observe(&members, me, now, hold_down, state);
        g.hold_until = hold_until;
        let (holders, own, own_priority) = serving(db, group, me, &members);
        let plan = Situation {
            me,
            assignment,
            now,
            hold_down,
            liveness: &liveness,
            holders: &holders,
            own: &own,
        }
        .decide_with(releases);
        if !releases && !plan.waiting.is_empty() {
            // Decide again once the membership has been quiet.
            g.hold_until = Some(g.hold_until.map_or(quiet_end, |h| h.min(quiet_end)));
        }
        let priority = self
            .priority
            .get(group)
            .copied()
            .or(own_priority)
            .unwrap_or(0);
        Some((plan, priority, port))
    }

    /// What own writes change here: the groups in auto mode, their
    /// graceful leaves and their claims' priorities (kept with a write until
    /// it is durable: a refused write puts them back).
    #[must_use]
    pub fn settings(&self) -> AutoSettings {
        AutoSettings {
            groups: self
                .groups
                .iter()
                .map(|(name, g)| (name.clone(), g.drain))
                .collect(),
            priority: self.priority.clone(),
        }
    }

    /// Puts back the settings of before a refused write. Every group still
    /// in auto mode is decided again, not before `retry` (nor does a
    /// graceful leave that ran out meanwhile leave before it): a write the
    /// disk refused is retried by the decisions, not at every timer.
    pub fn restore(&mut self, s: AutoSettings, retry: Millis) {
        self.groups
            .retain(|name, _| s.groups.iter().any(|(n, _)| n == name));
        for (name, drain) in s.groups {
            let g = self.groups.entry(name).or_default();
            g.drain = drain.map(|d| Drain {
                until: d.until.max(retry),
                ..d
            });
            g.dirty = true;
            g.next = g.next.max(retry);
        }
        self.priority = s.priority;
    }
}

/// [`AutoMode::settings`]: a snapshot to put back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoSettings {
    groups: Vec<(GroupName, Option<Drain>)>,
    priority: BTreeMap<GroupName, u16>,
}

/// The auto members of a group from its markers `(id, weight, port)`.
fn members_of(markers: &[(NodeId, u16, u16)]) -> Vec<Member> {
    markers
        .iter()
        .map(|&(id, weight, _)| Member {
            id,
            weight: u32::from(weight),
        })
        .collect()
}

/// What `state` says of every other member: liveness and since when, and
/// the earliest end of a hold-down for a member seen down.
fn observe(
    members: &[Member],
    me: NodeId,
    now: Millis,
    hold_down: u64,
    state: impl Fn(NodeId) -> Option<(Liveness, Millis)>,
) -> (BTreeMap<NodeId, Observed>, Option<Millis>) {
    let mut liveness = BTreeMap::new();
    let mut hold_until: Option<Millis> = None;
    for m in members {
        if m.id == me {
            continue;
        }
        if let Some((st, since)) = state(m.id) {
            liveness.insert(m.id, Observed { state: st, since });
            let ends = since.plus(hold_down);
            if st == Liveness::Down && ends > now {
                hold_until = Some(hold_until.map_or(ends, |t| t.min(ends)));
            }
        }
    }
    (liveness, hold_until)
}

/// The live serve ranges of `group`: the other auto members' (with their
/// ids), our own, and our own claims' highest priority.
fn serving(
    db: &TopologyDb,
    group: &GroupName,
    me: NodeId,
    members: &[Member],
) -> (Vec<(NodeId, KeyRange)>, Vec<KeyRange>, Option<u16>) {
    let auto: BTreeSet<NodeId> = members.iter().map(|m| m.id).collect();
    let serve = TopologyFilter {
        member: None,
        kind: Some(Kind::Serve),
        live_only: true,
    };
    let mut holders: Vec<(NodeId, KeyRange)> = Vec::new();
    let mut own: Vec<KeyRange> = Vec::new();
    let mut own_priority: Option<u16> = None;
    for i in db.topology(group.as_str(), serve) {
        if i.member() == me {
            own.push(i.range());
            own_priority = Some(own_priority.map_or(i.priority(), |p| p.max(i.priority())));
        } else if auto.contains(&i.member()) {
            holders.push((i.member(), i.range()));
        }
    }
    (holders, own, own_priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> GroupName {
        GroupName::new(name).unwrap()
    }

    #[test]
    fn the_fingerprint_ignores_defaults_and_order() {
        let d = AutoConfig::default();
        assert_eq!(d.fingerprint(), 0);
        let p3 = Policy::new(3, 256).unwrap();
        let a = AutoConfig {
            policies: vec![(g("a"), p3), (g("b"), Policy::default())],
            ..AutoConfig::default()
        };
        assert_eq!(a.fingerprint(), {
            let only = AutoConfig {
                policies: vec![(g("a"), p3)],
                ..AutoConfig::default()
            };
            only.fingerprint()
        });
        assert_ne!(a.fingerprint(), 0);
        let b = AutoConfig {
            policies: vec![(g("b"), p3)],
            ..AutoConfig::default()
        };
        assert_ne!(a.fingerprint(), b.fingerprint());
        let two = |x: &str, y: &str| AutoConfig {
            policies: vec![(g(x), p3), (g(y), Policy::new(1, 64).unwrap())],
            ..AutoConfig::default()
        };
        assert_eq!(two("a", "b").fingerprint(), {
            let mut c = two("a", "b");
            c.policies.reverse();
            c.fingerprint()
        });
        assert_ne!(two("a", "b").fingerprint(), two("b", "a").fingerprint());
    }

    #[test]
    fn nothing_is_decided_before_settling_and_news_is_batched() {
        let me = NodeId::from_u64(1);
        let mut db = TopologyDb::new(me);
        db.set_auto("a", 1, 80).unwrap();
        let cfg = AutoConfig {
            settle: 1_000,
            period: 500,
            ..AutoConfig::default()
        };
        let mut auto = AutoMode::new(cfg, Millis(0), &db);
        assert!(auto.is_on(&g("a")), "restored from the marker");
        assert_eq!(auto.next_deadline(), Some(Millis(1_000)));
        assert!(auto.due(Millis(999)).is_empty());
        assert_eq!(auto.due(Millis(1_000)), vec![g("a")]);
        let (plan, priority, port) = auto.decide(Millis(1_000), &g("a"), &db, |_| None).unwrap();
        assert_eq!(plan.claim, vec![KeyRange::FULL], "alone: every slice");
        assert_eq!((priority, port), (0, 80));
        assert_eq!(auto.next_deadline(), None, "nothing new");
        auto.touch(&g("a"));
        auto.touch(&g("a"));
        assert_eq!(auto.next_deadline(), Some(Millis(1_500)));
        assert!(auto.due(Millis(1_499)).is_empty());
        auto.disable(&g("a"));
        assert_eq!(auto.next_deadline(), None);
    }

    /// Decides `group` for `db` at `now` with no liveness news and writes
    /// the plan; returns it.
    fn step(auto: &mut AutoMode, db: &mut TopologyDb, now: u64) -> Plan {
        let (plan, priority, port) = auto.decide(Millis(now), &g("a"), db, |_| None).unwrap();
        db.rewrite_claims("a", &plan.claim, &plan.release, priority, port)
            .unwrap();
        plan
    }

    fn share(from: &TopologyDb, to: &mut TopologyDb) {
        if let Some(m) = from.message("a") {
            to.apply(m);
        }
    }

    #[test]
    fn membership_changes_are_debounced_and_releases_wait_for_quiet() {
        let ids = [1, 2, 3].map(NodeId::from_u64);
        let mut dbs = ids.map(TopologyDb::new);
        let cfg = AutoConfig {
            settle: 0,
            membership_quiet: 5_000,
            policies: vec![(g("a"), Policy::new(2, 64).unwrap())],
            ..AutoConfig::default()
        };
        for db in &mut dbs[..2] {
            db.set_auto("a", 1, 80).unwrap();
        }
        let [a, b, c] = &mut dbs;
        share(a, b);
        share(b, a);
        let mut auto_a = AutoMode::new(cfg.clone(), Millis(0), a);
        let mut auto_b = AutoMode::new(cfg.clone(), Millis(0), b);
        assert_eq!(step(&mut auto_a, a, 1_000).claim, vec![KeyRange::FULL]);
        assert_eq!(step(&mut auto_b, b, 1_000).claim, vec![KeyRange::FULL]);
        // c joins and claims its targets.
        c.set_auto("a", 1, 80).unwrap();
        share(a, c);
        share(b, c);
        let mut auto_c = AutoMode::new(cfg, Millis(0), c);
        let claimed = step(&mut auto_c, c, 2_000);
        assert!(!claimed.claim.is_empty());
        share(c, a);
        share(c, b);
        // a sees the new membership: it waits for it to be quiet...
        assert!(auto_a.decide(Millis(2_100), &g("a"), a, |_| None).is_none());
        assert_eq!(auto_a.next_deadline(), Some(Millis(7_100)));
        assert!(auto_a.due(Millis(7_099)).is_empty());
        // ... a further change restarts the wait (debounce) ...
        let d = NodeId::from_u64(4);
        let mut dd = TopologyDb::new(d);
        dd.set_auto("a", 1, 80).unwrap();
        share(&dd, a);
        assert!(auto_a.decide(Millis(7_100), &g("a"), a, |_| None).is_none());
        assert_eq!(auto_a.next_deadline(), Some(Millis(12_100)));
        // ... d leaving is another change (quiet at 17 000) ...
        let mut dd2 = dd.clone();
        dd2.leave("a").unwrap();
        share(&dd2, a);
        assert!(
            auto_a
                .decide(Millis(12_000), &g("a"), a, |_| None)
                .is_none()
        );
        assert_eq!(auto_a.next_deadline(), Some(Millis(17_000)));
        // ... and d coming back at 16 000 would be quiet only at 21 000, but
        // a change is taken in at the latest 3 quiet times after the first
        // (2 100 + 15 000), without releases until the quiet.
        dd2.set_auto("a", 1, 80).unwrap();
        share(&dd2, a);
        assert!(
            auto_a
                .decide(Millis(16_000), &g("a"), a, |_| None)
                .is_none()
        );
        assert_eq!(auto_a.next_deadline(), Some(Millis(17_100)));
        let forced = step(&mut auto_a, a, 17_100);
        assert!(forced.released.is_empty(), "{forced:?}");
        assert!(!forced.waiting.is_empty());
        assert_eq!(auto_a.next_deadline(), Some(Millis(21_000)));
        assert_eq!(auto_a.due(Millis(21_000)), vec![g("a")]);
        let released = step(&mut auto_a, a, 21_000);
        assert!(!released.released.is_empty(), "{released:?}");
    }

    #[test]
    fn a_hold_down_ending_while_a_membership_change_waits_does_not_spin() {
        let ids = [1, 2, 3].map(NodeId::from_u64);
        let mut dbs = ids.map(TopologyDb::new);
        for db in &mut dbs[..2] {
            db.set_auto("a", 1, 80).unwrap();
        }
        let [a, b, c] = &mut dbs;
        share(b, a);
        let cfg = AutoConfig {
            settle: 0,
            hold_down: 1_000,
            membership_quiet: 5_000,
            ..AutoConfig::default()
        };
        let mut auto = AutoMode::new(cfg, Millis(0), a);
        let down = |id: NodeId| (id == ids[1]).then_some((Liveness::Down, Millis(0)));
        let _ = auto.decide(Millis(500), &g("a"), a, down).unwrap();
        assert_eq!(auto.next_deadline(), Some(Millis(1_000)), "hold-down end");
        // A new member arrives; the hold-down ends while it is debounced.
        c.set_auto("a", 1, 80).unwrap();
        share(c, a);
        auto.touch(&g("a"));
        assert_eq!(auto.due(Millis(1_000)), vec![g("a")]);
        assert!(auto.decide(Millis(1_000), &g("a"), a, down).is_none());
        let next = auto.next_deadline().unwrap();
        assert!(next > Millis(1_000), "due again at once: {next:?}");
        assert!(auto.due(Millis(1_000)).is_empty());
    }

    #[test]
    fn a_graceful_leave_ends_when_nothing_is_held_or_nobody_is_left() {
        let (me, other) = (NodeId::from_u64(1), NodeId::from_u64(2));
        let mut db = TopologyDb::new(me);
        db.set_auto("a", 1, 80).unwrap();
        db.rewrite_claims("a", &[KeyRange::FULL], &[], 0, 80)
            .unwrap();
        let mut theirs = TopologyDb::new(other);
        theirs.set_auto("a", 1, 80).unwrap();
        share(&theirs, &mut db);
        let cfg = AutoConfig {
            drain_timeout: 60_000,
            ..AutoConfig::default()
        };
        let mut auto = AutoMode::new(cfg, Millis(0), &db);
        db.unset_auto("a").unwrap();
        auto.drain(g("a"), 80, Millis(1_000));
        assert!(auto.is_draining(&g("a")));
        assert!(!auto.drained(&g("a"), Millis(1_000), &db), "holds FULL");
        assert_eq!(
            auto.next_deadline(),
            Some(Millis(5_000)),
            "settle, then decide"
        );
        assert!(auto.drained(&g("a"), Millis(61_000), &db), "timed out");
        // The other auto member leaves too: nobody to hand over to.
        theirs.leave("a").unwrap();
        share(&theirs, &mut db);
        assert!(auto.drained(&g("a"), Millis(2_000), &db));
        // Or the ranges were handed over.
        db.rewrite_claims("a", &[], &[KeyRange::FULL], 0, 80)
            .unwrap();
        assert!(auto.drained(&g("a"), Millis(2_000), &db));
        auto.enable(g("a"), None);
        assert!(!auto.is_draining(&g("a")), "auto again cancels the leave");
    }

    #[test]
    fn a_down_member_is_decided_again_when_its_hold_down_ends() {
        let me = NodeId::from_u64(1);
        let other = NodeId::from_u64(2);
        let mut db = TopologyDb::new(me);
        db.set_auto("a", 1, 80).unwrap();
        let mut theirs = TopologyDb::new(other);
        theirs.set_auto("a", 1, 80).unwrap();
        if let Some(m) = theirs.message("a") {
            db.apply(m);
        }
        let cfg = AutoConfig {
            settle: 0,
            hold_down: 10_000,
            ..AutoConfig::default()
        };
        let mut auto = AutoMode::new(cfg, Millis(0), &db);
        let down = |id: NodeId| (id == other).then_some((Liveness::Down, Millis(2_000)));
        let _ = auto.decide(Millis(3_000), &g("a"), &db, down).unwrap();
        assert_eq!(auto.next_deadline(), Some(Millis(12_000)));
        assert_eq!(auto.due(Millis(12_000)), vec![g("a")]);
    }
}
