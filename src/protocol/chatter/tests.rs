//! Unit tests of the entry points: [`Chatter::drain_outputs`] polls in the
//! documented order and gives what polling by hand gives.

use crate::model::GroupName;
use crate::wire::{Key, Keyring, Limits};

use super::*;

fn node(id: u64) -> Chatter {
    let key = Key::from_base64("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").expect("key");
    let codec = Codec::new("unit", Keyring::new(key), Limits::default());
    let me = NodeIdentity {
        id: NodeId::from_u64(id),
        incarnation: 1,
        addrs: vec![SocketAddr::from(([10, 0, 0, 1], 7946))],
    };
    Chatter::new(
        ProtocolConfig::default(),
        me,
        codec,
        None,
        [7; 32],
        Millis(0),
    )
    .expect("a fresh node")
}

fn group() -> GroupName {
    GroupName::new("g").expect("group name")
}

#[test]
fn drain_outputs_gives_what_polling_by_hand_gives() {
    let (mut a, mut b) = (node(1), node(1));
    for c in [&mut a, &mut b] {
        c.handle_command(Millis(5), Command::Join(group()))
            .expect("join");
    }
    let out = a.drain_outputs(Millis(5), |_| Persisted::Durable);
    // By hand, in the order of the module docs.
    let mut persisted = 0;
    while let Some(p) = b.poll_persist() {
        b.handle_persisted(Millis(5), p.clock);
        persisted += 1;
    }
    assert_eq!(persisted, 1, "the join is persisted once");
    assert_eq!(out.markers, b.poll_markers());
    let transmits: Vec<Transmit> = core::iter::from_fn(|| b.poll_transmit()).collect();
    let events: Vec<Event> = core::iter::from_fn(|| b.poll_event()).collect();
    assert!(!out.transmits.is_empty(), "the join goes out");
    assert_eq!(format!("{:?}", out.transmits), format!("{transmits:?}"));
    assert_eq!(format!("{:?}", out.events), format!("{events:?}"));
    assert_eq!(out.timeout, b.poll_timeout());
    assert!(!out.is_empty());
}

#[test]
fn a_persist_stored_later_holds_transmits_until_reported() {
    let mut a = node(2);
    a.handle_command(Millis(5), Command::Join(group()))
        .expect("join");
    let mut held = None;
    let out = a.drain_outputs(Millis(5), |p| {
        held = Some(p.clock);
        Persisted::Later
    });
    assert!(
        out.transmits.is_empty(),
        "nothing leaves before it is durable"
    );
    let clock = held.expect("own state offered");
    a.handle_persisted(Millis(6), clock);
    let out = a.drain_outputs(Millis(6), |_| Persisted::Durable);
    assert!(!out.transmits.is_empty(), "released once durable");
}

#[test]
fn a_failed_persist_undoes_the_write() {
    let mut a = node(3);
    a.handle_command(Millis(5), Command::Join(group()))
        .expect("join");
    let out = a.drain_outputs(Millis(5), |_| Persisted::Failed);
    assert!(out.transmits.is_empty(), "{out:?}");
    assert!(!a.holds(&group()), "the join is undone");
}
