//! Reconnect and addresses that follow the evidence, one scripted test per
//! rule (docs/ALGORITHM.md, "Reconnect"): a handful of Chatter nodes in a
//! [`support::lab::Lab`], cuts made and healed by the test, every frame
//! logged. Each cut outlasts the timeout it is about (the down verdict,
//! `reconnect_interval`, the backoff cap, `expire_after`).

mod support;

use core::net::SocketAddr;

use scalesmall::protocol::{BACKOFF_MAX, Command, Event, Millis, ProtocolConfig, Transmit, Via};
use scalesmall::wire::{Frame, Liveness, Payload, Probe};

use support::lab::{Lab, frame};

const INTERVAL: u64 = 10_000;

fn cfg() -> ProtocolConfig {
    ProtocolConfig {
        reconnect_interval: INTERVAL,
        ..ProtocolConfig::default()
    }
}

/// Every node joins `g` with claim 0 and the lab settles for `ms`.
fn boot(lab: &mut Lab, ms: u64) {
    for i in 0..lab.nodes.len() {
        lab.claim(i, 0);
    }
    lab.run_for(ms);
}

/// Whether every running node holds claim `k` of every node in `writers`.
fn all_hold(lab: &Lab, writers: &[(usize, u32)]) -> bool {
    (0..lab.nodes.len())
        .filter(|i| lab.nodes[*i].is_some())
        .all(|i| writers.iter().all(|&(j, k)| lab.holds_claim(i, j, k)))
}

/// Whether `i` holds `j` down.
fn down(lab: &Lab, i: usize, j: usize) -> bool {
    lab.node(i).liveness(Lab::id(j)) == Liveness::Down
}

/// Counts the unicast announces from `from` to any of `to` in each window
/// of `window` ms since log index `since`, over `len` ms from `start`.
fn per_window(
    lab: &Lab,
    since: usize,
    from: usize,
    to: &[SocketAddr],
    start: Millis,
    window: u64,
    len: u64,
) -> Vec<usize> {
    let mut counts = vec![0; (len / window) as usize];
    for s in lab.log.get(since..).unwrap_or_default() {
        let Transmit::Unicast { to: dst, bytes } = &s.what else {
            continue;
        };
        if s.from != from || !to.contains(dst) || s.at < start {
            continue;
        }
        if frame(bytes).is_some_and(|f| matches!(f.payload, Payload::Announce(_))) {
            let k = (s.at.since(start) / window) as usize;
            if let Some(c) = counts.get_mut(k) {
                *c += 1;
            }
        }
    }
    counts
}

#[test]
fn a_cut_longer_than_the_down_verdict_heals_and_both_sides_exchange_writes() {
    // Two subnets behind a router, each side seeded with the other, cut
    // 3 s after boot (before every far peer is known as a representative)
    // for 60 s, writes on both sides; then the router comes back.
    let seeds = vec![vec![3], vec![3], vec![3], vec![0], vec![0]];
    let mut lab = Lab::new(&[0, 0, 0, 1, 1], &cfg(), &seeds);
    boot(&mut lab, 3_000);
    lab.cut(&[3, 4]);
    lab.run_for(30_000);
    for i in 0..3 {
        for j in 3..5 {
            assert!(down(&lab, i, j) && down(&lab, j, i), "{i} and {j} apart");
        }
    }
    lab.claim(1, 1);
    lab.claim(4, 1);
    lab.run_for(30_000);
    lab.heal();
    let everyone: Vec<(usize, u32)> = (0..5).map(|i| (i, 0)).chain([(1, 1), (4, 1)]).collect();
    let took = lab.run_until(30_000, |l| all_hold(l, &everyone));
    assert!(took.is_some(), "not healed within 30 s");
    let alive = lab.run_until(30_000, |l| {
        (0..5).all(|i| (0..5).all(|j| i == j || !down(l, i, j)))
    });
    assert!(alive.is_some(), "every node sees every other alive again");
}

