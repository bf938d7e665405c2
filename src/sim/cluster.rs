//! `Cluster`: N Chatter instances in one process on a virtual clock.
//!
//! A priority queue of timed events (datagram arrivals, timers, TCP
//! handshakes and frames, persist completions, scenario actions) drives the
//! nodes; after every input the node's outputs are drained in the documented
//! order (`Chatter::drain_outputs`: persist, markers, transmits, events,
//! deadline) and routed through [`Net`] (cluster/step.rs). The other child
//! files: TCP (tcp.rs), scenario actions (actions.rs), a failing disk
//! (disk.rs), following single writes (tracking.rs). One seed
//! decides everything (node ids, per-node RNG seeds, link latency, loss,
//! duplication), so the same seed gives the same trace: [`Cluster::trace_hash`]
//! proves it.
//!
//! TCP is modelled as a reliable, ordered stream per connection: a connect
//! costs one round trip, frames arrive in order after the link latency, and
//! a connection to a crashed or partitioned node fails after a
//! retransmission timeout. Checks run throughout: every datagram within the
//! MTU, no own write transmitted before it is durable, and (when enabled)
//! the coverage invariant against the simulator's own log of writes.

use core::net::SocketAddr;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{GroupName, NodeId};
use crate::protocol::{
    Chatter, Command, ConnId, Millis, NodeIdentity, OwnState, ProtocolConfig, Transmit, Via,
};
use crate::wire::{Codec, Key, Keyring, Limits, Liveness};

use super::net::{Net, NetConfig};
use super::truth::Truth;

mod actions;
mod disk;
mod step;
mod tcp;
mod tracking;

use tracking::Tracked;

/// Everything a run is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of subnets (multicast islands behind one router).
    pub subnets: usize,
    /// Link behaviour.
    pub net: NetConfig,
    /// Protocol settings for every node (seeds are filled in per node).
    pub protocol: ProtocolConfig,
    /// Time a persist takes (ms): transmits are held meanwhile.
    pub fsync_ms: u64,
    /// Check the coverage invariant of every node after every event (slow
    /// for big clusters; otherwise checked at convergence checks).
    pub check_every_step: bool,
    /// The run's seed.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 10,
            subnets: 1,
            net: NetConfig::default(),
            protocol: ProtocolConfig::default(),
            fsync_ms: 2,
            check_every_step: false,
            seed: 1,
        }
    }
}

/// Traffic counters of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent (datagrams and TCP frames).
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Frames received.
    pub frames_in: u64,
}

struct SimConn {
    remote: usize,
    remote_conn: Option<ConnId>,
    last_delivery: Millis,
}

struct Node {
    chatter: Option<Chatter>,
    id: NodeId,
    incarnation: u64,
    store: OwnState,
    /// The expiry markers as last stored (they survive a restart).
    markers: Vec<(NodeId, u64)>,
    /// The seeds in its config file (the addresses they had at the start:
    /// a renumbered seed is not updated in the others' config).
    seeds: Vec<SocketAddr>,
    timer_at: Option<Millis>,
    /// Timer firings at one instant that left the timer due at it again.
    spins: (Millis, u32),
    conns: BTreeMap<ConnId, SimConn>,
    traffic: Traffic,
    max_conns_seen: usize,
    /// The data dir refuses writes (a read-only or full SD card).
    disk_failing: bool,
}

enum Ev {
    Datagram {
        to: usize,
        from: SocketAddr,
        via: Via,
        bytes: Rc<Vec<u8>>,
    },
    Timer {
        node: usize,
    },
    Persisted {
        node: usize,
        incarnation: u64,
        state: OwnState,
    },
    TcpSyn {
        to: usize,
        from: usize,
        from_conn: ConnId,
    },
    TcpOpened {
        node: usize,
        incarnation: u64,
        conn: ConnId,
        remote_conn: ConnId,
    },
    TcpFailed {
        node: usize,
        incarnation: u64,
        conn: ConnId,
    },
    TcpFrame {
        to: usize,
        incarnation: u64,
        conn: ConnId,
        from: usize,
        from_conn: ConnId,
        bytes: Vec<u8>,
    },
    TcpClosed {
        node: usize,
        incarnation: u64,
        conn: ConnId,
    },
}

struct Queued {
    at: Millis,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// A liveness verdict a node reached about a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// When.
    pub at: Millis,
    /// The node that reached it.
    pub observer: usize,
    /// The peer it is about.
    pub about: NodeId,
    /// Its new state in the observer's view.
    pub state: Liveness,
    /// Whether the observer saw a new incarnation.
    pub restarted: bool,
}

