//! `Detector`: SWIM-style failure detection, each node's own view.
//!
//! Every probe period a node pings the next peer of a shuffled round-robin
//! list (every peer is probed within two rounds of the list). No ack within
//! the ping timeout: it asks `k` other peers to ping the target for it
//! (indirect probing, for a path it cannot use). No ack by the end of the
//! period: the target is *suspect*; a suspect that does not refute within
//! the suspicion timeout is *down*. Any authenticated frame from a peer is
//! evidence that it is alive.
//!
//! Verdicts spread as [`Rumor`]s piggybacked on pings, acks and announces,
//! each sent about `3 log2(n)` times. A rumor is about a peer as of its frame
//! `(incarnation, seq)`: newer wins, and at equal ones the graver state. A
//! node that hears itself suspected refutes with an `Alive` rumor at its
//! current `seq`, which is newer than anything the suspicion saw: no state
//! has to be written to disk to refute. A restarted node is recognised by a
//! higher incarnation.
//!
//! Liveness is an observation, never a write: the model's items of a down
//! peer are untouched (a client skips it; expiry is a later, separate rule).

use std::collections::BTreeMap;

use crate::model::NodeId;
use crate::wire::{Liveness, Rumor};

use super::time::Millis;

/// Tunables of the failure detector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorConfig {
    /// One probe per period (ms).
    pub probe_period: u64,
    /// How long to wait for a direct ack before asking others (ms).
    pub ping_timeout: u64,
    /// How many others to ask.
    pub indirect: usize,
    /// Shortest suspicion before down (ms); it grows with log2 of the
    /// cluster size, as SWIM's should.
    pub suspect_min: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            probe_period: 2_000,
            ping_timeout: 500,
            indirect: 2,
            suspect_min: 6_000,
        }
    }
}

/// One peer's liveness as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Its incarnation as last known.
    pub incarnation: u64,
    /// Its highest frame sequence number known (first- or second-hand).
    pub seq: u64,
    /// Alive, suspect or down.
    pub state: Liveness,
    /// Since when.
    pub since: Millis,
    /// For a suspect: when it becomes down.
    pub deadline: Option<Millis>,
    /// When a frame from it was last received first-hand.
    pub heard_at: Millis,
}

/// A probe waiting for its ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Probing {
    /// The target.
    pub target: NodeId,
    /// The nonce the ack must echo.
    pub nonce: u64,
    /// When the ping went out.
    pub sent: Millis,
    /// Whether the indirect probes went out.
    pub indirect_sent: bool,
}

/// A ping sent for another node (its `PingReq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Relay {
    /// Who asked.
    pub requester: NodeId,
    /// Who is pinged (only its own ack answers the relay).
    pub target: NodeId,
    /// The nonce to echo to them.
    pub nonce: u64,
    /// When to forget it.
    pub expires: Millis,
}

/// A change of a peer's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Transition {
    /// The peer.
    pub id: NodeId,
    /// Its new state.
    pub state: Liveness,
    /// Whether it restarted (a higher incarnation).
    pub restarted: bool,
}

/// The failure detector's state.
#[derive(Clone, Debug)]
pub(super) struct Detector {
    /// Tunables.
    cfg: DetectorConfig,
    views: BTreeMap<NodeId, View>,
    /// Rumors to piggyback, with how many more times to send each.
    rumors: BTreeMap<NodeId, (Rumor, u32)>,
    /// Probe order (reshuffled by the caller when exhausted).
    order: Vec<NodeId>,
    next_in_order: usize,
    /// Peers to probe before the round goes on: others suspect them, but
    /// this node holds a later frame of theirs, so their verdicts do not
    /// apply here and only its own probe can (see [`Self::rumor`]).
    verify: Vec<NodeId>,
    /// Peers whose next frame makes us spread our `Alive` view of them,
    /// against a stale verdict others hold.
    counter: Vec<NodeId>,
    /// The current probe.
    probing: Option<Probing>,
    /// Pings sent on others' behalf, by the nonce we used.
    relays: BTreeMap<u64, Relay>,
    /// When the next probe goes out.
    next_probe: Millis,
}

