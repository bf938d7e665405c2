//! SWIM: an unanswered probe suspects, the suspect refutes at once, and a
//! silent suspect goes down and is not probed again.

use scalesmall::model::{KeyRange, NodeId};
use scalesmall::protocol::{Chatter, Command, Event, Millis, Transmit};
use scalesmall::wire::{FrameKind, Liveness, Payload};

use crate::bench::{Bench, addr, frame, g, kind};

#[test]
fn an_unanswered_probe_suspects_and_the_suspect_refutes_at_once() {
    let mut b = Bench::star([1, 3], Millis(0));
    // Everything a sends to c is lost until a suspects c.
    let c_id = NodeId::from_u64(3);
    let mut suspected_at = None;
    let mut buddy = None;
    for step in 1..=20u64 {
        let now = Millis(step * 1_000);
        let sent = b.run_timers(1, now);
        if suspected_at.is_none()
            && b.events(1).iter().any(|e| {
                matches!(e, Event::Liveness { id, state: Liveness::Suspect, .. } if *id == c_id)
            })
        {
            suspected_at = Some(now);
            // The ping sent with the verdict carries the suspicion to c.
            buddy = sent.into_iter().find_map(|(_, t)| match &t {
                Transmit::Unicast { to, bytes } if *to == addr(3) => match frame(bytes).payload {
                    Payload::Ping(p) if p.rumors.iter().any(|r| r.id == c_id && r.state == Liveness::Suspect) => Some(t),
                    _ => None,
                },
                _ => None,
            });
            break;
        }
    }
    let now = suspected_at.expect("a suspects c after an unanswered probe round");
    assert_eq!(b.node(1).liveness(c_id), Liveness::Suspect);
    let buddy = buddy.expect("the suspect is told at once, by a ping carrying the suspicion");
    // c hears it is suspected: it acks and refutes at once, by announce.
    b.at(now).deliver(&[buddy], 1, 3);
    let answer = b.drain(3);
    let kinds: Vec<_> = answer.iter().filter_map(kind).collect();
    assert!(kinds.contains(&FrameKind::Ack), "{kinds:?}");
    assert!(
        kinds.contains(&FrameKind::Announce),
        "an immediate refutation: {kinds:?}"
    );
    b.deliver(&answer, 3, 1);
    assert_eq!(
        b.node(1).liveness(c_id),
        Liveness::Alive,
        "first-hand evidence clears the suspicion"
    );
    assert!(
        b.events(1).iter().any(
            |e| matches!(e, Event::Liveness { id, state: Liveness::Alive, .. } if *id == c_id)
        )
    );
}

#[test]
fn a_suspect_that_stays_silent_goes_down_and_is_not_probed_again() {
    let mut b = Bench::star([1, 3], Millis(0));
    let c_id = NodeId::from_u64(3);
    // Both serve key 5, c with the higher priority: c is listed first.
    for n in [1, 3] {
        b.command(n, Command::Join(g()));
    }
    b.command(
        3,
        Command::Claim {
            group: g(),
            range: KeyRange::new(0, 9).expect("valid"),
            priority: 9,
            port: 80,
        },
    );
    b.claim(1, 0);
    b.drain(1);
    let ts = b.drain(3);
    b.hear(&ts, 3, 1);
    let first = |a: &Chatter| a.lookup("g", 5).first().map(|(s, l)| (s.member, *l));
    assert_eq!(first(b.node(1)), Some((c_id, Liveness::Alive)));
    let mut down_at = None;
    for step in 1..=60u64 {
        let now = Millis(step * 1_000);
        b.run_timers(1, now);
        if b.events(1)
            .iter()
            .any(|e| matches!(e, Event::Liveness { id, state: Liveness::Down, .. } if *id == c_id))
        {
            down_at = Some(now);
            break;
        }
    }
    let down_at = down_at.expect("a silent suspect goes down");
    let pings = b
        .run_timers(1, down_at.plus(20_000))
        .into_iter()
        .filter(|(_, t)| matches!(t, Transmit::Unicast { to, .. } if *to == addr(3)))
        .filter(|(_, t)| kind(t) == Some(FrameKind::Ping))
        .count();
    assert_eq!(pings, 0, "a down peer is not probed");
    // Its items stay (liveness is never a write), but lookup lists it last.
    let servers = b.node(1).lookup("g", 5);
    assert_eq!(servers.len(), 2);
    assert_eq!(
        first(b.node(1)),
        Some((NodeId::from_u64(1), Liveness::Alive))
    );
    assert_eq!(
        servers.last().map(|(s, l)| (s.member, *l)),
        Some((c_id, Liveness::Down))
    );
}
