//! Each group's health as this node sees it, in the numbers an alert rule
//! compares (deploy/prometheus/alerts.yml): members by liveness, keys with
//! no live server, the smallest live replication depth, and an auto
//! group's replication factor R.
//!
//! "Live" is the failure detector's verdict: a server that is suspect or
//! down does not count, this node always does. The depth of a key is the
//! number of distinct live members with a live serve claim on it
//! ([`KeyDepth`]).

use crate::model::{KeyDepth, Kind, TopologyFilter};
use crate::protocol::Chatter;
use crate::wire::Liveness;

/// One group's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupHealth {
    /// The group's name.
    pub group: String,
    /// Members with a live item, by liveness: alive, suspect, down.
    pub members: [u64; 3],
    /// Keys no live member serves.
    pub uncovered_keys: u64,
    /// The fewest live servers over any key (0 when a key is uncovered).
    pub min_live_depth: u32,
    /// An auto group's replication factor R; `None` for a group with no
    /// member in auto mode.
    pub replication_target: Option<u32>,
}

/// The health of every group this node knows, sorted by name.
pub fn group_health(c: &Chatter) -> Vec<GroupHealth> {
    let db = c.db();
    let me = c.identity().id;
    let alive = |m| m == me || c.liveness(m) == Liveness::Alive;
    db.groups()
        .map(|g| {
            let mut members = [0u64; 3];
            for m in db.members(g.as_str()) {
                let slot = match c.liveness(m) {
                    _ if m == me => 0,
                    Liveness::Alive => 0,
                    Liveness::Suspect => 1,
                    Liveness::Down => 2,
                };
                members[slot] += 1;
            }
            let serving = TopologyFilter {
                kind: Some(Kind::Serve),
                live_only: true,
                member: None,
            };
            let depth = KeyDepth::of(
                db.topology(g.as_str(), serving)
                    .filter(|i| alive(i.member()))
                    .map(|i| (i.member(), i.range())),
            );
            let auto = !db.auto_members(g.as_str()).is_empty();
            GroupHealth {
                group: g.to_string(),
                members,
                uncovered_keys: depth.uncovered,
                min_live_depth: depth.min,
                replication_target: auto.then(|| c.config().auto.policy(g).replicas()),
            }
        })
        .collect()
}
