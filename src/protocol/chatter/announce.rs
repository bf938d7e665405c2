//! Announces: build and send (with the group fingerprints), receive.

use super::*;

impl Chatter {
    pub(super) fn on_announce(&mut self, now: Millis, sender: NodeId, src: Source, a: Announce) {
        let my_fp = self.groups_fp();
        let Some(reply_due) = self.note_announcer(now, sender, src, &a) else {
            return;
        };
        let new_reps = self.note_heads(now, sender, &a);
        if !self.membership.member_of.is_empty() {
            let held: Vec<GroupName> = self.membership.member_of.iter().cloned().collect();
            for id in new_reps {
                self.introduce(now, id, &held);
            }
        }
        self.compare_groups(now, sender, &a, my_fp);
        if reply_due {
            self.answer_announce(now, sender, src, &a);
        }
    }

    /// Notes what an announce says of its sender (versions, who it hears,
    /// its groups, its island); whether an answer is due. None if the
    /// sender is not in the table.
    fn note_announcer(
        &mut self,
        now: Millis,
        sender: NodeId,
        src: Source,
        a: &Announce,
    ) -> Option<bool> {
        let me = self.me.id;
        let peer = self.peers.get_mut(sender)?;
        peer.max_version = a.max_version;
        if a.hears.entries.contains(&me) {
            peer.hears_me = Some(now);
        } else if a.hears.is_whole() {
            peer.hears_me = None;
        }
        for h in &a.hears.entries {
            peer.note_hears(*h, now);
        }
        peer.groups_fp = Some(a.groups_fp);
        let was = peer.policy_fp.replace(a.policy_fp);
        if was != Some(a.policy_fp) && (a.policy_fp != self.autoclaim.policy_fp || was.is_some()) {
            self.outbox.events.push_back(Event::PolicyMismatch {
                id: sender,
                theirs: a.policy_fp,
                ours: self.autoclaim.policy_fp,
                same: a.policy_fp == self.autoclaim.policy_fp,
            });
        }
        if a.groups.is_whole() {
            let listed: Vec<GroupName> = a.groups.entries.iter().map(|d| d.group.clone()).collect();
            peer.retain_groups(&listed);
        }
        for d in &a.groups.entries {
            peer.note_group(&d.group, d.fingerprint, now);
        }
        if let Some(h) = a.heads.first()
            && h.addr != UNKNOWN_REP
        {
            peer.rep_of = Some(h.id);
        }
        let reply_due = src.via == Via::Unicast
            && peer
                .last_reply
                .is_none_or(|t| now.since(t) >= self.cfg.far_sync_period / 2);
        if reply_due {
            peer.last_reply = Some(now);
        }
        Some(reply_due)
    }

    /// Notes an announce's heads: the sender's island representative and
    /// the others it knows first-hand. Returns the peers that became
    /// representatives.
    fn note_heads(&mut self, now: Millis, sender: NodeId, a: &Announce) -> Vec<NodeId> {
        let me = self.me.id;
        // heads[0] is the sender's own island representative (first-hand);
        // the rest are other islands' representatives the sender knows
        // first-hand, trusted one hop into the sender's own island.
        let ttl = self.hears_ttl();
        let from_local = self
            .peers
            .get(sender)
            .is_some_and(|p| self.is_local(p, now, ttl));
        if let Some(p) = self.peers.get_mut(sender)
            && a.heads.first().is_none_or(|h| h.id != sender)
        {
            // First-hand: the sender does not represent its island (now).
            p.rep_at = None;
            p.rep_direct_at = None;
        }
        let rep_ttl = self.rep_ttl();
        let mut new_reps = Vec::new();
        for (k, h) in a.heads.iter().enumerate() {
            if h.id == me {
                continue;
            }
            if h.addr == UNKNOWN_REP {
                continue;
            }
            let (p, new) = self.peers.entry(h.id, now);
            p.note_named(h.addr);
            let was_rep = p.is_rep(now, rep_ttl);
            if k == 0 {
                p.rep_at = Some(now);
                p.rep_direct_at = Some(now);
            } else if from_local {
                p.rep_at = Some(now);
            }
            if !was_rep && p.is_rep(now, rep_ttl) {
                new_reps.push(h.id);
            }
            if new {
                self.outbox.events.push_back(Event::PeerDiscovered {
                    id: h.id,
                    addr: h.addr,
                });
            }
        }
        new_reps
    }

