//! `Config`: every setting of a node, from (in increasing precedence)
//! built-in defaults, the TOML config file, `SCALESMALL_*` environment
//! variables and command-line flags, into one typed value with clear errors.
//!
//! The schema is documented in `docs/node.md`. Errors say where the value
//! came from (file and key, variable, or flag), what was wrong and what is
//! allowed. Unknown keys in the file are errors (a typo must not be ignored).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::model::{GroupName, KeyRange};
use crate::protocol::auto_claim::Policy;
use crate::protocol::{AutoConfig, ProtocolConfig};

/// The default config file, read if it exists.
pub const DEFAULT_CONFIG: &str = "/etc/scalesmall/scalesmall.toml";
/// The default port (UDP and TCP), as in the original.
pub const DEFAULT_PORT: u16 = 29999;
/// The default multicast group (administratively scoped, RFC 2365).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// The default IPv6 multicast group, used on an interface without IPv4:
/// link-local scope (`ff02::`, never routed), group id `77:77` like the
/// IPv4 group's last bytes (RFC 4291; clear of the well-known and
/// solicited-node groups).
pub const DEFAULT_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x77, 0x77);

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human on a terminal, compact otherwise.
    #[default]
    Auto,
    /// Multi-line, coloured.
    Human,
    /// One line per event, no colour (journald-friendly).
    Compact,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "human" => Ok(Self::Human),
            "compact" => Ok(Self::Compact),
            "json" => Ok(Self::Json),
            _ => Err("must be one of auto, human, compact, json".to_owned()),
        }
    }
}

/// A claim declared in the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredClaim {
    /// The keys.
    pub range: KeyRange,
    /// Priority hint (higher first).
    pub priority: u16,
    /// Service port (0 = none).
    pub port: u16,
}

/// Auto mode declared for a group (`auto = true`): the node picks its own
/// ranges of the group (see the README, "Auto mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclaredAuto {
    /// Capacity share (`weight`, default 1; 0 = standby).
    pub weight: u16,
    /// Priority of the ranges claimed (`priority`; `None`: the highest of
    /// the node's current claims there, else 0).
    pub priority: Option<u16>,
    /// Service port of the ranges claimed (`port`, default 0 = none).
    pub port: u16,
}

/// A group declared in the config file: the node joins it and makes its
/// claims there exactly these, or, in auto mode, lets auto-claim pick them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredGroup {
    /// The group.
    pub name: GroupName,
    /// Its claims (always empty in auto mode).
    pub claims: Vec<DeclaredClaim>,
    /// `auto = true`: the node is in auto mode for the group.
    pub auto: Option<DeclaredAuto>,
    /// The group's auto-claim policy, if `replicas` or `slices` is set
    /// (every board must set the same).
    pub policy: Option<Policy>,
}

/// Every setting of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the config file was read from, if any.
    pub file: Option<PathBuf>,
    /// The data dir.
    pub data_dir: PathBuf,
    /// UDP and TCP port.
    pub port: u16,
    /// The interface to use; `None`: the default route's.
    pub interface: Option<String>,
    /// Addresses to advertise; empty: the interface's.
    pub advertise: Vec<IpAddr>,
    /// Seed peers.
    pub peers: Vec<SocketAddr>,
    /// Whether to use multicast.
    pub multicast: bool,
    /// The IPv4 multicast group (when the interface has IPv4).
    pub multicast_group: Ipv4Addr,
    /// The IPv6 multicast group (when the interface has no IPv4).
    pub multicast_group_v6: Ipv6Addr,
    /// Multicast TTL (1: the LAN).
    pub multicast_ttl: u32,
    /// Receive our own multicast (tests only).
    pub multicast_loop: bool,
    /// Multicast port, if not `port` (several nodes on one host).
    pub multicast_port: Option<u16>,
    /// Retract own items on a clean shutdown.
    pub leave_on_exit: bool,
    /// Expire a peer down this many seconds (its claims leave the view).
    pub expire_after_secs: u64,
    /// Collect own retractions written at least this many seconds ago, at
    /// the next write (0 = never).
    pub tombstone_ttl_secs: u64,
    /// Contact seeds, unreachable islands and (with backoff) down peers at
    /// least this often (seconds): a partition heals once the network does.
    pub reconnect_interval_secs: u64,
    /// Log filter (`RUST_LOG` syntax).
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// The cluster's name (its id is a hash of it).
    pub cluster: String,
    /// The primary key file; `None`: `<data_dir>/cluster.key`, generated.
    pub key_file: Option<PathBuf>,
    /// Extra keys accepted (rotation).
    pub accept_key_files: Vec<PathBuf>,
    /// No key at all: frames are neither secret nor authenticated.
    pub insecure: bool,
    /// The control socket; `None`: the default place.
    pub socket: Option<PathBuf>,
    /// The HTTP listener (metrics, status page); `None`: off.
    pub http: Option<SocketAddr>,
    /// Declared groups.
    pub groups: Vec<DeclaredGroup>,
    /// `[auto] hold_down_secs`: an auto member down for less than this
    /// still counts as present (a reboot moves nothing).
    pub auto_hold_down_secs: u64,
    /// `[auto] settle_secs`: no auto-claim decision this long after start.
    pub auto_settle_secs: u64,
}

