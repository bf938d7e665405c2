//! The Prometheus text exposition (version 0.0.4) of the node's
//! [`Metrics`], served at `/metrics` by the HTTP listener. Pure formatting:
//! the listener asks the node for the numbers.

use std::fmt::Write as _;

use serde_json::Value;

use crate::node::process_stats::ProcessStats;
use crate::node::request::{GroupHealthView, HookStatsView, Metrics, arch};

/// Every family, in the order of the exposition, one a line: its name
/// (after `scalesmall_`), its type, its samples and its help line. A new
/// metric is one line here.
///
/// The samples column names [`Metrics`] fields (as they are serialised),
/// joined by `+`:
/// - `field`: one unlabelled sample (a bool shows as 0 or 1);
/// - `field~N`: a float, with N decimals;
/// - `label@field`: a map field, one sample per key, labelled `{label="key"}`;
/// - `label=value@field`: one sample labelled `{label="value"}`.
const FAMILIES: &str = "\
frames_in_total counter kind@frames_in Frames received and accepted, by kind.
frames_out_total counter kind@frames_out Frames sent, by kind.
drops_total counter reason@drops Frames dropped, by reason.
bytes_in_total counter bytes_in Bytes received.
bytes_out_total counter bytes_out Bytes sent.
peers gauge state=alive@peers_alive+state=suspect@peers_suspect+state=down@peers_down \
Peers known, by liveness in this node's view (disjoint: they sum to the peers known).
peers_recent gauge peers_recent Peers heard in the last 30 s (the converged window).
peers_multicast gauge peers_multicast Peers whose multicast reached this node in the last 30 s.
islands_unreachable gauge islands_unreachable \
Multicast islands all of whose known peers this node holds down: a split (one peer down is a dead board).
groups gauge groups Groups known.
items gauge items Items held, all groups.
clock gauge clock This node's own clock.
converged gauge converged 1 if no recent peer announces a different group state.
digest_mismatches gauge digest_mismatches Recent peers' group digests that differ from ours (lag).
news_total counter news Received messages that changed something.
own_writes_total counter own_writes Own writes.
relays_total counter relays Far members' announces passed on to a member of our LAN.
reconnects_total counter reconnects Contacts sent by reconnect (seeds, unreachable islands, down members).
protocol_inputs_total counter inputs Inputs handled by the protocol.
protocol_seconds_total counter input_seconds~6 Seconds spent in the protocol on them (merges included).
connections gauge connections TCP connections open.
uptime_seconds gauge uptime_seconds~3 Seconds since start.
";

/// The Prometheus text exposition of `m` and of the process's own use `p`.
#[must_use]
pub fn prometheus(m: &Metrics, p: &ProcessStats) -> String {
    let mut out = counters(m);
    groups(&mut out, &m.group_health);
    hooks(&mut out, &m.hooks);
    build_and_process(&mut out, p);
    out
}