/// Most relays remembered (a flood of ping-reqs cannot grow this).
const MAX_RELAYS: usize = 256;

/// Most peers waiting for a verifying probe (the oldest makes room).
const MAX_VERIFY: usize = 16;

impl Detector {
    /// The tunables.
    #[must_use]
    pub(super) fn cfg(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// The probe waiting for its ack, if any.
    #[must_use]
    pub(super) fn probing(&self) -> Option<Probing> {
        self.probing
    }

    /// When the next probe round starts.
    #[must_use]
    pub(super) fn next_probe(&self) -> Millis {
        self.next_probe
    }

    /// Notes that the current probe's indirect pings went out.
    pub(super) fn indirect_sent(&mut self) {
        if let Some(q) = self.probing.as_mut() {
            q.indirect_sent = true;
        }
    }

    /// Ends the current probe (its round is over): returns it.
    pub(super) fn end_probe(&mut self) -> Option<Probing> {
        self.probing.take()
    }

    /// Starts a probe (its ping is going out).
    pub(super) fn start_probe(&mut self, probe: Probing) {
        self.probing = Some(probe);
    }

    /// The next probe round starts at `at`.
    pub(super) fn next_round_at(&mut self, at: Millis) {
        self.next_probe = at;
    }

    /// A detector that sends its first probe at `start`.
    #[must_use]
    pub(super) fn new(cfg: DetectorConfig, start: Millis) -> Self {
        Self {
            next_probe: start.plus(cfg.probe_period),
            cfg,
            views: BTreeMap::new(),
            rumors: BTreeMap::new(),
            order: Vec::new(),
            next_in_order: 0,
            verify: Vec::new(),
            counter: Vec::new(),
            probing: None,
            relays: BTreeMap::new(),
        }
    }

    /// Every peer down in this view, with since when.
    pub(super) fn down(&self) -> impl Iterator<Item = (NodeId, Millis)> + '_ {
        self.views
            .iter()
            .filter(|(_, v)| v.state == Liveness::Down)
            .map(|(id, v)| (*id, v.since))
    }

    /// Forgets `id` entirely (an expired member whose marker is dropped):
    /// it is no longer probed, listed or counted. Heard again, it starts
    /// afresh.
    pub(super) fn forget(&mut self, id: NodeId) {
        self.views.remove(&id);
        // Relays expire on their own; an unanswered probe of it gives no
        // verdict once its view is gone.
    }

    /// How many peers it tracks.
    #[must_use]
    pub(super) fn len(&self) -> usize {
        self.views.len()
    }

    /// Its state and since when, if ever heard of.
    #[must_use]
    pub(super) fn observed(&self, id: NodeId) -> Option<(Liveness, Millis)> {
        self.views.get(&id).map(|v| (v.state, v.since))
    }

    /// Its incarnation as last known (first- or second-hand), if ever heard
    /// of.
    #[must_use]
    pub(super) fn incarnation(&self, id: NodeId) -> Option<u64> {
        self.views.get(&id).map(|v| v.incarnation)
    }

    /// Probes `id` before the round goes on, unless it is being probed.
    pub(super) fn probe_next(&mut self, id: NodeId) {
        if self.probing.is_some_and(|p| p.target == id) {
            return;
        }
        self.probe_again(id);
    }

    /// Probes `id` before the round goes on, even if it is being probed:
    /// what we know of it changed since the current probe went out (it
    /// restarted, maybe at another address).
    pub(super) fn probe_again(&mut self, id: NodeId) {
        if self.verify.contains(&id) {
            return;
        }
        if self.verify.len() >= MAX_VERIFY {
            self.verify.remove(0);
        }
        self.verify.push(id);
    }

    /// Its state (`Alive` if never heard of: innocent until suspected).
    #[must_use]
    pub(super) fn state(&self, id: NodeId) -> Liveness {
        self.views.get(&id).map_or(Liveness::Alive, |v| v.state)
    }

