//! `Chatter`: the sans-IO protocol state machine. It owns the node's
//! [`TopologyDb`] and decides every frame the node sends; the shell only
//! moves bytes and time.
//!
//! # Inputs
//! - [`Chatter::handle_datagram`]: a UDP datagram (multicast or unicast);
//! - [`Chatter::handle_accept`], [`Chatter::handle_frame`] and
//!   [`Chatter::handle_conn_event`]: TCP connections and their whole frames;
//! - [`Chatter::handle_timeout`]: the deadline of [`Chatter::poll_timeout`]
//!   has passed;
//! - [`Chatter::handle_command`]: own writes and local requests;
//! - [`Chatter::handle_persisted`]: own state is durable;
//!   [`Chatter::handle_persist_failed`]: it could not be stored, and the
//!   writes it carried are undone ([`super::durability`]).
//!
//! # Outputs, and the order to poll them after every input
//! 1. [`Chatter::poll_persist`]: own state to make durable, then report
//!    the outcome with `handle_persisted` or `handle_persist_failed` (one
//!    persist is outstanding at a time). Until own writes are durable,
//!    `poll_transmit` yields nothing and their events are held: a write
//!    takes effect only once durable.
//! 2. [`Chatter::poll_transmit`]: datagrams, multicasts, TCP connects,
//!    sends and closes.
//! 3. [`Chatter::poll_event`]: changes (for `watch`) and notices.
//! 4. [`Chatter::poll_markers`]: expiry markers to store (best effort; give
//!    them back with [`Chatter::restore_markers`] after a restart).
//! 5. [`Chatter::poll_timeout`]: when to call `handle_timeout` next.
//!
//! [`Chatter::drain_outputs`] does all five in this order in one call (the
//! shell says what became of the own state through a callback returning
//! [`super::Persisted`]) and returns them as [`super::Outputs`]: drivers
//! use it rather than polling by hand.
//!
//! `now` must never go backwards. Randomness comes from a seed given at
//! construction, so a run is reproducible from its seeds.
//!
//! # What it does (docs/ALGORITHM.md has the reasoning and costs)
//! - **Mixed broadcast.** An own write's delta is multicast on the LAN, then
//!   sent down a log(n) TCP tree ([`super::tree`]) to the nodes that do not
//!   hear our multicast, one per multicast island; a tree receiver forwards
//!   along the list it was handed and, if it does not hear the author's
//!   multicast, multicasts the delta on its own LAN.
//! - **Who hears my multicast.** Each announce lists the nodes whose
//!   multicast the sender hears; from those lists a node learns who hears it,
//!   and prunes them from its tree (keeping one at random).
//! - **Anti-entropy.** Periodic announces carry group fingerprints; a
//!   listener that differs pulls with its world clock and gets
//!   `delta_since` chunks; a pull answered nowhere is retried with another
//!   holder; a periodic unicast announce to a far peer (every other one to
//!   a far member of one of our groups) makes a push-pull across subnets.
//!   Received news is re-sent, unchanged, to one random far member of its
//!   group, only when it changed something.
//! - **Interest.** A node stores, announces, pulls and serves only the
//!   groups it is a member of; a group's tree spans its members; a far
//!   member's announce is passed on to a LAN member that disagrees with it,
//!   so members find each other across routers ([`super::interest`]).
//! - **Bounded resources.** TCP connections are capped with LRU eviction and
//!   idle close; pulls served are rate-limited per peer; tables are capped.
//!
//! # Where each decision lives (one file per concept)
//! This file holds the state, the entry points (`handle_*`, `poll_*`,
//! [`Chatter::drain_outputs`]) and the getters; each child module holds the
//! `impl Chatter` block of one concept:
//! - `timers`: the timer table `handle_timeout` walks and `poll_timeout`
//!   reads;
//! - `receive`: frame opening (authentication, freshness), sender
//!   admission, and routing each payload to its concept;
//! - `own_writes`: what follows an own write (delta, tree, join or leave),
//!   leaves, tombstone collection; `rollback`: undoing writes that could
//!   not be made durable;
//! - `announce`: announces built and received; `islands`: who hears whom,
//!   this island's representative; `reach`: reconnect, peer states,
//!   addresses that move;
//! - `membership`: join, leave and linger, and who a group's write goes to;
//!   `relay`: far announces passed on, news re-sent; `deltas`: deltas and
//!   forwards applied (interest-gated);
//! - `forwarding`: the tree and TCP connections; `pulls`: anti-entropy;
//! - `swim`: probes, pings, acks and ping-reqs, driving the detector
//!   ([`super::liveness`]); `expiry`: dead members expired;
//! - `auto`: auto-claim driving ([`super::auto_mode`]); `keys`: the keyring
//!   replaced while running;
//! - `framing`: frames, nonces, versions, the one place frames are measured;
//!   `random`: the seeded randomness helpers.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{
    GroupName, Message, NodeId, TimedItem, TopologyDb, TopologyFilter, WorldClock, Written,
};
use crate::wire::{
    self, Announce, Codec, Forward, Frame, FrameKind, Freshness, GroupDigest, Liveness, PeerRef,
    PingReq, Probe, Pull, Rumor, Window,
};