/// Default `[auto] hold_down_secs`.
pub const DEFAULT_HOLD_DOWN_SECS: u64 = crate::protocol::auto_claim::DEFAULT_HOLD_DOWN_MS / 1000;
/// Default `[auto] settle_secs`.
pub const DEFAULT_SETTLE_SECS: u64 = 5;
/// Largest `[auto] hold_down_secs` (a day).
const MAX_HOLD_DOWN_SECS: i64 = 24 * 3600;
/// Largest `[auto] settle_secs` (ten minutes).
const MAX_SETTLE_SECS: i64 = 600;

/// Values from command-line flags (`None`: not given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--interface`.
    pub interface: Option<String>,
    /// `--advertise` (repeatable).
    pub advertise: Vec<IpAddr>,
    /// `--peer` (repeatable; added to the file's).
    pub peers: Vec<SocketAddr>,
    /// `--no-multicast`.
    pub multicast: Option<bool>,
    /// `--multicast-loop` (tests).
    pub multicast_loop: Option<bool>,
    /// `--multicast-port` (tests).
    pub multicast_port: Option<u16>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: Option<bool>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--http`.
    pub http: Option<String>,
    /// `--log`.
    pub log: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--leave-on-exit`.
    pub leave_on_exit: Option<bool>,
    /// `--reconnect-interval-secs`.
    pub reconnect_interval_secs: Option<u64>,
}

