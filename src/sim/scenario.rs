//! Scenarios: what happens to a simulated cluster, and what is measured.
//!
//! [`measure`] is the benchmark behind the tables of docs/results.md: boot a cluster
//! (every node joins a group and claims a range), measure idle traffic, time
//! single writes until every node holds them, measure traffic during churn,
//! restart 10% of the nodes and time their recovery, then check the end
//! state. [`faults`] is the correctness run CI uses: loss, duplication,
//! reordering, a partition that heals, one-way multicast, crashes and
//! restarts, late joiners, with the coverage invariant checked throughout
//! and exact convergence required within a bound of simulated time.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{GroupName, KeyRange};
use crate::protocol::{Command, Millis};

use super::cluster::{Cluster, SimConfig, Traffic};

/// The group every scenario uses.
pub const GROUP: &str = "demo";

/// Results of [`measure`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// Subnets.
    pub subnets: usize,
    /// Datagram loss rate.
    pub loss: f64,
    /// Time until the booted cluster converged (ms), if it did.
    pub boot_ms: Option<u64>,
    /// Delays of single writes until every node held them (ms), sorted.
    pub write_delays: Vec<u64>,
    /// Writes that had not reached everyone when measuring stopped.
    pub writes_lost: usize,
    /// Idle traffic per node: bytes/s sent plus received.
    pub idle_bytes: f64,
    /// Idle traffic per node: frames/s sent plus received.
    pub idle_frames: f64,
    /// Traffic per node during churn (a write every 100 ms): bytes/s.
    pub churn_bytes: f64,
    /// Traffic per node during churn: frames/s.
    pub churn_frames: f64,
    /// Time until converged after restarting 10% of the nodes (ms).
    pub restart_ms: Option<u64>,
    /// Traffic per node while the restarted nodes caught up: bytes/s.
    pub restart_bytes: f64,
    /// Most TCP connections any node had open at once.
    pub max_conns: usize,
    /// Mean over nodes of their most connections at once.
    pub mean_conns: f64,
    /// Whether the end state was exact on every node.
    pub exact: bool,
    /// Invariant violations (must be empty).
    pub violations: Vec<String>,
    /// Trace hash of the run.
    pub trace: u64,
    /// Frames sent during churn, by kind, summed over nodes.
    pub churn_kinds: Vec<(&'static str, u64)>,
    /// Frames sent at rest, by kind, summed over nodes.
    pub idle_kinds: Vec<(&'static str, u64)>,
    /// Drops by reason over the whole run.
    pub drops: Vec<(&'static str, u64)>,
}

fn kinds_delta(
    before: &std::collections::BTreeMap<&'static str, u64>,
    after: &std::collections::BTreeMap<&'static str, u64>,
) -> Vec<(&'static str, u64)> {
    after
        .iter()
        .map(|(k, v)| (*k, v.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .collect()
}

impl Report {
    /// The `q`-quantile of the write delays (ms).
    #[must_use]
    pub fn delay_quantile(&self, q: f64) -> Option<u64> {
        if self.write_delays.is_empty() {
            return None;
        }
        let i = ((self.write_delays.len() - 1) as f64 * q).round() as usize;
        self.write_delays.get(i).copied()
    }
}

fn total(c: &Cluster) -> Traffic {
    (0..c.len()).fold(Traffic::default(), |mut t, i| {
        let x = c.traffic(i);
        t.bytes_in += x.bytes_in;
        t.bytes_out += x.bytes_out;
        t.frames_in += x.frames_in;
        t.frames_out += x.frames_out;
        t
    })
}

/// Per node per second, sent plus received, between two totals.
fn rate(before: Traffic, after: Traffic, nodes: usize, ms: u64) -> (f64, f64) {
    let secs = (ms as f64 / 1000.0).max(1e-9);
    let n = nodes.max(1) as f64;
    let bytes = (after.bytes_in + after.bytes_out - before.bytes_in - before.bytes_out) as f64;
    let frames = (after.frames_in + after.frames_out - before.frames_in - before.frames_out) as f64;
    (bytes / n / secs, frames / n / secs)
}

/// A distinct range for node `i` of `n`.
fn range_of(i: usize, n: usize) -> KeyRange {
    let width = (u64::from(u32::MAX) + 1) / n.max(1) as u64;
    let start = (i as u64 * width).min(u64::from(u32::MAX));
    let end = (start + width - 1).min(u64::from(u32::MAX));
    KeyRange::new(start as u32, end as u32).unwrap_or(KeyRange::FULL)
}

pub(super) fn group() -> GroupName {
    // ok: a constant, valid by inspection (1 to 255 bytes of UTF-8).
    GroupName::new(GROUP).expect("the scenario group name is valid")
}

/// Every node joins the group and claims its range, spread over `spread` ms.
pub(super) fn boot_writes(c: &mut Cluster, rng: &mut ChaCha8Rng, spread: u64) {
    let n = c.len();
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| (rng.next_u64() % spread.max(1), i))
        .collect();
    order.sort_unstable();
    for (at, i) in order {
        c.run_until(Millis(1000 + at));
        join_and_claim(c, i);
    }
}

/// Node `i` joins the scenario's group and claims its slice of the keys.
pub(super) fn join_and_claim(c: &mut Cluster, i: usize) {
    let n = c.len();
    c.command(i, Command::Join(group()));
    c.command(
        i,
        Command::Claim {
            group: group(),
            range: range_of(i, n),
            priority: 1,
            port: 8000,
        },
    );
}

/// A random live node.
pub(super) fn random_alive(c: &Cluster, rng: &mut ChaCha8Rng) -> Option<usize> {
    for _ in 0..64 {
        let i = (rng.next_u64() % c.len().max(1) as u64) as usize;
        if c.alive(i) {
            return Some(i);
        }
    }
    (0..c.len()).find(|&i| c.alive(i))
}

/// A write at node `i` that changes something: a priority bump of its claim.
pub(super) fn bump(c: &mut Cluster, i: usize, k: u64) {
    let n = c.len();
    c.command(
        i,
        Command::Claim {
            group: group(),
            range: range_of(i, n),
            priority: 2 + (k % 1000) as u16,
            port: 8000,
        },
    );
}

/// The benchmark run behind the tables of docs/results.md.
#[must_use]
pub fn measure(cfg: SimConfig) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x005c_a1e5_ca11);
    let nodes = cfg.nodes;
    let mut report = Report {
        nodes,
        subnets: cfg.subnets,
        loss: cfg.net.loss,
        ..Report::default()
    };
    let mut c = Cluster::new(cfg);
    let step = 500;
    let limit = 600_000;

    // Boot.
    boot_writes(&mut c, &mut rng, 5_000);
    let t0 = Millis(1000);
    report.boot_ms = c
        .run_until_converged(step, limit)
        .map(|_| c.now().since(t0));
    c.write_delays.clear();

    // Settle (islands learn each other's representatives), then idle.
    c.run_for(60_000);
    let before = total(&c);
    let kinds = c.frames_by_kind();
    let idle_ms = 30_000;
    c.run_for(idle_ms);
    (report.idle_bytes, report.idle_frames) = rate(before, total(&c), nodes, idle_ms);
    report.idle_kinds = kinds_delta(&kinds, &c.frames_by_kind());

    single_writes(&mut c, &mut rng, &mut report);
    churn(&mut c, &mut rng, &mut report);
    let _ = c.run_until_converged(step, limit);
    restart_tenth(&mut c, &mut rng, &mut report, (step, limit));

    report.max_conns = (0..nodes).map(|i| c.max_conns(i)).max().unwrap_or(0);
    report.mean_conns =
        (0..nodes).map(|i| c.max_conns(i)).sum::<usize>() as f64 / nodes.max(1) as f64;
    c.check_invariant();
    report.exact = c.converged();
    report.violations = c.violations().to_vec();
    report.trace = c.trace_hash();
    report.drops = c.drops().into_iter().collect();
    report
}

/// Single writes, one at a time: each one's delay until all hold it.
fn single_writes(c: &mut Cluster, rng: &mut ChaCha8Rng, report: &mut Report) {
    for k in 0..20u64 {
        if let Some(i) = random_alive(c, rng) {
            bump(c, i, k);
        }
        let deadline = c.now().plus(60_000);
        while c.writes_in_flight() > 0 && c.now() < deadline {
            c.run_for(10);
        }
        report.writes_lost += c.writes_in_flight();
        c.run_for(1_000);
    }
    report.write_delays = std::mem::take(&mut c.write_delays);
    report.write_delays.sort_unstable();
}

/// Churn: a write every 100 ms for 30 s; the traffic meanwhile.
fn churn(c: &mut Cluster, rng: &mut ChaCha8Rng, report: &mut Report) {
    let before = total(c);
    let kinds = c.frames_by_kind();
    let churn_ms = 30_000;
    for k in 0..(churn_ms / 100) {
        if let Some(i) = random_alive(c, rng) {
            bump(c, i, 1000 + k);
        }
        c.run_for(100);
    }
    (report.churn_bytes, report.churn_frames) = rate(before, total(c), report.nodes, churn_ms);
    report.churn_kinds = kinds_delta(&kinds, &c.frames_by_kind());
}

/// Restart 10% of the nodes: the time until converged again and the
/// traffic meanwhile.
fn restart_tenth(
    c: &mut Cluster,
    rng: &mut ChaCha8Rng,
    report: &mut Report,
    (step, limit): (u64, u64),
) {
    let nodes = report.nodes;
    let victims: Vec<usize> = (0..nodes).filter(|_| rng.next_u64() % 10 == 0).collect();
    for &v in &victims {
        c.crash(v);
    }
    c.run_for(5_000);
    let before = total(c);
    let t = c.now();
    for &v in &victims {
        c.restart(v);
    }
    report.restart_ms = c.run_until_converged(step, limit);
    let spent = c.now().since(t).max(1);
    (report.restart_bytes, _) = rate(before, total(c), nodes, spent);
}

/// Which faults [`faults`] injects.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Cut a third of the nodes off for a while, then heal.
    pub partition: bool,
    /// Crash and restart some nodes.
    pub restarts: bool,
    /// Make some nodes deaf to some peers' multicast (one-way reachability).
    pub one_way: bool,
    /// Start some nodes late.
    pub late_joiners: bool,
    /// Writes to make during the run.
    pub writes: usize,
    /// Simulated time allowed to converge after the last fault (ms).
    pub bound_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            partition: true,
            restarts: true,
            one_way: true,
            late_joiners: true,
            writes: 60,
            bound_ms: 120_000,
        }
    }
}

