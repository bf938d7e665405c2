//! A write takes effect only once durable (docs/node.md): scripted with a
//! shell whose store fails on demand. A refused write leaves nothing behind:
//! not in the node's own view, not in its events, not in any frame it sends
//! then or later, not at a peer; its clock is free again. A retry is a fresh
//! write that is stored and sent. For a claim, a join, a release, a leave,
//! an auto-claim decision and a re-assertion after `own_ahead`; and for an
//! asynchronous shell whose first persist succeeds while the next fails.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use scalesmall::model::{GroupName, KeyRange, Kind, NodeId, TimedItem};
use scalesmall::protocol::{
    AutoConfig, Chatter, Command, ConnEvent, ConnId, Event, Millis, NodeIdentity, ProtocolConfig,
    RETRY_AFTER, Transmit, Via,
};
use scalesmall::wire::{Codec, Frame, Key, Keyring, Limits, Payload};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 29999)
}

fn codec() -> Codec {
    Codec::new(
        "durable",
        Keyring::new(Key::from_bytes([3; 32])),
        Limits::default(),
    )
}

fn g() -> GroupName {
    GroupName::new("g").expect("valid")
}

fn range(start: u32) -> KeyRange {
    KeyRange::new(start, start + 9).expect("valid")
}

fn claim(start: u32) -> Command {
    Command::Claim {
        group: g(),
        range: range(start),
        priority: 1,
        port: 80,
    }
}

fn quiet() -> ProtocolConfig {
    ProtocolConfig {
        announce_period: 1_000_000,
        far_sync_period: 1_000_000,
        rep_sync_period: 1_000_000,
        ..ProtocolConfig::default()
    }
}

fn node(i: u8, cfg: ProtocolConfig) -> Chatter {
    let me = NodeIdentity {
        id: NodeId::from_u64(u64::from(i)),
        incarnation: 1,
        addrs: vec![addr(i)],
    };
    Chatter::new(cfg, me, codec(), None, [i; 32], Millis(0)).expect("valid")
}

/// The shell: stores own state (or fails to, when `disk_ok` is false) and
/// drains every transmit. Returns the transmits and whether a persist
/// was refused.
fn pump(c: &mut Chatter, now: Millis, disk_ok: bool) -> (Vec<Transmit>, bool) {
    let mut refused = false;
    while let Some(p) = c.poll_persist() {
        if disk_ok {
            c.handle_persisted(now, p.clock);
        } else {
            c.handle_persist_failed(now, p.clock);
            refused = true;
        }
    }
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit() {
        out.push(t);
    }
    (out, refused)
}

fn ok(c: &mut Chatter, now: Millis) -> Vec<Transmit> {
    pump(c, now, true).0
}

fn events(c: &mut Chatter) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn own_changes(evs: &[Event], me: u8) -> usize {
    evs.iter()
        .filter(|e| match e {
            Event::Changed { origin, .. } => *origin == NodeId::from_u64(u64::from(me)),
            Event::AutoClaimed { .. } | Event::OwnAhead { .. } => true,
            _ => false,
        })
        .count()
}

fn frame(bytes: &[u8]) -> Frame {
    codec().decode(bytes).expect("our own frames decode").frame
}

/// Whether `t` carries a write of `who` made after its clock `above`: an
/// item at a higher clock, or coverage of one.
fn carries_after(t: &Transmit, who: u8, above: u64) -> bool {
    let bytes = match t {
        Transmit::Multicast { bytes }
        | Transmit::Unicast { bytes, .. }
        | Transmit::Send { bytes, .. } => bytes,
        _ => return false,
    };
    let msg = match frame(bytes).payload {
        Payload::Delta(m) => m,
        Payload::Forward(f) => f.message,
        _ => return false,
    };
    let who = NodeId::from_u64(u64::from(who));
    msg.items()
        .member_items(who)
        .iter()
        .any(|i| i.clock() > above)
        || msg.clock().known_upto(who) > above
}

/// Delivers every datagram of `ts` (multicast, or unicast to `to_addr`).
fn deliver(ts: &[Transmit], from: u8, to: &mut Chatter, to_addr: SocketAddr, now: Millis) {
    for t in ts {
        match t {
            Transmit::Multicast { bytes } => {
                to.handle_datagram(now, addr(from), Via::Multicast, bytes);
            }
            Transmit::Unicast { to: dst, bytes } if *dst == to_addr => {
                to.handle_datagram(now, addr(from), Via::Unicast, bytes);
            }
            _ => {}
        }
    }
}