/// A bad setting: where it came from, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is not allowed.
    #[error("{origin}: {key} = {value:?}: {problem}")]
    Invalid {
        /// The file, variable or flag.
        origin: String,
        /// The setting.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type...).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The file cannot be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    node: NodeSection,
    #[serde(default)]
    cluster: ClusterSection,
    #[serde(default)]
    control: ControlSection,
    #[serde(default)]
    auto: AutoSection,
    #[serde(default)]
    groups: Vec<GroupSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AutoSection {
    hold_down_secs: Option<i64>,
    settle_secs: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    data_dir: Option<PathBuf>,
    port: Option<i64>,
    interface: Option<String>,
    advertise: Option<Vec<String>>,
    peers: Option<Vec<String>>,
    multicast: Option<bool>,
    multicast_group: Option<String>,
    multicast_group_v6: Option<String>,
    multicast_ttl: Option<i64>,
    multicast_loop: Option<bool>,
    multicast_port: Option<i64>,
    leave_on_exit: Option<bool>,
    expire_after_secs: Option<i64>,
    tombstone_ttl_secs: Option<i64>,
    reconnect_interval_secs: Option<i64>,
    log: Option<String>,
    log_format: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClusterSection {
    name: Option<String>,
    key_file: Option<PathBuf>,
    accept_key_files: Option<Vec<PathBuf>>,
    insecure: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ControlSection {
    socket: Option<PathBuf>,
    http: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSection {
    name: String,
    #[serde(default)]
    claims: Vec<ClaimSection>,
    auto: Option<bool>,
    weight: Option<i64>,
    priority: Option<i64>,
    port: Option<i64>,
    replicas: Option<i64>,
    slices: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimSection {
    range: String,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    port: i64,
}

fn invalid(origin: &str, key: &str, value: impl ToString, problem: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_owned(),
        key: key.to_owned(),
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

fn port(origin: &str, key: &str, v: i64) -> Result<u16, ConfigError> {
    u16::try_from(v)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid(origin, key, v, "must be 1..=65535"))
}

fn u16_field(origin: &str, key: &str, v: i64) -> Result<u16, ConfigError> {
    u16::try_from(v).map_err(|_| invalid(origin, key, v, "must be 0..=65535"))
}

/// What a seed address must look like (config, environment and `--peer`).
pub const PEER_FORMAT: &str = "must be an IP address with an optional port, like 10.1.0.5:29999 or \
     [fd00::5]:29999 (static binaries cannot resolve host names beyond /etc/hosts)";

/// A seed address: `IP:PORT`, `[IPv6]:PORT`, or an IP alone (the default
/// port); `None` if it is neither.
#[must_use]
pub fn parse_peer(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>().ok().or_else(|| {
        // `fd00::5` and `[fd00::5]` without a port.
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
    })
}

fn peer(origin: &str, key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    parse_peer(s).ok_or_else(|| invalid(origin, key, s, PEER_FORMAT))
}

fn truthy(origin: &str, key: &str, s: &str) -> Result<bool, ConfigError> {
    match s.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(origin, key, s, "must be true or false")),
    }
}

/// What an HTTP listen address must look like (config, environment and
/// `--http`).
pub const HTTP_FORMAT: &str = "must be ADDR:PORT like 127.0.0.1:29980 (0.0.0.0:29980 only on a trusted LAN), \
     or empty or `off` for off";

/// An HTTP listen address: `Some(None)` for off (empty or `off`),
/// `None` if it is not one.
#[must_use]
pub fn parse_http(s: &str) -> Option<Option<SocketAddr>> {
    let s = s.trim();
    if s.is_empty() || s == "off" {
        return Some(None);
    }
    s.parse::<SocketAddr>().ok().map(Some)
}

fn http_addr(origin: &str, key: &str, s: &str) -> Result<Option<SocketAddr>, ConfigError> {
    parse_http(s).ok_or_else(|| invalid(origin, key, s, HTTP_FORMAT))
}

/// Whether `dir` accepts a new file (or, if it does not exist yet, its
/// parent does, so it could be created). Creates nothing that stays.
fn writable(dir: &Path) -> bool {
    let probe_in = |d: &Path| {
        let probe = d.join(format!(".scalesmall-probe-{}", std::process::id()));
        let ok = std::fs::write(&probe, b"").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    };
    if dir.is_dir() {
        probe_in(dir)
    } else {
        dir.parent().is_some_and(|p| p.is_dir() && probe_in(p))
    }
}

/// `/var/lib/scalesmall` when writable, else the XDG data dir.
#[must_use]
pub fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let system = PathBuf::from("/var/lib/scalesmall");
    if writable(&system) {
        return system;
    }
    if let Some(x) = env("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(x).join("scalesmall");
    }
    if let Some(home) = env("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".local/share/scalesmall");
    }
    std::env::temp_dir().join("scalesmall")
}

/// Where the control socket lives by default: systemd's runtime directory,
/// else `/run/scalesmall` when writable, else the data dir.
#[must_use]
pub fn default_socket(data_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(rt) = env("RUNTIME_DIRECTORY").filter(|s| !s.is_empty()) {
        // systemd may list several, separated by ':'.
        let first = rt.split(':').next().unwrap_or(&rt);
        return PathBuf::from(first).join("control.sock");
    }
    let run = PathBuf::from("/run/scalesmall");
    if writable(&run) {
        return run.join("control.sock");
    }
    data_dir.join("control.sock")
}

impl Config {
    /// Loads defaults, then `file` (or the default file if it exists), then
    /// the environment (`env`), then `flags`.
    ///
    /// # Errors
    /// The first bad setting, with where it came from.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let explicit = file.map(Path::to_path_buf).or_else(|| {
            env("SCALESMALL_CONFIG")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        });
        let (path, parsed) = match explicit {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                (Some(p.clone()), parse_file(&p, &text)?)
            }
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG);
                match std::fs::read_to_string(&p) {
                    Ok(text) => (Some(p.clone()), parse_file(&p, &text)?),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (None, FileConfig::default())
                    }
                    // There but unreadable (e.g. 0640 root:scalesmall and
                    // we are not in the group): an error, not the defaults.
                    Err(source) => return Err(ConfigError::Read { path: p, source }),
                }
            }
        };
        let origin = path.as_ref().map_or_else(
            || "defaults".to_owned(),
            |p| format!("config {}", p.display()),
        );
        let o = origin.as_str();
        let n = &parsed.node;
        let mut cfg = Config {
            file: path.clone(),
            data_dir: PathBuf::new(),
            port: match n.port {
                Some(v) => port(o, "node.port", v)?,
                None => DEFAULT_PORT,
            },
            interface: n.interface.clone().filter(|s| !s.is_empty()),
            advertise: n
                .advertise
                .iter()
                .flatten()
                .map(|s| {
                    s.parse()
                        .map_err(|_| invalid(o, "node.advertise", s, "must be IP addresses"))
                })
                .collect::<Result<_, _>>()?,
            peers: n
                .peers
                .iter()
                .flatten()
                .map(|s| peer(o, "node.peers", s))
                .collect::<Result<_, _>>()?,
            multicast: n.multicast.unwrap_or(true),
            multicast_group: match &n.multicast_group {
                Some(s) => s
                    .parse::<Ipv4Addr>()
                    .ok()
                    .filter(Ipv4Addr::is_multicast)
                    .ok_or_else(|| {
                        invalid(
                            o,
                            "node.multicast_group",
                            s,
                            "must be an IPv4 multicast address, preferably administratively scoped (239.0.0.0/8)",
                        )
                    })?,
                None => DEFAULT_GROUP,
            },
            multicast_group_v6: match &n.multicast_group_v6 {
                Some(s) => s
                    .parse::<Ipv6Addr>()
                    .ok()
                    .filter(Ipv6Addr::is_multicast)
                    .ok_or_else(|| {
                        invalid(
                            o,
                            "node.multicast_group_v6",
                            s,
                            "must be an IPv6 multicast address, preferably link-local scope (ff02::/16)",
                        )
                    })?,
                None => DEFAULT_GROUP_V6,
            },
            multicast_ttl: match n.multicast_ttl {
                Some(v) => u32::try_from(v)
                    .ok()
                    .filter(|t| (1..=255).contains(t))
                    .ok_or_else(|| invalid(o, "node.multicast_ttl", v, "must be 1..=255 (1 keeps it on the LAN)"))?,
                None => 1,
            },
            multicast_loop: n.multicast_loop.unwrap_or(false),
            multicast_port: match n.multicast_port {
                Some(v) => Some(port(o, "node.multicast_port", v)?),
                None => None,
            },
            leave_on_exit: n.leave_on_exit.unwrap_or(false),
            expire_after_secs: match n.expire_after_secs {
                None => 24 * 3600,
                Some(v) if (60..=365 * 24 * 3600).contains(&v) => v.unsigned_abs(),
                Some(v) => {
                    return Err(invalid(
                        o,
                        "node.expire_after_secs",
                        v,
                        "between 60 (a minute) and 31536000 (a year)",
                    ));
                }
            },
            tombstone_ttl_secs: match n.tombstone_ttl_secs {
                None => 3600,
                Some(v) if v == 0 || (60..=365 * 24 * 3600).contains(&v) => v.unsigned_abs(),
                Some(v) => {
                    return Err(invalid(
                        o,
                        "node.tombstone_ttl_secs",
                        v,
                        "0 (never collect) or between 60 (a minute) and 31536000 (a year)",
                    ));
                }
            },
            reconnect_interval_secs: match n.reconnect_interval_secs {
                None => DEFAULT_RECONNECT_SECS,
                Some(v) => reconnect_secs(o, "node.reconnect_interval_secs", v)?,
            },
            log: n.log.clone().unwrap_or_else(|| "info".to_owned()),
            log_format: match &n.log_format {
                Some(s) => s.parse().map_err(|e| invalid(o, "node.log_format", s, e))?,
                None => LogFormat::Auto,
            },
            cluster: parsed
                .cluster
                .name
                .clone()
                .unwrap_or_else(|| "scalesmall".to_owned()),
            key_file: parsed.cluster.key_file.clone(),
            accept_key_files: parsed.cluster.accept_key_files.clone().unwrap_or_default(),
            insecure: parsed.cluster.insecure.unwrap_or(false),
            socket: parsed.control.socket.clone(),
            http: match &parsed.control.http {
                Some(s) => http_addr(o, "control.http", s)?,
                None => None,
            },
            groups: declared_groups(o, &parsed.groups)?,
            auto_hold_down_secs: match parsed.auto.hold_down_secs {
                None => DEFAULT_HOLD_DOWN_SECS,
                Some(v) => secs(o, "auto.hold_down_secs", v, MAX_HOLD_DOWN_SECS)?,
            },
            auto_settle_secs: match parsed.auto.settle_secs {
                None => DEFAULT_SETTLE_SECS,
                Some(v) => secs(o, "auto.settle_secs", v, MAX_SETTLE_SECS)?,
            },
        };
        let file_data_dir = n.data_dir.clone();
        cfg.apply_env(env)?;
        cfg.apply_flags(flags);
        cfg.data_dir = flags
            .data_dir
            .clone()
            .or_else(|| {
                env("SCALESMALL_DATA_DIR")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
            .or(file_data_dir)
            .unwrap_or_else(|| default_data_dir(env));
        if cfg.cluster.is_empty() || cfg.cluster.len() > 255 {
            return Err(invalid(
                "settings",
                "cluster.name",
                &cfg.cluster,
                "must be 1 to 255 bytes",
            ));
        }
        Ok(cfg)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |k: &str| env(k).filter(|s| !s.is_empty());
        let e = |k: &str| format!("environment {k}");
        if let Some(v) = get("SCALESMALL_PORT") {
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| invalid(&e("SCALESMALL_PORT"), "port", &v, "must be 1..=65535"))?;
            self.port = port(&e("SCALESMALL_PORT"), "port", n)?;
        }
        if let Some(v) = get("SCALESMALL_INTERFACE") {
            self.interface = Some(v);
        }
        if let Some(v) = get("SCALESMALL_PEERS") {
            for p in v.split(',').filter(|p| !p.trim().is_empty()) {
                self.peers.push(peer(&e("SCALESMALL_PEERS"), "peers", p)?);
            }
        }
        if let Some(v) = get("SCALESMALL_MULTICAST") {
            self.multicast = truthy(&e("SCALESMALL_MULTICAST"), "multicast", &v)?;
        }
        if let Some(v) = get("SCALESMALL_CLUSTER") {
            self.cluster = v;
        }
        if let Some(v) = get("SCALESMALL_KEY_FILE") {
            self.key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SCALESMALL_INSECURE") {
            self.insecure = truthy(&e("SCALESMALL_INSECURE"), "insecure", &v)?;
        }
        if let Some(v) = get("SCALESMALL_SOCKET") {
            self.socket = Some(PathBuf::from(v));
        }
        if let Some(v) = get("SCALESMALL_HTTP") {
            self.http = http_addr(&e("SCALESMALL_HTTP"), "http", &v)?;
        }
        if let Some(v) = get("SCALESMALL_LOG") {
            self.log = v;
        }
        if let Some(v) = get("SCALESMALL_AUTO_HOLD_DOWN_SECS") {
            let o = e("SCALESMALL_AUTO_HOLD_DOWN_SECS");
            self.auto_hold_down_secs = env_secs(&o, "auto.hold_down_secs", &v, MAX_HOLD_DOWN_SECS)?;
        }
        if let Some(v) = get("SCALESMALL_AUTO_SETTLE_SECS") {
            let o = e("SCALESMALL_AUTO_SETTLE_SECS");
            self.auto_settle_secs = env_secs(&o, "auto.settle_secs", &v, MAX_SETTLE_SECS)?;
        }
        if let Some(v) = get("SCALESMALL_RECONNECT_INTERVAL_SECS") {
            let o = e("SCALESMALL_RECONNECT_INTERVAL_SECS");
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| invalid(&o, "node.reconnect_interval_secs", &v, RECONNECT_RANGE))?;
            self.reconnect_interval_secs = reconnect_secs(&o, "node.reconnect_interval_secs", n)?;
        }
        if let Some(v) = get("SCALESMALL_LOG_FORMAT") {
            self.log_format = v
                .parse()
                .map_err(|p| invalid(&e("SCALESMALL_LOG_FORMAT"), "log_format", &v, p))?;
        }
        Ok(())
    }

    fn apply_flags(&mut self, f: &Overrides) {
        if let Some(v) = f.port {
            self.port = v;
        }
        if let Some(v) = &f.interface {
            self.interface = Some(v.clone());
        }
        if !f.advertise.is_empty() {
            self.advertise = f.advertise.clone();
        }
        self.peers.extend(f.peers.iter().copied());
        self.peers.sort_unstable();
        self.peers.dedup();
        if let Some(v) = f.multicast {
            self.multicast = v;
        }
        if let Some(v) = f.multicast_loop {
            self.multicast_loop = v;
        }
        if let Some(v) = f.multicast_port {
            self.multicast_port = Some(v);
        }
        if let Some(v) = &f.cluster {
            self.cluster = v.clone();
        }
        if let Some(v) = &f.key_file {
            self.key_file = Some(v.clone());
        }
        if let Some(v) = f.insecure {
            self.insecure = v;
        }
        if let Some(v) = &f.socket {
            self.socket = Some(v.clone());
        }
        if let Some(v) = &f.http {
            // Validated by the CLI's parser; an invalid one is ignored here.
            self.http = http_addr("flag", "--http", v).ok().flatten();
        }
        if let Some(v) = &f.log {
            self.log = v.clone();
        }
        if let Some(v) = f.log_format {
            self.log_format = v;
        }
        if let Some(v) = f.leave_on_exit {
            self.leave_on_exit = v;
        }
        if let Some(v) = f.reconnect_interval_secs {
            self.reconnect_interval_secs = v;
        }
    }

    /// The protocol's settings derived from this config.
    #[must_use]
    pub fn protocol(&self) -> ProtocolConfig {
        ProtocolConfig {
            multicast: self.multicast,
            seeds: self.peers.clone(),
            expire_after: self.expire_after_secs.saturating_mul(1000),
            tombstone_ttl: self.tombstone_ttl_secs.saturating_mul(1000),
            reconnect_interval: self.reconnect_interval_secs.saturating_mul(1000),
            auto: self.auto_config(),
            ..ProtocolConfig::default()
        }
    }

    /// The auto-claim settings: `[auto]` and the policies of the declared
    /// groups that set `replicas` or `slices`.
    #[must_use]
    pub fn auto_config(&self) -> AutoConfig {
        AutoConfig {
            policies: self
                .groups
                .iter()
                .filter_map(|g| g.policy.map(|p| (g.name.clone(), p)))
                .collect(),
            hold_down: self.auto_hold_down_secs.saturating_mul(1000),
            settle: self.auto_settle_secs.saturating_mul(1000),
            ..AutoConfig::default()
        }
    }

    /// The control socket's path.
    #[must_use]
    pub fn socket_path(&self, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| default_socket(&self.data_dir, env))
    }
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })
}