#[test]
fn a_seed_is_contacted_every_interval_while_known_and_down() {
    // Without multicast (no islands): 0 seeds 1. Once 0 holds 1 down, the
    // only rule that contacts 1 every interval is the seed rule.
    let c = ProtocolConfig {
        multicast: false,
        ..cfg()
    };
    let mut lab = Lab::new(&[0, 1], &c, &[vec![1], vec![]]);
    boot(&mut lab, 30_000);
    assert_eq!(
        lab.node(0).stats().reconnects,
        0,
        "a seed in touch is not contacted"
    );
    lab.cut(&[1]);
    lab.run_until(60_000, |l| down(l, 0, 1))
        .expect("0 holds 1 down");
    let (since, start) = (lab.log.len(), lab.now);
    lab.run_for(300_000);
    let counts = per_window(&lab, since, 0, &[lab.addr(1)], start, INTERVAL, 300_000);
    assert!(counts.iter().all(|n| *n >= 1), "{counts:?}");
    // The seed rule (at most twice: its waits are 7.5 to 10 s), a backoff
    // step and the representatives' sync at most.
    assert!(counts.iter().all(|n| *n <= 4), "{counts:?}");
}

#[test]
fn an_island_all_down_is_contacted_every_interval() {
    // Islands {0, 1} and {2, 3, 4}; no seeds once discovered (the seed, 0,
    // crashes). For 1, the far island (the part of it 1 knows) is all
    // down: one of its addresses is contacted every interval, however long
    // the cut.
    let seeds = vec![vec![], vec![], vec![0], vec![0], vec![0]];
    let mut lab = Lab::new(&[0, 0, 1, 1, 1], &cfg(), &seeds);
    boot(&mut lab, 30_000);
    let known: Vec<usize> = (2..5)
        .filter(|j| lab.node(1).peers().get(Lab::id(*j)).is_some())
        .collect();
    assert!(!known.is_empty(), "1 knows the far island");
    lab.stop(0);
    lab.cut(&[2, 3, 4]);
    lab.run_until(60_000, |l| l.node(1).unreachable_islands(l.now) == 1)
        .expect("1 holds the far island down");
    let far = [lab.addr(2), lab.addr(3), lab.addr(4)];
    let (since, start) = (lab.log.len(), lab.now);
    lab.run_for(600_000);
    let counts = per_window(&lab, since, 1, &far, start, INTERVAL, 600_000);
    assert!(counts.iter().all(|n| *n >= 1), "{counts:?}");
    // Then the cut heals: back within an interval or two.
    lab.heal();
    let took = lab.run_until(30_000, |l| known.iter().all(|j| !down(l, 1, *j)));
    assert!(took.is_some_and(|t| t <= 2 * INTERVAL), "{took:?}");
    assert_eq!(lab.node(1).unreachable_islands(lab.now), 0);
}

#[test]
fn the_backoff_of_a_down_member_grows_to_the_cap_and_resets_when_it_answers() {
    let mut lab = Lab::new(&[0, 0, 0, 0], &cfg(), &[]);
    boot(&mut lab, 20_000);
    let (x, y) = (Lab::id(2), Lab::id(3));
    lab.stop(2);
    lab.stop(3);
    lab.run_until(60_000, |l| down(l, 0, 2) && down(l, 0, 3))
        .expect("0 holds both down");
    let first = lab.node(0).reconnect_backoff(x).expect("tracked");
    assert_eq!(first.wait, 2 * INTERVAL, "the first wait is the interval");
    // Longer than the whole doubling (10 + 20 + ... + 160 s) and a cap.
    lab.run_for(1_000_000);
    assert_eq!(
        lab.node(0).reconnect_backoff(x).map(|b| b.wait),
        Some(BACKOFF_MAX)
    );
    assert_eq!(
        lab.node(0).reconnect_backoff(y).map(|b| b.wait),
        Some(BACKOFF_MAX)
    );
    // 2 comes back (restarted): it answers, leaves the backoff, and 3 is
    // tried again from the shortest wait.
    lab.start_with(2, Vec::new());
    lab.run_until(10_000, |l| !down(l, 0, 2))
        .expect("heard again");
    assert_eq!(lab.node(0).reconnect_backoff(x), None);
    let b = lab.node(0).reconnect_backoff(y).expect("still down");
    assert!(
        b.wait <= 2 * INTERVAL && b.next.since(lab.now) <= INTERVAL,
        "{b:?}"
    );
}