/// Delivers the multicast datagrams of `ts` to `to` as unicast ones.
fn unicast(ts: &[Transmit], from: u8, to: &mut Chatter, now: Millis) {
    for t in ts {
        if let Transmit::Multicast { bytes } = t {
            to.handle_datagram(now, addr(from), Via::Unicast, bytes);
        }
    }
}

/// `a` (1) and `b` (2), far peers that know each other, both members of `g`.
fn pair() -> (Chatter, Chatter) {
    let now = Millis(0);
    let mut a = node(1, quiet());
    let mut b = node(2, quiet());
    // Unicast only: far peers.
    let unicasts = |ts: Vec<Transmit>| -> Vec<Transmit> {
        ts.into_iter()
            .filter(|t| matches!(t, Transmit::Unicast { .. }))
            .collect()
    };
    a.handle_command(now, Command::AddSeed(addr(2)))
        .expect("ok");
    let ts = unicasts(ok(&mut a, now));
    deliver(&ts, 1, &mut b, addr(2), now);
    let back = unicasts(ok(&mut b, now));
    deliver(&back, 2, &mut a, addr(1), now);
    ok(&mut a, now);
    // Each learns the other is a member: its join's delta arrives by
    // unicast (they do not hear each other's multicast: a far peer, so a
    // write also goes to it down the TCP tree).
    // (A non-member drops a group's deltas: both join, then both deltas
    // are delivered.)
    a.handle_command(now, Command::Join(g())).expect("ok");
    let from_a = ok(&mut a, now);
    b.handle_command(now, Command::Join(g())).expect("ok");
    unicast(&ok(&mut b, now), 2, &mut a, now);
    unicast(&from_a, 1, &mut b, now);
    ok(&mut a, now);
    ok(&mut b, now);
    events(&mut a);
    events(&mut b);
    (a, b)
}

fn serves(c: &Chatter, key: u32, who: u8) -> bool {
    c.db()
        .lookup("g", key)
        .iter()
        .any(|s| s.member == NodeId::from_u64(u64::from(who)))
}

fn own_items(c: &Chatter) -> Vec<(GroupName, TimedItem)> {
    c.db().own_items()
}

/// The store refuses the outstanding persist of `a`: the transmits the
/// shell gets then.
fn refuse(a: &mut Chatter, now: Millis) -> Vec<Transmit> {
    let (out, refused) = pump(a, now, false);
    assert!(refused, "a persist was refused");
    out
}

/// The write was refused at `now` (`out`: what the shell got then): a's view, events and frames (now and
/// after a round of timers at `timers`) show nothing of it, and b never
/// learns of it.
fn assert_no_trace(
    out: Vec<Transmit>,
    a: &mut Chatter,
    b: &mut Chatter,
    before: &[(GroupName, TimedItem)],
    clock: u64,
    now: Millis,
    timers: Millis,
) {
    assert_eq!(a.db().clock(), clock, "the clock is given back");
    assert_eq!(
        own_items(a),
        before,
        "own items as at the last durable save"
    );
    let evs = events(a);
    assert_eq!(
        own_changes(&evs, 1),
        0,
        "no event of the refused write: {evs:?}"
    );
    let (more, refused) = pump(a, now, true);
    assert!(!refused, "nothing left to store");
    let mut sent = out;
    sent.extend(more);
    // Every connection it asked for (ids count from 0) opens: what waited
    // for one goes out; then each fails: what was written on it lately is
    // sent again, on new connections, which open too.
    for event in [ConnEvent::Opened, ConnEvent::Failed, ConnEvent::Opened] {
        for n in 0..32 {
            a.handle_conn_event(now, ConnId(n), event);
        }
        sent.extend(ok(a, now));
    }
    // Timers: announces, syncs; whatever goes out later.
    a.handle_timeout(timers);
    sent.extend(ok(a, timers));
    assert!(
        !sent.iter().any(|t| carries_after(t, 1, clock)),
        "a frame carries the refused write"
    );
    deliver(&sent, 1, b, addr(2), now);
    let back = ok(b, now);
    deliver(&back, 2, a, addr(1), now);
    let more = ok(a, now);
    assert!(!more.iter().any(|t| carries_after(t, 1, clock)));
    deliver(&more, 1, b, addr(2), now);
    let bm = b.db().message("g").expect("b holds g");
    assert!(
        bm.items()
            .member_items(NodeId::from_u64(1))
            .iter()
            .all(|i| i.clock() <= clock)
            && bm.clock().known_upto(NodeId::from_u64(1)) <= clock,
        "b holds nothing of the refused write"
    );
}

