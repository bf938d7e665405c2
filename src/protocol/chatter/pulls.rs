//! Anti-entropy: pulls served and made, and far syncs across subnets.

use super::*;

impl Chatter {
    pub(super) fn on_pull(&mut self, now: Millis, sender: NodeId, src: Source, p: Pull) {
        if !self.holds(&p.group) {
            // Not a member: we keep no view of the group to answer with.
            self.outbox.stats.drop(DropReason::PullNotMember);
            return;
        }
        if !self.pulls.allow_serve(sender, now, self.cfg.pulls_per_sec)
            || !self.budgets.serves.allow(src.addr.ip(), now)
        {
            self.outbox.stats.drop(DropReason::PullRate);
            return;
        }
        let version = self.version_for(sender);
        let sizer = self.frames.codec.delta_sizer(version, self.cfg.mtu);
        let chunks = match self.db.delta_since_in(
            p.group.as_str(),
            &p.clock,
            p.part.clone(),
            self.cfg.mtu,
            &sizer,
        ) {
            Ok(c) => c,
            Err(_) => {
                self.outbox.stats.drop(DropReason::DeltaBudget);
                return;
            }
        };
        let to = self.reply_addr(sender, src);
        self.serve_chunks(now, sender, to, chunks, version);
        // Push-pull: if the requester covers what we lack, ask it back.
        let ours = self
            .db
            .message(p.group.as_str())
            .map(|m| m.clock().restricted(&p.part))
            .unwrap_or_default();
        if !ours.covers_all(&p.clock) {
            self.pulls.suspect(&p.group, sender, now);
        }
    }

    /// Sends a pull's answer, chunk by chunk, to `to`: in datagrams, or a
    /// reset too large for one over TCP.
    fn serve_chunks(
        &mut self,
        now: Millis,
        sender: NodeId,
        to: SocketAddr,
        chunks: Vec<Message>,
        version: u8,
    ) {
        for chunk in chunks {
            // Chunks are cut to fit; only a reset (it carries a floor) may
            // not, and only it is measured.
            let fits = chunk.clock().floors().is_empty()
                || self
                    .fits_mtu(
                        self.frames.seq + 1,
                        wire::Payload::Delta(chunk.clone()),
                        version,
                    )
                    .0;
            if fits {
                self.send_datagram(now, Some(to), wire::Payload::Delta(chunk), version);
                continue;
            }
            // A reset (all we hold of a member up to its floor) can be
            // larger than a datagram: it goes over TCP as a tree step with
            // no list and clock 0, which the receiver only applies.
            let target = PeerRef {
                id: sender,
                addr: to,
            };
            self.send_forward(
                now,
                target,
                Forward {
                    author: self.me.id,
                    upto: 0,
                    list: Vec::new(),
                    message: chunk,
                },
            );
        }
    }

    /// Sends our world clock of `group` to `target`, in parts that each fit
    /// a datagram.
    pub(super) fn pull_from(&mut self, now: Millis, group: &GroupName, target: NodeId) {
        let Some(to) = self.peers.get(target).and_then(|p| p.addr) else {
            return;
        };
        self.pulls.start(group, target, now, self.cfg.pull_timeout);
        let clock = self
            .db
            .message(group.as_str())
            .map(|m| m.clock().clone())
            .unwrap_or_default();
        let version = self.version_for(target);
        for pull in self.pull_parts(group, &clock, NodeId::ALL, version) {
            self.send_datagram(now, Some(to), wire::Payload::Pull(pull), version);
        }
    }

    /// Splits a pull by member id range until each part fits the MTU.
    pub(super) fn pull_parts(
        &self,
        group: &GroupName,
        clock: &WorldClock,
        part: core::ops::RangeInclusive<NodeId>,
        version: u8,
    ) -> Vec<Pull> {
        let pull = Pull {
            group: group.clone(),
            clock: clock.restricted(&part),
            part: part.clone(),
        };
        let (fits, payload) = self.fits_mtu(self.frames.seq, wire::Payload::Pull(pull), version);
        let wire::Payload::Pull(pull) = payload else {
            return Vec::new();
        };
        if fits {
            return vec![pull];
        }
        let members: Vec<NodeId> = pull.clock.entries().iter().map(|e| e.member()).collect();
        let Some(&mid) = members.get(members.len() / 2) else {
            return Vec::new();
        };
        if members.len() < 2 || mid == *part.start() {
            return Vec::new();
        }
        let low_end = NodeId::from_u64(mid.as_u64() - 1);
        let mut out = self.pull_parts(group, clock, *part.start()..=low_end, version);
        out.extend(self.pull_parts(group, clock, mid..=*part.end(), version));
        out
    }

