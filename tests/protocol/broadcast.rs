//! Broadcast: a write is multicast on the LAN, then sent down a TCP tree
//! of the peers that do not hear it; tree receivers forward their part and
//! re-multicast; news that arrives by unicast is gossiped once.

use scalesmall::model::NodeId;
use scalesmall::protocol::{Command, Millis, Transmit};
use scalesmall::wire::{Forward, FrameKind, Payload, PeerRef};

use crate::bench::{
    Bench, addr, connected, expect_connect, first_multicast, frame, from, g, has, kind, sealed,
};

#[test]
fn a_write_is_multicast_first_then_sent_down_the_tree() {
    let mut b = Bench::star([1, 2], Millis(10));
    b.claim(1, 0);
    let ts = b.drain(1);
    assert_eq!(kind(&ts[0]), Some(FrameKind::Delta));
    assert!(matches!(ts[0], Transmit::Multicast { .. }));
    // b does not hear a's multicast (it never said so): a TCP tree step.
    assert!(matches!(ts[1], Transmit::Connect { to, .. } if to == addr(2)));
    let sent = b.open(1, expect_connect(&ts, 2));
    assert_eq!(sent.len(), 1);
    assert_eq!(kind(&sent[0]), Some(FrameKind::Forward));
}

#[test]
fn peers_that_hear_our_multicast_are_pruned_but_one_stays_on_tcp() {
    let mut b = Bench::new([1, 2, 3]);
    b.at(Millis(10)).lan(1, 2);
    b.lan(1, 3);
    b.claim(1, 0);
    let ts = b.drain(1);
    let connects = connected(&ts);
    assert!(matches!(ts[0], Transmit::Multicast { .. }));
    assert_eq!(
        connects.len(),
        1,
        "one random hearing peer stays on the TCP list: {connects:?}"
    );
}

#[test]
fn a_tree_receiver_forwards_its_list_even_when_not_news_and_only_once() {
    let mut b = Bench::star([1, 2, 3], Millis(10));
    b.introduce(2, 3);
    b.claim(1, 0);
    let ts = b.drain(1);
    // b already heard the delta by multicast.
    b.hear(&ts, 1, 2);
    b.drain(2);
    // Build a's tree step to b carrying c in its list.
    let Payload::Delta(message) = frame(&first_multicast(&ts)).payload else {
        panic!("not a delta")
    };
    let fwd = from(
        1,
        1000,
        Payload::Forward(Forward {
            author: NodeId::from_u64(1),
            upto: 1,
            list: vec![PeerRef {
                id: NodeId::from_u64(3),
                addr: addr(3),
            }],
            message,
        }),
    );
    let bytes = sealed(&fwd, 9);
    let inbound = b.accept(2, 1);
    b.tcp(2, inbound, &bytes);
    let out = b.drain(2);
    let to_c = expect_connect(&out, 3); // although the delta was not news
    let sent = b.open(2, to_c);
    assert_eq!(
        sent.iter()
            .filter(|t| kind(t) == Some(FrameKind::Forward))
            .count(),
        1
    );
    // The same broadcast again: not forwarded twice.
    b.tcp(2, inbound, &bytes);
    let again = b.drain(2);
    assert!(
        again
            .iter()
            .all(|t| !matches!(t, Transmit::Connect { .. } | Transmit::Send { .. })),
        "{again:?}"
    );
}

#[test]
fn a_tree_receiver_that_does_not_hear_the_author_multicasts_on_its_lan() {
    let mut b = Bench::star([1, 2], Millis(10));
    b.join(2);
    b.claim(1, 0);
    let ts = b.drain(1);
    let Transmit::Connect { conn, .. } = ts[1] else {
        panic!("a tree step")
    };
    let Transmit::Send { bytes, .. } = b.open(1, conn).remove(0) else {
        panic!("a send")
    };
    let inbound = b.accept(2, 1);
    b.tcp(2, inbound, &bytes);
    let out = b.drain(2);
    // (b may also welcome a, new to it in g, with a unicast announce.)
    let multicast = out
        .iter()
        .find(|t| matches!(t, Transmit::Multicast { .. }))
        .expect("a multicast");
    assert_eq!(kind(multicast), Some(FrameKind::Delta));
    assert_eq!(b.node(2).db().lookup("g", 5).len(), 1);
}

#[test]
fn news_by_unicast_is_gossiped_once_and_a_duplicate_stops() {
    let mut b = Bench::star([2, 1, 3], Millis(0));
    // b and c are members of g (gossip goes to members only), and b knows
    // c is: c's join reached it.
    b.join(2);
    b.command(3, Command::Join(g()));
    // c is far from b (no multicast between them): its join came by TCP.
    let joined = b.drain(3);
    b.deliver_far(&joined, 3, 2);
    b.drain(2);
    b.claim(1, 0);
    let delta = first_multicast(&b.drain(1));
    b.datagram(1, 2, &delta);
    let first = b.drain(2);
    assert!(has(&first, FrameKind::Delta), "news is passed on");
    b.datagram(1, 2, &delta);
    assert!(b.drain(2).is_empty(), "a duplicate stops here");
}
