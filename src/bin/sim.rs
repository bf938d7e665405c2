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
//! cargo run --release --bin sim -- --heal all --loss 0.1 --seed 7       # every fault kind, once
//! cargo run --release --bin sim -- --heal all --heal-seeds 100 --heal-loss 0,0.01,0.05
//! cargo run --release --bin sim -- --auto-picture --seed 7 --out docs/auto-claim.svg
//! ```

#[path = "sim/auto.rs"]
mod auto;
#[path = "sim/checks.rs"]
mod checks;
#[path = "sim/heal.rs"]
mod heal;

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
    /// Replication factor R of `--auto` and `--heal`.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Slices of `--auto` and `--heal` (a power of two).
    #[arg(long, default_value_t = 1024)]
    slices: u32,
    /// Hold-down, ms [default: `--auto` 15000; `--heal` the protocol's,
    /// 60000].
    #[arg(long)]
    hold_down: Option<u64>,
    /// In `--auto`, every k-th node has weight 2 (0: all weight 1).
    #[arg(long, default_value_t = 4)]
    heavy_every: usize,
    /// What reconnecting costs at rest: bytes/s per running board with no
    /// member down, one, and half the cluster crashed for good, in the
    /// first 5 minutes after the crash and 15 minutes later, and the
    /// contacts per down member per minute [default: 24 nodes in 3
    /// subnets].
    #[arg(long)]
    reconnect_cost: bool,
    /// The heal checker: each fault kind named (comma-separated, or
    /// `all`) against a booted cluster that keeps writing; the time from
    /// the fault's end until every board holds every write, none holds a
    /// running board down and none an old address, against --bound-ms.
    /// Kinds: router-cut, subnet-split, boot-cut, router-down, one-way,
    /// power-loss, switch-down, renumber, renumber-restart, expiry-cut,
    /// disk-failure
    /// [default: 24 nodes in 3 subnets].
    #[arg(long, value_delimiter = ',')]
    heal: Vec<String>,
    /// With --heal: run seeds 1..=N of every kind (and every --heal-loss)
    /// and print a table of heal times and the failures' replay commands.
    #[arg(long, default_value_t = 0)]
    heal_seeds: u64,
    /// Loss rates of --heal (comma-separated) [default: --loss].
    #[arg(long, value_delimiter = ',')]
    heal_loss: Vec<f64>,
    /// A --heal run fails unless healed within this long (ms).
    #[arg(long, default_value_t = 30_000)]
    bound_ms: u64,
    /// --heal without auto mode (only manual claims).
    #[arg(long)]
    no_auto: bool,
    /// Threads of a --heal-seeds sweep [default: the CPUs].
    #[arg(long)]
    jobs: Option<usize>,
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
    if a.reconnect_cost {
        return checks::reconnect_cost(&a, seed);
    }
    if !a.heal.is_empty() {
        return heal::main(&a, seed);
    }
    let nodes = a.nodes.unwrap_or(100);
    let subnets = a.subnets.unwrap_or(1);
    let loss = a.loss.unwrap_or(0.0);
    if a.curve {
        return checks::curve(&a, loss, seed);
    }
    if a.expiry {
        return checks::expiry(&a, nodes, subnets, loss, seed);
    }
    if a.tombstones {
        return checks::tombstones(&a, nodes, subnets, loss, seed);
    }
    if a.long_run {
        return checks::long_run(&a, nodes, subnets, loss, seed);
    }
    if a.flood {
        return checks::flood(&a, nodes, subnets, loss, seed);
    }
    if a.liveness {
        return checks::liveness(&a, seed);
    }
    if a.sweep {
        return checks::lan_sweep(&a, loss, seed);
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
