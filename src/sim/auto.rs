//! Auto-claim, proven in the protocol: real Chatter nodes in auto mode for
//! one group go through a boot, a crash that outlasts the hold-down, the
//! crashed node's return, a newcomer and (optionally) a leave, and after
//! each event the run measures what issue 10 promises against global truth.
//!
//! The pure algorithm has its own tests (`tests/auto_claim_*.rs`); this is
//! the same algorithm driven by [`crate::protocol::AutoMode`] inside every
//! node, deciding from gossiped, lossy, divergent views and liveness
//! verdicts. Global truth is what the running nodes themselves serve: the
//! live `Serve` items in each running node's own state. Per event:
//!
//! - time until every slice is served by at least R running nodes and every
//!   node's view agrees (converged), and until every slice is held by
//!   exactly its targets (the nominal owners among the running nodes);
//! - the slice-replicas added and removed, against the fewest that the
//!   event forces (a crash: the dead node's load; a newcomer: its fair
//!   share);
//! - the weight-normalised max/mean load once settled;
//! - the lowest coverage sampled while it settles, over slices that kept a
//!   running holder: below R − 1 is a violation of the make-before-break
//!   promise;
//! - durable writes after settling (churn: must be none).

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{KeyRange, Kind, NodeId};
use crate::protocol::auto_claim::{Assignment, Member, Policy, group_salt, slices};
use crate::protocol::{AutoConfig, Command, Millis};

use super::cluster::{Cluster, SimConfig};
use super::scenario::{GROUP, group};

/// Settings of [`auto`] beyond the cluster's.
#[derive(Clone, Copy, Debug)]
pub struct AutoRun {
    /// The group's policy (R and slices).
    pub policy: Policy,
    /// Hold-down (ms): a down member counts as present this long.
    pub hold_down: u64,
    /// Every `heavy_every`-th node (index `k * heavy_every - 1`) has weight
    /// 2, the others 1; 0: all weight 1.
    pub heavy_every: usize,
    /// Coverage is sampled this often (ms of simulated time).
    pub sample_ms: u64,
    /// Longest wait for one event to settle (ms).
    pub limit_ms: u64,
    /// How long the settled state is watched for churn (ms).
    pub quiet_ms: u64,
    /// Whether a node leaves the group at the end.
    pub leave: bool,
}

impl Default for AutoRun {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            hold_down: 15_000,
            heavy_every: 4,
            sample_ms: 200,
            limit_ms: 300_000,
            quiet_ms: 10_000,
            leave: true,
        }
    }
}

impl AutoRun {
    /// The weight of node `i`.
    #[must_use]
    pub const fn weight(&self, i: usize) -> u16 {
        if self.heavy_every > 0 && i % self.heavy_every == self.heavy_every - 1 {
            2
        } else {
            1
        }
    }
}

/// Slices served per node index: `None` for a node that is not running.
pub type Holdings = Vec<Option<Vec<u32>>>;

/// What one event did.
#[derive(Clone, Debug, Default)]
pub struct AutoPhase {
    /// The event.
    pub name: String,
    /// ms until every slice had R running holders and every view agreed.
    pub covered_ms: Option<u64>,
    /// ms until every slice was held by exactly its targets, views agreed.
    pub settled_ms: Option<u64>,
    /// Slice-replicas added (a (slice, holder) pair that appeared).
    pub added: usize,
    /// Slice-replicas removed.
    pub removed: usize,
    /// The fewest slice-replicas the event forces to be added.
    pub minimum: f64,
    /// All slice-replicas: slices × R.
    pub total: usize,
    /// Weight-normalised max/mean load of the running auto nodes at the end.
    pub max_load: f64,
    /// The same figure for the nominal assignment (the algorithm alone).
    pub nominal_max_load: f64,
    /// Lowest number of running holders of a slice that kept one, sampled
    /// while settling (`None`: not tracked, as at boot).
    pub min_coverage: Option<usize>,
    /// (sample, slice) pairs below R − 1 among those.
    pub below: usize,
    /// Durable writes while settling.
    pub writes: u64,
    /// Durable writes in the quiet window after settling.
    pub quiet_writes: u64,
    /// Most items (live claims, released claims, the marker) one running
    /// node has written in the group, at the end: the model refuses a
    /// member's updates past [`crate::model::Caps::items_per_member`].
    pub max_items: usize,
    /// Most live claimed ranges of one running node at the end.
    pub max_ranges: usize,
    /// When it did not settle: the start of what the nodes lack.
    pub unsettled: String,
    /// Holdings at the end.
    pub holdings: Holdings,
    /// Holdings at the first sample with the lowest coverage, if tracked.
    pub at_lowest: Option<Holdings>,
}