/// The declared groups; a group declared twice is an error (the second
/// would silently undo the first's claims).
fn declared_groups(
    origin: &str,
    groups: &[GroupSection],
) -> Result<Vec<DeclaredGroup>, ConfigError> {
    let mut out: Vec<DeclaredGroup> = Vec::with_capacity(groups.len());
    for g in groups {
        let d = declared(origin, g)?;
        if out.iter().any(|o| o.name == d.name) {
            return Err(invalid(
                origin,
                "groups.name",
                &g.name,
                "declared twice: list all claims of a group in one [[groups]] entry",
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// A number of seconds in `0..=max`.
fn secs(origin: &str, key: &str, v: i64, max: i64) -> Result<u64, ConfigError> {
    if (0..=max).contains(&v) {
        Ok(v.unsigned_abs())
    } else {
        Err(invalid(
            origin,
            key,
            v,
            format!("must be 0..={max} (seconds)"),
        ))
    }
}

/// Default `[node] reconnect_interval_secs`.
const DEFAULT_RECONNECT_SECS: u64 = 10;
/// What `reconnect_interval_secs` allows.
const RECONNECT_RANGE: &str = "must be 1..=3600 (seconds)";

/// A reconnect interval: 1 s to an hour.
fn reconnect_secs(origin: &str, key: &str, v: i64) -> Result<u64, ConfigError> {
    if (1..=3600).contains(&v) {
        Ok(v.unsigned_abs())
    } else {
        Err(invalid(origin, key, v, RECONNECT_RANGE))
    }
}

/// [`secs`] from a variable's text.
fn env_secs(origin: &str, key: &str, s: &str, max: i64) -> Result<u64, ConfigError> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| invalid(origin, key, s, format!("must be 0..={max} (seconds)")))?;
    secs(origin, key, v, max)
}

/// The auto-mode keys of a group: `auto`, `weight`, `priority`, `port`
/// (only with `auto = true`), and the policy (`replicas`, `slices`).
fn declared_auto(
    origin: &str,
    g: &GroupSection,
) -> Result<(Option<DeclaredAuto>, Option<Policy>), ConfigError> {
    let key = |k: &str| format!("groups[{}].{k}", g.name);
    let on = g.auto.unwrap_or(false);
    if !on {
        for (k, v) in [
            ("weight", g.weight),
            ("priority", g.priority),
            ("port", g.port),
        ] {
            if let Some(v) = v {
                return Err(invalid(
                    origin,
                    &key(k),
                    v,
                    "only allowed with auto = true (it applies to the ranges auto mode claims; \
                     a manual claim sets its own priority and port in claims)",
                ));
            }
        }
    }
    if on && !g.claims.is_empty() {
        return Err(invalid(
            origin,
            &key("claims"),
            format!("{} claims", g.claims.len()),
            "not allowed with auto = true: in auto mode the node picks its own ranges; \
             remove the claims, or remove auto = true to claim them by hand",
        ));
    }
    let auto = if on {
        Some(DeclaredAuto {
            weight: match g.weight {
                Some(v) => u16_field(origin, &key("weight"), v)?,
                None => 1,
            },
            priority: g
                .priority
                .map(|v| u16_field(origin, &key("priority"), v))
                .transpose()?,
            port: g
                .port
                .map(|v| u16_field(origin, &key("port"), v))
                .transpose()?
                .unwrap_or(0),
        })
    } else {
        None
    };
    let policy = if g.replicas.is_some() || g.slices.is_some() {
        let replicas = match g.replicas {
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|r| (1..=Policy::MAX_REPLICAS).contains(r))
                .ok_or_else(|| {
                    invalid(
                        origin,
                        &key("replicas"),
                        v,
                        format!(
                            "must be 1..={} (nodes serving each key)",
                            Policy::MAX_REPLICAS
                        ),
                    )
                })?,
            None => Policy::DEFAULT_REPLICAS,
        };
        let slices = match g.slices {
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|s| s.is_power_of_two() && *s <= Policy::MAX_SLICES)
                .ok_or_else(|| {
                    invalid(
                        origin,
                        &key("slices"),
                        v,
                        format!(
                            "must be a power of two from 1 to {} (e.g. 256 or 1024)",
                            Policy::MAX_SLICES
                        ),
                    )
                })?,
            None => Policy::DEFAULT_SLICES,
        };
        Some(
            Policy::new(replicas, slices)
                .map_err(|e| invalid(origin, &key("replicas"), replicas, e))?,
        )
    } else {
        None
    };
    Ok((auto, policy))
}

fn declared(origin: &str, g: &GroupSection) -> Result<DeclaredGroup, ConfigError> {
    let name = GroupName::new(&g.name).map_err(|e| invalid(origin, "groups.name", &g.name, e))?;
    let claims = g
        .claims
        .iter()
        .map(|c| {
            let key = format!("groups[{}].claims.range", g.name);
            Ok(DeclaredClaim {
                range: c
                    .range
                    .parse()
                    .map_err(|e: crate::model::ParseKeyRangeError| {
                        invalid(origin, &key, &c.range, e)
                    })?,
                priority: u16_field(origin, "groups.claims.priority", c.priority)?,
                port: u16_field(origin, "groups.claims.port", c.port)?,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    let (auto, policy) = declared_auto(origin, g)?;
    Ok(DeclaredGroup {
        name,
        claims,
        auto,
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("scalesmall-cfg-{name}-{}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_work_without_a_file() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/x")]);
        let c = Config::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(c.port, 29999);
        assert!(c.multicast);
        assert_eq!(c.multicast_group, DEFAULT_GROUP);
        assert_eq!(c.multicast_group_v6.to_string(), "ff02::77:77");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn file_then_env_then_flags() {
        let p = write(
            "layers",
            "[node]\nport = 1000\npeers = [\"10.0.0.1\"]\nlog = \"debug\"\n[cluster]\nname = \"lab\"\n\
             [[groups]]\nname = \"demo\"\nclaims = [{ range = \"0..0xff\", priority = 3, port = 80 }]\n",
        );
        let env = env_of(&[
            ("SCALESMALL_PORT", "2000"),
            ("SCALESMALL_DATA_DIR", "/tmp/y"),
        ]);
        let flags = Overrides {
            port: Some(3000),
            peers: vec!["10.0.0.2:1".parse().unwrap()],
            ..Overrides::default()
        };
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        assert_eq!(c.port, 2000, "env beats file");
        assert_eq!(c.log, "debug");
        assert_eq!(c.cluster, "lab");
        assert_eq!(c.peers, vec!["10.0.0.1:29999".parse().unwrap()]);
        assert_eq!(c.groups[0].claims[0].range, KeyRange::new(0, 0xff).unwrap());
        let c = Config::load(Some(&p), &env, &flags).unwrap();
        assert_eq!(c.port, 3000, "flags beat env");
        assert_eq!(c.peers.len(), 2);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn expiry_defaults_to_a_day_and_is_bounded() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/h")]);
        for (text, want) in [
            ("[node]\n", Some(86_400)),
            ("[node]\nexpire_after_secs = 600\n", Some(600)),
            ("[node]\nexpire_after_secs = 5\n", None),
            ("[node]\nexpire_after_secs = -1\n", None),
        ] {
            let p = write("expire", text);
            let got =
                Config::load(Some(&p), &env, &Overrides::default()).map(|c| c.expire_after_secs);
            assert_eq!(got.ok(), want, "{text:?}");
            if let Some(secs) = want {
                let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
                assert_eq!(c.protocol().expire_after, secs * 1000);
            }
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn reconnect_interval_comes_from_the_file_the_environment_or_a_flag() {
        let p = write("reconnect", "");
        let data = [("SCALESMALL_DATA_DIR", "/tmp/h")];
        let load = |file: &str, env: &[(&str, &str)], flag: Option<u64>| {
            std::fs::write(&p, file).unwrap();
            let mut all = data.to_vec();
            all.extend_from_slice(env);
            let o = Overrides {
                reconnect_interval_secs: flag,
                ..Overrides::default()
            };
            Config::load(Some(&p), &env_of(&all), &o).map(|c| c.reconnect_interval_secs)
        };
        assert_eq!(load("", &[], None).ok(), Some(10));
        assert_eq!(
            load("[node]\nreconnect_interval_secs = 30\n", &[], None).ok(),
            Some(30)
        );
        let env = [("SCALESMALL_RECONNECT_INTERVAL_SECS", "5")];
        assert_eq!(
            load("[node]\nreconnect_interval_secs = 30\n", &env, None).ok(),
            Some(5)
        );
        assert_eq!(load("", &env, Some(2)).ok(), Some(2));
        for bad in ["0", "3601", "-1"] {
            let file = format!("[node]\nreconnect_interval_secs = {bad}\n");
            let err = load(&file, &[], None).expect_err("refused").to_string();
            assert!(
                err.contains("reconnect_interval_secs") && err.contains("1..=3600"),
                "{err}"
            );
        }
        let env = [("SCALESMALL_RECONNECT_INTERVAL_SECS", "soon")];
        assert!(load("", &env, None).is_err());
        std::fs::write(&p, "[node]\nreconnect_interval_secs = 7\n").unwrap();
        let c = Config::load(Some(&p), &env_of(&data), &Overrides::default()).unwrap();
        assert_eq!(c.protocol().reconnect_interval, 7_000);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn tombstone_ttl_is_bounded_or_off() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/h")]);
        for (text, want) in [
            ("[node]\n", Some(3600)),
            ("[node]\ntombstone_ttl_secs = 0\n", Some(0)),
            ("[node]\ntombstone_ttl_secs = 120\n", Some(120)),
            ("[node]\ntombstone_ttl_secs = 5\n", None),
            ("[node]\ntombstone_ttl_secs = -1\n", None),
        ] {
            let p = write("tombstones", text);
            let got = Config::load(Some(&p), &env, &Overrides::default());
            assert_eq!(
                got.as_ref().ok().map(|c| c.tombstone_ttl_secs),
                want,
                "{text:?}"
            );
            if let (Ok(c), Some(secs)) = (got, want) {
                assert_eq!(c.protocol().tombstone_ttl, secs * 1000);
            }
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn an_empty_http_address_means_off() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/h")]);
        for (text, want) in [
            ("[control]\nhttp = \"\"\n", None),
            ("[control]\nhttp = \"  \"\n", None),
            ("[control]\nhttp = \"off\"\n", None),
            ("[control]\n", None),
            (
                "[control]\nhttp = \"127.0.0.1:29980\"\n",
                Some(SocketAddr::from(([127, 0, 0, 1], 29980))),
            ),
        ] {
            let p = write("http", text);
            let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
            assert_eq!(c.http, want, "{text:?}");
            let _ = std::fs::remove_file(p);
        }
        // The flag and the variable say the same.
        let flags = Overrides {
            http: Some(String::new()),
            ..Overrides::default()
        };
        let p = write("http-flag", "[control]\nhttp = \"127.0.0.1:29980\"\n");
        assert_eq!(Config::load(Some(&p), &env, &flags).unwrap().http, None);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn empty_claims_declare_a_group_without_claims() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/e")]);
        let p = write(
            "noclaims",
            "[[groups]]\nname = \"demo\"\nclaims = []\n[[groups]]\nname = \"other\"\n",
        );
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        assert_eq!(c.groups.len(), 2);
        assert!(c.groups.iter().all(|g| g.claims.is_empty()));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn auto_groups_and_policies_are_read_with_defaults() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/a")]);
        let p = write(
            "auto",
            "[auto]\nhold_down_secs = 2\nsettle_secs = 1\n\
             [[groups]]\nname = \"kv\"\nauto = true\nweight = 3\npriority = 5\nport = 8080\nreplicas = 3\nslices = 256\n\
             [[groups]]\nname = \"cache\"\nauto = true\n\
             [[groups]]\nname = \"plain\"\nclaims = [{ range = \"0..9\" }]\n",
        );
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        let _ = std::fs::remove_file(p);
        assert_eq!(
            c.groups[0].auto,
            Some(DeclaredAuto {
                weight: 3,
                priority: Some(5),
                port: 8080
            })
        );
        assert_eq!(c.groups[0].policy, Some(Policy::new(3, 256).unwrap()));
        assert_eq!(
            c.groups[1].auto,
            Some(DeclaredAuto {
                weight: 1,
                priority: None,
                port: 0
            })
        );
        assert_eq!(
            c.groups[1].policy, None,
            "no replicas/slices: the default policy"
        );
        assert_eq!((c.groups[2].auto, c.groups[2].policy), (None, None));
        let a = c.protocol().auto;
        assert_eq!((a.hold_down, a.settle), (2_000, 1_000));
        assert_eq!(a.policies.len(), 1);
        assert_eq!(a.policy(&c.groups[0].name), Policy::new(3, 256).unwrap());
        assert_eq!(a.policy(&c.groups[1].name), Policy::default());
        // Without [auto]: the defaults; the environment beats the file.
        let env = env_of(&[
            ("SCALESMALL_DATA_DIR", "/tmp/a"),
            ("SCALESMALL_AUTO_SETTLE_SECS", "0"),
        ]);
        let c = Config::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(c.auto_hold_down_secs, DEFAULT_HOLD_DOWN_SECS);
        assert_eq!(c.auto_settle_secs, 0);
        // A policy alone (a board that reads the group) is allowed.
        let p = write("policy-only", "[[groups]]\nname = \"kv\"\nslices = 64\n");
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        let _ = std::fs::remove_file(p);
        assert_eq!(c.groups[0].policy, Some(Policy::new(2, 64).unwrap()));
        assert_eq!(c.groups[0].auto, None);
    }

    #[test]
    fn bad_auto_settings_name_the_key_and_what_is_allowed() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/b")]);
        let g = "[[groups]]\nname = \"kv\"\n";
        for (text, needle) in [
            (
                format!("{g}auto = true\nclaims = [{{ range = \"0..9\" }}]\n"),
                "groups[kv].claims = \"1 claims\": not allowed with auto = true",
            ),
            (
                format!("{g}weight = 2\n"),
                "groups[kv].weight = \"2\": only allowed with auto = true",
            ),
            (
                format!("{g}auto = false\nport = 80\n"),
                "groups[kv].port = \"80\": only allowed with auto = true",
            ),
            (
                format!("{g}auto = true\nweight = 70000\n"),
                "groups[kv].weight = \"70000\": must be 0..=65535",
            ),
            (
                format!("{g}auto = true\nweight = -1\n"),
                "groups[kv].weight = \"-1\": must be 0..=65535",
            ),
            (
                format!("{g}auto = true\nslices = 1000\n"),
                "groups[kv].slices = \"1000\": must be a power of two from 1 to 2048",
            ),
            (
                format!("{g}auto = true\nreplicas = 0\n"),
                "groups[kv].replicas = \"0\": must be 1..=64",
            ),
            (format!("{g}auto = \"yes\"\n"), "invalid type"),
            (format!("{g}autoo = true\n"), "unknown field `autoo`"),
            (
                "[auto]\nhold_down_secs = -5\n".to_owned(),
                "auto.hold_down_secs = \"-5\": must be 0..=86400 (seconds)",
            ),
            (
                "[auto]\nsettle_secs = 601\n".to_owned(),
                "auto.settle_secs = \"601\": must be 0..=600 (seconds)",
            ),
            ("[auto]\nperiod = 1\n".to_owned(), "unknown field `period`"),
        ] {
            let p = write("badauto", &text);
            let err = Config::load(Some(&p), &env, &Overrides::default())
                .unwrap_err()
                .to_string();
            let _ = std::fs::remove_file(p);
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
        let env = env_of(&[
            ("SCALESMALL_DATA_DIR", "/tmp/b"),
            ("SCALESMALL_AUTO_HOLD_DOWN_SECS", "soon"),
        ]);
        let err = Config::load(None, &env, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment SCALESMALL_AUTO_HOLD_DOWN_SECS")
                && err.contains("must be 0..=86400"),
            "{err}"
        );
    }

    #[test]
    fn a_mode_0640_config_file_is_accepted() {
        use std::os::unix::fs::PermissionsExt;
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/m")]);
        let p = write("mode0640", "[node]\nport = 1234\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        assert_eq!(c.port, 1234);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn errors_name_the_key_and_what_is_allowed() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/z")]);
        for (text, needle) in [
            (
                "[node]\nport = 70000\n",
                "node.port = \"70000\": must be 1..=65535",
            ),
            ("[node]\nprot = 1\n", "unknown field `prot`"),
            (
                "[node]\npeers = [\"board.local\"]\n",
                "must be an IP address",
            ),
            ("[node]\nmulticast_group = \"10.0.0.1\"\n", "IPv4 multicast"),
            (
                "[node]\nmulticast_group_v6 = \"fd00::1\"\n",
                "node.multicast_group_v6 = \"fd00::1\": must be an IPv6 multicast address",
            ),
            (
                "[[groups]]\nname = \"g\"\nclaims = [{ range = \"9..1\" }]\n",
                "START <= END",
            ),
            ("[node]\nport = \"x\"\n", "invalid type"),
            (
                "[[groups]]\nname = \"g\"\n[[groups]]\nname = \"g\"\n",
                "declared twice",
            ),
        ] {
            let p = write("bad", text);
            let err = Config::load(Some(&p), &env, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?} gave {err}");
            let _ = std::fs::remove_file(p);
        }
        let env = env_of(&[
            ("SCALESMALL_DATA_DIR", "/tmp/z"),
            ("SCALESMALL_MULTICAST", "maybe"),
        ]);
        let err = Config::load(None, &env, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment SCALESMALL_MULTICAST") && err.contains("true or false"),
            "{err}"
        );
        let missing = Config::load(
            Some(Path::new("/nonexistent/x.toml")),
            &env,
            &Overrides::default(),
        );
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("cannot read config")
        );
    }
}
