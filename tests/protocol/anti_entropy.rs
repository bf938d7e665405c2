//! Anti-entropy: a differing digest is pulled once the group is quiet, an
//! unanswered pull goes to another holder, and push-pull asks back.

use scalesmall::protocol::Millis;
use scalesmall::wire::FrameKind;

use crate::bench::{Bench, has, of_kind, quiet, unicast_to};

#[test]
fn a_differing_digest_is_pulled_once_quiet_and_answered_with_the_delta() {
    let quiet_ms = quiet().pull_quiet;
    let mut b = Bench::star([1, 2], Millis(0));
    b.join(1);
    b.claim(2, 0);
    b.drain(2); // the broadcast is lost
    let ann = b.at(Millis(100)).announce(2);
    b.hear(&ann, 2, 1);
    assert!(
        !has(&b.drain(1), FrameKind::Pull),
        "not at once: broadcasts may be in flight"
    );
    let ticked = b.at(Millis(100 + quiet_ms)).tick(1);
    let pulls = of_kind(&ticked, FrameKind::Pull);
    assert!(!pulls.is_empty(), "a pulls b");
    b.deliver(&pulls, 1, 2);
    let answer = b.drain(2);
    assert!(has(&answer, FrameKind::Delta));
    b.deliver(&answer, 2, 1);
    assert_eq!(b.node(1).db().lookup("g", 5).len(), 1);
}

#[test]
fn an_unanswered_pull_goes_to_another_holder() {
    let (quiet_ms, timeout) = (quiet().pull_quiet, quiet().pull_timeout);
    let mut b = Bench::star([1, 2, 3], Millis(0));
    b.join(1);
    b.join(3);
    b.claim(2, 0);
    let bs = b.drain(2);
    b.hear(&bs, 2, 3);
    b.drain(3);
    // Both announce; a pulls from the latest announcer, which never answers.
    b.at(Millis(10));
    for x in [3, 2] {
        let ann = b.announce(x);
        b.hear(&ann, x, 1);
    }
    let t1 = Millis(10 + quiet_ms);
    let first = unicast_to(&b.at(t1).tick(1), FrameKind::Pull);
    let second = unicast_to(&b.at(t1.plus(timeout)).tick(1), FrameKind::Pull);
    assert!(!first.is_empty() && !second.is_empty());
    assert_ne!(first[0], second[0], "the retry asks the other holder");
}

#[test]
fn a_pull_from_a_node_that_knows_more_is_pulled_back() {
    let quiet_ms = quiet().pull_quiet;
    let mut b = Bench::star([1, 2], Millis(0));
    b.claim(2, 0);
    b.drain(2);
    b.claim(1, 100);
    b.drain(1);
    // b pulls from a; b's clock shows it knows b's own write, which a lacks.
    let ann = b.at(Millis(5)).announce(1);
    b.hear(&ann, 1, 2);
    let pulls = b.at(Millis(5 + quiet_ms)).tick(2);
    b.deliver(&pulls, 2, 1);
    let answer = b.drain(1);
    b.deliver(&answer, 1, 2);
    let back = b.at(Millis(5 + 11 * quiet_ms)).tick(1);
    assert!(has(&back, FrameKind::Pull), "push-pull: a asks b back");
}
