//! The `sim` command line: one subcommand per mode, each with its own
//! flags, and the network flags every mode shares. Only clap and std here:
//! tests/sim_commands.rs includes this file to parse every `sim` command
//! the docs show.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Deterministic simulation of a scalesmall cluster.
///
/// The same seed always gives the same run. A failing run prints its seed and
/// the command that replays it.
#[derive(Parser, Debug)]
#[command(name = "sim", version, about, long_about)]
pub struct Cli {
    /// What to simulate and measure.
    #[command(subcommand)]
    pub mode: Mode,
    /// The network and the seed (every mode).
    #[command(flatten)]
    pub net: Net,
}

/// The simulated network and the seed, shared by every mode.
#[derive(Args, Debug, Clone)]
pub struct Net {
    /// Datagram duplication rate (0 to 1).
    #[arg(long, global = true, default_value_t = 0.0)]
    pub dup: f64,
    /// One-way latency within a subnet, ms.
    #[arg(long, global = true, default_value_t = 1)]
    pub lan_latency: u64,
    /// One-way latency across subnets, ms.
    #[arg(long, global = true, default_value_t = 5)]
    pub wan_latency: u64,
    /// Extra random latency 0..=jitter ms (reorders datagrams).
    #[arg(long, global = true, default_value_t = 2)]
    pub jitter: u64,
    /// The run's seed (random if omitted; always printed).
    #[arg(long, global = true)]
    pub seed: Option<u64>,
}

/// One cluster's size and loss; each mode says its defaults.
#[derive(Args, Debug, Clone)]
pub struct Size {
    /// Number of nodes [default: the mode's].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Number of subnets (multicast does not cross between them)
    /// [default: the mode's].
    #[arg(long)]
    pub subnets: Option<usize>,
    /// Datagram loss rate (0 to 1) [default: the mode's].
    #[arg(long)]
    pub loss: Option<f64>,
}

/// The auto-claim policy of `auto`, `auto-picture` and `heal`.
#[derive(Args, Debug, Clone)]
pub struct AutoPolicy {
    /// Replication factor R.
    #[arg(long, default_value_t = 2)]
    pub replicas: u32,
    /// Slices of the key space (a power of two).
    #[arg(long, default_value_t = 1024)]
    pub slices: u32,
    /// Hold-down, ms [default: `auto` 15000; `heal` the protocol's, 60000].
    #[arg(long)]
    pub hold_down: Option<u64>,
}

