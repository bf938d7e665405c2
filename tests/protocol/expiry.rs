//! Expiry: a forgotten member leaves the view and stays out until heard
//! first-hand; its markers are stored and survive a restart.

use scalesmall::model::NodeId;
use scalesmall::protocol::{Command, Event, Millis, OwnState, Transmit};

use crate::bench::{Bench, chatter, quiet};

/// a (1) and c (3) know each other; a joins g and holds c's claim there.
/// Returns the bench and c's write (to deliver again later).
fn a_holds_cs_claim() -> (Bench, Vec<Transmit>) {
    let mut b = Bench::star([1, 3], Millis(0));
    b.join(1);
    b.claim(3, 0);
    let news = b.drain(3);
    b.hear(&news, 3, 1);
    (b, news)
}

const C: u8 = 3;

fn c_id() -> NodeId {
    NodeId::from_u64(u64::from(C))
}

#[test]
fn a_forgotten_member_leaves_the_view_stays_out_and_returns_when_heard() {
    let (mut b, news) = a_holds_cs_claim();
    assert_eq!(b.node(1).lookup("g", 5).len(), 1);
    b.at(Millis(10)).command(1, Command::Forget(c_id()));
    assert!(b.node(1).lookup("g", 5).is_empty());
    assert!(
        b.events(1)
            .iter()
            .any(|e| matches!(e, Event::Expired { id, .. } if *id == c_id()))
    );
    // The same news again (a peer that has not expired c gossips it): out.
    b.at(Millis(20)).hear(&news, C, 1);
    assert!(
        b.node(1).lookup("g", 5).is_empty(),
        "old writes of a forgotten member are refused"
    );
    // c is heard first-hand: it is back, and its writes are taken again.
    let ann = b.at(Millis(30)).announce(C);
    b.hear(&ann, C, 1);
    assert_eq!(b.node(1).db().expired_upto(c_id()), 0);
    b.at(Millis(40)).hear(&news, C, 1);
    assert_eq!(b.node(1).lookup("g", 5).len(), 1);
}

#[test]
fn expiry_markers_are_stored_and_a_restart_keeps_refusing_the_old_writes() {
    let (mut b, news) = a_holds_cs_claim();
    let c_id = c_id();
    assert_eq!(b.markers(1), None, "no marker yet");
    b.at(Millis(10)).command(1, Command::Forget(c_id));
    let markers = b.markers(1).expect("the new marker is to be stored");
    assert_eq!(markers, vec![(c_id, b.node(1).db().expired_upto(c_id))]);
    assert!(markers[0].1 > 0);
    assert_eq!(b.markers(1), None, "unchanged since polled");

    // a restarts from its stored own state and markers; a peer that has
    // not expired c gossips c's old writes to it.
    let a = b.node(1);
    let restart = |markers: &[(NodeId, u64)]| {
        let own = OwnState {
            clock: a.db().clock(),
            items: a.db().own_items(),
            floors: a.db().own_floors(),
        };
        let t = Millis(1_000);
        let mut r = Bench::new([]);
        r.insert(1, chatter(1, quiet(), Some(own), 2, t));
        r.at(t);
        r.node_mut(1).restore_markers(t, markers);
        r.hear(&news, C, 1);
        r
    };
    let forgetful = restart(&[]);
    assert_eq!(
        forgetful.node(1).lookup("g", 5).len(),
        1,
        "without the markers a restart takes the items back"
    );
    let mut r = restart(&markers);
    assert!(
        r.node(1).lookup("g", 5).is_empty(),
        "the stored marker still refuses them"
    );
    assert_eq!(r.node(1).db().expired_upto(c_id), markers[0].1);
    assert_eq!(r.markers(1), None, "restored markers need no new store");
    // The restored marker lasts another expire_after from the restart, then
    // is forgotten (and the empty list stored).
    let end = Millis(1_000).plus(r.node(1).config().expire_after);
    r.at(Millis(end.0 - 1)).tick(1);
    assert_eq!(r.node(1).db().expired_upto(c_id), markers[0].1);
    r.at(end).tick(1);
    assert_eq!(r.node(1).db().expired_upto(c_id), 0);
    assert_eq!(r.markers(1), Some(Vec::new()));
}
