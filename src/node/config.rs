//! `Config`: every setting of a node, from (in increasing precedence)
//! built-in defaults, the TOML config file, `SCALESMALL_*` environment
//! variables and command-line flags, into one typed value with clear errors.
//!
//! Every setting is one row of [`SETTINGS`]: its file key, its variable, its
//! flag and its parse function (`config/values.rs`), so the file, the environment
//! and the flags are read by one loop and parsed by the same rule. The
//! `[[groups]]` entries are read by `config/groups.rs`.
//!
//! The schema is documented in `docs/node.md` (a test checks it lists every
//! row). Errors say where the value came from (file and key, variable, or
//! flag), what was wrong and what is allowed; a wrong type or an unknown key
//! in the file is the TOML parser's error, with line and column (a typo must
//! not be ignored).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

use crate::model::{GroupName, KeyRange};
use crate::node::hooks::HookConfig;
use crate::protocol::auto_claim::Policy;
use crate::protocol::{AutoConfig, ProtocolConfig};

mod groups;
mod values;

use groups::{GroupSection, declared_groups};
use values::Kind::{Bool, Int, List, Text};
use values::{
    Bad, Kind, Raw, boolean, cluster_name, expire_secs, group_v4, group_v6, hold_down_secs,
    hook_window_ms, http, ips, log_format, path, paths, peers, port, put, reconnect_secs,
    settle_secs, some_text, text, tombstone_secs, ttl,
};

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

impl LogFormat {
    /// The format's name, as the config and `--log-format` spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Human => "human",
            Self::Compact => "compact",
            Self::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// `[node] hook_window_ms`: how long a group's changes gather before
    /// one `owners-changed` hook run.
    pub hook_window_ms: u64,
    /// The `[[hooks]]` tables (docs/node.md "Hooks").
    pub hooks: Vec<HookConfig>,
}

/// One setting: its key in the config file (`section.name`), its
/// `SCALESMALL_*` variable, its `scalesmall run` flag if it has one, its TOML
/// type, and its setter (which parses the value, from any of the three, and
/// stores it). Defaults → file → environment → flags run over [`SETTINGS`].
pub struct Setting {
    /// `section.name` in the config file.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The `scalesmall run` flag, if any.
    pub flag: Option<&'static str>,
    kind: Kind,
    set: fn(&mut Config, &Raw) -> Result<(), Bad>,
}

const fn row(
    key: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    kind: Kind,
    set: fn(&mut Config, &Raw) -> Result<(), Bad>,
) -> Setting {
    Setting {
        key,
        env,
        flag,
        kind,
        set,
    }
}

