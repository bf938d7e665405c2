//! `Bench`: a few Chatter nodes the test moves every frame between by
//! hand (in the spirit of quinn-proto's test `Pair`), for the scripted
//! protocol rules in tests/protocol/. Node `i` has id `i` (ids order the
//! nodes) and lives at 10.0.0.i. Nothing is delivered unless the test
//! says so, so a test can lose any frame and look at exactly what each
//! node sends; time is `bench.now`, moved by the test.
//!
//! (tests/support/lab.rs is the other harness: a network that delivers
//! everything at once, for runs of many steps.)

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::BTreeMap;

use scalesmall::model::{GroupName, KeyRange, NodeId};
use scalesmall::protocol::{
    Chatter, Command, ConnEvent, ConnId, Event, Millis, NodeIdentity, OwnState, Persisted,
    ProtocolConfig, Transmit, Via,
};
use scalesmall::wire::{Codec, Frame, FrameKind, Key, Keyring, Limits, Payload, VERSION};

/// Node `i`'s address: 10.0.0.i.
pub fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 29999)
}

/// Node `i`'s id.
pub fn id(i: u8) -> NodeId {
    NodeId::from_u64(u64::from(i))
}

/// The bench's cluster name and key.
pub fn codec() -> Codec {
    Codec::new(
        "rules",
        Keyring::new(Key::from_bytes([7; 32])),
        Limits::default(),
    )
}

/// The group the tests write to.
pub fn g() -> GroupName {
    GroupName::new("g").expect("valid")
}

/// A claim of `start..=start + 9` in `g`, priority 1.
pub fn claim(start: u32) -> Command {
    Command::Claim {
        group: g(),
        range: KeyRange::new(start, start + 9).expect("valid"),
        priority: 1,
        port: 80,
    }
}

/// Long periods, so nothing happens unless a test makes it happen.
pub fn quiet() -> ProtocolConfig {
    ProtocolConfig {
        announce_period: 1_000_000,
        far_sync_period: 1_000_000,
        rep_sync_period: 1_000_000,
        reconnect_interval: 1_000_000_000,
        ..ProtocolConfig::default()
    }
}

/// Node `i` with `cfg`, restored from `own` (`None`: a first boot).
pub fn chatter(
    i: u8,
    cfg: ProtocolConfig,
    own: Option<OwnState>,
    incarnation: u64,
    now: Millis,
) -> Chatter {
    let me = NodeIdentity {
        id: id(i),
        incarnation,
        addrs: vec![addr(i)],
    };
    Chatter::new(cfg, me, codec(), own, [i; 32], now).expect("valid")
}

/// A frame from node `sender` (incarnation 1) with sequence number `seq`.
pub fn from(sender: u8, seq: u64, payload: Payload) -> Frame {
    Frame {
        sender: id(sender),
        incarnation: 1,
        seq,
        payload,
    }
}

/// Seals `f` with the bench's key at `version`, nonce `[nonce; 24]`.
pub fn seal(f: &Frame, version: u8, nonce: u8) -> Vec<u8> {
    codec().encode(f, version, [nonce; 24]).expect("encodes")
}

/// Seals `f` at today's version.
pub fn sealed(f: &Frame, nonce: u8) -> Vec<u8> {
    seal(f, VERSION, nonce)
}

/// Opens one of the bench's frames.
pub fn frame(bytes: &[u8]) -> Frame {
    codec().decode(bytes).expect("our own frames decode").frame
}

/// The kind of frame `t` carries (`None`: not a frame).
pub fn kind(t: &Transmit) -> Option<FrameKind> {
    bytes(t).map(|b| frame(b).payload.kind())
}

/// The bytes `t` carries, if it sends a frame.
pub fn bytes(t: &Transmit) -> Option<&[u8]> {
    match t {
        Transmit::Multicast { bytes }
        | Transmit::Unicast { bytes, .. }
        | Transmit::Send { bytes, .. } => Some(bytes),
        _ => None,
    }
}

/// The frames `ts` carries, of `want`.
pub fn of_kind(ts: &[Transmit], want: FrameKind) -> Vec<Transmit> {
    ts.iter()
        .filter(|t| kind(t) == Some(want))
        .cloned()
        .collect()
}

/// Whether `ts` carries a frame of `want`.
pub fn has(ts: &[Transmit], want: FrameKind) -> bool {
    ts.iter().any(|t| kind(t) == Some(want))
}

/// Whether `ts` sends `to` a datagram of `want`.
pub fn sends(ts: &[Transmit], to: SocketAddr, want: FrameKind) -> bool {
    ts.iter()
        .any(|t| matches!(t, Transmit::Unicast { to: d, .. } if *d == to) && kind(t) == Some(want))
}

/// The addresses `ts` sends datagrams of `want` to.
pub fn unicast_to(ts: &[Transmit], want: FrameKind) -> Vec<SocketAddr> {
    ts.iter()
        .filter_map(|t| match t {
            Transmit::Unicast { to, .. } if kind(t) == Some(want) => Some(*to),
            _ => None,
        })
        .collect()
}

