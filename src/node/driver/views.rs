//! What the node shows of itself: the answers to the queries (`lookup`,
//! `members`, `topology`, `peers`, `groups`, `status`, `metrics`), built
//! from the protocol's state. Read-only: nothing here changes the node.

use core::net::SocketAddr;
use std::collections::BTreeMap;

use crate::model::{KeyRange, Kind, NodeId, TopologyFilter};
use crate::protocol::{Chatter, Millis};

use super::super::request::{
    AutoView, Counters, GroupView, ItemView, LookupReply, MemberView, Metrics, PeerView,
    PolicyMismatchView, Query, Reply, ServerView, Status, arch, refused,
};
use super::Driver;

/// How recent a peer's announce must be to count for `converged` (ms).
const CONVERGED_WINDOW: u64 = 30_000;
/// How recent a peer's multicast must be for `peers` to flag it (ms).
const MULTICAST_WINDOW: u64 = 60_000;
/// How recent a peer's "hears us" must be for `peers` to flag it (ms).
const HEARS_US_WINDOW: u64 = 120_000;

impl Driver {
    /// The answer to a query.
    pub(super) fn query(&self, now: Millis, q: Query) -> Reply {
        match q {
            Query::Lookup { group, key, hashed } => self.lookup(group, key, hashed),
            Query::Members(group) => self.members(&group),
            Query::Topology(group) => self.topology(group),
            Query::Peers => Reply::Peers {
                peers: self
                    .chatter
                    .peers()
                    .iter()
                    .map(|p| peer_view(&self.chatter, now, p))
                    .collect(),
            },
            Query::Status => Reply::Status(Box::new(self.status(now))),
            Query::Metrics => Reply::Metrics(Box::new(self.metrics(now))),
            Query::Groups => Reply::Groups {
                groups: self.groups(now),
            },
        }
    }

    /// `lookup GROUP KEY`: the servers of `key`, down ones last.
    fn lookup(&self, group: String, key: u32, hashed: bool) -> Reply {
        let servers = self
            .chatter
            .lookup(&group, key)
            .into_iter()
            .map(|(s, state)| ServerView {
                node: s.member.to_string(),
                priority: s.priority,
                port: s.port,
                range: s.range.to_string(),
                addr: self.addr_of(s.member).map(|a| a.to_string()),
                state: state.name().to_owned(),
            })
            .collect();
        Reply::Lookup(LookupReply {
            member: Some(self.chatter.db().is_member(&group)),
            group,
            key,
            hashed,
            servers,
        })
    }

    /// `topology GROUP`: every item of the group; refused, as `members`, for
    /// a group this node has never heard of.
    fn topology(&self, group: String) -> Reply {
        if let Some(no) = self.unknown_group(&group) {
            return no;
        }
        let items = self
            .chatter
            .db()
            .topology(&group, TopologyFilter::default())
            .map(|i| ItemView {
                node: i.member().to_string(),
                op: format!("{:?}", i.op()).to_lowercase(),
                kind: i.kind().to_string(),
                range: i.range().to_string(),
                start: i.range().start(),
                end: i.range().end(),
                priority: i.priority(),
                port: i.port(),
                clock: i.clock(),
                weight: (i.kind() == Kind::Auto).then(|| i.priority()),
            })
            .collect();
        Reply::Topology { items, group }
    }

    /// The refusal for a group this node has never heard of (a typo must
    /// not read as "no members" or "no items"), if `group` is one.
    fn unknown_group(&self, group: &str) -> Option<Reply> {
        let known = self.chatter.groups().iter().any(|g| g.as_str() == group);
        (!known).then(|| {
            refused(format!(
                "no group {group:?} is known on this board (`scalesmall status` lists the groups it knows)"
            ))
        })
    }