/// What [`auto`] found.
#[derive(Clone, Debug, Default)]
pub struct AutoReport {
    /// Nodes (the newcomer included).
    pub nodes: usize,
    /// Subnets.
    pub subnets: usize,
    /// Datagram loss rate.
    pub loss: f64,
    /// Replication factor.
    pub replicas: u32,
    /// Slices.
    pub slices: u32,
    /// Hold-down (ms).
    pub hold_down: u64,
    /// Weight of every node.
    pub weights: Vec<u16>,
    /// The events, in order.
    pub phases: Vec<AutoPhase>,
    /// Coverage-invariant and other simulator violations.
    pub violations: usize,
    /// Trace hash of the run.
    pub trace: u64,
    /// Simulated time of the whole run (ms).
    pub sim_ms: u64,
    /// Events processed.
    pub events: u64,
}

impl AutoReport {
    /// Whether every event settled with no coverage violation and no churn.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.violations == 0
            && self
                .phases
                .iter()
                .all(|p| p.settled_ms.is_some() && p.below == 0 && p.quiet_writes == 0)
    }
}

/// The slices node `i` serves in the group, from its own state.
fn served(c: &Cluster, i: usize, policy: &Policy) -> Option<Vec<u32>> {
    let ch = c.chatter(i)?;
    let ranges: Vec<KeyRange> = ch
        .db()
        .own_items()
        .into_iter()
        .filter(|(g, it)| g.as_str() == GROUP && it.kind() == Kind::Serve && it.live())
        .map(|(_, it)| it.range())
        .collect();
    Some(slices::covered(policy, &ranges))
}

/// Every node's served slices now.
#[must_use]
pub fn holdings(c: &Cluster, policy: &Policy) -> Holdings {
    (0..c.len()).map(|i| served(c, i, policy)).collect()
}

/// Per slice, the running nodes serving it (ascending indices).
fn per_slice(h: &Holdings, policy: &Policy) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); policy.slices() as usize];
    for (i, held) in h.iter().enumerate() {
        for &s in held.iter().flatten() {
            if let Some(v) = out.get_mut(s as usize) {
                v.push(i);
            }
        }
    }
    out
}

