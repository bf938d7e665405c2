//! Auto-claim driving: the auto mode decides, `Chatter` writes.

use super::*;

impl Chatter {
    /// Runs the auto-claim decisions that are due and writes their plans;
    /// finishes graceful leaves that are over.
    pub(super) fn auto_claim(&mut self, now: Millis) {
        for group in self.autoclaim.auto.due(now) {
            self.auto_decide(now, &group);
            if self.autoclaim.auto.drained(&group, now, &self.db) {
                self.begin_write();
                self.autoclaim.auto.disable(&group);
                match self.db.leave(group.as_str()) {
                    Ok(Some(w)) => self.after_own_write(now, &w),
                    Ok(None) => {}
                    Err(_) => self.outbox.stats.drop(DropReason::ClockExhausted),
                }
            }
        }
    }

    /// One auto-claim decision of `group`, written.
    pub(super) fn auto_decide(&mut self, now: Millis, group: &GroupName) {
        let detector = &self.swim.detector;
        let Some((plan, priority, port)) = self
            .autoclaim
            .auto
            .decide(now, group, &self.db, |id| detector.observed(id))
        else {
            return;
        };
        if plan.is_empty() {
            return;
        }
        self.begin_write();
        match self
            .db
            .rewrite_claims(group.as_str(), &plan.claim, &plan.release, priority, port)
        {
            Ok(Some(w)) => {
                self.after_own_write(now, &w);
                let n = |v: &Vec<u32>| u32::try_from(v.len()).unwrap_or(u32::MAX);
                self.own_event(Event::AutoClaimed {
                    group: group.clone(),
                    claimed: n(&plan.claimed),
                    released: n(&plan.released),
                    waiting: n(&plan.waiting),
                    held: n(&plan.held),
                });
            }
            Ok(None) => {}
            Err(_) => self.outbox.stats.drop(DropReason::ClockExhausted),
        }
    }
}

/// Auto-claim: the auto mode and the policy fingerprint announced.
pub(super) struct AutoDriving {
    /// Auto-claim, for the groups with an own auto marker.
    pub(super) auto: AutoMode,
    /// [`super::AutoConfig::fingerprint`], announced.
    pub(super) policy_fp: u64,
}
