//! Announce sizes: an announce does not grow with the cluster (its lists
//! travel as rotating windows of `caps::HEARS_WINDOW` entries and
//! `caps::GROUPS_WINDOW_BYTES` bytes), and even the worst case fits the MTU
//! with room to spare. `cargo test --test wire_sizes -- --nocapture` prints
//! the table in docs/wire.md.

mod support;

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use scalesmall::model::{GroupName, NodeId};
use scalesmall::wire::{
    Announce, Frame, GroupDigest, Limits, Payload, PeerRef, VERSION, Window, caps,
};
use support::wire::{golden_codec, golden_nonce};

fn v4(i: u8) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, i), 7946))
}

fn v6_worst() -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::from([0xff; 16]),
        65535,
        u32::MAX,
        u32::MAX,
    ))
}

fn ids(n: usize) -> Vec<NodeId> {
    (0..n as u64)
        .map(|i| NodeId::from_u64(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i + 1)))
        .collect()
}

fn digest(name: &str, i: u64) -> GroupDigest {
    GroupDigest {
        group: GroupName::new(name).expect("valid"),
        fingerprint: 0xabcd_ef01_2345_6789 ^ i,
    }
}

/// A typical node: two addresses, four groups, two island heads, the
/// window at an arbitrary point of the rotation.
fn typical(n: usize, round: usize) -> Frame {
    let members = ids(n);
    let groups: Vec<GroupDigest> = ["cache", "sessions", "queue", "config"]
        .iter()
        .enumerate()
        .map(|(i, g)| digest(g, i as u64))
        .collect();
    let offset = round * caps::HEARS_WINDOW;
    Frame {
        sender: members[0],
        incarnation: 12,
        seq: 40_000 + round as u64,
        payload: Payload::Announce(Announce {
            max_version: VERSION,
            addrs: vec![v4(20), "[fd00::20]:7946".parse().expect("addr")],
            hears: Window::rotating(&members[1..], offset, caps::HEARS_WINDOW, usize::MAX, |_| 0),
            groups: Window::rotating(
                &groups,
                0,
                caps::MAX_GROUPS,
                caps::GROUPS_WINDOW_BYTES,
                GroupDigest::encoded_len,
            ),
            groups_fp: 0x1234,
            heads: members
                .iter()
                .skip(n / 2)
                .take(2.min(n / 2))
                .map(|&id| PeerRef { id, addr: v4(99) })
                .collect(),
            policy_fp: 0x5678,
            rumors: Vec::new(),
        }),
    }
}

/// The largest announce the caps and windows allow: every list full, the
/// longest group names, IPv6 everywhere with the largest varints.
fn worst() -> Frame {
    let members = ids(5000);
    let long: Vec<GroupDigest> = (0..40).map(|i| digest(&format!("{i:0>255}"), i)).collect();
    let short: Vec<GroupDigest> = (0..200).map(|i| digest(&format!("{i}"), i)).collect();
    let mut frames = Vec::new();
    for groups in [long, short] {
        frames.push(Frame {
            sender: NodeId::from_u64(u64::MAX),
            incarnation: u64::MAX,
            seq: u64::MAX,
            payload: Payload::Announce(Announce {
                max_version: 255,
                addrs: vec![v6_worst(); Announce::MAX_ADDRS],
                hears: Window::rotating(&members, 4900, caps::HEARS_WINDOW, usize::MAX, |_| 0),
                groups: Window::rotating(
                    &groups,
                    39,
                    caps::MAX_GROUPS,
                    caps::GROUPS_WINDOW_BYTES,
                    GroupDigest::encoded_len,
                ),
                groups_fp: u64::MAX,
                heads: members[..Announce::MAX_HEADS]
                    .iter()
                    .map(|&id| PeerRef {
                        id,
                        addr: v6_worst(),
                    })
                    .collect(),
                policy_fp: u64::MAX,
                rumors: Vec::new(),
            }),
        });
    }
    let codec = golden_codec();
    frames
        .into_iter()
        .max_by_key(|f| codec.encoded_len(f, VERSION))
        .expect("two frames")
}

#[test]
fn announce_size_does_not_grow_with_the_cluster() {
    let codec = golden_codec();
    let mtu = Limits::default().mtu;
    println!("| members | announce bytes | bytes per member |");
    println!("|---:|---:|---:|");
    let mut sizes = Vec::new();
    for n in [10usize, 100, 1000] {
        let len = (0..5)
            .map(|round| {
                let f = typical(n, round);
                let bytes = codec
                    .encode_datagram(&f, VERSION, golden_nonce())
                    .expect("fits the MTU");
                assert_eq!(codec.decode(&bytes).map(|d| d.frame), Ok(f));
                bytes.len()
            })
            .max()
            .expect("rounds");
        println!("| {n} | {len} | {:.2} |", len as f64 / n as f64);
        sizes.push(len);
    }
    // 100 and 1000 members both fill the hears window: the same size but
    // for the window's total and offset varints.
    assert!(sizes[2] <= sizes[1] + 4, "{sizes:?}");
    assert!(sizes[2] <= mtu);
}

#[test]
fn the_largest_possible_announce_fits_the_mtu_with_room() {
    let codec = golden_codec();
    let f = worst();
    let bytes = codec
        .encode_datagram(&f, VERSION, golden_nonce())
        .expect("fits the MTU");
    println!("largest announce: {} bytes", bytes.len());
    assert!(
        bytes.len() + 100 <= Limits::default().mtu,
        "{} bytes",
        bytes.len()
    );
}
