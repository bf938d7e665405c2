//! Frame admission: the wire version follows the oldest peer, and repeated
//! authentication failures are reported as a different key.

use scalesmall::protocol::{Event, Transmit, Via};
use scalesmall::wire::{Announce, Codec, Key, Keyring, Limits, Payload, Probe, Window};

use crate::bench::{Bench, addr, codec, from, seal};

#[test]
fn the_wire_version_follows_the_oldest_peer() {
    let mut b = Bench::new([1]);
    // An old peer's announce, format version 1.
    let old = from(
        5,
        1,
        Payload::Announce(Announce {
            max_version: 1,
            addrs: vec![addr(5)],
            hears: Window::empty(),
            groups: Window::empty(),
            groups_fp: 0,
            heads: vec![],
            policy_fp: 0,
            rumors: Vec::new(),
        }),
    );
    let bytes = seal(&old, 1, 3);
    let now = b.now;
    b.node_mut(1)
        .handle_datagram(now, addr(5), Via::Multicast, &bytes);
    b.drain(1);
    b.claim(1, 0);
    let ts = b.drain(1);
    let Transmit::Multicast { bytes } = &ts[0] else {
        panic!("a multicast")
    };
    assert_eq!(codec().decode(bytes).expect("decodes").version, 1);
}

#[test]
fn repeated_authentication_failures_say_different_key() {
    let mut b = Bench::new([1]);
    let stranger = Codec::new(
        "rules",
        Keyring::new(Key::from_bytes([8; 32])),
        Limits::default(),
    );
    let f = from(
        6,
        1,
        Payload::Ping(Probe {
            nonce: 1,
            rumors: vec![],
        }),
    );
    for k in 0..8u8 {
        let bytes = stranger.encode(&f, 2, [k + 1; 24]).expect("encodes");
        b.datagram(6, 1, &bytes);
    }
    let evs = b.events(1);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::KeyMismatch { from, .. } if *from == addr(6))),
        "{evs:?}"
    );
    assert!(b.node(1).stats().drops.values().sum::<u64>() >= 8);
}