    /// `members GROUP`: each member with its liveness; refused for a group
    /// this node has never heard of (a typo must not read as "no members").
    fn members(&self, group: &str) -> Reply {
        if let Some(no) = self.unknown_group(group) {
            return no;
        }
        let db = self.chatter.db();
        let me = self.chatter.identity().id;
        let members = db
            .members(group)
            .into_iter()
            .map(|id| MemberView {
                id: id.to_string(),
                state: if id == me {
                    "alive"
                } else {
                    c_state(&self.chatter, id)
                }
                .to_owned(),
            })
            .collect();
        Reply::Members {
            group: group.to_owned(),
            members,
            member: Some(db.is_member(group)),
        }
    }

    fn metrics(&self, now: Millis) -> Metrics {
        let c = &self.chatter;
        let st = c.stats();
        let states = c.peer_states();
        let names = |m: &BTreeMap<&'static str, u64>| {
            m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        let fingerprints: BTreeMap<String, u64> = c
            .db()
            .digest()
            .filter(|(g, _)| c.holds(g))
            .map(|(g, w)| (g.to_string(), w.fingerprint()))
            .collect();
        // Only the groups we are a member of: the others we do not hold.
        let digest_mismatches = c
            .peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .flat_map(|p| p.groups.iter())
            .filter(|(g, _)| c.holds(g))
            .filter(|(g, h)| fingerprints.get(g.as_str()) != Some(&h.fingerprint))
            .count() as u64;
        Metrics {
            frames_in: names(&st.frames_in),
            frames_out: names(&st.frames_out),
            drops: names(&st.drops),
            bytes_in: st.bytes_in,
            bytes_out: st.bytes_out,
            peers: c.peers().len() as u64,
            peers_multicast: c
                .peers()
                .iter()
                .filter(|p| {
                    p.last_multicast
                        .is_some_and(|t| now.since(t) <= CONVERGED_WINDOW)
                })
                .count() as u64,
            peers_recent: self.peers_recent(now) as u64,
            peers_alive: states.alive as u64,
            peers_suspect: states.suspect as u64,
            peers_down: states.down as u64,
            islands_unreachable: c.unreachable_islands(now) as u64,
            groups: c.groups().len() as u64,
            items: c
                .db()
                .groups()
                .filter_map(|g| c.db().message(g.as_str()))
                .map(|m| m.items().len() as u64)
                .sum(),
            clock: c.db().clock(),
            converged: self.converged(now),
            digest_mismatches,
            news: st.news,
            own_writes: st.own_writes,
            relays: st.relays,
            reconnects: st.reconnects,
            inputs: self.inputs,
            input_seconds: self.input_seconds,
            connections: c.conn_count() as u64,
            uptime_seconds: now.0 as f64 / 1000.0,
            group_health: crate::node::group_health::group_health(c),
            hooks: self.hooks.stats(),
        }
    }

    /// Peers heard within the converged window.
    fn peers_recent(&self, now: Millis) -> usize {
        self.chatter
            .peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .count()
    }

    /// Converged: no peer heard recently announces a group state that
    /// differs from ours, and, if seeds other than this node are
    /// configured, at least one peer was heard recently. A node without
    /// seeds that hears nobody (a lone board) is converged: nobody differs.
    fn converged(&self, now: Millis) -> bool {
        let c = &self.chatter;
        converged_rule(
            c.converged(now, CONVERGED_WINDOW),
            expects_peers(&c.config().seeds, &c.identity().addrs),
            self.peers_recent(now),
        )
    }

    fn addr_of(&self, id: NodeId) -> Option<SocketAddr> {
        if id == self.chatter.identity().id {
            return self.chatter.identity().addrs.first().copied();
        }
        self.chatter.peers().get(id).and_then(|p| p.addr)
    }

