//! `sim`: runs the deterministic many-node simulation and prints what it
//! measured. One subcommand per mode (src/bin/sim/cli.rs), one function per
//! mode, each report printed by its own function.
//!
//! ```text
//! cargo run --release --bin sim -- run --nodes 1000 --subnets 32 --loss 0.01 --seed 7
//! cargo run --release --bin sim -- faults --nodes 30 --subnets 3 --loss 0.1 --seed 7
//! cargo run --release --bin sim -- sweep             # 10/20/40/100 nodes on one LAN
//! cargo run --release --bin sim -- curve             # CSV: convergence vs N and vs loss
//! cargo run --release --bin sim -- auto --seed 7      # auto-claim: 10/100/1000 nodes
//! cargo run --release --bin sim -- interest --seed 7  # 1 of 50 groups joined vs all 50
//! cargo run --release --bin sim -- heal all --loss 0.1 --seed 7       # every fault kind, once
//! cargo run --release --bin sim -- heal all --seeds 100 --loss 0,0.01,0.05
//! cargo run --release --bin sim -- auto-picture --seed 7 --out docs/auto-claim.svg
//! ```

#[path = "sim/auto.rs"]
mod auto;
#[path = "sim/checks.rs"]
mod checks;
#[path = "sim/cli.rs"]
mod cli;
#[path = "sim/heal.rs"]
mod heal;

use std::process::ExitCode;

use clap::Parser;
use scalesmall::protocol::ProtocolConfig;
use scalesmall::sim::{self, Faults, NetConfig, Report, SimConfig};

use cli::{Cli, Mode, Net, Size};

/// The network flags and the seed of this invocation.
pub struct Setup {
    net: Net,
    /// The run's seed (chosen at random when not given).
    pub seed: u64,
}

impl Setup {
    /// A simulation of `nodes` in `subnets` at `loss`, with the run's seed.
    pub fn config(&self, nodes: usize, subnets: usize, loss: f64) -> SimConfig {
        self.config_seeded(nodes, subnets, loss, self.seed)
    }

    /// The same with another seed (a sweep over seeds).
    pub fn config_seeded(&self, nodes: usize, subnets: usize, loss: f64, seed: u64) -> SimConfig {
        let n = &self.net;
        SimConfig {
            nodes,
            subnets,
            net: NetConfig {
                lan_latency: n.lan_latency,
                wan_latency: n.wan_latency,
                jitter: n.jitter,
                loss,
                dup: n.dup,
            },
            protocol: ProtocolConfig::default(),
            seed,
            ..SimConfig::default()
        }
    }

    /// The flags that replay this network: `--dup`, the latencies and the
    /// jitter (the defaults left out).
    fn replay_net(&self) -> String {
        let n = &self.net;
        let mut out = format!(" --dup {}", n.dup);
        if n.jitter != 2 {
            out += &format!(" --jitter {}", n.jitter);
        }
        if n.lan_latency != 1 {
            out += &format!(" --lan-latency {}", n.lan_latency);
        }
        if n.wan_latency != 5 {
            out += &format!(" --wan-latency {}", n.wan_latency);
        }
        out
    }
}

fn fmt_ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "did not converge".to_owned(),
        |ms| format!("{:.2} s", ms as f64 / 1000.0),
    )
}

/// The benchmark's table.
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
    print_frames(r);
}

/// The frames sent at rest and during churn, by kind, and the drops.
fn print_frames(r: &Report) {
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
    let cli = Cli::parse();
    let seed = cli.net.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        // Only for picking a seed when none is given; the run itself is
        // deterministic from the printed seed.
        let _ = getrandom_seed(&mut b);
        u64::from_le_bytes(b)
    });
    let s = Setup { net: cli.net, seed };
    match &cli.mode {
        Mode::Run(size) => bench(&s, size),
        Mode::Faults(size) => faults(&s, size),
        Mode::Sweep {
            nodes,
            subnets,
            loss,
        } => checks::lan_sweep(&s, nodes, *subnets, *loss),
        Mode::Curve {
            nodes,
            loss,
            nodes_loss,
            subnets,
        } => checks::curve(&s, nodes, loss, *nodes_loss, *subnets),
        Mode::Interest { size, groups } => interest(&s, size, *groups),
        Mode::Liveness {
            nodes,
            loss,
            subnets,
        } => checks::liveness(&s, nodes, loss, *subnets),
        Mode::Flood { size, rate } => checks::flood(&s, size, *rate),
        Mode::Expiry(size) => checks::expiry(&s, size),
        Mode::LongRun {
            size,
            hours,
            replace_every_min,
        } => checks::long_run(&s, size, *hours, *replace_every_min),
        Mode::Tombstones { size, hours } => checks::tombstones(&s, size, *hours),
        Mode::Auto {
            size,
            policy,
            heavy_every,
        } => auto::table(&s, size, policy, *heavy_every),
        Mode::AutoPicture {
            size,
            policy,
            heavy_every,
            out,
        } => auto::picture(&s, size, policy, *heavy_every, out),
        Mode::ReconnectCost(size) => checks::reconnect_cost(&s, size),
        Mode::Heal(h) => heal::main(&s, h),
    }
}

/// The command that replays a `run` or `faults` of `nodes` in `subnets`.
fn replay(s: &Setup, mode: &str, nodes: usize, subnets: usize, loss: f64) -> String {
    format!(
        "cargo run --release --bin sim -- {mode} --nodes {nodes} --subnets {subnets} --loss {loss}{} --seed {}",
        s.replay_net(),
        s.seed
    )
}

/// `run`: the benchmark.
fn bench(s: &Setup, size: &Size) -> ExitCode {
    let (nodes, subnets, loss) = size.or(100, 1, 0.0);
    let r = sim::measure(s.config(nodes, subnets, loss));
    print_report(&r, s.seed);
    println!("\nreplay: {}", replay(s, "run", nodes, subnets, loss));
    if r.exact && r.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `faults`: the fault-injection correctness scenario.
fn faults(s: &Setup, size: &Size) -> ExitCode {
    let (nodes, subnets, loss) = size.or(100, 1, 0.0);
    let out = sim::faults(s.config(nodes, subnets, loss), &Faults::default());
    println!(
        "faults run: {} writes, {} events, converged after the last fault in {}, trace {:016x}",
        out.writes,
        out.events,
        fmt_ms(out.converged_ms),
        out.trace
    );
    if out.converged_ms.is_some() && out.violations.is_empty() {
        return ExitCode::SUCCESS;
    }
    for v in out.violations.iter().take(10) {
        println!("violation: {v}");
    }
    print!("{}", out.divergence);
    println!(
        "FAILED; replay with: {}",
        replay(s, "faults", nodes, subnets, loss)
    );
    ExitCode::FAILURE
}

/// `interest`: runs A (one group joined) and B (all joined).
fn interest(s: &Setup, size: &Size, groups: usize) -> ExitCode {
    let (nodes, subnets, loss) = size.or(50, 5, 0.0);
    let r = sim::interest(s.config(nodes, subnets, loss), groups);
    print_interest(&r, loss, s.seed);
    let ok = [&r.one, &r.all]
        .iter()
        .all(|run| run.exact && run.violations == 0 && run.boot_ms.is_some());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The table of `interest`: a row per run, the ratio, any divergence.
fn print_interest(r: &sim::InterestReport, loss: f64, seed: u64) {
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
}

/// Fills `b` from the OS (only to choose a seed to print).
fn getrandom_seed(b: &mut [u8]) -> Result<(), std::io::Error> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(b)
}