#[test]
fn the_cluster_makes_about_one_contact_per_down_member_per_step_not_one_per_node() {
    // 12 nodes on one LAN (announcing rarely, to keep the test quick); one
    // crashes. Everyone holds it down, and each node takes each backoff
    // step with probability 1/12: about one contact per step for the
    // cluster, where one per node would be 11.
    let n = 12;
    let c = ProtocolConfig {
        lan_announce_rate: 1,
        ..cfg()
    };
    let mut lab = Lab::new(&vec![0; n], &c, &[]);
    boot(&mut lab, 20_000);
    lab.stop(5);
    lab.run_until(60_000, |l| {
        (0..n).filter(|i| *i != 5).all(|i| down(l, i, 5))
    })
    .expect("everyone holds 5 down");
    let (since, start) = (lab.log.len(), lab.now);
    // Steps at about 10, 30, 70, 150, 310 and 610 s.
    let (len, steps) = (640_000, 6);
    lab.run_for(len);
    let to_5: usize = (0..n)
        .map(|i| per_window(&lab, since, i, &[lab.addr(5)], start, len, len)[0])
        .sum();
    println!("{to_5} contacts in {steps} steps");
    assert!(
        (1..=3 * steps).contains(&to_5),
        "{to_5} contacts in {steps} steps (one per node would be {})",
        steps * (n - 1)
    );
}

#[test]
fn a_partition_longer_than_expire_after_still_heals_within_twice_it() {
    // expire_after 30 s, cut for 60 s: each side expires the other's items
    // (down for 30 s) but still holds their addresses (forgotten only after
    // another 30 s), and takes them back after the heal. No seed crosses
    // the cut (0, the only one, crashes) and the representatives' sync
    // lapses after 20 s: reconnect is the only way back.
    let c = ProtocolConfig {
        expire_after: 30_000,
        rep_sync_period: 2_000,
        ..cfg()
    };
    let mut lab = Lab::new(&[0, 0, 1, 1], &c, &[vec![2], vec![], vec![], vec![]]);
    boot(&mut lab, 20_000);
    lab.stop(0);
    lab.cut(&[2, 3]);
    lab.claim(3, 1);
    lab.run_for(60_000);
    let expired = |id| {
        lab.events[1]
            .iter()
            .any(|e| matches!(e, Event::Expired { id: x, .. } if *x == id))
    };
    assert!(
        expired(Lab::id(2)) || expired(Lab::id(3)),
        "1 expired the far side"
    );
    lab.heal();
    let writes = [(1, 0), (2, 0), (3, 0), (3, 1)];
    let took = lab.run_until(30_000, |l| all_hold(l, &writes));
    assert!(took.is_some(), "not healed within 30 s");
}

#[test]
fn beyond_twice_expire_after_only_a_seed_across_the_cut_heals() {
    // Cut for longer than 2 x expire_after: each side forgot the other
    // (no address left), so only a configured seed brings them back.
    let c = ProtocolConfig {
        expire_after: 20_000,
        ..cfg()
    };
    for seeded in [false, true] {
        let mut lab = Lab::new(&[0, 0, 1, 1], &c, &[]);
        lab.command(0, Command::AddSeed(lab.addr(2)));
        if seeded {
            lab.command(1, Command::AddSeed(lab.addr(3)));
        }
        boot(&mut lab, 20_000);
        lab.stop(0);
        lab.cut(&[2, 3]);
        lab.run_for(100_000);
        assert!(lab.node(1).peers().get(Lab::id(3)).is_none(), "forgotten");
        lab.heal();
        let took = lab.run_until(30_000, |l| all_hold(l, &[(1, 0), (3, 0)]));
        assert_eq!(took.is_some(), seeded, "seeded: {seeded}, took {took:?}");
    }
}

