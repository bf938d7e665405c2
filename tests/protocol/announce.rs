//! Announces: seeds are contacted and announced heads discovered, the
//! period grows with the LAN, and a far member's announce is relayed to a
//! LAN member that disagrees for long (never chained).

use scalesmall::model::NodeId;
use scalesmall::protocol::{Command, Event, Millis, ProtocolConfig, Transmit};
use scalesmall::wire::{Announce, Frame, FrameKind, GroupDigest, Payload, VERSION, Window};

use crate::bench::{Bench, addr, g, quiet, seal, sends};

#[test]
fn seeds_are_contacted_and_announced_heads_are_discovered() {
    let mut b = Bench::new([2, 8]);
    b.add(
        1,
        ProtocolConfig {
            seeds: vec![addr(9)],
            ..quiet()
        },
    );
    let ts = b.at(Millis(1_000_000)).tick(1);
    assert!(
        ts.iter()
            .any(|t| matches!(t, Transmit::Unicast { to, .. } if *to == addr(9))),
        "the seed gets an announce"
    );
    // An announce naming another island's representative makes it known.
    b.at(Millis(0)).introduce(2, 8);
    // far is alone: after its grace it represents its island (heads[0]).
    b.at(Millis(3_000_000)).tick(8);
    b.command(8, Command::AddSeed(addr(1)));
    let to_a = b.drain(8);
    b.deliver(&to_a, 8, 1);
    let evs = b.events(1);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::PeerDiscovered { id, .. } if *id == NodeId::from_u64(8)))
    );
}

#[test]
fn the_announce_period_grows_with_the_lan() {
    let cfg = ProtocolConfig {
        lan_announce_rate: 2,
        ..ProtocolConfig::default()
    };
    let mut b = Bench::with(1..=11, &cfg);
    b.at(Millis(5));
    for p in 2..=11 {
        let ann = b.announce(p);
        b.hear(&ann, p, 1);
    }
    b.drain(1);
    // 10 peers heard at 2 announces/s per LAN: a 5 s period, jittered ±25%
    // (their observations last 8 periods, 40 s: count over 30 s).
    let mut t = Millis(10);
    let mut announces = 0;
    while t < Millis(30_010) {
        t = b.node(1).poll_timeout().expect("a deadline").max(t.plus(1));
        announces += b
            .at(t)
            .tick(1)
            .iter()
            .filter(|x| matches!(x, Transmit::Multicast { .. }))
            .count();
    }
    assert!(
        (5..=9).contains(&announces),
        "{announces} announces in 30 s"
    );
}

/// A unicast announce from far node `from` (at `addr(from)`) saying it holds
/// `g` with fingerprint `fp`, sealed as sequence number `seq`.
fn far_announce(from: u8, seq: u64, fp: u64) -> Vec<u8> {
    let f = Frame {
        sender: NodeId::from_u64(u64::from(from)),
        incarnation: 1,
        seq,
        payload: Payload::Announce(Announce {
            max_version: VERSION,
            addrs: vec![addr(from)],
            hears: Window::whole(Vec::new()),
            groups: Window::whole(vec![GroupDigest {
                group: g(),
                fingerprint: fp,
            }]),
            groups_fp: fp,
            heads: Vec::new(),
            policy_fp: 0,
            rumors: Vec::new(),
        }),
    };
    seal(&f, VERSION, seq as u8)
}

/// The datagrams `ts` sends to `to` carrying exactly `bytes`.
fn copies_to(ts: &[Transmit], to: u8, bytes: &[u8]) -> usize {
    ts.iter()
        .filter(
            |t| matches!(t, Transmit::Unicast { to: d, bytes: b } if *d == addr(to) && b == bytes),
        )
        .count()
}

/// n (2) and l (3) share a LAN from `t0`; l claims in g (a member), n joins
/// g only if `n_member`. With `early`, a far announce (from 9) reaches n
/// at `t0`. Returns them at the time l's digest has been the same for
/// `pull_max_delay` (l announced it again then).
fn relay_lan(n_member: bool, early: Option<&[u8]>) -> Bench {
    let mut b = Bench::new([2, 3]);
    b.at(Millis(10));
    if n_member {
        b.join(2);
    }
    b.claim(3, 0);
    b.drain(3);
    b.lan(2, 3);
    if let Some(bytes) = early {
        b.datagram(9, 2, bytes);
        let out = b.drain(2);
        assert_eq!(copies_to(&out, 3, bytes), 0, "{out:?}");
    }
    let late = b.now.plus(b.node(2).config().pull_max_delay);
    b.at(late);
    for _ in 0..2 {
        let ann = b.announce(3);
        b.hear(&ann, 3, 2);
    }
    b.drain(2);
    b
}

#[test]
fn a_far_members_announce_is_passed_on_to_a_lan_member_that_disagrees_for_long() {
    // l (3) is a member of g; x (9) is a member of g in another subnet that
    // l has never heard of, so l cannot compare digests with it or pull
    // from it. x's far sync lands on n (2). Soon after l's digest changed
    // (a write may be on its way) nothing is passed on; once it has been
    // the same for as long as a pull may wait, it is.
    let mut b = relay_lan(false, Some(&far_announce(9, 1, 0xfeed)));
    let relayed = far_announce(9, 2, 0xfeed);
    // A copy passed on by someone else (not from x's own address) is not
    // passed on again: relays never chain.
    b.datagram(4, 2, &far_announce(9, 3, 0xfeed));
    let chained = b.drain(2);
    assert!(
        chained
            .iter()
            .all(|t| !matches!(t, Transmit::Unicast { to, .. } if *to == addr(3))),
        "{chained:?}"
    );
    assert_eq!(b.node(2).stats().relays, 0);
    b.datagram(9, 2, &relayed);
    let out = b.drain(2);
    assert_eq!(copies_to(&out, 3, &relayed), 1, "{out:?}");
    assert_eq!(b.node(2).stats().relays, 1);
    // The same digest as l's: nothing to pass on.
    let fp = b
        .node(3)
        .db()
        .message("g")
        .expect("l holds g")
        .clock()
        .fingerprint();
    b.datagram(9, 2, &far_announce(9, 4, fp));
    assert_eq!(b.node(2).stats().relays, 1);
    // l takes the copy as x's own announce: it answers x directly and,
    // once the group is quiet, pulls from it.
    b.datagram(2, 3, &relayed);
    let answer = b.drain(3);
    assert!(sends(&answer, addr(9), FrameKind::Announce), "{answer:?}");
    let due = b.now.plus(b.node(3).config().pull_max_delay);
    let pulls = b.at(due).tick(3);
    assert!(sends(&pulls, addr(9), FrameKind::Pull), "{pulls:?}");
}

#[test]
fn a_member_does_not_pass_on_a_far_announce_of_its_own_group() {
    // As above, but n is a member of g too: it compares with x itself, and
    // l compares with n on the LAN.
    let mut b = relay_lan(true, None);
    let far = far_announce(9, 1, 0xfeed);
    b.datagram(9, 2, &far);
    let out = b.drain(2);
    assert_eq!(copies_to(&out, 3, &far), 0, "{out:?}");
    assert_eq!(b.node(2).stats().relays, 0);
}