    /// Pull where an announce's group fingerprints differ from ours; only
    /// note the names of groups we are not a member of.
    fn compare_groups(&mut self, now: Millis, sender: NodeId, a: &Announce, my_fp: u64) {
        for d in &a.groups.entries {
            if !self.holds(&d.group) {
                // Not joined: only the name and its fingerprint are kept.
                self.membership
                    .interest
                    .note(&d.group, Some(d.fingerprint), now);
                continue;
            }
            if a.groups_fp != my_fp && self.fingerprint(&d.group) != Some(d.fingerprint) {
                self.pulls.suspect(&d.group, sender, now);
            } else {
                self.pulls.agree(&d.group, sender);
            }
        }
    }

    /// Answers a unicast announce (within the reply budget).
    fn answer_announce(&mut self, now: Millis, sender: NodeId, src: Source, a: &Announce) {
        if self.budgets.replies.allow(src.addr.ip(), now) {
            // A far member's announce passed on by a peer of our LAN
            // (see `relay_targets`) is answered at its own address.
            let relayed = src.conn.is_none()
                && !a.addrs.contains(&src.addr)
                && self
                    .peers
                    .iter()
                    .any(|p| p.id != sender && p.addr == Some(src.addr));
            let to = match usable_addr(&self.me.addrs, &a.addrs) {
                Some(own) if relayed => own,
                _ => self.reply_addr(sender, src),
            };
            self.send_announce(now, Some(to));
        } else {
            self.outbox.stats.drop(DropReason::ReplyBudget);
        }
    }

    /// Sends the representative `rep` of a far island our own items of each
    /// of `groups` (a tree step with an empty list): it multicasts them on
    /// its LAN, where the groups' members learn of us and welcome us. Done
    /// when we learn of an island, so members find each other across
    /// subnets whatever the order of joins and island discovery.
    pub(super) fn introduce(&mut self, now: Millis, rep: NodeId, groups: &[GroupName]) {
        let ttl = self.hears_ttl();
        let Some(p) = self.peers.get(rep) else { return };
        if self.is_local(p, now, ttl) || self.swim.detector.state(rep) == Liveness::Down {
            return;
        }
        let Some(to) = p.peer_ref() else { return };
        let version = self.send_version();
        let sizer = self.frames.codec.delta_sizer(version, self.cfg.mtu);
        for group in groups {
            let upto = self
                .db
                .message(group.as_str())
                .map_or(0, |m| m.clock().known_upto(self.me.id));
            if upto == 0 {
                continue;
            }
            let mine = Written {
                group: group.clone(),
                prev_in_group: 0,
                prev: 0,
                upto,
            };
            let Ok(chunks) = self.db.own_delta(&mine, self.cfg.mtu, &sizer) else {
                self.outbox.stats.drop(DropReason::DeltaBudget);
                continue;
            };
            for chunk in chunks {
                self.send_forward(
                    now,
                    to,
                    Forward {
                        author: self.me.id,
                        upto,
                        list: Vec::new(),
                        message: chunk,
                    },
                );
            }
        }
    }

    /// Announces to the seeds not known as peers yet.
    pub(super) fn announce_seeds(&mut self, now: Millis) {
        let unknown: Vec<SocketAddr> = self
            .far
            .seeds
            .iter()
            .copied()
            .filter(|s| self.peers.by_addr(*s).is_none())
            .collect();
        for seed in unknown {
            self.send_announce(now, Some(seed));
        }
    }

    /// Builds and sends an announce (multicast when `to` is `None`).
    pub(super) fn send_announce(&mut self, now: Millis, to: Option<SocketAddr>) {
        self.send_announce_with(now, to, None);
    }

