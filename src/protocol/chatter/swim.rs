//! SWIM liveness: probe rounds and the detector's transitions.

use super::*;

impl Chatter {
    /// A peer's liveness changed.
    pub(super) fn transition(&mut self, now: Millis, t: Transition) {
        self.far.reconnect.observe(now, t.id, t.state);
        if t.restarted && self.address_doubtful(t.id) {
            // It restarted, maybe elsewhere: our probe finds out soon, and
            // the helpers it asks introduce it (`ping_for`).
            self.swim.detector.probe_again(t.id);
        }
        self.autoclaim.auto.touch_all();
        self.outbox.events.push_back(Event::Liveness {
            id: t.id,
            state: t.state,
            restarted: t.restarted,
        });
    }

    /// The probe round: suspect an unanswered target, ask others after the
    /// ping timeout, and ping the next target each period.
    pub(super) fn probe(&mut self, now: Millis) {
        self.probe_indirectly(now);
        if now >= self.swim.detector.next_probe() {
            self.suspect_unanswered(now);
            self.ping_next(now);
        }
        for t in self.swim.detector.expire(now) {
            self.transition(now, t);
        }
    }

    /// The probe unanswered past the ping timeout: ask a few helpers to
    /// ping its target for us (once).
    fn probe_indirectly(&mut self, now: Millis) {
        if let Some(p) = self.swim.detector.probing()
            && !p.indirect_sent
            && now >= p.sent.plus(self.swim.detector.cfg().ping_timeout)
            && now < self.swim.detector.next_probe()
        {
            let helpers = self.pick_helpers(p.target, now);
            let target = self.peers.get(p.target).and_then(|q| q.peer_ref());
            if let Some(target) = target {
                for h in helpers {
                    let v = self.version_for(h.id);
                    let req = PingReq {
                        nonce: p.nonce,
                        target,
                    };
                    self.send_datagram(now, Some(h.addr), wire::Payload::PingReq(req), v);
                }
            }
            self.swim.detector.indirect_sent();
        }
    }

    /// At the end of a probe round: the target that never acked becomes a
    /// suspect, and is told first.
    fn suspect_unanswered(&mut self, now: Millis) {
        if let Some(p) = self.swim.detector.end_probe()
            && let Some(t) = self.swim.detector.suspect(p.target, p.sent, now)
        {
            self.transition(now, t);
            // Tell the suspect first (Lifeguard's buddy system): if it is
            // alive and this path works again, it acks and refutes now
            // instead of after the suspicion has spread.
            if let Some(addr) = self.peers.get(p.target).and_then(|q| q.addr) {
                let ping = Probe {
                    nonce: self.rng.next_u64(),
                    rumors: self
                        .swim
                        .detector
                        .take_rumors_for(p.target, Rumor::MAX_PER_FRAME),
                };
                let v = self.version_for(p.target);
                self.send_datagram(now, Some(addr), wire::Payload::Ping(ping), v);
            }
        }
    }

    /// The next probe round: ping the next target in the shuffled order.
    fn ping_next(&mut self, now: Millis) {
        let mut candidates: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|q| q.addr.is_some() && q.max_version >= FrameKind::Ping.since_version())
            .filter(|q| self.swim.detector.state(q.id) != Liveness::Down)
            .map(|q| q.id)
            .collect();
        candidates.sort_unstable();
        let rng = &mut self.rng;
        let target = self
            .swim
            .detector
            .next_target(&candidates, |v| shuffle(rng, v));
        if let Some(target) = target
            && let Some(addr) = self.peers.get(target).and_then(|q| q.addr)
        {
            let nonce = self.rng.next_u64();
            self.swim.detector.start_probe(Probing {
                target,
                nonce,
                sent: now,
                indirect_sent: false,
            });
            let ping = Probe {
                nonce,
                rumors: self
                    .swim
                    .detector
                    .take_rumors_for(target, Rumor::MAX_PER_FRAME),
            };
            let v = self.version_for(target);
            self.send_datagram(now, Some(addr), wire::Payload::Ping(ping), v);
        }
        let period = self.swim.detector.cfg().probe_period;
        let next = now.plus(jittered(&mut self.rng, period, self.cfg.jitter_percent));
        self.swim.detector.next_round_at(next);
    }

    /// Up to `indirect` random alive peers other than `target` to probe it
    /// for us, preferring our LAN (a different path than ours).
    pub(super) fn pick_helpers(&mut self, target: NodeId, now: Millis) -> Vec<PeerRef> {
        let want = self.swim.detector.cfg().indirect;
        let ttl = self.hears_ttl();
        let (mut local, mut far): (Vec<PeerRef>, Vec<PeerRef>) = (Vec::new(), Vec::new());
        for q in self.peers.iter() {
            if q.id == target
                || q.max_version < FrameKind::PingReq.since_version()
                || self.swim.detector.state(q.id) != Liveness::Alive
            {
                continue;
            }
            if let Some(r) = q.peer_ref() {
                if q.heard_by_multicast(now, ttl) {
                    local.push(r);
                } else {
                    far.push(r);
                }
            }
        }
        shuffle(&mut self.rng, &mut local);
        shuffle(&mut self.rng, &mut far);
        let mut first = self.order_helpers(target, local, far);
        first.truncate(want);
        first
    }

    /// A ping: its rumors, and an ack back (within the reply budget).
    pub(super) fn on_ping(&mut self, now: Millis, sender: NodeId, src: Source, p: Probe) {
        self.on_rumors(now, sender, src, p.rumors);
        if !self.budgets.replies.allow(src.addr.ip(), now) {
            self.outbox.stats.drop(DropReason::ReplyBudget);
            return;
        }
        let to = self.reply_addr(sender, src);
        let ack = Probe {
            nonce: p.nonce,
            rumors: self.swim.detector.take_rumors(Rumor::MAX_PER_FRAME),
        };
        self.send_datagram(
            now,
            Some(to),
            wire::Payload::Ack(ack),
            self.version_for(sender),
        );
    }

    /// An ack: its rumors, and passed on to whoever asked us to ping.
    pub(super) fn on_ack(&mut self, now: Millis, sender: NodeId, src: Source, p: Probe) {
        self.on_rumors(now, sender, src, p.rumors);
        if let Some(relay) = self.swim.detector.acked(p.nonce, sender)
            && let Some(to) = self.peers.get(relay.requester).and_then(|q| q.addr)
        {
            let ack = Probe {
                nonce: relay.nonce,
                rumors: Vec::new(),
            };
            let v = self.version_for(relay.requester);
            self.send_datagram(now, Some(to), wire::Payload::Ack(ack), v);
        }
    }

    /// A ping on another's behalf: a reflection, so budgeted.
    pub(super) fn on_ping_req(&mut self, now: Millis, sender: NodeId, src: Source, req: PingReq) {
        if !self.budgets.replies.allow(src.addr.ip(), now) {
            self.outbox.stats.drop(DropReason::ReplyBudget);
            return;
        }
        self.ping_for(now, sender, src.addr, req);
    }
}

/// SWIM: the failure detector and our last refutation.
pub(super) struct SwimState {
    pub(super) detector: Detector,
    /// When we last refuted a suspicion of ourselves at once.
    pub(super) last_refutation: Option<Millis>,
}