/// The outcome of a [`faults`] run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Time to converge after the last fault (ms), if within the bound.
    pub converged_ms: Option<u64>,
    /// Invariant violations (must be empty).
    pub violations: Vec<String>,
    /// What diverged, if it did not converge.
    pub divergence: String,
    /// Hash of the whole trace.
    pub trace: u64,
    /// Events processed.
    pub events: u64,
    /// Durable writes made.
    pub writes: u64,
}

/// Before the boot of [`faults`]: the one-way multicast blocks and the
/// late joiners (down until a third of the writes), as `f` asks; returns
/// the late joiners.
fn prepare(c: &mut Cluster, rng: &mut ChaCha8Rng, f: &Faults) -> Vec<usize> {
    let n = c.len();
    if f.one_way {
        // A few receivers go deaf to a few senders' multicast.
        for _ in 0..n.div_ceil(5) {
            let a = (rng.next_u64() % n as u64) as usize;
            let b = (rng.next_u64() % n as u64) as usize;
            c.net_mut().block_multicast(a, b);
        }
    }
    let late: Vec<usize> = if f.late_joiners {
        (0..n).filter(|_| rng.next_u64() % 8 == 0).collect()
    } else {
        Vec::new()
    };
    for &i in &late {
        c.crash(i);
    }
    late
}

