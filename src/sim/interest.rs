//! Interest, measured: what a node saves when it joins only the groups it
//! needs (docs/ALGORITHM.md 8.6).
//!
//! One cluster, `groups` groups, run twice from the same seed with the same
//! claims and the same later writes: in run A every node joins exactly one
//! group (node `i` the group `i mod groups`) and claims its range there; in
//! run B every node also joins (`Get`) all the other groups. Each run boots,
//! converges (every member of every group holds exactly the group's
//! writes, a non-member nothing of it but its own: [`Cluster::converged`]),
//! settles, idles, then takes a write every 100 ms (a priority bump of a
//! random node's claim) and must converge again. The traffic of each phase
//! is bytes sent plus received per node per second, as everywhere in the
//! simulator (multicast bytes count at every receiver, member or not).

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{GroupName, KeyRange};
use crate::protocol::{Command, Millis};

use super::cluster::{Cluster, SimConfig, Traffic};

/// What one run of [`interest`] measured.
#[derive(Clone, Debug, Default)]
pub struct InterestRun {
    /// Groups each node joined.
    pub joined: usize,
    /// ms from the first write until converged, if it did.
    pub boot_ms: Option<u64>,
    /// Bytes per node per second (sent + received) from the first write
    /// until converged.
    pub boot_bytes: f64,
    /// At rest, bytes per node per second.
    pub idle_bytes: f64,
    /// During the writes (one every 100 ms), bytes per node per second.
    pub churn_bytes: f64,
    /// ms after the last write until converged again, if it did.
    pub settle_ms: Option<u64>,
    /// Bytes per node over the whole run, sent + received.
    pub total_bytes_per_node: f64,
    /// Simulated seconds of the whole run.
    pub seconds: f64,
    /// Bytes per node per second over the whole run (sent + received).
    pub total_bytes: f64,
    /// The most items any node held at the end.
    pub max_items: usize,
    /// Whether every member of every group held exactly its writes at the
    /// end (and no node held another group's items).
    pub exact: bool,
    /// Invariant violations (must be none).
    pub violations: usize,
    /// What the nodes that did not converge lack (empty if exact).
    pub divergence: String,
}

/// Both runs of [`interest`].
#[derive(Clone, Debug, Default)]
pub struct InterestReport {
    /// Nodes.
    pub nodes: usize,
    /// Subnets.
    pub subnets: usize,
    /// Groups.
    pub groups: usize,
    /// Run A: each node joins one group.
    pub one: InterestRun,
    /// Run B: each node joins every group.
    pub all: InterestRun,
}

impl InterestReport {
    /// Run B's over run A's bytes per node per second over the whole run:
    /// what joining only the group one needs saves.
    #[must_use]
    pub fn ratio(&self) -> f64 {
        self.all.total_bytes / self.one.total_bytes.max(1.0)
    }
}

/// The name of group `k`.
fn group(k: usize) -> GroupName {
    // ok: "g" and a number, valid by inspection (1 to 255 bytes of UTF-8).
    GroupName::new(&format!("g{k}")).expect("a short ASCII group name is valid")
}

/// A distinct range for node `i` of `n`.
fn range_of(i: usize, n: usize) -> KeyRange {
    let width = (u64::from(u32::MAX) + 1) / n.max(1) as u64;
    let start = (i as u64 * width).min(u64::from(u32::MAX));
    let end = (start + width - 1).min(u64::from(u32::MAX));
    KeyRange::new(start as u32, end as u32).unwrap_or(KeyRange::FULL)
}

fn claim(i: usize, n: usize, groups: usize, priority: u16) -> Command {
    Command::Claim {
        group: group(i % groups.max(1)),
        range: range_of(i, n),
        priority,
        port: 8000,
    }
}

fn total(c: &Cluster) -> Traffic {
    (0..c.len()).fold(Traffic::default(), |mut t, i| {
        let x = c.traffic(i);
        t.bytes_in += x.bytes_in;
        t.bytes_out += x.bytes_out;
        t
    })
}

/// Bytes per node per second between two totals.
fn rate(before: Traffic, after: Traffic, nodes: usize, ms: u64) -> f64 {
    let secs = (ms as f64 / 1000.0).max(1e-9);
    let bytes = (after.bytes_in + after.bytes_out - before.bytes_in - before.bytes_out) as f64;
    bytes / nodes.max(1) as f64 / secs
}

/// Runs A (each node joins one of `groups` groups) and B (each joins all),
/// from the same seed with the same claims and writes.
#[must_use]
pub fn interest(cfg: SimConfig, groups: usize) -> InterestReport {
    InterestReport {
        nodes: cfg.nodes,
        subnets: cfg.subnets,
        groups,
        one: run(cfg.clone(), groups, false),
        all: run(cfg, groups, true),
    }
}

fn run(cfg: SimConfig, groups: usize, join_all: bool) -> InterestRun {
    let groups = groups.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x1e7e_5700);
    let n = cfg.nodes;
    let mut c = Cluster::new(cfg);
    let step = 500;
    let limit = 300_000;
    let mut report = InterestRun {
        joined: if join_all { groups } else { 1 },
        ..InterestRun::default()
    };

    // Boot: in a random order over 5 s, each node joins and claims in its
    // group (and, in run B, joins every other group).
    let mut order: Vec<(u64, usize)> = (0..n).map(|i| (rng.next_u64() % 5_000, i)).collect();
    order.sort_unstable();
    let t0 = Millis(1_000);
    c.run_until(t0);
    let start = total(&c);
    for (at, i) in order {
        c.run_until(Millis(1_000 + at));
        c.command(i, Command::Join(group(i % groups)));
        c.command(i, claim(i, n, groups, 1));
        if join_all {
            for k in (0..groups).filter(|k| *k != i % groups) {
                c.command(i, Command::Join(group(k)));
            }
        }
    }
    report.boot_ms = c
        .run_until_converged(step, limit)
        .map(|_| c.now().since(t0));
    report.boot_bytes = rate(start, total(&c), n, c.now().since(t0));

    // Settle, then idle.
    c.run_for(60_000);
    let before = total(&c);
    let idle_ms = 30_000;
    c.run_for(idle_ms);
    report.idle_bytes = rate(before, total(&c), n, idle_ms);

    // A write every 100 ms at a random node: a priority bump of its claim.
    let before = total(&c);
    let churn_ms = 30_000;
    for k in 0..(churn_ms / 100) {
        let i = (rng.next_u64() % n.max(1) as u64) as usize;
        c.command(i, claim(i, n, groups, 2 + (k % 1000) as u16));
        c.run_for(100);
    }
    report.churn_bytes = rate(before, total(&c), n, churn_ms);
    report.settle_ms = c.run_until_converged(step, limit);

    let end = total(&c);
    report.seconds = c.now().since(t0) as f64 / 1000.0;
    report.total_bytes_per_node =
        (end.bytes_in + end.bytes_out - start.bytes_in - start.bytes_out) as f64 / n.max(1) as f64;
    report.total_bytes = report.total_bytes_per_node / report.seconds.max(1e-9);
    report.max_items = (0..n)
        .filter_map(|i| c.chatter(i))
        .map(|ch| ch.sizes().items)
        .max()
        .unwrap_or(0);
    c.check_invariant();
    report.exact = c.converged();
    if !report.exact {
        report.divergence = c.divergence();
    }
    report.violations = c.violations().len();
    report
}