use super::anti_entropy::PullTracker;
use super::auto_mode::AutoMode;
use super::config::ProtocolConfig;
use super::conns::{ConnState, ConnTable, Pending};
use super::dedupe::Seen;
use super::drop_reason::DropReason;
use super::durability::{Durability, OwnState};
use super::error::ProtocolError;
use super::interest::Interest;
use super::io::{Command, ConnEvent, ConnId, Event, Outputs, Persisted, Transmit, Via};
use super::key_seen::KeySeen;
use super::liveness::{Detector, Probing, Transition};
use super::peers::{PeerTable, usable_addr};
use super::rate::{Buckets, Budget};
use super::reconnect::Reconnect;
use super::stats::{Sizes, Stats};
use super::time::Millis;
use super::tree;

mod announce;
mod auto;
mod deltas;
mod expiry;
mod forwarding;
mod framing;
mod islands;
mod keys;
mod membership;
mod own_writes;
mod pulls;
mod random;
mod reach;
mod receive;
mod relay;
mod rollback;
mod swim;
#[cfg(test)]
mod tests;
mod timers;

use announce::AnnounceWindows;
use auto::AutoDriving;
use expiry::ExpiryState;
use framing::FrameState;
use framing::Outbox;
use framing::carries_floors;
use islands::UNKNOWN_REP;
use membership::Membership;
use own_writes::GcState;
use pulls::FarState;
use random::{jittered, pick, shuffle};
use receive::MAX_ADDRS_TRACKED;
use receive::SourceBudgets;
use swim::SwimState;
use timers::Schedule;
use timers::Timer;

/// Who this node is in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The node's id (persisted across runs).
    pub id: NodeId,
    /// Bumped and made durable at every start, before the first frame.
    pub incarnation: u64,
    /// The addresses peers reach it at (UDP and TCP share the port).
    pub addrs: Vec<SocketAddr>,
}

/// The tree's TCP connections and the forwards already seen (dedupe).
struct Tree {
    conns: ConnTable,
    seen: Seen,
}

/// Where a frame came from.
#[derive(Clone, Copy, Debug)]
struct Source {
    addr: SocketAddr,
    via: Via,
    conn: Option<ConnId>,
}

/// The Chatter protocol state machine (see the module docs).
pub struct Chatter {
    cfg: ProtocolConfig,
    me: NodeIdentity,
    db: TopologyDb,
    rng: ChaCha8Rng,
    peers: PeerTable,
    /// The tree's TCP connections and the forwards already seen.
    tree: Tree,
    pulls: PullTracker,
    /// Budgets per source address: new member ids admitted, answers to
    /// unicast frames, pulls served, and authentication failures.
    budgets: SourceBudgets,
    /// The periodic sends' next deadlines, the announce period and the
    /// announce windows, and when this instance started.
    schedule: Schedule,
    /// Members expired here, the markers last polled, and tombstone
    /// collection's periods.
    expiry: ExpiryState,
    /// The outputs waiting to be polled (transmits and events), the own
    /// writes held until durable, and the counters.
    outbox: Outbox,
    /// The groups this node is a member of, those it is leaving, and the
    /// groups known but not joined.
    membership: Membership,
    /// Sealing and opening frames: the codec, our sequence number, the
    /// replay window, and the key of the frame just opened.
    frames: FrameState,
    /// Reaching across routers and cuts: the seeds, far syncs made, unicast
    /// announce rounds owed since our addresses changed, and reconnect.
    far: FarState,
    /// Auto-claim: the auto mode and the policy fingerprint announced.
    autoclaim: AutoDriving,
    /// SWIM: the failure detector and our last refutation.
    swim: SwimState,
}