    /// [`Chatter::send_announce`], its group window also carrying the
    /// digest of `focus` (a group we hold) if the rotation left it out.
    pub(super) fn send_announce_with(
        &mut self,
        now: Millis,
        to: Option<SocketAddr>,
        focus: Option<&GroupName>,
    ) {
        let ttl = self.hears_ttl();
        let heard: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|p| p.heard_by_multicast(now, ttl))
            .map(|p| p.id)
            .collect();
        let digests = self.held_digests();
        let groups_fp = groups_fp(&digests);
        let focused = focus.and_then(|f| digests.iter().find(|d| &d.group == f).cloned());
        let heads = self.announce_heads(now, ttl);
        let hears = window(
            &heard,
            &mut self.schedule.windows.hears_offset,
            self.cfg.hears_window,
        );
        let version = self.version_to(to);
        let rumors = self.swim.detector.take_rumors(Rumor::MAX_PER_FRAME);
        let mut groups_window = self.cfg.groups_window;
        loop {
            let mut offset = self.schedule.windows.groups_offset;
            let mut groups = window(&digests, &mut offset, groups_window);
            if let Some(f) = &focused
                && !groups.entries.contains(f)
            {
                groups.entries.push(f.clone());
            }
            let announce = Announce {
                max_version: wire::VERSION,
                addrs: self
                    .me
                    .addrs
                    .iter()
                    .copied()
                    .take(Announce::MAX_ADDRS)
                    .collect(),
                hears: hears.clone(),
                groups,
                groups_fp,
                heads: heads.clone(),
                policy_fp: self.autoclaim.policy_fp,
                rumors: rumors.clone(),
            };
            let (fits, payload) =
                self.fits_mtu(self.frames.seq, wire::Payload::Announce(announce), version);
            if fits || groups_window == 0 {
                self.schedule.windows.groups_offset = offset;
                self.send_datagram(now, to, payload, version);
                return;
            }
            groups_window /= 2;
        }
    }

    /// An announce's heads: first our island's representative, or a
    /// placeholder (our id at the unspecified address) while we do not know
    /// it yet, then other islands' representatives in random order.
    /// The version to send to `to` (a known peer's, else the one every
    /// peer reads); to the multicast group, the one every peer reads.
    fn version_to(&self, to: Option<SocketAddr>) -> u8 {
        match to {
            Some(addr) => self
                .peers
                .by_addr(addr)
                .map_or_else(|| self.send_version(), |p| self.version_for(p.id)),
            None => self.send_version(),
        }
    }

    fn announce_heads(&mut self, now: Millis, ttl: u64) -> Vec<PeerRef> {
        let rep_ttl = self.rep_ttl();
        let mut heads = vec![self.my_rep(now).unwrap_or(PeerRef {
            id: self.me.id,
            addr: UNKNOWN_REP,
        })];
        let mut reps: Vec<PeerRef> = self
            .peers
            .iter()
            .filter(|p| p.is_rep_direct(now, rep_ttl) && !self.is_local(p, now, ttl))
            .filter_map(|p| p.peer_ref())
            .collect();
        shuffle(&mut self.rng, &mut reps);
        let room = Announce::MAX_HEADS.saturating_sub(heads.len());
        heads.extend(reps.into_iter().take(room));
        heads
    }

    pub(super) fn fingerprint(&self, group: &GroupName) -> Option<u64> {
        self.db
            .message(group.as_str())
            .map(|m| m.clock().fingerprint())
    }

    pub(super) fn groups_fp(&self) -> u64 {
        groups_fp(&self.held_digests())
    }

    /// The digest of every group we hold, member or lingering (only those are
    /// announced: announcing a group says "I hold it, pull it from me").
    pub(super) fn held_digests(&self) -> Vec<GroupDigest> {
        self.db
            .digest()
            .filter(|(g, _)| self.holds(g))
            .map(|(g, w)| GroupDigest {
                group: g.clone(),
                fingerprint: w.fingerprint(),
            })
            .collect()
    }

    /// The announce period: the configured one on a small LAN, growing with
    /// the number of multicast peers so a LAN's announce rate stays bounded.
    /// Scans the peer table; called once per announce.
    pub(super) fn announce_period(&self, now: Millis) -> u64 {
        let ttl = self.hears_ttl();
        let heard = self
            .peers
            .iter()
            .filter(|p| p.heard_by_multicast(now, ttl))
            .count() as u64;
        let spread = heard.saturating_mul(1000) / self.cfg.lan_announce_rate.max(1);
        self.cfg.announce_period.max(spread)
    }
}

/// The next `size` entries of `all` from `offset` (wrapping); advances the
/// offset.
pub(super) fn window<T: Clone>(all: &[T], offset: &mut usize, size: usize) -> Window<T> {
    let total = all.len();
    if total == 0 {
        *offset = 0;
        return Window::empty();
    }
    if total <= size {
        *offset = 0;
        return Window::whole(all.to_vec());
    }
    let start = *offset % total;
    let entries: Vec<T> = all.iter().cycle().skip(start).take(size).cloned().collect();
    *offset = (start + size) % total;
    Window {
        total: u32::try_from(total).unwrap_or(u32::MAX),
        offset: u32::try_from(start).unwrap_or(0),
        entries,
    }
}

/// Hash over every `(group, fingerprint)` in name order.
pub(super) fn groups_fp(digests: &[GroupDigest]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for d in digests {
        h.update(&(d.group.as_str().len() as u64).to_le_bytes());
        h.update(d.group.as_str().as_bytes());
        h.update(&d.fingerprint.to_le_bytes());
    }
    h.digest()
}

/// Where the next announce's `hears` and `groups` windows start.
pub(super) struct AnnounceWindows {
    pub(super) hears_offset: usize,
    pub(super) groups_offset: usize,
}
