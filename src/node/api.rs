//! The node's request and reply types: what the control socket and the
//! HTTP API ask of a running node, and what it answers. One definition,
//! serialised as JSON by the layers above (the HTTP API's documents are
//! exactly the CLI's `--json` ones).

use serde::{Deserialize, Serialize};

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
}

impl Request {
    /// Whether this request writes (and so is refused during shutdown).
    #[must_use]
    pub const fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Join { .. }
                | Request::Leave { .. }
                | Request::Claim { .. }
                | Request::Release { .. }
        )
    }
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
    /// The members of a group.
    Members {
        /// The group.
        group: String,
        /// Their ids, sorted.
        members: Vec<String>,
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
    /// The request was refused; nothing changed.
    Refused {
        /// Why, for a human.
        reason: String,
    },
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
}

/// One item of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    /// The writer.
    pub node: String,
    /// `add`, `get` or `rmv`.
    pub op: String,
    /// `serve` or `read`.
    pub kind: String,
    /// The range.
    pub range: String,
    /// First key.
    pub start: u32,
    /// Last key.
    pub end: u32,
    /// Priority hint.
    pub priority: u16,
    /// Service port.
    pub port: u16,
    /// The writer's clock at this write.
    pub clock: u64,
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
    /// Items held, retractions included.
    pub items: usize,
    /// Live claims (serve items), all members.
    pub claims: usize,
    /// Whether this node has a live item in it.
    pub mine: bool,
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
    /// Where it listens (UDP and TCP).
    pub listen: String,
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
    /// Peers whose multicast reaches us.
    pub peers_multicast: u64,
    /// Peers heard from in the last 30 s.
    pub peers_recent: u64,
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
    /// Inputs handled by the protocol (datagrams, frames, timers, requests).
    pub inputs: u64,
    /// Seconds spent in the protocol handling them (merges included).
    pub input_seconds: f64,
    /// TCP connections open.
    pub connections: u64,
    /// Seconds since start.
    pub uptime_seconds: f64,
}

/// One change, for `watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// What happened: `watching` (first, once subscribed), `changed`,
    /// `peer_discovered`, `own_ahead`, `key_mismatch`.
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
}

/// The architecture this binary was built for (`aarch64`, `arm`, `x86_64`).
#[must_use]
pub const fn arch() -> &'static str {
    std::env::consts::ARCH
}