impl Chatter {
    /// A node starting at `now`, from its persisted own state (if any).
    ///
    /// # Errors
    /// [`ProtocolError::Restore`] if the persisted state is not valid.
    pub fn new(
        cfg: ProtocolConfig,
        me: NodeIdentity,
        codec: Codec,
        restored: Option<OwnState>,
        seed: [u8; 32],
        now: Millis,
    ) -> Result<Self, ProtocolError> {
        let db = match restored {
            Some(s) => TopologyDb::restore(me.id, s.clock, s.items)
                .map_err(ProtocolError::Restore)?
                .with_own_floors(&s.floors),
            None => TopologyDb::new(me.id),
        };
        let mut rng = ChaCha8Rng::from_seed(seed);
        let far = jittered(&mut rng, cfg.far_sync_period, cfg.jitter_percent);
        let auto = AutoMode::new(cfg.auto.clone(), now, &db);
        let member_of = db.my_groups().cloned().collect();
        let policy_fp = cfg.auto.fingerprint();
        let gc_mark = (now, db.clock());
        // Its own stream, so the rest of the node's randomness is as before.
        let seed64 = u64::from_le_bytes(seed[..8].try_into().unwrap_or([0; 8]));
        let reconnect = Reconnect::new(
            cfg.reconnect_interval,
            cfg.jitter_percent,
            seed64 ^ 0x2ec0_22ec,
            now,
        );
        Ok(Self {
            tree: Tree {
                conns: ConnTable::new(),
                seen: Seen::new(cfg.seen_capacity),
            },
            me,
            db,
            rng,
            peers: PeerTable::new(),
            pulls: PullTracker::new(),
            budgets: SourceBudgets {
                admissions: Buckets::new(cfg.admissions, MAX_ADDRS_TRACKED),
                replies: Buckets::new(cfg.replies, MAX_ADDRS_TRACKED),
                serves: Buckets::new(
                    Budget {
                        rate: cfg.pulls_per_sec,
                        burst: cfg.pulls_per_sec.saturating_mul(4),
                    },
                    MAX_ADDRS_TRACKED,
                ),
                auth_failures: BTreeMap::new(),
            },
            schedule: Schedule {
                next_announce: now,
                // The first far sync goes out soon so seeds are contacted early.
                next_far_sync: now.plus(far / 10),
                next_rep_sync: now.plus(far),
                period: cfg.announce_period,
                started: now,
                windows: AnnounceWindows {
                    hears_offset: 0,
                    groups_offset: 0,
                },
            },
            expiry: ExpiryState {
                expired_at: BTreeMap::new(),
                markers_polled: 0,
                gc: GcState {
                    gc_mark,
                    gc_upto: 0,
                },
            },
            outbox: Outbox {
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                durable: Durability::new(),
                stats: Stats::default(),
            },
            membership: Membership {
                member_of,
                leaving: BTreeMap::new(),
                interest: Interest::default(),
            },
            frames: FrameState {
                codec,
                seq: 0,
                freshness: Freshness::new(Freshness::DEFAULT_CAP),
                opened_key: None,
            },
            far: FarState {
                seeds: cfg.seeds.clone(),
                far_syncs: 0,
                readdress: 0,
                reconnect,
            },
            autoclaim: AutoDriving { auto, policy_fp },
            swim: SwimState {
                detector: Detector::new(cfg.liveness.clone(), now),
                last_refutation: None,
            },
            cfg,
        })
    }

