//! The failure detector, measured: how fast a crashed node is marked down
//! by every other node, how often a live node is wrongly suspected or
//! marked down under loss, and whether a restarted node comes back alive
//! with a new incarnation and its own items.
//!
//! This is what the liveness rows of docs/results.md come from (`sim liveness`): the
//! detector's figures are only worth what a lossy, multi-subnet network
//! makes of them, so they are measured here rather than argued.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::NodeId;
use crate::protocol::Millis;
use crate::wire::Liveness;

use super::cluster::{Cluster, SimConfig, Verdict};
use super::scenario::boot_writes;

/// What [`measure_liveness`] found.
#[derive(Clone, Debug, Default)]
pub struct LivenessReport {
    /// Nodes.
    pub nodes: usize,
    /// Datagram loss rate.
    pub loss: f64,
    /// For every (crashed node, live observer): ms from the crash until the
    /// observer marked it down; sorted.
    pub detect_ms: Vec<u64>,
    /// Pairs that had not marked the crashed node down by the limit.
    pub undetected: usize,
    /// Length of the quiet window in which false verdicts were counted (ms).
    pub window_ms: u64,
    /// Suspicions of live nodes in the window (each refuted or not).
    pub false_suspects: usize,
    /// Down verdicts about live nodes in the window.
    pub false_downs: usize,
    /// ms from the restart until every live node saw each restarted node
    /// alive with a new incarnation (the worst of them), if they all did.
    pub restart_ms: Option<u64>,
    /// Whether the cluster held exactly every node's items again after the
    /// restart (the restarted nodes' own items intact).
    pub exact_after_restart: bool,
}

impl LivenessReport {
    /// The `q`-quantile of [`Self::detect_ms`].
    #[must_use]
    pub fn detect_quantile(&self, q: f64) -> Option<u64> {
        if self.detect_ms.is_empty() {
            return None;
        }
        let i = ((self.detect_ms.len() - 1) as f64 * q).round() as usize;
        self.detect_ms.get(i).copied()
    }

    /// Down verdicts about live nodes per observer-hour.
    #[must_use]
    pub fn false_downs_per_node_hour(&self) -> f64 {
        per_node_hour(self.false_downs, self.nodes, self.window_ms)
    }

    /// Suspicions of live nodes per observer-hour.
    #[must_use]
    pub fn false_suspects_per_node_hour(&self) -> f64 {
        per_node_hour(self.false_suspects, self.nodes, self.window_ms)
    }
}

fn per_node_hour(count: usize, nodes: usize, ms: u64) -> f64 {
    let hours = ms as f64 / 3_600_000.0;
    if hours <= 0.0 || nodes == 0 {
        return 0.0;
    }
    count as f64 / nodes as f64 / hours
}

/// Settings of [`measure_liveness`] beyond the cluster's.
#[derive(Clone, Copy, Debug)]
pub struct LivenessRun {
    /// Quiet window in which false verdicts are counted (ms).
    pub window_ms: u64,
    /// How many nodes crash (at least one).
    pub crashes: usize,
    /// How long the crashed nodes stay down before restarting (ms).
    pub down_for: u64,
}

impl Default for LivenessRun {
    fn default() -> Self {
        Self {
            window_ms: 600_000,
            crashes: 2,
            down_for: 120_000,
        }
    }
}

/// Boots a cluster, counts false verdicts in a quiet window, crashes some
/// nodes, times their detection by every live node, restarts them and
/// times their return.
#[must_use]
pub fn measure_liveness(cfg: SimConfig, run: LivenessRun) -> LivenessReport {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x11fe_11fe);
    let mut report = LivenessReport {
        nodes: cfg.nodes,
        loss: cfg.net.loss,
        ..LivenessReport::default()
    };
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 5_000);
    // Boot and learn one another (verdicts while peers are still being
    // discovered are not counted).
    let _ = c.run_until_converged(500, 300_000);
    c.run_for(30_000);

    // Quiet window: every node is alive, so every suspicion is false.
    let from = c.liveness_log.len();
    c.run_for(run.window_ms);
    report.window_ms = run.window_ms;
    for v in c.liveness_log.get(from..).unwrap_or_default() {
        match v.state {
            Liveness::Suspect => report.false_suspects += 1,
            Liveness::Down => report.false_downs += 1,
            Liveness::Alive => {}
        }
    }

    // Crash some nodes at once.
    let n = c.len();
    let crashed = pick(
        &mut rng,
        n,
        run.crashes.clamp(1, n.saturating_sub(1).max(1)),
    );
    let ids: Vec<NodeId> = crashed.iter().map(|&i| c.node_id(i)).collect();
    for &i in &crashed {
        c.crash(i);
    }
    let t_crash = c.now();
    let from = c.liveness_log.len();
    c.run_for(run.down_for);
    let observers: Vec<usize> = (0..n).filter(|i| !crashed.contains(i)).collect();
    let log = c.liveness_log.get(from..).unwrap_or_default();
    for &o in &observers {
        for &id in &ids {
            match first(log, o, id, |v| v.state == Liveness::Down) {
                Some(at) => report.detect_ms.push(at.since(t_crash)),
                None => report.undetected += 1,
            }
        }
    }
    report.detect_ms.sort_unstable();

    // Restart them: everyone must see each alive again with a new
    // incarnation, and the cluster must hold exactly the items again.
    for &i in &crashed {
        c.restart(i);
    }
    let t_restart = c.now();
    let from = c.liveness_log.len();
    let limit = 120_000;
    let mut worst = Some(0);
    while c.now().since(t_restart) < limit {
        c.run_for(500);
        let log = c.liveness_log.get(from..).unwrap_or_default();
        worst = all_saw_restart(log, &observers, &ids, t_restart);
        if worst.is_some() {
            break;
        }
    }
    report.restart_ms = worst;
    report.exact_after_restart = c.run_until_converged(500, 300_000).is_some();
    report
}

/// `k` distinct nodes of `n`, drawn from `rng`.
fn pick(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    while out.len() < k {
        let i = (rng.next_u64() % n.max(1) as u64) as usize;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// How long after `t` the last of `observers` saw the last of `ids` alive
/// with a new incarnation (`None`: not all of them yet).
fn all_saw_restart(log: &[Verdict], observers: &[usize], ids: &[NodeId], t: Millis) -> Option<u64> {
    let mut latest = 0;
    for &o in observers {
        for &id in ids {
            let at = first(log, o, id, |v| v.state == Liveness::Alive && v.restarted)?;
            latest = latest.max(at.since(t));
        }
    }
    Some(latest)
}

/// When `observer` first reached a verdict about `id` that passes `want`.
fn first(
    log: &[Verdict],
    observer: usize,
    id: NodeId,
    want: impl Fn(&Verdict) -> bool,
) -> Option<Millis> {
    log.iter()
        .find(|v| v.observer == observer && v.about == id && want(v))
        .map(|v| v.at)
}
