//! Frames shared by the codec bench (`benches/codec.rs`) and the
//! instruction-count driver (`examples/codec_profile.rs`).
//!
//! - a **delta**: the first 1200-byte chunk of a catch-up from 64 members
//!   with 40 serve items each (clocks around 1000, key ranges spread over
//!   the key space), cut with the codec's own sizer;
//! - a **full state** of the same group cut into 64 KiB chunks (a TCP
//!   frame), for the compression measurement;
//! - an **announce** of a node in a 100-member cluster: two addresses, a
//!   32-entry hears window, four group digests, two island heads.

#![allow(dead_code)]

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use scalesmall::model::{
    GroupName, Item, KeyRange, Message, NodeId, Span, TimedItem, TopologyDb, WorldClock,
};
use scalesmall::wire::{
    Announce, Codec, Frame, GroupDigest, Key, Keyring, Limits, Payload, PeerRef, VERSION, Window,
    caps,
};

pub const NONCE: [u8; 24] = [0x42; 24];

pub fn codec() -> Codec {
    Codec::new(
        "bench",
        Keyring::new(Key::from_bytes([9; 32])),
        Limits::default(),
    )
}

fn member(m: u64) -> NodeId {
    NodeId::from_u64(m.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn state() -> TopologyDb {
    let mut items = Vec::new();
    let mut clock = WorldClock::new();
    for m in 1..=64u64 {
        for k in 0..40u64 {
            let start = ((m * 40 + k) * 1_000_003 % (1 << 32)) as u32;
            let r = KeyRange::new(start, start.saturating_add(1 << 24)).expect("valid");
            items.push(
                TimedItem::at(Item::add(member(m), r, 1, 8080), 1000 + 2 * k + 1).expect("valid"),
            );
        }
        clock.cover(member(m), Span::new(0, 1080).expect("valid"));
    }
    let msg = Message::new(GroupName::new("cache").expect("valid"), clock, items).expect("valid");
    let mut db = TopologyDb::new(NodeId::from_u64(1));
    db.apply(&msg);
    db
}

fn frame(payload: Payload, seq: u64) -> Frame {
    Frame {
        sender: NodeId::from_u64(1),
        incarnation: 3,
        seq,
        payload,
    }
}

/// Delta frames of a full catch-up cut to `budget` bytes.
pub fn deltas(budget: usize) -> Vec<Frame> {
    let codec = codec();
    let sizer = codec.delta_sizer(VERSION, budget);
    state()
        .delta_since("cache", &WorldClock::new(), budget, &sizer)
        .expect("delta")
        .into_iter()
        .enumerate()
        .map(|(i, m)| frame(Payload::Delta(m), i as u64))
        .collect()
}

/// The first 1200-byte delta frame.
pub fn delta_frame() -> Frame {
    deltas(1200).swap_remove(0)
}

/// A 100-member cluster's announce.
pub fn announce_frame() -> Frame {
    let members: Vec<NodeId> = (2..=100).map(member).collect();
    let groups: Vec<GroupDigest> = ["cache", "sessions", "queue", "config"]
        .iter()
        .enumerate()
        .map(|(i, g)| GroupDigest {
            group: GroupName::new(g).expect("valid"),
            fingerprint: 0xabcd_ef01_2345_6789 ^ i as u64,
        })
        .collect();
    let addr = |i| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, i), 7946));
    frame(
        Payload::Announce(Announce {
            max_version: VERSION,
            addrs: vec![addr(1), "[fd00::1]:7946".parse().expect("addr")],
            hears: Window::rotating(&members, 40, caps::HEARS_WINDOW, usize::MAX, |_| 0),
            groups: Window::rotating(
                &groups,
                0,
                caps::MAX_GROUPS,
                caps::GROUPS_WINDOW_BYTES,
                GroupDigest::encoded_len,
            ),
            groups_fp: 0x1234_5678,
            heads: vec![
                PeerRef {
                    id: member(50),
                    addr: addr(50),
                },
                PeerRef {
                    id: member(51),
                    addr: addr(51),
                },
            ],
            policy_fp: 0,
            rumors: Vec::new(),
        }),
        40_000,
    )
}