    /// The node's view of every group.
    #[must_use]
    pub fn db(&self) -> &TopologyDb {
        &self.db
    }

    /// Every group the node knows, sorted: those it holds (joined, or
    /// left with its own retractions kept) and those it only heard of.
    #[must_use]
    pub fn groups(&self) -> Vec<GroupName> {
        let mut all: Vec<GroupName> = self
            .db
            .groups()
            .chain(self.membership.interest.names())
            .cloned()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Whether this node holds `group`: it is a member (it holds a live
    /// own item there), or it left lately and lingers until its leave is
    /// known (see `finish_leaving`). Only then does it store, forward to,
    /// pull and serve it.
    #[must_use]
    pub fn holds(&self, group: &GroupName) -> bool {
        self.db.is_member(group.as_str()) || self.membership.leaving.contains_key(group)
    }

    /// The groups heard of but not joined, with their last-heard
    /// fingerprints.
    #[must_use]
    pub fn interest(&self) -> &Interest {
        &self.membership.interest
    }

    /// What the node knows about its peers.
    #[must_use]
    pub fn peers(&self) -> &PeerTable {
        &self.peers
    }

    /// Counters: frames and bytes by kind, drops by reason.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.outbox.stats
    }

    /// The sizes of this node's tables.
    #[must_use]
    pub fn sizes(&self) -> Sizes {
        let mut s = Sizes {
            peers: self.peers.len(),
            views: self.swim.detector.len(),
            markers: self.expiry.expired_at.len(),
            ..Sizes::default()
        };
        for g in self.db.groups() {
            if let Some(m) = self.db.message(g.as_str()) {
                s.members += m.clock().len();
                s.items += m.items().len();
            }
        }
        s
    }

    /// This node.
    #[must_use]
    pub fn identity(&self) -> &NodeIdentity {
        &self.me
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &ProtocolConfig {
        &self.cfg
    }

    /// Number of TCP connections open or opening.
    #[must_use]
    pub fn conn_count(&self) -> usize {
        self.tree.conns.len()
    }

    /// Whether no peer heard from within the last `window` ms announced a
    /// group fingerprint different from ours for a group we are a member
    /// of: the node lacks nothing it wants.
    #[must_use]
    pub fn converged(&self, now: Millis, window: u64) -> bool {
        self.peers
            .iter()
            .filter(|p| now.since(p.last_heard) <= window)
            .all(|p| {
                p.groups.iter().all(|(g, h)| {
                    now.since(h.at) > window
                        || !self.holds(g)
                        || self.fingerprint(g) == Some(h.fingerprint)
                })
            })
    }

    /// The next thing to send. Nothing while own state awaits persistence.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.outbox.durable.holding() {
            return None;
        }
        self.outbox.transmits.pop_front()
    }

    /// Own state to make durable before transmits are released: the whole
    /// own state after the writes so far, when it changed and no persist is
    /// outstanding. Report the outcome with [`Chatter::handle_persisted`]
    /// or [`Chatter::handle_persist_failed`].
    pub fn poll_persist(&mut self) -> Option<OwnState> {
        self.outbox.durable.poll(&self.db)
    }

    /// The expiry markers, when they changed since last polled: the shell
    /// stores them (best effort; they are not own state, so nothing waits
    /// for it) and gives them back through [`Chatter::restore_markers`]
    /// after a restart.
    pub fn poll_markers(&mut self) -> Option<Vec<(NodeId, u64)>> {
        let now = self.db.markers_changed();
        if now == self.expiry.markers_polled {
            return None;
        }
        self.expiry.markers_polled = now;
        Some(self.db.markers().collect())
    }