    /// How many times a new rumor is sent: `3 * ceil(log2(n + 1))`.
    fn retransmits(&self) -> u32 {
        let n = self.views.len() as u64 + 1;
        3 * (64 - n.leading_zeros()).max(1)
    }

    /// The suspicion timeout for the current cluster size.
    #[must_use]
    pub(super) fn suspect_timeout(&self) -> u64 {
        let log = u64::from(64 - (self.views.len() as u64 + 1).leading_zeros());
        self.cfg
            .suspect_min
            .max(self.cfg.probe_period.saturating_mul(log))
    }

    fn spread(&mut self, r: Rumor) {
        let n = self.retransmits();
        self.rumors.insert(r.id, (r, n));
    }

    /// First-hand evidence: a frame from `id` at `(incarnation, seq)`.
    pub(super) fn heard(
        &mut self,
        id: NodeId,
        incarnation: u64,
        seq: u64,
        now: Millis,
    ) -> Option<Transition> {
        let v = self.views.entry(id).or_insert(View {
            incarnation,
            seq,
            state: Liveness::Alive,
            since: now,
            deadline: None,
            heard_at: now,
        });
        v.heard_at = now;
        if (incarnation, seq) < (v.incarnation, v.seq) {
            return None;
        }
        let restarted = incarnation > v.incarnation;
        v.incarnation = incarnation;
        v.seq = seq;
        if v.state == Liveness::Alive && !restarted {
            if let Some(i) = self.counter.iter().position(|c| *c == id) {
                self.counter.remove(i);
                self.spread(Rumor {
                    id,
                    incarnation,
                    seq,
                    state: Liveness::Alive,
                });
            }
            return None;
        }
        let was = v.state;
        v.state = Liveness::Alive;
        v.since = now;
        v.deadline = None;
        let r = Rumor {
            id,
            incarnation,
            seq,
            state: Liveness::Alive,
        };
        self.spread(r);
        (was != Liveness::Alive || restarted).then_some(Transition {
            id,
            state: Liveness::Alive,
            restarted,
        })
    }

    /// A rumor heard second-hand (not about this node; see [`Self::about_me`]).
    pub(super) fn rumor(&mut self, r: Rumor, now: Millis) -> Option<Transition> {
        let timeout = self.suspect_timeout();
        let current = self.views.get(&r.id).map(|v| Rumor {
            id: r.id,
            incarnation: v.incarnation,
            seq: v.seq,
            state: v.state,
        });
        if let Some(c) = current.filter(|c| !r.supersedes(c)) {
            self.verify_if_stale(r, c, now);
            return None;
        }
        let old = self.views.get(&r.id).copied();
        // A down verdict is lifted only by evidence of life (an `Alive`
        // rumor or a frame) or a new incarnation, never by a suspicion that
        // merely knows a later frame: observers of a dead node know
        // different last frames, and their suspicions would otherwise bounce
        // it between down and suspect, restarting `since` each time (and
        // with it auto-claim's hold-down). The later frame is remembered.
        if let Some(v) = self.views.get_mut(&r.id)
            && v.state == Liveness::Down
            && r.state == Liveness::Suspect
            && r.incarnation == v.incarnation
        {
            v.seq = v.seq.max(r.seq);
            return None;
        }
        let was = current.map(|c| c.state);
        let restarted = current.is_some_and(|c| r.incarnation > c.incarnation);
        // The same state at a later frame is no change: since when and a
        // suspicion's deadline stay.
        let same = old.filter(|v| v.state == r.state && !restarted);
        let heard_at = old.map_or(Millis::ZERO, |v| v.heard_at);
        self.views.insert(
            r.id,
            View {
                incarnation: r.incarnation,
                seq: r.seq,
                state: r.state,
                since: same.map_or(now, |v| v.since),
                deadline: same.map_or_else(
                    || (r.state == Liveness::Suspect).then(|| now.plus(timeout)),
                    |v| v.deadline,
                ),
                heard_at,
            },
        );
        self.spread(r);
        (was != Some(r.state) || restarted).then_some(Transition {
            id: r.id,
            state: r.state,
            restarted,
        })
    }