#[test]
fn a_refused_claim_leaves_no_trace_and_its_retry_is_a_fresh_write() {
    let (mut a, mut b) = pair();
    let now = Millis(10);
    let (clock, before) = (a.db().clock(), own_items(&a));
    a.handle_command(now, claim(0)).expect("ok");
    assert!(a.poll_transmit().is_none(), "held until durable");
    let out = refuse(&mut a, now);
    assert!(
        !serves(&a, 5, 1),
        "the node does not serve a refused claim itself"
    );
    assert_no_trace(out, &mut a, &mut b, &before, clock, now, Millis(2_000_000));
    assert!(!serves(&b, 5, 1));

    // The retry is a fresh write: the same clock again (it never left),
    // stored, its event released, sent.
    a.handle_command(now, claim(0)).expect("ok");
    let (ts, refused) = pump(&mut a, now, true);
    assert!(!refused);
    assert_eq!(a.db().clock(), clock + 1);
    assert!(serves(&a, 5, 1));
    assert_eq!(own_changes(&events(&mut a), 1), 1);
    assert!(ts.iter().any(|t| carries_after(t, 1, clock)));
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(serves(&b, 5, 1), "the retry reaches the peer");
}

#[test]
fn a_refused_release_keeps_the_claim_and_its_retry_releases_it() {
    let (mut a, mut b) = pair();
    let now = Millis(10);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = ok(&mut a, now);
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(serves(&b, 5, 1));
    events(&mut a);
    let (clock, before) = (a.db().clock(), own_items(&a));
    let release = || Command::Release {
        group: g(),
        range: range(0),
    };
    a.handle_command(now, release()).expect("ok");
    let out = refuse(&mut a, now);
    assert!(
        serves(&a, 5, 1),
        "still serving: the release never happened"
    );
    assert_no_trace(out, &mut a, &mut b, &before, clock, now, Millis(2_000_000));
    assert!(serves(&b, 5, 1));

    a.handle_command(now, release()).expect("ok");
    let ts = ok(&mut a, now);
    assert!(!serves(&a, 5, 1));
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(!serves(&b, 5, 1), "the retried release reaches the peer");
}

#[test]
fn a_refused_join_is_no_membership_and_its_retry_joins() {
    let now = Millis(10);
    let (mut a, mut b) = pair();
    // a leaves g for good (durably) and forgets it; b claims there.
    a.handle_command(now, Command::Leave(g())).expect("ok");
    ok(&mut a, now);
    a.handle_timeout(Millis(1_000_000));
    ok(&mut a, Millis(1_000_000));
    let now = Millis(1_000_000);
    assert!(!a.holds(&g()));
    b.handle_command(now, claim(100)).expect("ok");
    let from_b = ok(&mut b, now);
    events(&mut a);

    let (clock, before) = (a.db().clock(), own_items(&a));
    a.handle_command(now, Command::Join(g())).expect("ok");
    assert!(a.holds(&g()), "a member while the join is pending");
    // b's news arrives meanwhile, and is stored.
    deliver(&from_b, 2, &mut a, addr(1), now);
    assert!(serves(&a, 105, 2));
    let out = refuse(&mut a, now);
    assert!(!a.holds(&g()), "a refused join is no membership");
    assert!(!a.db().is_member("g"));
    assert!(!serves(&a, 105, 2), "what the join let in is dropped");
    assert!(
        a.groups().contains(&g()),
        "the group is still known by name"
    );
    assert_no_trace(out, &mut a, &mut b, &before, clock, now, Millis(2_000_000));

    a.handle_command(now, Command::Join(g())).expect("ok");
    let ts = ok(&mut a, now);
    assert!(a.holds(&g()) && a.db().is_member("g"));
    assert_eq!(a.db().clock(), clock + 1);
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(
        b.db().members("g").contains(&NodeId::from_u64(1)),
        "the retried join reaches the peer"
    );
}

