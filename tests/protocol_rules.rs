//! Each rule of the Chatter protocol, scripted with two or three nodes: the
//! test moves every frame by hand and looks at exactly what each node sends.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use scalesmall::model::{GroupName, KeyRange, NodeId};
use scalesmall::protocol::{
    Chatter, Command, ConnEvent, ConnId, Event, Identity, Millis, ProtocolConfig, Transmit, Via,
};
use scalesmall::wire::{Codec, Frame, FrameKind, Key, Keyring, Limits, Payload};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 29999)
}

fn codec() -> Codec {
    Codec::new(
        "rules",
        Keyring::new(Key::from_bytes([7; 32])),
        Limits::default(),
    )
}

fn g() -> GroupName {
    GroupName::new("g").expect("valid")
}

fn claim(start: u32) -> Command {
    Command::Claim {
        group: g(),
        range: KeyRange::new(start, start + 9).expect("valid"),
        priority: 1,
        port: 80,
    }
}

/// A node with id `i` (ids order the nodes) at 10.0.0.i.
fn node(i: u8, cfg: ProtocolConfig) -> Chatter {
    let me = Identity {
        id: NodeId::from_u64(u64::from(i)),
        incarnation: 1,
        addrs: vec![addr(i)],
    };
    Chatter::new(cfg, me, codec(), None, [i; 32], Millis(0)).expect("valid")
}

fn quiet() -> ProtocolConfig {
    // Long periods, so nothing happens unless a test makes it happen.
    ProtocolConfig {
        announce_period: 1_000_000,
        far_sync_period: 1_000_000,
        rep_sync_period: 1_000_000,
        reconnect_interval: 1_000_000_000,
        ..ProtocolConfig::default()
    }
}

/// Persists (instantly) and drains every transmit.
fn drain(c: &mut Chatter, now: Millis) -> Vec<Transmit> {
    while let Some(p) = c.poll_persist() {
        c.handle_persisted(now, p.clock);
    }
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit() {
        out.push(t);
    }
    out
}

fn events(c: &mut Chatter) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = c.poll_event() {
        out.push(e);
    }
    out
}

fn frame(bytes: &[u8]) -> Frame {
    codec().decode(bytes).expect("our own frames decode").frame
}

fn kind(t: &Transmit) -> Option<FrameKind> {
    match t {
        Transmit::Multicast { bytes }
        | Transmit::Unicast { bytes, .. }
        | Transmit::Send { bytes, .. } => Some(frame(bytes).payload.kind()),
        _ => None,
    }
}

/// Delivers every datagram in `ts` addressed to `to_addr` (or multicast,
/// if `multicast`) to `to`.
fn deliver(
    ts: &[Transmit],
    from: u8,
    to: &mut Chatter,
    to_addr: SocketAddr,
    multicast: bool,
    now: Millis,
) {
    for t in ts {
        match t {
            Transmit::Multicast { bytes } if multicast => {
                to.handle_datagram(now, addr(from), Via::Multicast, bytes);
            }
            Transmit::Unicast { to: dst, bytes } if *dst == to_addr => {
                to.handle_datagram(now, addr(from), Via::Unicast, bytes);
            }
            _ => {}
        }
    }
}

/// Makes `a` and `b` know each other: each sends the other a unicast
/// announce (the seed path).
fn introduce(a: &mut Chatter, ia: u8, b: &mut Chatter, ib: u8, now: Millis) {
    a.handle_command(now, Command::AddSeed(addr(ib)))
        .expect("ok");
    let ts = drain(a, now);
    deliver(&ts, ia, b, addr(ib), false, now);
    let back = drain(b, now);
    deliver(&back, ib, a, addr(ia), false, now);
    drain(a, now);
}

/// Makes `a` hear `b`'s multicast and `b` report hearing `a` (a LAN).
fn lan(a: &mut Chatter, ia: u8, b: &mut Chatter, ib: u8, now: Millis) {
    // A multicast announce each way, twice (the second lists the first).
    for _ in 0..2 {
        let ta = announce(a, now);
        deliver(&ta, ia, b, addr(ib), true, now);
        let tb = announce(b, now);
        deliver(&tb, ib, a, addr(ia), true, now);
    }
}

/// `c` joins `g` (a `Get`: a member receives the group; interest, ALGORITHM.md
/// 8.6); its broadcast is dropped.
fn join(c: &mut Chatter, now: Millis) {
    c.handle_command(now, Command::Join(g())).expect("ok");
    drain(c, now);
}

/// Forces a multicast announce out of `c`.
fn announce(c: &mut Chatter, now: Millis) -> Vec<Transmit> {
    c.handle_timeout(now.plus(2_000_000));
    drain(c, now)
}

#[test]
fn own_writes_are_held_until_durable() {
    let mut a = node(1, quiet());
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
fn a_write_is_multicast_first_then_sent_down_the_tree() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    assert_eq!(kind(&ts[0]), Some(FrameKind::Delta));
    assert!(matches!(ts[0], Transmit::Multicast { .. }));
    // b does not hear a's multicast (it never said so): a TCP tree step.
    assert!(matches!(ts[1], Transmit::Connect { to, .. } if to == addr(2)));
    let Transmit::Connect { conn, .. } = ts[1] else {
        unreachable!()
    };
    a.handle_conn_event(now, conn, ConnEvent::Opened);
    let sent = drain(&mut a, now);
    assert_eq!(sent.len(), 1);
    assert_eq!(kind(&sent[0]), Some(FrameKind::Forward));
}

