//! The node's request and reply types: what the control socket and the
//! HTTP API ask of a running node, and what it answers. One definition,
//! serialised as JSON by the layers above (the HTTP API's documents are
//! exactly the CLI's `--json` ones).

use serde::{Deserialize, Serialize};

use crate::model::{GroupName, KeyRange, NodeId, parse_key};
use crate::protocol::Command;

/// A request to the running node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Read a group (`Get`).
    Join {
        /// The group.
        group: String,
    },
    /// Retract every own live item of a group.
    Leave {
        /// The group.
        group: String,
    },
    /// Serve a range of a group (`Add`).
    Claim {
        /// The group.
        group: String,
        /// `START..END`, inclusive (decimal or 0x-hex).
        range: String,
        /// Ordering hint among servers (higher first).
        #[serde(default)]
        priority: u16,
        /// Service port (0 = none).
        #[serde(default)]
        port: u16,
    },
    /// Retract the claim of exactly a range (`Rmv`).
    Release {
        /// The group.
        group: String,
        /// The claimed range.
        range: String,
    },
    /// Auto mode for a group: the node picks its own ranges of it (the
    /// group's policy: every key served by R nodes, shares by weight).
    Auto {
        /// The group.
        group: String,
        /// Capacity share (0 = standby: claims nothing while others can).
        #[serde(default = "one")]
        weight: u16,
        /// Priority of the ranges claimed (`None`: as before, else the
        /// highest of the node's claims in the group).
        #[serde(default)]
        priority: Option<u16>,
        /// Service port of the ranges claimed (0 = none).
        #[serde(default)]
        port: u16,
    },
    /// Leave auto mode for a group: the ranges held stay, as manual claims.
    Manual {
        /// The group.
        group: String,
    },
    /// Expire a member now: a board that will never come back (its items
    /// leave this node's view; it is taken back if it is heard again).
    Forget {
        /// Its id, in hex as `status` and `peers` show it.
        node: String,
    },
    /// The servers of a key.
    Lookup {
        /// The group.
        group: String,
        /// A `u32` (decimal or 0x-hex), or any other string, which is hashed.
        key: String,
    },
    /// The members with a live item in a group.
    Members {
        /// The group.
        group: String,
    },
    /// Every item of a group.
    Topology {
        /// The group.
        group: String,
    },
    /// The peers this node knows.
    Peers,
    /// Every group known, with counts and the peers whose digest differs.
    Groups,
    /// The node's status.
    Status,
    /// Counters for Prometheus.
    Metrics,
    /// A stream of changes (one [`WatchEvent`] per line).
    Watch,
    /// The keyring commands (`scalesmall keys`, docs/node.md "Keys at run
    /// time"): `op` is `list`, `install` (`arg`: the key, base64; sent
    /// over the local control socket only), `use` or `remove` (`arg`: the
    /// key id, 8 hex digits, `0x` optional) or `reset`.
    Keys {
        /// What to do.
        op: String,
        /// The key or the key id, as `op` needs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arg: Option<SecretText>,
    },
}

/// Key material (or a key id) in a request: serialised as is, never shown
/// by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the node does for a [`Request`]: the one translation of each
/// variant ([`Request::into_action`]), where group names, ranges, node ids
/// and keys are parsed.
#[derive(Debug)]
pub enum Action {
    /// A write: the protocol command.
    Write(Command),
    /// A read of the node's state.
    Query(Query),
    /// A keyring command (`scalesmall keys`): a write unless `list`.
    Keys {
        /// What to do.
        op: String,
        /// The key or the key id, as `op` needs.
        arg: Option<SecretText>,
    },
    /// A stream of changes (the control layer serves it, not the node).
    Watch,
}

