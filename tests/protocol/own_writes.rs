//! A node's own writes: held until durable, and re-asserted above a lost
//! timeline.

use scalesmall::protocol::{Event, Millis};
use scalesmall::wire::Payload;

use crate::bench::{Bench, chatter, claim, from, quiet, seal};

#[test]
fn own_writes_are_held_until_durable() {
    let mut b = Bench::new([1]);
    let a = b.node_mut(1);
    a.handle_command(Millis(0), claim(0)).expect("ok");
    let persist = a.poll_persist().expect("a persist");
    assert_eq!(persist.clock, 1);
    assert_eq!(persist.items.len(), 1);
    assert!(
        a.poll_transmit().is_none(),
        "nothing leaves before the write is durable"
    );
    a.handle_persisted(Millis(0), persist.clock);
    assert!(a.poll_transmit().is_some());
}

#[test]
fn own_writes_seen_above_our_clock_are_reasserted() {
    let mut b = Bench::new([1]);
    b.claim(1, 0);
    b.drain(1);
    // A "future" a (same id) wrote more, then its data dir was restored.
    let mut future = chatter(1, quiet(), None, 1, Millis(0));
    for start in [0, 100, 200] {
        future.handle_command(Millis(0), claim(start)).expect("ok");
    }
    let msg = future.db().message("g").expect("written").clone();
    let bytes = seal(&from(7, 1, Payload::Delta(msg)), 2, 4);
    b.datagram(7, 1, &bytes);
    assert!(
        b.node(1).db().clock() > 3,
        "the clock jumped above the lost timeline"
    );
    // Its event comes once the re-assertion is durable.
    b.drain(1);
    let evs = b.events(1);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::OwnAhead { seen: 3, .. }))
    );
    // The identities only the lost timeline had are retracted.
    assert!(b.node(1).db().lookup("g", 105).is_empty());
    assert_eq!(b.node(1).db().lookup("g", 5).len(), 1);
}
