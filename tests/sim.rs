//! The protocol, proven in the deterministic simulation: fixed seeds with
//! at least 20 nodes, 10% loss, duplication, reordering, a partition that
//! heals, restarts, late joiners and one-way multicast; the coverage
//! invariant checked after every event, every datagram within the MTU, and
//! exact convergence within a bound of simulated time. Plus fresh random
//! seeds (printed), and determinism: one seed, one trace.
//!
//! A failure prints the seed and the command that replays it:
//! `SCALESMALL_SEED=<n> cargo test --test sim` (or the `sim` binary).

use scalesmall::sim::{self, Faults, NetConfig, SimConfig};

fn config(seed: u64, nodes: usize, subnets: usize, loss: f64) -> SimConfig {
    SimConfig {
        nodes,
        subnets,
        net: NetConfig {
            lan_latency: 1,
            wan_latency: 5,
            jitter: 8,
            loss,
            dup: 0.05,
        },
        check_every_step: true,
        seed,
        ..SimConfig::default()
    }
}

fn run(seed: u64, nodes: usize, subnets: usize, loss: f64) {
    let f = Faults::default();
    let out = sim::faults(config(seed, nodes, subnets, loss), &f);
    let replay = format!(
        "SCALESMALL_SEED={seed} cargo test --test sim   (or: cargo run --release --bin sim -- faults --nodes {nodes} --subnets {subnets} --loss {loss} --dup 0.05 --jitter 8 --seed {seed})"
    );
    assert!(
        out.violations.is_empty(),
        "seed {seed}: invariant violations:\n{}\nreplay: {replay}",
        out.violations
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        out.converged_ms.is_some(),
        "seed {seed}: not converged within {} ms of simulated time:\n{}\nreplay: {replay}",
        f.bound_ms,
        out.divergence
    );
    assert!(
        out.writes > 20,
        "seed {seed}: the scenario made only {} writes",
        out.writes
    );
    println!(
        "seed {seed}: {} nodes, {} writes, {} events, converged {} ms after the last fault",
        nodes,
        out.writes,
        out.events,
        out.converged_ms.unwrap_or(0)
    );
}

#[test]
fn fixed_seeds_converge_under_faults() {
    if let Some(seed) = std::env::var("SCALESMALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run(seed, 24, 3, 0.10);
        return;
    }
    for seed in [1, 2, 3] {
        run(seed, 24, 3, 0.10);
    }
}

#[test]
fn a_lone_board_behind_the_router_converges() {
    // 7 nodes in 2 subnets plus one alone in a third: only TCP reaches it.
    run(11, 7, 3, 0.10);
}

#[test]
fn fresh_random_seeds_converge() {
    let mut buf = [0u8; 8];
    let seed = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map(|()| u64::from_le_bytes(buf))
        .unwrap_or(0x5eed);
    println!("fresh seed: {seed}");
    run(seed, 20, 2, 0.10);
}

#[test]
fn one_seed_gives_one_trace() {
    let a = sim::faults(config(42, 12, 2, 0.1), &Faults::default());
    let b = sim::faults(config(42, 12, 2, 0.1), &Faults::default());
    let c = sim::faults(config(43, 12, 2, 0.1), &Faults::default());
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.events, b.events);
    assert_ne!(a.trace, c.trace);
}

#[test]
fn crashed_nodes_are_marked_down_by_everyone_and_come_back_alive() {
    // 20 nodes in 2 subnets at 5% loss: every live node marks both crashed
    // nodes down within the 2 minutes they stay down, and sees each alive
    // again with a new incarnation after the restart, with the cluster
    // exact again.
    let mut cfg = config(11, 20, 2, 0.05);
    cfg.check_every_step = false;
    let r = sim::measure_liveness(
        cfg,
        sim::LivenessRun {
            window_ms: 120_000,
            crashes: 2,
            down_for: 120_000,
        },
    );
    assert_eq!(r.undetected, 0, "{r:?}");
    assert_eq!(r.detect_ms.len(), 2 * 18, "{r:?}");
    assert!(r.restart_ms.is_some(), "{r:?}");
    assert!(r.exact_after_restart, "{r:?}");
    assert_eq!(
        r.false_downs, 0,
        "no live node marked down at 5% loss: {r:?}"
    );
}