#[test]
fn a_refused_leave_keeps_the_membership_and_does_not_linger() {
    let (mut a, mut b) = pair();
    let now = Millis(10);
    a.handle_command(now, claim(0)).expect("ok");
    let ts = ok(&mut a, now);
    deliver(&ts, 1, &mut b, addr(2), now);
    b.handle_command(now, claim(100)).expect("ok");
    let from_b = ok(&mut b, now);
    deliver(&from_b, 2, &mut a, addr(1), now);
    events(&mut a);
    let (clock, before) = (a.db().clock(), own_items(&a));
    a.handle_command(now, Command::Leave(g())).expect("ok");
    let out = refuse(&mut a, now);
    assert!(a.db().is_member("g") && serves(&a, 5, 1));
    assert_no_trace(out, &mut a, &mut b, &before, clock, now, Millis(2_000_000));
    // Long after: still a member holding the others' items (a lingering
    // leave would have dropped them by now).
    a.handle_timeout(Millis(5_000_000));
    ok(&mut a, Millis(5_000_000));
    assert!(a.holds(&g()) && serves(&a, 105, 2));

    a.handle_command(now, Command::Leave(g())).expect("ok");
    let ts = ok(&mut a, now);
    assert!(!a.db().is_member("g"));
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(!serves(&b, 5, 1), "the retried leave reaches the peer");
}

#[test]
fn an_auto_claim_write_refused_is_retried_by_auto_claim_later() {
    let cfg = ProtocolConfig {
        auto: AutoConfig {
            settle: 1_000,
            ..AutoConfig::default()
        },
        ..quiet()
    };
    let mut a = node(1, cfg);
    let mut b = node(2, quiet());
    let now = Millis(0);
    b.handle_command(now, Command::Join(g())).expect("ok");
    ok(&mut b, now);
    a.handle_command(
        now,
        Command::Auto {
            group: g(),
            weight: 1,
            priority: None,
            port: 80,
        },
    )
    .expect("ok");
    let ts = ok(&mut a, now);
    deliver(&ts, 1, &mut b, addr(2), now);
    events(&mut a);
    let (clock, before) = (a.db().clock(), own_items(&a));
    assert!(!before.iter().any(|(_, i)| i.kind() == Kind::Serve));

    // Settled: alone in the group, it claims everything, and the disk
    // refuses.
    let mut t = now;
    for _ in 0..100 {
        t = a.poll_timeout().expect("timers");
        a.handle_timeout(t);
        if own_items(&a).iter().any(|(_, i)| i.kind() == Kind::Serve) {
            break;
        }
        ok(&mut a, t);
    }
    assert!(
        own_items(&a).iter().any(|(_, i)| i.kind() == Kind::Serve),
        "auto-claim wrote its claims"
    );
    assert!(t >= Millis(1_000), "after the settle time");
    let out = refuse(&mut a, t);
    assert!(!serves(&a, 5, 1));
    assert_no_trace(out, &mut a, &mut b, &before, clock, t, t.plus(1_000));

    // Not tried again at once (a broken SD card is not hammered)...
    let soon = t.plus(RETRY_AFTER / 2);
    a.handle_timeout(soon);
    assert!(
        a.poll_persist().is_none(),
        "auto-claim waits after a refusal"
    );
    assert!(
        a.poll_timeout().is_some_and(|d| d > soon),
        "and its timer does not spin"
    );
    // ... but once the wait is over, by its own logic.
    let later = t.plus(RETRY_AFTER);
    a.handle_timeout(later);
    let (ts, refused) = pump(&mut a, later, true);
    assert!(!refused);
    assert!(serves(&a, 5, 1));
    let evs = events(&mut a);
    assert!(evs.iter().any(|e| matches!(e, Event::AutoClaimed { .. })));
    deliver(&ts, 1, &mut b, addr(2), later);
    assert!(serves(&b, 5, 1), "the retried auto-claim reaches the peer");
}

