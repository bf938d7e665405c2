//! Own writes: what follows a durable own write, and tombstone collection.

use crate::model::ModelError;

use super::*;

impl Chatter {
    /// `Command::Leave`: an auto member others can take over from leaves
    /// gracefully (its ranges handed over first); otherwise at once.
    pub(super) fn leave_command(
        &mut self,
        now: Millis,
        g: GroupName,
    ) -> Result<Vec<Written>, ModelError> {
        let me = self.me.id;
        let markers = self.db.auto_members(g.as_str());
        let mine = markers.iter().find(|m| m.0 == me).map(|m| m.2);
        match mine {
            // An auto member others can take over from: leave
            // gracefully (hand the ranges over, then leave).
            Some(port)
                if markers.iter().any(|m| m.0 != me) && !self.autoclaim.auto.is_draining(&g) =>
            {
                let w = self.db.unset_auto(g.as_str());
                if w.is_ok() {
                    self.autoclaim.auto.drain(g, port, now);
                }
                w.map(|w| w.into_iter().collect())
            }
            _ => {
                self.autoclaim.auto.disable(&g);
                self.db.leave(g.as_str()).map(|w| w.into_iter().collect())
            }
        }
    }

    /// `Command::LeaveAll`: every group left at once.
    pub(super) fn leave_all(&mut self) -> Result<Vec<Written>, ProtocolError> {
        let groups: Vec<GroupName> = self.db.my_groups().cloned().collect();
        let mut all = Vec::new();
        for g in groups {
            self.autoclaim.auto.disable(&g);
            all.extend(self.db.leave(g.as_str()).map_err(ProtocolError::Model)?);
        }
        Ok(all)
    }

    pub(super) fn after_own_write(&mut self, now: Millis, w: &Written) {
        self.outbox.stats.own_writes += 1;
        self.collect_tombstones(now);
        self.outbox.durable.wrote();
        self.own_event(Event::Changed {
            group: w.group.clone(),
            origin: self.me.id,
        });
        self.pulls.news(&w.group, now);
        self.autoclaim.auto.touch(&w.group);
        self.tree.seen.insert(self.me.id, w.upto);
        let version = self.send_version();
        let sizer = self.frames.codec.delta_sizer(version, self.cfg.mtu);
        // Room for the own floor the chunks carry.
        let budget = self.cfg.mtu.saturating_sub(FLOOR_SLACK);
        let chunks = self.db.own_delta(w, budget, &sizer).unwrap_or_else(|_| {
            // Nothing goes out (anti-entropy repairs it); the join or leave
            // below still takes effect.
            self.outbox.stats.drop(DropReason::DeltaBudget);
            Vec::new()
        });
        let floor = self.db.floor(w.group.as_str(), self.me.id);
        // A member knows the group's members: the tree spans them only. A
        // write that makes us a member (a join) or one in a group we hold no
        // view of goes to every island: we do not know its members yet,
        // they must learn of us, and non-members drop it.
        let was = self.membership.member_of.contains(&w.group);
        let is = self.db.is_member(w.group.as_str());
        let dests = if was {
            self.member_destinations(now, &w.group)
        } else {
            self.tree_destinations(now)
        };
        for mut chunk in chunks {
            if carries_floors(version) {
                chunk.attach_floor(self.me.id, floor);
            }
            if self.cfg.multicast {
                self.send_datagram(now, None, wire::Payload::Delta(chunk.clone()), version);
            }
            for (head, rest) in tree::split(&dests) {
                self.send_forward(
                    now,
                    head,
                    Forward {
                        author: self.me.id,
                        upto: w.upto,
                        list: rest,
                        message: chunk.clone(),
                    },
                );
            }
        }
        if is && !was {
            self.joined(now, &w.group);
        } else if was && !is {
            self.left(now, &w.group);
        }
    }

    /// Starts a new tombstone period once the current one is
    /// `tombstone_ttl` old: own writes up to the current period's clock
    /// become collectable.
    pub(super) fn gc_period(&mut self, now: Millis) {
        let ttl = self.cfg.tombstone_ttl;
        if ttl > 0 && now.since(self.expiry.gc.gc_mark.0) >= ttl {
            self.expiry.gc.gc_upto = self.expiry.gc.gc_mark.1;
            self.expiry.gc.gc_mark = (now, self.db.clock());
        }
    }

    /// Before an own write goes out: collects own retractions at least
    /// `tombstone_ttl` old, so the write carries the raised floor. Only
    /// while every known peer reads format version 3 (older ones could
    /// not learn the floor).
    pub(super) fn collect_tombstones(&mut self, now: Millis) {
        self.gc_period(now);
        if self.expiry.gc.gc_upto > 0 && carries_floors(self.send_version()) {
            let rose = self.db.collect_own(self.expiry.gc.gc_upto);
            self.outbox.stats.floors_raised += rose.len() as u64;
        }
    }
}

/// Bytes an own delta leaves free for the floor it carries (format version
/// 3: the floor list's length, the member's index and the floor, as varints).
pub(super) const FLOOR_SLACK: usize = 16;

/// Tombstone collection's periods.
pub(super) struct GcState {
    /// Tombstone collection: when the current period started and the own
    /// clock then. Retractions at or below the previous period's clock are
    /// at least `tombstone_ttl` old.
    pub(super) gc_mark: (Millis, u64),
    /// The own clock at the start of the previous period (collectable).
    pub(super) gc_upto: u64,
}
