//! The tree's TCP connections: capped with LRU eviction, closed when idle,
//! a failed one passes its part on, a close racing a send resends it.

use scalesmall::protocol::{ConnEvent, Millis, ProtocolConfig, Transmit};

use crate::bench::{Bench, addr, connects, quiet};

#[test]
fn connections_are_capped_with_lru_eviction_and_closed_when_idle() {
    let cfg = ProtocolConfig {
        max_conns: 2,
        conn_idle: 5_000,
        ..quiet()
    };
    let mut b = Bench::new(2..=4);
    b.add(1, cfg);
    for p in 2..=4 {
        b.introduce(1, p);
    }
    b.claim(1, 0);
    let ts = b.drain(1);
    b.at(Millis(1));
    for (c, _) in connects(&ts) {
        b.conn_event(1, c, ConnEvent::Opened);
    }
    b.drain(1);
    let a = b.node(1);
    assert!(a.conn_count() <= 2, "at most the cap: {}", a.conn_count());
    let closes = b.at(Millis(10_000)).tick(1);
    assert!(closes.iter().any(|t| matches!(t, Transmit::Close { .. })));
    assert_eq!(b.node(1).conn_count(), 0, "idle connections are closed");
}

#[test]
fn a_failed_connection_passes_the_part_to_its_next_node() {
    let mut b = Bench::star(1..=4, Millis(0));
    b.claim(1, 0);
    let ts = b.drain(1);
    // The first part has a head and a rest (3 destinations: parts of 2 and 1).
    let connects = connects(&ts);
    assert_eq!(connects.len(), 2);
    let (failed, dead) = connects[0];
    b.conn_event(1, failed, ConnEvent::Failed);
    let retry = b.drain(1);
    // Once more to the same node on a fresh connection...
    let Some(Transmit::Connect { conn, to }) = retry.first().cloned() else {
        panic!("a reconnect: {retry:?}")
    };
    assert_eq!(to, dead);
    b.conn_event(1, conn, ConnEvent::Failed);
    // ... then to the next node of its part.
    let next = b.drain(1);
    assert!(
        next.iter()
            .any(|t| matches!(t, Transmit::Connect { to, .. } if *to != dead)),
        "{next:?}"
    );
}

#[test]
fn steps_written_just_before_a_close_are_sent_again() {
    let mut b = Bench::star([1, 2], Millis(0));
    b.claim(1, 0);
    let Transmit::Connect { conn, .. } = b.drain(1)[1] else {
        panic!()
    };
    assert_eq!(b.open(1, conn).len(), 1);
    // The peer closed at the same moment (an idle-close race).
    b.at(Millis(10)).conn_event(1, conn, ConnEvent::Closed);
    let again = b.drain(1);
    assert!(matches!(again.first(), Some(Transmit::Connect { to, .. }) if *to == addr(2)));
}