    fn status(&self, now: Millis) -> Status {
        let c = &self.chatter;
        let st = c.stats();
        let states = c.peer_states();
        Status {
            id: c.identity().id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            arch: arch().to_owned(),
            incarnation: c.identity().incarnation,
            clock: c.db().clock(),
            listen: self.info.listen.to_string(),
            addrs: c.identity().addrs.iter().map(ToString::to_string).collect(),
            data_dir: self.info.data_dir.display().to_string(),
            cluster: self.info.cluster.clone(),
            groups: c.groups().iter().map(ToString::to_string).collect(),
            my_groups: c.db().my_groups().map(ToString::to_string).collect(),
            peers: c.peers().len(),
            peers_recent: self.peers_recent(now),
            peers_alive: states.alive,
            peers_suspect: states.suspect,
            peers_down: states.down,
            unreachable_islands: c.unreachable_islands(now),
            converged: self.converged(now),
            representative: c.is_representative(now),
            insecure: self.info.insecure,
            uptime_ms: now.0,
            connections: c.conn_count(),
            counters: Counters {
                frames_out: st.frames_sent(),
                frames_in: st.frames_received(),
                bytes_out: st.bytes_out,
                bytes_in: st.bytes_in,
                drops: st
                    .drops
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
                news: st.news,
                own_writes: st.own_writes,
            },
            auto: self.auto_views(),
            policy_fingerprint: hex64(c.config().auto.fingerprint()),
            policy_mismatch: self.policy_mismatch(now),
        }
    }

    /// The groups where this node has a live auto marker.
    fn auto_views(&self) -> Vec<AutoView> {
        let c = &self.chatter;
        let db = c.db();
        let me = c.identity().id;
        db.groups()
            .filter_map(|g| {
                let members = db.auto_members(g.as_str());
                let (_, weight, port) = members.iter().find(|m| m.0 == me).copied()?;
                let policy = c.config().auto.policy(g);
                let claims: Vec<KeyRange> = db
                    .topology(
                        g.as_str(),
                        TopologyFilter {
                            kind: Some(Kind::Serve),
                            live_only: true,
                            member: Some(me),
                        },
                    )
                    .map(|i| i.range())
                    .collect();
                Some(AutoView {
                    group: g.to_string(),
                    weight,
                    port,
                    replicas: policy.replicas(),
                    slices: policy.slices(),
                    members: members.len(),
                    claims: claims.len(),
                    keys: keys_covered(claims),
                    total_weight: members.iter().map(|m| u64::from(m.1)).sum(),
                })
            })
            .collect()
    }

    /// Peers heard recently whose announced policy fingerprint differs
    /// from ours.
    fn policy_mismatch(&self, now: Millis) -> Vec<PolicyMismatchView> {
        let c = &self.chatter;
        let ours = c.config().auto.fingerprint();
        c.peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .filter_map(|p| {
                let theirs = p.policy_fp?;
                (theirs != ours).then(|| PolicyMismatchView {
                    node: p.id.to_string(),
                    fingerprint: hex64(theirs),
                })
            })
            .collect()
    }
}

/// A peer as `peers` shows it (`keys list` adds its key id).
pub(super) fn peer_view(c: &Chatter, now: Millis, p: &crate::protocol::Peer) -> PeerView {
    PeerView {
        id: p.id.to_string(),
        state: c_state(c, p.id).to_owned(),
        addr: p.addr.map(|a| a.to_string()),
        incarnation: p.incarnation,
        last_heard_ms: now.since(p.last_heard),
        multicast: p
            .last_multicast
            .is_some_and(|t| now.since(t) < MULTICAST_WINDOW),
        hears_us: p.hears_me.is_some_and(|t| now.since(t) < HEARS_US_WINDOW),
        representative: p.rep_at.is_some(),
        version: p.max_version,
        key_id: None,
        key_age_ms: None,
    }
}

/// 16 hex digits.
fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

/// How many distinct keys `ranges` cover (overlaps counted once).
fn keys_covered(ranges: Vec<KeyRange>) -> u64 {
    // One member's ranges: the keys they leave uncovered, subtracted.
    (1 << 32) - crate::model::KeyDepth::of(ranges.into_iter().map(|r| ((), r))).uncovered
}

