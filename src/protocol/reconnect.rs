//! `Reconnect`: `Down` is never a sink. Decides whom this node contacts,
//! and when, so that a partition of any length heals once the network
//! does.
//!
//! Every other rule skips down peers: the probe round, the far sync, the
//! tree, pulls and gossip. That is right for a dead board, but a partition
//! longer than the down verdict leaves each side holding the other down,
//! and then nothing ever crosses the cut again once it heals. Three parts,
//! each on its own jittered timer, contact across it (a contact is a
//! unicast announce: the far node answers with its own, both sides mark
//! each other alive, spread it as rumors, compare group digests and pull):
//!
//! - (a) **seeds**: every configured seed (and `AddSeed`), known or not,
//!   down or not, at least every `reconnect_interval`; only a seed that is
//!   a known peer alive in our view is skipped (the probe round reaches it,
//!   and a path that fails makes it suspect, then down, within a few
//!   rounds). Seeds are the only way back once a partition outlasted twice
//!   `expire_after` and the other side was forgotten.
//! - (b) **islands**: for each multicast island all of whose known peers
//!   this node holds down ([`super::islands`]), one of its last known
//!   addresses, picked at random, every `reconnect_interval`. A cut across
//!   a router takes whole islands down; this heals it within an interval
//!   of the heal, whichever far peers each node happened to hold down.
//! - (c) **down members**: each down member, with exponential backoff from
//!   `reconnect_interval` up to [`BACKOFF_MAX`], until it answers or is
//!   forgotten. At each step this node contacts it with probability
//!   `1 / observers` (the nodes that may hold it down: the live ones in our
//!   view, ourselves included), so the cluster as a whole makes about one
//!   contact per down member per step, not one per node (serf's reconnect
//!   does the same). A down member that answers is a sign the network
//!   healed: every other down member starts again from the shortest wait.
//!   At each step this node also spreads its verdict on the member again
//!   (a piggybacked rumor, no frame of its own): a node that holds the
//!   member alive at a later frame verifies it and spreads its `Alive`
//!   view, which lifts the verdict. That is the way back for a node holding
//!   a member down that it cannot contact itself: one with no address for
//!   it (it learned of it, and of its verdict, only second-hand), or with
//!   an address it left (a board that restarted elsewhere).
//!
//! Cost at rest is in docs/ALGORITHM.md (section "Reconnect"). Pure state:
//! the caller says what it knows ([`Reach`]) and sends the contacts.

use core::net::SocketAddr;
use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::NodeId;
use crate::wire::Liveness;

use super::islands::{self, Island, Observed};
use super::liveness::Detector;
use super::peers::{Peer, PeerStates, PeerTable};
use super::time::Millis;

/// Longest wait between two contacts of one down member (ms): 5 minutes.
pub const BACKOFF_MAX: u64 = 300_000;

/// Most down members tracked (as many as peers).
const MAX_TRACKED: usize = super::peers::MAX_PEERS;

/// What this node knows, as the reconnect rules need it.
pub(super) struct Reach<'a> {
    /// This node.
    pub me: NodeId,
    /// Its peers.
    pub peers: &'a PeerTable,
    /// Its failure detector.
    pub detector: &'a Detector,
    /// The configured seeds (and those added since).
    pub seeds: &'a [SocketAddr],
    /// Whether it uses multicast (islands exist only then).
    pub multicast: bool,
    /// How long a multicast observation lasts (ms).
    pub hears_ttl: u64,
}