#[test]
fn peers_that_hear_our_multicast_are_pruned_but_one_stays_on_tcp() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    let mut c = node(3, quiet());
    lan(&mut a, 1, &mut b, 2, now);
    lan(&mut a, 1, &mut c, 3, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    let connects: Vec<SocketAddr> = ts
        .iter()
        .filter_map(|t| match t {
            Transmit::Connect { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert!(matches!(ts[0], Transmit::Multicast { .. }));
    assert_eq!(
        connects.len(),
        1,
        "one random hearing peer stays on the TCP list: {connects:?}"
    );
}

#[test]
fn a_tree_receiver_forwards_its_list_even_when_not_news_and_only_once() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    let mut c = node(3, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    introduce(&mut a, 1, &mut c, 3, now);
    introduce(&mut b, 2, &mut c, 3, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    // b already heard the delta by multicast.
    deliver(&ts, 1, &mut b, addr(2), true, now);
    drain(&mut b, now);
    // Build a's tree step to b carrying c in its list.
    let delta = ts
        .iter()
        .find_map(|t| match t {
            Transmit::Multicast { bytes } => Some(frame(bytes)),
            _ => None,
        })
        .expect("a delta");
    let Payload::Delta(message) = delta.payload else {
        panic!("not a delta")
    };
    let fwd = Frame {
        sender: NodeId::from_u64(1),
        incarnation: 1,
        seq: 1000,
        payload: Payload::Forward(scalesmall::wire::Forward {
            author: NodeId::from_u64(1),
            upto: 1,
            list: vec![scalesmall::wire::PeerRef {
                id: NodeId::from_u64(3),
                addr: addr(3),
            }],
            message,
        }),
    };
    let bytes = codec()
        .encode(&fwd, scalesmall::wire::VERSION, [9; 24])
        .expect("encodes");
    let inbound = b.handle_accept(now, addr(1));
    b.handle_frame(now, inbound, &bytes);
    let out = drain(&mut b, now);
    let to_c = out
        .iter()
        .find_map(|t| match t {
            Transmit::Connect { conn, to } if *to == addr(3) => Some(*conn),
            _ => None,
        })
        .expect("b forwards to c although the delta was not news");
    b.handle_conn_event(now, to_c, ConnEvent::Opened);
    let sent = drain(&mut b, now);
    assert_eq!(
        sent.iter()
            .filter(|t| kind(t) == Some(FrameKind::Forward))
            .count(),
        1
    );
    // The same broadcast again: not forwarded twice.
    b.handle_frame(now, inbound, &bytes);
    let again = drain(&mut b, now);
    assert!(
        again
            .iter()
            .all(|t| !matches!(t, Transmit::Connect { .. } | Transmit::Send { .. })),
        "{again:?}"
    );
}

#[test]
fn a_tree_receiver_that_does_not_hear_the_author_multicasts_on_its_lan() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    join(&mut b, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    let Transmit::Connect { conn, .. } = ts[1] else {
        panic!("a tree step")
    };
    a.handle_conn_event(now, conn, ConnEvent::Opened);
    let Transmit::Send { bytes, .. } = drain(&mut a, now).remove(0) else {
        panic!("a send")
    };
    let inbound = b.handle_accept(now, addr(1));
    b.handle_frame(now, inbound, &bytes);
    let out = drain(&mut b, now);
    // (b may also welcome a, new to it in g, with a unicast announce.)
    let multicast = out
        .iter()
        .find(|t| matches!(t, Transmit::Multicast { .. }))
        .expect("a multicast");
    assert_eq!(kind(multicast), Some(FrameKind::Delta));
    assert_eq!(b.db().lookup("g", 5).len(), 1);
}

#[test]
fn a_differing_digest_is_pulled_once_quiet_and_answered_with_the_delta() {
    let cfg = quiet();
    let quiet_ms = cfg.pull_quiet;
    let mut a = node(1, cfg.clone());
    let mut b = node(2, cfg);
    introduce(&mut a, 1, &mut b, 2, Millis(0));
    join(&mut a, Millis(0));
    b.handle_command(Millis(0), claim(0)).expect("ok");
    drain(&mut b, Millis(0)); // the broadcast is lost
    let ann = announce(&mut b, Millis(100));
    deliver(&ann, 2, &mut a, addr(1), true, Millis(100));
    assert!(
        !drain(&mut a, Millis(100))
            .iter()
            .any(|t| kind(t) == Some(FrameKind::Pull)),
        "not at once: broadcasts may be in flight"
    );
    let due = Millis(100 + quiet_ms);
    a.handle_timeout(due);
    let pulls: Vec<Transmit> = drain(&mut a, due)
        .into_iter()
        .filter(|t| kind(t) == Some(FrameKind::Pull))
        .collect();
    assert!(!pulls.is_empty(), "a pulls b");
    deliver(&pulls, 1, &mut b, addr(2), false, due);
    let answer = drain(&mut b, due);
    assert!(answer.iter().any(|t| kind(t) == Some(FrameKind::Delta)));
    deliver(&answer, 2, &mut a, addr(1), false, due);
    assert_eq!(a.db().lookup("g", 5).len(), 1);
}

#[test]
fn an_unanswered_pull_goes_to_another_holder() {
    let cfg = quiet();
    let (quiet_ms, timeout) = (cfg.pull_quiet, cfg.pull_timeout);
    let mut a = node(1, cfg.clone());
    let mut b = node(2, cfg.clone());
    let mut c = node(3, cfg);
    introduce(&mut a, 1, &mut b, 2, Millis(0));
    introduce(&mut a, 1, &mut c, 3, Millis(0));
    join(&mut a, Millis(0));
    join(&mut c, Millis(0));
    b.handle_command(Millis(0), claim(0)).expect("ok");
    let bs = drain(&mut b, Millis(0));
    deliver(&bs, 2, &mut c, addr(3), true, Millis(0));
    drain(&mut c, Millis(0));
    // Both announce; a pulls from the latest announcer, which never answers.
    for (x, ix) in [(&mut c, 3u8), (&mut b, 2u8)] {
        let ann = announce(x, Millis(10));
        deliver(&ann, ix, &mut a, addr(1), true, Millis(10));
    }
    let t1 = Millis(10 + quiet_ms);
    a.handle_timeout(t1);
    let first: Vec<SocketAddr> = drain(&mut a, t1)
        .iter()
        .filter_map(|t| match t {
            t @ Transmit::Unicast { to, .. } if kind(t) == Some(FrameKind::Pull) => Some(*to),
            _ => None,
        })
        .collect();
    let t2 = t1.plus(timeout);
    a.handle_timeout(t2);
    let second: Vec<SocketAddr> = drain(&mut a, t2)
        .iter()
        .filter_map(|t| match t {
            t @ Transmit::Unicast { to, .. } if kind(t) == Some(FrameKind::Pull) => Some(*to),
            _ => None,
        })
        .collect();
    assert!(!first.is_empty() && !second.is_empty());
    assert_ne!(first[0], second[0], "the retry asks the other holder");
}

#[test]
fn a_pull_from_a_node_that_knows_more_is_pulled_back() {
    let cfg = quiet();
    let quiet_ms = cfg.pull_quiet;
    let mut a = node(1, cfg.clone());
    let mut b = node(2, cfg);
    introduce(&mut a, 1, &mut b, 2, Millis(0));
    b.handle_command(Millis(0), claim(0)).expect("ok");
    drain(&mut b, Millis(0));
    a.handle_command(Millis(0), claim(100)).expect("ok");
    drain(&mut a, Millis(0));
    // b pulls from a; b's clock shows it knows b's own write, which a lacks.
    let ann = announce(&mut a, Millis(5));
    deliver(&ann, 1, &mut b, addr(2), true, Millis(5));
    b.handle_timeout(Millis(5 + quiet_ms));
    let pulls = drain(&mut b, Millis(5 + quiet_ms));
    let now = Millis(5 + quiet_ms);
    deliver(&pulls, 2, &mut a, addr(1), false, now);
    let answer = drain(&mut a, now);
    deliver(&answer, 1, &mut b, addr(2), false, now);
    let later = now.plus(10 * quiet_ms);
    a.handle_timeout(later);
    let back = drain(&mut a, later);
    assert!(
        back.iter().any(|t| kind(t) == Some(FrameKind::Pull)),
        "push-pull: a asks b back"
    );
}

#[test]
fn seeds_are_contacted_and_announced_heads_are_discovered() {
    let cfg = ProtocolConfig {
        seeds: vec![addr(9)],
        ..quiet()
    };
    let mut a = node(1, cfg);
    a.handle_timeout(Millis(1_000_000));
    let ts = drain(&mut a, Millis(1_000_000));
    assert!(
        ts.iter()
            .any(|t| matches!(t, Transmit::Unicast { to, .. } if *to == addr(9))),
        "the seed gets an announce"
    );
    // An announce naming another island's representative makes it known.
    let mut b = node(2, quiet());
    let mut far = node(8, quiet());
    introduce(&mut b, 2, &mut far, 8, Millis(0));
    // far is alone: after its grace it represents its island (heads[0]).
    let late = Millis(3_000_000);
    far.handle_timeout(late);
    drain(&mut far, late);
    far.handle_command(late, Command::AddSeed(addr(1)))
        .expect("ok");
    let to_a = drain(&mut far, late);
    deliver(&to_a, 8, &mut a, addr(1), false, late);
    let evs = events(&mut a);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::PeerDiscovered { id, .. } if *id == NodeId::from_u64(8)))
    );
}

#[test]
fn connections_are_capped_with_lru_eviction_and_closed_when_idle() {
    let cfg = ProtocolConfig {
        max_conns: 2,
        conn_idle: 5_000,
        ..quiet()
    };
    let mut a = node(1, cfg.clone());
    let mut peers: Vec<Chatter> = (2..=4).map(|i| node(i, quiet())).collect();
    for (k, p) in peers.iter_mut().enumerate() {
        introduce(&mut a, 1, p, k as u8 + 2, Millis(0));
    }
    a.handle_command(Millis(0), claim(0)).expect("ok");
    let ts = drain(&mut a, Millis(0));
    let opened: Vec<ConnId> = ts
        .iter()
        .filter_map(|t| match t {
            Transmit::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect();
    for c in &opened {
        a.handle_conn_event(Millis(1), *c, ConnEvent::Opened);
    }
    drain(&mut a, Millis(1));
    assert!(a.conn_count() <= 2, "at most the cap: {}", a.conn_count());
    a.handle_timeout(Millis(10_000));
    let closes = drain(&mut a, Millis(10_000));
    assert!(closes.iter().any(|t| matches!(t, Transmit::Close { .. })));
    assert_eq!(a.conn_count(), 0, "idle connections are closed");
}

#[test]
fn a_failed_connection_passes_the_part_to_its_next_node() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    let mut peers: Vec<Chatter> = (2..=4).map(|i| node(i, quiet())).collect();
    for (k, p) in peers.iter_mut().enumerate() {
        introduce(&mut a, 1, p, k as u8 + 2, now);
    }
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    // The first part has a head and a rest (3 destinations: parts of 2 and 1).
    let connects: Vec<(ConnId, SocketAddr)> = ts
        .iter()
        .filter_map(|t| match t {
            Transmit::Connect { conn, to } => Some((*conn, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 2);
    let (failed, dead) = connects[0];
    a.handle_conn_event(now, failed, ConnEvent::Failed);
    let retry = drain(&mut a, now);
    // Once more to the same node on a fresh connection...
    let Some(Transmit::Connect { conn, to }) = retry.first().cloned() else {
        panic!("a reconnect: {retry:?}")
    };
    assert_eq!(to, dead);
    a.handle_conn_event(now, conn, ConnEvent::Failed);
    // ... then to the next node of its part.
    let next = drain(&mut a, now);
    assert!(
        next.iter()
            .any(|t| matches!(t, Transmit::Connect { to, .. } if *to != dead)),
        "{next:?}"
    );
}

#[test]
fn steps_written_just_before_a_close_are_sent_again() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    a.handle_command(now, claim(0)).expect("ok");
    let Transmit::Connect { conn, .. } = drain(&mut a, now)[1] else {
        panic!()
    };
    a.handle_conn_event(now, conn, ConnEvent::Opened);
    assert_eq!(drain(&mut a, now).len(), 1);
    // The peer closed at the same moment (an idle-close race).
    a.handle_conn_event(Millis(10), conn, ConnEvent::Closed);
    let again = drain(&mut a, Millis(10));
    assert!(matches!(again.first(), Some(Transmit::Connect { to, .. }) if *to == addr(2)));
}

#[test]
fn news_by_unicast_is_gossiped_once_and_a_duplicate_stops() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    let mut c = node(3, quiet());
    introduce(&mut b, 2, &mut a, 1, now);
    introduce(&mut b, 2, &mut c, 3, now);
    // b and c are members of g (gossip goes to members only), and b knows
    // c is: c's join reached it.
    join(&mut b, now);
    c.handle_command(now, Command::Join(g())).expect("ok");
    // c is far from b (no multicast between them): its join came by TCP.
    for t in drain(&mut c, now) {
        if let Transmit::Multicast { bytes } = t {
            b.handle_datagram(now, addr(3), Via::Unicast, &bytes);
        }
    }
    drain(&mut b, now);
    a.handle_command(now, claim(0)).expect("ok");
    let delta = drain(&mut a, now)
        .into_iter()
        .find(|t| matches!(t, Transmit::Multicast { .. }))
        .expect("a delta");
    let Transmit::Multicast { bytes } = delta else {
        unreachable!()
    };
    b.handle_datagram(now, addr(1), Via::Unicast, &bytes);
    let first = drain(&mut b, now);
    assert!(
        first.iter().any(|t| kind(t) == Some(FrameKind::Delta)),
        "news is passed on"
    );
    b.handle_datagram(now, addr(1), Via::Unicast, &bytes);
    assert!(drain(&mut b, now).is_empty(), "a duplicate stops here");
}

#[test]
fn the_wire_version_follows_the_oldest_peer() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    // An old peer's announce, format version 1.
    let old = Frame {
        sender: NodeId::from_u64(5),
        incarnation: 1,
        seq: 1,
        payload: Payload::Announce(scalesmall::wire::Announce {
            max_version: 1,
            addrs: vec![addr(5)],
            hears: scalesmall::wire::Window::empty(),
            groups: scalesmall::wire::Window::empty(),
            groups_fp: 0,
            heads: vec![],
            policy_fp: 0,
            rumors: Vec::new(),
        }),
    };
    let bytes = codec().encode(&old, 1, [3; 24]).expect("v1 encodes");
    a.handle_datagram(now, addr(5), Via::Multicast, &bytes);
    drain(&mut a, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    let Transmit::Multicast { bytes } = &ts[0] else {
        panic!("a multicast")
    };
    assert_eq!(codec().decode(bytes).expect("decodes").version, 1);
}

#[test]
fn repeated_authentication_failures_say_different_key() {
    let mut a = node(1, quiet());
    let stranger = Codec::new(
        "rules",
        Keyring::new(Key::from_bytes([8; 32])),
        Limits::default(),
    );
    let f = Frame {
        sender: NodeId::from_u64(6),
        incarnation: 1,
        seq: 1,
        payload: Payload::Ping(scalesmall::wire::Probe {
            nonce: 1,
            rumors: vec![],
        }),
    };
    for k in 0..8u8 {
        let bytes = stranger.encode(&f, 2, [k + 1; 24]).expect("encodes");
        a.handle_datagram(Millis(0), addr(6), Via::Unicast, &bytes);
    }
    let evs = events(&mut a);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::KeyMismatch { from, .. } if *from == addr(6))),
        "{evs:?}"
    );
    assert!(a.stats().drops.values().sum::<u64>() >= 8);
}