/// Every setting but `[[groups]]` (`groups.rs`), in the file's order. A new
/// setting is one row here, one field in [`Config`] (with its default in
/// `Config::defaults`) and a line in docs/node.md (a test checks).
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    row("node.data_dir", "SCALESMALL_DATA_DIR", Some("--data-dir"), Text, |c, r| put(&mut c.data_dir, path(r))),
    row("node.port", "SCALESMALL_PORT", Some("--port"), Int, |c, r| put(&mut c.port, port(r))),
    row("node.interface", "SCALESMALL_INTERFACE", Some("--interface"), Text, |c, r| put(&mut c.interface, some_text(r))),
    row("node.advertise", "SCALESMALL_ADVERTISE", Some("--advertise"), List, |c, r| put(&mut c.advertise, ips(r))),
    row("node.peers", "SCALESMALL_PEERS", Some("--peer"), List, |c, r| { c.peers.extend(peers(r)?); Ok(()) }),
    row("node.multicast", "SCALESMALL_MULTICAST", Some("--no-multicast"), Bool, |c, r| put(&mut c.multicast, boolean(r))),
    row("node.multicast_group", "SCALESMALL_MULTICAST_GROUP", None, Text, |c, r| put(&mut c.multicast_group, group_v4(r))),
    row("node.multicast_group_v6", "SCALESMALL_MULTICAST_GROUP_V6", None, Text, |c, r| put(&mut c.multicast_group_v6, group_v6(r))),
    row("node.multicast_ttl", "SCALESMALL_MULTICAST_TTL", None, Int, |c, r| put(&mut c.multicast_ttl, ttl(r))),
    row("node.multicast_loop", "SCALESMALL_MULTICAST_LOOP", Some("--multicast-loop"), Bool, |c, r| put(&mut c.multicast_loop, boolean(r))),
    row("node.multicast_port", "SCALESMALL_MULTICAST_PORT", Some("--multicast-port"), Int, |c, r| put(&mut c.multicast_port, port(r).map(Some))),
    row("node.leave_on_exit", "SCALESMALL_LEAVE_ON_EXIT", Some("--leave-on-exit"), Bool, |c, r| put(&mut c.leave_on_exit, boolean(r))),
    row("node.expire_after_secs", "SCALESMALL_EXPIRE_AFTER_SECS", None, Int, |c, r| put(&mut c.expire_after_secs, expire_secs(r))),
    row("node.tombstone_ttl_secs", "SCALESMALL_TOMBSTONE_TTL_SECS", None, Int, |c, r| put(&mut c.tombstone_ttl_secs, tombstone_secs(r))),
    row("node.reconnect_interval_secs", "SCALESMALL_RECONNECT_INTERVAL_SECS", Some("--reconnect-interval-secs"), Int, |c, r| put(&mut c.reconnect_interval_secs, reconnect_secs(r))),
    row("node.hook_window_ms", "SCALESMALL_HOOK_WINDOW_MS", None, Int, |c, r| put(&mut c.hook_window_ms, hook_window_ms(r))),
    row("node.log", "SCALESMALL_LOG", Some("--log"), Text, |c, r| put(&mut c.log, text(r))),
    row("node.log_format", "SCALESMALL_LOG_FORMAT", Some("--log-format"), Text, |c, r| put(&mut c.log_format, log_format(r))),
    row("cluster.name", "SCALESMALL_CLUSTER", Some("--cluster"), Text, |c, r| put(&mut c.cluster, cluster_name(r))),
    row("cluster.key_file", "SCALESMALL_KEY_FILE", Some("--key-file"), Text, |c, r| put(&mut c.key_file, path(r).map(Some))),
    row("cluster.insecure", "SCALESMALL_INSECURE", Some("--insecure"), Bool, |c, r| put(&mut c.insecure, boolean(r))),
    row("cluster.accept_key_files", "SCALESMALL_ACCEPT_KEY_FILES", None, List, |c, r| put(&mut c.accept_key_files, paths(r))),
    row("control.socket", "SCALESMALL_SOCKET", Some("--socket"), Text, |c, r| put(&mut c.socket, path(r).map(Some))),
    row("control.http", "SCALESMALL_HTTP", Some("--http"), Text, |c, r| put(&mut c.http, http(r))),
    row("auto.hold_down_secs", "SCALESMALL_AUTO_HOLD_DOWN_SECS", None, Int, |c, r| put(&mut c.auto_hold_down_secs, hold_down_secs(r))),
    row("auto.settle_secs", "SCALESMALL_AUTO_SETTLE_SECS", None, Int, |c, r| put(&mut c.auto_settle_secs, settle_secs(r))),
];

/// The setting of `section` called `name`.
fn setting(section: &str, name: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.key.split_once('.') == Some((section, name)))
}

/// Values from `scalesmall run`'s flags: text by setting key, applied over
/// the file and the environment with the same parse functions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides(Vec<(&'static str, String)>);

impl Overrides {
    /// Sets `key` (a [`SETTINGS`] key; a list comma-separated) to `value`
    /// if one is given.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.0.push((key, v.to_string()));
        }
        self
    }
}

/// Default `[auto] hold_down_secs`.
pub const DEFAULT_HOLD_DOWN_SECS: u64 = crate::protocol::auto_claim::DEFAULT_HOLD_DOWN_MS / 1000;
/// Default `[auto] settle_secs`.
pub const DEFAULT_SETTLE_SECS: u64 = 5;
/// Default `[node] hook_window_ms`.
pub const DEFAULT_HOOK_WINDOW_MS: u64 = 1000;
/// Default `[node] reconnect_interval_secs`.
const DEFAULT_RECONNECT_SECS: u64 = 10;

/// A bad setting: where it came from, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `[[hooks]]` table is not allowed.
    #[error("{origin}: {problem}")]
    Hooks {
        /// The file.
        origin: String,
        /// Which hook and what is wrong.
        problem: String,
    },
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

