//! `Lab`: a few Chatter nodes wired together by hand for scripted protocol
//! tests. Zero latency, no loss: a frame is delivered the moment it is
//! sent, unless the test cut the path. Subnets carry multicast; unicast
//! and TCP reach any node whose address matches, across subnets, unless
//! cut. Every transmit is logged, so a test can count exactly what each
//! node sent where. Time moves only when the test says so, jumping from
//! one node deadline to the next.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};

use scalesmall::model::{GroupName, KeyRange, NodeId};
use scalesmall::protocol::{
    Chatter, Command, ConnEvent, ConnId, Event, Millis, NodeIdentity, Persisted, ProtocolConfig,
    Transmit, Via,
};
use scalesmall::wire::{Codec, Frame, Key, Keyring, Limits};

/// The lab's cluster key.
pub fn codec() -> Codec {
    Codec::new(
        "lab",
        Keyring::new(Key::from_bytes([9; 32])),
        Limits::default(),
    )
}

/// Decodes one of the lab's frames.
pub fn frame(bytes: &[u8]) -> Option<Frame> {
    codec().decode(bytes).ok().map(|d| d.frame)
}

/// The group the lab's tests write to.
pub fn g() -> GroupName {
    GroupName::new("g").expect("valid")
}

/// One logged transmit.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When.
    pub at: Millis,
    /// By which node.
    pub from: usize,
    /// What.
    pub what: Transmit,
}

/// Nodes, their subnets and addresses, the cuts between them.
pub struct Lab {
    /// The nodes (`None`: stopped).
    pub nodes: Vec<Option<Chatter>>,
    subnet: Vec<usize>,
    addrs: Vec<SocketAddr>,
    incarnations: Vec<u64>,
    cfg: ProtocolConfig,
    /// Node pairs that cannot reach each other (either way), lower first.
    cut: BTreeSet<(usize, usize)>,
    /// Node pairs where the first cannot reach the second (one way).
    one_way: BTreeSet<(usize, usize)>,
    /// Open TCP connections: `(node, its conn)` to the other end.
    conns: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    /// Now.
    pub now: Millis,
    /// Every transmit, in order.
    pub log: Vec<Sent>,
    /// Every event, by node.
    pub events: Vec<Vec<Event>>,
}

impl Lab {
    /// Node `i` (id `i + 1`) in subnet `subnets[i]`, at
    /// `10.0.<subnet>.<i + 1>:29999`, all with `cfg`; seeds `seeds[i]`.
    #[must_use]
    pub fn new(subnets: &[usize], cfg: &ProtocolConfig, seeds: &[Vec<usize>]) -> Self {
        let n = subnets.len();
        let addrs: Vec<SocketAddr> = (0..n)
            .map(|i| Self::make_addr(subnets[i], i as u8 + 1))
            .collect();
        let mut lab = Self {
            nodes: (0..n).map(|_| None).collect(),
            subnet: subnets.to_vec(),
            addrs,
            incarnations: vec![0; n],
            cfg: cfg.clone(),
            cut: BTreeSet::new(),
            one_way: BTreeSet::new(),
            conns: BTreeMap::new(),
            now: Millis(0),
            log: Vec::new(),
            events: vec![Vec::new(); n],
        };
        for i in 0..n {
            let s: Vec<SocketAddr> = seeds
                .get(i)
                .map(|v| v.iter().map(|j| lab.addrs[*j]).collect())
                .unwrap_or_default();
            lab.start_with(i, s);
        }
        lab
    }