#[test]
fn own_writes_seen_above_our_clock_are_reasserted() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    a.handle_command(now, claim(0)).expect("ok");
    drain(&mut a, now);
    // A "future" a (same id) wrote more, then its data dir was restored.
    let mut future = node(1, quiet());
    future.handle_command(now, claim(0)).expect("ok");
    future.handle_command(now, claim(100)).expect("ok");
    future.handle_command(now, claim(200)).expect("ok");
    let msg = future.db().message("g").expect("written").clone();
    let bytes = codec()
        .encode(
            &Frame {
                sender: NodeId::from_u64(7),
                incarnation: 1,
                seq: 1,
                payload: Payload::Delta(msg),
            },
            2,
            [4; 24],
        )
        .expect("encodes");
    a.handle_datagram(now, addr(7), Via::Unicast, &bytes);
    assert!(
        a.db().clock() > 3,
        "the clock jumped above the lost timeline"
    );
    // Its event comes once the re-assertion is durable.
    drain(&mut a, now);
    let evs = events(&mut a);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::OwnAhead { seen: 3, .. }))
    );
    // The identities only the lost timeline had are retracted.
    assert!(a.db().lookup("g", 105).is_empty());
    assert_eq!(a.db().lookup("g", 5).len(), 1);
}

#[test]
fn the_announce_period_grows_with_the_lan() {
    let cfg = ProtocolConfig {
        lan_announce_rate: 2,
        ..ProtocolConfig::default()
    };
    let mut a = node(1, cfg.clone());
    let mut lan_peers: Vec<Chatter> = (2..=11).map(|i| node(i, cfg.clone())).collect();
    let now = Millis(5);
    for (k, p) in lan_peers.iter_mut().enumerate() {
        let ann = announce(p, now);
        deliver(&ann, k as u8 + 2, &mut a, addr(1), true, now);
    }
    drain(&mut a, now);
    // 10 peers heard at 2 announces/s per LAN: a 5 s period, jittered ±25%
    // (their observations last 8 periods, 40 s: count over 30 s).
    let mut t = Millis(10);
    let mut announces = 0;
    while t < Millis(30_010) {
        t = a.poll_timeout().expect("a deadline").max(t.plus(1));
        a.handle_timeout(t);
        announces += drain(&mut a, t)
            .iter()
            .filter(|x| matches!(x, Transmit::Multicast { .. }))
            .count();
    }
    assert!(
        (5..=9).contains(&announces),
        "{announces} announces in 30 s"
    );
}