/// A read-only request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// The servers of `key` in `group` (`hashed`: the key was a string).
    Lookup {
        /// The group.
        group: String,
        /// The key.
        key: u32,
        /// Whether it is the hash of the string given.
        hashed: bool,
    },
    /// The members of a group.
    Members(String),
    /// Every item of a group.
    Topology(String),
    /// The peers.
    Peers,
    /// Every group known.
    Groups,
    /// The node's status.
    Status,
    /// Counters for Prometheus.
    Metrics,
}

impl Action {
    /// Whether this writes (and so is refused during shutdown).
    #[must_use]
    pub fn is_write(&self) -> bool {
        match self {
            Action::Write(_) => true,
            Action::Keys { op, .. } => op != "list",
            Action::Query(_) | Action::Watch => false,
        }
    }
}

impl Request {
    /// What the node does for this request.
    ///
    /// # Errors
    /// Why it is refused: a bad group name, range or node id.
    pub fn into_action(self) -> Result<Action, String> {
        let group = |g: &str| GroupName::new(g).map_err(|e| e.to_string());
        let range = |r: &str| r.parse::<KeyRange>().map_err(|e| e.to_string());
        let write = |cmd| Ok(Action::Write(cmd));
        let query = |q| Ok(Action::Query(q));
        match self {
            Request::Join { group: g } => write(Command::Join(group(&g)?)),
            Request::Leave { group: g } => write(Command::Leave(group(&g)?)),
            Request::Claim {
                group: g,
                range: r,
                priority,
                port,
            } => write(Command::Claim {
                group: group(&g)?,
                range: range(&r)?,
                priority,
                port,
            }),
            Request::Release { group: g, range: r } => write(Command::Release {
                group: group(&g)?,
                range: range(&r)?,
            }),
            Request::Auto {
                group: g,
                weight,
                priority,
                port,
            } => write(Command::Auto {
                group: group(&g)?,
                weight,
                priority,
                port,
            }),
            Request::Manual { group: g } => write(Command::Manual(group(&g)?)),
            Request::Forget { node } => write(Command::Forget(
                node.trim()
                    .parse::<NodeId>()
                    .map_err(|e| format!("{node:?} is not a node id: {e}"))?,
            )),
            Request::Lookup { group, key } => {
                let (key, hashed) = parse_key(&key);
                query(Query::Lookup { group, key, hashed })
            }
            Request::Members { group } => query(Query::Members(group)),
            Request::Topology { group } => query(Query::Topology(group)),
            Request::Peers => query(Query::Peers),
            Request::Groups => query(Query::Groups),
            Request::Status => query(Query::Status),
            Request::Metrics => query(Query::Metrics),
            Request::Keys { op, arg } => Ok(Action::Keys { op, arg }),
            Request::Watch => Ok(Action::Watch),
        }
    }
}

/// The answer to a refused request (nothing changed), saying why.
pub fn refused(reason: impl Into<String>) -> Reply {
    Reply::Refused {
        reason: reason.into(),
    }
}

const fn one() -> u16 {
    1
}

/// The node's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// A write was applied (or changed nothing).
    Written {
        /// Whether it changed anything.
        changed: bool,
        /// The node's clock after it.
        clock: u64,
    },
    /// The servers of a key.
    Lookup(LookupReply),
    /// The members of a group (a group this node does not know at all is
    /// refused instead).
    Members {
        /// The group.
        group: String,
        /// The boards with a live item in it, sorted by id.
        members: Vec<MemberView>,
        /// Whether this board is a member of the group (only members hold
        /// it, so a non-member's list is empty; absent from older daemons).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<bool>,
    },
    /// The items of a group.
    Topology {
        /// The group.
        group: String,
        /// The items.
        items: Vec<ItemView>,
    },
    /// The peers.
    Peers {
        /// One entry per peer.
        peers: Vec<PeerView>,
    },
    /// Every group known.
    Groups {
        /// One entry per group, sorted by name.
        groups: Vec<GroupView>,
    },
    /// The node's status.
    Status(Box<Status>),
    /// Counters for Prometheus.
    Metrics(Box<Metrics>),
    /// This board's keys, after a `keys` command.
    Keys(Box<KeysView>),
    /// The request was refused; nothing changed.
    Refused {
        /// Why, for a human.
        reason: String,
    },
}

