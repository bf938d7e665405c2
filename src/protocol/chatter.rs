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
use super::durability::{Durability, OwnState};
use super::error::ProtocolError;
use super::interest::Interest;
use super::io::{Command, ConnEvent, ConnId, Event, Persist, Transmit, Via};
use super::key_seen::KeySeen;
use super::liveness::{Detector, Probing, Transition};
use super::peers::{PeerTable, usable_addr};
use super::rate::{Buckets, Budget};
use super::reconnect::Reconnect;
use super::stats::{Sizes, Stats};
use super::time::Millis;
use super::tree;

mod keys;
mod reach;
mod rollback;

/// Who this node is in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The node's id (persisted across runs).
    pub id: NodeId,
    /// Bumped and made durable at every start, before the first frame.
    pub incarnation: u64,
    /// The addresses peers reach it at (UDP and TCP share the port).
    pub addrs: Vec<SocketAddr>,
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
    me: Identity,
    seq: u64,
    db: TopologyDb,
    codec: Codec,
    rng: ChaCha8Rng,
    peers: PeerTable,
    conns: ConnTable,
    seen: Seen,
    pulls: PullTracker,
    freshness: Freshness,
    detector: Detector,
    /// When we last refuted a suspicion of ourselves at once.
    last_refutation: Option<Millis>,
    /// Members this node expired, and when.
    expired_at: BTreeMap<NodeId, Millis>,
    /// [`TopologyDb::markers_changed`] when the markers were last polled.
    markers_polled: u64,
    /// New member ids admitted per source address.
    admissions: Buckets<IpAddr>,
    /// Answers to unicast frames (announce replies, acks, relayed pings)
    /// per source address.
    replies: Buckets<IpAddr>,
    /// Pulls served per source address (as well as per member id).
    serves: Buckets<IpAddr>,
    seeds: Vec<SocketAddr>,
    /// Rounds of unicast announces to every far peer still owed since our
    /// addresses changed (`set_addrs`).
    readdress: u8,
    next_announce: Millis,
    next_far_sync: Millis,
    next_rep_sync: Millis,
    /// When this instance started.
    started: Millis,
    hears_offset: usize,
    groups_offset: usize,
    /// The announce period, recomputed at each announce from the number of
    /// multicast peers heard (so per-frame work does not scan the table).
    period: u64,
    transmits: VecDeque<Transmit>,
    /// Own writes not durable yet: what is held, and how to undo them.
    durable: Durability,
    events: VecDeque<Event>,
    stats: Stats,
    auth_failures: BTreeMap<SocketAddr, u64>,
    /// Auto-claim, for the groups with an own auto marker.
    auto: AutoMode,
    /// [`super::AutoConfig::fingerprint`], announced.
    policy_fp: u64,
    /// Tombstone collection: when the current period started and the own
    /// clock then. Retractions at or below the previous period's clock are
    /// at least `tombstone_ttl` old.
    gc_mark: (Millis, u64),
    /// The own clock at the start of the previous period (collectable).
    gc_upto: u64,
    /// The groups known but not joined: names and last-heard fingerprints.
    interest: Interest,
    /// The groups this node is a member of, as of its last own write (to
    /// see a write join or leave).
    held: BTreeSet<GroupName>,
    /// Far syncs made (they alternate between a random far peer and a far
    /// member of one of our groups).
    far_syncs: u64,
    /// Groups left, held on since when: until the others announce our
    /// fingerprint (they have the leave), at least [`LINGER_MIN`], at most
    /// [`LINGER_MAX`].
    leaving: BTreeMap<GroupName, Millis>,
    /// Contacts across a cut: seeds, unreachable islands, down members.
    reconnect: Reconnect,
    /// The key of the frame [`Chatter::open`] just opened, for `dispatch`
    /// to note on its sender (replay-checked kinds only).
    opened_key: Option<KeySeen>,
}