    /// Puts back the expiry markers stored before a restart (call right
    /// after [`Chatter::new`]). Each lasts another `expire_after` from
    /// `now` (the monotonic clock does not survive a reboot, so the time
    /// they had left is unknown): until then the expired members' writes
    /// at or below their markers are refused, as before the restart, so a
    /// peer that has not expired them yet cannot gossip them back. A member
    /// heard again first-hand is taken back at once, as usual.
    pub fn restore_markers(&mut self, now: Millis, markers: &[(NodeId, u64)]) {
        self.db.restore_markers(markers);
        for (m, _) in self.db.markers() {
            self.expiry.expired_at.entry(m).or_insert(now);
        }
        self.expiry.markers_polled = self.db.markers_changed();
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.outbox.events.pop_front()
    }

    /// Every output after an input, polled once in the documented order
    /// (the module docs): own state to persist is handed to `persist`
    /// (which stores it and says how that went, or [`Persisted::Later`]),
    /// then the markers, transmits and events are drained and the next
    /// deadline is read. The driver, the simulator and the tests all poll
    /// through this, so the order exists once.
    pub fn drain_outputs(
        &mut self,
        now: Millis,
        mut persist: impl FnMut(OwnState) -> Persisted,
    ) -> Outputs {
        while let Some(p) = self.poll_persist() {
            let clock = p.clock;
            match persist(p) {
                Persisted::Durable => self.handle_persisted(now, clock),
                Persisted::Failed => self.handle_persist_failed(now, clock),
                Persisted::Later => break,
            }
        }
        let markers = self.poll_markers();
        let transmits = core::iter::from_fn(|| self.poll_transmit()).collect();
        let events = core::iter::from_fn(|| self.poll_event()).collect();
        Outputs {
            markers,
            transmits,
            events,
            timeout: self.poll_timeout(),
        }
    }

