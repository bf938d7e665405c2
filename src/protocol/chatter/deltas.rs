//! Deltas and forwards received: apply with interest gating, newcomers,
//! own state seen ahead.

use super::*;

impl Chatter {
    pub(super) fn on_delta(&mut self, now: Millis, sender: NodeId, src: Source, m: Message) {
        self.pulls.answered(m.group(), sender);
        // News heard by multicast reached our LAN already; news that came
        // by unicast (a pull answer or a gossip) is passed on across islands.
        if self.apply(now, sender, &m) && src.via == Via::Unicast {
            self.gossip(now, &m, sender);
        }
    }

    pub(super) fn on_forward(&mut self, now: Millis, sender: NodeId, f: Forward) {
        if f.upto == 0 {
            // A pull answer too large for a datagram (see `on_pull`).
            self.pulls.answered(f.message.group(), sender);
            self.apply(now, sender, &f.message);
            return;
        }
        let first = self.tree.seen.insert(f.author, f.upto);
        self.apply(now, f.author, &f.message);
        if !first {
            return;
        }
        let ttl = self.hears_ttl();
        let hears_author = self
            .peers
            .get(f.author)
            .is_some_and(|p| p.heard_by_multicast(now, ttl));
        if self.cfg.multicast && !hears_author {
            // We head an island the author's multicast does not reach.
            let v = self.send_version();
            self.send_datagram(now, None, wire::Payload::Delta(f.message.clone()), v);
        }
        for (head, rest) in tree::split(&f.list) {
            self.send_forward(
                now,
                head,
                Forward {
                    author: f.author,
                    upto: f.upto,
                    list: rest,
                    message: f.message.clone(),
                },
            );
        }
    }

    /// Applies a received message of a group we are a member of; returns
    /// whether it changed anything. Of another group only the name is kept
    /// (and a sign of own writes above our clock is still heeded).
    pub(super) fn apply(&mut self, now: Millis, origin: NodeId, m: &Message) -> bool {
        if !self.holds(m.group()) {
            self.outbox.stats.drop(DropReason::NotMember);
            self.membership.interest.note(m.group(), None, now);
            let me = self.me.id;
            let seen = m
                .max_seen(me)
                .max(m.clock().coverage(me).map_or(0, |c| c.max_covered()));
            if seen > self.db.clock() {
                self.own_ahead(now, seen, m);
            }
            return false;
        }
        let newcomers = self.newcomers(m);
        let applied = self.db.apply(m);
        if applied.refused > 0 {
            // Counted as drops: a cap or an expiry marker refused some
            // members' writes whole.
            self.outbox.stats.drop(DropReason::RefusedMembers);
        }
        if let Some(seen) = applied.own_ahead {
            self.own_ahead(now, seen, m);
        }
        if applied.changed {
            self.autoclaim.auto.touch(m.group());
            self.pulls.news(m.group(), now);
            self.outbox.stats.news += 1;
            self.outbox.events.push_back(Event::Changed {
                group: m.group().clone(),
                origin,
            });
            for id in newcomers {
                self.welcome(now, m.group(), id);
            }
        }
        applied.changed
    }

    /// The members `m` shows with a live item of whom we hold none yet
    /// (they just joined, as far as we know). Only for a message of one
    /// member's items (a join's broadcast): a pull answer holding many is
    /// what a joiner or a restarted node gets, and welcoming every member
    /// in it would be a burst of announces for nothing.
    pub(super) fn newcomers(&self, m: &Message) -> Vec<NodeId> {
        let items = m.items().items();
        if items
            .first()
            .is_some_and(|f| items.iter().any(|i| i.member() != f.member()))
        {
            return Vec::new();
        }
        let mut out: Vec<NodeId> = Vec::new();
        for i in m.items().items().iter().filter(|i| i.live()) {
            let id = i.member();
            if id == self.me.id || out.last() == Some(&id) {
                continue;
            }
            let filter = TopologyFilter {
                kind: None,
                live_only: true,
                member: Some(id),
            };
            if self
                .db
                .topology(m.group().as_str(), filter)
                .next()
                .is_none()
            {
                out.push(id);
            }
        }
        out
    }

    /// A far node joined `group`: it does not know the group's members yet
    /// (a joiner pulls from a holder it knows, and our multicast announces
    /// do not reach it), so we tell it we hold the group with a unicast
    /// announce carrying its fingerprint; it pulls from us. Within the
    /// per-address answer budget.
    pub(super) fn welcome(&mut self, now: Millis, group: &GroupName, id: NodeId) {
        let ttl = self.hears_ttl();
        let Some(p) = self.peers.get(id) else { return };
        if self.is_local(p, now, ttl) || self.swim.detector.state(id) == Liveness::Down {
            return;
        }
        let Some(addr) = p.addr else { return };
        if !self.budgets.replies.allow(addr.ip(), now) {
            self.outbox.stats.drop(DropReason::ReplyBudget);
            return;
        }
        self.send_announce_with(now, Some(addr), Some(group));
    }

    /// The peers known to hold `group`, with an address: its members in our
    /// view of it and the peers announcing it.
    pub(super) fn group_holders(&self, group: &GroupName) -> Vec<NodeId> {
        let members: BTreeSet<NodeId> = self.db.members(group.as_str()).into_iter().collect();
        self.peers
            .iter()
            .filter(|p| p.addr.is_some() && (p.holds(group) || members.contains(&p.id)))
            .filter(|p| self.swim.detector.state(p.id) != Liveness::Down)
            .map(|p| p.id)
            .collect()
    }

    /// Peers hold own writes above our clock (a restored data dir): jump the
    /// clock, re-assert, broadcast.
    pub(super) fn own_ahead(&mut self, now: Millis, seen: u64, m: &Message) {
        if !self.outbox.durable.may_retry(now) {
            return;
        }
        self.begin_write();
        let foreign: Vec<(GroupName, TimedItem)> = m
            .items()
            .member_items(self.me.id)
            .iter()
            .map(|i| (m.group().clone(), *i))
            .collect();
        match self.db.reassert(seen, &foreign) {
            Ok(writes) => {
                for w in &writes {
                    self.after_own_write(now, w);
                }
                self.own_event(Event::OwnAhead {
                    seen,
                    clock: self.db.clock(),
                });
            }
            Err(_) => self.outbox.stats.drop(DropReason::ClockExhausted),
        }
    }
}