impl Chatter {
    /// A node starting at `now`, from its persisted own state (if any).
    ///
    /// # Errors
    /// [`ProtocolError::Restore`] if the persisted state is not valid.
    pub fn new(
        cfg: ProtocolConfig,
        me: Identity,
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
        let held = db.my_groups().cloned().collect();
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
            seeds: cfg.seeds.clone(),
            seen: Seen::new(cfg.seen_capacity),
            me,
            seq: 0,
            db,
            codec,
            rng,
            peers: PeerTable::new(),
            conns: ConnTable::new(),
            pulls: PullTracker::new(),
            freshness: Freshness::new(Freshness::DEFAULT_CAP),
            detector: Detector::new(cfg.liveness.clone(), now),
            last_refutation: None,
            expired_at: BTreeMap::new(),
            markers_polled: 0,
            admissions: Buckets::new(cfg.admissions, MAX_ADDRS_TRACKED),
            replies: Buckets::new(cfg.replies, MAX_ADDRS_TRACKED),
            serves: Buckets::new(
                Budget {
                    rate: cfg.pulls_per_sec,
                    burst: cfg.pulls_per_sec.saturating_mul(4),
                },
                MAX_ADDRS_TRACKED,
            ),
            readdress: 0,
            next_announce: now,
            // The first far sync goes out soon so seeds are contacted early.
            next_far_sync: now.plus(far / 10),
            next_rep_sync: now.plus(far),
            started: now,
            hears_offset: 0,
            groups_offset: 0,
            period: cfg.announce_period,
            transmits: VecDeque::new(),
            durable: Durability::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            auth_failures: BTreeMap::new(),
            auto,
            policy_fp,
            gc_mark,
            gc_upto: 0,
            interest: Interest::default(),
            held,
            far_syncs: 0,
            leaving: BTreeMap::new(),
            reconnect,
            opened_key: None,
            cfg,
        })
    }

    // --- getters ------------------------------------------------------------

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
            .chain(self.interest.names())
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
        self.db.is_member(group.as_str()) || self.leaving.contains_key(group)
    }

    /// The groups heard of but not joined, with their last-heard
    /// fingerprints.
    #[must_use]
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// What the node knows about its peers.
    #[must_use]
    pub fn peers(&self) -> &PeerTable {
        &self.peers
    }

    /// Counters: frames and bytes by kind, drops by reason.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The sizes of this node's tables.
    #[must_use]
    pub fn sizes(&self) -> Sizes {
        let mut s = Sizes {
            peers: self.peers.len(),
            views: self.detector.len(),
            markers: self.expired_at.len(),
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
    pub fn identity(&self) -> &Identity {
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
        self.conns.len()
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

    // --- outputs ------------------------------------------------------------

    /// The next thing to send. Nothing while own state awaits persistence.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.durable.holding() {
            return None;
        }
        self.transmits.pop_front()
    }

    /// Own state to make durable before transmits are released: the whole
    /// own state after the writes so far, when it changed and no persist is
    /// outstanding. Report the outcome with [`Chatter::handle_persisted`]
    /// or [`Chatter::handle_persist_failed`].
    pub fn poll_persist(&mut self) -> Option<Persist> {
        self.durable.poll(&self.db)
    }

    /// The expiry markers, when they changed since last polled: the shell
    /// stores them (best effort; they are not own state, so nothing waits
    /// for it) and gives them back through [`Chatter::restore_markers`]
    /// after a restart.
    pub fn poll_markers(&mut self) -> Option<Vec<(NodeId, u64)>> {
        let now = self.db.markers_changed();
        if now == self.markers_polled {
            return None;
        }
        self.markers_polled = now;
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
            self.expired_at.entry(m).or_insert(now);
        }
        self.markers_polled = self.db.markers_changed();
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Chatter::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        let mut next = self
            .next_far_sync
            .min(self.next_rep_sync)
            .min(self.detector.next_deadline())
            .min(self.reconnect.next_deadline())
            .min(self.next_expiry());
        if self.cfg.multicast {
            next = next.min(self.next_announce);
        }
        if let Some(t) = self.pulls.next_deadline() {
            next = next.min(t);
        }
        if let Some(t) = self.auto.next_deadline() {
            next = next.min(t);
        }
        if let Some(t) = self
            .pulls
            .next_due(self.cfg.pull_quiet, self.cfg.pull_max_delay)
        {
            next = next.min(t);
        }
        if let Some(t) = self
            .conns
            .next_expiry(self.cfg.conn_idle, self.cfg.connect_timeout)
        {
            next = next.min(t);
        }
        Some(next)
    }

    // --- inputs -------------------------------------------------------------

    /// The persist of `clock` is durable: its writes' events are released,
    /// and the held transmits once no later write waits.
    pub fn handle_persisted(&mut self, _now: Millis, clock: u64) {
        let released = self.durable.persisted(clock);
        self.events.extend(released);
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
            Command::Leave(g) => {
                let me = self.me.id;
                let markers = self.db.auto_members(g.as_str());
                let mine = markers.iter().find(|m| m.0 == me).map(|m| m.2);
                match mine {
                    // An auto member others can take over from: leave
                    // gracefully (hand the ranges over, then leave).
                    Some(port)
                        if markers.iter().any(|m| m.0 != me) && !self.auto.is_draining(&g) =>
                    {
                        let w = self.db.unset_auto(g.as_str());
                        if w.is_ok() {
                            self.auto.drain(g, port, now);
                        }
                        w.map(|w| w.into_iter().collect())
                    }
                    _ => {
                        self.auto.disable(&g);
                        self.db.leave(g.as_str()).map(|w| w.into_iter().collect())
                    }
                }
            }
            Command::Auto {
                group,
                weight,
                priority,
                port,
            } => {
                let w = self.db.set_auto(group.as_str(), weight, port);
                if w.is_ok() {
                    self.auto.enable(group, priority);
                }
                w.map(|w| w.into_iter().collect())
            }
            Command::Manual(g) => {
                self.auto.disable(&g);
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
            Command::LeaveAll => {
                let groups: Vec<GroupName> = self.db.my_groups().cloned().collect();
                let mut all = Vec::new();
                for g in groups {
                    self.auto.disable(&g);
                    all.extend(self.db.leave(g.as_str()).map_err(ProtocolError::Model)?);
                }
                Ok(all)
            }
            Command::AddSeed(addr) => {
                if !self.seeds.contains(&addr) {
                    self.seeds.push(addr);
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
                self.stats.relays += 1;
                self.stats.bytes_out += bytes.len() as u64;
                self.transmits.push_back(Transmit::Unicast {
                    to,
                    bytes: bytes.to_vec(),
                });
            }
        }
    }

    /// Interest's repair path across routers (ALGORITHM.md 8.6). A far
    /// node's own unicast announce (a far sync) names a group we are not a
    /// member of, and a member on our LAN announces it with another
    /// fingerprint: they disagree, and may not know each other (a member
    /// learns a far member's address only by hearing from it). We pass the
    /// frame on, unchanged, to at most [`RELAY_FANOUT`] such members. It is
    /// the far node's own authenticated announce, so the member learns its
    /// address, answers it there and pulls if it lacks something.
    ///
    /// Kept rare: only a frame that came straight from its sender (relays
    /// never chain); only a member that announced its fingerprint lately
    /// and has not changed it for `pull_max_delay` (a write the broadcast
    /// is delivering moves it); never for a group we are a member of (we
    /// compare with the far node ourselves, and our LAN with us); the same
    /// far node to the same member once per [`RELAY_PERIOD`]; within the
    /// per-address answer budget.
    fn relay_targets(
        &mut self,
        now: Millis,
        src: Source,
        sender: NodeId,
        digests: &[GroupDigest],
    ) -> Vec<SocketAddr> {
        let ttl = self.hears_ttl(now);
        // A member whose fingerprint moved lately may be taking in a write
        // the broadcast is delivering anyway: only one stuck that long, and
        // heard lately (the announce period grows with the LAN).
        let settled = self.cfg.pull_max_delay;
        let fresh = settled.max(self.period.saturating_mul(2));
        // Only a sender admitted to the peer table (dispatch ran) and not
        // on our LAN (which hears its multicast announces already).
        let Some(far) = self.peers.get(sender) else {
            return Vec::new();
        };
        if self.is_local(far, now, ttl) {
            return Vec::new();
        }
        let mut candidates: Vec<PeerRef> = self
            .peers
            .iter()
            .filter(|p| p.id != sender && self.is_local(p, now, ttl))
            .filter(|p| !far.relayed_lately(p.id, now, RELAY_PERIOD))
            .filter(|p| self.detector.state(p.id) != Liveness::Down)
            .filter(|p| {
                digests.iter().any(|d| {
                    !self.holds(&d.group)
                        && p.groups.get(&d.group).is_some_and(|h| {
                            h.fingerprint != d.fingerprint
                                && now.since(h.since) >= settled
                                && now.since(h.at) <= fresh
                        })
                })
            })
            .filter_map(|p| p.peer_ref())
            .collect();
        shuffle(&mut self.rng, &mut candidates);
        let mut out = Vec::new();
        for to in candidates {
            if out.len() >= RELAY_FANOUT || !self.replies.allow(src.addr.ip(), now) {
                break;
            }
            let noted = self
                .peers
                .get_mut(sender)
                .is_some_and(|x| x.note_relayed(to.id, now, RELAY_PERIOD));
            if !noted {
                break;
            }
            out.push(to.addr);
        }
        out
    }

    /// The digests of `frame` if it may be passed on (see
    /// [`Chatter::relay_targets`]): an announce that came by unicast
    /// datagram straight from its sender (the source is one of its
    /// addresses), with groups, while we use multicast.
    fn relay_candidate(&self, src: Source, frame: &Frame) -> Option<Vec<GroupDigest>> {
        let wire::Payload::Announce(a) = &frame.payload else {
            return None;
        };
        let direct = src.via == Via::Unicast && src.conn.is_none() && a.addrs.contains(&src.addr);
        (self.cfg.multicast && direct && !a.groups.entries.is_empty())
            .then(|| a.groups.entries.clone())
    }

    /// A TCP connection from `from` was accepted; returns the id to use for it.
    pub fn handle_accept(&mut self, now: Millis, from: SocketAddr) -> ConnId {
        self.make_room(now);
        self.conns.add(from, None, ConnState::Open, now)
    }

    /// One whole frame arrived on a TCP connection.
    pub fn handle_frame(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) {
        let Some(addr) = self.conns.get(conn).map(|c| c.addr) else {
            return;
        };
        let src = Source {
            addr,
            via: Via::Unicast,
            conn: Some(conn),
        };
        if let Some((frame, version)) = self.open(now, src, bytes) {
            if let Some(c) = self.conns.get_mut(conn) {
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
                let queue = match self.conns.get_mut(conn) {
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
                if let Some(c) = self.conns.remove(conn) {
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
            let seeds = self.seeds.clone();
            for s in seeds {
                self.send_announce(now, Some(s));
            }
        }
    }

    /// Timers: announces, far syncs, overdue pulls, idle connections.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.probe(now);
        self.reconnect(now);
        self.expire_dead(now);
        self.gc_period(now);
        self.finish_leaving(now);
        self.auto_claim(now);
        if self.cfg.multicast && now >= self.next_announce {
            self.period = self.announce_period(now);
            self.send_announce(now, None);
            self.readdress_again(now);
            self.next_announce = now.plus(jittered(
                &mut self.rng,
                self.period,
                self.cfg.jitter_percent,
            ));
        }
        if now >= self.next_rep_sync {
            if self.is_representative(now) {
                let rep_ttl = self.rep_ttl();
                let ttl = self.hears_ttl(now);
                let far_reps: Vec<SocketAddr> = self
                    .peers
                    .iter()
                    .filter(|p| p.is_rep(now, rep_ttl) && !self.is_local(p, now, ttl))
                    .filter_map(|p| p.addr)
                    .collect();
                for addr in far_reps {
                    self.send_announce(now, Some(addr));
                }
            }
            self.next_rep_sync = now.plus(jittered(
                &mut self.rng,
                self.cfg.rep_sync_period,
                self.cfg.jitter_percent,
            ));
        }
        if now >= self.next_far_sync {
            self.far_sync(now);
            self.next_far_sync = now.plus(jittered(
                &mut self.rng,
                self.cfg.far_sync_period,
                self.cfg.jitter_percent,
            ));
        }
        for (group, peer) in self
            .pulls
            .take_due(now, self.cfg.pull_quiet, self.cfg.pull_max_delay)
        {
            if !self.pulls.busy(&group, now) && self.holds(&group) {
                self.pull_from(now, &group, peer);
            }
        }
        for (group, flight) in self.pulls.overdue(now) {
            if !self.holds(&group) {
                self.pulls.abandon(&group);
                continue;
            }
            let holder = self
                .holders(&group)
                .into_iter()
                .filter(|id| !flight.tried.contains(id))
                .collect::<Vec<_>>();
            match pick(&mut self.rng, &holder) {
                Some(next) => self.pull_from(now, &group, next),
                None => self.pulls.abandon(&group),
            }
        }
        for conn in self
            .conns
            .expired(now, self.cfg.conn_idle, self.cfg.connect_timeout)
        {
            if let Some(c) = self.conns.remove(conn) {
                self.transmits.push_back(Transmit::Close { conn });
                for p in c.queue {
                    self.reroute(now, p.fwd);
                }
            }
        }
    }

    // --- receiving ----------------------------------------------------------

    /// Decodes and checks a frame, with the version it came in; counts
    /// and drops what fails.
    fn open(&mut self, now: Millis, src: Source, bytes: &[u8]) -> Option<(Frame, u8)> {
        self.stats.bytes_in += bytes.len() as u64;
        let decoded = match self.codec.decode(bytes) {
            Ok(d) => d,
            Err(e) => {
                self.stats.drop(e.reason());
                if matches!(
                    e,
                    wire::WireError::UnknownKeyId(_) | wire::WireError::AuthFailed
                ) {
                    let n = self.auth_failures.entry(src.addr).or_insert(0);
                    *n += 1;
                    // Repeated: from the second failure, then at 4, 8, 16...
                    if n.is_power_of_two() && *n >= 2 {
                        let failures = *n;
                        self.events.push_back(Event::KeyMismatch {
                            from: src.addr,
                            failures,
                        });
                    }
                }
                return None;
            }
        };
        self.auth_failures.remove(&src.addr);
        let frame = decoded.frame;
        if frame.sender == self.me.id {
            // Our own multicast, looped back.
            self.stats.drop("own");
            return None;
        }
        let kind = frame.payload.kind();
        if kind.needs_freshness()
            && let Err(e) = self
                .freshness
                .check(frame.sender, frame.incarnation, frame.seq)
        {
            self.stats.drop(e.reason());
            return None;
        }
        self.stats.frame_in(kind);
        // Replay-checked kinds only (announces and pings come from every
        // peer every few seconds): a replayed old frame says nothing.
        self.opened_key = kind.needs_freshness().then_some(KeySeen {
            key_id: decoded.key_id,
            at: now,
        });
        Some((frame, decoded.version))
    }

    fn dispatch(&mut self, now: Millis, src: Source, frame: Frame, version: u8) {
        let sender = frame.sender;
        // New members from one address are admitted at a bounded rate: a
        // key holder inventing ids cannot flush the peer table.
        if self.peers.get(sender).is_none() && !self.admissions.allow(src.addr.ip(), now) {
            self.stats.drop("admission");
            return;
        }
        let key_seen = self.opened_key.take();
        let (peer, new) = self.peers.entry(sender, now);
        peer.last_heard = now;
        peer.key_seen = key_seen.or(peer.key_seen);
        peer.note_version(version, frame.incarnation);
        if frame.incarnation > peer.incarnation {
            // A restart: what it reported about us no longer holds.
            peer.incarnation = frame.incarnation;
            peer.hears_me = None;
            peer.hears.clear();
        }
        if src.via == Via::Multicast {
            peer.last_multicast = Some(now);
        }
        // Its address follows its own frames (`Peer::note_addr`): an
        // announce says where it is, whoever passed it on; a replay-checked
        // datagram from a restarted sender shows where it is now.
        let frame_at = (frame.incarnation, frame.seq);
        let moved = match &frame.payload {
            wire::Payload::Announce(a) => usable_addr(&self.me.addrs, &a.addrs)
                .is_some_and(|own| peer.note_addr(own, frame_at)),
            p if src.conn.is_none() && p.kind().needs_freshness() => {
                peer.note_source(src.addr, frame_at)
            }
            _ => false,
        };
        if src.conn.is_none() {
            peer.note_hearsay(src.addr);
        }
        if new {
            let addr = peer.addr.unwrap_or(src.addr);
            self.events
                .push_back(Event::PeerDiscovered { id: sender, addr });
        } else if moved && let Some(addr) = peer.addr {
            self.events.push_back(Event::PeerMoved { id: sender, addr });
            self.moved(now, PeerRef { id: sender, addr });
        }
        if let Some(t) = self
            .detector
            .heard(sender, frame.incarnation, frame.seq, now)
        {
            self.transition(now, t);
        }
        // An expired member heard first-hand in a fresh frame (an announce
        // or a probe, which passed the replay check; a delta may be an old
        // one replayed) is back: its writes are taken again (announces show
        // what we lack, and we pull it).
        if frame.payload.kind().needs_freshness() && self.expired_at.remove(&sender).is_some() {
            self.db.clear_expired(sender);
        }
        match frame.payload {
            wire::Payload::Announce(mut a) => {
                let rumors = std::mem::take(&mut a.rumors);
                self.on_announce(now, sender, src, a);
                self.on_rumors(now, sender, src, rumors);
            }
            wire::Payload::Pull(p) => self.on_pull(now, sender, src, p),
            wire::Payload::Delta(m) => self.on_delta(now, sender, src, m),
            wire::Payload::Forward(f) => self.on_forward(now, sender, f),
            wire::Payload::Ping(p) => {
                self.on_rumors(now, sender, src, p.rumors);
                if !self.replies.allow(src.addr.ip(), now) {
                    self.stats.drop("reply_budget");
                    return;
                }
                let to = self.reply_addr(sender, src);
                let ack = Probe {
                    nonce: p.nonce,
                    rumors: self.detector.take_rumors(Rumor::MAX_PER_FRAME),
                };
                self.send_datagram(
                    now,
                    Some(to),
                    wire::Payload::Ack(ack),
                    self.version_for(sender),
                );
            }
            wire::Payload::Ack(p) => {
                self.on_rumors(now, sender, src, p.rumors);
                if let Some(relay) = self.detector.acked(p.nonce, sender)
                    && let Some(to) = self.peers.get(relay.requester).and_then(|q| q.addr)
                {
                    let ack = Probe {
                        nonce: relay.nonce,
                        rumors: Vec::new(),
                    };
                    let v = self.version_for(relay.requester);
                    self.send_datagram(now, Some(to), wire::Payload::Ack(ack), v);
                }
            }
            wire::Payload::PingReq(req) => {
                // A ping on another's behalf is a reflection: budgeted.
                if !self.replies.allow(src.addr.ip(), now) {
                    self.stats.drop("reply_budget");
                    return;
                }
                self.ping_for(now, sender, src.addr, req);
            }
        }
    }

    /// Liveness rumors piggybacked on a frame.
    ///
    /// A suspicion of this node is refuted at once, not only by piggyback:
    /// an announce carrying the refutation goes to our LAN and to the peer
    /// that told us (at most one pair per second), since a refutation that
    /// waits for the next probes can lose the race with the suspicion
    /// timeout on a large or lossy cluster.
    fn on_rumors(&mut self, now: Millis, sender: NodeId, src: Source, rumors: Vec<Rumor>) {
        let mut refute = false;
        for r in rumors {
            if r.id == self.me.id {
                refute |= self
                    .detector
                    .about_me(r, self.me.id, self.me.incarnation, self.seq + 1);
            } else if let Some(t) = self.detector.rumor(r, now) {
                self.told_restart(t, sender);
                self.transition(now, t);
            }
        }
        if refute && self.last_refutation.is_none_or(|t| now.since(t) >= 1_000) {
            self.last_refutation = Some(now);
            if self.cfg.multicast {
                self.send_announce(now, None);
            }
            let to = self.reply_addr(sender, src);
            self.send_announce(now, Some(to));
        }
    }

    /// Runs the auto-claim decisions that are due and writes their plans;
    /// finishes graceful leaves that are over.
    fn auto_claim(&mut self, now: Millis) {
        for group in self.auto.due(now) {
            self.auto_decide(now, &group);
            if self.auto.drained(&group, now, &self.db) {
                self.begin_write();
                self.auto.disable(&group);
                match self.db.leave(group.as_str()) {
                    Ok(Some(w)) => self.after_own_write(now, &w),
                    Ok(None) => {}
                    Err(_) => self.stats.drop("clock_exhausted"),
                }
            }
        }
    }

    /// One auto-claim decision of `group`, written.
    fn auto_decide(&mut self, now: Millis, group: &GroupName) {
        let detector = &self.detector;
        let Some((plan, priority, port)) = self
            .auto
            .decide(now, group, &self.db, |id| detector.observed(id))
        else {
            return;
        };
        if plan.is_empty() {
            return;
        }
        self.begin_write();
        match self
            .db
            .rewrite_claims(group.as_str(), &plan.claim, &plan.release, priority, port)
        {
            Ok(Some(w)) => {
                self.after_own_write(now, &w);
                let n = |v: &Vec<u32>| u32::try_from(v.len()).unwrap_or(u32::MAX);
                self.own_event(Event::AutoClaimed {
                    group: group.clone(),
                    claimed: n(&plan.claimed),
                    released: n(&plan.released),
                    waiting: n(&plan.waiting),
                    held: n(&plan.held),
                });
            }
            Ok(None) => {}
            Err(_) => self.stats.drop("clock_exhausted"),
        }
    }

    /// A peer's liveness changed.
    fn transition(&mut self, now: Millis, t: Transition) {
        self.reconnect.observe(now, t.id, t.state);
        if t.restarted && self.address_doubtful(t.id) {
            // It restarted, maybe elsewhere: our probe finds out soon, and
            // the helpers it asks introduce it (`ping_for`).
            self.detector.probe_again(t.id);
        }
        self.auto.touch_all();
        self.events.push_back(Event::Liveness {
            id: t.id,
            state: t.state,
            restarted: t.restarted,
        });
    }

    /// The probe round: suspect an unanswered target, ask others after the
    /// ping timeout, and ping the next target each period.
    fn probe(&mut self, now: Millis) {
        if let Some(p) = self.detector.probing
            && !p.indirect_sent
            && now >= p.sent.plus(self.detector.cfg.ping_timeout)
            && now < self.detector.next_probe
        {
            let helpers = self.pick_helpers(p.target, now);
            let target = self.peers.get(p.target).and_then(|q| q.peer_ref());
            if let Some(target) = target {
                for h in helpers {
                    let v = self.version_for(h.id);
                    let req = PingReq {
                        nonce: p.nonce,
                        target,
                    };
                    self.send_datagram(now, Some(h.addr), wire::Payload::PingReq(req), v);
                }
            }
            if let Some(q) = self.detector.probing.as_mut() {
                q.indirect_sent = true;
            }
        }
        if now >= self.detector.next_probe {
            if let Some(p) = self.detector.probing.take()
                && let Some(t) = self.detector.suspect(p.target, p.sent, now)
            {
                self.transition(now, t);
                // Tell the suspect first (Lifeguard's buddy system): if it is
                // alive and this path works again, it acks and refutes now
                // instead of after the suspicion has spread.
                if let Some(addr) = self.peers.get(p.target).and_then(|q| q.addr) {
                    let ping = Probe {
                        nonce: self.rng.next_u64(),
                        rumors: self
                            .detector
                            .take_rumors_for(p.target, Rumor::MAX_PER_FRAME),
                    };
                    let v = self.version_for(p.target);
                    self.send_datagram(now, Some(addr), wire::Payload::Ping(ping), v);
                }
            }
            let mut candidates: Vec<NodeId> = self
                .peers
                .iter()
                .filter(|q| q.addr.is_some() && q.max_version >= FrameKind::Ping.since_version())
                .filter(|q| self.detector.state(q.id) != Liveness::Down)
                .map(|q| q.id)
                .collect();
            candidates.sort_unstable();
            let rng = &mut self.rng;
            let target = self.detector.next_target(&candidates, |v| shuffle(rng, v));
            if let Some(target) = target
                && let Some(addr) = self.peers.get(target).and_then(|q| q.addr)
            {
                let nonce = self.rng.next_u64();
                self.detector.probing = Some(Probing {
                    target,
                    nonce,
                    sent: now,
                    indirect_sent: false,
                });
                let ping = Probe {
                    nonce,
                    rumors: self.detector.take_rumors_for(target, Rumor::MAX_PER_FRAME),
                };
                let v = self.version_for(target);
                self.send_datagram(now, Some(addr), wire::Payload::Ping(ping), v);
            }
            let period = self.detector.cfg.probe_period;
            self.detector.next_probe =
                now.plus(jittered(&mut self.rng, period, self.cfg.jitter_percent));
        }
        for t in self.detector.expire(now) {
            self.transition(now, t);
        }
    }

    /// Expires the peers down for longer than `expire_after`, and forgets
    /// markers older than that again.
    fn expire_dead(&mut self, now: Millis) {
        let after = self.cfg.expire_after;
        let due: Vec<NodeId> = self
            .detector
            .down()
            .filter(|(id, since)| now.since(*since) >= after && !self.expired_at.contains_key(id))
            .map(|(id, _)| id)
            .collect();
        for id in due {
            self.expire_member(now, id);
        }
        let old: Vec<NodeId> = self
            .expired_at
            .iter()
            .filter(|(_, at)| now.since(**at) >= after)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            // The marker has done its job (no node gossips the items back
            // any more): forget the member everywhere, so a cluster whose
            // boards are replaced for years keeps flat tables.
            self.expired_at.remove(&id);
            self.db.clear_expired(id);
            self.detector.forget(id);
            self.reconnect.forget(id);
            self.peers.remove(id);
        }
    }

    fn expire_member(&mut self, now: Millis, id: NodeId) {
        if id == self.me.id {
            return;
        }
        self.expired_at.insert(id, now);
        if let Some(upto) = self.db.expire(id) {
            self.events.push_back(Event::Expired { id, upto });
            for g in self.db.groups().cloned().collect::<Vec<_>>() {
                self.events.push_back(Event::Changed {
                    group: g,
                    origin: id,
                });
            }
        }
    }

    /// When the next member expires or the next marker is forgotten.
    fn next_expiry(&self) -> Millis {
        let after = self.cfg.expire_after;
        let down = self
            .detector
            .down()
            .filter(|(id, _)| !self.expired_at.contains_key(id))
            .map(|(_, since)| since.plus(after));
        let markers = self.expired_at.values().map(|at| at.plus(after));
        down.chain(markers).min().unwrap_or(Millis::NEVER)
    }

    /// Up to `indirect` random alive peers other than `target` to probe it
    /// for us, preferring our LAN (a different path than ours).
    fn pick_helpers(&mut self, target: NodeId, now: Millis) -> Vec<PeerRef> {
        let want = self.detector.cfg.indirect;
        let ttl = self.hears_ttl(now);
        let (mut local, mut far): (Vec<PeerRef>, Vec<PeerRef>) = (Vec::new(), Vec::new());
        for q in self.peers.iter() {
            if q.id == target
                || q.max_version < FrameKind::PingReq.since_version()
                || self.detector.state(q.id) != Liveness::Alive
            {
                continue;
            }
            if let Some(r) = q.peer_ref() {
                if q.heard_by_multicast(now, ttl) {
                    local.push(r);
                } else {
                    far.push(r);
                }
            }
        }
        shuffle(&mut self.rng, &mut local);
        shuffle(&mut self.rng, &mut far);
        let mut first = self.order_helpers(target, local, far);
        first.truncate(want);
        first
    }

    /// This node's view of a peer's liveness.
    #[must_use]
    pub fn liveness(&self, id: NodeId) -> Liveness {
        self.detector.state(id)
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
                    self.detector.state(s.member)
                };
                (s, state)
            })
            .collect();
        out.sort_by_key(|(_, state)| *state == Liveness::Down);
        out
    }

    fn on_announce(&mut self, now: Millis, sender: NodeId, src: Source, a: Announce) {
        let me = self.me.id;
        let my_fp = self.groups_fp();
        let reply_due;
        {
            let Some(peer) = self.peers.get_mut(sender) else {
                return;
            };
            peer.max_version = a.max_version;
            if a.hears.entries.contains(&me) {
                peer.hears_me = Some(now);
            } else if a.hears.is_whole() {
                peer.hears_me = None;
            }
            for h in &a.hears.entries {
                peer.note_hears(*h, now);
            }
            peer.groups_fp = Some(a.groups_fp);
            let was = peer.policy_fp.replace(a.policy_fp);
            if was != Some(a.policy_fp) && (a.policy_fp != self.policy_fp || was.is_some()) {
                self.events.push_back(Event::PolicyMismatch {
                    id: sender,
                    theirs: a.policy_fp,
                    ours: self.policy_fp,
                    same: a.policy_fp == self.policy_fp,
                });
            }
            if a.groups.is_whole() {
                let listed: Vec<GroupName> =
                    a.groups.entries.iter().map(|d| d.group.clone()).collect();
                peer.retain_groups(&listed);
            }
            for d in &a.groups.entries {
                peer.note_group(&d.group, d.fingerprint, now);
            }
            if let Some(h) = a.heads.first()
                && h.addr != UNKNOWN_REP
            {
                peer.rep_of = Some(h.id);
            }
            reply_due = src.via == Via::Unicast
                && peer
                    .last_reply
                    .is_none_or(|t| now.since(t) >= self.cfg.far_sync_period / 2);
            if reply_due {
                peer.last_reply = Some(now);
            }
        }
        // heads[0] is the sender's own island representative (first-hand);
        // the rest are other islands' representatives the sender knows
        // first-hand, trusted one hop into the sender's own island.
        let ttl = self.hears_ttl(now);
        let from_local = self
            .peers
            .get(sender)
            .is_some_and(|p| self.is_local(p, now, ttl));
        if let Some(p) = self.peers.get_mut(sender)
            && a.heads.first().is_none_or(|h| h.id != sender)
        {
            // First-hand: the sender does not represent its island (now).
            p.rep_at = None;
            p.rep_direct_at = None;
        }
        let rep_ttl = self.rep_ttl();
        let mut new_reps = Vec::new();
        for (k, h) in a.heads.iter().enumerate() {
            if h.id == me {
                continue;
            }
            if h.addr == UNKNOWN_REP {
                continue;
            }
            let (p, new) = self.peers.entry(h.id, now);
            p.note_named(h.addr);
            let was_rep = p.is_rep(now, rep_ttl);
            if k == 0 {
                p.rep_at = Some(now);
                p.rep_direct_at = Some(now);
            } else if from_local {
                p.rep_at = Some(now);
            }
            if !was_rep && p.is_rep(now, rep_ttl) {
                new_reps.push(h.id);
            }
            if new {
                self.events.push_back(Event::PeerDiscovered {
                    id: h.id,
                    addr: h.addr,
                });
            }
        }
        if !self.held.is_empty() {
            let held: Vec<GroupName> = self.held.iter().cloned().collect();
            for id in new_reps {
                self.introduce(now, id, &held);
            }
        }
        for d in &a.groups.entries {
            if !self.holds(&d.group) {
                // Not joined: only the name and its fingerprint are kept.
                self.interest.note(&d.group, Some(d.fingerprint), now);
                continue;
            }
            if a.groups_fp != my_fp && self.fingerprint(&d.group) != Some(d.fingerprint) {
                self.pulls.suspect(&d.group, sender, now);
            } else {
                self.pulls.agree(&d.group, sender);
            }
        }
        if reply_due {
            if self.replies.allow(src.addr.ip(), now) {
                // A far member's announce passed on by a peer of our LAN
                // (see `relay_targets`) is answered at its own address.
                let relayed = src.conn.is_none()
                    && !a.addrs.contains(&src.addr)
                    && self
                        .peers
                        .iter()
                        .any(|p| p.id != sender && p.addr == Some(src.addr));
                let to = match usable_addr(&self.me.addrs, &a.addrs) {
                    Some(own) if relayed => own,
                    _ => self.reply_addr(sender, src),
                };
                self.send_announce(now, Some(to));
            } else {
                self.stats.drop("reply_budget");
            }
        }
    }

    fn on_pull(&mut self, now: Millis, sender: NodeId, src: Source, p: Pull) {
        if !self.holds(&p.group) {
            // Not a member: we keep no view of the group to answer with.
            self.stats.drop("pull_not_member");
            return;
        }
        if !self.pulls.allow_serve(sender, now, self.cfg.pulls_per_sec)
            || !self.serves.allow(src.addr.ip(), now)
        {
            self.stats.drop("pull_rate");
            return;
        }
        let version = self.version_for(sender);
        let sizer = self.codec.delta_sizer(version, self.cfg.mtu);
        let chunks = match self.db.delta_since_in(
            p.group.as_str(),
            &p.clock,
            p.part.clone(),
            self.cfg.mtu,
            &sizer,
        ) {
            Ok(c) => c,
            Err(_) => {
                self.stats.drop("delta_budget");
                return;
            }
        };
        let to = self.reply_addr(sender, src);
        for chunk in chunks {
            // Chunks are cut to fit; only a reset (it carries a floor) may
            // not, and only it is measured.
            let fits = chunk.clock().floors().is_empty() || {
                let probe = Frame {
                    sender: self.me.id,
                    incarnation: self.me.incarnation,
                    seq: self.seq + 1,
                    payload: wire::Payload::Delta(chunk.clone()),
                };
                self.codec.encoded_len(&probe, version) <= self.cfg.mtu
            };
            if fits {
                self.send_datagram(now, Some(to), wire::Payload::Delta(chunk), version);
                continue;
            }
            // A reset (all we hold of a member up to its floor) can be
            // larger than a datagram: it goes over TCP as a tree step with
            // no list and clock 0, which the receiver only applies.
            let target = PeerRef {
                id: sender,
                addr: to,
            };
            self.send_forward(
                now,
                target,
                Forward {
                    author: self.me.id,
                    upto: 0,
                    list: Vec::new(),
                    message: chunk,
                },
            );
        }
        // Push-pull: if the requester covers what we lack, ask it back.
        let ours = self
            .db
            .message(p.group.as_str())
            .map(|m| m.clock().restricted(&p.part))
            .unwrap_or_default();
        if !ours.covers_all(&p.clock) {
            self.pulls.suspect(&p.group, sender, now);
        }
    }

    fn on_delta(&mut self, now: Millis, sender: NodeId, src: Source, m: Message) {
        self.pulls.answered(m.group(), sender);
        // News heard by multicast reached our LAN already; news that came
        // by unicast (a pull answer or a gossip) is passed on across islands.
        if self.apply(now, sender, &m) && src.via == Via::Unicast {
            self.gossip(now, &m, sender);
        }
    }

    fn on_forward(&mut self, now: Millis, sender: NodeId, f: Forward) {
        if f.upto == 0 {
            // A pull answer too large for a datagram (see `on_pull`).
            self.pulls.answered(f.message.group(), sender);
            self.apply(now, sender, &f.message);
            return;
        }
        let first = self.seen.insert(f.author, f.upto);
        self.apply(now, f.author, &f.message);
        let _ = sender;
        if !first {
            return;
        }
        let ttl = self.hears_ttl(now);
        let hears_author = self
            .peers
            .get(f.author)
            .is_some_and(|p| p.heard_by_multicast(now, ttl));
        if self.cfg.multicast && !hears_author {
            // We head an island the author's multicast does not reach.
            let v = self.send_version();
            self.send_datagram(now, None, wire::Payload::Delta(f.message.clone()), v);
        }
        for (head, rest) in tree::split(&f.list) {
            self.send_forward(
                now,
                head,
                Forward {
                    author: f.author,
                    upto: f.upto,
                    list: rest,
                    message: f.message.clone(),
                },
            );
        }
    }

    /// Applies a received message of a group we are a member of; returns
    /// whether it changed anything. Of another group only the name is kept
    /// (and a sign of own writes above our clock is still heeded).
    fn apply(&mut self, now: Millis, origin: NodeId, m: &Message) -> bool {
        if !self.holds(m.group()) {
            self.stats.drop("not_member");
            self.interest.note(m.group(), None, now);
            let me = self.me.id;
            let seen = m
                .max_seen(me)
                .max(m.clock().coverage(me).map_or(0, |c| c.max_covered()));
            if seen > self.db.clock() {
                self.own_ahead(now, seen, m);
            }
            return false;
        }
        let newcomers = self.newcomers(m);
        let applied = self.db.apply(m);
        if applied.refused > 0 {
            // Counted as drops: a cap or an expiry marker refused some
            // members' writes whole.
            self.stats.drop("refused_members");
        }
        if let Some(seen) = applied.own_ahead {
            self.own_ahead(now, seen, m);
        }
        if applied.changed {
            self.auto.touch(m.group());
            self.pulls.news(m.group(), now);
            self.stats.news += 1;
            self.events.push_back(Event::Changed {
                group: m.group().clone(),
                origin,
            });
            for id in newcomers {
                self.welcome(now, m.group(), id);
            }
        }
        applied.changed
    }

    /// The members `m` shows with a live item of whom we hold none yet
    /// (they just joined, as far as we know). Only for a message of one
    /// member's items (a join's broadcast): a pull answer holding many is
    /// what a joiner or a restarted node gets, and welcoming every member
    /// in it would be a burst of announces for nothing.
    fn newcomers(&self, m: &Message) -> Vec<NodeId> {
        let items = m.items().items();
        if items
            .first()
            .is_some_and(|f| items.iter().any(|i| i.member() != f.member()))
        {
            return Vec::new();
        }
        let mut out: Vec<NodeId> = Vec::new();
        for i in m.items().items().iter().filter(|i| i.live()) {
            let id = i.member();
            if id == self.me.id || out.last() == Some(&id) {
                continue;
            }
            let filter = TopologyFilter {
                kind: None,
                live_only: true,
                member: Some(id),
            };
            if self
                .db
                .topology(m.group().as_str(), filter)
                .next()
                .is_none()
            {
                out.push(id);
            }
        }
        out
    }

    /// A far node joined `group`: it does not know the group's members yet
    /// (a joiner pulls from a holder it knows, and our multicast announces
    /// do not reach it), so we tell it we hold the group with a unicast
    /// announce carrying its fingerprint; it pulls from us. Within the
    /// per-address answer budget.
    fn welcome(&mut self, now: Millis, group: &GroupName, id: NodeId) {
        let ttl = self.hears_ttl(now);
        let Some(p) = self.peers.get(id) else { return };
        if self.is_local(p, now, ttl) || self.detector.state(id) == Liveness::Down {
            return;
        }
        let Some(addr) = p.addr else { return };
        if !self.replies.allow(addr.ip(), now) {
            self.stats.drop("reply_budget");
            return;
        }
        self.send_announce_with(now, Some(addr), Some(group));
    }

    /// The peers known to hold `group`, with an address: its members in our
    /// view of it and the peers announcing it.
    fn holders(&self, group: &GroupName) -> Vec<NodeId> {
        let members: BTreeSet<NodeId> = self.db.members(group.as_str()).into_iter().collect();
        self.peers
            .iter()
            .filter(|p| p.addr.is_some() && (p.holds(group) || members.contains(&p.id)))
            .filter(|p| self.detector.state(p.id) != Liveness::Down)
            .map(|p| p.id)
            .collect()
    }

    /// Peers hold own writes above our clock (a restored data dir): jump the
    /// clock, re-assert, broadcast.
    fn own_ahead(&mut self, now: Millis, seen: u64, m: &Message) {
        if !self.durable.may_retry(now) {
            return;
        }
        self.begin_write();
        let foreign: Vec<(GroupName, TimedItem)> = m
            .items()
            .member_items(self.me.id)
            .iter()
            .map(|i| (m.group().clone(), *i))
            .collect();
        match self.db.reassert(seen, &foreign) {
            Ok(writes) => {
                for w in &writes {
                    self.after_own_write(now, w);
                }
                self.own_event(Event::OwnAhead {
                    seen,
                    clock: self.db.clock(),
                });
            }
            Err(_) => self.stats.drop("clock_exhausted"),
        }
    }

    /// Re-sends news, unchanged, to one random far member of its group.
    fn gossip(&mut self, now: Millis, m: &Message, from: NodeId) {
        let ttl = self.hears_ttl(now);
        let multicast = self.cfg.multicast;
        let far: Vec<NodeId> = self
            .holders(m.group())
            .into_iter()
            .filter(|id| *id != from)
            .filter(|id| {
                self.peers
                    .get(*id)
                    .is_some_and(|p| !(multicast && p.heard_by_multicast(now, ttl)))
            })
            .collect();
        let far = pick(&mut self.rng, &far);
        if let Some(to) = far.and_then(|id| self.peers.get(id)?.addr) {
            let v = self.send_version();
            self.send_datagram(now, Some(to), wire::Payload::Delta(m.clone()), v);
        }
    }

    // --- sending ------------------------------------------------------------

    fn after_own_write(&mut self, now: Millis, w: &Written) {
        self.stats.own_writes += 1;
        self.collect_tombstones(now);
        self.durable.wrote();
        self.own_event(Event::Changed {
            group: w.group.clone(),
            origin: self.me.id,
        });
        self.pulls.news(&w.group, now);
        self.auto.touch(&w.group);
        self.seen.insert(self.me.id, w.upto);
        let version = self.send_version();
        let sizer = self.codec.delta_sizer(version, self.cfg.mtu);
        // Room for the own floor the chunks carry.
        let budget = self.cfg.mtu.saturating_sub(FLOOR_SLACK);
        let chunks = self.db.own_delta(w, budget, &sizer).unwrap_or_else(|_| {
            // Nothing goes out (anti-entropy repairs it); the join or leave
            // below still takes effect.
            self.stats.drop("delta_budget");
            Vec::new()
        });
        let floor = self.db.floor(w.group.as_str(), self.me.id);
        // A member knows the group's members: the tree spans them only. A
        // write that makes us a member (a join) or one in a group we hold no
        // view of goes to every island: we do not know its members yet,
        // they must learn of us, and non-members drop it.
        let was = self.held.contains(&w.group);
        let is = self.db.is_member(w.group.as_str());
        let dests = if was {
            self.member_destinations(now, &w.group)
        } else {
            self.tree_destinations(now)
        };
        for mut chunk in chunks {
            if version >= 3 {
                chunk.attach_floor(self.me.id, floor);
            }
            if self.cfg.multicast {
                self.send_datagram(now, None, wire::Payload::Delta(chunk.clone()), version);
            }
            for (head, rest) in tree::split(&dests) {
                self.send_forward(
                    now,
                    head,
                    Forward {
                        author: self.me.id,
                        upto: w.upto,
                        list: rest,
                        message: chunk.clone(),
                    },
                );
            }
        }
        if is && !was {
            self.joined(now, &w.group);
        } else if was && !is {
            self.left(now, &w.group);
        }
    }

    /// Starts a new tombstone period once the current one is
    /// `tombstone_ttl` old: own writes up to the current period's clock
    /// become collectable.
    fn gc_period(&mut self, now: Millis) {
        let ttl = self.cfg.tombstone_ttl;
        if ttl > 0 && now.since(self.gc_mark.0) >= ttl {
            self.gc_upto = self.gc_mark.1;
            self.gc_mark = (now, self.db.clock());
        }
    }

    /// Before an own write goes out: collects own retractions at least
    /// `tombstone_ttl` old, so the write carries the raised floor. Only
    /// while every known peer reads format version 3 (older ones could
    /// not learn the floor).
    fn collect_tombstones(&mut self, now: Millis) {
        self.gc_period(now);
        if self.gc_upto > 0 && self.send_version() >= 3 {
            let rose = self.db.collect_own(self.gc_upto);
            self.stats.floors_raised += rose.len() as u64;
        }
    }

    /// This node became a member of `group`: it starts with its own items
    /// only and pulls the group at once from a holder it knows (otherwise
    /// from the first member that welcomes it or announces the group).
    fn joined(&mut self, now: Millis, group: &GroupName) {
        self.held.insert(group.clone());
        if self.leaving.remove(group).is_some() {
            // Back before the leave was done: still holding everything.
            return;
        }
        self.interest.forget(group);
        let holders = self.holders(group);
        if let Some(target) = pick(&mut self.rng, &holders)
            && !self.pulls.busy(group, now)
        {
            self.pull_from(now, group, target);
        }
    }

    /// This node stopped being a member of `group` (its leave is on its
    /// way): it drops the others' items and keeps only the name.
    fn left(&mut self, now: Millis, group: &GroupName) {
        self.held.remove(group);
        self.leaving.insert(group.clone(), now);
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
    fn finish_leaving(&mut self, now: Millis) {
        if self.leaving.is_empty() {
            return;
        }
        let done: Vec<GroupName> = self
            .leaving
            .iter()
            .filter(|(g, since)| self.linger_over(now, g, **since))
            .map(|(g, _)| g.clone())
            .collect();
        for g in done {
            self.leaving.remove(&g);
            self.db.forget_others(g.as_str());
            self.pulls.abandon(&g);
            self.interest.note(&g, None, now);
        }
    }

    /// Whether the linger of `group`, left at `since`, is over (see
    /// [`Chatter::finish_leaving`]).
    fn linger_over(&self, now: Millis, group: &GroupName, since: Millis) -> bool {
        let age = now.since(since);
        let recent = self.hears_ttl(now);
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
                .any(|m| m != me && self.detector.state(m) == Liveness::Down)
        };
        (age >= LINGER_MIN && agree && !differ) || (age >= LINGER_MAX && !cut_off())
    }

    /// The tree's destinations for a write to `group` we are a member of:
    /// its members only. One per far island: a member representative covers
    /// its island (it multicasts there); a member of an island whose
    /// representative is not a member, or whose island we do not know, gets
    /// its own step. Plus one random member that hears our multicast.
    fn member_destinations(&mut self, now: Millis, group: &GroupName) -> Vec<PeerRef> {
        let ttl = self.hears_ttl(now);
        let rep_ttl = self.rep_ttl();
        let multicast = self.cfg.multicast;
        let members: BTreeSet<NodeId> = self.db.members(group.as_str()).into_iter().collect();
        let mut hear_us = Vec::new();
        let mut reps = Vec::new();
        let mut far = Vec::new();
        let mut other_reps = Vec::new();
        for p in self.peers.iter() {
            if !(members.contains(&p.id) || p.holds(group)) {
                if multicast
                    && p.is_rep(now, rep_ttl)
                    && !self.is_local(p, now, ttl)
                    && self.detector.state(p.id) != Liveness::Down
                {
                    if let Some(r) = p.peer_ref() {
                        other_reps.push(r);
                    }
                }
                continue;
            }
            let Some(r) = p.peer_ref() else { continue };
            if self.detector.state(p.id) == Liveness::Down {
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

    /// The tree's destinations for a write to a group whose members we do not
    /// know (a join): one node per multicast island that does not
    /// hear our multicast (its representative, when known, else grouped by
    /// the reports we have), plus one random peer that does hear us.
    fn tree_destinations(&mut self, now: Millis) -> Vec<PeerRef> {
        let ttl = self.hears_ttl(now);
        let rep_ttl = self.rep_ttl();
        let multicast = self.cfg.multicast;
        let mut hear_us = Vec::new();
        let mut reps = Vec::new();
        let mut rest = Vec::new();
        for p in self.peers.iter() {
            let Some(r) = p.peer_ref() else { continue };
            // A down peer gets no copy (its connect would only time out);
            // if it was wrongly marked, its refutation brings it back and
            // anti-entropy gives it what it missed.
            if self.detector.state(p.id) == Liveness::Down {
                continue;
            }
            let local = self.is_local(p, now, ttl);
            if multicast && p.hears_us(now, ttl) {
                hear_us.push(r);
            } else if multicast && p.is_rep(now, rep_ttl) && !local {
                reps.push(r);
            } else if !local {
                rest.push(r);
            }
        }
        shuffle(&mut self.rng, &mut rest);
        let peers = &self.peers;
        let mut dests = if multicast && !reps.is_empty() {
            // Every other island announces its representative: one copy
            // each, and the representative multicasts it on its LAN.
            reps
        } else {
            tree::island_heads(&rest, |a, b| {
                peers.get(a).is_some_and(|p| p.hears(b, now, ttl))
            })
        };
        if let Some(extra) = pick(&mut self.rng, &hear_us) {
            dests.push(extra);
        }
        shuffle(&mut self.rng, &mut dests);
        dests
    }

    /// Hands `fwd` to `to` over TCP, connecting if needed.
    fn send_forward(&mut self, now: Millis, to: PeerRef, fwd: Forward) {
        self.send_pending(
            now,
            to,
            Pending {
                fwd,
                retried: false,
                at: now,
            },
        );
    }

    fn send_pending(&mut self, now: Millis, to: PeerRef, p: Pending) {
        if let Some(conn) = self.conns.find(to.id, to.addr) {
            let open = self
                .conns
                .get(conn)
                .is_some_and(|c| c.state == ConnState::Open);
            if open {
                self.send_on(now, conn, p);
            } else if let Some(c) = self.conns.get_mut(conn) {
                c.queue.push(p);
            }
            return;
        }
        self.make_room(now);
        let conn = self
            .conns
            .add(to.addr, Some(to), ConnState::Connecting(now), now);
        if let Some(c) = self.conns.get_mut(conn) {
            c.queue.push(p);
        }
        self.transmits
            .push_back(Transmit::Connect { conn, to: to.addr });
    }

    /// Encodes a tree step onto an open connection, remembering it for a
    /// resend should the connection fail right after.
    fn send_on(&mut self, now: Millis, conn: ConnId, p: Pending) {
        let peer = self.conns.get(conn).and_then(|c| c.peer);
        let version = peer.map_or_else(|| self.send_version(), |p| self.version_for(p));
        let frame = self.frame(wire::Payload::Forward(p.fwd.clone()));
        let nonce = self.nonce();
        match self.codec.encode(&frame, version, nonce) {
            Ok(bytes) => {
                self.stats.frame_out(FrameKind::Forward, bytes.len());
                if let Some(c) = self.conns.get_mut(conn) {
                    c.last_used = now;
                    c.remember(Pending { at: now, ..p }, now);
                }
                self.transmits.push_back(Transmit::Send { conn, bytes });
            }
            Err(e) => self.stats.drop(e.reason()),
        }
    }

    /// A tree step whose connection failed or closed: once more to the same
    /// node on a fresh connection, then on to the part's next node.
    fn retry(&mut self, now: Millis, to: Option<PeerRef>, p: Pending) {
        match to {
            Some(to) if !p.retried => self.send_pending(
                now,
                to,
                Pending {
                    retried: true,
                    at: now,
                    ..p
                },
            ),
            _ => self.reroute(now, p.fwd),
        }
    }

    /// A tree step whose connection failed: try the part's next node.
    fn reroute(&mut self, now: Millis, fwd: Forward) {
        if let Some((next, rest)) = fwd.list.split_first() {
            let fwd = Forward {
                list: rest.to_vec(),
                ..fwd
            };
            self.send_forward(now, *next, fwd);
        } else {
            self.stats.drop("tree_dead_end");
        }
    }

    /// At the connection cap, closes the least recently used connection
    /// (rerouting anything it had queued).
    fn make_room(&mut self, now: Millis) {
        while self.conns.len() >= self.cfg.max_conns.max(1) {
            let victim = self
                .conns
                .lru_idle()
                .or_else(|| self.conns.iter().map(|c| c.id).next());
            let Some(victim) = victim else { break };
            if let Some(c) = self.conns.remove(victim) {
                self.transmits.push_back(Transmit::Close { conn: victim });
                for p in c.queue {
                    self.reroute(now, p.fwd);
                }
            }
        }
    }

    /// Sends our world clock of `group` to `target`, in parts that each fit
    /// a datagram.
    fn pull_from(&mut self, now: Millis, group: &GroupName, target: NodeId) {
        let Some(to) = self.peers.get(target).and_then(|p| p.addr) else {
            return;
        };
        self.pulls.start(group, target, now, self.cfg.pull_timeout);
        let clock = self
            .db
            .message(group.as_str())
            .map(|m| m.clock().clone())
            .unwrap_or_default();
        let version = self.version_for(target);
        for pull in self.pull_parts(group, &clock, NodeId::ALL, version) {
            self.send_datagram(now, Some(to), wire::Payload::Pull(pull), version);
        }
    }

    /// Splits a pull by member id range until each part fits the MTU.
    fn pull_parts(
        &self,
        group: &GroupName,
        clock: &WorldClock,
        part: core::ops::RangeInclusive<NodeId>,
        version: u8,
    ) -> Vec<Pull> {
        let pull = Pull {
            group: group.clone(),
            clock: clock.restricted(&part),
            part: part.clone(),
        };
        let probe = Frame {
            sender: self.me.id,
            incarnation: self.me.incarnation,
            seq: self.seq,
            payload: wire::Payload::Pull(pull),
        };
        if self.codec.encoded_len(&probe, version) <= self.cfg.mtu {
            let wire::Payload::Pull(pull) = probe.payload else {
                return Vec::new();
            };
            return vec![pull];
        }
        let wire::Payload::Pull(pull) = probe.payload else {
            return Vec::new();
        };
        let members: Vec<NodeId> = pull.clock.entries().iter().map(|e| e.member()).collect();
        let Some(&mid) = members.get(members.len() / 2) else {
            return Vec::new();
        };
        if members.len() < 2 || mid == *part.start() {
            return Vec::new();
        }
        let low_end = NodeId::from_u64(mid.as_u64() - 1);
        let mut out = self.pull_parts(group, clock, *part.start()..=low_end, version);
        out.extend(self.pull_parts(group, clock, mid..=*part.end(), version));
        out
    }

    /// The periodic unicast announce across islands: every other one to a
    /// random far member of one of our groups (in turn), with that group's
    /// digest, so members in subnets multicast cannot reach compare it; the
    /// rest to a random far peer (discovery, liveness); and to unknown seeds.
    fn far_sync(&mut self, now: Millis) {
        let ttl = self.hears_ttl(now);
        let multicast = self.cfg.multicast;
        self.far_syncs = self.far_syncs.wrapping_add(1);
        if self.far_syncs % 2 == 0 && self.member_far_sync(now) {
            self.announce_seeds(now);
            return;
        }
        let far = self.sample_peer(|p| !(multicast && p.heard_by_multicast(now, ttl)));
        if let Some(id) = far
            && self.detector.state(id) != Liveness::Down
            && let Some(addr) = self.peers.get(id).and_then(|p| p.addr)
        {
            if let Some(p) = self.peers.get_mut(id) {
                p.last_reply = Some(now);
            }
            self.send_announce(now, Some(addr));
        }
        self.announce_seeds(now);
    }

    /// A far sync to a random far member of one of our groups, taken in
    /// turn; returns whether one was sent.
    fn member_far_sync(&mut self, now: Millis) -> bool {
        let held: Vec<GroupName> = self
            .held
            .iter()
            .chain(self.leaving.keys())
            .cloned()
            .collect();
        let Some(n) = u64::try_from(held.len()).ok().filter(|n| *n > 0) else {
            return false;
        };
        let turn = usize::try_from((self.far_syncs / 2) % n).unwrap_or(0);
        let Some(group) = held.get(turn) else {
            return false;
        };
        let ttl = self.hears_ttl(now);
        let far: Vec<NodeId> = self
            .holders(group)
            .into_iter()
            .filter(|id| *id != self.me.id)
            .filter(|id| {
                self.peers
                    .get(*id)
                    .is_some_and(|p| !self.is_local(p, now, ttl))
            })
            .collect();
        let Some(id) = pick(&mut self.rng, &far) else {
            // No far member known: a beacon of our items of the group to a
            // random far island, whose members then welcome us.
            let rep_ttl = self.rep_ttl();
            let reps: Vec<NodeId> = self
                .peers
                .iter()
                .filter(|p| p.is_rep(now, rep_ttl) && !self.is_local(p, now, ttl))
                .map(|p| p.id)
                .collect();
            let Some(rep) = pick(&mut self.rng, &reps) else {
                return false;
            };
            self.introduce(now, rep, std::slice::from_ref(group));
            return true;
        };
        let Some(addr) = self.peers.get(id).and_then(|p| p.addr) else {
            return false;
        };
        if let Some(p) = self.peers.get_mut(id) {
            p.last_reply = Some(now);
        }
        self.send_announce_with(now, Some(addr), Some(group));
        true
    }

    /// Sends the representative `rep` of a far island our own items of each
    /// of `groups` (a tree step with an empty list): it multicasts them on
    /// its LAN, where the groups' members learn of us and welcome us. Done
    /// when we learn of an island, so members find each other across
    /// subnets whatever the order of joins and island discovery.
    fn introduce(&mut self, now: Millis, rep: NodeId, groups: &[GroupName]) {
        let ttl = self.hears_ttl(now);
        let Some(p) = self.peers.get(rep) else { return };
        if self.is_local(p, now, ttl) || self.detector.state(rep) == Liveness::Down {
            return;
        }
        let Some(to) = p.peer_ref() else { return };
        let version = self.send_version();
        let sizer = self.codec.delta_sizer(version, self.cfg.mtu);
        for group in groups {
            let upto = self
                .db
                .message(group.as_str())
                .map_or(0, |m| m.clock().known_upto(self.me.id));
            if upto == 0 {
                continue;
            }
            let mine = Written {
                group: group.clone(),
                prev_in_group: 0,
                prev: 0,
                upto,
            };
            let Ok(chunks) = self.db.own_delta(&mine, self.cfg.mtu, &sizer) else {
                self.stats.drop("delta_budget");
                continue;
            };
            for chunk in chunks {
                self.send_forward(
                    now,
                    to,
                    Forward {
                        author: self.me.id,
                        upto,
                        list: Vec::new(),
                        message: chunk,
                    },
                );
            }
        }
    }

    /// Announces to the seeds not known as peers yet.
    fn announce_seeds(&mut self, now: Millis) {
        let unknown: Vec<SocketAddr> = self
            .seeds
            .iter()
            .copied()
            .filter(|s| self.peers.by_addr(*s).is_none())
            .collect();
        for seed in unknown {
            self.send_announce(now, Some(seed));
        }
    }

    /// Builds and sends an announce (multicast when `to` is `None`).
    fn send_announce(&mut self, now: Millis, to: Option<SocketAddr>) {
        self.send_announce_with(now, to, None);
    }

    /// [`Chatter::send_announce`], its group window also carrying the
    /// digest of `focus` (a group we hold) if the rotation left it out.
    fn send_announce_with(
        &mut self,
        now: Millis,
        to: Option<SocketAddr>,
        focus: Option<&GroupName>,
    ) {
        let ttl = self.hears_ttl(now);
        let heard: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|p| p.heard_by_multicast(now, ttl))
            .map(|p| p.id)
            .collect();
        let digests = self.held_digests();
        let groups_fp = groups_fp(&digests);
        let focused = focus.and_then(|f| digests.iter().find(|d| &d.group == f).cloned());
        let rep_ttl = self.rep_ttl();
        // heads[0]: our island's representative, or a placeholder (our id at
        // the unspecified address) while we do not know it yet.
        let mut heads = vec![self.my_rep(now).unwrap_or(PeerRef {
            id: self.me.id,
            addr: UNKNOWN_REP,
        })];
        let mut reps: Vec<PeerRef> = self
            .peers
            .iter()
            .filter(|p| p.is_rep_direct(now, rep_ttl) && !self.is_local(p, now, ttl))
            .filter_map(|p| p.peer_ref())
            .collect();
        shuffle(&mut self.rng, &mut reps);
        let room = Announce::MAX_HEADS.saturating_sub(heads.len());
        heads.extend(reps.into_iter().take(room));
        let hears = window(&heard, &mut self.hears_offset, self.cfg.hears_window);
        let version = match to {
            Some(addr) => self
                .peers
                .by_addr(addr)
                .map_or_else(|| self.send_version(), |p| self.version_for(p.id)),
            None => self.send_version(),
        };
        let rumors = self.detector.take_rumors(Rumor::MAX_PER_FRAME);
        let mut groups_window = self.cfg.groups_window;
        loop {
            let mut offset = self.groups_offset;
            let mut groups = window(&digests, &mut offset, groups_window);
            if let Some(f) = &focused
                && !groups.entries.contains(f)
            {
                groups.entries.push(f.clone());
            }
            let announce = Announce {
                max_version: wire::VERSION,
                addrs: self
                    .me
                    .addrs
                    .iter()
                    .copied()
                    .take(Announce::MAX_ADDRS)
                    .collect(),
                hears: hears.clone(),
                groups,
                groups_fp,
                heads: heads.clone(),
                policy_fp: self.policy_fp,
                rumors: rumors.clone(),
            };
            let frame = Frame {
                sender: self.me.id,
                incarnation: self.me.incarnation,
                seq: self.seq,
                payload: wire::Payload::Announce(announce),
            };
            if self.codec.encoded_len(&frame, version) <= self.cfg.mtu || groups_window == 0 {
                self.groups_offset = offset;
                self.send_datagram(now, to, frame.payload, version);
                return;
            }
            groups_window /= 2;
        }
    }

    /// Seals `payload` in a frame and queues it as a datagram (multicast
    /// when `to` is `None`).
    fn send_datagram(
        &mut self,
        _now: Millis,
        to: Option<SocketAddr>,
        payload: wire::Payload,
        version: u8,
    ) {
        let kind = payload.kind();
        if kind.since_version() > version {
            return;
        }
        let frame = self.frame(payload);
        let nonce = self.nonce();
        match self.codec.encode_datagram(&frame, version, nonce) {
            Ok(bytes) => {
                self.stats.frame_out(kind, bytes.len());
                self.transmits.push_back(match to {
                    Some(to) => Transmit::Unicast { to, bytes },
                    None => Transmit::Multicast { bytes },
                });
            }
            Err(e) => self.stats.drop(e.reason()),
        }
    }

    fn frame(&mut self, payload: wire::Payload) -> Frame {
        self.seq += 1;
        Frame {
            sender: self.me.id,
            incarnation: self.me.incarnation,
            seq: self.seq,
            payload,
        }
    }

    fn nonce(&mut self) -> [u8; 24] {
        let mut n = [0u8; 24];
        self.rng.fill_bytes(&mut n);
        n
    }

    // --- helpers ------------------------------------------------------------

    fn fingerprint(&self, group: &GroupName) -> Option<u64> {
        self.db
            .message(group.as_str())
            .map(|m| m.clock().fingerprint())
    }

    fn groups_fp(&self) -> u64 {
        groups_fp(&self.held_digests())
    }

    /// The digest of every group we hold, member or lingering (only those are
    /// announced: announcing a group says "I hold it, pull it from me").
    fn held_digests(&self) -> Vec<GroupDigest> {
        self.db
            .digest()
            .filter(|(g, _)| self.holds(g))
            .map(|(g, w)| GroupDigest {
                group: g.clone(),
                fingerprint: w.fingerprint(),
            })
            .collect()
    }

    /// Where to answer `sender`: the datagram's source for UDP, its contact
    /// address for TCP.
    fn reply_addr(&self, sender: NodeId, src: Source) -> SocketAddr {
        match src.conn {
            None => src.addr,
            Some(_) => self
                .peers
                .get(sender)
                .and_then(|p| p.addr)
                .unwrap_or(src.addr),
        }
    }

    /// The version to send `peer`.
    fn version_for(&self, peer: NodeId) -> u8 {
        self.peers.get(peer).map_or(wire::VERSION, |p| {
            p.max_version.clamp(wire::MIN_VERSION, wire::VERSION)
        })
    }

    /// The version every known peer accepts (for multicasts and broadcasts).
    fn send_version(&self) -> u8 {
        wire::negotiate(self.peers.iter().map(|p| p.max_version))
    }

    /// The announce period: the configured one on a small LAN, growing with
    /// the number of multicast peers so a LAN's announce rate stays bounded.
    /// Scans the peer table; called once per announce.
    fn announce_period(&self, now: Millis) -> u64 {
        let ttl = self.hears_ttl(now);
        let heard = self
            .peers
            .iter()
            .filter(|p| p.heard_by_multicast(now, ttl))
            .count() as u64;
        let spread = heard.saturating_mul(1000) / self.cfg.lan_announce_rate.max(1);
        self.cfg.announce_period.max(spread)
    }

    /// How long a multicast observation lasts: a few of the current periods.
    fn hears_ttl(&self, _now: Millis) -> u64 {
        self.period
            .saturating_mul(self.cfg.hears_ttl_periods)
            .max(self.cfg.far_sync_period * 2)
    }

    /// How long a representative named in a `heads` list stays one.
    fn rep_ttl(&self) -> u64 {
        self.cfg.rep_sync_period.saturating_mul(10)
    }

    /// Whether `p` shares our multicast island (either of us hears the other).
    fn is_local(&self, p: &super::peers::Peer, now: Millis, ttl: u64) -> bool {
        self.cfg.multicast && (p.heard_by_multicast(now, ttl) || p.hears_us(now, ttl))
    }

    /// Our island's representative: the node with the smallest id among us
    /// and the peers whose multicast we hear (its multicast reaches us, which
    /// is what the tree relies on); ourselves without multicast. `None` for
    /// the first two announce periods, while we may not have heard our LAN.
    fn my_rep(&self, now: Millis) -> Option<PeerRef> {
        let ttl = self.hears_ttl(now);
        let grace = 2 * self.period.max(self.cfg.announce_period);
        if self.cfg.multicast && now.since(self.started) < grace {
            return None;
        }
        let me = self.me.addrs.first().map(|addr| PeerRef {
            id: self.me.id,
            addr: *addr,
        });
        if !self.cfg.multicast {
            return me;
        }
        let best = self
            .peers
            .iter()
            .filter(|p| p.id < self.me.id && p.heard_by_multicast(now, ttl))
            .min_by_key(|p| p.id)
            .and_then(|p| p.peer_ref());
        best.or(me)
    }

    /// Whether this node represents its multicast island (shown by `status`):
    /// it hears no peer with a smaller id.
    pub fn is_representative(&self, now: Millis) -> bool {
        self.my_rep(now).is_some_and(|r| r.id == self.me.id)
    }

    /// A random peer with an address passing `want`, by sampling (so the
    /// cost does not grow with the table).
    fn sample_peer(&mut self, want: impl Fn(&super::peers::Peer) -> bool) -> Option<NodeId> {
        for _ in 0..16 {
            let r = self.rng.next_u64();
            if let Some(p) = self.peers.nth_wrapping(r)
                && p.addr.is_some()
                && want(p)
            {
                return Some(p.id);
            }
        }
        None
    }
}

/// Source addresses with a budget remembered (per kind of budget).
const MAX_ADDRS_TRACKED: usize = 1_024;

/// The address of the placeholder in `heads[0]` that says "I do not know my
/// island's representative yet".
const UNKNOWN_REP: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);

