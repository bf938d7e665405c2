//! Expiry: dead members' items expired after the grace period.

use super::*;

impl Chatter {
    /// Expires the peers down for longer than `expire_after`, and forgets
    /// markers older than that again.
    pub(super) fn expire_dead(&mut self, now: Millis) {
        let after = self.cfg.expire_after;
        let due: Vec<NodeId> = self
            .swim
            .detector
            .down()
            .filter(|(id, since)| {
                now.since(*since) >= after && !self.expiry.expired_at.contains_key(id)
            })
            .map(|(id, _)| id)
            .collect();
        for id in due {
            self.expire_member(now, id);
        }
        let old: Vec<NodeId> = self
            .expiry
            .expired_at
            .iter()
            .filter(|(_, at)| now.since(**at) >= after)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            // The marker has done its job (no node gossips the items back
            // any more): forget the member everywhere, so a cluster whose
            // boards are replaced for years keeps flat tables.
            self.expiry.expired_at.remove(&id);
            self.db.clear_expired(id);
            self.swim.detector.forget(id);
            self.far.reconnect.forget(id);
            self.peers.remove(id);
        }
    }

    pub(super) fn expire_member(&mut self, now: Millis, id: NodeId) {
        if id == self.me.id {
            return;
        }
        self.expiry.expired_at.insert(id, now);
        if let Some(upto) = self.db.expire(id) {
            self.outbox.events.push_back(Event::Expired { id, upto });
            for g in self.db.groups().cloned().collect::<Vec<_>>() {
                self.outbox.events.push_back(Event::Changed {
                    group: g,
                    origin: id,
                });
            }
        }
    }

    /// When the next member expires or the next marker is forgotten.
    pub(super) fn next_expiry(&self) -> Millis {
        let after = self.cfg.expire_after;
        let down = self
            .swim
            .detector
            .down()
            .filter(|(id, _)| !self.expiry.expired_at.contains_key(id))
            .map(|(_, since)| since.plus(after));
        let markers = self.expiry.expired_at.values().map(|at| at.plus(after));
        down.chain(markers).min().unwrap_or(Millis::NEVER)
    }
}

/// Members expired here, and the markers last polled.
pub(super) struct ExpiryState {
    /// Members this node expired, and when.
    pub(super) expired_at: BTreeMap<NodeId, Millis>,
    /// [`TopologyDb::markers_changed`] when the markers were last polled.
    pub(super) markers_polled: u64,
    /// Tombstone collection's periods.
    pub(super) gc: super::own_writes::GcState,
}
