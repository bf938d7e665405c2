//! The heal checker: one [`Fault`] against a booted cluster that keeps
//! writing on every side, and the time from the moment the fault ends until
//! the cluster is whole again (issue 16, sections 1 and 3).
//!
//! The run: every board joins the scenario group and claims a range, and
//! (by default) is in auto mode for a second group, so a long fault also
//! outlasts auto-claim's hold-down and each side takes over the other's
//! slices. Once booted (a boot fault starts during boot instead) the fault
//! starts; a random board writes every 1 to 3 s while it lasts (a priority
//! bump, a leave or a join: writes on both sides of any cut). The fault
//! ends, two boards write at once, and the clock starts.
//!
//! Healed means, all at one instant:
//! - every running board holds exactly every durable write of the groups
//!   it is a member of ([`Cluster::converged`], against the simulator's own
//!   log);
//! - no running board holds another running board `Down`;
//! - no running board still holds a renumbered board's old address.
//!
//! The heal time is the start of the first stretch of `stable_ms` during
//! which every check (every 250 ms) found the cluster healed: a cluster
//! that agrees for a moment and splits again, or marks a board down while
//! its writes arrive, has not healed yet. The run passes when it healed
//! within the bound. A failing run carries a diagnosis (who lacks what, and what each board
//! thinks of the writer) and its replay command.

use core::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::GroupName;
use crate::protocol::auto_claim::Policy;
use crate::protocol::{Command, Millis};
use crate::wire::Liveness;

use super::cluster::{Cluster, SimConfig};
use super::diagnose::diagnose;
use super::fault_kind::{Fault, Injected};
use super::scenario::{bump, group, join_and_claim, random_alive};

/// The auto-mode group of a heal run.
pub const AUTO_GROUP: &str = "auto";

/// How one heal run goes.
#[derive(Clone, Debug)]
pub struct HealRun {
    /// The fault.
    pub fault: Fault,
    /// The run fails if not healed within this long after the fault ended
    /// (ms of simulated time).
    pub bound_ms: u64,
    /// How long to keep measuring past the fault's end before giving up
    /// (ms; at least `bound_ms`): a slow heal is timed, not just failed.
    pub measure_ms: u64,
    /// Healed counts from the first instant after which the cluster stays
    /// healed for this long (ms), checked every 250 ms: writes still in
    /// flight (auto-claim rebalancing after the fault) or a board marked
    /// down while its writes arrive push the heal later.
    pub stable_ms: u64,
    /// Whether every board is also in auto mode for [`AUTO_GROUP`].
    pub auto: bool,
    /// The policy of [`AUTO_GROUP`] (the decision's cost grows with its
    /// slices).
    pub policy: Policy,
}

impl HealRun {
    /// `fault` with the bound of issue 16 at 0% loss (30 s), measured up
    /// to 5 minutes, stable for 20 s, with auto mode.
    #[must_use]
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            bound_ms: 30_000,
            measure_ms: 300_000,
            stable_ms: 20_000,
            auto: true,
            policy: Policy::default(),
        }
    }
}

/// What a heal run found.
#[derive(Clone, Debug)]
pub struct HealOutcome {
    /// The fault.
    pub fault: Fault,
    /// How long the fault lasted (ms).
    pub fault_ms: u64,
    /// Boot until converged (ms) when the fault starts after boot.
    pub boot_ms: Option<u64>,
    /// ms from the fault's end until healed, if within `measure_ms`.
    pub heal_ms: Option<u64>,
    /// The bound it was held to (ms).
    pub bound_ms: u64,
    /// Invariant violations (must be none).
    pub violations: Vec<String>,
    /// Why it did not heal (empty when it did).
    pub diagnosis: String,
    /// Hash of the whole trace.
    pub trace: u64,
    /// Events processed.
    pub events: u64,
    /// Durable writes made.
    pub writes: u64,
}