/// The config file: the table's settings per section (read by
/// [`Section`]), and the groups.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default, deserialize_with = "node")]
    node: Found,
    #[serde(default, deserialize_with = "cluster")]
    cluster: Found,
    #[serde(default, deserialize_with = "control")]
    control: Found,
    #[serde(default, deserialize_with = "auto")]
    auto: Found,
    #[serde(default)]
    groups: Vec<GroupSection>,
    #[serde(default)]
    hooks: Vec<HookConfig>,
}

/// The settings one section of the file gives, in the file's order.
#[derive(Default)]
struct Found(Vec<(&'static Setting, Raw)>);

fn node<'de, D: Deserializer<'de>>(d: D) -> Result<Found, D::Error> {
    d.deserialize_map(Section("node"))
}
fn cluster<'de, D: Deserializer<'de>>(d: D) -> Result<Found, D::Error> {
    d.deserialize_map(Section("cluster"))
}
fn control<'de, D: Deserializer<'de>>(d: D) -> Result<Found, D::Error> {
    d.deserialize_map(Section("control"))
}
fn auto<'de, D: Deserializer<'de>>(d: D) -> Result<Found, D::Error> {
    d.deserialize_map(Section("auto"))
}

/// Reads one section of the file: each key must be a setting of it, each
/// value of the setting's TOML type, else the TOML parser's error (with
/// line and column), worded as serde's own.
struct Section(&'static str);

impl<'de> Visitor<'de> for Section {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the [{}] table", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Vec::new();
        while let Some(s) = map.next_key_seed(KeyOf(self.0))? {
            let raw = match s.kind {
                Int => Raw::Int(map.next_value()?),
                Bool => Raw::Bool(map.next_value()?),
                Text => Raw::Text(map.next_value()?),
                List => Raw::List(map.next_value()?),
            };
            found.push((s, raw));
        }
        Ok(Found(found))
    }
}

/// A key of section `.0`: its setting, or serde's "unknown field" error.
struct KeyOf(&'static str);

impl<'de> DeserializeSeed<'de> for KeyOf {
    type Value = &'static Setting;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static Setting, D::Error> {
        let name = String::deserialize(d)?;
        setting(self.0, &name).ok_or_else(|| {
            let prefix = format!("{}.", self.0);
            let expected: Vec<String> = SETTINGS
                .iter()
                .filter_map(|s| s.key.strip_prefix(&prefix))
                .map(|k| format!("`{k}`"))
                .collect();
            D::Error::custom(format!(
                "unknown field `{name}`, expected one of {}",
                expected.join(", ")
            ))
        })
    }
}

fn invalid(origin: &str, key: &str, value: impl ToString, problem: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_owned(),
        key: key.to_owned(),
        value: value.to_string(),
        problem: problem.to_string(),
    }
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
    /// Every setting at its built-in default (`data_dir` empty: decided
    /// last, as it depends on the environment).
    fn defaults() -> Config {
        Config {
            file: None,
            data_dir: PathBuf::new(),
            port: DEFAULT_PORT,
            interface: None,
            advertise: Vec::new(),
            peers: Vec::new(),
            multicast: true,
            multicast_group: DEFAULT_GROUP,
            multicast_group_v6: DEFAULT_GROUP_V6,
            multicast_ttl: 1,
            multicast_loop: false,
            multicast_port: None,
            leave_on_exit: false,
            expire_after_secs: 24 * 3600,
            tombstone_ttl_secs: 3600,
            reconnect_interval_secs: DEFAULT_RECONNECT_SECS,
            log: "info".to_owned(),
            log_format: LogFormat::Auto,
            cluster: "scalesmall".to_owned(),
            key_file: None,
            accept_key_files: Vec::new(),
            insecure: false,
            socket: None,
            http: None,
            groups: Vec::new(),
            auto_hold_down_secs: DEFAULT_HOLD_DOWN_SECS,
            auto_settle_secs: DEFAULT_SETTLE_SECS,
            hook_window_ms: DEFAULT_HOOK_WINDOW_MS,
            hooks: Vec::new(),
        }
    }

    /// Loads defaults, then `file` (or the default file if it exists), then
    /// the environment (`env`), then `flags`, each over [`SETTINGS`]. Lists
    /// replace, but for `node.peers`, which every source adds to.
    ///
    /// # Errors
    /// The first bad setting, with where it came from.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let (path, parsed) = read_file(file, env)?;
        let origin = path.as_ref().map_or_else(
            || "defaults".to_owned(),
            |p| format!("config {}", p.display()),
        );
        let mut cfg = Config {
            file: path,
            ..Config::defaults()
        };
        let FileConfig {
            node,
            cluster,
            control,
            auto,
            groups,
            mut hooks,
        } = parsed;
        for (s, raw) in [node, cluster, control, auto].iter().flat_map(|f| &f.0) {
            cfg.set(s, raw, &origin)?;
        }
        cfg.groups = declared_groups(&origin, &groups)?;
        HookConfig::validate(&mut hooks).map_err(|problem| ConfigError::Hooks {
            origin: origin.clone(),
            problem,
        })?;
        cfg.hooks = hooks;
        for s in SETTINGS {
            if let Some(v) = env(s.env).filter(|v| !v.is_empty()) {
                cfg.set(s, &Raw::Text(v), &format!("environment {}", s.env))?;
            }
        }
        for (key, v) in &flags.0 {
            let s = SETTINGS
                .iter()
                .find(|s| s.key == *key)
                .ok_or_else(|| invalid("flags", key, v, "not a setting"))?;
            let origin = format!("flag {}", s.flag.unwrap_or(key));
            cfg.set(s, &Raw::Text(v.clone()), &origin)?;
        }
        cfg.peers.sort_unstable();
        cfg.peers.dedup();
        if cfg.data_dir.as_os_str().is_empty() {
            cfg.data_dir = default_data_dir(env);
        }
        Ok(cfg)
    }

    /// Parses `raw` for `s` and stores it; an error names `origin`.
    fn set(&mut self, s: &Setting, raw: &Raw, origin: &str) -> Result<(), ConfigError> {
        (s.set)(self, raw).map_err(|b| invalid(origin, s.key, b.value, b.problem))
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

/// The config file: `file`, else `SCALESMALL_CONFIG`, else the default
/// file if it exists (one there but unreadable is an error, not the
/// defaults).
fn read_file(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<PathBuf>, FileConfig), ConfigError> {
    let explicit = file.map(Path::to_path_buf).or_else(|| {
        env("SCALESMALL_CONFIG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    let p = explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match std::fs::read_to_string(&p) {
        Ok(text) => Ok((Some(p.clone()), parse_file(&p, &text)?)),
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            Ok((None, FileConfig::default()))
        }
        // There but unreadable (e.g. 0640 root:scalesmall and we are not in
        // the group): an error, not the defaults.
        Err(source) => Err(ConfigError::Read { path: p, source }),
    }
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    /// The error a variable's value gives, with no file.
    pub(super) fn env_error(var: &str, value: &str) -> String {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/z"), (var, value)]);
        match Config::load(None, &env, &Overrides::default()) {
            Ok(_) => format!("{var}={value:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    pub(super) fn write(name: &str, text: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("scalesmall-cfg-{name}-{}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// docs/node.md's settings table has a row for every setting, with its
    /// variable and flag; and every variable the table names is one.
    #[test]
    fn docs_list_every_setting_variable_and_flag() {
        let docs = include_str!("../../docs/node.md");
        for s in SETTINGS {
            let flag = s.flag.map_or_else(String::new, |f| format!("`{f}`"));
            let row = format!("| `{}` | `{}` | {flag} |", s.key, s.env);
            assert!(docs.contains(&row), "docs/node.md lacks the row {row}");
            assert_eq!(s.env.split('_').next(), Some("SCALESMALL"), "{}", s.env);
        }
        let keys: std::collections::BTreeSet<_> = SETTINGS.iter().map(|s| s.key).collect();
        let envs: std::collections::BTreeSet<_> = SETTINGS.iter().map(|s| s.env).collect();
        assert_eq!(keys.len(), SETTINGS.len(), "a key twice");
        assert_eq!(envs.len(), SETTINGS.len(), "a variable twice");
    }

    /// Each setting is read from each source: its file key (in its TOML
    /// type), its variable and its flag; a value its rule refuses is an
    /// error that names the source and the setting.
    #[test]
    fn every_setting_reads_its_key_variable_and_flag() {
        let p = write("every", "");
        let data = ("SCALESMALL_DATA_DIR", "/tmp/every");
        let refused_as = |got: Result<Config, ConfigError>, origin: &str, s: &Setting| match got {
            Ok(_) => {}
            Err(ConfigError::Invalid { origin: o, key, .. }) => {
                assert_eq!((o.as_str(), key.as_str()), (origin, s.key));
            }
            Err(e) => panic!("{}: {e}", s.key),
        };
        for s in SETTINGS {
            let (section, name) = s.key.split_once('.').unwrap_or_default();
            let sample = match s.kind {
                Int => "1",
                Bool => "true",
                Text => "\"\\u0001x\"",
                List => "[\"\\u0001x\"]",
            };
            std::fs::write(&p, format!("[{section}]\n{name} = {sample}\n")).unwrap();
            let origin = format!("config {}", p.display());
            refused_as(
                Config::load(Some(&p), &env_of(&[data]), &Overrides::default()),
                &origin,
                s,
            );
            let env = env_of(&[data, (s.env, "\u{1}x")]);
            let origin = format!("environment {}", s.env);
            refused_as(Config::load(None, &env, &Overrides::default()), &origin, s);
            if let Some(flag) = s.flag {
                let o = Overrides::default().with(s.key, Some("\u{1}x"));
                let origin = format!("flag {flag}");
                refused_as(Config::load(None, &env_of(&[data]), &o), &origin, s);
            }
        }
        let _ = std::fs::remove_file(p);
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
        let flags = Overrides::default()
            .with("node.port", Some(3000))
            .with("node.peers", Some("10.0.0.2:1"));
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
            let o = Overrides::default().with("node.reconnect_interval_secs", flag);
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
        let flags = Overrides::default().with("control.http", Some(""));
        let p = write("http-flag", "[control]\nhttp = \"127.0.0.1:29980\"\n");
        assert_eq!(Config::load(Some(&p), &env, &flags).unwrap().http, None);
        let _ = std::fs::remove_file(p);
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
    fn hooks_are_read_named_and_checked() {
        use crate::node::hooks::HookEventKind;
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/h")]);
        let load = |name: &str, text: &str| {
            let p = write(name, text);
            let c = Config::load(Some(&p), &env, &Overrides::default());
            let _ = std::fs::remove_file(p);
            c
        };
        let c = load(
            "hooks-ok",
            "[node]\nhook_window_ms = 250\n[[hooks]]\nevents = [\"peer-down\", \"owners-changed\"]\n\
             command = \"logger x\"\n[[hooks]]\nname = \"b\"\nevents = [\"group-left\"]\n\
             command = \"true\"\ntimeout_secs = 5\n",
        )
        .unwrap();
        assert_eq!(c.hook_window_ms, 250);
        assert_eq!(c.hooks.len(), 2);
        assert_eq!(c.hooks[0].name, "hook1");
        assert_eq!(
            c.hooks[0].events,
            [HookEventKind::PeerDown, HookEventKind::OwnersChanged]
        );
        assert_eq!(
            (
                c.hooks[0].timeout_secs,
                c.hooks[0].queue,
                c.hooks[0].concurrency
            ),
            (30, 64, 1)
        );
        assert_eq!(
            (c.hooks[1].name.as_str(), c.hooks[1].timeout_secs),
            ("b", 5)
        );
        for (text, needle) in [
            (
                "[[hooks]]\nevents = [\"peer-gone\"]\ncommand = \"x\"\n",
                "unknown variant `peer-gone`",
            ),
            (
                "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \" \"\n",
                "hooks[0] (hook1): `command` is empty",
            ),
            (
                "[[hooks]]\nevents = []\ncommand = \"x\"\n",
                "`events` is empty",
            ),
            (
                "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \"x\"\ntimeout_secs = 0\n",
                "`timeout_secs` must be 1 to 3600",
            ),
            (
                "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \"x\"\nqueue = 0\n",
                "`queue` must be 1 to 10000",
            ),
            (
                "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \"x\"\nname = \"a b\"\n",
                "`name` may hold only",
            ),
            (
                "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \"x\"\nretries = 2\n",
                "unknown field `retries`",
            ),
            ("[node]\nhook_window_ms = 60001\n", "must be 0..=60000"),
        ] {
            let e = load("hooks-bad", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
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
        let err = env_error("SCALESMALL_MULTICAST", "maybe");
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