/// N simulated nodes, their network and the event queue.
pub struct Cluster {
    cfg: SimConfig,
    net: Net,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    now: Millis,
    rng: ChaCha8Rng,
    key: Key,
    truth: Truth,
    trace: xxhash_rust::xxh3::Xxh3Default,
    tracked: Vec<Tracked>,
    /// Delays (ms) of writes that reached every live node.
    pub write_delays: Vec<u64>,
    /// Every liveness verdict any node reached, in order.
    pub liveness_log: Vec<Verdict>,
    /// Unicast datagrams and TCP connects addressed to a stopped node
    /// (contacts of members that are down).
    pub to_stopped: u64,
    violations: Vec<String>,
    events_run: u64,
    /// Own items whose persist was refused and never made durable since:
    /// no node may ever hold one.
    refused: Vec<(GroupName, crate::model::TimedItem)>,
    /// Persists refused by a failing disk.
    persists_refused: u64,
}

impl Cluster {
    /// Builds the cluster and starts every node at time 0 (staggered over
    /// the first second).
    #[must_use]
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let subnets = cfg.subnets.max(1);
        let subnet: Vec<usize> = (0..cfg.nodes).map(|i| i % subnets).collect();
        let net = Net::new(cfg.net.clone(), subnet);
        let mut key_bytes = [0u8; 32];
        rng.fill_bytes(&mut key_bytes);
        let key = Key::from_bytes(key_bytes);
        let nodes = (0..cfg.nodes)
            .map(|i| Node {
                chatter: None,
                id: NodeId::from_u64(rng.next_u64()),
                seeds: actions::seeds_of(&net, i, subnets),
                incarnation: 0,
                store: OwnState::default(),
                markers: Vec::new(),
                timer_at: None,
                spins: (Millis(0), 0),
                conns: BTreeMap::new(),
                traffic: Traffic::default(),
                max_conns_seen: 0,
                disk_failing: false,
            })
            .collect();
        let mut c = Self {
            net,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            now: Millis::ZERO,
            rng,
            key,
            truth: Truth::new(),
            trace: xxhash_rust::xxh3::Xxh3Default::new(),
            tracked: Vec::new(),
            write_delays: Vec::new(),
            liveness_log: Vec::new(),
            to_stopped: 0,
            violations: Vec::new(),
            events_run: 0,
            refused: Vec::new(),
            persists_refused: 0,
            cfg,
        };
        for i in 0..c.nodes.len() {
            let delay = c.rng.next_u64() % 1000;
            c.start_node(i, Millis(delay));
        }
        c
    }

    // --- accessors ----------------------------------------------------------

    /// The current virtual time.
    #[must_use]
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The network (to partition it, block multicast, change loss).
    pub fn net_mut(&mut self) -> &mut Net {
        &mut self.net
    }

    /// Node `i`'s protocol instance, if it is running.
    #[must_use]
    pub fn chatter(&self, i: usize) -> Option<&Chatter> {
        self.nodes.get(i).and_then(|n| n.chatter.as_ref())
    }

    /// Node `i`'s id.
    #[must_use]
    pub fn node_id(&self, i: usize) -> NodeId {
        self.nodes.get(i).map_or(NodeId::from_u64(0), |n| n.id)
    }

    /// Whether node `i` is running.
    #[must_use]
    pub fn alive(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.chatter.is_some())
    }

    /// Node `i`'s traffic counters.
    #[must_use]
    pub fn traffic(&self, i: usize) -> Traffic {
        self.nodes.get(i).map(|n| n.traffic).unwrap_or_default()
    }

    /// Frames sent by kind, summed over the running nodes (from their own
    /// counters since their last start).
    #[must_use]
    pub fn frames_by_kind(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for c in self.nodes.iter().filter_map(|n| n.chatter.as_ref()) {
            for (k, v) in &c.stats().frames_out {
                *out.entry(*k).or_insert(0) += v;
            }
        }
        out
    }

    /// Drops by reason, summed over the running nodes.
    #[must_use]
    pub fn drops(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for c in self.nodes.iter().filter_map(|n| n.chatter.as_ref()) {
            for (k, v) in &c.stats().drops {
                *out.entry(*k).or_insert(0) += v;
            }
        }
        out
    }

    /// The most TCP connections node `i` had open at once.
    #[must_use]
    pub fn max_conns(&self, i: usize) -> usize {
        self.nodes.get(i).map_or(0, |n| n.max_conns_seen)
    }

    /// The simulator's log of durable writes.
    #[must_use]
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Invariant violations seen so far.
    #[must_use]
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// A hash of every event processed: equal for two runs of one seed.
    #[must_use]
    pub fn trace_hash(&self) -> u64 {
        self.trace.digest()
    }

    /// Events processed so far.
    #[must_use]
    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    /// Writes still travelling (not yet at every live node).
    #[must_use]
    pub fn writes_in_flight(&self) -> usize {
        self.tracked.len()
    }

    /// Whether every running node holds exactly the latest durable write of
    /// every identity of the groups it is a member of (and nothing of the
    /// others but its own).
    #[must_use]
    pub fn converged(&self) -> bool {
        self.nodes
            .iter()
            .filter_map(|n| n.chatter.as_ref())
            .all(|c| self.truth.holds_exactly(c.db()))
    }

    /// Whether every running node holds every honest write (forged extra
    /// writes allowed).
    #[must_use]
    pub fn holds_all_honest(&self) -> bool {
        self.nodes
            .iter()
            .filter_map(|n| n.chatter.as_ref())
            .all(|c| self.truth.holds_all(c.db()))
    }

    /// Runs until [`Self::holds_all_honest`], checking every `step` ms, for
    /// at most `limit` ms. Returns the time it took, or `None`.
    pub fn run_until_holds_all(&mut self, step: u64, limit: u64) -> Option<u64> {
        let start = self.now;
        loop {
            if self.holds_all_honest() {
                return Some(self.now.since(start));
            }
            if self.now.since(start) >= limit {
                return None;
            }
            self.run_for(step.max(1));
        }
    }

    /// A report of what the nodes that are not converged lack.
    #[must_use]
    pub fn divergence(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(c) = &n.chatter
                && !self.truth.holds_exactly(c.db())
            {
                out.push_str(&format!(
                    "node {i} ({}):\n{}",
                    n.id,
                    self.truth.diff(c.db())
                ));
            }
        }
        out
    }

    /// Checks the coverage invariant on every running node now (and that
    /// no node holds a write its author's disk refused).
    pub fn check_invariant(&mut self) {
        self.check_refused_absent();
        let mut found = Vec::new();
        for n in &self.nodes {
            if let Some(c) = &n.chatter
                && let Err(e) = self.truth.check(n.id, c.db())
            {
                found.push(e);
            }
        }
        self.violations.extend(found);
    }

    // --- scenario actions -----------------------------------------------------

    /// Gives node `i` a command now (an own write). Refused commands (e.g. a
    /// release of an unclaimed range) are ignored.
    pub fn command(&mut self, i: usize, cmd: Command) {
        let now = self.now;
        let Some(c) = self.nodes.get_mut(i).and_then(|n| n.chatter.as_mut()) else {
            return;
        };
        let before = c.db().clock();
        if c.handle_command(now, cmd).is_err() {
            return;
        }
        let after = c.db().clock();
        if after > before {
            self.track_fresh(i, before, now);
        }
        self.drive(i);
    }

    /// A codec with the cluster's key (to forge frames as a key holder).
    #[must_use]
    pub fn codec(&self) -> Codec {
        Codec::new(
            "sim",
            Keyring::new(self.key.clone()),
            Limits {
                mtu: self.cfg.protocol.mtu,
                max_frame: self.cfg.protocol.max_frame,
            },
        )
    }

    /// Delivers `bytes` to node `to` now, as a unicast datagram from `from`
    /// (an address outside the simulated network: replies are lost).
    pub fn inject(&mut self, to: usize, from: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        self.push(
            now,
            Ev::Datagram {
                to,
                from,
                via: Via::Unicast,
                bytes: Rc::new(bytes),
            },
        );
    }

    /// Runs events until virtual time `until` (inclusive).
    pub fn run_until(&mut self, until: Millis) {
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > until {
                break;
            }
            let Some(Reverse(q)) = self.queue.pop() else {
                break;
            };
            self.now = q.at;
            self.events_run += 1;
            self.handle(q.ev);
            if self.cfg.check_every_step {
                self.check_invariant();
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now.plus(ms);
        self.run_until(until);
    }

    /// Runs until every running node is converged, checking every `step`
    /// ms, for at most `limit` ms. Returns the time it took, or `None`.
    pub fn run_until_converged(&mut self, step: u64, limit: u64) -> Option<u64> {
        let start = self.now;
        loop {
            if self.converged() {
                return Some(self.now.since(start));
            }
            if self.now.since(start) >= limit {
                return None;
            }
            self.run_for(step.max(1));
        }
    }

    // --- internals ------------------------------------------------------------

    fn push(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn start_node(&mut self, i: usize, at: Millis) {
        let mut pcfg = self.cfg.protocol.clone();
        pcfg.seeds = self
            .nodes
            .get(i)
            .map(|n| n.seeds.clone())
            .unwrap_or_default();
        let addr = self.net.addr(i);
        let key = self.key.clone();
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let Some(node) = self.nodes.get_mut(i) else {
            return;
        };
        node.incarnation += 1;
        let codec = Codec::new(
            "sim",
            Keyring::new(key),
            Limits {
                mtu: pcfg.mtu,
                max_frame: pcfg.max_frame,
            },
        );
        let identity = NodeIdentity {
            id: node.id,
            incarnation: node.incarnation,
            addrs: vec![addr],
        };
        let restored = (node.store.clock > 0).then(|| node.store.clone());
        match Chatter::new(pcfg, identity, codec, restored, seed, at) {
            Ok(mut c) => {
                c.restore_markers(at, &node.markers);
                node.chatter = Some(c);
                node.timer_at = None;
                node.conns.clear();
                self.push(at, Ev::Timer { node: i });
            }
            Err(e) => self
                .violations
                .push(format!("node {i} failed to restart: {e}")),
        }
    }

    fn route(&mut self, i: usize, t: Transmit, mtu: usize) {
        let from = self.net.addr(i);
        match t {
            Transmit::Multicast { bytes } => {
                self.count_out(i, bytes.len(), mtu, true);
                let bytes = Rc::new(bytes);
                for j in 0..self.nodes.len() {
                    if self.net.hears_multicast(i, j) {
                        self.send_copies(i, j, from, Via::Multicast, &bytes);
                    }
                }
            }
            Transmit::Unicast { to, bytes } => {
                self.count_out(i, bytes.len(), mtu, true);
                let j = self.net.node_at(to);
                self.to_stopped += u64::from(j.is_some_and(|j| !self.alive(j)));
                if let Some(j) = j
                    && self.net.reaches(i, j)
                {
                    let bytes = Rc::new(bytes);
                    self.send_copies(i, j, from, Via::Unicast, &bytes);
                }
            }
            Transmit::Connect { conn, to } => self.tcp_connect(i, conn, to),
            Transmit::Send { conn, bytes } => self.tcp_send(i, conn, bytes),
            Transmit::Close { conn } => self.tcp_close(i, conn),
        }
    }

    fn send_copies(&mut self, i: usize, j: usize, from: SocketAddr, via: Via, bytes: &Rc<Vec<u8>>) {
        for _ in 0..self.net.copies(&mut self.rng) {
            let lat = self.net.latency(i, j, &mut self.rng);
            self.push(
                self.now.plus(lat),
                Ev::Datagram {
                    to: j,
                    from,
                    via,
                    bytes: Rc::clone(bytes),
                },
            );
        }
    }

    fn count_out(&mut self, i: usize, len: usize, mtu: usize, datagram: bool) {
        if datagram && len > mtu {
            self.violations
                .push(format!("node {i} sent a {len}-byte datagram (MTU {mtu})"));
        }
        if let Some(n) = self.nodes.get_mut(i) {
            n.traffic.bytes_out += len as u64;
            n.traffic.frames_out += 1;
        }
    }

    fn trace_event(&mut self, kind: u8, node: usize, x: u64) {
        trace(&mut self.trace, self.now, kind, node, x);
    }

    /// Checks a sent frame for own writes not yet durable (the protocol holds
    /// transmits while a persist is outstanding, so this never fires unless
    /// that rule breaks).
    pub fn check_durable_before_sent(&mut self) {
        // Covered structurally: `drive` drains persists first and the
        // protocol yields no transmit until `handle_persisted`. Verify the
        // rule held by comparing every running node's clock with its store
        // once no persist is pending.
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(c) = &n.chatter
                && c.db().clock() > n.store.clock
                && !self
                    .queue
                    .iter()
                    .any(|Reverse(q)| matches!(q.ev, Ev::Persisted { node, .. } if node == i))
            {
                self.violations.push(format!(
                    "node {i} has clock {} but only {} is durable and no persist is pending",
                    c.db().clock(),
                    n.store.clock
                ));
            }
        }
    }
}

/// Folds one event into the trace hash.
fn trace(h: &mut xxhash_rust::xxh3::Xxh3Default, now: Millis, kind: u8, node: usize, x: u64) {
    h.update(&[kind]);
    h.update(&now.0.to_le_bytes());
    h.update(&(node as u64).to_le_bytes());
    h.update(&x.to_le_bytes());
}
