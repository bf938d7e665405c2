//! `sim`: runs the deterministic many-node simulation and prints what it
//! measured.
//!
//! ```text
//! cargo run --release --bin sim -- --nodes 1000 --subnets 32 --loss 0.01 --seed 7
//! cargo run --release --bin sim -- --faults --nodes 30 --subnets 3 --loss 0.1 --seed 7
//! cargo run --release --bin sim -- --sweep            # 10/20/40/100 nodes on one LAN
//! cargo run --release --bin sim -- --curve            # CSV: convergence vs N and vs loss
//! cargo run --release --bin sim -- --auto --seed 7     # auto-claim: 10/100/1000 nodes
//! cargo run --release --bin sim -- --interest --seed 7 # 1 of 50 groups joined vs all 50
//! cargo run --release --bin sim -- --auto-picture --seed 7 --out docs/auto-claim.svg
//! ```

#[path = "sim/auto.rs"]
mod auto;

use std::process::ExitCode;

use clap::Parser;
use scalesmall::protocol::ProtocolConfig;
use scalesmall::sim::{self, Faults, NetConfig, Report, SimConfig};

/// Deterministic simulation of a scalesmall cluster.
///
/// The same seed always gives the same run. A failing run prints its seed and
/// the command that replays it.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// Number of nodes [default: 100; `--auto`: 10, 100 and 1000].
    #[arg(long)]
    nodes: Option<usize>,
    /// Number of subnets (multicast does not cross between them)
    /// [default: 1; `--auto`: nodes / 25, from 2 to 32].
    #[arg(long)]
    subnets: Option<usize>,
    /// Datagram loss rate (0 to 1) [default: 0; `--auto`: 0.01].
    #[arg(long)]
    loss: Option<f64>,
    /// Datagram duplication rate (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// One-way latency within a subnet, ms.
    #[arg(long, default_value_t = 1)]
    lan_latency: u64,
    /// One-way latency across subnets, ms.
    #[arg(long, default_value_t = 5)]
    wan_latency: u64,
    /// Extra random latency 0..=jitter ms (reorders datagrams).
    #[arg(long, default_value_t = 2)]
    jitter: u64,
    /// The run's seed (random if omitted; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run the fault-injection correctness scenario instead of the benchmark.
    #[arg(long)]
    faults: bool,
    /// Benchmark 10, 20, 40 and 100 nodes on one LAN.
    #[arg(long)]
    sweep: bool,
    /// Measure the failure detector: time until every node marks a crashed
    /// node down, false verdicts in a quiet 10-minute window, and a restart
    /// (see --liveness-nodes and --liveness-loss; subnets of up to 25).
    #[arg(long)]
    liveness: bool,
    /// A hostile key holder floods node 0 (announces from invented members,
    /// pulls of everything, deltas of invented members) at --flood-rate
    /// datagrams/s for 30 s while the others keep writing.
    #[arg(long)]
    flood: bool,
    /// A board dies holding claims and stays down 3 minutes with a 60 s
    /// grace period: time until every node expired it, then its return.
    #[arg(long)]
    expiry: bool,
    /// Boards replaced for --hours simulated hours (a new board every
    /// --replace-every-min minutes, 10-minute grace period): the largest
    /// tables of any node, hourly; they must stay flat.
    #[arg(long)]
    long_run: bool,
    /// Boards claim and release a new range every 30 s for --hours
    /// simulated hours, with a 10-minute tombstone period and, in the same
    /// run, without collection: the largest item and retraction counts of
    /// any node, hourly. One board is partitioned away for three periods
    /// and must converge without resurrecting anything.
    #[arg(long)]
    tombstones: bool,
    /// Interest: --groups groups, each node joining one of them (run A) and
    /// then all of them (run B), with the same claims and writes: bytes per
    /// node and convergence of each, and the ratio [default: 50 nodes in 5
    /// subnets].
    #[arg(long)]
    interest: bool,
    /// Groups of `--interest`.
    #[arg(long, default_value_t = 50)]
    groups: usize,
    /// Simulated hours of `--long-run`.
    #[arg(long, default_value_t = 24)]
    hours: u64,
    /// Minutes between two board replacements in `--long-run`.
    #[arg(long, default_value_t = 20)]
    replace_every_min: u64,
    /// Datagrams per second of `--flood`.
    #[arg(long, default_value_t = 1000)]
    flood_rate: u64,
    /// Node counts of `--liveness` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    liveness_nodes: Vec<usize>,
    /// Loss rates of `--liveness` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.2")]
    liveness_loss: Vec<f64>,
    /// Print CSV of convergence time vs nodes and vs loss (for docs/plot_sim.py).
    #[arg(long)]
    curve: bool,
    /// Node counts of the `--curve` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    curve_nodes: Vec<usize>,
    /// Auto-claim in the protocol: every node in auto mode for one group
    /// through a boot, a crash past the hold-down, its return, a newcomer
    /// and a leave; a table of coverage, movement and load per event (for
    /// 10, 100 and 1000 nodes unless --nodes is given).
    #[arg(long)]
    auto: bool,
    /// Draw the key space before and after a board failure and after its
    /// return as an SVG (to --out; 8 nodes in 2 subnets unless given).
    #[arg(long)]
    auto_picture: bool,
    /// Where `--auto-picture` writes its SVG.
    #[arg(long, default_value = "docs/auto-claim.svg")]
    out: std::path::PathBuf,
    /// Replication factor R of `--auto`.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Slices of `--auto` (a power of two).
    #[arg(long, default_value_t = 1024)]
    slices: u32,
    /// Hold-down of `--auto`, ms.
    #[arg(long, default_value_t = 15_000)]
    hold_down: u64,
    /// In `--auto`, every k-th node has weight 2 (0: all weight 1).
    #[arg(long, default_value_t = 4)]
    heavy_every: usize,
    /// Loss rates of the `--curve` (comma-separated), at 100 nodes in 4 subnets.
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.05,0.1,0.2")]
    curve_loss: Vec<f64>,
}