    /// When [`Chatter::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        Timer::ALL.iter().filter_map(|t| self.deadline(*t)).min()
    }

    /// The persist of `clock` is durable: its writes' events are released,
    /// and the held transmits once no later write waits.
    pub fn handle_persisted(&mut self, _now: Millis, clock: u64) {
        let released = self.outbox.durable.persisted(clock);
        self.outbox.events.extend(released);
    }

    /// An own write or local request.
    ///
    /// # Errors
    /// [`ProtocolError::Model`] if the model refuses the write (e.g. a
    /// release of a range never claimed); nothing changed then.
    pub fn handle_command(&mut self, now: Millis, cmd: Command) -> Result<(), ProtocolError> {
        if cmd.is_write() {
            self.begin_write();
        }
        let written = match cmd {
            Command::Join(g) => self.db.join(g.as_str()).map(|w| w.into_iter().collect()),
            Command::Leave(g) => self.leave_command(now, g),
            Command::Auto {
                group,
                weight,
                priority,
                port,
            } => {
                let w = self.db.set_auto(group.as_str(), weight, port);
                if w.is_ok() {
                    self.autoclaim.auto.enable(group, priority);
                }
                w.map(|w| w.into_iter().collect())
            }
            Command::Manual(g) => {
                self.autoclaim.auto.disable(&g);
                self.db
                    .unset_auto(g.as_str())
                    .map(|w| w.into_iter().collect())
            }
            Command::Claim {
                group,
                range,
                priority,
                port,
            } => self
                .db
                .claim(group.as_str(), range, priority, port)
                .map(|w| w.into_iter().collect()),
            Command::Release { group, range } => self
                .db
                .release(group.as_str(), range)
                .map(|w| w.into_iter().collect()),
            Command::LeaveAll => Ok(self.leave_all()?),
            Command::AddSeed(addr) => {
                if !self.far.seeds.contains(&addr) {
                    self.far.seeds.push(addr);
                }
                self.send_announce(now, Some(addr));
                Ok(Vec::new())
            }
            Command::Forget(id) => {
                self.expire_member(now, id);
                Ok(Vec::new())
            }
        }
        .map_err(ProtocolError::Model)?;
        for w in written {
            self.after_own_write(now, &w);
        }
        Ok(())
    }

    /// A UDP datagram from `from`.
    pub fn handle_datagram(&mut self, now: Millis, from: SocketAddr, via: Via, bytes: &[u8]) {
        let src = Source {
            addr: from,
            via,
            conn: None,
        };
        if let Some((frame, version)) = self.open(now, src, bytes) {
            let sender = frame.sender;
            let digests = self.relay_candidate(src, &frame);
            self.dispatch(now, src, frame, version);
            let relay = match digests {
                Some(d) => self.relay_targets(now, src, sender, &d),
                None => Vec::new(),
            };
            for to in relay {
                self.outbox.stats.relays += 1;
                self.outbox.stats.bytes_out += bytes.len() as u64;
                self.outbox.transmits.push_back(Transmit::Unicast {
                    to,
                    bytes: bytes.to_vec(),
                });
            }
        }
    }

    /// A TCP connection from `from` was accepted; returns the id to use for it.
    pub fn handle_accept(&mut self, now: Millis, from: SocketAddr) -> ConnId {
        self.make_room(now);
        self.tree.conns.add(from, None, ConnState::Open, now)
    }

    /// One whole frame arrived on a TCP connection.
    pub fn handle_frame(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) {
        let Some(addr) = self.tree.conns.get(conn).map(|c| c.addr) else {
            return;
        };
        let src = Source {
            addr,
            via: Via::Unicast,
            conn: Some(conn),
        };
        if let Some((frame, version)) = self.open(now, src, bytes) {
            if let Some(c) = self.tree.conns.get_mut(conn) {
                c.last_used = now;
                c.peer = Some(frame.sender);
            }
            self.dispatch(now, src, frame, version);
        }
    }

    /// A TCP connection opened, failed or closed.
    pub fn handle_conn_event(&mut self, now: Millis, conn: ConnId, event: ConnEvent) {
        match event {
            ConnEvent::Opened => {
                let queue = match self.tree.conns.get_mut(conn) {
                    Some(c) => {
                        c.state = ConnState::Open;
                        c.last_used = now;
                        std::mem::take(&mut c.queue)
                    }
                    None => return,
                };
                for p in queue {
                    self.send_on(now, conn, p);
                }
            }
            ConnEvent::Failed | ConnEvent::Closed => {
                let window = if event == ConnEvent::Failed {
                    super::conns::RESEND_WINDOW
                } else {
                    super::conns::RESEND_AFTER_CLOSE
                };
                if let Some(c) = self.tree.conns.remove(conn) {
                    let to = c.to;
                    for p in c.unsent(now, window) {
                        self.retry(now, to, p);
                    }
                }
            }
        }
    }

    /// Sends an announce now (multicast, or to the seeds without multicast):
    /// the final announce of a shutdown, so peers learn our last state.
    pub fn announce_now(&mut self, now: Millis) {
        if self.cfg.multicast {
            self.send_announce(now, None);
        } else {
            let seeds = self.far.seeds.clone();
            for s in seeds {
                self.send_announce(now, Some(s));
            }
        }
    }

    /// Timers: announces, far syncs, overdue pulls, idle connections.
    pub fn handle_timeout(&mut self, now: Millis) {
        for timer in Timer::ALL {
            self.on_timer(timer, now);
        }
    }

    /// This node's view of a peer's liveness.
    #[must_use]
    pub fn liveness(&self, id: NodeId) -> Liveness {
        self.swim.detector.state(id)
    }

    /// The servers of `key` in `group` as [`TopologyDb::lookup`] orders
    /// them, each with its liveness in this node's view, the down ones
    /// moved last (a client tries the live ones first and may skip the
    /// rest). The model stays liveness-free: nothing is removed from it.
    #[must_use]
    pub fn lookup(&self, group: &str, key: u32) -> Vec<(crate::model::Server, Liveness)> {
        let mut out: Vec<_> = self
            .db
            .lookup(group, key)
            .into_iter()
            .map(|s| {
                let state = if s.member == self.me.id {
                    Liveness::Alive
                } else {
                    self.swim.detector.state(s.member)
                };
                (s, state)
            })
            .collect();
        out.sort_by_key(|(_, state)| *state == Liveness::Down);
        out
    }

    /// Whether this node represents its multicast island (shown by `status`):
    /// it hears no peer with a smaller id.
    pub fn is_representative(&self, now: Millis) -> bool {
        self.my_rep(now).is_some_and(|r| r.id == self.me.id)
    }
}