impl Reach<'_> {
    /// Whether `p` shares our multicast island (either hears the other).
    #[must_use]
    pub(super) fn is_local(&self, p: &Peer, now: Millis) -> bool {
        self.multicast
            && (p.heard_by_multicast(now, self.hears_ttl) || p.hears_us(now, self.hears_ttl))
    }

    /// Every island known, as last observed.
    #[must_use]
    pub(super) fn islands(&self, now: Millis) -> Vec<Island> {
        let local = |p: &Peer| self.is_local(p, now);
        let down = |id| self.detector.state(id) == Liveness::Down;
        let o = Observed {
            me: self.me,
            now,
            hears_ttl: self.hears_ttl,
            local: &local,
            down: &down,
        };
        islands::islands(self.peers, self.multicast, &o)
    }

    /// The known peers by liveness.
    #[must_use]
    pub(super) fn peer_states(&self) -> PeerStates {
        PeerStates::count(self.peers.iter().map(|p| self.detector.state(p.id)))
    }

    /// Whether `seed` is a known peer alive in our view.
    fn in_touch(&self, seed: SocketAddr) -> bool {
        self.peers
            .by_addr(seed)
            .is_some_and(|p| self.detector.state(p.id) == Liveness::Alive)
    }

    fn addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.peers.get(id).and_then(|p| p.addr)
    }
}

/// What [`Reconnect::poll`] decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contacts {
    /// Addresses to send a unicast announce to.
    pub addrs: Vec<SocketAddr>,
    /// Down members whose verdict to spread again (every step, by every
    /// node holding it, contacted or not: a node holding the member alive
    /// at a later frame then lifts it; see `Detector::respread`).
    pub verdicts: Vec<NodeId>,
}

/// A down member's place in the backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// When its next step is due.
    pub next: Millis,
    /// The wait before the step after it (ms).
    pub wait: u64,
}

/// The reconnect state (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct Reconnect {
    interval: u64,
    jitter_percent: u64,
    rng: ChaCha8Rng,
    next_seeds: Millis,
    next_islands: Millis,
    down: BTreeMap<NodeId, Backoff>,
    /// `(next, id)` of every entry of `down`, soonest first.
    due: BTreeSet<(Millis, NodeId)>,
}

impl Reconnect {
    /// Contacts every `interval` ms (at least 1), each wait shortened by
    /// up to `jitter_percent`; randomness from `seed`.
    #[must_use]
    pub(super) fn new(interval: u64, jitter_percent: u64, seed: u64, now: Millis) -> Self {
        let mut r = Self {
            interval: interval.max(1),
            jitter_percent: jitter_percent.min(100),
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_seeds: now,
            next_islands: now,
            down: BTreeMap::new(),
            due: BTreeSet::new(),
        };
        // The far sync contacts unknown seeds at boot; these start an
        // interval later.
        r.next_seeds = now.plus(r.jittered(r.interval));
        r.next_islands = now.plus(r.jittered(r.interval));
        r
    }

    /// When [`Self::poll`] has something to do next.
    #[must_use]
    pub(super) fn next_deadline(&self) -> Millis {
        let members = self.due.first().map_or(Millis::NEVER, |(t, _)| *t);
        self.next_seeds.min(self.next_islands).min(members)
    }

    /// The backoff of down member `id`, if tracked.
    #[must_use]
    pub(super) fn backoff(&self, id: NodeId) -> Option<Backoff> {
        self.down.get(&id).copied()
    }

    /// A peer's liveness changed in this node's view: a member gone down
    /// starts its backoff; one that comes back leaves it, and every other
    /// down member starts again from the shortest wait.
    pub(super) fn observe(&mut self, now: Millis, id: NodeId, state: Liveness) {
        if state == Liveness::Down {
            if !self.down.contains_key(&id) && self.down.len() < MAX_TRACKED {
                let wait = self.interval;
                self.schedule(id, now, wait);
            }
            return;
        }
        if self.unschedule(id) {
            let ids: Vec<NodeId> = self.down.keys().copied().collect();
            for other in ids {
                self.schedule(other, now, self.interval);
            }
        }
    }

    /// Forgets `id` (expired and forgotten: no longer contacted).
    pub(super) fn forget(&mut self, id: NodeId) {
        self.unschedule(id);
    }