/// The modes.
#[derive(Subcommand, Debug)]
pub enum Mode {
    /// The benchmark: boot, single writes, rest, churn and a restart of 10%
    /// of the nodes, as one table [default: 100 nodes, 1 subnet, no loss].
    Run(Size),
    /// The fault-injection correctness scenario: partitions, crashes and
    /// restarts while writing; converged and exact after the last fault
    /// [default: 100 nodes, 1 subnet, no loss].
    Faults(Size),
    /// The benchmark at several sizes on one LAN (one subnet unless
    /// --subnets is given).
    Sweep {
        /// Node counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10,20,40,100")]
        nodes: Vec<usize>,
        /// Subnets of every run [default: 1].
        #[arg(long)]
        subnets: Option<usize>,
        /// Datagram loss rate (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
    },
    /// CSV of convergence time vs nodes and vs loss (for docs/plot_sim.py).
    Curve {
        /// Node counts of the nodes axis (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
        nodes: Vec<usize>,
        /// Loss rates of the loss axis (comma-separated), at 100 nodes.
        #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.05,0.1,0.2")]
        loss: Vec<f64>,
        /// Loss rate of the nodes axis.
        #[arg(long, default_value_t = 0.0)]
        nodes_loss: f64,
        /// Subnets of every run [default: nodes / 32, from 1 to 32, on the
        /// nodes axis; 4 on the loss axis].
        #[arg(long)]
        subnets: Option<usize>,
    },
    /// Interest: --groups groups, each node joining one of them (run A) and
    /// then all of them (run B), with the same claims and writes: bytes per
    /// node and convergence of each, and the ratio [default: 50 nodes in 5
    /// subnets, no loss].
    Interest {
        #[command(flatten)]
        size: Size,
        /// Groups.
        #[arg(long, default_value_t = 50)]
        groups: usize,
    },
    /// The failure detector: time until every node marks a crashed node
    /// down, false verdicts in a quiet 10-minute window, and a restart, for
    /// every node count and loss rate given.
    Liveness {
        /// Node counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
        nodes: Vec<usize>,
        /// Loss rates (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "0.05,0.2")]
        loss: Vec<f64>,
        /// Subnets of every run [default: one per 25 nodes].
        #[arg(long)]
        subnets: Option<usize>,
    },
    /// A hostile key holder floods node 0 (announces from invented members,
    /// pulls of everything, deltas of invented members) for 30 s while the
    /// others keep writing [default: 100 nodes, 1 subnet, no loss].
    Flood {
        #[command(flatten)]
        size: Size,
        /// Datagrams per second of the flood.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
    },
    /// A board dies holding claims and stays down 3 minutes with a 60 s
    /// grace period: time until every node expired it, then its return
    /// [default: 100 nodes, 1 subnet, no loss].
    Expiry(Size),
    /// Boards replaced for --hours simulated hours (a new board every
    /// --replace-every-min minutes, 10-minute grace period): the largest
    /// tables of any node, hourly; they must stay flat [default: 100 nodes,
    /// 1 subnet, no loss].
    LongRun {
        #[command(flatten)]
        size: Size,
        /// Simulated hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// Minutes between two board replacements.
        #[arg(long, default_value_t = 20)]
        replace_every_min: u64,
    },
    /// Boards claim and release a new range every 30 s for --hours
    /// simulated hours, with a 10-minute tombstone period and, in the same
    /// run, without collection: the largest item and retraction counts of
    /// any node, hourly. One board is partitioned away for three periods
    /// and must converge without resurrecting anything [default: 100
    /// nodes, 1 subnet, no loss].
    Tombstones {
        #[command(flatten)]
        size: Size,
        /// Simulated hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Auto-claim in the protocol: every node in auto mode for one group
    /// through a boot, a crash past the hold-down, its return, a newcomer
    /// and a leave; a table of coverage, movement and load per event
    /// [default: 10, 100 and 1000 nodes, nodes / 25 subnets (2 to 32), 1%
    /// loss].
    Auto {
        #[command(flatten)]
        size: Size,
        #[command(flatten)]
        policy: AutoPolicy,
        /// Every k-th node has weight 2 (0: all weight 1).
        #[arg(long, default_value_t = 4)]
        heavy_every: usize,
    },
    /// Draws the key space before and after a board failure and after its
    /// return as an SVG [default: 8 nodes in 2 subnets, 1% loss].
    AutoPicture {
        #[command(flatten)]
        size: Size,
        #[command(flatten)]
        policy: AutoPolicy,
        /// Every k-th node has weight 2 (0: all weight 1).
        #[arg(long, default_value_t = 4)]
        heavy_every: usize,
        /// Where to write the SVG.
        #[arg(long, default_value = "docs/auto-claim.svg")]
        out: PathBuf,
    },
    /// What reconnecting costs at rest: bytes/s per running board with no
    /// member down, one, and half the cluster crashed for good, in the
    /// first 5 minutes after the crash and 15 minutes later, and the
    /// contacts per down member per minute [default: 24 nodes in 3
    /// subnets, no loss].
    ReconnectCost(Size),
    /// The heal checker: each fault kind named against a booted cluster
    /// that keeps writing; the time from the fault's end until every board
    /// holds every write, none holds a running board down and none an old
    /// address, against --bound-ms [default: 24 nodes in 3 subnets].
    Heal(Heal),
}

/// The flags of `sim heal`.
#[derive(Args, Debug)]
pub struct Heal {
    /// Fault kinds (comma-separated, or `all`): router-cut, subnet-split,
    /// boot-cut, router-down, one-way, power-loss, switch-down, renumber,
    /// renumber-restart, expiry-cut, disk-failure.
    #[arg(value_delimiter = ',', required = true)]
    pub kinds: Vec<String>,
    /// Number of nodes [default: 24].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Number of subnets [default: 3].
    #[arg(long)]
    pub subnets: Option<usize>,
    /// Loss rates (comma-separated), each run in turn.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub loss: Vec<f64>,
    /// Run seeds 1..=N of every kind and loss rate and print a table of
    /// heal times and the failures' replay commands (0: only --seed).
    #[arg(long, default_value_t = 0)]
    pub seeds: u64,
    /// A run fails unless healed within this long (ms).
    #[arg(long, default_value_t = 30_000)]
    pub bound_ms: u64,
    /// Without auto mode (only manual claims).
    #[arg(long)]
    pub no_auto: bool,
    #[command(flatten)]
    pub policy: AutoPolicy,
    /// Threads of a --seeds sweep [default: the CPUs].
    #[arg(long)]
    pub jobs: Option<usize>,
}

impl Size {
    /// The size given, each part not given from the mode's defaults.
    pub fn or(&self, nodes: usize, subnets: usize, loss: f64) -> (usize, usize, f64) {
        (
            self.nodes.unwrap_or(nodes),
            self.subnets.unwrap_or(subnets),
            self.loss.unwrap_or(loss),
        )
    }
}
