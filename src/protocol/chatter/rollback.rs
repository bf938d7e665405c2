//! Chatter's side of [`super::super::durability`]: the checkpoint taken
//! before an own write, the write's events held until it is durable, and
//! the undoing of every write not durable when the shell reports that a
//! persist failed (docs/node.md, "A write takes effect only once durable").

use crate::model::GroupName;

use super::super::drop_reason::DropReason;
use super::super::durability::{Checkpoint, OwnState};
use super::super::io::{Event, Transmit};
use super::super::time::Millis;
use super::Chatter;

impl Chatter {
    /// The persist of `clock` (the outstanding one) could not be stored (a
    /// read-only or full disk): every own write it carried, and any made
    /// since, is undone. The node's own state goes back to the last durable
    /// save: its items, clock and floors, the groups it holds and lingers
    /// in, auto mode; the events those writes caused are withdrawn and the
    /// frames that may carry them are dropped, so nothing of them is ever
    /// sent. Their clocks may be used again (they never left the node). The
    /// node's own writes (auto-claim, re-assertion) are tried again by
    /// their own logic, not before [`crate::protocol::RETRY_AFTER`].
    /// Ignored unless `clock` is the outstanding persist's.
    pub fn handle_persist_failed(&mut self, now: Millis, clock: u64) {
        let Some(cp) = self.outbox.durable.failed(now, clock) else {
            return;
        };
        self.outbox.stats.drop(DropReason::NotPersisted);
        self.undo(now, cp);
    }

    /// Before an own write: the state to go back to if it is refused.
    pub(super) fn begin_write(&mut self) {
        if self.outbox.durable.wants_checkpoint() {
            let cp = Checkpoint {
                own: OwnState::of(&self.db),
                auto: self.autoclaim.auto.settings(),
                member_of: self.membership.member_of.clone(),
                leaving: self.membership.leaving.clone(),
                transmits: self.outbox.transmits.len(),
            };
            self.outbox.durable.begin(cp);
        }
    }

    /// An event caused by an own write: released once the write is durable.
    pub(super) fn own_event(&mut self, e: Event) {
        self.outbox.durable.hold(e);
    }

    fn undo(&mut self, now: Millis, cp: Checkpoint) {
        let me = self.me.id;
        let own = &cp.own;
        if self
            .db
            .restore_own(own.clock, &own.items, &own.floors)
            .is_err()
        {
            // Cannot happen: the checkpoint was read from this view.
            self.outbox.stats.drop(DropReason::RestoreRefused);
        }
        // Frames queued since may carry the writes: only connects and
        // closes (no bytes) stay, so the connection table stays true.
        let mut tail = self
            .outbox
            .transmits
            .split_off(cp.transmits.min(self.outbox.transmits.len()));
        tail.retain(|t| matches!(t, Transmit::Connect { .. } | Transmit::Close { .. }));
        self.outbox.transmits.extend(tail);
        self.tree.conns.drop_steps_above(me, own.clock);
        self.undo_membership(now, &cp);
        self.autoclaim
            .auto
            .restore(cp.auto, self.outbox.durable.retry_at());
        // Tombstone periods never count a clock that was given back.
        self.expiry.gc.gc_mark.1 = self.expiry.gc.gc_mark.1.min(own.clock);
        self.expiry.gc.gc_upto = self.expiry.gc.gc_upto.min(own.clock);
    }

    /// Puts back the groups held and lingering: a refused join is not a
    /// membership (the others' items it let in go, unless the group still
    /// lingers from an earlier leave), a refused leave does not linger.
    fn undo_membership(&mut self, now: Millis, cp: &Checkpoint) {
        let joined: Vec<GroupName> = self
            .membership
            .member_of
            .difference(&cp.member_of)
            .cloned()
            .collect();
        for g in joined {
            if let Some(since) = cp.leaving.get(&g) {
                self.membership.leaving.insert(g, *since);
            } else {
                self.pulls.abandon(&g);
                self.db.forget_others(g.as_str());
                self.membership.interest.note(&g, None, now);
            }
        }
        for g in cp.member_of.difference(&self.membership.member_of) {
            self.membership.leaving.remove(g);
        }
        self.membership.member_of.clone_from(&cp.member_of);
    }
}
