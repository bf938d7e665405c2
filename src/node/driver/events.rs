//! The protocol's [`Event`]s as the operator sees them: one tracing line
//! each ([`log`], at the level the event deserves) and one [`WatchEvent`]
//! for `scalesmall watch` ([`watch_event`]).

use tracing::{debug, info, warn};

use crate::protocol::{Event, Millis};
use crate::wire::Liveness;

use super::super::request::WatchEvent;

/// Writes the tracing line of `e`.
pub(super) fn log(e: &Event) {
    match e {
        Event::Changed { group, origin } => debug!(group = %group, origin = %origin, "changed"),
        Event::PeerDiscovered { id, addr } => info!(peer = %id, addr = %addr, "peer discovered"),
        Event::PeerMoved { id, addr } => {
            info!(peer = %id, addr = %addr, "peer moved to a new address");
        }
        Event::OwnAhead { seen, clock } => warn!(
            seen,
            clock,
            "peers hold our own writes above our clock (was the data dir restored from a backup?): \
             jumped the clock and re-asserted our items"
        ),
        Event::Liveness {
            id,
            state,
            restarted,
        } => {
            let how = if *restarted { " (restarted)" } else { "" };
            match state {
                Liveness::Alive => info!(peer = %id, "peer alive{how}"),
                Liveness::Suspect => info!(peer = %id, "peer suspect"),
                Liveness::Down => warn!(peer = %id, "peer down"),
            }
        }
        Event::AutoClaimed {
            group,
            claimed,
            released,
            waiting,
            held,
        } => info!(
            group = %group,
            claimed,
            released,
            waiting,
            held,
            "auto-claim rewrote our ranges (slices claimed, released, kept until safe to release, held)"
        ),
        Event::PolicyMismatch { id, same: true, .. } => {
            info!(peer = %id, "peer now uses the same auto-claim policies as we do");
        }
        Event::PolicyMismatch {
            id, theirs, ours, ..
        } => warn!(
            peer = %id,
            theirs = format_args!("{theirs:016x}"),
            ours = format_args!("{ours:016x}"),
            "peer uses different auto-claim policies: set the same replicas/slices for every \
             auto group ([[groups]] in the config, or the Ansible role's scalesmall_groups) on every board"
        ),
        Event::Expired { id, upto } => {
            warn!(peer = %id, upto, "member expired: its items are dropped from this view");
        }
        Event::KeyMismatch { from, failures } => warn!(
            from = %from,
            failures,
            "frames from this address fail authentication: different cluster key? Copy the key file \
             of a working board (cluster.key_file, or <data_dir>/cluster.key) to this one, or the other way round"
        ),
    }
}

/// A field of a [`WatchEvent`].
fn s(v: &impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// What `watch` shows of `e`, which happened at `now`.
pub(super) fn watch_event(now: Millis, e: &Event) -> WatchEvent {
    let (event, group, node, addr) = match e {
        Event::Changed { group, origin } => ("changed", s(group), s(origin), None),
        Event::PeerDiscovered { id, addr } => ("peer_discovered", None, s(id), s(addr)),
        Event::PeerMoved { id, addr } => ("peer_moved", None, s(id), s(addr)),
        Event::OwnAhead { .. } => ("own_ahead", None, None, None),
        Event::Liveness { id, state, .. } => (state.name(), None, s(id), None),
        Event::AutoClaimed { group, .. } => ("auto_claimed", s(group), None, None),
        Event::PolicyMismatch { id, same: true, .. } => ("policy_agrees", None, s(id), None),
        Event::PolicyMismatch { id, .. } => ("policy_mismatch", None, s(id), None),
        Event::Expired { id, .. } => ("expired", None, s(id), None),
        Event::KeyMismatch { from, .. } => ("key_mismatch", None, None, s(from)),
    };
    WatchEvent {
        group,
        node,
        addr,
        ..WatchEvent::now(event, now.0)
    }
}