#[test]
fn a_flooding_key_holder_cannot_push_a_node_over_its_caps_or_stop_the_others() {
    for kind in [sim::Flood::Announces, sim::Flood::Pulls, sim::Flood::Deltas] {
        let mut cfg = config(5, 12, 2, 0.01);
        cfg.check_every_step = false;
        let r = sim::flood(cfg, kind, 1_000, 10);
        assert!(r.sent >= 9_000, "{kind:?}: the flood ran: {r:?}");
        assert!(
            r.victim_peers <= scalesmall::protocol::MAX_PEERS,
            "{kind:?}: {r:?}"
        );
        assert!(r.victim_members <= r.member_cap, "{kind:?}: {r:?}");
        // No amplification: answers to a flood from one address are
        // budgeted (a pull answer is the largest, at 20 pulls/s).
        assert!(r.victim_out_bytes < 40_000.0, "{kind:?}: {r:?}");
        assert!(r.honest_writes >= 15, "{kind:?}: {r:?}");
        assert!(
            r.converged_ms.is_some(),
            "{kind:?}: the honest writes reach everyone: {r:?}"
        );
        assert_eq!(r.violations, 0, "{kind:?}: {r:?}");
    }
}

#[test]
fn a_dead_board_is_expired_everywhere_and_taken_back_whole_when_it_returns() {
    // Grace 60 s; the board stays down 3 minutes (longer than the grace
    // period and the markers' second grace period).
    let mut cfg = config(21, 12, 2, 0.05);
    cfg.check_every_step = false;
    let r = sim::expiry(cfg, 60_000, 180_000);
    assert!(r.all_expired_ms.is_some(), "{r:?}");
    assert!(r.observer_restarted_ms.is_some(), "{r:?}");
    assert_eq!(r.still_listed, 0, "{r:?}");
    assert!(
        r.back_ms.is_some(),
        "it returns and everyone holds its items again: {r:?}"
    );
    assert_eq!(r.violations, 0, "{r:?}");
}

#[test]
fn tombstones_are_collected_and_a_board_cut_off_past_the_period_converges_without_resurrection() {
    // 2 simulated hours, a claim and release every 30 s, a 5-minute
    // tombstone period; one board partitioned for 15 minutes from hour 1.
    // The extended invariant is checked hourly and at the end (after every
    // event would take minutes here; the 24-hour README run does the same).
    let mut cfg = config(31, 6, 2, 0.05);
    cfg.check_every_step = false;
    let r = sim::tombstones(cfg.clone(), 300_000, 2, 30_000);
    let never = sim::tombstones(cfg, 0, 2, 30_000);
    assert_eq!(r.violations, 0, "{r:?}");
    assert_eq!(never.violations, 0, "{never:?}");
    assert!(r.converged_ms.is_some(), "{r:?}");
    assert!(never.converged_ms.is_some(), "{never:?}");
    let last = r.samples.last().expect("samples");
    let last_never = never.samples.last().expect("samples");
    assert!(last.releases >= 200, "{r:?}");
    // Without collection every release stays; with it, about the
    // releases of two periods (at most 20 at one release per 30 s).
    assert!(last_never.max_retractions >= 200, "{never:?}");
    assert!(last.max_retractions <= 30, "{r:?}");
    let first = r.samples.get(1).expect("hour 1");
    assert!(
        last.max_items <= first.max_items + 15,
        "items stay flat: {r:?}"
    );
}

#[test]
fn joining_one_group_of_many_costs_less_and_every_member_converges() {
    // 20 nodes in 4 subnets, 5 groups, 5% loss: 4 members per group spread
    // over the subnets in the one-group run (members find each other across
    // routers through relayed far syncs, ALGORITHM.md 8.6), all 20 in the
    // other.
    let mut cfg = config(7, 20, 4, 0.05);
    cfg.check_every_step = false;
    let r = sim::interest(cfg, 5);
    for run in [&r.one, &r.all] {
        assert!(run.boot_ms.is_some() && run.exact, "{run:?}");
        assert_eq!(run.violations, 0, "{run:?}");
    }
    assert!(r.one.max_items < r.all.max_items, "{r:?}");
    assert!(r.ratio() > 1.5, "joining all groups costs more: {r:?}");
}

// --- the heal checker (issue 16): one fault kind per test ---------------------

/// The heal bound at 10% loss (ms of simulated time after the fault ends).
const HEAL_BOUND_LOSSY_MS: u64 = 60_000;

/// Boards of the heal checker's cluster (in 3 subnets): 24 in a release
/// build; 12 in a debug one, as CI's `unit` suite runs it (a 24-board run
/// takes about 20 s there: the eleven kinds at four seeds would cost CI
/// about 8 minutes on two cores).
const HEAL_NODES: usize = if cfg!(debug_assertions) { 12 } else { 24 };

