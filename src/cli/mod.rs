//! The `scalesmall` command line: clap definitions (with help that teaches
//! by example), and dispatch to `run` (the daemon), the control commands
//! (clients of a running node's socket) and the local tools.
//!
//! Exit codes ([`EXIT_CODES`], also in the README): 0 ok, 1 error, 2 usage
//! (clap's own, also for a malformed argument: [`parse`] checks key ranges,
//! keys, group names and node ids before the node is contacted), 3 daemon
//! unreachable, 4 refused (the reason is printed). `run`: 0 only after a stop by SIGTERM
//! or SIGINT, 1 for an error (printed with its causes), 2 usage, 130 when a
//! second signal cuts the shutdown short.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::node::config::LogFormat;

pub mod bench;
pub mod check;
pub mod ctl;
pub mod keys;
pub mod parse;
pub mod run;
pub mod watch;

/// Exit code: the daemon is unreachable.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the daemon refused the request.
pub const EXIT_REFUSED: u8 = 4;

/// The control commands' exit codes, as `--help` prints them (the README
/// lists the same; a test compares them).
pub const EXIT_CODES: &str = "Exit codes: 0 ok; 1 error (such as the node closing the connection \
     mid-request); 2 usage (a malformed argument, refused before the node is contacted); \
     3 daemon unreachable; 4 refused (the reason is printed). `run`: see `scalesmall run --help`.";