/// This board's keyring, by key id (never key material), and the key each
/// peer was last heard sealing with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysView {
    /// Whether the command changed the keyring (`false` for `keys list`).
    pub changed: bool,
    /// Where the keys come from: `keyring` (the data dir's keyring file,
    /// `<data_dir>/keyring`, overriding the config) or `config`
    /// (cluster.key_file or <data_dir>/cluster.key, and accept_key_files).
    pub source: String,
    /// The id of the key frames are sealed with, `0x` and 8 hex digits.
    pub primary: String,
    /// Every key id frames are accepted under, the primary first.
    pub accepted: Vec<String>,
    /// The id of the key just installed (`keys install`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
    /// Each peer heard since it last started, as `peers` shows it, with
    /// `key_id` and `key_age_ms`: the key id of its last frame.
    pub peers: Vec<PeerView>,
}

/// The servers of a key, priority high to low.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupReply {
    /// The group.
    pub group: String,
    /// The key as a `u32`.
    pub key: u32,
    /// Whether the key was a string that was hashed.
    pub hashed: bool,
    /// The servers.
    pub servers: Vec<ServerView>,
    /// Whether this board is a member of the group (only members hold it;
    /// absent from daemons before interest filtering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<bool>,
}

/// One server of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// Its id.
    pub node: String,
    /// Its priority for the key.
    pub priority: u16,
    /// Its service port.
    pub port: u16,
    /// The claimed range containing the key.
    pub range: String,
    /// Its address, if known.
    pub addr: Option<String>,
    /// Its liveness in this node's view: alive, suspect or down (down
    /// servers are listed last).
    #[serde(default)]
    pub state: String,
}

/// One member of a group.
///
/// Older daemons sent a bare id string per member; that still reads, with
/// an empty state. (A board's name, when names exist, goes here too.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MemberWire")]
pub struct MemberView {
    /// Its id.
    pub id: String,
    /// Its liveness in this node's view: `alive`, `suspect` or `down`
    /// (this board itself is `alive`; empty from older daemons).
    pub state: String,
}

/// A member as any daemon sends it: an object, or an older daemon's id.
#[derive(Deserialize)]
#[serde(untagged)]
enum MemberWire {
    Id(String),
    View { id: String, state: String },
}

impl From<MemberWire> for MemberView {
    fn from(w: MemberWire) -> Self {
        match w {
            MemberWire::Id(id) => MemberView {
                id,
                state: String::new(),
            },
            MemberWire::View { id, state } => MemberView { id, state },
        }
    }
}

/// One item of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    /// The writer.
    pub node: String,
    /// `add`, `get`, `rmv` or `auto` (a live auto marker).
    pub op: String,
    /// `serve`, `read` or `auto` (an auto-mode marker).
    pub kind: String,
    /// The range.
    pub range: String,
    /// First key.
    pub start: u32,
    /// Last key.
    pub end: u32,
    /// Priority hint (of an auto marker: its weight, as `weight` says).
    pub priority: u16,
    /// Service port.
    pub port: u16,
    /// The writer's clock at this write.
    pub clock: u64,
    /// An auto marker's weight (absent for other kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
}

/// One peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Its id.
    pub id: String,
    /// This node's view of its liveness: `alive`, `suspect` or `down`.
    pub state: String,
    /// Its address.
    pub addr: Option<String>,
    /// Its incarnation.
    pub incarnation: u64,
    /// Milliseconds since anything was heard from it.
    pub last_heard_ms: u64,
    /// Whether its multicast reaches us.
    pub multicast: bool,
    /// Whether it reports hearing our multicast.
    pub hears_us: bool,
    /// Whether it represents its multicast island.
    pub representative: bool,
    /// Highest wire version it accepts.
    pub version: u8,
    /// `keys list` only: the key id in the header of its last
    /// replay-checked frame opened here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `keys list` only: how long ago that frame came (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_age_ms: Option<u64>,
}