impl HealOutcome {
    /// Healed within the bound, no violation.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.heal_ms.is_some_and(|ms| ms <= self.bound_ms) && self.violations.is_empty()
    }
}

/// The shortest length of a long fault (ms): three times (the suspicion
/// timeout at this cluster size + the auto-mode hold-down).
#[must_use]
pub fn long_fault_ms(cfg: &SimConfig) -> u64 {
    let d = &cfg.protocol.liveness;
    let bits = u64::from(64 - (cfg.nodes as u64).leading_zeros());
    let suspicion = d.suspect_min.max(d.probe_period.saturating_mul(bits));
    3 * (suspicion + cfg.protocol.auto.hold_down)
}

/// The command that replays `run` with `cfg`.
#[must_use]
pub fn replay(cfg: &SimConfig, run: &HealRun) -> String {
    let n = &cfg.net;
    let auto = if run.auto {
        format!(
            "--replicas {} --slices {}",
            run.policy.replicas(),
            run.policy.slices()
        )
    } else {
        "--no-auto".to_owned()
    };
    format!(
        "cargo run --release --bin sim -- heal {} --nodes {} --subnets {} --loss {} --dup {} --jitter {} --lan-latency {} --wan-latency {} --hold-down {} {auto} --bound-ms {} --seed {}",
        run.fault,
        cfg.nodes,
        cfg.subnets,
        n.loss,
        n.dup,
        n.jitter,
        n.lan_latency,
        n.wan_latency,
        cfg.protocol.auto.hold_down,
        run.bound_ms,
        cfg.seed
    )
}

/// Runs one fault (see the module docs).
#[must_use]
pub fn heal(mut cfg: SimConfig, run: &HealRun) -> HealOutcome {
    if let Some(e) = run.fault.expire_after() {
        cfg.protocol.expire_after = e;
    }
    if run.auto {
        cfg.protocol.auto.policies = vec![(auto_group(), run.policy)];
    }
    let long = long_fault_ms(&cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x4ea1);
    let mut c = Cluster::new(cfg);
    let fault_ms = run.fault.duration(long, &mut rng);
    let mut boot_ms = None;
    let injected = if run.fault.at_boot() {
        boot(&mut c, &mut rng, run, true)
    } else {
        let _ = boot(&mut c, &mut rng, run, false);
        boot_ms = c.run_until_converged(500, 120_000);
        c.run_for(10_000);
        run.fault.start(&mut c, &mut rng)
    };
    keep_writing(&mut c, &mut rng, fault_ms);
    run.fault.end(&mut c, &mut rng, &injected);
    // Writes on both sides the moment it ends (a board it acted on first).
    let first = injected
        .boards
        .first()
        .copied()
        .filter(|&v| c.alive(v))
        .or_else(|| random_alive(&c, &mut rng));
    let old = injected.old_addrs;
    let second = random_alive(&c, &mut rng);
    for (k, i) in [first, second].into_iter().flatten().enumerate() {
        bump(&mut c, i, 5_000 + k as u64);
    }
    let (heal_ms, diagnosis) = measure(&mut c, &old, run);
    c.check_invariant();
    HealOutcome {
        fault: run.fault,
        fault_ms,
        boot_ms,
        heal_ms,
        bound_ms: run.bound_ms,
        violations: c.violations().to_vec(),
        diagnosis,
        trace: c.trace_hash(),
        events: c.events_run(),
        writes: c.truth().writes,
    }
}