/// `scalesmall run`'s environment (every `SCALESMALL_*` variable the
/// config reads; a test compares) and exit codes (it never answers 3 or 4).
const RUN_AFTER_HELP: &str = "\
Environment (above the config file, below these flags; empty means unset):
  SCALESMALL_CONFIG                   config file, as --config
  SCALESMALL_DATA_DIR                 node.data_dir, as --data-dir
  SCALESMALL_PORT                     node.port, as --port
  SCALESMALL_INTERFACE                node.interface, as --interface
  SCALESMALL_ADVERTISE                node.advertise, comma-separated IPs, as --advertise
  SCALESMALL_PEERS                    node.peers, comma-separated IP:PORT (added to the file's)
  SCALESMALL_MULTICAST                node.multicast: true or false (false: seeds only)
  SCALESMALL_MULTICAST_GROUP          node.multicast_group (IPv4)
  SCALESMALL_MULTICAST_GROUP_V6       node.multicast_group_v6 (IPv6)
  SCALESMALL_MULTICAST_TTL            node.multicast_ttl (1..=255)
  SCALESMALL_MULTICAST_LOOP           node.multicast_loop (tests only)
  SCALESMALL_MULTICAST_PORT           node.multicast_port (tests only)
  SCALESMALL_LEAVE_ON_EXIT            node.leave_on_exit, as --leave-on-exit
  SCALESMALL_EXPIRE_AFTER_SECS        node.expire_after_secs (60..=31536000)
  SCALESMALL_TOMBSTONE_TTL_SECS       node.tombstone_ttl_secs (0 or 60..=31536000)
  SCALESMALL_RECONNECT_INTERVAL_SECS  node.reconnect_interval_secs, as --reconnect-interval-secs
  SCALESMALL_HOOK_WINDOW_MS           node.hook_window_ms (0..=60000)
  SCALESMALL_LOG                      node.log, as --log (RUST_LOG, if set, wins)
  SCALESMALL_LOG_FORMAT               node.log_format, as --log-format
  SCALESMALL_CLUSTER                  cluster.name, as --cluster
  SCALESMALL_KEY_FILE                 cluster.key_file, as --key-file
  SCALESMALL_ACCEPT_KEY_FILES         cluster.accept_key_files, comma-separated
  SCALESMALL_INSECURE                 cluster.insecure: true runs without a key
  SCALESMALL_SOCKET                   control.socket, as --socket
  SCALESMALL_HTTP                     control.http, as --http (off: none)
  SCALESMALL_AUTO_HOLD_DOWN_SECS      auto.hold_down_secs (0..=86400)
  SCALESMALL_AUTO_SETTLE_SECS         auto.settle_secs (0..=600)
`scalesmall config check` prints the settings these give (docs/node.md has every key).

Exit codes: 0 stopped cleanly by SIGTERM or SIGINT, 1 error (printed on stderr \
with its causes), 2 usage, 130 a second signal cut the shutdown short. \
SIGHUP re-reads the config's [[groups]] and keeps running.";

/// scalesmall: membership and key-range ownership for clusters of small
/// boards.
///
/// Each board runs `scalesmall run`. It joins named groups and claims ranges
/// of the 32-bit key space; every board that joined a group learns every
/// other board's claims in it over multicast and a TCP tree, so `scalesmall
/// lookup GROUP KEY` on any of them names the boards that serve KEY (a board
/// holds only the groups it joined: `join` one to read it).
///
/// Quick start on one board:
///
///   scalesmall run &
///   scalesmall join demo
///   scalesmall claim demo 0..0x7fffffff --priority 10 --port 8080
///   scalesmall lookup demo user:42
#[derive(Parser, Debug)]
#[command(name = "scalesmall", version, about, long_about, after_help = EXIT_CODES, verbatim_doc_comment)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Options shared by the commands that talk to a running node.
#[derive(Args, Debug, Clone, Default)]
pub struct CtlArgs {
    /// The node's control socket (default: from the config, else
    /// /run/scalesmall/control.sock, else <data dir>/control.sock).
    #[arg(long, env = "SCALESMALL_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The node's config file (to find its socket).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `scalesmall run` (each overrides the config file and the
/// environment).
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Config file (default: /etc/scalesmall/scalesmall.toml if it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the node keeps its id, incarnation, own state and key.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// UDP and TCP port (default 29999).
    #[arg(long, value_parser = parse::port)]
    pub port: Option<u16>,
    /// Network interface (default: the one with the default route, IPv4
    /// else IPv6).
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// Address to advertise to peers, and listen on (repeatable; default:
    /// the interface's first IPv4 and preferred IPv6 address).
    #[arg(long, value_name = "IP")]
    pub advertise: Vec<IpAddr>,
    /// Seed peer in a subnet multicast cannot reach (repeatable), as an IP
    /// address with an optional port, e.g. --peer 10.1.0.5:29999 or
    /// --peer [fd00::5]:29999.
    #[arg(long = "peer", value_name = "IP:PORT", value_parser = parse::peer)]
    pub peers: Vec<SocketAddr>,
    /// Do not use multicast (seeds only).
    #[arg(long)]
    pub no_multicast: bool,
    /// Receive our own multicast (several nodes on one host; tests).
    #[arg(long, hide = true)]
    pub multicast_loop: bool,
    /// Multicast port, if not the node's port (several nodes on one host).
    #[arg(long, hide = true, value_parser = parse::port)]
    pub multicast_port: Option<u16>,
    /// Cluster name: clusters on one LAN ignore each other by name.
    #[arg(long, value_parser = parse::cluster)]
    pub cluster: Option<String>,
    /// Cluster key file (one line of base64 from `scalesmall keygen`).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Run without a key: frames are neither secret nor authenticated.
    #[arg(long)]
    pub insecure: bool,
    /// Control socket path.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Serve the status page (/), the JSON API (/api/v1/) and Prometheus
    /// /metrics on this address, e.g. 127.0.0.1:29980 (GET only, no
    /// credentials: localhost or a trusted LAN; `off`: none).
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse::http)]
    pub http: Option<String>,
    /// Log filter (RUST_LOG syntax), e.g. info or scalesmall=debug.
    #[arg(long, value_name = "FILTER", value_parser = parse::log_filter)]
    pub log: Option<String>,
    /// Log format: auto, human, compact or json.
    #[arg(long, value_name = "FORMAT", value_parser = parse::log_format)]
    pub log_format: Option<LogFormat>,
    /// Retract this node's items when it shuts down cleanly.
    #[arg(long)]
    pub leave_on_exit: bool,
    /// Contact seeds, unreachable islands and (backing off) down peers at
    /// least this often, so a partition heals once the network does
    /// (1..=3600; default 10).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reconnect_interval_secs: Option<u64>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a node (the daemon).
    ///
    /// With no config file it works on a LAN: it picks the interface with
    /// the default route, listens on its IPv4 and IPv6 addresses (port
    /// 29999, UDP and TCP), joins multicast group 239.255.77.77 (ff02::77:77
    /// on an interface without IPv4), keeps its data in /var/lib/scalesmall (or
    /// ~/.local/share/scalesmall) and generates a cluster key there on first
    /// start. Settings come from the config file, SCALESMALL_* variables and
    /// these flags, in that order (docs/node.md).
    ///
    /// Examples:
    ///
    ///   scalesmall run
    ///   scalesmall run --config /etc/scalesmall/scalesmall.toml
    ///   scalesmall run --peer 10.1.0.5:29999 --key-file /etc/scalesmall/cluster.key
    ///   scalesmall run --peer [fd00::5]:29999
    #[command(about = "Run a node (the daemon)", after_help = RUN_AFTER_HELP, verbatim_doc_comment)]
    Run(RunArgs),

    /// Join a group as a reader (`Get`): this board then holds the group and
    /// can look up its keys.
    ///
    /// A board stores only the groups it is a member of (joined, or claimed
    /// in): of the others it knows just the names. Joining starts the group
    /// empty and pulls it from a member at once.
    ///
    /// Example: `scalesmall join demo`
    Join {
        /// The group (1 to 255 bytes of UTF-8).
        #[arg(value_parser = parse::group)]
        group: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Leave a group: retract every item of this board in it.
    ///
    /// In auto mode the leave is graceful: the board drops out of the
    /// group's auto members first and keeps serving each of its ranges
    /// until the others hold it (at most a minute), then retracts the rest.
    ///
    /// Example: `scalesmall leave demo`
    Leave {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Claim a range of keys (`Add`): this board serves them. Or let the
    /// board pick its own ranges (auto mode).
    ///
    /// The range is inclusive, START..END, decimal or 0x-hex, within
    /// 0..0xffffffff; `full` is the whole key space.
    ///
    /// With --auto (and no range) the board picks its own slices of the
    /// group's key space: together the auto boards serve every key R times
    /// (the group's `replicas`, default 2), each board a share in
    /// proportion to its --weight (default 1; 0 = standby: it claims only
    /// what the others cannot cover). It keeps doing so as boards come and
    /// go; a board down for less than the hold-down (60 s by default) moves
    /// nothing. Every board must use the same replicas and slices for the
    /// group (config file, [[groups]]): `scalesmall status` lists boards
    /// whose policy differs. Run --auto again to change the weight, port or
    /// priority.
    ///
    /// With --manual the board stops picking: the ranges it holds stay, as
    /// ordinary claims, until released.
    ///
    /// A group declared in the config file follows the file again at the
    /// next reload or restart (auto = true there, or its listed claims).
    ///
    /// Examples:
    ///
    ///   scalesmall claim demo 0..0x7fffffff --priority 10 --port 8080
    ///   scalesmall claim cache full
    ///   scalesmall claim kv --auto --weight 2 --port 8080
    ///   scalesmall claim kv --auto --weight 0
    ///   scalesmall claim kv --manual
    #[command(
        about = "Claim a range of keys (`Add`): this board serves them; or, with --auto, let it pick its own",
        verbatim_doc_comment
    )]
    Claim {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// START..END (inclusive); not with --auto or --manual.
        #[arg(
            required_unless_present_any = ["auto", "manual"],
            conflicts_with_all = ["auto", "manual"],
            value_parser = parse::range
        )]
        range: Option<String>,
        /// Let this board pick its own ranges of the group (auto mode).
        #[arg(long, conflicts_with = "manual")]
        auto: bool,
        /// Leave auto mode: keep the ranges held, as manual claims.
        #[arg(long, conflicts_with_all = ["weight", "priority", "port"])]
        manual: bool,
        /// With --auto: this board's capacity share, relative to the
        /// others' (default 1; 0 = standby).
        #[arg(long, requires = "auto", conflicts_with = "range", value_name = "W")]
        weight: Option<u16>,
        /// Ordering hint among servers of a key: higher first (default 0;
        /// with --auto: as before, else the highest of this board's claims).
        #[arg(long)]
        priority: Option<u16>,
        /// The service port clients use for this range (0: none).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Release a claimed range (`Rmv`); it must be exactly a claimed range.
    ///
    /// Example: `scalesmall release demo 0..0x7fffffff`
    Release {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// The claimed START..END.
        #[arg(value_parser = parse::range)]
        range: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Forget a board that will never come back (on this node).
    ///
    /// Its claims leave this node's view at once, as they would after the
    /// grace period down (24 h), and its old writes are refused from then
    /// on. If it is heard again it is taken back. Run it on every board
    /// (ansible boards -a 'scalesmall forget NODE'); NODE is the id that
    /// `scalesmall peers` shows.
    ///
    /// Example: `scalesmall forget 3f2a9c0d11e84b27`
    Forget {
        /// The node id (hex).
        #[arg(value_parser = parse::node)]
        node: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Which boards serve a key, priority high to low.
    ///
    /// Only in a group this board is a member of (`join` it first to read
    /// it). KEY is a u32 (decimal or 0x-hex) or any other non-empty string,
    /// which is hashed with xxHash32 (seed 0) as every client should.
    ///
    /// Examples:
    ///
    ///   scalesmall lookup demo 42
    ///   scalesmall lookup demo user:42
    #[command(
        about = "Which boards serve a key, priority high to low",
        verbatim_doc_comment
    )]
    Lookup {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// The key.
        #[arg(value_parser = parse::key)]
        key: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// The boards with a live item in a group, and their state.
    ///
    /// Each board's state is this board's view of it, as `peers` shows:
    /// alive, suspect or down. A group this board has never heard of is
    /// refused (exit 4); on a board that is not a member of the group the
    /// list is empty (`join` it to read it; --json has "member": false).
    ///
    /// Example: `scalesmall members demo`
    Members {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Every item of a group: who serves or reads what, and retractions.
    ///
    /// Example: `scalesmall topology demo`
    Topology {
        /// The group.
        #[arg(value_parser = parse::group)]
        group: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// The peers this board knows.
    ///
    /// Example: `scalesmall peers`
    Peers {
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// This board's status: id, arch, clock, groups, peers, converged.
    ///
    /// Examples:
    ///
    ///   scalesmall status
    ///   scalesmall status --json | jq .converged
    #[command(
        about = "This board's status: id, arch, clock, groups, peers, converged",
        verbatim_doc_comment
    )]
    Status {
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Print changes as they happen (until interrupted).
    ///
    /// Each line: the wall-clock time, the event, the group and node it
    /// concerns (with --json: one JSON object, `time` and `at_ms` included).
    /// --exec runs a command for each event, as a configured hook would
    /// (docs/node.md "Hooks").
    ///
    /// Examples:
    ///   scalesmall watch --json
    ///   scalesmall watch --exec 'logger -t scalesmall "$SCALESMALL_EVENT $SCALESMALL_GROUP"'
    #[command(
        about = "Print changes as they happen, until interrupted; --exec runs a command for each",
        verbatim_doc_comment
    )]
    Watch {
        /// Run CMD (by /bin/sh -c) for each event, one at a time: the event
        /// in SCALESMALL_EVENT, SCALESMALL_GROUP, SCALESMALL_NODE, its JSON
        /// on stdin; killed after 30 s.
        #[arg(long, value_name = "CMD")]
        exec: Option<String>,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// This board's cluster keys: rotate them without restarts
    ///
    /// Each command acts on this board only; run it on every board (the
    /// Ansible playbook rotate-key.yml does). A rotation:
    ///
    ///   scalesmall keys install new.key     # on every board: accept the new key
    ///   scalesmall keys use 0x1a2b3c4d      # on every board: send with it
    ///   scalesmall keys list                # until no peer sends the old id
    ///   scalesmall keys remove 0x0badf00d   # on every board: drop the old key
    ///
    /// Changes are stored in the data dir's keyring file, which overrides
    /// cluster.key_file and accept_key_files once it exists (`keys reset`
    /// deletes it). Refused under --insecure.
    #[command(subcommand, verbatim_doc_comment)]
    Keys(keys::KeysCmd),

    /// Print a new random cluster key (32 bytes, base64).
    ///
    /// Every node of a cluster needs the same key: it seals and
    /// authenticates every frame. Anyone holding it can speak for any
    /// member, so keep it like a root password and rotate it when a board
    /// is lost (docs/wire.md, "Keyring"). The key goes to standard output,
    /// the advice to standard error, so
    ///
    ///   scalesmall keygen > /etc/scalesmall/cluster.key
    ///
    /// writes a key file and nothing else.
    #[command(
        about = "Print a new random cluster key (32 bytes, base64)",
        verbatim_doc_comment
    )]
    Keygen,

    /// Print the 32-bit key of a string key (xxHash32, seed 0), as `lookup`
    /// uses it.
    ///
    /// Example: `scalesmall key-hash user:42`
    KeyHash {
        /// The key, as UTF-8 text.
        key: String,
    },

    /// Measure merge and codec speed on this machine (a few seconds).
    ///
    /// Prints a table with the architecture, the version and nanoseconds
    /// per operation; paste it into an issue when reporting performance on
    /// a board: `scalesmall bench`
    Bench,

    /// Check a config file and show the settings `run` would use.
    #[command(subcommand)]
    Config(ConfigCmd),
}