impl Driver {
    /// Every group with its counts, and the recent peers whose announced
    /// digest of it differs from ours (the same rule as `converged`).
    fn groups(&self, now: Millis) -> Vec<GroupView> {
        let c = &self.chatter;
        let db = c.db();
        c.groups()
            .iter()
            .map(|g| {
                let mine = c.holds(g);
                let msg = db.message(g.as_str());
                let items = msg.map_or(0, |m| m.items().len());
                let ours = msg.map(|m| m.clock().fingerprint());
                let (mut servers, mut servers_alive) = (0, 0);
                let mut claims = 0;
                let mut last = None;
                for i in db.topology(
                    g.as_str(),
                    TopologyFilter {
                        kind: Some(Kind::Serve),
                        live_only: true,
                        member: None,
                    },
                ) {
                    claims += 1;
                    if last != Some(i.member()) {
                        servers += 1;
                        if c.liveness(i.member()) == crate::wire::Liveness::Alive {
                            servers_alive += 1;
                        }
                        last = Some(i.member());
                    }
                }
                let differs = c
                    .peers()
                    .iter()
                    .filter(|p| mine && now.since(p.last_heard) <= CONVERGED_WINDOW)
                    .filter(|p| {
                        p.groups.get(g).is_some_and(|h| {
                            now.since(h.at) <= CONVERGED_WINDOW && ours != Some(h.fingerprint)
                        })
                    })
                    .map(|p| p.id.to_string())
                    .collect();
                GroupView {
                    name: g.to_string(),
                    auto: db.auto_members(g.as_str()).len(),
                    members: db.members(g.as_str()).len(),
                    servers,
                    servers_alive,
                    items,
                    claims,
                    mine,
                    differs,
                }
            })
            .collect()
    }
}

/// A peer's liveness in this node's view (the failure detector's).
fn c_state(c: &Chatter, id: NodeId) -> &'static str {
    c.liveness(id).name()
}

/// Whether the node has seeds that are not itself (a shared seed list
/// often names every board, this one included).
fn expects_peers(seeds: &[SocketAddr], own: &[SocketAddr]) -> bool {
    seeds.iter().any(|s| !own.contains(s))
}

/// `converged`: nothing differs among the recent peers, and a node that
/// expects peers has heard one.
const fn converged_rule(nothing_differs: bool, expects_peers: bool, peers_recent: usize) -> bool {
    nothing_differs && (!expects_peers || peers_recent > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_node_is_not_converged_before_it_hears_a_peer() {
        let a: SocketAddr = "10.0.0.1:29999".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:29999".parse().unwrap();
        // A lone board: no seeds, nobody heard.
        assert!(converged_rule(true, expects_peers(&[], &[a]), 0));
        // Seeded, nobody heard yet.
        assert!(!converged_rule(true, expects_peers(&[b], &[a]), 0));
        assert!(converged_rule(true, expects_peers(&[b], &[a]), 1));
        // Its only seed is itself: a lone board again.
        assert!(converged_rule(true, expects_peers(&[a], &[a]), 0));
        assert!(!converged_rule(true, expects_peers(&[a, b], &[a]), 0));
        // A peer that differs is never converged.
        assert!(!converged_rule(false, false, 3));
    }

    #[test]
    fn covered_keys_count_overlaps_once() {
        let r = |a, b| KeyRange::new(a, b).unwrap();
        assert_eq!(keys_covered(vec![]), 0);
        assert_eq!(keys_covered(vec![KeyRange::FULL]), 1 << 32);
        assert_eq!(keys_covered(vec![r(10, 19), r(0, 9)]), 20);
        assert_eq!(keys_covered(vec![r(0, 9), r(5, 14), r(6, 7)]), 15);
        assert_eq!(keys_covered(vec![r(0, 0), r(u32::MAX, u32::MAX)]), 2);
    }
}
