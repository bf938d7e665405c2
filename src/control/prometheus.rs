//! The Prometheus text exposition (version 0.0.4) of the node's
//! [`Metrics`], served at `/metrics` by the HTTP listener. Pure formatting:
//! the listener asks the node for the numbers.

use std::fmt::Write as _;

use crate::node::api::Metrics;
#[cfg(test)]
use serde_json::Value;

/// The Prometheus text exposition of `m`.
#[must_use]
pub fn prometheus(m: &Metrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP scalesmall_{name} {help}");
        let _ = writeln!(out, "# TYPE scalesmall_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "scalesmall_{name}{labels} {value}");
        }
    };
    let by =
        |label: &str, map: &std::collections::BTreeMap<String, u64>| -> Vec<(String, String)> {
            map.iter()
                .map(|(k, v)| (format!("{{{label}=\"{k}\"}}"), v.to_string()))
                .collect()
        };
    let one = |v: String| vec![(String::new(), v)];
    family(
        "frames_in_total",
        "counter",
        "Frames received and accepted, by kind.",
        &by("kind", &m.frames_in),
    );
    family(
        "frames_out_total",
        "counter",
        "Frames sent, by kind.",
        &by("kind", &m.frames_out),
    );
    family(
        "drops_total",
        "counter",
        "Frames dropped, by reason.",
        &by("reason", &m.drops),
    );
    family(
        "bytes_in_total",
        "counter",
        "Bytes received.",
        &one(m.bytes_in.to_string()),
    );
    family(
        "bytes_out_total",
        "counter",
        "Bytes sent.",
        &one(m.bytes_out.to_string()),
    );
    family(
        "peers",
        "gauge",
        "Peers known, by liveness in this node's view (disjoint: they sum to the peers known).",
        &[
            ("{state=\"alive\"}".into(), m.peers_alive.to_string()),
            ("{state=\"suspect\"}".into(), m.peers_suspect.to_string()),
            ("{state=\"down\"}".into(), m.peers_down.to_string()),
        ],
    );
    family(
        "peers_recent",
        "gauge",
        "Peers heard in the last 30 s (the converged window).",
        &one(m.peers_recent.to_string()),
    );
    family(
        "peers_multicast",
        "gauge",
        "Peers whose multicast reached this node in the last 30 s.",
        &one(m.peers_multicast.to_string()),
    );
    family(
        "islands_unreachable",
        "gauge",
        "Multicast islands all of whose known peers this node holds down: a split (one peer down is a dead board).",
        &one(m.islands_unreachable.to_string()),
    );
    family(
        "groups",
        "gauge",
        "Groups known.",
        &one(m.groups.to_string()),
    );
    family(
        "items",
        "gauge",
        "Items held, all groups.",
        &one(m.items.to_string()),
    );
    family(
        "clock",
        "gauge",
        "This node's own clock.",
        &one(m.clock.to_string()),
    );
    family(
        "converged",
        "gauge",
        "1 if no recent peer announces a different group state.",
        &one(u8::from(m.converged).to_string()),
    );
    family(
        "digest_mismatches",
        "gauge",
        "Recent peers' group digests that differ from ours (lag).",
        &one(m.digest_mismatches.to_string()),
    );
    family(
        "news_total",
        "counter",
        "Received messages that changed something.",
        &one(m.news.to_string()),
    );
    family(
        "own_writes_total",
        "counter",
        "Own writes.",
        &one(m.own_writes.to_string()),
    );
    family(
        "relays_total",
        "counter",
        "Far members' announces passed on to a member of our LAN.",
        &one(m.relays.to_string()),
    );
    family(
        "reconnects_total",
        "counter",
        "Contacts sent by reconnect (seeds, unreachable islands, down members).",
        &one(m.reconnects.to_string()),
    );
    family(
        "protocol_inputs_total",
        "counter",
        "Inputs handled by the protocol.",
        &one(m.inputs.to_string()),
    );
    family(
        "protocol_seconds_total",
        "counter",
        "Seconds spent in the protocol on them (merges included).",
        &one(format!("{:.6}", m.input_seconds)),
    );
    family(
        "connections",
        "gauge",
        "TCP connections open.",
        &one(m.connections.to_string()),
    );
    family(
        "uptime_seconds",
        "gauge",
        "Seconds since start.",
        &one(format!("{:.3}", m.uptime_seconds)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state with every field set to a distinct value (floats with more
    /// decimals than shown), so that a moved or dropped family changes the
    /// exposition.
    fn fixed_state() -> Metrics {
        let mut fields = serde_json::to_value(Metrics::default()).unwrap_or(Value::Null);
        let kinds = ["announce", "delta", "ping"];
        if let Value::Object(map) = &mut fields {
            for (i, v) in map.values_mut().enumerate() {
                let i = i as u64 + 1;
                *v = match v {
                    Value::Bool(_) => Value::Bool(true),
                    Value::Object(_) => {
                        serde_json::json!({ kinds[0]: 10 * i, kinds[1]: 10 * i + 1, kinds[2]: 10 * i + 2 })
                    }
                    Value::Number(n) if n.is_f64() => serde_json::json!(i as f64 + 0.234_567_8),
                    _ => serde_json::json!(i),
                };
            }
        }
        serde_json::from_value(fields).unwrap_or_default()
    }

    /// The whole exposition of a fixed state, byte for byte (pinned before
    /// the families became a table: the table must keep it).
    #[test]
    fn the_exposition_of_a_fixed_state_is_pinned() {
        let t = prometheus(&fixed_state());
        assert_eq!(t, include_str!("prometheus_golden.txt"));
    }

    #[test]
    fn the_exposition_has_help_type_and_labels() {
        let mut m = Metrics::default();
        m.frames_in.insert("announce".into(), 3);
        m.drops.insert("auth_failed".into(), 1);
        m.converged = true;
        m.peers_alive = 3;
        m.peers_down = 1;
        m.peers_recent = 3;
        m.peers_multicast = 2;
        m.islands_unreachable = 1;
        m.reconnects = 7;
        let t = prometheus(&m);
        assert!(t.contains("scalesmall_peers{state=\"alive\"} 3\n"));
        assert!(t.contains("scalesmall_peers{state=\"suspect\"} 0\n"));
        assert!(t.contains("scalesmall_peers{state=\"down\"} 1\n"));
        assert!(
            !t.contains("state=\"known\""),
            "the peers family is disjoint"
        );
        assert!(t.contains("# TYPE scalesmall_peers_recent gauge\nscalesmall_peers_recent 3\n"));
        assert!(t.contains("scalesmall_peers_multicast 2\n"));
        assert!(t.contains(
            "# TYPE scalesmall_reconnects_total counter\nscalesmall_reconnects_total 7\n"
        ));
        assert!(t.contains(
            "# TYPE scalesmall_islands_unreachable gauge\nscalesmall_islands_unreachable 1\n"
        ));
        assert!(t.contains("# TYPE scalesmall_frames_in_total counter"));
        assert!(t.contains("scalesmall_frames_in_total{kind=\"announce\"} 3"));
        assert!(t.contains("scalesmall_drops_total{reason=\"auth_failed\"} 1"));
        assert!(t.contains("scalesmall_converged 1"));
    }
}
