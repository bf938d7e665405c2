//! The timer table: every deadline of the protocol, named, in the order
//! [`Chatter::handle_timeout`] walks them (the order is part of the
//! behaviour: it fixes the order of random draws, so the simulator's
//! traces stay the same), and [`Chatter::poll_timeout`] as the earliest
//! of their deadlines.

use super::*;

/// One of the protocol's timers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Timer {
    /// SWIM: probe rounds, indirect probes, suspicion timeouts.
    Probe,
    /// Contacts across a cut (`super::reach`).
    Reconnect,
    /// Dead members' items expired after the grace period.
    Expiry,
    /// Tombstone collection periods (no deadline of its own).
    GcPeriod,
    /// Groups left, held on until the others have the leave (no deadline
    /// of its own).
    Linger,
    /// Auto-claim decisions.
    AutoClaim,
    /// The periodic multicast announce.
    Announce,
    /// A representative's announces to the other islands' representatives.
    RepSync,
    /// The periodic push-pull with a far peer.
    FarSync,
    /// Pulls waiting for a quiet moment.
    PullsDue,
    /// Pulls answered nowhere: retried with another holder.
    PullsOverdue,
    /// Idle and unanswered TCP connections closed.
    Conns,
}

impl Timer {
    /// Every timer, in the order `handle_timeout` fires them.
    pub(super) const ALL: [Timer; 12] = [
        Timer::Probe,
        Timer::Reconnect,
        Timer::Expiry,
        Timer::GcPeriod,
        Timer::Linger,
        Timer::AutoClaim,
        Timer::Announce,
        Timer::RepSync,
        Timer::FarSync,
        Timer::PullsDue,
        Timer::PullsOverdue,
        Timer::Conns,
    ];
}

impl Chatter {
    /// When `timer` is due next (None: no deadline of its own).
    pub(super) fn deadline(&self, timer: Timer) -> Option<Millis> {
        let cfg = &self.cfg;
        match timer {
            Timer::Probe => Some(self.swim.detector.next_deadline()),
            Timer::Reconnect => Some(self.far.reconnect.next_deadline()),
            Timer::Expiry => Some(self.next_expiry()),
            Timer::GcPeriod | Timer::Linger => None,
            Timer::AutoClaim => self.autoclaim.auto.next_deadline(),
            Timer::Announce => cfg.multicast.then_some(self.schedule.next_announce),
            Timer::RepSync => Some(self.schedule.next_rep_sync),
            Timer::FarSync => Some(self.schedule.next_far_sync),
            Timer::PullsDue => self.pulls.next_due(cfg.pull_quiet, cfg.pull_max_delay),
            Timer::PullsOverdue => self.pulls.next_deadline(),
            Timer::Conns => self
                .tree
                .conns
                .next_expiry(cfg.conn_idle, cfg.connect_timeout),
        }
    }

    /// Runs `timer` at `now` (each checks whether it is due itself).
    pub(super) fn on_timer(&mut self, timer: Timer, now: Millis) {
        match timer {
            Timer::Probe => self.probe(now),
            Timer::Reconnect => self.reconnect(now),
            Timer::Expiry => self.expire_dead(now),
            Timer::GcPeriod => self.gc_period(now),
            Timer::Linger => self.finish_leaving(now),
            Timer::AutoClaim => self.auto_claim(now),
            Timer::Announce => self.announce_timer(now),
            Timer::RepSync => self.rep_sync_timer(now),
            Timer::FarSync => self.far_sync_timer(now),
            Timer::PullsDue => self.pulls_due(now),
            Timer::PullsOverdue => self.pulls_overdue(now),
            Timer::Conns => self.conns_expired(now),
        }
    }

    fn announce_timer(&mut self, now: Millis) {
        if self.cfg.multicast && now >= self.schedule.next_announce {
            self.schedule.period = self.announce_period(now);
            self.send_announce(now, None);
            self.readdress_again(now);
            self.schedule.next_announce = now.plus(jittered(
                &mut self.rng,
                self.schedule.period,
                self.cfg.jitter_percent,
            ));
        }
    }

    fn rep_sync_timer(&mut self, now: Millis) {
        if now >= self.schedule.next_rep_sync {
            if self.is_representative(now) {
                let rep_ttl = self.rep_ttl();
                let ttl = self.hears_ttl();
                let far_reps: Vec<SocketAddr> = self
                    .peers
                    .iter()
                    .filter(|p| p.is_rep(now, rep_ttl) && !self.is_local(p, now, ttl))
                    .filter_map(|p| p.addr)
                    .collect();
                for addr in far_reps {
                    self.send_announce(now, Some(addr));
                }
            }
            self.schedule.next_rep_sync = now.plus(jittered(
                &mut self.rng,
                self.cfg.rep_sync_period,
                self.cfg.jitter_percent,
            ));
        }
    }

    fn far_sync_timer(&mut self, now: Millis) {
        if now >= self.schedule.next_far_sync {
            self.far_sync(now);
            self.schedule.next_far_sync = now.plus(jittered(
                &mut self.rng,
                self.cfg.far_sync_period,
                self.cfg.jitter_percent,
            ));
        }
    }

    fn pulls_due(&mut self, now: Millis) {
        for (group, peer) in self
            .pulls
            .take_due(now, self.cfg.pull_quiet, self.cfg.pull_max_delay)
        {
            if !self.pulls.busy(&group, now) && self.holds(&group) {
                self.pull_from(now, &group, peer);
            }
        }
    }

    fn pulls_overdue(&mut self, now: Millis) {
        for (group, flight) in self.pulls.overdue(now) {
            if !self.holds(&group) {
                self.pulls.abandon(&group);
                continue;
            }
            let holder = self
                .group_holders(&group)
                .into_iter()
                .filter(|id| !flight.tried.contains(id))
                .collect::<Vec<_>>();
            match pick(&mut self.rng, &holder) {
                Some(next) => self.pull_from(now, &group, next),
                None => self.pulls.abandon(&group),
            }
        }
    }

    fn conns_expired(&mut self, now: Millis) {
        for conn in self
            .tree
            .conns
            .expired(now, self.cfg.conn_idle, self.cfg.connect_timeout)
        {
            if let Some(c) = self.tree.conns.remove(conn) {
                self.outbox.transmits.push_back(Transmit::Close { conn });
                for p in c.queue {
                    self.reroute(now, p.fwd);
                }
            }
        }
    }
}

/// The periodic sends' next deadlines and the announce period.
pub(super) struct Schedule {
    pub(super) next_announce: Millis,
    pub(super) next_far_sync: Millis,
    pub(super) next_rep_sync: Millis,
    /// The announce period, recomputed at each announce from the number of
    /// multicast peers heard (so per-frame work does not scan the table).
    pub(super) period: u64,
    /// When this instance started.
    pub(super) started: Millis,
    /// Where the next announce's `hears` and `groups` windows start.
    pub(super) windows: super::announce::AnnounceWindows,
}