/// `scalesmall_hook_runs_total{hook,result}` and
/// `scalesmall_hook_dropped_total{hook}` (no samples without hooks).
fn hooks(out: &mut String, hooks: &[HookStatsView]) {
    let _ = writeln!(
        out,
        "# HELP scalesmall_hook_runs_total Hook runs by result: ok, failed (non-zero exit), timeout (killed), error (could not start)."
    );
    let _ = writeln!(out, "# TYPE scalesmall_hook_runs_total counter");
    for h in hooks {
        let hook = escape(&h.hook);
        for (result, n) in [
            ("ok", h.ok),
            ("failed", h.failed),
            ("timeout", h.timeout),
            ("error", h.error),
        ] {
            let _ = writeln!(
                out,
                "scalesmall_hook_runs_total{{hook=\"{hook}\",result=\"{result}\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP scalesmall_hook_dropped_total Hook events dropped from a full queue."
    );
    let _ = writeln!(out, "# TYPE scalesmall_hook_dropped_total counter");
    for h in hooks {
        let _ = writeln!(
            out,
            "scalesmall_hook_dropped_total{{hook=\"{}\"}} {}",
            escape(&h.hook),
            h.dropped
        );
    }
}

/// The families of [`FAMILIES`].
fn counters(m: &Metrics) -> String {
    let fields = serde_json::to_value(m).unwrap_or(Value::Null);
    let mut out = String::new();
    for line in FAMILIES.lines() {
        let mut cols = line.splitn(4, ' ');
        let (name, kind, samples, help) = (
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
        );
        let _ = writeln!(out, "# HELP scalesmall_{name} {help}");
        let _ = writeln!(out, "# TYPE scalesmall_{name} {kind}");
        for sample in samples.split('+') {
            for (labels, value) in values(&fields, sample) {
                let _ = writeln!(out, "scalesmall_{name}{labels} {value}");
            }
        }
    }
    out
}

/// Per-group families (labelled `group`): one HELP/TYPE header each, then
/// a sample per group. Names are escaped as the text format asks.
fn groups(out: &mut String, health: &[GroupHealthView]) {
    type Samples = fn(&GroupHealthView) -> Vec<(&'static str, String)>;
    let families: [(&str, &str, Samples); 5] = [
        (
            "group_members",
            "Members of the group (a live item) by liveness in this node's view.",
            |g| {
                vec![
                    (",state=\"alive\"", g.alive.to_string()),
                    (",state=\"suspect\"", g.suspect.to_string()),
                    (",state=\"down\"", g.down.to_string()),
                ]
            },
        ),
        (
            "group_uncovered_keys",
            "Keys (of 2^32) that no live member serves: their lookup finds no live server.",
            |g| vec![("", g.uncovered_keys.to_string())],
        ),
        (
            "group_min_live_depth",
            "The fewest live servers over any key of the group (0 if a key is uncovered).",
            |g| vec![("", g.min_live_depth.to_string())],
        ),
        (
            "group_replication_target",
            "An auto group's replication factor R (no sample for a manual group).",
            |g| {
                g.replication_target
                    .map(|r| ("", r.to_string()))
                    .into_iter()
                    .collect()
            },
        ),
        (
            "group_auto_share_ratio",
            "This node's keys in an auto group over its fair share (1 is fair).",
            |g| {
                g.auto_share_ratio
                    .map(|r| ("", format!("{r:.4}")))
                    .into_iter()
                    .collect()
            },
        ),
    ];
    for (name, help, samples) in families {
        let _ = writeln!(out, "# HELP scalesmall_{name} {help}");
        let _ = writeln!(out, "# TYPE scalesmall_{name} gauge");
        for g in health {
            let group = escape(&g.group);
            for (labels, value) in samples(g) {
                let _ = writeln!(
                    out,
                    "scalesmall_{name}{{group=\"{group}\"{labels}}} {value}"
                );
            }
        }
    }
}

/// `scalesmall_build_info` and the standard `process_*` families (a value
/// that could not be read leaves its family out).
fn build_and_process(out: &mut String, p: &ProcessStats) {
    let _ = writeln!(
        out,
        "# HELP scalesmall_build_info The running version and the architecture it was built for."
    );
    let _ = writeln!(out, "# TYPE scalesmall_build_info gauge");
    let _ = writeln!(
        out,
        "scalesmall_build_info{{version=\"{}\",arch=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        arch()
    );
    #[rustfmt::skip]
    let process = [
        ("resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes.map(|v| v.to_string())),
        ("cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds.map(|v| format!("{v:.2}"))),
        ("open_fds", "gauge", "Number of open file descriptors.", p.open_fds.map(|v| v.to_string())),
        ("max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds.map(|v| v.to_string())),
        ("start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", p.start_time_seconds.map(|v| format!("{v:.2}"))),
    ];
    for (name, kind, help, value) in process {
        if let Some(value) = value {
            let _ = writeln!(out, "# HELP process_{name} {help}");
            let _ = writeln!(out, "# TYPE process_{name} {kind}");
            let _ = writeln!(out, "process_{name} {value}");
        }
    }
}

/// A label value as the text format wants it: `\\`, `\"` and `\n` escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `(labels, value)` samples one entry of the samples column gives.
fn values(fields: &Value, sample: &str) -> Vec<(String, String)> {
    let (label, field) = sample.split_once('@').unwrap_or(("", sample));
    let (field, decimals) = match field.split_once('~') {
        Some((field, n)) => (field, n.parse::<usize>().ok()),
        None => (field, None),
    };
    match (&fields[field], label.split_once('=')) {
        (Value::Object(map), None) => map
            .iter()
            .map(|(key, v)| (format!("{{{label}=\"{key}\"}}"), number(v, None)))
            .collect(),
        (v, Some((label, value))) => {
            vec![(format!("{{{label}=\"{value}\"}}"), number(v, decimals))]
        }
        (v, None) => vec![(String::new(), number(v, decimals))],
    }
}

/// One sample's value: a number as it is (or with `decimals`), a bool as 0 or 1.
fn number(v: &Value, decimals: Option<usize>) -> String {
    match (v, decimals) {
        (Value::Bool(b), _) => u8::from(*b).to_string(),
        (Value::Number(n), Some(d)) => format!("{:.d$}", n.as_f64().unwrap_or_default()),
        (v, _) => v.to_string(),
    }
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
            // Arrays (the per-group health) stay empty and take no number,
            // so the numbering of the table's fields is unchanged.
            let mut i = 0u64;
            for v in map.values_mut().filter(|v| !v.is_array()) {
                i += 1;
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

    /// Every field the table names is a field of [`Metrics`], and every
    /// line has its four columns.
    #[test]
    fn the_table_names_real_fields() {
        let fields = serde_json::to_value(Metrics::default()).unwrap_or(Value::Null);
        for line in FAMILIES.lines() {
            let cols: Vec<&str> = line.splitn(4, ' ').collect();
            assert_eq!(cols.len(), 4, "{line}");
            assert!(matches!(cols[1], "counter" | "gauge"), "{line}");
            for sample in cols[2].split('+') {
                let field = sample.rsplit('@').next().unwrap_or(sample);
                let field = field.split('~').next().unwrap_or(field);
                assert!(fields.get(field).is_some(), "{line}: no field {field}");
            }
        }
    }

    /// The whole exposition of a fixed state, byte for byte (pinned before
    /// the families became a table: the table must keep it).
    #[test]
    fn the_exposition_of_a_fixed_state_is_pinned() {
        let t = counters(&fixed_state());
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
        let t = prometheus(&m, &ProcessStats::default());
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

    #[test]
    fn groups_build_and_process_families() {
        let m = Metrics {
            group_health: vec![
                GroupHealthView {
                    group: "a\"b".into(),
                    alive: 2,
                    suspect: 1,
                    down: 0,
                    uncovered_keys: 5,
                    min_live_depth: 0,
                    replication_target: None,
                    auto_share_ratio: None,
                },
                GroupHealthView {
                    group: "auto".into(),
                    alive: 3,
                    min_live_depth: 2,
                    replication_target: Some(2),
                    auto_share_ratio: Some(1.25),
                    ..GroupHealthView::default()
                },
            ],
            hooks: vec![HookStatsView {
                hook: "owners-file".into(),
                ok: 3,
                dropped: 1,
                ..HookStatsView::default()
            }],
            ..Metrics::default()
        };
        let p = ProcessStats {
            resident_bytes: Some(4096),
            cpu_seconds: Some(1.5),
            ..ProcessStats::default()
        };
        let t = prometheus(&m, &p);
        for line in [
            "scalesmall_group_members{group=\"a\\\"b\",state=\"suspect\"} 1\n",
            "scalesmall_group_uncovered_keys{group=\"a\\\"b\"} 5\n",
            "scalesmall_group_min_live_depth{group=\"auto\"} 2\n",
            "scalesmall_group_replication_target{group=\"auto\"} 2\n",
            "scalesmall_group_auto_share_ratio{group=\"auto\"} 1.2500\n",
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.50\n",
            "process_resident_memory_bytes 4096\n",
            "scalesmall_hook_runs_total{hook=\"owners-file\",result=\"ok\"} 3\n",
            "scalesmall_hook_runs_total{hook=\"owners-file\",result=\"timeout\"} 0\n",
            "scalesmall_hook_dropped_total{hook=\"owners-file\"} 1\n",
        ] {
            assert!(t.contains(line), "no {line:?} in\n{t}");
        }
        assert!(
            !t.contains("replication_target{group=\"a\\\"b\"}"),
            "a manual group has no R"
        );
        assert!(
            !t.contains("process_open_fds"),
            "unread values are left out"
        );
        assert!(t.contains(&format!(
            "scalesmall_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )));
    }
}