/// The group's auto members as a running node sees them (all views agree
/// once converged, which every verdict below also requires).
fn members(c: &Cluster) -> Vec<Member> {
    (0..c.len())
        .find_map(|i| c.chatter(i))
        .map(|ch| {
            ch.db()
                .auto_members(GROUP)
                .iter()
                .map(|&(id, weight, _)| Member {
                    id,
                    weight: u32::from(weight),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The nominal assignment of the current members, recomputed on change.
struct Nominal {
    policy: Policy,
    cache: Option<(Vec<Member>, Assignment)>,
}

impl Nominal {
    fn get(&mut self, members: Vec<Member>) -> &Assignment {
        if self.cache.as_ref().is_some_and(|(m, _)| *m != members) {
            self.cache = None;
        }
        let policy = self.policy;
        &self
            .cache
            .get_or_insert_with(|| {
                let a = Assignment::compute(policy, group_salt(GROUP), &members);
                (members, a)
            })
            .1
    }
}

/// Whether every slice is held by exactly its targets among running nodes.
fn on_target(c: &Cluster, nominal: &mut Nominal, per: &[Vec<usize>]) -> bool {
    let running: BTreeMap<NodeId, usize> = (0..c.len())
        .filter(|&i| c.alive(i))
        .map(|i| (c.node_id(i), i))
        .collect();
    let a = nominal.get(members(c));
    per.iter().enumerate().all(|(s, holders)| {
        let s = u32::try_from(s).unwrap_or(u32::MAX);
        let mut t: Vec<usize> = a
            .targets(s, |id| running.contains_key(&id))
            .iter()
            .filter_map(|id| running.get(id).copied())
            .collect();
        t.sort_unstable();
        t == *holders
    })
}

/// Max/mean of load ÷ weight over `(load, weight)` pairs with a weight.
fn max_over_mean(loads: &[(f64, f64)]) -> f64 {
    let per: Vec<f64> = loads
        .iter()
        .filter(|(_, w)| *w > 0.0)
        .map(|(l, w)| l / w)
        .collect();
    if per.is_empty() {
        return 0.0;
    }
    let mean = per.iter().sum::<f64>() / per.len() as f64;
    let max = per.iter().copied().fold(0.0, f64::max);
    if mean > 0.0 { max / mean } else { 0.0 }
}

/// A running scenario: the cluster and what the phases share.
struct Run<'a> {
    c: Cluster,
    run: &'a AutoRun,
    nominal: Nominal,
}

impl Run<'_> {
    fn r(&self) -> usize {
        self.run.policy.replicas() as usize
    }

    /// Fair share (slice-replicas) of node `i` among the running auto
    /// members.
    fn fair_share(&self, i: usize) -> f64 {
        let id = self.c.node_id(i);
        let ms = members(&self.c);
        let running: Vec<&Member> = ms
            .iter()
            .filter(|m| (0..self.c.len()).any(|j| self.c.alive(j) && self.c.node_id(j) == m.id))
            .collect();
        let total: u32 = running.iter().map(|m| m.weight).sum();
        let mine = running.iter().find(|m| m.id == id).map_or(0, |m| m.weight);
        if total == 0 {
            return 0.0;
        }
        f64::from(self.run.policy.slices()) * self.r() as f64 * f64::from(mine) / f64::from(total)
    }

    /// Waits until settled after an event (the state just before it was
    /// `before`), sampling coverage when `track`.
    fn settle(&mut self, name: String, before: &Holdings, track: bool, minimum: f64) -> AutoPhase {
        let policy = self.run.policy;
        let r = self.r();
        let t0 = self.c.now();
        let w0 = self.c.truth().writes;
        let before_per = per_slice(before, &policy);
        let mut phase = AutoPhase {
            name,
            minimum,
            total: policy.slices() as usize * r,
            ..AutoPhase::default()
        };
        loop {
            self.c.run_for(self.run.sample_ms.max(1));
            let h = holdings(&self.c, &policy);
            let per = per_slice(&h, &policy);
            if track {
                self.track_coverage(&mut phase, (&h, &per), &before_per);
            }
            let elapsed = self.c.now().since(t0);
            let full = per.iter().all(|v| v.len() >= r);
            let exact = full && on_target(&self.c, &mut self.nominal, &per);
            if full && (phase.covered_ms.is_none() || exact) && self.c.converged() {
                phase.covered_ms.get_or_insert(elapsed);
                if exact {
                    phase.settled_ms = Some(elapsed);
                    break;
                }
            }
            if elapsed >= self.run.limit_ms {
                break;
            }
        }
        if phase.settled_ms.is_none() {
            phase.unsettled = self
                .c
                .divergence()
                .lines()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n");
        }
        phase.writes = self.c.truth().writes - w0;
        let w1 = self.c.truth().writes;
        self.c.run_for(self.run.quiet_ms);
        phase.quiet_writes = self.c.truth().writes - w1;
        self.c.check_invariant();

        let h = holdings(&self.c, &policy);
        self.movement_and_load(&mut phase, &h, &before_per);
        phase.holdings = h;
        phase
    }

    /// One sample of coverage while settling: the lowest count of running
    /// holders of any slice that kept one (and the holdings then), and the
    /// samples below R − 1.
    fn track_coverage(
        &self,
        phase: &mut AutoPhase,
        (h, per): (&Holdings, &[Vec<usize>]),
        before_per: &[Vec<usize>],
    ) {
        let r = self.r();
        for (s, holders) in per.iter().enumerate() {
            let kept = before_per
                .get(s)
                .is_some_and(|b| b.iter().any(|&i| self.c.alive(i)));
            if !kept {
                continue;
            }
            let n = holders.len();
            if phase.min_coverage.is_none_or(|m| n < m) {
                phase.min_coverage = Some(n);
                phase.at_lowest = Some(h.clone());
            }
            if n + 1 < r {
                phase.below += 1;
            }
        }
    }

    /// Once settled (`h`): slice-replicas moved since `before_per`, the load
    /// against the nominal assignment's, and the largest own tables.
    fn movement_and_load(
        &mut self,
        phase: &mut AutoPhase,
        h: &Holdings,
        before_per: &[Vec<usize>],
    ) {
        let after_per = per_slice(h, &self.run.policy);
        for (b, a) in before_per.iter().zip(&after_per) {
            phase.added += a.iter().filter(|i| !b.contains(i)).count();
            phase.removed += b.iter().filter(|i| !a.contains(i)).count();
        }
        let ms = members(&self.c);
        let weight_of = |id: NodeId| ms.iter().find(|m| m.id == id).map(|m| m.weight);
        let loads: Vec<(f64, f64)> = h
            .iter()
            .enumerate()
            .filter_map(|(i, held)| {
                let w = weight_of(self.c.node_id(i))?;
                held.as_ref().map(|v| (v.len() as f64, f64::from(w)))
            })
            .collect();
        phase.max_load = max_over_mean(&loads);
        let running: Vec<NodeId> = (0..self.c.len())
            .filter(|&i| self.c.alive(i))
            .map(|i| self.c.node_id(i))
            .collect();
        let a = self.nominal.get(ms.clone());
        let nominal: Vec<(f64, f64)> = ms
            .iter()
            .filter(|m| running.contains(&m.id))
            .map(|m| (f64::from(a.load(m.id)), f64::from(m.weight)))
            .collect();
        phase.nominal_max_load = max_over_mean(&nominal);
        for i in 0..self.c.len() {
            if let Some(ch) = self.c.chatter(i) {
                let own = ch.db().own_items();
                let mine = own.iter().filter(|(g, _)| g.as_str() == GROUP);
                phase.max_items = phase.max_items.max(mine.clone().count());
                let ranges = mine
                    .filter(|(_, it)| it.kind() == Kind::Serve && it.live())
                    .count();
                phase.max_ranges = phase.max_ranges.max(ranges);
            }
        }
    }

    /// All slice-replicas: R per slice.
    fn total(&self) -> f64 {
        f64::from(self.run.policy.slices()) * self.r() as f64
    }

    /// (a) Boot: every node but the newcomer enters auto mode within 2 s.
    fn boot(&mut self, rng: &mut ChaCha8Rng, newcomer: usize, phases: &mut Vec<AutoPhase>) {
        self.c.run_until(Millis(1_000));
        let empty: Holdings = vec![None; self.c.len()];
        let mut order: Vec<(u64, usize)> =
            (0..newcomer).map(|i| (rng.next_u64() % 2_000, i)).collect();
        order.sort_unstable();
        for (at, i) in order {
            self.c.run_until(Millis(1_000 + at));
            self.auto_on(i);
        }
        let total = self.total();
        phases.push(self.settle("boot".to_owned(), &empty, false, total));
    }

    /// (b) A crash of `v` that outlasts the hold-down, and (c) its return
    /// with its persisted claims.
    fn crash_and_return(&mut self, v: usize, phases: &mut Vec<AutoPhase>) {
        let policy = self.run.policy;
        let before = holdings(&self.c, &policy);
        self.c.crash(v);
        let name = format!("crash of node {v} (w {})", self.run.weight(v));
        phases.push(self.settle(name, &before, true, Self::load(&before, v)));

        let before = holdings(&self.c, &policy);
        self.c.restart(v);
        let name = format!("restart of node {v}");
        // Its fair share is known once it is running again.
        let minimum = self.fair_share(v);
        phases.push(self.settle(name, &before, true, minimum));
    }

    /// (d) A newcomer.
    fn join(&mut self, newcomer: usize, phases: &mut Vec<AutoPhase>) {
        let before = holdings(&self.c, &self.run.policy);
        self.c.restart(newcomer);
        self.auto_on(newcomer);
        let w = self.run.weight(newcomer);
        let name = format!("join of node {newcomer} (w {w})");
        // Its marker is not gossiped yet: its share among the others plus it.
        let ms = members(&self.c);
        let running_w: u32 = ms
            .iter()
            .filter(|m| (0..self.c.len()).any(|j| self.c.alive(j) && self.c.node_id(j) == m.id))
            .map(|m| m.weight)
            .sum::<u32>()
            + u32::from(w);
        let minimum = self.total() * f64::from(w) / f64::from(running_w.max(1));
        phases.push(self.settle(name, &before, true, minimum));
    }

    /// (e) A leave: graceful for an auto member (its marker first, its
    /// ranges once the others hold them).
    fn leave(&mut self, l: usize, phases: &mut Vec<AutoPhase>) {
        let before = holdings(&self.c, &self.run.policy);
        self.c.command(l, Command::Leave(group()));
        let name = format!("leave of node {l} (w {})", self.run.weight(l));
        phases.push(self.settle(name, &before, true, Self::load(&before, l)));
    }

    fn auto_on(&mut self, i: usize) {
        let weight = self.run.weight(i);
        self.c.command(
            i,
            Command::Auto {
                group: group(),
                weight,
                priority: Some(1),
                port: 8000,
            },
        );
    }

    fn load(h: &Holdings, i: usize) -> f64 {
        h.get(i)
            .and_then(Option::as_ref)
            .map_or(0.0, |v| v.len() as f64)
    }
}

/// Runs the scenario (see the module docs). Node `nodes - 1` is the
/// newcomer: it is not started until the join. The crashed and the leaving
/// node are chosen by the seed among the nodes that are no seed address.
#[must_use]
pub fn auto(mut cfg: SimConfig, run: &AutoRun) -> AutoReport {
    cfg.protocol.auto = AutoConfig {
        policies: vec![(group(), run.policy)],
        hold_down: run.hold_down,
        ..AutoConfig::default()
    };
    let n = cfg.nodes;
    let subnets = cfg.subnets.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0a07_0c1a_1111);
    let mut report = AutoReport {
        nodes: n,
        subnets,
        loss: cfg.net.loss,
        replicas: run.policy.replicas(),
        slices: run.policy.slices(),
        hold_down: run.hold_down,
        weights: (0..n).map(|i| run.weight(i)).collect(),
        ..AutoReport::default()
    };
    let mut s = Run {
        c: Cluster::new(cfg),
        run,
        nominal: Nominal {
            policy: run.policy,
            cache: None,
        },
    };
    let newcomer = n.saturating_sub(1);
    // Nodes that are not the first of a subnet (the others' seeds).
    let plain: Vec<usize> = (subnets..newcomer).collect();
    let pick = |rng: &mut ChaCha8Rng, not: Option<usize>| {
        let pool: Vec<usize> = plain.iter().copied().filter(|&i| Some(i) != not).collect();
        let k = rng.next_u64() % pool.len().max(1) as u64;
        pool.get(usize::try_from(k).unwrap_or(0)).copied()
    };
    let victim = pick(&mut rng, None);
    let leaver = pick(&mut rng, victim);
    s.c.crash(newcomer);

    s.boot(&mut rng, newcomer, &mut report.phases);
    if let Some(v) = victim {
        s.crash_and_return(v, &mut report.phases);
    }
    if newcomer >= subnets {
        s.join(newcomer, &mut report.phases);
    }
    if run.leave
        && let Some(l) = leaver
    {
        s.leave(l, &mut report.phases);
    }
    report.violations = s.c.violations().len();
    report.trace = s.c.trace_hash();
    report.sim_ms = s.c.now().0;
    report.events = s.c.events_run();
    report
}
