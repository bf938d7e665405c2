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
use crate::node::request::GroupHealthView;
use crate::protocol::Chatter;
use crate::wire::Liveness;

/// Number of keys in the key space.
const KEYS: f64 = 4_294_967_296.0;

/// The health of every group this node knows, sorted by name.
pub fn group_health(c: &Chatter) -> Vec<GroupHealthView> {
    let db = c.db();
    let me = c.identity().id;
    let alive = |m| m == me || c.liveness(m) == Liveness::Alive;
    db.groups()
        .map(|g| {
            let mut v = GroupHealthView {
                group: g.to_string(),
                ..GroupHealthView::default()
            };
            for m in db.members(g.as_str()) {
                match c.liveness(m) {
                    _ if m == me => v.alive += 1,
                    Liveness::Alive => v.alive += 1,
                    Liveness::Suspect => v.suspect += 1,
                    Liveness::Down => v.down += 1,
                }
            }
            let serving = |member| TopologyFilter {
                kind: Some(Kind::Serve),
                live_only: true,
                member,
            };
            let depth = KeyDepth::of(
                db.topology(g.as_str(), serving(None))
                    .filter(|i| alive(i.member()))
                    .map(|i| (i.member(), i.range())),
            );
            v.uncovered_keys = depth.uncovered;
            v.min_live_depth = depth.min;
            let auto = db.auto_members(g.as_str());
            if !auto.is_empty() {
                let r = c.config().auto.policy(g).replicas();
                v.replication_target = Some(r);
                let total: f64 = auto.iter().map(|m| f64::from(m.1)).sum();
                if let Some(&(_, weight, _)) = auto.iter().find(|m| m.0 == me) {
                    let fair = (f64::from(r) * f64::from(weight) / total.max(1.0)).min(1.0) * KEYS;
                    let mine = KeyDepth::of(
                        db.topology(g.as_str(), serving(Some(me)))
                            .map(|i| (i.member(), i.range())),
                    );
                    let keys = KEYS - mine.uncovered as f64;
                    v.auto_share_ratio = Some(if fair > 0.0 { keys / fair } else { 0.0 });
                }
            }
            v
        })
        .collect()
}