/// Runs `c`'s timers up to `until`, returning what it sent.
fn run_timers(c: &mut Chatter, until: Millis) -> Vec<(Millis, Transmit)> {
    let mut out = Vec::new();
    while let Some(t) = c.poll_timeout()
        && t <= until
    {
        c.handle_timeout(t);
        out.extend(drain(c, t).into_iter().map(|x| (t, x)));
    }
    out
}

#[test]
fn an_unanswered_probe_suspects_and_the_suspect_refutes_at_once() {
    use scalesmall::wire::{Liveness, Payload};
    let (mut a, mut c) = (node(1, quiet()), node(3, quiet()));
    introduce(&mut a, 1, &mut c, 3, Millis(0));
    // Everything a sends to c is lost until a suspects c.
    let c_id = NodeId::from_u64(3);
    let mut suspected_at = None;
    let mut buddy = None;
    for step in 1..=20u64 {
        let now = Millis(step * 1_000);
        let sent = run_timers(&mut a, now);
        if suspected_at.is_none()
            && events(&mut a).iter().any(|e| {
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
    assert_eq!(a.liveness(c_id), Liveness::Suspect);
    let buddy = buddy.expect("the suspect is told at once, by a ping carrying the suspicion");
    // c hears it is suspected: it acks and refutes at once, by announce.
    deliver(&[buddy], 1, &mut c, addr(3), false, now);
    let answer = drain(&mut c, now);
    let kinds: Vec<_> = answer.iter().filter_map(kind).collect();
    assert!(kinds.contains(&FrameKind::Ack), "{kinds:?}");
    assert!(
        kinds.contains(&FrameKind::Announce),
        "an immediate refutation: {kinds:?}"
    );
    deliver(&answer, 3, &mut a, addr(1), false, now);
    assert_eq!(
        a.liveness(c_id),
        Liveness::Alive,
        "first-hand evidence clears the suspicion"
    );
    assert!(
        events(&mut a).iter().any(
            |e| matches!(e, Event::Liveness { id, state: Liveness::Alive, .. } if *id == c_id)
        )
    );
}

#[test]
fn a_suspect_that_stays_silent_goes_down_and_is_not_probed_again() {
    use scalesmall::wire::Liveness;
    let (mut a, mut c) = (node(1, quiet()), node(3, quiet()));
    introduce(&mut a, 1, &mut c, 3, Millis(0));
    let c_id = NodeId::from_u64(3);
    // Both serve key 5, c with the higher priority: c is listed first.
    for n in [&mut a, &mut c] {
        n.handle_command(Millis(0), Command::Join(g())).expect("ok");
    }
    c.handle_command(
        Millis(0),
        Command::Claim {
            group: g(),
            range: KeyRange::new(0, 9).expect("valid"),
            priority: 9,
            port: 80,
        },
    )
    .expect("ok");
    a.handle_command(Millis(0), claim(0)).expect("ok");
    drain(&mut a, Millis(0));
    let ts = drain(&mut c, Millis(0));
    deliver(&ts, 3, &mut a, addr(1), true, Millis(0));
    let first = |a: &Chatter| a.lookup("g", 5).first().map(|(s, l)| (s.member, *l));
    assert_eq!(first(&a), Some((c_id, Liveness::Alive)));
    let mut down_at = None;
    for step in 1..=60u64 {
        let now = Millis(step * 1_000);
        run_timers(&mut a, now);
        if events(&mut a)
            .iter()
            .any(|e| matches!(e, Event::Liveness { id, state: Liveness::Down, .. } if *id == c_id))
        {
            down_at = Some(now);
            break;
        }
    }
    let down_at = down_at.expect("a silent suspect goes down");
    let pings = run_timers(&mut a, down_at.plus(20_000))
        .into_iter()
        .filter(|(_, t)| matches!(t, Transmit::Unicast { to, .. } if *to == addr(3)))
        .filter(|(_, t)| kind(t) == Some(FrameKind::Ping))
        .count();
    assert_eq!(pings, 0, "a down peer is not probed");
    // Its items stay (liveness is never a write), but lookup lists it last.
    let servers = a.lookup("g", 5);
    assert_eq!(servers.len(), 2);
    assert_eq!(first(&a), Some((NodeId::from_u64(1), Liveness::Alive)));
    assert_eq!(
        servers.last().map(|(s, l)| (s.member, *l)),
        Some((c_id, Liveness::Down))
    );
}

/// a (1) and c (3) know each other; a joins g and holds c's claim there.
/// Returns them, c's id and c's write (to deliver again later).
fn a_holds_cs_claim() -> (Chatter, Chatter, NodeId, Vec<Transmit>) {
    let (mut a, mut c) = (node(1, quiet()), node(3, quiet()));
    introduce(&mut a, 1, &mut c, 3, Millis(0));
    join(&mut a, Millis(0));
    c.handle_command(Millis(0), claim(0)).expect("ok");
    let news = drain(&mut c, Millis(0));
    deliver(&news, 3, &mut a, addr(1), true, Millis(0));
    (a, c, NodeId::from_u64(3), news)
}

#[test]
fn a_forgotten_member_leaves_the_view_stays_out_and_returns_when_heard() {
    let (mut a, mut c, c_id, news) = a_holds_cs_claim();
    assert_eq!(a.lookup("g", 5).len(), 1);
    a.handle_command(Millis(10), Command::Forget(c_id))
        .expect("ok");
    assert!(a.lookup("g", 5).is_empty());
    assert!(
        events(&mut a)
            .iter()
            .any(|e| matches!(e, Event::Expired { id, .. } if *id == c_id))
    );
    // The same news again (a peer that has not expired c gossips it): out.
    deliver(&news, 3, &mut a, addr(1), true, Millis(20));
    assert!(
        a.lookup("g", 5).is_empty(),
        "old writes of a forgotten member are refused"
    );
    // c is heard first-hand: it is back, and its writes are taken again.
    let ann = announce(&mut c, Millis(30));
    deliver(&ann, 3, &mut a, addr(1), true, Millis(30));
    assert_eq!(a.db().expired_upto(c_id), 0);
    deliver(&news, 3, &mut a, addr(1), true, Millis(40));
    assert_eq!(a.lookup("g", 5).len(), 1);
}

// --- interest (ALGORITHM.md 8.6) ----------------------------------------------

/// Delivers the multicasts in `ts` to `to` as unicast datagrams (a node in
/// another subnet that got them by TCP or gossip).
fn deliver_far(ts: &[Transmit], from: u8, to: &mut Chatter, now: Millis) {
    for t in ts {
        if let Transmit::Multicast { bytes } = t {
            to.handle_datagram(now, addr(from), Via::Unicast, bytes);
        }
    }
}

/// The peers `ts` opens TCP connections to (tree steps).
fn connects(ts: &[Transmit]) -> Vec<SocketAddr> {
    ts.iter()
        .filter_map(|t| match t {
            Transmit::Connect { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// The groups `ts`'s announces list.
fn announced_groups(ts: &[Transmit]) -> Vec<String> {
    ts.iter()
        .filter_map(|t| match t {
            Transmit::Multicast { bytes } | Transmit::Unicast { bytes, .. } => {
                match frame(bytes).payload {
                    Payload::Announce(a) => Some(a.groups.entries),
                    _ => None,
                }
            }
            _ => None,
        })
        .flatten()
        .map(|d| d.group.to_string())
        .collect()
}

fn pull_frame(from: u64, group: GroupName) -> Vec<u8> {
    let f = Frame {
        sender: NodeId::from_u64(from),
        incarnation: 1,
        seq: 77,
        payload: Payload::Pull(scalesmall::wire::Pull {
            group,
            part: NodeId::ALL,
            clock: scalesmall::model::WorldClock::new(),
        }),
    };
    codec()
        .encode(&f, scalesmall::wire::VERSION, [5; 24])
        .expect("encodes")
}

#[test]
fn a_non_member_stores_nothing_of_a_group_but_lists_its_name() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    b.handle_command(now, claim(0)).expect("ok");
    let news = drain(&mut b, now);
    deliver(&news, 2, &mut a, addr(1), true, now);
    deliver_far(&news, 2, &mut a, now);
    let ann = announce(&mut b, now);
    deliver(&ann, 2, &mut a, addr(1), true, now);
    assert!(a.db().message("g").is_none(), "no items, no world clock");
    assert!(a.lookup("g", 5).is_empty());
    assert_eq!(a.groups(), vec![g()], "the name is still listed");
    let fp = b
        .db()
        .message("g")
        .expect("b holds g")
        .clock()
        .fingerprint();
    assert_eq!(a.interest().get(&g()).and_then(|h| h.fingerprint), Some(fp));
    assert!(a.stats().drops.get("not_member").copied().unwrap_or(0) >= 1);
    // Nor does a advertise g, nor pull it, however long it waits.
    assert!(announced_groups(&announce(&mut a, now)).is_empty());
    let later = now.plus(60_000);
    a.handle_timeout(later);
    let out = drain(&mut a, later);
    assert!(
        !out.iter().any(|t| kind(t) == Some(FrameKind::Pull)),
        "{out:?}"
    );
    assert!(a.converged(later, 1_000_000), "a lacks nothing it wants");
}

#[test]
fn a_non_member_does_not_answer_a_pull_and_a_leaver_forgets_the_group() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    join(&mut a, now);
    b.handle_command(now, claim(0)).expect("ok");
    deliver(&drain(&mut b, now), 2, &mut a, addr(1), true, now);
    assert_eq!(a.lookup("g", 5).len(), 1, "a member stores the write");
    // A member answers a pull ...
    a.handle_datagram(now, addr(2), Via::Unicast, &pull_frame(2, g()));
    assert!(
        drain(&mut a, now)
            .iter()
            .any(|t| kind(t) == Some(FrameKind::Delta))
    );
    // ... a node that left holds on for a while (so a member that missed
    // the leave can pull it from it) ...
    a.handle_command(now, Command::Leave(g())).expect("ok");
    drain(&mut a, now);
    assert!(a.holds(&g()), "lingers");
    a.handle_datagram(now, addr(2), Via::Unicast, &pull_frame(2, g()));
    assert!(
        drain(&mut a, now)
            .iter()
            .any(|t| kind(t) == Some(FrameKind::Delta)),
        "a lingering leaver still answers"
    );
    a.handle_timeout(now.plus(19_000));
    drain(&mut a, now.plus(19_000));
    assert!(a.holds(&g()), "at least 20 s");
    // ... then (nobody announces the group, no member is down: at the
    // longest linger, 10 minutes) does not, and keeps only its own
    // retraction.
    a.handle_timeout(now.plus(599_000));
    drain(&mut a, now.plus(599_000));
    assert!(a.holds(&g()), "no announcer agreed: up to 10 minutes");
    let now = now.plus(600_000);
    a.handle_timeout(now);
    drain(&mut a, now);
    assert!(!a.holds(&g()));
    assert!(a.lookup("g", 5).is_empty());
    let msg = a.db().message("g").expect("own retraction kept");
    assert!(
        msg.items()
            .items()
            .iter()
            .all(|i| i.member() == NodeId::from_u64(1) && !i.live())
    );
    assert!(msg.clock().entry(NodeId::from_u64(2)).is_none());
    let later = now.plus(5_000);
    // A fresh frame (the replay window refuses the same one).
    let again = {
        let mut f = frame(&pull_frame(2, g()));
        f.seq += 1;
        codec()
            .encode(&f, scalesmall::wire::VERSION, [6; 24])
            .expect("encodes")
    };
    a.handle_datagram(later, addr(2), Via::Unicast, &again);
    assert!(
        !drain(&mut a, later)
            .iter()
            .any(|t| kind(t) == Some(FrameKind::Delta)),
        "no answer for a group it is not a member of"
    );
    assert_eq!(a.stats().drops.get("pull_not_member"), Some(&1));
    assert_eq!(a.groups(), vec![g()]);
}

#[test]
fn joining_an_existing_group_pulls_it_and_gets_its_items() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    b.handle_command(now, claim(0)).expect("ok");
    drain(&mut b, now);
    // a hears b announce g (so it knows b holds it), then joins.
    let ann = announce(&mut b, now);
    deliver(&ann, 2, &mut a, addr(1), true, now);
    a.handle_command(now, Command::Join(g())).expect("ok");
    let out = drain(&mut a, now);
    let pulls: Vec<Transmit> = out
        .iter()
        .filter(|t| kind(t) == Some(FrameKind::Pull))
        .cloned()
        .collect();
    assert!(
        pulls
            .iter()
            .any(|t| matches!(t, Transmit::Unicast { to, .. } if *to == addr(2))),
        "the joiner pulls the group at once from its holder: {out:?}"
    );
    deliver(&pulls, 1, &mut b, addr(2), false, now);
    let answer = drain(&mut b, now);
    deliver(&answer, 2, &mut a, addr(1), false, now);
    assert_eq!(a.lookup("g", 5).len(), 1, "b's claim arrived");
    assert!(a.interest().get(&g()).is_none(), "no longer only a name");
    assert_eq!(
        announced_groups(&announce(&mut a, now)),
        vec!["g".to_owned()]
    );
}

#[test]
fn a_far_member_welcomes_a_joiner_it_did_not_know() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    introduce(&mut a, 1, &mut b, 2, now);
    b.handle_command(now, claim(0)).expect("ok");
    drain(&mut b, now);
    // a knows no holder of g: its join pulls nobody, but reaches b.
    a.handle_command(now, Command::Join(g())).expect("ok");
    let join = drain(&mut a, now);
    assert!(!join.iter().any(|t| kind(t) == Some(FrameKind::Pull)));
    let later = now.plus(10_000);
    deliver_far(&join, 1, &mut b, later);
    let welcome = drain(&mut b, later);
    assert_eq!(
        announced_groups(&welcome),
        vec!["g".to_owned()],
        "b tells the joiner it holds g"
    );
    deliver(&welcome, 2, &mut a, addr(1), false, later);
    let due = later.plus(a.config().pull_quiet);
    a.handle_timeout(due);
    let pulls = drain(&mut a, due);
    assert!(pulls.iter().any(|t| kind(t) == Some(FrameKind::Pull)));
    deliver(&pulls, 1, &mut b, addr(2), false, due);
    deliver(&drain(&mut b, due), 2, &mut a, addr(1), false, due);
    assert_eq!(a.lookup("g", 5).len(), 1);
}

#[test]
fn the_tree_of_a_write_spans_only_the_groups_members() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut others: Vec<Chatter> = (2..=5).map(|i| node(i, quiet())).collect();
    // a joins first (alone: its join opens no connection).
    join(&mut a, now);
    for (k, p) in others.iter_mut().enumerate() {
        introduce(&mut a, 1, p, k as u8 + 2, now);
    }
    // 2 and 4 join g, 3 joins another group, 5 nothing; a hears of the
    // joins by TCP (no multicast between any of them).
    for (k, p) in others.iter_mut().enumerate() {
        let i = k as u8 + 2;
        let group = match i {
            2 | 4 => g(),
            3 => GroupName::new("h").expect("valid"),
            _ => continue,
        };
        p.handle_command(now, Command::Join(group)).expect("ok");
        deliver_far(&drain(p, now), i, &mut a, now);
    }
    drain(&mut a, now);
    a.handle_command(now, claim(0)).expect("ok");
    let mut to = connects(&drain(&mut a, now));
    to.sort();
    assert_eq!(to, vec![addr(2), addr(4)], "members only");
}

#[test]
fn a_get_only_member_receives_writes_and_a_non_member_only_passes_them_on() {
    let now = Millis(10);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    let mut c = node(3, quiet());
    join(&mut a, now);
    introduce(&mut a, 1, &mut b, 2, now);
    introduce(&mut a, 1, &mut c, 3, now);
    // b reads g (a `Get`, no claim); a hears of it.
    b.handle_command(now, Command::Join(g())).expect("ok");
    deliver_far(&drain(&mut b, now), 2, &mut a, now);
    drain(&mut a, now);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = drain(&mut a, now);
    let conn = ts
        .iter()
        .find_map(|t| match t {
            Transmit::Connect { conn, to } if *to == addr(2) => Some(*conn),
            _ => None,
        })
        .expect("a tree step to the Get-only member");
    a.handle_conn_event(now, conn, ConnEvent::Opened);
    let Some(Transmit::Send { bytes, .. }) = drain(&mut a, now).into_iter().next() else {
        panic!("a send")
    };
    let inbound = b.handle_accept(now, addr(1));
    b.handle_frame(now, inbound, &bytes);
    drain(&mut b, now);
    assert_eq!(b.lookup("g", 5).len(), 1, "the reader holds the write");
    // The same step sent to c (not a member), listing b: c passes it on
    // but stores nothing.
    let Payload::Forward(mut fwd) = frame(&bytes).payload else {
        panic!("a forward")
    };
    fwd.list = vec![scalesmall::wire::PeerRef {
        id: NodeId::from_u64(2),
        addr: addr(2),
    }];
    let f = Frame {
        sender: NodeId::from_u64(1),
        incarnation: 1,
        seq: 999,
        payload: Payload::Forward(fwd),
    };
    let bytes = codec()
        .encode(&f, scalesmall::wire::VERSION, [6; 24])
        .expect("encodes");
    let inbound = c.handle_accept(now, addr(1));
    c.handle_frame(now, inbound, &bytes);
    let out = drain(&mut c, now);
    assert_eq!(connects(&out), vec![addr(2)], "c forwards along its list");
    assert!(c.db().message("g").is_none(), "c stores nothing of g");
    assert_eq!(c.groups(), vec![g()]);
}

/// A unicast announce from far node `from` (at `addr(from)`) saying it holds
/// `g` with fingerprint `fp`, sealed as sequence number `seq`.
fn far_announce(from: u8, seq: u64, fp: u64) -> Vec<u8> {
    let f = Frame {
        sender: NodeId::from_u64(u64::from(from)),
        incarnation: 1,
        seq,
        payload: Payload::Announce(scalesmall::wire::Announce {
            max_version: scalesmall::wire::VERSION,
            addrs: vec![addr(from)],
            hears: scalesmall::wire::Window::whole(Vec::new()),
            groups: scalesmall::wire::Window::whole(vec![scalesmall::wire::GroupDigest {
                group: g(),
                fingerprint: fp,
            }]),
            groups_fp: fp,
            heads: Vec::new(),
            policy_fp: 0,
            rumors: Vec::new(),
        }),
    };
    codec()
        .encode(&f, scalesmall::wire::VERSION, [seq as u8; 24])
        .expect("encodes")
}

/// The datagrams `ts` sends to `to` carrying exactly `bytes`.
fn copies_to(ts: &[Transmit], to: SocketAddr, bytes: &[u8]) -> usize {
    ts.iter()
        .filter(|t| matches!(t, Transmit::Unicast { to: d, bytes: b } if *d == to && b == bytes))
        .count()
}

/// Whether `ts` sends `to` a datagram of `kind`.
fn sends(ts: &[Transmit], to: SocketAddr, want: FrameKind) -> bool {
    ts.iter()
        .any(|t| matches!(t, Transmit::Unicast { to: d, .. } if *d == to) && kind(t) == Some(want))
}

/// n (2) and l (3) share a LAN from `t0`; l claims in g (a member), n joins
/// g only if `n_member`. With `early`, a far announce (from 9) reaches n
/// at `t0`. Returns them at the time l's digest has been the same for
/// `pull_max_delay` (l announced it again then).
fn relay_lan(n_member: bool, early: Option<&[u8]>) -> (Chatter, Chatter, Millis) {
    let t0 = Millis(10);
    let mut n = node(2, quiet());
    let mut l = node(3, quiet());
    if n_member {
        join(&mut n, t0);
    }
    l.handle_command(t0, claim(0)).expect("ok");
    drain(&mut l, t0);
    lan(&mut n, 2, &mut l, 3, t0);
    if let Some(bytes) = early {
        n.handle_datagram(t0, addr(9), Via::Unicast, bytes);
        let out = drain(&mut n, t0);
        assert_eq!(copies_to(&out, addr(3), bytes), 0, "{out:?}");
    }
    let late = t0.plus(n.config().pull_max_delay);
    for _ in 0..2 {
        deliver(&announce(&mut l, late), 3, &mut n, addr(2), true, late);
    }
    drain(&mut n, late);
    (n, l, late)
}

#[test]
fn a_far_members_announce_is_passed_on_to_a_lan_member_that_disagrees_for_long() {
    // l is a member of g; x (9) is a member of g in another subnet that l
    // has never heard of, so l cannot compare digests with it or pull from
    // it. x's far sync lands on n. Soon after l's digest changed (a write
    // may be on its way) nothing is passed on; once it has been the same
    // for as long as a pull may wait, it is.
    let x = addr(9);
    let (mut n, mut l, late) = relay_lan(false, Some(&far_announce(9, 1, 0xfeed)));
    let relayed = far_announce(9, 2, 0xfeed);
    // A copy passed on by someone else (not from x's own address) is not
    // passed on again: relays never chain.
    n.handle_datagram(late, addr(4), Via::Unicast, &far_announce(9, 3, 0xfeed));
    let chained = drain(&mut n, late);
    assert!(
        chained
            .iter()
            .all(|t| !matches!(t, Transmit::Unicast { to, .. } if *to == addr(3))),
        "{chained:?}"
    );
    assert_eq!(n.stats().relays, 0);
    n.handle_datagram(late, x, Via::Unicast, &relayed);
    let out = drain(&mut n, late);
    assert_eq!(copies_to(&out, addr(3), &relayed), 1, "{out:?}");
    assert_eq!(n.stats().relays, 1);
    // The same digest as l's: nothing to pass on.
    let fp = l
        .db()
        .message("g")
        .expect("l holds g")
        .clock()
        .fingerprint();
    n.handle_datagram(late, x, Via::Unicast, &far_announce(9, 4, fp));
    assert_eq!(n.stats().relays, 1);
    // l takes the copy as x's own announce: it answers x directly and,
    // once the group is quiet, pulls from it.
    l.handle_datagram(late, addr(2), Via::Unicast, &relayed);
    let answer = drain(&mut l, late);
    assert!(sends(&answer, x, FrameKind::Announce), "{answer:?}");
    let due = late.plus(l.config().pull_max_delay);
    l.handle_timeout(due);
    let pulls = drain(&mut l, due);
    assert!(sends(&pulls, x, FrameKind::Pull), "{pulls:?}");
}

#[test]
fn a_member_does_not_pass_on_a_far_announce_of_its_own_group() {
    // As above, but n is a member of g too: it compares with x itself, and
    // l compares with n on the LAN.
    let (mut n, _l, late) = relay_lan(true, None);
    let far = far_announce(9, 1, 0xfeed);
    n.handle_datagram(late, addr(9), Via::Unicast, &far);
    let out = drain(&mut n, late);
    assert_eq!(copies_to(&out, addr(3), &far), 0, "{out:?}");
    assert_eq!(n.stats().relays, 0);
}

#[test]
fn expiry_markers_are_stored_and_a_restart_keeps_refusing_the_old_writes() {
    let (mut a, _c, c_id, news) = a_holds_cs_claim();
    assert_eq!(a.poll_markers(), None, "no marker yet");
    a.handle_command(Millis(10), Command::Forget(c_id))
        .expect("ok");
    let markers = a.poll_markers().expect("the new marker is to be stored");
    assert_eq!(markers, vec![(c_id, a.db().expired_upto(c_id))]);
    assert!(markers[0].1 > 0);
    assert_eq!(a.poll_markers(), None, "unchanged since polled");

    // a restarts from its stored own state and markers; a peer that has
    // not expired c gossips c's old writes to it.
    let restart = |markers: &[(NodeId, u64)]| {
        let own = scalesmall::protocol::OwnState {
            clock: a.db().clock(),
            items: a.db().own_items(),
            floors: a.db().own_floors(),
        };
        let me = Identity {
            id: NodeId::from_u64(1),
            incarnation: 2,
            addrs: vec![addr(1)],
        };
        let t = Millis(1_000);
        let mut b = Chatter::new(quiet(), me, codec(), Some(own), [1; 32], t).expect("valid");
        b.restore_markers(t, markers);
        deliver(&news, 3, &mut b, addr(1), true, t);
        b
    };
    let forgetful = restart(&[]);
    assert_eq!(
        forgetful.lookup("g", 5).len(),
        1,
        "without the markers a restart takes the items back"
    );
    let mut b = restart(&markers);
    assert!(
        b.lookup("g", 5).is_empty(),
        "the stored marker still refuses them"
    );
    assert_eq!(b.db().expired_upto(c_id), markers[0].1);
    assert_eq!(b.poll_markers(), None, "restored markers need no new store");
    // The restored marker lasts another expire_after from the restart, then
    // is forgotten (and the empty list stored).
    let end = Millis(1_000).plus(b.config().expire_after);
    b.handle_timeout(Millis(end.0 - 1));
    assert_eq!(b.db().expired_upto(c_id), markers[0].1);
    b.handle_timeout(end);
    assert_eq!(b.db().expired_upto(c_id), 0);
    assert_eq!(b.poll_markers(), Some(Vec::new()));
}

#[test]
fn a_leave_lost_on_its_way_is_pulled_from_the_lingering_leaver() {
    // a and b share a LAN and a group; a leaves and its leave is lost.
    let now = Millis(10);
    let chatty = ProtocolConfig {
        announce_period: 1_000,
        ..quiet()
    };
    let mut a = node(1, chatty);
    let mut b = node(2, quiet());
    join(&mut a, now);
    b.handle_command(now, claim(0)).expect("ok");
    let claimed = drain(&mut b, now);
    deliver(&claimed, 2, &mut a, addr(1), true, now);
    lan(&mut a, 1, &mut b, 2, now);
    // b pulls a's join (its announces differ).
    let t0 = Millis(2_000_100);
    a.handle_timeout(t0);
    deliver(&drain(&mut a, t0), 1, &mut b, addr(2), true, t0);
    let due = t0.plus(b.config().pull_max_delay);
    b.handle_timeout(due);
    deliver(&drain(&mut b, due), 2, &mut a, addr(1), false, due);
    deliver(&drain(&mut a, due), 1, &mut b, addr(2), false, due);
    let a_id = NodeId::from_u64(1);
    let live_of_a = |c: &Chatter| {
        c.db()
            .message("g")
            .is_some_and(|m| m.items().member_items(a_id).iter().any(|i| i.live()))
    };
    assert!(live_of_a(&b), "b holds a's join");
    let tl = due.plus(1_000);
    a.handle_command(tl, Command::Leave(g())).expect("ok");
    drain(&mut a, tl); // lost
    // a still announces g (with the leave in its fingerprint); b pulls it.
    let ta = tl.plus(2_000);
    a.handle_timeout(ta);
    deliver(&drain(&mut a, ta), 1, &mut b, addr(2), true, ta);
    let due = ta.plus(b.config().pull_max_delay);
    b.handle_timeout(due);
    deliver(&drain(&mut b, due), 2, &mut a, addr(1), false, due);
    deliver(&drain(&mut a, due), 1, &mut b, addr(2), false, due);
    assert!(!live_of_a(&b), "b took the leave from the leaver");
    assert!(a.holds(&g()), "a lingers for at least 20 s");
    // Once b announces the same fingerprint, a lets the group go.
    let t2 = tl.plus(30_000);
    deliver(&announce(&mut b, t2), 2, &mut a, addr(1), true, t2);
    a.handle_timeout(t2);
    assert!(!a.holds(&g()));
}