/// One group, as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The group's name.
    pub name: String,
    /// Members with a live item.
    pub members: usize,
    /// Members with a live claim (a serve item).
    pub servers: usize,
    /// Of `servers`, those alive in this node's view (this node counts as
    /// alive; suspect and down ones do not).
    #[serde(default)]
    pub servers_alive: usize,
    /// Items held, retractions included.
    pub items: usize,
    /// Live claims (serve items), all members.
    pub claims: usize,
    /// Whether this node has a live item in it.
    pub mine: bool,
    /// Members in auto mode (a live auto marker), standbys included.
    #[serde(default)]
    pub auto: usize,
    /// Peers heard recently whose latest announced digest of the group
    /// differs from ours: one side lags (they or we), sorted by id.
    pub differs: Vec<String>,
}

/// The node's status (`scalesmall status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node id.
    pub id: String,
    /// The program version.
    pub version: String,
    /// The architecture the binary was built for.
    pub arch: String,
    /// This run's incarnation.
    pub incarnation: u64,
    /// The own clock.
    pub clock: u64,
    /// Where it listens (UDP and TCP): the first of `addrs`.
    pub listen: String,
    /// The addresses it advertises, IPv4 first (peers reach it at the
    /// first); by default, the ones it listens on.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// The data dir.
    pub data_dir: String,
    /// The cluster name.
    pub cluster: String,
    /// Every group known.
    pub groups: Vec<String>,
    /// The groups with an own live item.
    pub my_groups: Vec<String>,
    /// Peers known.
    pub peers: usize,
    /// Peers heard within the converged window (30 s).
    pub peers_recent: usize,
    /// Peers known, by liveness in this node's view: alive, suspect and
    /// down are disjoint and sum to `peers`.
    #[serde(default)]
    pub peers_alive: usize,
    /// ... suspect (silent for a while, not yet down).
    #[serde(default)]
    pub peers_suspect: usize,
    /// ... down.
    #[serde(default)]
    pub peers_down: usize,
    /// Multicast islands all of whose known peers this node holds down:
    /// a split (or every board of the island off), where one peer down is
    /// a dead board. Never this node's own island; 0 without multicast.
    #[serde(default)]
    pub unreachable_islands: usize,
    /// No peer heard recently announces a different group state, and, if
    /// the node has seeds (other than itself), it has heard a peer within
    /// the window.
    pub converged: bool,
    /// Whether this node represents its multicast island.
    pub representative: bool,
    /// Whether frames are unauthenticated (insecure mode).
    pub insecure: bool,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// TCP connections open.
    pub connections: usize,
    /// Counters.
    pub counters: Counters,
    /// The groups where this node is in auto mode, by name.
    #[serde(default)]
    pub auto: Vec<AutoView>,
    /// The fingerprint of this node's auto-claim policies (16 hex digits;
    /// all zeros when every group uses the default policy). Every board
    /// should show the same.
    #[serde(default)]
    pub policy_fingerprint: String,
    /// Peers heard recently that announce a different policy fingerprint
    /// (empty when every board agrees), by id.
    #[serde(default)]
    pub policy_mismatch: Vec<PolicyMismatchView>,
}

/// One group where this node is in auto mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoView {
    /// The group.
    pub group: String,
    /// This node's weight (0 = standby).
    pub weight: u16,
    /// The service port of the ranges it claims.
    pub port: u16,
    /// The group's replication factor R (this node's policy).
    pub replicas: u32,
    /// The group's number of slices (this node's policy).
    pub slices: u32,
    /// Auto members of the group (this node included).
    pub members: usize,
    /// Live claims this node holds in the group.
    pub claims: usize,
    /// Keys this node serves in the group, of 2^32 (a fair share is
    /// 2^32 times R times its weight over the members' total weight).
    pub keys: u64,
    /// The members' total weight.
    pub total_weight: u64,
}