/// The correctness run: faults throughout, checks throughout, exact
/// convergence within `faults.bound_ms` of simulated time.
#[must_use]
pub fn faults(cfg: SimConfig, f: &Faults) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xfa17);
    let n = cfg.nodes;
    let mut c = Cluster::new(cfg);
    let late = prepare(&mut c, &mut rng, f);
    boot_writes(&mut c, &mut rng, 3_000);
    let mut k = 0u64;
    let steps = f.writes.max(1);
    for s in 0..steps {
        // A random write: bump, release-and-reclaim, leave, rejoin.
        if let Some(i) = random_alive(&c, &mut rng) {
            match rng.next_u64() % 5 {
                0 => c.command(i, Command::Leave(group())),
                1 => c.command(i, Command::Join(group())),
                _ => bump(&mut c, i, k),
            }
            k += 1;
        }
        c.run_for(250 + rng.next_u64() % 500);
        if f.partition && s == steps / 4 {
            let cut: Vec<usize> = (0..n).filter(|i| i % 3 == 0).collect();
            c.net_mut().partition(cut);
        }
        if f.partition && s == steps / 2 {
            c.net_mut().heal();
        }
        if f.restarts && s % 10 == 5 {
            let v = (rng.next_u64() % n as u64) as usize;
            c.crash(v);
            c.run_for(rng.next_u64() % 3_000);
            c.restart(v);
        }
        if s == steps / 3 {
            for &i in &late {
                c.restart(i);
            }
        }
    }
    c.net_mut().heal();
    let converged_ms = c.run_until_converged(250, f.bound_ms);
    c.check_invariant();
    Outcome {
        converged_ms,
        violations: c.violations().to_vec(),
        divergence: if converged_ms.is_none() {
            c.divergence()
        } else {
            String::new()
        },
        trace: c.trace_hash(),
        events: c.events_run(),
        writes: c.truth().writes,
    }
}