/// The heal checker in CI: [`HEAL_NODES`] nodes in 3 subnets at 10% loss,
/// every board also in auto mode (64 slices), a 15 s hold-down, so a long
/// fault lasts 3 × (10 s suspicion + 15 s) = 75 s to 135 s of simulated
/// time; healed within [`HEAL_BOUND_LOSSY_MS`] and still healed 10 s
/// later. The invariant is checked every 10 s and at the end (after every
/// event it would double the cost); the `sim heal` sweep runs the
/// defaults.
fn heal_setup(seed: u64, fault: sim::Fault) -> (SimConfig, sim::HealRun) {
    let mut cfg = config(seed, HEAL_NODES, 3, 0.10);
    cfg.check_every_step = false;
    cfg.protocol.auto.hold_down = 15_000;
    let policy = scalesmall::protocol::auto_claim::Policy::new(2, 64).expect("a valid policy");
    let run = sim::HealRun {
        bound_ms: HEAL_BOUND_LOSSY_MS,
        measure_ms: HEAL_BOUND_LOSSY_MS,
        stable_ms: 10_000,
        policy,
        ..sim::HealRun::new(fault)
    };
    (cfg, run)
}

/// Seeds 1 to 3 and a fresh one (printed), or only `SCALESMALL_SEED`; in a
/// debug build (CI's `unit` suite) seed 1 and a fresh one, to keep the
/// eleven kinds within about a minute of CI's two cores
/// (`cargo nextest run --release --test sim` runs all four at 24 boards).
fn heal_seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("SCALESMALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let mut buf = [0u8; 8];
    let fresh = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map(|()| u64::from_le_bytes(buf))
        .unwrap_or(0x5eed);
    if cfg!(debug_assertions) {
        vec![1, fresh]
    } else {
        vec![1, 2, 3, fresh]
    }
}

/// Runs `fault` for every seed of [`heal_seeds`]; fails with every failing
/// seed's diagnosis and replay command.
fn heals(fault: sim::Fault) {
    let mut failed = Vec::new();
    for seed in heal_seeds() {
        let (cfg, run) = heal_setup(seed, fault);
        let replay = format!(
            "SCALESMALL_SEED={seed} cargo test --test sim {} (or: {})",
            test_name(fault),
            sim::replay(&cfg, &run)
        );
        let out = sim::heal(cfg, &run);
        println!(
            "{fault} seed {seed}: fault {} s, healed after {:?} ms, {} writes, {} events",
            out.fault_ms / 1000,
            out.heal_ms,
            out.writes,
            out.events
        );
        if !out.passed() {
            failed.push(format!(
                "{fault} seed {seed}: healed after {:?} ms (bound {} ms), violations {:?}\n{}replay: {replay}",
                out.heal_ms,
                out.bound_ms,
                out.violations.iter().take(5).collect::<Vec<_>>(),
                out.diagnosis
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// The test of `fault` (for the replay command).
fn test_name(fault: sim::Fault) -> String {
    format!("heals_after_{}", fault.name().replace('-', "_"))
}

#[test]
fn heals_after_router_cut() {
    heals(sim::Fault::RouterCut);
}

#[test]
fn heals_after_subnet_split() {
    heals(sim::Fault::SubnetSplit);
}

#[test]
fn heals_after_boot_cut() {
    heals(sim::Fault::BootCut);
}

#[test]
fn heals_after_router_down() {
    heals(sim::Fault::RouterDown);
}

#[test]
fn heals_after_one_way() {
    heals(sim::Fault::OneWay);
}

#[test]
fn heals_after_power_loss() {
    heals(sim::Fault::PowerLoss);
}

#[test]
fn heals_after_switch_down() {
    heals(sim::Fault::SwitchDown);
}

#[test]
fn heals_after_renumber() {
    heals(sim::Fault::Renumber);
}

#[test]
fn heals_after_renumber_restart() {
    heals(sim::Fault::RenumberRestart);
}

#[test]
fn heals_after_expiry_cut() {
    heals(sim::Fault::ExpiryCut);
}

#[test]
fn heals_after_disk_failure() {
    heals(sim::Fault::DiskFailure);
}

#[test]
fn a_heal_run_is_deterministic() {
    let (cfg, run) = heal_setup(9, sim::Fault::PowerLoss);
    let a = sim::heal(cfg.clone(), &run);
    let b = sim::heal(cfg, &run);
    assert_eq!((a.trace, a.events), (b.trace, b.events));
}