    /// A suspicion or down verdict about a peer this node holds alive at a
    /// later frame (or a later incarnation) does not apply here: the other
    /// observer may have missed that frame while we heard it. Either way
    /// one of us is wrong, and our own probe tells which:
    /// - the peer may have died right after sending that frame, to us alone
    ///   (an ack, a far sync), and then no other observer's verdict ever
    ///   applies here: unless a frame from it arrived within a probe
    ///   period, it goes to the front of the probe order, so our own probe
    ///   decides within a period instead of whenever the round reaches it
    ///   (up to two rounds, minutes on a large cluster);
    /// - or it is alive and the other observer holds a stale verdict (it
    ///   saw none of its later frames: across a healed cut, or a board that
    ///   restarted elsewhere): once a frame of it is heard (now, if within a
    ///   probe period), we spread our `Alive` view, which is newer and lifts
    ///   the verdict where it stands.
    fn verify_if_stale(&mut self, r: Rumor, current: Rumor, now: Millis) {
        if r.state == Liveness::Alive
            || current.state != Liveness::Alive
            || r.incarnation > current.incarnation
        {
            return;
        }
        let recent = self
            .views
            .get(&r.id)
            .is_some_and(|v| now.since(v.heard_at) < self.cfg.probe_period);
        if recent {
            self.counter(current);
            return;
        }
        if !self.counter.contains(&r.id) {
            if self.counter.len() >= MAX_VERIFY {
                self.counter.remove(0);
            }
            self.counter.push(r.id);
        }
        self.probe_next(r.id);
    }

    /// Spreads our `Alive` view `current` of a peer against a stale verdict,
    /// unless it is being spread already.
    fn counter(&mut self, current: Rumor) {
        let spreading = self
            .rumors
            .get(&current.id)
            .is_some_and(|(r, _)| *r == current);
        if !spreading {
            self.spread(current);
        }
    }

    /// Spreads our standing verdict about `id` again (reconnect's backoff
    /// steps): a node that holds it alive at a later frame then verifies
    /// and lifts it (see [`Self::rumor`]), where the verdict's own rumors
    /// ran out before any such node heard them (a cut that healed since).
    pub(super) fn respread(&mut self, id: NodeId) {
        let Some(v) = self.views.get(&id) else {
            return;
        };
        if v.state != Liveness::Alive {
            let r = Rumor {
                id,
                incarnation: v.incarnation,
                seq: v.seq,
                state: v.state,
            };
            self.spread(r);
        }
    }

    /// A rumor about this node: a suspicion or a down verdict is refuted
    /// with `Alive` at our current `(incarnation, seq)`, which is newer.
    /// Returns whether a refutation was queued.
    pub(super) fn about_me(&mut self, r: Rumor, me: NodeId, incarnation: u64, seq: u64) -> bool {
        if r.state == Liveness::Alive || r.incarnation > incarnation {
            return false;
        }
        self.spread(Rumor {
            id: me,
            incarnation,
            seq: seq.max(r.seq.saturating_add(1)),
            state: Liveness::Alive,
        });
        true
    }

    /// Up to `max` rumors to piggyback on the next frame, freshest first;
    /// each one's remaining count goes down.
    pub(super) fn take_rumors(&mut self, max: usize) -> Vec<Rumor> {
        self.take_rumors_except(None, max)
    }