/// `ms` spread by up to `percent` either way.
/// Bytes an own delta leaves free for the floor it carries (format version
/// 3: the floor list's length, the member's index and the floor, as varints).
const FLOOR_SLACK: usize = 16;

/// A group left is held on at least this long (ms) ...
const LINGER_MIN: u64 = 20_000;
/// ... and at most this long (ms), whatever the others announce.
const LINGER_MAX: u64 = 600_000;

/// Most LAN members a far node's announce is passed on to.
const RELAY_FANOUT: usize = 2;

/// A far node's announce goes to the same LAN member at most once in this
/// many ms: once the member has it, the two far-sync each other.
const RELAY_PERIOD: u64 = 600_000;

fn jittered(rng: &mut ChaCha8Rng, ms: u64, percent: u64) -> u64 {
    let spread = ms.saturating_mul(percent) / 100;
    if spread == 0 {
        return ms.max(1);
    }
    let r = rng.next_u64() % (2 * spread + 1);
    (ms - spread + r).max(1)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = (rng.next_u64() % items.len() as u64) as usize;
    items.get(i).copied()
}

fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The next `size` entries of `all` from `offset` (wrapping); advances the
/// offset.
fn window<T: Clone>(all: &[T], offset: &mut usize, size: usize) -> Window<T> {
    let total = all.len();
    if total == 0 {
        *offset = 0;
        return Window::empty();
    }
    if total <= size {
        *offset = 0;
        return Window::whole(all.to_vec());
    }
    let start = *offset % total;
    let entries: Vec<T> = all.iter().cycle().skip(start).take(size).cloned().collect();
    *offset = (start + size) % total;
    Window {
        total: u32::try_from(total).unwrap_or(u32::MAX),
        offset: u32::try_from(start).unwrap_or(0),
        entries,
    }
}

/// Hash over every `(group, fingerprint)` in name order.
fn groups_fp(digests: &[GroupDigest]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for d in digests {
        h.update(&(d.group.as_str().len() as u64).to_le_bytes());
        h.update(d.group.as_str().as_bytes());
        h.update(&d.fingerprint.to_le_bytes());
    }
    h.digest()
}
