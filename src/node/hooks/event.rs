//! What a hook is told: the event kinds a `[[hooks]]` entry can match, and
//! the event itself, given to the hook's command as environment variables
//! and as one JSON object on its stdin (docs/node.md "Hooks").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of events a hook can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookEventKind {
    /// A peer is alive again (after suspect or down), or restarted.
    PeerAlive,
    /// A peer missed its probes: suspect.
    PeerSuspect,
    /// A peer's suspicion ran out: down.
    PeerDown,
    /// A down peer was expired: its items dropped from this node's view.
    PeerExpired,
    /// This board joined a group (its first live item there).
    GroupJoined,
    /// This board left a group (its last live item there retracted).
    GroupLeft,
    /// Ranges of a group whose ordered server list changed (coalesced per
    /// group over a window).
    OwnersChanged,
}

impl HookEventKind {
    /// Every kind, in the order docs/node.md lists them.
    pub const ALL: [HookEventKind; 7] = [
        Self::PeerAlive,
        Self::PeerSuspect,
        Self::PeerDown,
        Self::PeerExpired,
        Self::GroupJoined,
        Self::GroupLeft,
        Self::OwnersChanged,
    ];

    /// The name used in config files, `SCALESMALL_EVENT` and the JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::PeerAlive => "peer-alive",
            Self::PeerSuspect => "peer-suspect",
            Self::PeerDown => "peer-down",
            Self::PeerExpired => "peer-expired",
            Self::GroupJoined => "group-joined",
            Self::GroupLeft => "group-left",
            Self::OwnersChanged => "owners-changed",
        }
    }
}

impl fmt::Display for HookEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HookEventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown hook event {s:?}; events: {}", names.join(", "))
            })
    }
}

/// One server of a range, in an `owners-changed` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerView {
    /// The member's id (16 hex digits).
    pub node: String,
    /// Its priority hint.
    pub priority: u16,
    /// Its service port (0 = none).
    pub port: u16,
    /// Its liveness in this node's view: `alive`, `suspect` or `down`
    /// (down servers are listed last, as `lookup` orders them).
    pub state: String,
}

/// A range whose owners changed, with its new owners in lookup order
/// (empty: nobody serves it now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeOwners {
    /// The range, as `start..end` in hex.
    pub range: String,
    /// First key.
    pub start: u32,
    /// Last key.
    pub end: u32,
    /// Its servers now.
    pub owners: Vec<OwnerView>,
}

/// One event, as a hook receives it on stdin (serialised only: the node
/// writes it, a hook reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HookEvent {
    /// The kind (`SCALESMALL_EVENT`).
    pub event: HookEventKind,
    /// The group, for group and owners events (`SCALESMALL_GROUP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The peer, for peer events (`SCALESMALL_NODE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Wall-clock time of the event, RFC 3339 in UTC (as the board's clock
    /// says; boards without a real-time clock may be off until NTP syncs).
    pub time: String,
    /// Milliseconds since the node started (monotonic).
    pub uptime_ms: u64,
    /// For `peer-alive`: whether the peer restarted (a new incarnation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarted: bool,
    /// For `owners-changed`: the ranges whose owners changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<RangeOwners>,
}

impl HookEvent {
    /// The environment a hook's command runs with.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SCALESMALL_EVENT", self.event.name().to_owned()),
            ("SCALESMALL_GROUP", self.group.clone().unwrap_or_default()),
            ("SCALESMALL_NODE", self.node.clone().unwrap_or_default()),
            // Boards have no names yet: the id stands in.
            ("SCALESMALL_NAME", self.node.clone().unwrap_or_default()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_their_names_and_refuse_others_with_the_list() {
        for k in HookEventKind::ALL {
            assert_eq!(k.name().parse::<HookEventKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
        let e = "peer-gone"
            .parse::<HookEventKind>()
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("peer-gone") && e.contains("owners-changed"),
            "{e}"
        );
    }
}
