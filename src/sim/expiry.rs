//! Dead members, measured: a board that dies holding claims is expired by
//! every node once it has been down for the grace period (so `lookup`
//! stops naming it), nothing of it is gossiped back while the nodes expire
//! it at different moments, and when it returns after longer than the
//! grace period it is taken back whole: the cluster converges exactly on
//! its items again. One live node restarts the moment it has expired the
//! dead one, while others may not have yet: its stored marker keeps it from
//! taking the items back from them.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::cluster::{Cluster, SimConfig};
use super::scenario::{GROUP, boot_writes};

/// What [`expiry`] found.
#[derive(Clone, Debug, Default)]
pub struct ExpiryReport {
    /// The grace period used (ms).
    pub grace_ms: u64,
    /// ms from the crash until every live node had expired the dead node,
    /// if they all did.
    pub all_expired_ms: Option<u64>,
    /// Live nodes whose `lookup` still named the dead node at the end of
    /// the wait.
    pub still_listed: usize,
    /// ms from the crash until the observer (node 0) expired the dead node
    /// and was restarted, if it did.
    pub observer_restarted_ms: Option<u64>,
    /// ms from the restart until the cluster held exactly every node's
    /// items again, if it did.
    pub back_ms: Option<u64>,
    /// Coverage invariant violations (must be none).
    pub violations: usize,
}

/// Boots a cluster with a `grace_ms` expiry, crashes one node for
/// `down_ms` (longer than the grace period), restarts it.
#[must_use]
pub fn expiry(mut cfg: SimConfig, grace_ms: u64, down_ms: u64) -> ExpiryReport {
    cfg.protocol.expire_after = grace_ms;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xdead_0000);
    let mut report = ExpiryReport {
        grace_ms,
        ..ExpiryReport::default()
    };
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 2_000);
    let _ = c.run_until_converged(500, 120_000);
    c.run_for(10_000);

    let dead = c.len().saturating_sub(1);
    let dead_id = c.node_id(dead);
    c.crash(dead);
    let t0 = c.now();
    while c.now().since(t0) < down_ms {
        c.run_for(1_000);
        c.check_invariant();
        if report.observer_restarted_ms.is_none()
            && c.chatter(0)
                .is_some_and(|ch| ch.db().expired_upto(dead_id) > 0)
        {
            c.crash(0);
            c.restart(0);
            report.observer_restarted_ms = Some(c.now().since(t0));
        }
        let all = (0..c.len())
            .filter(|&i| i != dead)
            .filter_map(|i| c.chatter(i))
            .all(|ch| ch.db().expired_upto(dead_id) > 0);
        if all && report.all_expired_ms.is_none() {
            report.all_expired_ms = Some(c.now().since(t0));
        }
    }
    report.still_listed = (0..c.len())
        .filter(|&i| i != dead)
        .filter_map(|i| c.chatter(i))
        .filter(|ch| {
            ch.db()
                .message(GROUP)
                .is_some_and(|m| m.items().member_items(dead_id).iter().any(|i| i.live()))
        })
        .count();
    c.restart(dead);
    report.back_ms = c.run_until_converged(500, 300_000);
    c.check_invariant();
    report.violations = c.violations().len();
    report
}