/// A peer whose auto-claim policies differ from this node's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyMismatchView {
    /// Its id.
    pub node: String,
    /// The fingerprint it announces (16 hex digits).
    pub fingerprint: String,
}

/// Traffic counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counters {
    /// Frames sent.
    pub frames_out: u64,
    /// Frames received and accepted.
    pub frames_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames dropped, by reason.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Received messages that changed something.
    pub news: u64,
    /// Own writes.
    pub own_writes: u64,
}

/// Everything `/metrics` exports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    /// Frames received and accepted, by kind.
    pub frames_in: std::collections::BTreeMap<String, u64>,
    /// Frames sent, by kind.
    pub frames_out: std::collections::BTreeMap<String, u64>,
    /// Frames dropped, by reason.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Peers known.
    pub peers: u64,
    /// Peers whose multicast reached us in the last 30 s.
    pub peers_multicast: u64,
    /// Peers heard from in the last 30 s.
    pub peers_recent: u64,
    /// Peers alive in this node's view (with suspect and down: disjoint,
    /// summing to `peers`).
    #[serde(default)]
    pub peers_alive: u64,
    /// Peers suspect.
    #[serde(default)]
    pub peers_suspect: u64,
    /// Peers down.
    #[serde(default)]
    pub peers_down: u64,
    /// Multicast islands all of whose known peers are down (as
    /// [`Status::unreachable_islands`]).
    #[serde(default)]
    pub islands_unreachable: u64,
    /// Groups known.
    pub groups: u64,
    /// Items held, all groups.
    pub items: u64,
    /// The own clock.
    pub clock: u64,
    /// Whether converged (as [`Status::converged`]).
    pub converged: bool,
    /// Peers' group digests that differ from ours (a measure of lag).
    pub digest_mismatches: u64,
    /// Received messages that changed something.
    pub news: u64,
    /// Own writes.
    pub own_writes: u64,
    /// Far members' announces passed on to a member of our LAN (interest:
    /// how far members find each other).
    #[serde(default)]
    pub relays: u64,
    /// Contacts sent by reconnect (seeds, unreachable islands, down
    /// members): the cost of never giving up on a split.
    #[serde(default)]
    pub reconnects: u64,
    /// Inputs handled by the protocol (datagrams, frames, timers, requests).
    pub inputs: u64,
    /// Seconds spent in the protocol handling them (merges included).
    pub input_seconds: f64,
    /// TCP connections open.
    pub connections: u64,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Each group's health in this node's view, sorted by name (the
    /// `scalesmall_group_*` families).
    #[serde(default)]
    pub group_health: Vec<GroupHealthView>,
    /// Each configured hook's counters.
    #[serde(default)]
    pub hooks: Vec<HookStatsView>,
}

/// One hook's counters in [`Metrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookStatsView {
    /// The hook's name.
    pub hook: String,
    /// Runs that exited 0.
    pub ok: u64,
    /// Runs that exited non-zero or died of a signal.
    pub failed: u64,
    /// Runs killed at the timeout.
    pub timeout: u64,
    /// Runs that could not start.
    pub error: u64,
    /// Events dropped from a full queue.
    pub dropped: u64,
}

/// One group's health in [`Metrics`]: what an alert compares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupHealthView {
    /// The group's name.
    pub group: String,
    /// Members (a live item) alive in this node's view (itself included).
    pub alive: u64,
    /// Members suspect.
    pub suspect: u64,
    /// Members down.
    pub down: u64,
    /// Keys (of 2^32) that no live member serves.
    pub uncovered_keys: u64,
    /// The fewest live servers over any key (0 when a key is uncovered).
    pub min_live_depth: u32,
    /// An auto group's replication factor R; absent for a manual group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_target: Option<u32>,
    /// In an auto group this node serves: the keys it claims over its fair
    /// share (R copies of the key space split by weight); 1 is fair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_share_ratio: Option<f64>,
}