    /// The periodic unicast announce across islands: every other one to a
    /// random far member of one of our groups (in turn), with that group's
    /// digest, so members in subnets multicast cannot reach compare it; the
    /// rest to a random far peer (discovery, liveness); and to unknown seeds.
    pub(super) fn far_sync(&mut self, now: Millis) {
        let ttl = self.hears_ttl();
        let multicast = self.cfg.multicast;
        self.far.far_syncs = self.far.far_syncs.wrapping_add(1);
        if self.far.far_syncs % 2 == 0 && self.member_far_sync(now) {
            self.announce_seeds(now);
            return;
        }
        let far = self.sample_peer(|p| !(multicast && p.heard_by_multicast(now, ttl)));
        if let Some(id) = far
            && self.swim.detector.state(id) != Liveness::Down
            && let Some(addr) = self.peers.get(id).and_then(|p| p.addr)
        {
            if let Some(p) = self.peers.get_mut(id) {
                p.last_reply = Some(now);
            }
            self.send_announce(now, Some(addr));
        }
        self.announce_seeds(now);
    }

    /// A far sync to a random far member of one of our groups, taken in
    /// turn; returns whether one was sent.
    pub(super) fn member_far_sync(&mut self, now: Millis) -> bool {
        let held: Vec<GroupName> = self
            .membership
            .member_of
            .iter()
            .chain(self.membership.leaving.keys())
            .cloned()
            .collect();
        let Some(n) = u64::try_from(held.len()).ok().filter(|n| *n > 0) else {
            return false;
        };
        let turn = usize::try_from((self.far.far_syncs / 2) % n).unwrap_or(0);
        let Some(group) = held.get(turn) else {
            return false;
        };
        let ttl = self.hears_ttl();
        let far: Vec<NodeId> = self
            .group_holders(group)
            .into_iter()
            .filter(|id| *id != self.me.id)
            .filter(|id| {
                self.peers
                    .get(*id)
                    .is_some_and(|p| !self.is_local(p, now, ttl))
            })
            .collect();
        let Some(id) = pick(&mut self.rng, &far) else {
            // No far member known: a beacon of our items of the group to a
            // random far island, whose members then welcome us.
            let rep_ttl = self.rep_ttl();
            let reps: Vec<NodeId> = self
                .peers
                .iter()
                .filter(|p| p.is_rep(now, rep_ttl) && !self.is_local(p, now, ttl))
                .map(|p| p.id)
                .collect();
            let Some(rep) = pick(&mut self.rng, &reps) else {
                return false;
            };
            self.introduce(now, rep, std::slice::from_ref(group));
            return true;
        };
        let Some(addr) = self.peers.get(id).and_then(|p| p.addr) else {
            return false;
        };
        if let Some(p) = self.peers.get_mut(id) {
            p.last_reply = Some(now);
        }
        self.send_announce_with(now, Some(addr), Some(group));
        true
    }
}

/// Reaching across routers: the seeds, far syncs made, and unicast
/// announce rounds owed since our addresses changed.
pub(super) struct FarState {
    pub(super) seeds: Vec<SocketAddr>,
    /// Far syncs made (they alternate between a random far peer and a far
    /// member of one of our groups).
    pub(super) far_syncs: u64,
    /// Rounds of unicast announces to every far peer still owed since our
    /// addresses changed (`set_addrs`).
    pub(super) readdress: u8,
    /// Contacts across a cut: seeds, unreachable islands, down members.
    pub(super) reconnect: crate::protocol::reconnect::Reconnect,
}
