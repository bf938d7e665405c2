//! Who serves each part of a group's key space: the key space cut into
//! maximal ranges over which [`TopologyDb::lookup`] gives the same answer.
//!
//! The node's `owners-changed` hook compares two of these to tell a service
//! which of its ranges changed hands, without a lookup per key. One sweep
//! over the claims' start and end points: O(n log n + segments × depth).

use super::{KeyRange, Kind, NodeId, TopologyDb, TopologyFilter};

/// One server of a range, as lookup orders them (higher priority first,
/// then lower id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The member.
    pub member: NodeId,
    /// Its priority hint.
    pub priority: u16,
    /// Its service port (0 = none).
    pub port: u16,
}

/// A maximal range whose keys all have the same ordered owners (empty for
/// keys nobody serves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRange {
    /// The keys.
    pub range: KeyRange,
    /// Their servers, in lookup order.
    pub owners: Vec<Owner>,
}

/// The whole key space of `group` as [`OwnedRange`]s, in key order.
#[must_use]
pub fn owners(db: &TopologyDb, group: &str) -> Vec<OwnedRange> {
    let filter = TopologyFilter {
        kind: Some(Kind::Serve),
        live_only: true,
        member: None,
    };
    // (start, end + 1, member, priority, port), by start.
    let mut claims: Vec<(u64, u64, NodeId, u16, u16)> = db
        .topology(group, filter)
        .map(|i| {
            let r = i.range();
            let end = u64::from(r.end()) + 1;
            (
                u64::from(r.start()),
                end,
                i.member(),
                i.priority(),
                i.port(),
            )
        })
        .collect();
    claims.sort_unstable_by_key(|c| (c.0, c.1, c.2));
    let mut cuts: Vec<u64> = claims.iter().flat_map(|c| [c.0, c.1]).collect();
    cuts.extend([0, 1 << 32]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<OwnedRange> = Vec::new();
    let mut active: Vec<(u64, u64, NodeId, u16, u16)> = Vec::new();
    let mut next = 0;
    for w in cuts.windows(2) {
        let (from, to) = (w[0], w[1]);
        active.retain(|c| c.1 > from);
        while next < claims.len() && claims[next].0 <= from {
            active.push(claims[next]);
            next += 1;
        }
        let owners = ordered(&active);
        let (Ok(s), Ok(e)) = (u32::try_from(from), u32::try_from(to - 1)) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.owners == owners => {
                if let Ok(r) = KeyRange::new(last.range.start(), e) {
                    last.range = r;
                }
            }
            _ => {
                if let Ok(range) = KeyRange::new(s, e) {
                    out.push(OwnedRange { range, owners });
                }
            }
        }
    }
    out
}

/// The owners of the claims covering one segment, as lookup answers: one
/// entry per member (its highest priority; on a tie its first claim in
/// (start, end) order), then by priority down and id up.
fn ordered(active: &[(u64, u64, NodeId, u16, u16)]) -> Vec<Owner> {
    let mut by_member: Vec<&(u64, u64, NodeId, u16, u16)> = active.iter().collect();
    by_member.sort_unstable_by_key(|c| (c.2, std::cmp::Reverse(c.3), c.0, c.1));
    by_member.dedup_by_key(|c| c.2);
    let mut out: Vec<Owner> = by_member
        .into_iter()
        .map(|c| Owner {
            member: c.2,
            priority: c.3,
            port: c.4,
        })
        .collect();
    out.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.member.cmp(&b.member)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: lookup at every key of a segment's start, end and
    /// middle, and the segments tile the key space.
    fn check(db: &TopologyDb, group: &str) {
        let parts = owners(db, group);
        let mut next = 0u64;
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(
                u64::from(p.range.start()),
                next,
                "the parts tile the key space"
            );
            next = u64::from(p.range.end()) + 1;
            if i > 0 {
                assert_ne!(parts[i - 1].owners, p.owners, "neighbours differ");
            }
            let mid = p.range.start() + (p.range.end() - p.range.start()) / 2;
            for key in [p.range.start(), mid, p.range.end()] {
                let want: Vec<Owner> = db
                    .lookup(group, key)
                    .into_iter()
                    .map(|s| Owner {
                        member: s.member,
                        priority: s.priority,
                        port: s.port,
                    })
                    .collect();
                assert_eq!(p.owners, want, "key {key:#x}");
            }
        }
        assert_eq!(next, 1 << 32);
    }

    #[test]
    fn an_empty_group_is_one_unowned_range() {
        let db = TopologyDb::new(NodeId::from_u64(1));
        let parts = owners(&db, "g");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range, KeyRange::FULL);
        assert!(parts[0].owners.is_empty());
    }

    proptest! {
        #[test]
        fn every_part_answers_as_lookup_does(
            claims in proptest::collection::vec(
                (1u64..5, 0u32..64, 0u32..64, 0u16..3, 0u16..3), 0..12)
        ) {
            let mut dbs: Vec<TopologyDb> = (1..5).map(|m| TopologyDb::new(NodeId::from_u64(m))).collect();
            for (m, a, b, prio, port) in claims {
                let (s, e) = (a.min(b) << 26, (a.max(b) << 26) | 0x03ff_ffff);
                let db = &mut dbs[usize::try_from(m - 1).unwrap_or(0)];
                let r = KeyRange::new(s, e).map_err(|e| TestCaseError::fail(e.to_string()))?;
                db.claim("g", r, prio, port).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let mut all = TopologyDb::new(NodeId::from_u64(9));
            for db in &dbs {
                if let Some(m) = db.message("g") {
                    all.apply(m);
                }
            }
            check(&all, "g");
        }
    }
}
