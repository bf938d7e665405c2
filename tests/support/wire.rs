//! Wire test support: the golden fixtures (fixed key, nonce, cluster and one
//! frame per kind), reading and writing `tests/vectors/*.hex`, and proptest
//! strategies for frames of every kind.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;

use proptest::collection::vec;
use proptest::prelude::*;
use scalesmall::model::{
    Coverage, GroupName, Item, KeyRange, Kind, Message, NodeId, Span, TimedItem, WorldClock,
};
use scalesmall::wire::{
    Announce, Codec, Forward, Frame, FrameKind, GroupDigest, Key, Keyring, Limits, Liveness,
    Payload, PeerRef, PingReq, Probe, Pull, Rumor, Window,
};

use super::strategies;

/// The golden cluster name.
pub const CLUSTER: &str = "golden";

/// The golden key: bytes 0x00, 0x01, ..., 0x1f.
pub fn golden_key() -> Key {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8;
    }
    Key::from_bytes(k)
}

/// The golden nonce: bytes 0x40, 0x41, ..., 0x57.
pub fn golden_nonce() -> [u8; 24] {
    let mut n = [0u8; 24];
    for (i, b) in n.iter_mut().enumerate() {
        *b = 0x40 + i as u8;
    }
    n
}

/// A codec with the golden key and default limits.
pub fn golden_codec() -> Codec {
    Codec::new(CLUSTER, Keyring::new(golden_key()), Limits::default())
}

fn id(v: u64) -> NodeId {
    NodeId::from_u64(v)
}

fn addr4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port))
}

fn golden_message(sender: NodeId) -> Message {
    let g = GroupName::new("cache").expect("valid");
    let mut clock = WorldClock::new();
    clock.cover(sender, Span::new(0, 3).expect("valid"));
    clock.cover(id(0x0b0b), Span::new(0, 2).expect("valid"));
    clock.cover(id(0x0b0b), Span::new(5, 300).expect("valid"));
    let r = KeyRange::new(0, 0x7fff_ffff).expect("valid");
    let items = vec![
        TimedItem::at(Item::add(sender, r, 10, 11211), 3).expect("valid"),
        TimedItem::at(Item::get(id(0x0b0b)), 1).expect("valid"),
        TimedItem::at(Item::rmv(id(0x0b0b), Kind::Serve, KeyRange::FULL), 300).expect("valid"),
    ];
    Message::new(g, clock, items).expect("valid")
}

/// [`golden_message`] with GC floors (format version 3): 2 for the sender
/// (within its coverage) and 7 for a member it says nothing else of.
fn golden_floored(sender: NodeId) -> Message {
    let (g, mut clock, items) = golden_message(sender).into_parts();
    clock.set_floor(sender, 2);
    clock.set_floor(id(0x0e0e), 7);
    Message::new(g, clock, items.items().to_vec()).expect("valid")
}

/// `(file stem, version, frame)` for every golden vector.
pub fn golden_frames() -> Vec<(&'static str, u8, Frame)> {
    let sender = id(0x0a0a_0a0a_0a0a_0a0a);
    let frame = |payload| Frame {
        sender,
        incarnation: 3,
        seq: 300,
        payload,
    };
    let v6 = SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        7946,
        0,
        2,
    ));
    let announce = |version: u8| Announce {
        max_version: 2,
        addrs: vec![addr4([192, 168, 1, 20], 7946), v6],
        hears: Window {
            total: 5,
            offset: 3,
            entries: vec![id(0x0b0b), id(0x0c0c)],
        },
        groups: Window::whole(vec![GroupDigest {
            group: GroupName::new("cache").expect("valid"),
            fingerprint: 0x0123_4567_89ab_cdef,
        }]),
        groups_fp: 0xfedc_ba98_7654_3210,
        heads: vec![PeerRef {
            id: id(0x0d0d),
            addr: addr4([10, 0, 0, 1], 7946),
        }],
        policy_fp: if version >= 2 {
            0x1111_2222_3333_4444
        } else {
            0
        },
        rumors: if version >= 2 {
            vec![golden_rumor()]
        } else {
            vec![]
        },
    };
    let mut pull_clock = WorldClock::new();
    pull_clock.cover(id(0x0b0b), Span::new(0, 2).expect("valid"));
    let peer = PeerRef {
        id: id(0x0c0c),
        addr: addr4([192, 168, 1, 21], 7946),
    };
    let forward = |message| {
        Payload::Forward(Forward {
            author: sender,
            upto: 3,
            list: vec![peer],
            message,
        })
    };
    vec![
        ("announce_v1", 1, frame(Payload::Announce(announce(1)))),
        ("announce_v2", 2, frame(Payload::Announce(announce(2)))),
        (
            "pull",
            2,
            frame(Payload::Pull(Pull {
                group: GroupName::new("cache").expect("valid"),
                part: NodeId::ALL,
                clock: pull_clock,
            })),
        ),
        ("delta", 2, frame(Payload::Delta(golden_message(sender)))),
        ("forward", 2, frame(forward(golden_message(sender)))),
        ("delta_v3", 3, frame(Payload::Delta(golden_floored(sender)))),
        ("forward_v3", 3, frame(forward(golden_floored(sender)))),
        (
            "ping",
            2,
            frame(Payload::Ping(Probe {
                nonce: 0x5151,
                rumors: vec![golden_rumor()],
            })),
        ),
        (
            "ack",
            2,
            frame(Payload::Ack(Probe {
                nonce: 0x5151,
                rumors: vec![],
            })),
        ),
        (
            "ping_req",
            2,
            frame(Payload::PingReq(PingReq {
                nonce: 0x5252,
                target: peer,
            })),
        ),
    ]
}