#[test]
fn a_refused_reassertion_waits_and_is_retried_when_the_evidence_comes_again() {
    let now = Millis(0);
    let mut a = node(1, quiet());
    a.handle_command(now, claim(0)).expect("ok");
    ok(&mut a, now);
    events(&mut a);
    // A "future" a wrote more, then its data dir was restored.
    let mut future = node(1, quiet());
    for s in [0, 100, 200] {
        future.handle_command(now, claim(s)).expect("ok");
    }
    let msg = future.db().message("g").expect("written").clone();
    let bytes = |seq| {
        codec()
            .encode(
                &Frame {
                    sender: NodeId::from_u64(7),
                    incarnation: 1,
                    seq,
                    payload: Payload::Delta(msg.clone()),
                },
                2,
                [seq as u8; 24],
            )
            .expect("encodes")
    };
    let before = own_items(&a);
    a.handle_datagram(now, addr(7), Via::Unicast, &bytes(1));
    assert!(a.db().clock() > 3, "the clock jumped");
    let out = refuse(&mut a, now);
    assert!(!out.iter().any(|t| carries_after(t, 1, 1)));
    assert_eq!(a.db().clock(), 1, "the jump is undone");
    assert_eq!(own_items(&a), before);
    assert_eq!(own_changes(&events(&mut a), 1), 0);
    // The same evidence soon after: not tried again yet.
    let soon = Millis(RETRY_AFTER / 2);
    a.handle_datagram(soon, addr(7), Via::Unicast, &bytes(2));
    assert_eq!(a.db().clock(), 1);
    assert!(a.poll_persist().is_none());
    // Later: re-asserted and stored.
    let later = Millis(RETRY_AFTER);
    a.handle_datagram(later, addr(7), Via::Unicast, &bytes(3));
    assert!(!pump(&mut a, later, true).1);
    assert!(a.db().clock() > 3);
    assert!(
        events(&mut a)
            .iter()
            .any(|e| matches!(e, Event::OwnAhead { seen: 3, .. }))
    );
}

#[test]
fn with_an_asynchronous_store_only_what_is_not_durable_is_undone() {
    let (mut a, mut b) = pair();
    let now = Millis(10);
    let clock = a.db().clock();
    a.handle_command(now, claim(0)).expect("ok");
    let first = a.poll_persist().expect("a persist");
    // A second write while the first is being stored: one persist at a time.
    a.handle_command(now, claim(100)).expect("ok");
    assert!(
        a.poll_persist().is_none(),
        "one persist outstanding at a time"
    );
    assert!(a.poll_transmit().is_none());
    a.handle_persisted(now, first.clock);
    assert!(
        a.poll_transmit().is_none(),
        "the second write is not durable yet"
    );
    let second = a.poll_persist().expect("the second write's persist");
    assert_eq!(second.clock, clock + 2);
    a.handle_persist_failed(now, second.clock);
    // The first write stands (it is durable), the second is undone.
    assert_eq!(a.db().clock(), clock + 1);
    assert!(serves(&a, 5, 1) && !serves(&a, 105, 1));
    let evs = events(&mut a);
    assert_eq!(
        own_changes(&evs, 1),
        1,
        "only the first write's event: {evs:?}"
    );
    let ts = ok(&mut a, now);
    assert!(ts.iter().any(|t| carries_after(t, 1, clock)));
    assert!(!ts.iter().any(|t| carries_after(t, 1, clock + 1)));
    deliver(&ts, 1, &mut b, addr(2), now);
    assert!(serves(&b, 5, 1) && !serves(&b, 105, 1));
}

#[test]
fn outcomes_of_no_outstanding_persist_are_ignored() {
    let (mut a, _) = pair();
    let now = Millis(10);
    let clock = a.db().clock();
    a.handle_persist_failed(now, clock);
    a.handle_persisted(now, clock + 5);
    assert_eq!(a.db().clock(), clock);
    assert!(a.db().is_member("g"));
    a.handle_command(now, claim(0)).expect("ok");
    let p = a.poll_persist().expect("a persist");
    // A report for another clock is not this persist's outcome.
    a.handle_persist_failed(now, p.clock + 1);
    a.handle_persisted(now, p.clock + 1);
    assert!(a.poll_transmit().is_none(), "still held");
    a.handle_persisted(now, p.clock);
    assert!(a.poll_transmit().is_some());
    assert!(serves(&a, 5, 1));
}

#[test]
fn a_write_that_changes_nothing_holds_nothing() {
    let (mut a, _) = pair();
    let now = Millis(10);
    // Already a member: no write, no persist, nothing held.
    a.handle_command(now, Command::Join(g())).expect("ok");
    assert!(a.poll_persist().is_none());
    a.handle_command(now, Command::AddSeed(addr(9)))
        .expect("ok");
    assert!(a.poll_persist().is_none());
    assert!(a.poll_transmit().is_some(), "the seed's announce goes");
}