fn config(a: &Args, nodes: usize, subnets: usize, loss: f64, seed: u64) -> SimConfig {
    SimConfig {
        nodes,
        subnets,
        net: NetConfig {
            lan_latency: a.lan_latency,
            wan_latency: a.wan_latency,
            jitter: a.jitter,
            loss,
            dup: a.dup,
        },
        protocol: ProtocolConfig::default(),
        seed,
        ..SimConfig::default()
    }
}

fn fmt_ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "did not converge".to_owned(),
        |ms| format!("{:.2} s", ms as f64 / 1000.0),
    )
}

fn print_report(r: &Report, seed: u64) {
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| nodes / subnets / loss | {} / {} / {:.0}% |",
        r.nodes,
        r.subnets,
        r.loss * 100.0
    );
    println!(
        "| boot: all joined and claimed, converged | {} |",
        fmt_ms(r.boot_ms)
    );
    println!(
        "| single write reaches all nodes: p50 / p99 / max | {} / {} / {} ({} writes, {} not delivered) |",
        fmt_ms(r.delay_quantile(0.5)),
        fmt_ms(r.delay_quantile(0.99)),
        fmt_ms(r.write_delays.last().copied()),
        r.write_delays.len(),
        r.writes_lost
    );
    println!(
        "| at rest, per node (sent + received) | {:.0} B/s, {:.1} frames/s |",
        r.idle_bytes, r.idle_frames
    );
    println!(
        "| churn (a write every 100 ms), per node | {:.0} B/s, {:.1} frames/s |",
        r.churn_bytes, r.churn_frames
    );
    println!(
        "| restart of 10% of nodes: converged after | {} ({:.0} B/s per node meanwhile) |",
        fmt_ms(r.restart_ms),
        r.restart_bytes
    );
    println!(
        "| TCP connections per node: max / mean of per-node max | {} / {:.1} |",
        r.max_conns, r.mean_conns
    );
    println!(
        "| end state exact on every node | {} |",
        if r.exact { "yes" } else { "NO" }
    );
    println!("| invariant violations | {} |", r.violations.len());
    println!("| seed / trace | {seed} / {:016x} |", r.trace);
    let fmt = |v: &[(&str, u64)]| {
        v.iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "\nframes sent at rest (30 s, all nodes): {}",
        fmt(&r.idle_kinds)
    );
    println!(
        "frames sent during churn (30 s, all nodes): {}",
        fmt(&r.churn_kinds)
    );
    println!("drops: {}", fmt(&r.drops));
}