/// The TCP connections `ts` opens (tree steps), with their peers.
pub fn connects(ts: &[Transmit]) -> Vec<(ConnId, SocketAddr)> {
    ts.iter()
        .filter_map(|t| match t {
            Transmit::Connect { conn, to } => Some((*conn, *to)),
            _ => None,
        })
        .collect()
}

/// The peers `ts` opens TCP connections to.
pub fn connected(ts: &[Transmit]) -> Vec<SocketAddr> {
    connects(ts).into_iter().map(|(_, to)| to).collect()
}

/// The connection `ts` opens to node `to`.
///
/// # Panics
/// If there is none.
pub fn expect_connect(ts: &[Transmit], to: u8) -> ConnId {
    connects(ts)
        .into_iter()
        .find_map(|(c, a)| (a == addr(to)).then_some(c))
        .unwrap_or_else(|| panic!("a connection to {}: {ts:?}", addr(to)))
}

/// The first multicast of `ts`.
///
/// # Panics
/// If there is none.
pub fn first_multicast(ts: &[Transmit]) -> Vec<u8> {
    ts.iter()
        .find_map(|t| match t {
            Transmit::Multicast { bytes } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a multicast: {ts:?}"))
}

/// What a node put out that the test has not taken yet.
#[derive(Default)]
struct Untaken {
    transmits: Vec<Transmit>,
    events: Vec<Event>,
    markers: Option<Vec<(NodeId, u64)>>,
}

/// The nodes, by id, and the time.
pub struct Bench {
    nodes: BTreeMap<u8, Chatter>,
    out: BTreeMap<u8, Untaken>,
    /// Now: every call below happens at this time.
    pub now: Millis,
}

impl Bench {
    /// Nodes `ids`, all `quiet()`, at time 0.
    pub fn new(ids: impl IntoIterator<Item = u8>) -> Self {
        Self::with(ids, &quiet())
    }

    /// Nodes `ids`, all with `cfg`, at time 0.
    pub fn with(ids: impl IntoIterator<Item = u8>, cfg: &ProtocolConfig) -> Self {
        let mut b = Self {
            nodes: BTreeMap::new(),
            out: BTreeMap::new(),
            now: Millis(0),
        };
        for i in ids {
            b.add(i, cfg.clone());
        }
        b
    }

    /// Nodes `ids` (all `quiet()`) at time `now`, the first introduced to
    /// each of the others (the seed path: they know each other by unicast,
    /// none hears another's multicast).
    pub fn star(ids: impl IntoIterator<Item = u8>, now: Millis) -> Self {
        let ids: Vec<u8> = ids.into_iter().collect();
        let mut b = Self::new(ids.iter().copied());
        b.at(now);
        for &p in ids.iter().skip(1) {
            b.introduce(ids[0], p);
        }
        b
    }

    /// Adds (or replaces by a first boot of) node `i` with `cfg`.
    pub fn add(&mut self, i: u8, cfg: ProtocolConfig) {
        self.insert(i, chatter(i, cfg, None, 1, Millis(0)));
    }

    /// Puts `c` in as node `i` (a restart, say).
    pub fn insert(&mut self, i: u8, c: Chatter) {
        self.nodes.insert(i, c);
        self.out.remove(&i);
    }

    /// Moves time to `t`.
    pub fn at(&mut self, t: Millis) -> &mut Self {
        self.now = t;
        self
    }

    /// Node `i`.
    pub fn node(&self, i: u8) -> &Chatter {
        self.nodes.get(&i).unwrap_or_else(|| panic!("no node {i}"))
    }

    /// Node `i`, to drive it directly.
    pub fn node_mut(&mut self, i: u8) -> &mut Chatter {
        self.nodes
            .get_mut(&i)
            .unwrap_or_else(|| panic!("no node {i}"))
    }

    /// Node `i` takes `cmd` (its output stays queued).
    pub fn command(&mut self, i: u8, cmd: Command) {
        let now = self.now;
        self.node_mut(i).handle_command(now, cmd).expect("ok");
    }

    /// Node `i` claims `start..=start + 9` in `g` (its output stays queued).
    pub fn claim(&mut self, i: u8, start: u32) {
        self.command(i, claim(start));
    }

    /// Node `i` joins `g` (a `Get`: a member receives the group; interest,
    /// ALGORITHM.md 8.6); its broadcast is dropped.
    pub fn join(&mut self, i: u8) {
        self.command(i, Command::Join(g()));
        self.drain(i);
    }

    /// Node `i`'s outputs (`Chatter::drain_outputs`, every write durable
    /// at once) added to what the test has not taken yet.
    fn pump(&mut self, i: u8) -> &mut Untaken {
        let now = self.now;
        let o = self.node_mut(i).drain_outputs(now, |_| Persisted::Durable);
        let u = self.out.entry(i).or_default();
        u.transmits.extend(o.transmits);
        u.events.extend(o.events);
        if o.markers.is_some() {
            u.markers = o.markers;
        }
        u
    }

    /// Persists node `i`'s writes (instantly) and drains every transmit.
    pub fn drain(&mut self, i: u8) -> Vec<Transmit> {
        std::mem::take(&mut self.pump(i).transmits)
    }

    /// Node `i`'s events since the last call.
    pub fn events(&mut self, i: u8) -> Vec<Event> {
        std::mem::take(&mut self.pump(i).events)
    }

    /// The expiry markers node `i` asks to store, if they changed since
    /// the last call.
    pub fn markers(&mut self, i: u8) -> Option<Vec<(NodeId, u64)>> {
        self.pump(i).markers.take()
    }

    /// Node `i`'s timers due now fire; returns what it sent.
    pub fn tick(&mut self, i: u8) -> Vec<Transmit> {
        let now = self.now;
        self.node_mut(i).handle_timeout(now);
        self.drain(i)
    }

    /// Forces a multicast announce out of node `i`.
    pub fn announce(&mut self, i: u8) -> Vec<Transmit> {
        let later = self.now.plus(2_000_000);
        self.node_mut(i).handle_timeout(later);
        self.drain(i)
    }

    /// Runs node `i`'s timers from its next deadline up to `until`,
    /// returning what it sent and when (time is left where it was).
    pub fn run_timers(&mut self, i: u8, until: Millis) -> Vec<(Millis, Transmit)> {
        let was = self.now;
        let mut out = Vec::new();
        while let Some(t) = self.node(i).poll_timeout()
            && t <= until
        {
            self.now = t;
            out.extend(self.tick(i).into_iter().map(|x| (t, x)));
        }
        self.now = was;
        out
    }

    /// Node `to` receives a unicast datagram from node `from`.
    pub fn datagram(&mut self, from: u8, to: u8, bytes: &[u8]) {
        let now = self.now;
        self.node_mut(to)
            .handle_datagram(now, addr(from), Via::Unicast, bytes);
    }

    /// Node `to` receives what `ts` (sent by node `from`) unicasts to it.
    pub fn deliver(&mut self, ts: &[Transmit], from: u8, to: u8) {
        self.pass(ts, from, to, false);
    }

    /// Node `to`, on `from`'s LAN, receives what `ts` multicasts and what
    /// it unicasts to `to`.
    pub fn hear(&mut self, ts: &[Transmit], from: u8, to: u8) {
        self.pass(ts, from, to, true);
    }

    fn pass(&mut self, ts: &[Transmit], from: u8, to: u8, multicast: bool) {
        let now = self.now;
        let c = self.node_mut(to);
        for t in ts {
            match t {
                Transmit::Multicast { bytes } if multicast => {
                    c.handle_datagram(now, addr(from), Via::Multicast, bytes);
                }
                Transmit::Unicast { to: dst, bytes } if *dst == addr(to) => {
                    c.handle_datagram(now, addr(from), Via::Unicast, bytes);
                }
                _ => {}
            }
        }
    }

    /// Node `to`, in another subnet, receives what `ts` multicasts as
    /// unicast datagrams (it got them by TCP or gossip).
    pub fn deliver_far(&mut self, ts: &[Transmit], from: u8, to: u8) {
        for t in ts {
            if let Transmit::Multicast { bytes } = t {
                self.datagram(from, to, bytes);
            }
        }
    }

    /// Nodes `a` and `b` get to know each other: each sends the other a
    /// unicast announce (the seed path).
    pub fn introduce(&mut self, a: u8, b: u8) {
        self.command(a, Command::AddSeed(addr(b)));
        let ts = self.drain(a);
        self.deliver(&ts, a, b);
        let back = self.drain(b);
        self.deliver(&back, b, a);
        self.drain(a);
    }

    /// Makes `a` hear `b`'s multicast and `b` report hearing `a` (a LAN):
    /// a multicast announce each way, twice (the second lists the first).
    pub fn lan(&mut self, a: u8, b: u8) {
        for _ in 0..2 {
            let ta = self.announce(a);
            self.hear(&ta, a, b);
            let tb = self.announce(b);
            self.hear(&tb, b, a);
        }
    }

    /// Node `i`'s connection `conn` opens; returns what it then sends.
    pub fn open(&mut self, i: u8, conn: ConnId) -> Vec<Transmit> {
        self.conn_event(i, conn, ConnEvent::Opened);
        self.drain(i)
    }

    /// Node `i`'s connection `conn` reports `ev`.
    pub fn conn_event(&mut self, i: u8, conn: ConnId, ev: ConnEvent) {
        let now = self.now;
        self.node_mut(i).handle_conn_event(now, conn, ev);
    }

    /// Node `i` accepts a TCP connection from node `from`.
    pub fn accept(&mut self, i: u8, from: u8) -> ConnId {
        let now = self.now;
        self.node_mut(i).handle_accept(now, addr(from))
    }

    /// Node `i` reads the frame `bytes` on its connection `conn`.
    pub fn tcp(&mut self, i: u8, conn: ConnId, bytes: &[u8]) {
        let now = self.now;
        self.node_mut(i).handle_frame(now, conn, bytes);
    }
}