/// Where vector `stem` lives.
pub fn vector_path(stem: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{stem}.hex"))
}

/// Reads a vector: `#` lines are comments, the rest is hex.
pub fn read_vector(stem: &str) -> Vec<u8> {
    let path = vector_path(stem);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Formats a vector file: a comment header, then 32 bytes per line.
pub fn format_vector(stem: &str, version: u8, frame: &Frame, bytes: &[u8]) -> String {
    let mut s = format!(
        "# scalesmall wire golden vector `{stem}` (format version {version}, {} bytes)\n\
         # cluster {CLUSTER:?}, key 000102..1f, nonce 4041..57; regenerate with\n\
         # SCALESMALL_BLESS_VECTORS=1 cargo test --test wire_golden\n\
         # frame: {frame:?}\n",
        bytes.len()
    );
    for chunk in bytes.chunks(32) {
        for b in chunk {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
    }
    s
}

// --- strategies -------------------------------------------------------------

/// Node ids: a few small ones (so ids repeat and the sender is sometimes
/// also a member) and arbitrary ones.
pub fn node_id() -> impl Strategy<Value = NodeId> {
    prop_oneof![
        (1u64..6).prop_map(NodeId::from_u64),
        any::<u64>().prop_map(NodeId::from_u64)
    ]
}

pub fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| addr4(a, p)),
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>())
            .prop_map(|(a, p, f, s)| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a), p, f, s))),
    ]
}

pub fn peer_ref() -> impl Strategy<Value = PeerRef> {
    (node_id(), socket_addr()).prop_map(|(id, addr)| PeerRef { id, addr })
}

pub fn group_name() -> impl Strategy<Value = GroupName> {
    prop_oneof![
        Just(GroupName::new("g").expect("valid")),
        "[a-zA-Z0-9/_é€-]{1,40}".prop_map(|s| GroupName::new(&s).expect("valid")),
        Just(GroupName::new(&"x".repeat(255)).expect("valid")),
    ]
}

/// Scales a model-strategy message (members 1..=4, clocks <= 48) to
/// arbitrary member ids and clocks `c * scale`, so varints of every width
/// appear. Returns the mapping so a world clock can be scaled alike.
#[derive(Clone, Debug)]
pub struct Scale {
    pub members: [NodeId; 5],
    pub factor: u64,
}

pub fn scale() -> impl Strategy<Value = Scale> {
    (
        prop::array::uniform5(node_id()),
        prop_oneof![
            Just(1u64),
            Just(3),
            Just(300),
            Just(70_000),
            Just(1 << 40),
            Just(1 << 56)
        ],
    )
        .prop_map(|(members, factor)| Scale { members, factor })
}

impl Scale {
    fn member(&self, m: NodeId) -> NodeId {
        self.members[(m.as_u64() as usize) % 5]
    }

    pub fn coverage(&self, c: &Coverage) -> Coverage {
        Coverage::from_spans(
            c.spans().map(|s| {
                Span::new(s.after() * self.factor, s.upto() * self.factor).expect("scaled")
            }),
        )
    }

    pub fn clock(&self, w: &WorldClock) -> WorldClock {
        let mut out = WorldClock::new();
        for e in w.entries() {
            out.cover_all(self.member(e.member()), &self.coverage(e.coverage()));
        }
        out
    }

    /// `None` if two members collapsed onto one id and their items clash.
    pub fn message(&self, m: &Message, group: GroupName) -> Option<Message> {
        let items: Vec<TimedItem> = m
            .items()
            .items()
            .iter()
            .map(|i| {
                let mut item = i.item();
                item.member = self.member(i.member());
                TimedItem::at(item, i.clock() * self.factor).expect("clock >= 1")
            })
            .collect();
        Message::new(group, self.clock(m.clock()), items).ok()
    }
}