#[test]
fn a_renumbered_members_address_follows_its_newer_frames_whichever_path_brought_them() {
    // Subnets {0, 1} and {2}. 1 is renumbered in its subnet and restarts.
    let seeds = vec![vec![2], vec![2], vec![0]];
    let mut lab = Lab::new(&[0, 0, 1], &cfg(), &seeds);
    boot(&mut lab, 20_000);
    let b = Lab::id(1);
    let old = lab.addr(1);
    assert_eq!(lab.node(2).peers().get(b).and_then(|p| p.addr), Some(old));
    // An announce of 1 from before the move, to replay late.
    let stale = lab
        .log
        .iter()
        .rev()
        .find_map(|s| match &s.what {
            Transmit::Multicast { bytes } if s.from == 1 => Some(bytes.clone()),
            _ => None,
        })
        .expect("1 announced");
    lab.stop(1);
    lab.renumber(1, 0, 77);
    lab.start_with(1, Vec::new());
    let new = lab.addr(1);
    lab.cut_one_way(1, 2);
    // 1's first announce after the restart reaches its LAN; 0 passes the
    // frame on to 2 unchanged (as a relay does): 2 takes the new address
    // from 1's own frame, though it came from 0.
    lab.run_for(2_000);
    let fresh = lab
        .log
        .iter()
        .rev()
        .find_map(|s| match &s.what {
            Transmit::Multicast { bytes } if s.from == 1 => Some(bytes.clone()),
            _ => None,
        })
        .expect("1 announced again");
    let (now, relay) = (lab.now, lab.addr(0));
    if let Some(c) = lab.nodes[2].as_mut() {
        c.handle_datagram(now, relay, Via::Unicast, &fresh);
    }
    assert_eq!(lab.node(2).peers().get(b).and_then(|p| p.addr), Some(new));
    lab.heal();
    lab.settle();
    let moved_at = lab.events[2].len();
    assert!(
        lab.events[2]
            .iter()
            .any(|e| matches!(e, Event::PeerMoved { id, addr } if *id == b && *addr == new))
    );
    // Older evidence (the old incarnation's announce, replayed from the
    // old address) never takes it back.
    if let Some(c) = lab.nodes[2].as_mut() {
        c.handle_datagram(now, old, Via::Unicast, &stale);
    }
    assert_eq!(lab.node(2).peers().get(b).and_then(|p| p.addr), Some(new));
    // The detector probes the new address, and 1 stays alive for 2.
    let since = lab.log.len();
    lab.run_for(60_000);
    let pings: Vec<SocketAddr> = lab.log[since..]
        .iter()
        .filter_map(|s| match &s.what {
            Transmit::Unicast { to, bytes } if s.from == 2 => frame(bytes)
                .filter(|f| matches!(f.payload, Payload::Ping(_)))
                .map(|_| *to),
            _ => None,
        })
        .filter(|to| *to == new || *to == old)
        .collect();
    assert!(
        !pings.is_empty() && pings.iter().all(|to| *to == new),
        "{pings:?}"
    );
    assert!(
        !lab.events[2][moved_at..].iter().any(|e| matches!(e,
            Event::Liveness { id, state: Liveness::Suspect | Liveness::Down, .. } if *id == b)),
        "never suspected"
    );
}

#[test]
fn a_restarted_member_is_followed_to_the_source_of_its_probes() {
    // 1 restarts at a new address and its first frame to 0 is a ping, not
    // an announce: 0 follows it to the ping's source (a newer
    // incarnation) and acks there. A ping of the same incarnation from
    // yet another address (a board with several) does not move it.
    let mut lab = Lab::new(&[0, 0], &cfg(), &[]);
    boot(&mut lab, 20_000);
    let b = Lab::id(1);
    lab.stop(1);
    let new = Lab::make_addr(0, 88);
    let other = Lab::make_addr(0, 89);
    let now = lab.now;
    let ping = |seq: u64| {
        let f = Frame {
            sender: b,
            incarnation: 2,
            seq,
            payload: Payload::Ping(Probe {
                nonce: seq,
                rumors: Vec::new(),
            }),
        };
        support::lab::codec()
            .encode_datagram(&f, scalesmall::wire::VERSION, [seq as u8; 24])
            .expect("encodes")
    };
    let since = lab.log.len();
    if let Some(c) = lab.nodes[0].as_mut() {
        c.handle_datagram(now, new, Via::Unicast, &ping(1));
    }
    lab.settle();
    assert_eq!(lab.node(0).peers().get(b).and_then(|p| p.addr), Some(new));
    let acked_at: Vec<SocketAddr> = lab.log[since..]
        .iter()
        .filter_map(|s| match &s.what {
            Transmit::Unicast { to, bytes } if s.from == 0 => frame(bytes)
                .filter(|f| matches!(f.payload, Payload::Ack(_)))
                .map(|_| *to),
            _ => None,
        })
        .collect();
    assert_eq!(acked_at, vec![new]);
    if let Some(c) = lab.nodes[0].as_mut() {
        c.handle_datagram(now, other, Via::Unicast, &ping(2));
    }
    assert_eq!(lab.node(0).peers().get(b).and_then(|p| p.addr), Some(new));
}