    /// The addresses to contact now (each once), and the down members whose
    /// verdict to spread again now.
    pub(super) fn poll(&mut self, now: Millis, reach: &Reach<'_>) -> Contacts {
        let mut out = Vec::new();
        let mut verdicts = Vec::new();
        if now >= self.next_seeds {
            out.extend(reach.seeds.iter().filter(|s| !reach.in_touch(**s)));
            self.next_seeds = now.plus(self.jittered(self.interval));
        }
        if now >= self.next_islands {
            for island in reach.islands(now).iter().filter(|i| i.unreachable()) {
                let addrs: Vec<SocketAddr> = island
                    .members
                    .iter()
                    .filter_map(|m| reach.addr(*m))
                    .collect();
                if let Some(a) = self.pick(&addrs) {
                    out.push(a);
                }
            }
            self.next_islands = now.plus(self.jittered(self.interval));
        }
        if self.due.first().is_some_and(|(t, _)| *t <= now) {
            let s = reach.peer_states();
            let observers = (s.alive + s.suspect + 1) as u64;
            for id in self.step(now) {
                verdicts.push(id);
                if self.rng.next_u64() % observers == 0
                    && let Some(a) = reach.addr(id)
                {
                    out.push(a);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Contacts {
            addrs: out,
            verdicts,
        }
    }

    /// Advances every down member whose step is due; returns them.
    fn step(&mut self, now: Millis) -> Vec<NodeId> {
        let mut stepped = Vec::new();
        while let Some(&(t, id)) = self.due.first() {
            if t > now {
                break;
            }
            let wait = self.down.get(&id).map_or(self.interval, |b| b.wait);
            self.schedule(id, now, wait);
            stepped.push(id);
        }
        stepped
    }

    /// `id`'s next step after `wait` (jittered); the wait after it doubles
    /// up to [`BACKOFF_MAX`].
    fn schedule(&mut self, id: NodeId, now: Millis, wait: u64) {
        self.unschedule(id);
        let next = now.plus(self.jittered(wait));
        let wait = wait.saturating_mul(2).min(BACKOFF_MAX.max(self.interval));
        self.down.insert(id, Backoff { next, wait });
        self.due.insert((next, id));
    }

    fn unschedule(&mut self, id: NodeId) -> bool {
        match self.down.remove(&id) {
            Some(b) => {
                self.due.remove(&(b.next, id));
                true
            }
            None => false,
        }
    }

    /// `ms` shortened by up to `jitter_percent` (so "every interval" holds
    /// as an upper bound).
    fn jittered(&mut self, ms: u64) -> u64 {
        let spread = ms.saturating_mul(self.jitter_percent) / 100;
        let cut = if spread == 0 {
            0
        } else {
            self.rng.next_u64() % (spread + 1)
        };
        ms.saturating_sub(cut).max(1)
    }

    fn pick(&mut self, items: &[SocketAddr]) -> Option<SocketAddr> {
        if items.is_empty() {
            return None;
        }
        let i = (self.rng.next_u64() % items.len() as u64) as usize;
        items.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    #[test]
    fn the_backoff_doubles_to_the_cap_and_resets_when_a_member_answers() {
        let mut r = Reconnect::new(10_000, 0, 1, Millis(0));
        r.observe(Millis(0), id(1), Liveness::Down);
        r.observe(Millis(0), id(2), Liveness::Down);
        let mut waits = Vec::new();
        let mut now = Millis(0);
        for _ in 0..8 {
            let b = r.backoff(id(1)).unwrap();
            waits.push(b.next.since(now));
            now = b.next;
            r.step(now);
        }
        assert_eq!(
            waits,
            vec![
                10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000
            ]
        );
        // 1 answers: it leaves, and 2 starts again from the interval.
        r.observe(now, id(1), Liveness::Alive);
        assert_eq!(r.backoff(id(1)), None);
        let b = r.backoff(id(2)).unwrap();
        assert_eq!((b.next.since(now), b.wait), (10_000, 20_000));
        r.forget(id(2));
        assert_eq!(r.next_deadline(), r.next_seeds.min(r.next_islands));
    }

    #[test]
    fn waits_are_jittered_never_longer_than_the_interval() {
        let mut r = Reconnect::new(10_000, 25, 7, Millis(0));
        let waits: Vec<u64> = (0..200).map(|_| r.jittered(10_000)).collect();
        assert!(waits.iter().all(|w| (7_500..=10_000).contains(w)));
        assert!(waits.iter().any(|w| *w < 9_000) && waits.iter().any(|w| *w > 9_500));
    }
}