/// One change, for `watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// What happened: `watching` (first, once subscribed), `changed`,
    /// `peer_discovered`, `peer_moved`, `own_ahead`, `key_mismatch`,
    /// `alive`, `suspect`, `down`, `expired`, `auto_claimed`,
    /// `policy_mismatch`, `policy_agrees`, and (as the hooks see them)
    /// `group_joined`, `group_left`, `owners_changed`.
    pub event: String,
    /// The group, for `changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The node concerned: for `changed`, the peer the news came from (for
    /// an own write, this node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// An address, for peer and key events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Milliseconds since the node started.
    pub at_ms: u64,
    /// Wall-clock time, RFC 3339 in UTC (the board's clock: for reading,
    /// not for ordering).
    #[serde(default)]
    pub time: String,
    /// For `owners_changed`: the ranges whose owners changed, with their
    /// owners now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<crate::node::hooks::RangeOwners>,
}

impl WatchEvent {
    /// An event called `event` at `at_ms`, stamped with the wall clock now.
    #[must_use]
    pub fn now(event: &str, at_ms: u64) -> Self {
        WatchEvent {
            event: event.to_owned(),
            group: None,
            node: None,
            addr: None,
            at_ms,
            time: crate::node::clock::wall_rfc3339(),
            ranges: Vec::new(),
        }
    }
}

/// The architecture this binary was built for (`aarch64`, `arm`, `x86_64`).
#[must_use]
pub const fn arch() -> &'static str {
    std::env::consts::ARCH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each request has one action: writes become protocol commands (bad
    /// input refused with the reason), reads queries, keys and watch their
    /// own; only writes and changing `keys` count as writes.
    #[test]
    fn each_request_has_one_action() {
        let g = || "kv".to_owned();
        let write = Request::Claim {
            group: g(),
            range: "0..9".into(),
            priority: 1,
            port: 2,
        };
        assert!(matches!(
            write.into_action(),
            Ok(Action::Write(Command::Claim { .. }))
        ));
        let bad = Request::Release {
            group: g(),
            range: "9..1".into(),
        };
        assert!(bad.into_action().is_err());
        let forget = Request::Forget {
            node: "not-hex".into(),
        };
        assert!(
            forget
                .into_action()
                .is_err_and(|e| e.contains("not a node id"))
        );
        let lookup = Request::Lookup {
            group: g(),
            key: "0x10".into(),
        };
        let want = Query::Lookup {
            group: g(),
            key: 16,
            hashed: false,
        };
        assert!(matches!(lookup.into_action(), Ok(Action::Query(q)) if q == want));
        let list = Request::Keys {
            op: "list".into(),
            arg: None,
        };
        let reset = Request::Keys {
            op: "reset".into(),
            arg: None,
        };
        for (req, writes) in [
            (list, false),
            (reset, true),
            (Request::Watch, false),
            (Request::Status, false),
        ] {
            assert_eq!(
                req.clone().into_action().map(|a| a.is_write()),
                Ok(writes),
                "{req:?}"
            );
        }
    }

    #[test]
    fn members_read_from_this_daemon_and_from_an_older_one() {
        let new = r#"{"result":"members","group":"g","members":[{"id":"1a","state":"down"}],"member":true}"#;
        let old = r#"{"result":"members","group":"g","members":["1a"]}"#;
        let view = |s: &str| match serde_json::from_str::<Reply>(s) {
            Ok(Reply::Members {
                members, member, ..
            }) => (members, member),
            other => panic!("{other:?}"),
        };
        let m = |state: &str| MemberView {
            id: "1a".into(),
            state: state.into(),
        };
        assert_eq!(view(new), (vec![m("down")], Some(true)));
        assert_eq!(view(old), (vec![m("")], None));
        // What this daemon sends reads back the same.
        let reply = Reply::Members {
            group: "g".into(),
            members: vec![m("alive")],
            member: Some(false),
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), reply);
    }
}
