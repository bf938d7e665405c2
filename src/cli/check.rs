//! `scalesmall config check [--config FILE] [--json]`: loads the config as
//! `scalesmall run` would (file, `SCALESMALL_*` environment, defaults),
//! and prints the settings it would run with: a short summary for people,
//! or with `--json` one document in the config file's own sections
//! (`node`, `cluster`, `control`, `auto`, `groups`), for scripts and diffs.
//!
//! Exit status: 0 valid, 1 invalid (the reason, naming the key and where it
//! came from, on stderr; with `--json` also `{"ok": false, "error": ...}` on
//! stdout).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::node::config::{Config, DeclaredGroup, LogFormat, Overrides};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Runs `config check`.
#[must_use]
pub fn main(file: Option<&Path>, as_json: bool) -> ExitCode {
    let loaded = Config::load(file, &env, &Overrides::default());
    let (text, code) = match &loaded {
        Ok(c) if as_json => (pretty(&settings(c)), ExitCode::SUCCESS),
        Ok(c) => (summary(c), ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            if !as_json {
                return ExitCode::FAILURE;
            }
            (
                pretty(&json!({ "ok": false, "error": e.to_string() })),
                ExitCode::FAILURE,
            )
        }
    };
    // A reader that stops early (`| head`) is not a failed check.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    code
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn group(g: &DeclaredGroup) -> Value {
    let claims: Vec<Value> = g
        .claims
        .iter()
        .map(|c| json!({ "range": c.range.to_string(), "priority": c.priority, "port": c.port }))
        .collect();
    let mut v = json!({ "name": g.name.as_str(), "claims": claims, "auto": g.auto.is_some() });
    if let Some(a) = g.auto {
        v["weight"] = json!(a.weight);
        v["priority"] = json!(a.priority);
        v["port"] = json!(a.port);
    }
    if let Some(p) = g.policy {
        v["replicas"] = json!(p.replicas());
        v["slices"] = json!(p.slices());
    }
    v
}

/// Every setting, in the config file's sections. The destructuring is
/// exhaustive on purpose: a new setting does not compile until it is
/// shown here.
#[must_use]
pub fn settings(c: &Config) -> Value {
    let Config {
        file,
        data_dir,
        port,
        interface,
        advertise,
        peers,
        multicast,
        multicast_group,
        multicast_group_v6,
        multicast_ttl,
        multicast_loop,
        multicast_port,
        leave_on_exit,
        expire_after_secs,
        tombstone_ttl_secs,
        reconnect_interval_secs,
        log,
        log_format: format,
        cluster,
        key_file,
        accept_key_files,
        insecure,
        socket: _,
        http,
        groups,
        auto_hold_down_secs,
        auto_settle_secs,
        hook_window_ms,
        hooks,
    } = c;
    json!({
        "ok": true,
        "file": file,
        "node": {
            "data_dir": data_dir,
            "port": port,
            "interface": interface,
            "advertise": advertise,
            "peers": peers,
            "multicast": multicast,
            "multicast_group": multicast_group,
            "multicast_group_v6": multicast_group_v6,
            "multicast_ttl": multicast_ttl,
            "multicast_loop": multicast_loop,
            "multicast_port": multicast_port.unwrap_or(*port),
            "leave_on_exit": leave_on_exit,
            "expire_after_secs": expire_after_secs,
            "tombstone_ttl_secs": tombstone_ttl_secs,
            "reconnect_interval_secs": reconnect_interval_secs,
            "hook_window_ms": hook_window_ms,
            "log": log,
            "log_format": LogFormat::as_str(*format),
        },
        "cluster": {
            "name": cluster,
            "key_file": if *insecure { None } else { Some(key_file.clone().unwrap_or_else(|| data_dir.join("cluster.key"))) },
            "accept_key_files": accept_key_files,
            "insecure": insecure,
        },
        "control": {
            // Where `run` would put it, in this environment.
            "socket": c.socket_path(&env),
            "http": http.map(|a| a.to_string()),
        },
        "hooks": hooks.iter().map(|h| json!({
            "name": h.name,
            "events": h.events,
            "command": h.command,
            "timeout_secs": h.timeout_secs,
            "queue": h.queue,
            "concurrency": h.concurrency,
        })).collect::<Vec<_>>(),
        "auto": {
            "hold_down_secs": auto_hold_down_secs,
            "settle_secs": auto_settle_secs,
        },
        "groups": groups.iter().map(group).collect::<Vec<_>>(),
    })
}

fn list<T: ToString>(items: &[T], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn group_line(g: &DeclaredGroup) -> String {
    let mut s = format!("{}: ", g.name);
    match g.auto {
        Some(a) => {
            let _ = write!(s, "auto, weight {}", a.weight);
            if let Some(p) = a.priority {
                let _ = write!(s, ", priority {p}");
            }
            if a.port != 0 {
                let _ = write!(s, ", port {}", a.port);
            }
        }
        None if g.claims.is_empty() => s.push_str("reader (no claims)"),
        None => {
            let claims: Vec<String> = g
                .claims
                .iter()
                .map(|c| format!("{} priority {} port {}", c.range, c.priority, c.port))
                .collect();
            s.push_str(&claims.join("; "));
        }
    }
    if let Some(p) = g.policy {
        let _ = write!(s, " (replicas {}, slices {})", p.replicas(), p.slices());
    }
    s
}

/// The settings for people: one line per section.
#[must_use]
pub fn summary(c: &Config) -> String {
    let mut s = String::new();
    let file = c.file.as_ref().map_or_else(
        || "no config file; defaults and environment".to_owned(),
        |p| p.display().to_string(),
    );
    let _ = writeln!(s, "ok: {file}");
    let _ = writeln!(
        s,
        "node        port {}, interface {}, advertise {}, data {}",
        c.port,
        c.interface.as_deref().unwrap_or("(the default route's)"),
        list(&c.advertise, "(the interface's addresses)"),
        c.data_dir.display()
    );
    let _ = writeln!(s, "seeds       {}", list(&c.peers, "none"));
    if c.multicast {
        let _ = writeln!(
            s,
            "multicast   {} (IPv4) / {} (IPv6 only), port {}, ttl {}",
            c.multicast_group,
            c.multicast_group_v6,
            c.multicast_port.unwrap_or(c.port),
            c.multicast_ttl
        );
    } else {
        let _ = writeln!(s, "multicast   off (seeds only)");
    }
    let key = if c.insecure {
        "NONE: insecure, frames neither secret nor authenticated".to_owned()
    } else {
        match &c.key_file {
            Some(k) => k.display().to_string(),
            None => format!(
                "{} (generated if missing)",
                c.data_dir.join("cluster.key").display()
            ),
        }
    };
    let accepted = if c.accept_key_files.is_empty() {
        String::new()
    } else {
        format!(
            ", also accepts {}",
            list(
                &c.accept_key_files
                    .iter()
                    .map(|p| p.display())
                    .collect::<Vec<_>>(),
                ""
            )
        )
    };
    let _ = writeln!(s, "cluster     {}, key {key}{accepted}", c.cluster);
    let _ = writeln!(
        s,
        "control     socket {}, http {}",
        c.socket_path(&env).display(),
        c.http.map_or_else(|| "off".to_owned(), |a| a.to_string())
    );
    let _ = writeln!(
        s,
        "log         {} ({})",
        c.log,
        LogFormat::as_str(c.log_format)
    );
    let _ = writeln!(
        s,
        "timing      expire after {} s, tombstones {} s, reconnect {} s, auto hold-down {} s, settle {} s",
        c.expire_after_secs,
        c.tombstone_ttl_secs,
        c.reconnect_interval_secs,
        c.auto_hold_down_secs,
        c.auto_settle_secs
    );
    let _ = writeln!(
        s,
        "on exit     {}",
        if c.leave_on_exit {
            "leave every group"
        } else {
            "keep own items"
        }
    );
    if c.groups.is_empty() {
        let _ = write!(s, "groups      none declared");
    }
    for (i, g) in c.groups.iter().enumerate() {
        let head = if i == 0 { "groups" } else { "" };
        let _ = write!(
            s,
            "{}{head:<12}{}",
            if i == 0 { "" } else { "\n" },
            group_line(g)
        );
    }
    s
}