/// The time from now (the fault's end) until the start of the first
/// stretch of `run.stable_ms` during which every check found the cluster
/// healed, if one starts within `run.measure_ms` (at least the bound);
/// and the diagnosis of the cluster as the bound passed unhealed, if it
/// did (a late heal is a failure too: what held it up is what matters).
fn measure(c: &mut Cluster, old: &[(usize, SocketAddr)], run: &HealRun) -> (Option<u64>, String) {
    let t0 = c.now();
    let limit = run.measure_ms.max(run.bound_ms);
    let mut streak: Option<u64> = None;
    let mut diagnosis = String::new();
    loop {
        let at = c.now().since(t0);
        if healed(c, old) {
            let since = *streak.get_or_insert(at);
            if at - since >= run.stable_ms {
                return (Some(since), diagnosis);
            }
        } else {
            streak = None;
            if at > run.bound_ms && diagnosis.is_empty() {
                diagnosis = format!("as the bound passed:\n{}", diagnose(c, old));
            }
            if at > limit {
                return (None, diagnosis);
            }
        }
        c.run_for(250);
    }
}

/// Every board joins and claims (and goes auto) at a random moment of the
/// first 3 s; with `cut`, the fault starts at a random moment of the first
/// 5 s, among them. Returns what [`Fault::start`] returned.
fn boot(c: &mut Cluster, rng: &mut ChaCha8Rng, run: &HealRun, cut: bool) -> Injected {
    let n = c.len();
    // (time, board), board n standing for the fault.
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| (1_000 + rng.next_u64() % 3_000, i))
        .collect();
    if cut {
        order.push((rng.next_u64() % 5_001, n));
    }
    order.sort_unstable();
    let mut injected = Injected::default();
    for (at, i) in order {
        c.run_until(Millis(at));
        if i == n {
            injected = run.fault.start(c, rng);
            continue;
        }
        join_and_claim(c, i);
        if run.auto {
            c.command(
                i,
                Command::Auto {
                    group: auto_group(),
                    weight: 1,
                    priority: Some(1),
                    port: 8000,
                },
            );
        }
    }
    injected
}

/// A random running board writes every 1 to 3 s for `ms`.
fn keep_writing(c: &mut Cluster, rng: &mut ChaCha8Rng, ms: u64) {
    let end = c.now().plus(ms);
    let mut k = 0u64;
    let mut checked = c.now();
    while c.now() < end {
        let step = (1_000 + rng.next_u64() % 2_000).min(end.since(c.now()));
        c.run_for(step);
        if let Some(i) = random_alive(c, rng) {
            match rng.next_u64() % 5 {
                0 => c.command(i, Command::Leave(group())),
                1 => c.command(i, Command::Join(group())),
                _ => bump(c, i, k),
            }
            k += 1;
        }
        if c.now().since(checked) >= 10_000 {
            c.check_invariant();
            checked = c.now();
        }
    }
}

/// Whether the cluster is whole (see the module docs); `old` are the
/// renumbered boards with their old addresses.
fn healed(c: &Cluster, old: &[(usize, SocketAddr)]) -> bool {
    c.converged() && down_pairs(c).is_empty() && stale_addresses(c, old).is_empty()
}

/// `(observer, peer)`: running boards that hold a running board down.
pub(super) fn down_pairs(c: &Cluster) -> Vec<(usize, usize)> {
    let running: Vec<usize> = (0..c.len()).filter(|&i| c.alive(i)).collect();
    let mut out = Vec::new();
    for &i in &running {
        let Some(ch) = c.chatter(i) else { continue };
        for &j in &running {
            if i != j && ch.liveness(c.node_id(j)) == Liveness::Down {
                out.push((i, j));
            }
        }
    }
    out
}

/// `(observer, renumbered board)`: running boards that still hold a
/// renumbered board's old address.
pub(super) fn stale_addresses(c: &Cluster, old: &[(usize, SocketAddr)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &(v, addr) in old {
        let id = c.node_id(v);
        for i in (0..c.len()).filter(|&i| i != v) {
            let stale = c
                .chatter(i)
                .and_then(|ch| ch.peers().get(id))
                .is_some_and(|p| p.addr == Some(addr));
            if stale {
                out.push((i, v));
            }
        }
    }
    out
}

fn auto_group() -> GroupName {
    // ok: a constant, valid by inspection (1 to 255 bytes of UTF-8).
    GroupName::new(AUTO_GROUP).expect("the auto group name is valid")
}
