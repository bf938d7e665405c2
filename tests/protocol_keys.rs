//! A key rotation without restarts, scripted on three nodes (the test moves
//! every frame by hand): a node accepts frames under a key installed at
//! run time, seals under the key it is told to use, records the key id of
//! each peer's last frame from the header (no wire change), and refuses a
//! key removed or never installed.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use scalesmall::model::NodeId;
use scalesmall::protocol::{
    Chatter, Millis, NodeIdentity, Persisted, ProtocolConfig, Transmit, Via,
};
use scalesmall::wire::{Codec, Key, Keyring, Limits};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 29999)
}

fn old() -> Key {
    Key::from_bytes([7; 32])
}

fn new() -> Key {
    Key::from_bytes([8; 32])
}

fn node(i: u8) -> Chatter {
    let me = NodeIdentity {
        id: NodeId::from_u64(u64::from(i)),
        incarnation: 1,
        addrs: vec![addr(i)],
    };
    let cfg = ProtocolConfig {
        announce_period: 1_000_000,
        far_sync_period: 1_000_000,
        rep_sync_period: 1_000_000,
        reconnect_interval: 1_000_000_000,
        ..ProtocolConfig::default()
    };
    let codec = Codec::new("keys", Keyring::new(old()), Limits::default());
    Chatter::new(cfg, me, codec, None, [i; 32], Millis(0)).expect("valid")
}

/// Every multicast `c` has to send now.
fn multicasts(c: &mut Chatter) -> Vec<Vec<u8>> {
    c.drain_outputs(Millis(0), |_| Persisted::Durable)
        .transmits
        .into_iter()
        .filter_map(|t| match t {
            Transmit::Multicast { bytes } => Some(bytes),
            _ => None,
        })
        .collect()
}

/// The key id in a frame's clear header (both keys open it).
fn key_id(bytes: &[u8]) -> u32 {
    let both = Keyring::new(old()).with_accepted(new());
    Codec::new("keys", both, Limits::default())
        .decode(bytes)
        .expect("sealed with one of the two keys")
        .key_id
}

fn deliver(frames: &[Vec<u8>], from: u8, to: &mut Chatter, now: Millis) {
    for f in frames {
        to.handle_datagram(now, addr(from), Via::Multicast, f);
    }
}

fn drops(c: &Chatter, reason: &str) -> u64 {
    c.stats().drops.get(reason).copied().unwrap_or(0)
}

fn seen(c: &Chatter, from: u8) -> Option<u32> {
    c.peers()
        .get(NodeId::from_u64(u64::from(from)))
        .and_then(|p| p.key_seen)
        .map(|s| s.key_id)
}

#[test]
fn installed_keys_open_the_used_key_seals_and_each_peer_is_seen_on_its_key() {
    let (mut a, mut b, mut c) = (node(1), node(2), node(3));
    let t = Millis(1_000);
    a.announce_now(t);
    let f = multicasts(&mut a);
    assert!(!f.is_empty());
    assert!(f.iter().all(|x| key_id(x) == old().id()));
    deliver(&f, 1, &mut b, t);
    assert_eq!(seen(&b, 1), Some(old().id()));

    // Step 1 on b and c: install (accept) the new key; they still seal
    // with the old one.
    for n in [&mut b, &mut c] {
        n.set_keyring(t, n.keyring().clone().with_accepted(new()));
        assert!(multicasts(n).is_empty(), "installing sends nothing");
    }
    assert_eq!(b.keyring().primary(), &old());

    // Step 2 on a only: it seals with the new key at once (an announce
    // goes out so the others see it); a never installed it before, and
    // that is the point: b and c open it because they did.
    let t = Millis(2_000);
    let mut ring = Keyring::new(old());
    ring.set_primary(new());
    a.set_keyring(t, ring);
    let f = multicasts(&mut a);
    assert!(!f.is_empty(), "a switch announces at once");
    assert!(f.iter().all(|x| key_id(x) == new().id()));
    deliver(&f, 1, &mut b, t);
    deliver(&f, 1, &mut c, t);
    assert_eq!(seen(&b, 1), Some(new().id()));
    assert_eq!(seen(&c, 1), Some(new().id()));
    assert_eq!(drops(&b, "unknown_key_id") + drops(&c, "unknown_key_id"), 0);
    let at = b.peers().get(NodeId::from_u64(1)).and_then(|p| p.key_seen);
    assert_eq!(at.map(|s| s.at), Some(t));

    // A node without the new key cannot open it: dropped, nothing noted.
    let mut d = node(4);
    deliver(&f, 1, &mut d, t);
    assert!(drops(&d, "unknown_key_id") > 0);
    assert_eq!(seen(&d, 1), None);

    // Step 3 on b: use the new key, remove the old: the old key's frames
    // (c still sends with it) are refused from then on.
    let t = Millis(3_000);
    b.set_keyring(t, Keyring::new(new()));
    assert!(multicasts(&mut b).iter().all(|x| key_id(x) == new().id()));
    c.announce_now(t);
    let from_c = multicasts(&mut c);
    assert!(from_c.iter().all(|x| key_id(x) == old().id()));
    let before = drops(&b, "unknown_key_id");
    deliver(&from_c, 3, &mut b, t);
    assert!(drops(&b, "unknown_key_id") > before);
    assert_eq!(seen(&b, 3), None);
    // ... while a, which still accepts the old key, opens c's frames.
    deliver(&from_c, 3, &mut a, t);
    assert_eq!(seen(&a, 3), Some(old().id()));
}

#[test]
fn setting_the_same_primary_again_sends_nothing() {
    let mut a = node(1);
    let ring = a.keyring().clone().with_accepted(new());
    a.set_keyring(Millis(5), ring);
    assert!(multicasts(&mut a).is_empty());
    assert_eq!(a.keyring().accepted(), &[old(), new()]);
}