/// `scalesmall config ...`
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate the config (file, environment and defaults) and print the
    /// settings that `scalesmall run` would use.
    ///
    /// A summary by default; --json prints every setting in the config
    /// file's sections (node, cluster, control, auto, groups) with "ok":
    /// true, or {"ok": false, "error": ...} for an invalid config. Exit 0
    /// valid, 1 invalid (the reason names the key and where it came from).
    ///
    /// Example: `scalesmall config check --config /etc/scalesmall/scalesmall.toml`
    Check {
        /// The config file (default: /etc/scalesmall/scalesmall.toml if it exists).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print every setting as JSON, in the config file's sections.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line; returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(args) => run::main(&args),
        Cmd::Keygen => keygen(),
        Cmd::KeyHash { key } => {
            let h = crate::model::key_hash(key.as_bytes());
            println!("{h} ({h:#010x})");
            ExitCode::SUCCESS
        }
        Cmd::Bench => match bench::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Config(ConfigCmd::Check { config, json }) => check::main(config.as_deref(), json),
        other => ctl::main(other),
    }
}

/// The single-threaded tokio runtime the commands run on; `None` (the
/// reason printed) if it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("error: cannot start the runtime: {e}"))
        .ok()
}

fn keygen() -> ExitCode {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        eprintln!("error: cannot read OS randomness: {e}");
        return ExitCode::FAILURE;
    }
    let key = crate::wire::Key::from_bytes(bytes);
    println!("{}", key.to_base64());
    eprintln!(
        "# key id {:#010x}; give this key to every node of the cluster (cluster.key_file) and keep it secret",
        key.id()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run --help` names every setting's variable, with its key.
    #[test]
    fn run_help_lists_every_setting_variable() {
        for s in crate::node::config::SETTINGS {
            let line = RUN_AFTER_HELP
                .lines()
                .find(|l| l.split_whitespace().next() == Some(s.env));
            let line = line.unwrap_or_else(|| panic!("run --help lacks {}", s.env));
            assert!(line.contains(s.key), "{line} does not name {}", s.key);
        }
    }
}