#[test]
fn a_leave_made_while_cut_off_from_every_member_reaches_them_after_the_heal() {
    // 0's switch fails (it reaches nobody) and it leaves g, for longer than
    // the longest linger (10 minutes). Its peers are down in its view, so
    // no silence counts as agreement: it keeps holding the group, and
    // after the heal the others pull its leave.
    let mut lab = Lab::new(&[0, 0, 0], &cfg(), &[]);
    boot(&mut lab, 20_000);
    assert!(lab.holds_claim(1, 0, 0));
    lab.cut(&[0]);
    lab.run_until(60_000, |l| down(l, 0, 1) && down(l, 0, 2))
        .expect("0 holds the others down");
    lab.command(0, Command::Leave(support::lab::g()));
    lab.run_for(660_000);
    assert!(lab.node(0).holds(&support::lab::g()), "still lingering");
    lab.heal();
    let took = lab.run_until(30_000, |l| {
        !l.holds_claim(1, 0, 0) && !l.holds_claim(2, 0, 0)
    });
    assert!(took.is_some(), "the leave reached the others");
    lab.run_until(60_000, |l| !l.node(0).holds(&support::lab::g()))
        .expect("then the linger ends");
}

#[test]
fn a_member_renumbered_while_running_tells_every_peer_at_once() {
    // Subnets {0, 1} and {2, 3}. 1 gets a new address while it runs; its
    // shell sees it and calls `set_addrs`: its LAN (multicast) and the far
    // subnet (a unicast announce each) follow it at once.
    let seeds = vec![vec![2], vec![2], vec![0], vec![0]];
    let mut lab = Lab::new(&[0, 0, 1, 1], &cfg(), &seeds);
    boot(&mut lab, 30_000);
    let b = Lab::id(1);
    let knows = |l: &Lab| {
        [0, 2, 3]
            .iter()
            .filter(|i| l.node(**i).peers().get(b).is_some())
            .copied()
            .collect::<Vec<usize>>()
    };
    let before = knows(&lab);
    assert!(before.contains(&0) && before.len() >= 2, "{before:?}");
    lab.renumber(1, 0, 99);
    let (now, new) = (lab.now, lab.addr(1));
    if let Some(c) = lab.nodes[1].as_mut() {
        c.set_addrs(now, vec![new]);
    }
    lab.settle();
    for i in before {
        assert_eq!(
            lab.node(i).peers().get(b).and_then(|p| p.addr),
            Some(new),
            "node {i}"
        );
    }
    // The same addresses again: nothing sent.
    let since = lab.log.len();
    if let Some(c) = lab.nodes[1].as_mut() {
        c.set_addrs(now, vec![new]);
    }
    lab.settle();
    assert_eq!(lab.log.len(), since);
}

#[test]
fn a_helper_introduces_a_board_that_restarted_elsewhere_to_a_peer_holding_its_old_address() {
    // Subnets {0, 3} and {1, 2}. 2 restarts at a new address, seeded with
    // 1 only: 3 learns of its new incarnation second-hand and keeps its old
    // address. 3's probe of the old address fails; the helpers it asks
    // hold the new one first-hand, ping 2 there (3 does not suspect it)
    // and ask 2 to ping 3, which follows it there.
    let seeds = vec![vec![1], vec![0], vec![0], vec![2]];
    let mut lab = Lab::new(&[0, 1, 1, 0], &cfg(), &seeds);
    boot(&mut lab, 30_000);
    let b = Lab::id(2);
    let old = lab.addr(2);
    assert_eq!(lab.node(3).peers().get(b).and_then(|p| p.addr), Some(old));
    lab.stop(2);
    lab.renumber(2, 1, 77);
    lab.start_with(2, vec![lab.addr(1)]);
    let new = lab.addr(2);
    let took = lab.run_until(60_000, |l| {
        l.node(3).peers().get(b).and_then(|p| p.addr) == Some(new)
    });
    assert!(took.is_some(), "3 follows 2 to its new address");
    let introduced: u64 = (0..4)
        .filter(|i| lab.nodes[*i].is_some())
        .map(|i| lab.node(i).stats().introductions)
        .sum();
    // The first probe round that reaches 2 does it (other paths take
    // longer: 2's own far syncs and probes reach 3 only once 2 learns of
    // it).
    assert!(
        introduced >= 1 && took.is_some_and(|t| t <= 10_000),
        "followed after {took:?}, {introduced} introductions"
    );
    lab.run_for(60_000);
    assert_eq!(lab.node(3).liveness(b), Liveness::Alive);
}