/// Valid messages with arbitrary ids, clocks and names.
pub fn message() -> impl Strategy<Value = Message> {
    (strategies::message(), scale(), group_name())
        .prop_filter_map("members collided", |(m, s, g)| s.message(&m, g))
}

pub fn world_clock() -> impl Strategy<Value = WorldClock> {
    (strategies::world_clock(), scale()).prop_map(|(w, s)| s.clock(&w))
}

fn window<T: std::fmt::Debug + Clone>(
    entry: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = Window<T>> {
    (vec(entry, 0..=max), 0u32..1000, any::<u32>()).prop_map(|(entries, extra, off)| {
        let total = entries.len() as u32 + extra;
        Window {
            offset: if total == 0 { 0 } else { off % total },
            total,
            entries,
        }
    })
}

pub fn announce(version: u8) -> impl Strategy<Value = Announce> {
    (
        version..=255u8,
        vec(socket_addr(), 0..=Announce::MAX_ADDRS),
        window(node_id(), scalesmall::wire::caps::MAX_HEARS),
        window(
            (group_name(), any::<u64>())
                .prop_map(|(group, fingerprint)| GroupDigest { group, fingerprint }),
            4,
        ),
        any::<u64>(),
        vec(peer_ref(), 0..=Announce::MAX_HEADS),
        any::<u64>(),
        vec(rumor(), 0..=Rumor::MAX_PER_FRAME),
    )
        .prop_map(
            move |(max_version, addrs, hears, groups, groups_fp, heads, policy_fp, rumors)| {
                Announce {
                    max_version,
                    addrs,
                    hears,
                    groups,
                    groups_fp,
                    heads,
                    policy_fp: if version >= 2 { policy_fp } else { 0 },
                    rumors: if version >= 2 { rumors } else { vec![] },
                }
            },
        )
}

pub fn rumor() -> impl Strategy<Value = Rumor> {
    (any::<u64>(), any::<u64>(), any::<u64>(), 0u8..3).prop_map(|(id, incarnation, seq, s)| Rumor {
        id: NodeId::from_u64(id),
        incarnation,
        seq,
        state: Liveness::from_byte(s).unwrap_or(Liveness::Alive),
    })
}

/// The rumor in the golden announce and ping.
pub fn golden_rumor() -> Rumor {
    Rumor {
        id: NodeId::from_u64(0x0e0e),
        incarnation: 3,
        seq: 77,
        state: Liveness::Suspect,
    }
}

pub fn pull() -> impl Strategy<Value = Pull> {
    (group_name(), world_clock(), any::<bool>()).prop_map(|(group, clock, all)| {
        let part = if all || clock.is_empty() {
            NodeId::ALL
        } else {
            let first = clock
                .entries()
                .first()
                .map(|e| e.member())
                .expect("non-empty");
            let last = clock
                .entries()
                .last()
                .map(|e| e.member())
                .expect("non-empty");
            first..=last
        };
        Pull { group, part, clock }
    })
}

pub fn payload(version: u8) -> BoxedStrategy<Payload> {
    let v1 = prop_oneof![
        announce(version).prop_map(Payload::Announce),
        pull().prop_map(Payload::Pull),
        message().prop_map(Payload::Delta),
        (node_id(), any::<u64>(), vec(peer_ref(), 0..12), message()).prop_map(
            |(author, upto, list, message)| Payload::Forward(Forward {
                author,
                upto,
                list,
                message,
            })
        ),
    ];
    if version < 2 {
        return v1.boxed();
    }
    prop_oneof![
        4 => v1,
        1 => (any::<u64>(), vec(rumor(), 0..=Rumor::MAX_PER_FRAME))
            .prop_map(|(nonce, rumors)| Payload::Ping(Probe { nonce, rumors })),
        1 => (any::<u64>(), vec(rumor(), 0..=Rumor::MAX_PER_FRAME))
            .prop_map(|(nonce, rumors)| Payload::Ack(Probe { nonce, rumors })),
        1 => (any::<u64>(), peer_ref())
            .prop_map(|(nonce, target)| Payload::PingReq(PingReq { nonce, target })),
    ]
    .boxed()
}

/// `(version, frame)` with a kind the version has.
pub fn versioned_frame() -> impl Strategy<Value = (u8, Frame)> {
    (1u8..=2).prop_flat_map(|v| {
        (node_id(), any::<u64>(), any::<u64>(), payload(v)).prop_map(
            move |(sender, incarnation, seq, payload)| {
                (
                    v,
                    Frame {
                        sender,
                        incarnation,
                        seq,
                        payload,
                    },
                )
            },
        )
    })
}

/// Whether `kind` exists in `version` (for filtering).
pub fn has_kind(kind: FrameKind, version: u8) -> bool {
    kind.since_version() <= version
}