    fn take_rumors_except(&mut self, skip: Option<NodeId>, max: usize) -> Vec<Rumor> {
        let mut picked: Vec<(u32, NodeId)> = self
            .rumors
            .iter()
            .filter(|(id, _)| Some(**id) != skip)
            .map(|(id, (_, n))| (*n, *id))
            .collect();
        picked.sort_by(|a, b| b.cmp(a));
        picked.truncate(max);
        let mut out = Vec::with_capacity(picked.len());
        for (_, id) in picked {
            if let Some((r, n)) = self.rumors.get_mut(&id) {
                out.push(*r);
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.rumors.remove(&id);
                }
            }
        }
        out
    }

    /// Like [`Self::take_rumors`] for a frame to `target`: a rumor about the
    /// target itself goes first, so a suspect hears of its suspicion from
    /// the prober and can refute it (Lifeguard's "buddy system").
    pub(super) fn take_rumors_for(&mut self, target: NodeId, max: usize) -> Vec<Rumor> {
        let about = self.rumors.get(&target).map(|(r, _)| *r);
        let Some(about) = about.filter(|r| r.state != Liveness::Alive) else {
            return self.take_rumors(max);
        };
        let mut out = vec![about];
        if let Some((_, n)) = self.rumors.get_mut(&target) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.rumors.remove(&target);
            }
        }
        out.extend(self.take_rumors_except(Some(target), max.saturating_sub(1)));
        out
    }

    /// The next peer to probe from `candidates` (sorted; peers with an
    /// address that are not down): a peer waiting for a verifying probe
    /// first, else the round's next, reshuffling with `shuffle` when a
    /// round ends.
    pub(super) fn next_target(
        &mut self,
        candidates: &[NodeId],
        shuffle: impl FnOnce(&mut Vec<NodeId>),
    ) -> Option<NodeId> {
        if candidates.is_empty() {
            return None;
        }
        while !self.verify.is_empty() {
            let id = self.verify.remove(0);
            if candidates.binary_search(&id).is_ok() {
                return Some(id);
            }
        }
        if let Some(id) = self.next_in_round(candidates) {
            return Some(id);
        }
        self.order = candidates.to_vec();
        shuffle(&mut self.order);
        self.next_in_order = 0;
        self.next_in_round(candidates)
    }

    fn next_in_round(&mut self, candidates: &[NodeId]) -> Option<NodeId> {
        while let Some(&id) = self.order.get(self.next_in_order) {
            self.next_in_order += 1;
            if candidates.binary_search(&id).is_ok() {
                return Some(id);
            }
        }
        None
    }

    /// An ack with `nonce` arrived from `sender`: the probe (or a relay) is
    /// answered. Returns the relay to answer, if it was one.
    ///
    /// Only the probed node's own ack counts (or, once indirect probes went
    /// out, a helper's relayed one, which the helper checked the same way):
    /// a ping carries no target, so a new board at a dead board's address (a
    /// replaced Pi with the same DHCP lease) answers pings meant for its
    /// predecessor, and must not keep it alive.
    pub(super) fn acked(&mut self, nonce: u64, sender: NodeId) -> Option<Relay> {
        if let Some(p) = self.probing
            && p.nonce == nonce
        {
            if sender == p.target || p.indirect_sent {
                self.probing = None;
            }
            return None;
        }
        match self.relays.get(&nonce) {
            Some(r) if r.target == sender => self.relays.remove(&nonce),
            _ => None,
        }
    }

    /// Remembers a ping sent on `requester`'s behalf.
    pub(super) fn relay(&mut self, our_nonce: u64, relay: Relay) {
        if self.relays.len() >= MAX_RELAYS
            && let Some(oldest) = self
                .relays
                .iter()
                .min_by_key(|(_, r)| r.expires)
                .map(|(n, _)| *n)
        {
            self.relays.remove(&oldest);
        }
        self.relays.insert(our_nonce, relay);
    }

    /// The probe of `target` sent at `sent` went unanswered: suspect it,
    /// unless a frame from it arrived first-hand since (the ack was lost,
    /// not the node).
    pub(super) fn suspect(
        &mut self,
        target: NodeId,
        sent: Millis,
        now: Millis,
    ) -> Option<Transition> {
        let timeout = self.suspect_timeout();
        let v = self.views.get_mut(&target)?;
        if v.state != Liveness::Alive || v.heard_at >= sent {
            return None;
        }
        v.state = Liveness::Suspect;
        v.since = now;
        v.deadline = Some(now.plus(timeout));
        let r = Rumor {
            id: target,
            incarnation: v.incarnation,
            seq: v.seq,
            state: Liveness::Suspect,
        };
        self.spread(r);
        Some(Transition {
            id: target,
            state: Liveness::Suspect,
            restarted: false,
        })
    }

    /// Suspects whose time is up become down; expired relays are forgotten.
    pub(super) fn expire(&mut self, now: Millis) -> Vec<Transition> {
        let due: Vec<NodeId> = self
            .views
            .iter()
            .filter(|(_, v)| v.state == Liveness::Suspect && v.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            if let Some(v) = self.views.get_mut(&id) {
                v.state = Liveness::Down;
                v.since = now;
                v.deadline = None;
                let r = Rumor {
                    id,
                    incarnation: v.incarnation,
                    seq: v.seq,
                    state: Liveness::Down,
                };
                self.spread(r);
                out.push(Transition {
                    id,
                    state: Liveness::Down,
                    restarted: false,
                });
            }
        }
        self.relays.retain(|_, r| r.expires > now);
        out
    }

    /// The earliest deadline: next probe, probe timeouts, suspicions, relays.
    #[must_use]
    pub(super) fn next_deadline(&self) -> Millis {
        let mut t = self.next_probe;
        // An unanswered probe needs a wake-up only for its indirect step;
        // its verdict is given at the next probe, already in `t`. (A
        // deadline that stays in the past would make the caller spin.)
        if let Some(p) = self.probing
            && !p.indirect_sent
        {
            t = t.min(p.sent.plus(self.cfg.ping_timeout));
        }
        for v in self.views.values() {
            if let Some(d) = v.deadline {
                t = t.min(d);
            }
        }
        if let Some(r) = self.relays.values().map(|r| r.expires).min() {
            t = t.min(r);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    /// A rumor about node 1 at incarnation 1.
    fn r(seq: u64, state: Liveness) -> Rumor {
        Rumor {
            id: id(1),
            incarnation: 1,
            seq,
            state,
        }
    }

    #[test]
    fn frames_are_evidence_and_a_restart_is_recognised() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        assert_eq!(
            d.heard(id(1), 1, 5, Millis(0)),
            None,
            "new and alive: no transition"
        );
        d.suspect(id(1), Millis(5), Millis(10));
        assert_eq!(d.state(id(1)), Liveness::Suspect);
        let t = d.heard(id(1), 1, 6, Millis(20)).unwrap();
        assert_eq!((t.state, t.restarted), (Liveness::Alive, false));
        let t = d.heard(id(1), 2, 1, Millis(30)).unwrap();
        assert!(t.restarted);
        assert_eq!(
            d.heard(id(1), 1, 99, Millis(40)),
            None,
            "an older incarnation is stale"
        );
    }

    #[test]
    fn a_suspect_that_does_not_refute_goes_down() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.heard(id(1), 1, 5, Millis(0));
        d.suspect(id(1), Millis(50), Millis(100));
        let timeout = d.suspect_timeout();
        assert!(d.expire(Millis(100 + timeout - 1)).is_empty());
        let down = d.expire(Millis(100 + timeout));
        assert_eq!(down.len(), 1);
        assert_eq!(d.state(id(1)), Liveness::Down);
    }

    #[test]
    fn newer_rumors_win_and_graver_ones_win_ties() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.rumor(r(5, Liveness::Alive), Millis(0));
        assert!(d.rumor(r(5, Liveness::Suspect), Millis(1)).is_some());
        assert!(
            d.rumor(r(5, Liveness::Alive), Millis(2)).is_none(),
            "a tie goes to the graver"
        );
        assert!(
            d.rumor(r(6, Liveness::Alive), Millis(3)).is_some(),
            "a refutation is newer"
        );
        assert_eq!(d.state(id(1)), Liveness::Alive);
        assert!(d.rumor(r(4, Liveness::Down), Millis(4)).is_none(), "stale");
    }

    #[test]
    fn a_down_node_stays_down_whatever_others_last_heard() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.rumor(r(5, Liveness::Down), Millis(100));
        // Another observer heard a later frame and suspects it: still down,
        // still since 100.
        assert!(d.rumor(r(7, Liveness::Suspect), Millis(200)).is_none());
        assert_eq!(d.observed(id(1)), Some((Liveness::Down, Millis(100))));
        // A later verdict is no change either.
        assert!(d.rumor(r(8, Liveness::Down), Millis(300)).is_none());
        assert_eq!(d.observed(id(1)), Some((Liveness::Down, Millis(100))));
        // Only evidence of life at a later frame lifts it ...
        assert!(
            d.rumor(r(7, Liveness::Alive), Millis(400)).is_none(),
            "stale"
        );
        let t = d.rumor(r(9, Liveness::Alive), Millis(500)).unwrap();
        assert_eq!(t.state, Liveness::Alive);
        // ... or a new incarnation.
        d.rumor(r(10, Liveness::Down), Millis(600));
        let t = d
            .rumor(
                Rumor {
                    id: id(1),
                    incarnation: 2,
                    seq: 1,
                    state: Liveness::Suspect,
                },
                Millis(700),
            )
            .unwrap();
        assert_eq!((t.state, t.restarted), (Liveness::Suspect, true));
    }

    #[test]
    fn only_the_probed_node_answers_its_probe() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        let (dead, heir, helper) = (id(1), id(2), id(3));
        d.probing = Some(Probing {
            target: dead,
            nonce: 7,
            sent: Millis(0),
            indirect_sent: false,
        });
        // A new board at the dead one's address acks the ping: not an answer.
        assert_eq!(d.acked(7, heir), None);
        assert!(d.probing.is_some());
        // After the indirect probes, a helper's relayed ack is.
        if let Some(p) = d.probing.as_mut() {
            p.indirect_sent = true;
        }
        assert_eq!(d.acked(7, helper), None);
        assert!(d.probing.is_none());
        // A helper relays only its target's own ack.
        let relay = Relay {
            requester: id(4),
            target: dead,
            nonce: 9,
            expires: Millis(10),
        };
        d.relay(11, relay);
        assert_eq!(d.acked(11, heir), None);
        assert_eq!(d.acked(11, dead), Some(relay));
    }

    #[test]
    fn a_node_refutes_suspicion_of_itself() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        let me = id(9);
        let sus = Rumor {
            id: me,
            incarnation: 3,
            seq: 40,
            state: Liveness::Suspect,
        };
        assert!(d.about_me(sus, me, 3, 41));
        let out = d.take_rumors(6);
        assert_eq!(out.len(), 1);
        assert!(out[0].supersedes(&sus));
        assert_eq!(out[0].state, Liveness::Alive);
    }

    #[test]
    fn rumors_are_sent_a_bounded_number_of_times() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.heard(id(1), 1, 1, Millis(0));
        d.suspect(id(1), Millis(1), Millis(1));
        let mut sent = 0;
        while !d.take_rumors(6).is_empty() {
            sent += 1;
            assert!(sent < 100);
        }
        assert_eq!(sent, d.retransmits() as usize);
    }

    #[test]
    fn round_robin_probes_everyone_each_round() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        let peers: Vec<NodeId> = (1..=5).map(id).collect(); // sorted
        let mut seen: Vec<NodeId> = (0..5)
            .filter_map(|_| d.next_target(&peers, |v| v.reverse()))
            .collect();
        seen.sort();
        assert_eq!(seen, peers);
    }

    #[test]
    fn a_frame_to_a_suspect_carries_its_suspicion_first() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        for i in 1..=8 {
            d.heard(id(i), 1, 1, Millis(0));
            d.suspect(id(i), Millis(1), Millis(1));
        }
        let out = d.take_rumors_for(id(5), 3);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].id, out[0].state), (id(5), Liveness::Suspect));
        assert!(out[1..].iter().all(|r| r.id != id(5)), "{out:?}");
    }

    #[test]
    fn a_suspicion_older_than_our_evidence_makes_us_probe_it_next() {
        // We hold frame 9 of node 1 (its last, sent to us alone before it
        // died); others suspect it as of frame 5: their verdict does not
        // apply here, so our own probe must decide, and soon.
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        for i in 1..=5 {
            d.heard(id(i), 1, 1, Millis(0));
        }
        d.heard(id(1), 1, 9, Millis(0));
        let peers: Vec<NodeId> = (1..=5).map(id).collect();
        // Round order puts node 1 last.
        let last = |v: &mut Vec<NodeId>| v.rotate_left(1);
        assert_eq!(d.next_target(&peers, last), Some(id(2)));
        assert!(d.rumor(r(5, Liveness::Suspect), Millis(100)).is_none());
        assert_eq!(d.state(id(1)), Liveness::Alive, "stale: not applied");
        assert_eq!(
            d.next_target(&peers, last),
            Some(id(3)),
            "heard within a probe period: no need"
        );
        assert!(d.rumor(r(6, Liveness::Down), Millis(5_000)).is_none());
        assert!(d.rumor(r(6, Liveness::Down), Millis(5_001)).is_none());
        assert_eq!(d.next_target(&peers, last), Some(id(1)), "verified first");
        assert_eq!(d.next_target(&peers, last), Some(id(4)), "once");
        // Unanswered: suspected, then down, by our own verdict.
        assert!(d.suspect(id(1), Millis(5_100), Millis(7_100)).is_some());
        let timeout = d.suspect_timeout();
        assert_eq!(d.expire(Millis(7_100 + timeout)).len(), 1);
        assert_eq!(d.state(id(1)), Liveness::Down);
    }

    #[test]
    fn a_stale_verdict_is_lifted_by_a_node_that_hears_the_peer() {
        // We hear node 1 (frame 9); another observer holds it down as of
        // frame 5 (it saw none of the later ones).
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.heard(id(1), 1, 9, Millis(0));
        d.take_rumors(100);
        // Heard within a probe period: our Alive view goes out at once.
        assert!(d.rumor(r(5, Liveness::Down), Millis(100)).is_none());
        let out = d.take_rumors(6);
        assert_eq!(out, vec![r(9, Liveness::Alive)]);
        assert!(out[0].supersedes(&r(5, Liveness::Down)));
        // Not heard lately: we verify first, and spread it with the next
        // frame we hear.
        while !d.take_rumors(6).is_empty() {}
        assert!(d.rumor(r(6, Liveness::Down), Millis(10_000)).is_none());
        assert!(d.take_rumors(6).is_empty(), "not before we hear it");
        d.heard(id(1), 1, 10, Millis(10_500));
        assert_eq!(d.take_rumors(6), vec![r(10, Liveness::Alive)]);
        // A standing verdict of ours can be spread again.
        let mut e = Detector::new(DetectorConfig::default(), Millis(0));
        e.rumor(r(5, Liveness::Down), Millis(0));
        while !e.take_rumors(6).is_empty() {}
        e.respread(id(1));
        assert_eq!(e.take_rumors(6), vec![r(5, Liveness::Down)]);
        while !e.take_rumors(6).is_empty() {}
        e.respread(id(2));
        assert!(e.take_rumors(6).is_empty(), "unknown: nothing");
    }

    #[test]
    fn a_lost_ack_is_not_a_suspicion_when_the_peer_was_heard_since() {
        let mut d = Detector::new(DetectorConfig::default(), Millis(0));
        d.heard(id(1), 1, 1, Millis(0));
        // Pinged at 100; its announce arrived at 150; the ack never came.
        d.heard(id(1), 1, 2, Millis(150));
        assert_eq!(d.suspect(id(1), Millis(100), Millis(2_100)), None);
        assert_eq!(d.state(id(1)), Liveness::Alive);
        // Nothing heard since the next ping: suspect.
        assert!(d.suspect(id(1), Millis(2_100), Millis(4_100)).is_some());
    }
}