#[test]
fn a_ping_from_a_peer_never_heard_announcing_is_acked() {
    // A board that just (re)started knows nobody's version: the first frame
    // of a peer is often its ping (it probes the board's new incarnation
    // before any announce crossed). The ping's own version is the evidence
    // that it speaks pings: the board acks it (before, it took such a peer
    // for the oldest version, which has no acks, and the prober suspected
    // a live board).
    let mut lab = Lab::new(&[0], &cfg(), &[]);
    lab.run_for(1_000);
    let stranger = scalesmall::model::NodeId::from_u64(99);
    let at = Lab::make_addr(0, 99);
    let f = Frame {
        sender: stranger,
        incarnation: 1,
        seq: 1,
        payload: Payload::Ping(Probe {
            nonce: 7,
            rumors: Vec::new(),
        }),
    };
    let bytes = support::lab::codec()
        .encode_datagram(&f, scalesmall::wire::VERSION, [7; 24])
        .expect("encodes");
    let since = lab.log.len();
    let now = lab.now;
    if let Some(c) = lab.nodes[0].as_mut() {
        c.handle_datagram(now, at, Via::Unicast, &bytes);
    }
    lab.settle();
    let acks: Vec<SocketAddr> = lab.log[since..]
        .iter()
        .filter_map(|s| match &s.what {
            Transmit::Unicast { to, bytes } => frame(bytes)
                .filter(|f| matches!(&f.payload, Payload::Ack(a) if a.nonce == 7))
                .map(|_| *to),
            _ => None,
        })
        .collect();
    assert_eq!(acks, vec![at]);
}

#[test]
fn a_restart_learned_second_hand_is_checked_through_those_who_know_the_new_address() {
    // Subnets {0, 3, 4} and {1, 2}; 3 and 4 have 2 as seed. 2 restarts at
    // a new address, seeded with 1 only: all of subnet 0 learns of its new incarnation
    // second-hand and keeps its old address. Each probes it at once (its
    // address is in doubt), and asks first the helpers likely to know the
    // new one (who told it, 2's island), not its own LAN, which holds the
    // same old address: every one of them follows 2 within a few probe
    // periods, none suspects it.
    let seeds = vec![vec![1], vec![0], vec![0], vec![2], vec![2]];
    let mut lab = Lab::new(&[0, 1, 1, 0, 0], &cfg(), &seeds);
    boot(&mut lab, 30_000);
    let b = Lab::id(2);
    let old = lab.addr(2);
    let holders: Vec<usize> = [0, 3, 4]
        .into_iter()
        .filter(|&i| lab.node(i).peers().get(b).and_then(|p| p.addr) == Some(old))
        .collect();
    assert!(holders.len() >= 3, "subnet 0 knows 2: {holders:?}");
    lab.stop(2);
    lab.renumber(2, 1, 77);
    lab.start_with(2, vec![lab.addr(1)]);
    let new = lab.addr(2);
    let took = lab.run_until(60_000, |l| {
        holders
            .iter()
            .all(|&i| l.node(i).peers().get(b).and_then(|p| p.addr) == Some(new))
    });
    assert!(
        took.is_some_and(|t| t <= 10_000),
        "subnet 0 follows 2 after {took:?}"
    );
    for i in [0, 1, 3, 4] {
        assert_ne!(lab.node(i).liveness(b), Liveness::Down, "{i} holds 2 down");
    }
}

#[test]
fn a_renumbered_members_announces_lost_to_a_far_peer_are_sent_again() {
    // As above, but the far subnet does not hear 1 while it renumbers (its
    // first unicast announces are lost): within one incarnation nothing
    // else moves a stored address, so 1 sends its announce to every far
    // peer twice more with its next multicast announces, and the far
    // subnet follows it once the path is back. (In this small lab the far
    // syncs also carry it soon; at 24 boards and 10% loss `sim heal
    // renumber` failed 1 seed in 10 without the repeats, none with them.)
    let seeds = vec![vec![2], vec![2], vec![0], vec![0]];
    let mut lab = Lab::new(&[0, 0, 1, 1], &cfg(), &seeds);
    boot(&mut lab, 30_000);
    let b = Lab::id(1);
    let far: Vec<usize> = [2, 3]
        .into_iter()
        .filter(|&i| lab.node(i).peers().get(b).and_then(|p| p.addr).is_some())
        .collect();
    assert!(!far.is_empty(), "the far subnet knows 1");
    lab.renumber(1, 0, 99);
    let (now, new) = (lab.now, lab.addr(1));
    for &i in &far {
        lab.cut_one_way(1, i);
    }
    if let Some(c) = lab.nodes[1].as_mut() {
        c.set_addrs(now, vec![new]);
    }
    lab.settle();
    lab.heal();
    let took = lab.run_until(10_000, |l| {
        far.iter()
            .all(|&i| l.node(i).peers().get(b).and_then(|p| p.addr) == Some(new))
    });
    assert!(took.is_some(), "the far subnet follows 1: {took:?}");
}