fn main() -> ExitCode {
    let a = Args::parse();
    let seed = a.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        // Only for picking a seed when none is given; the run itself is
        // deterministic from the printed seed.
        let _ = getrandom_seed(&mut b);
        u64::from_le_bytes(b)
    });
    if a.auto || a.auto_picture {
        return auto::main(&a, seed);
    }
    if a.interest {
        return interest(&a, seed);
    }
    let nodes = a.nodes.unwrap_or(100);
    let subnets = a.subnets.unwrap_or(1);
    let loss = a.loss.unwrap_or(0.0);
    if a.curve {
        println!("axis,x,seed,converge_p50_ms,converge_max_ms,idle_bytes_per_node");
        for &n in &a.curve_nodes {
            let subnets = (n / 32).clamp(1, 32);
            let r = sim::measure(config(&a, n, subnets, loss, seed));
            println!(
                "nodes,{n},{seed},{},{},{:.0}",
                r.delay_quantile(0.5).unwrap_or(0),
                r.write_delays.last().copied().unwrap_or(0),
                r.idle_bytes
            );
        }
        for &loss in &a.curve_loss {
            let r = sim::measure(config(&a, 100, 4, loss, seed));
            println!(
                "loss,{loss},{seed},{},{},{:.0}",
                r.delay_quantile(0.5).unwrap_or(0),
                r.write_delays.last().copied().unwrap_or(0),
                r.idle_bytes
            );
        }
        return ExitCode::SUCCESS;
    }
    if a.expiry {
        let r = sim::expiry(config(&a, nodes, subnets, loss, seed), 60_000, 180_000);
        println!(
            "| nodes / subnets / loss | grace | node 0 expired it and restarted after | expired by every node after | still listed | back, cluster exact after | invariant violations |"
        );
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| {} / {} / {:.0}% | {} | {} | {} | {} | {} | {} |",
            nodes,
            subnets,
            loss * 100.0,
            fmt_ms(Some(r.grace_ms)),
            fmt_ms(r.observer_restarted_ms),
            fmt_ms(r.all_expired_ms),
            r.still_listed,
            fmt_ms(r.back_ms),
            r.violations
        );
        println!("seed {seed}");
        let ok = r.all_expired_ms.is_some() && r.back_ms.is_some() && r.violations == 0;
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if a.tombstones {
        let hours = a.hours.min(48);
        let with = sim::tombstones(
            config(&a, nodes, subnets, loss, seed),
            600_000,
            hours,
            30_000,
        );
        let without = sim::tombstones(config(&a, nodes, subnets, loss, seed), 0, hours, 30_000);
        println!(
            "| hour | releases | largest per node, collected every 10 min: items / retractions | never collected: items / retractions |"
        );
        println!("|---:|---:|---|---|");
        for (w, o) in with.samples.iter().zip(&without.samples) {
            println!(
                "| {} | {} | {} / {} | {} / {} |",
                w.hour, w.releases, w.max_items, w.max_retractions, o.max_items, o.max_retractions
            );
        }
        let show = |ms: Option<u64>| {
            ms.map_or_else(
                || "NO".to_owned(),
                |t| format!("{:.1} s", t as f64 / 1000.0),
            )
        };
        println!(
            "{nodes} nodes, {subnets} subnets, {:.0}% loss; one board partitioned for 30 min from hour 1; converged after the churn: {} (collected), {} (never); invariant violations {} / {}; seed {seed}",
            loss * 100.0,
            show(with.converged_ms),
            show(without.converged_ms),
            with.violations,
            without.violations
        );
        let flat = with.samples.last().map(|s| s.max_retractions)
            <= with.samples.get(2).map(|s| s.max_retractions.max(1) * 2);
        return if with.converged_ms.is_some()
            && with.violations == 0
            && without.violations == 0
            && flat
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if a.long_run {
        let r = sim::long_run(
            config(&a, nodes, subnets, loss, seed),
            600_000,
            a.hours,
            a.replace_every_min.max(1) * 60_000,
        );
        println!(
            "| hour | boards replaced | largest per node: peers / liveness views / expiry markers / members / items |"
        );
        println!("|---:|---:|---|");
        for s in &r.samples {
            println!(
                "| {} | {} | {} / {} / {} / {} / {} |",
                s.hour,
                s.replaced,
                s.max.peers,
                s.max.views,
                s.max.markers,
                s.max.members,
                s.max.items
            );
        }
        println!(
            "{nodes} nodes, {subnets} subnets, {:.0}% loss, grace {} min, flat: {}, invariant violations {}, seed {seed}",
            loss * 100.0,
            r.grace_ms / 60_000,
            if r.flat() { "yes" } else { "NO" },
            r.violations
        );
        return if r.flat() && r.violations == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if a.flood {
        println!(
            "| flood ({} datagrams/s for 30 s at node 0; {} nodes, {} subnets, {:.0}% loss) | peers known / cap | members held / cap | node 0 sends: before / during | honest writes | converged after the flood | invariant violations |",
            a.flood_rate,
            nodes,
            subnets,
            loss * 100.0
        );
        println!("|---|---|---|---|---|---|---|");
        let mut ok = true;
        for kind in [sim::Flood::Announces, sim::Flood::Pulls, sim::Flood::Deltas] {
            let r = sim::flood(
                config(&a, nodes, subnets, loss, seed),
                kind,
                a.flood_rate,
                30,
            );
            println!(
                "| {} | {} / {} | {} / {} | {:.0} / {:.0} B/s | {} | {} | {} |",
                kind.name(),
                r.victim_peers,
                scalesmall::protocol::MAX_PEERS,
                r.victim_members,
                r.member_cap,
                r.victim_out_before,
                r.victim_out_bytes,
                r.honest_writes,
                fmt_ms(r.converged_ms),
                r.violations
            );
            ok &= r.converged_ms.is_some() && r.violations == 0;
        }
        println!("seed {seed}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if a.liveness {
        println!(
            "| nodes / subnets | loss | crashed marked down by all: p50 / p99 / max | not detected | false suspicions / false downs per node-hour | restarted seen alive, new incarnation, by all | exact after restart |"
        );
        println!("|---|---|---|---|---|---|---|");
        let mut ok = true;
        for &n in &a.liveness_nodes {
            for &loss in &a.liveness_loss {
                let subnets = n.div_ceil(25).max(1);
                let r = sim::measure_liveness(
                    config(&a, n, subnets, loss, seed),
                    sim::LivenessRun::default(),
                );
                println!(
                    "| {n} / {subnets} | {:.0}% | {} / {} / {} | {} | {:.2} / {:.2} | {} | {} |",
                    loss * 100.0,
                    fmt_ms(r.detect_quantile(0.5)),
                    fmt_ms(r.detect_quantile(0.99)),
                    fmt_ms(r.detect_ms.last().copied()),
                    r.undetected,
                    r.false_suspects_per_node_hour(),
                    r.false_downs_per_node_hour(),
                    fmt_ms(r.restart_ms),
                    if r.exact_after_restart { "yes" } else { "NO" },
                );
                ok &= r.undetected == 0 && r.restart_ms.is_some() && r.exact_after_restart;
            }
        }
        println!("seed {seed}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if a.sweep {
        println!(
            "| nodes (one LAN) | idle B/s per node | write reaches all: p50 / max | boot converged |"
        );
        println!("|---|---|---|---|");
        for n in [10usize, 20, 40, 100] {
            let r = sim::measure(config(&a, n, 1, loss, seed));
            println!(
                "| {n} | {:.0} | {} / {} | {} |",
                r.idle_bytes,
                fmt_ms(r.delay_quantile(0.5)),
                fmt_ms(r.write_delays.last().copied()),
                fmt_ms(r.boot_ms)
            );
        }
        println!("seed {seed}");
        return ExitCode::SUCCESS;
    }
    let cfg = config(&a, nodes, subnets, loss, seed);
    let replay = format!(
        "cargo run --release --bin sim -- {}--nodes {} --subnets {} --loss {} --dup {} --seed {seed}",
        if a.faults { "--faults " } else { "" },
        nodes,
        subnets,
        loss,
        a.dup
    );
    if a.faults {
        let out = sim::faults(cfg, &Faults::default());
        println!(
            "faults run: {} writes, {} events, converged after the last fault in {}, trace {:016x}",
            out.writes,
            out.events,
            fmt_ms(out.converged_ms),
            out.trace
        );
        if out.converged_ms.is_none() || !out.violations.is_empty() {
            for v in out.violations.iter().take(10) {
                println!("violation: {v}");
            }
            print!("{}", out.divergence);
            println!("FAILED; replay with: {replay}");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let r = sim::measure(cfg);
    print_report(&r, seed);
    println!("\nreplay: {replay}");
    if r.exact && r.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--interest`: runs A and B and prints a table row for each.
fn interest(a: &Args, seed: u64) -> ExitCode {
    let nodes = a.nodes.unwrap_or(50);
    let subnets = a.subnets.unwrap_or(5);
    let loss = a.loss.unwrap_or(0.0);
    let r = sim::interest(config(a, nodes, subnets, loss, seed), a.groups);
    println!(
        "| groups joined per node ({} nodes, {} subnets, {} groups, {:.0}% loss) | boot converged | idle B/s per node | churn B/s per node | whole run B/s per node | settled after churn | most items on a node | exact / violations |",
        r.nodes,
        r.subnets,
        r.groups,
        loss * 100.0
    );
    println!("|---|---|---:|---:|---:|---|---:|---|");
    for run in [&r.one, &r.all] {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} / {} |",
            run.joined,
            fmt_ms(run.boot_ms),
            run.idle_bytes,
            run.churn_bytes,
            run.total_bytes,
            fmt_ms(run.settle_ms),
            run.max_items,
            if run.exact { "yes" } else { "NO" },
            run.violations
        );
    }
    println!(
        "all {} groups / 1 group: {:.2}x the bytes over the whole run ({:.2}x idle, {:.2}x churn); seed {seed}",
        r.groups,
        r.ratio(),
        r.all.idle_bytes / r.one.idle_bytes.max(1.0),
        r.all.churn_bytes / r.one.churn_bytes.max(1.0)
    );
    for run in [&r.one, &r.all] {
        if !run.exact {
            println!("run joining {} group(s) diverged:", run.joined);
            for line in run.divergence.lines().take(20) {
                println!("{line}");
            }
        }
    }
    let ok = [&r.one, &r.all]
        .iter()
        .all(|run| run.exact && run.violations == 0 && run.boot_ms.is_some());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Fills `b` from the OS (only to choose a seed to print).
fn getrandom_seed(b: &mut [u8]) -> Result<(), std::io::Error> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(b)
}