    /// `10.0.<subnet>.<host>:29999`.
    #[must_use]
    pub fn make_addr(subnet: usize, host: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, subnet as u8, host)), 29999)
    }

    /// Node `i`'s id.
    #[must_use]
    pub fn id(i: usize) -> NodeId {
        NodeId::from_u64(i as u64 + 1)
    }

    /// Node `i`'s address now.
    #[must_use]
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// Node `i`.
    ///
    /// # Panics
    /// If it is stopped.
    pub fn node(&self, i: usize) -> &Chatter {
        self.nodes[i].as_ref().expect("node running")
    }

    /// (Re)starts node `i` with a new incarnation and no state, at its
    /// current address, with `seeds`.
    pub fn start_with(&mut self, i: usize, seeds: Vec<SocketAddr>) {
        self.incarnations[i] += 1;
        let mut cfg = self.cfg.clone();
        cfg.seeds = seeds;
        let me = NodeIdentity {
            id: Self::id(i),
            incarnation: self.incarnations[i],
            addrs: vec![self.addrs[i]],
        };
        let mut seed = [0u8; 32];
        seed[0] = i as u8;
        seed[1] = self.incarnations[i] as u8;
        let c = Chatter::new(cfg, me, codec(), None, seed, self.now).expect("valid");
        self.nodes[i] = Some(c);
    }

    /// Stops node `i` (a crash: nothing more from or to it).
    pub fn stop(&mut self, i: usize) {
        self.nodes[i] = None;
        self.conns.retain(|(a, _), (b, _)| *a != i && *b != i);
    }

    /// Node `i` gets address `host` in `subnet` (its running process, if
    /// any, keeps its identity: restart it to announce the new one).
    pub fn renumber(&mut self, i: usize, subnet: usize, host: u8) {
        self.subnet[i] = subnet;
        self.addrs[i] = Self::make_addr(subnet, host);
    }

    /// Cuts every path between `side` and the other nodes.
    pub fn cut(&mut self, side: &[usize]) {
        for &a in side {
            for b in 0..self.nodes.len() {
                if !side.contains(&b) {
                    self.cut.insert((a.min(b), a.max(b)));
                }
            }
        }
    }

    /// `from` can no longer reach `to` (the other way still works).
    pub fn cut_one_way(&mut self, from: usize, to: usize) {
        self.one_way.insert((from, to));
    }

    /// Every cut heals.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.one_way.clear();
    }

    /// Whether `a` reaches `b` now.
    #[must_use]
    pub fn reaches(&self, a: usize, b: usize) -> bool {
        !self.cut.contains(&(a.min(b), a.max(b)))
            && !self.one_way.contains(&(a, b))
            && self.nodes[a].is_some()
            && self.nodes[b].is_some()
    }

    /// A command to node `i`, and everything it causes.
    ///
    /// # Panics
    /// If the model refuses it.
    pub fn command(&mut self, i: usize, cmd: Command) {
        let now = self.now;
        if let Some(c) = self.nodes[i].as_mut() {
            c.handle_command(now, cmd).expect("accepted");
        }
        self.settle();
    }

    /// Node `i` joins `g` and claims a range of its own, numbered `k`.
    pub fn claim(&mut self, i: usize, k: u32) {
        let start = i as u32 * 1_000_000 + k * 100;
        self.command(
            i,
            Command::Claim {
                group: g(),
                range: KeyRange::new(start, start + 9).expect("valid"),
                priority: 1,
                port: 80,
            },
        );
    }

    /// Whether node `i` holds node `j`'s claim numbered `k`.
    #[must_use]
    pub fn holds_claim(&self, i: usize, j: usize, k: u32) -> bool {
        let key = j as u32 * 1_000_000 + k * 100 + 5;
        self.node(i)
            .db()
            .lookup("g", key)
            .iter()
            .any(|s| s.member == Self::id(j))
    }

    /// Runs `ms` of time.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now.plus(ms);
        self.settle();
        let mut spins = 0;
        loop {
            let mut next = self
                .nodes
                .iter()
                .flatten()
                .filter_map(Chatter::poll_timeout)
                .min()
                .unwrap_or(Millis::NEVER)
                .max(self.now);
            if next > until {
                self.now = until;
                return;
            }
            // A deadline that does not move would spin: a bug, but let the
            // test's own assertions tell, not a hang.
            spins = if next == self.now { spins + 1 } else { 0 };
            if spins > 1_000 {
                next = next.plus(1);
                spins = 0;
            }
            self.now = next;
            for i in 0..self.nodes.len() {
                let now = self.now;
                if let Some(c) = self.nodes[i].as_mut()
                    && c.poll_timeout().is_some_and(|t| t <= now)
                {
                    c.handle_timeout(now);
                }
            }
            self.settle();
        }
    }

    /// Runs until `done` holds (checked every 100 ms) or `limit` ms passed;
    /// returns how long it took.
    pub fn run_until(&mut self, limit: u64, done: impl Fn(&Self) -> bool) -> Option<u64> {
        let start = self.now;
        while self.now.since(start) <= limit {
            if done(self) {
                return Some(self.now.since(start));
            }
            self.run_for(100);
        }
        None
    }

    /// Delivers everything every node has to send, until nothing is left.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut any = false;
            for i in 0..self.nodes.len() {
                let out = self.drain(i);
                any |= !out.is_empty();
                for t in out {
                    self.deliver(i, t);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn drain(&mut self, i: usize) -> Vec<Transmit> {
        let now = self.now;
        let Some(c) = self.nodes[i].as_mut() else {
            return Vec::new();
        };
        let out = c.drain_outputs(now, |_| Persisted::Durable);
        self.events[i].extend(out.events);
        out.transmits
    }

    fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| *a == addr)
    }

    fn deliver(&mut self, i: usize, t: Transmit) {
        let now = self.now;
        let from = self.addrs[i];
        self.log.push(Sent {
            at: now,
            from: i,
            what: t.clone(),
        });
        match t {
            Transmit::Multicast { bytes } => {
                for j in 0..self.nodes.len() {
                    if j != i && self.subnet[j] == self.subnet[i] && self.reaches(i, j) {
                        if let Some(c) = self.nodes[j].as_mut() {
                            c.handle_datagram(now, from, Via::Multicast, &bytes);
                        }
                    }
                }
            }
            Transmit::Unicast { to, bytes } => {
                if let Some(j) = self.index_of(to).filter(|j| self.reaches(i, *j))
                    && let Some(c) = self.nodes[j].as_mut()
                {
                    c.handle_datagram(now, from, Via::Unicast, &bytes);
                }
            }
            Transmit::Connect { conn, to } => {
                let j = self.index_of(to).filter(|j| self.reaches(i, *j));
                let accepted = j.and_then(|j| {
                    let c = self.nodes[j].as_mut()?;
                    Some((j, c.handle_accept(now, from)))
                });
                let event = match accepted {
                    Some((j, jc)) => {
                        self.conns.insert((i, conn), (j, jc));
                        self.conns.insert((j, jc), (i, conn));
                        ConnEvent::Opened
                    }
                    None => ConnEvent::Failed,
                };
                if let Some(c) = self.nodes[i].as_mut() {
                    c.handle_conn_event(now, conn, event);
                }
            }
            Transmit::Send { conn, bytes } => match self.conns.get(&(i, conn)).copied() {
                Some((j, jc)) if self.reaches(i, j) => {
                    if let Some(c) = self.nodes[j].as_mut() {
                        c.handle_frame(now, jc, &bytes);
                    }
                }
                _ => {
                    self.close(i, conn);
                    if let Some(c) = self.nodes[i].as_mut() {
                        c.handle_conn_event(now, conn, ConnEvent::Failed);
                    }
                }
            },
            Transmit::Close { conn } => self.close(i, conn),
        }
    }

    fn close(&mut self, i: usize, conn: ConnId) {
        if let Some((j, jc)) = self.conns.remove(&(i, conn)) {
            self.conns.remove(&(j, jc));
            let now = self.now;
            if let Some(c) = self.nodes[j].as_mut() {
                c.handle_conn_event(now, jc, ConnEvent::Closed);
            }
        }
    }

    /// The unicast announces logged since `from` (a log index), as
    /// `(sender, destination)`.
    #[must_use]
    pub fn announces_since(&self, from: usize) -> Vec<(usize, SocketAddr)> {
        self.log
            .get(from..)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| match &s.what {
                Transmit::Unicast { to, bytes } => frame(bytes)
                    .filter(|f| matches!(f.payload, scalesmall::wire::Payload::Announce(_)))
                    .map(|_| (s.from, *to)),
                _ => None,
            })
            .collect()
    }
}
