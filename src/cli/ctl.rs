//! The control commands: `join`, `leave`, `claim`, `release`, `lookup`,
//! `members`, `topology`, `peers`, `status`, `watch`, `keys ...`. Each sends one request
//! to the running node's control socket and prints the reply as a table
//! (or JSON with `--json`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::control::client::{Client, ClientError};
use crate::node::config::{Config, Overrides};
use crate::node::request::{MemberView, Reply, Request, Status};

use super::{Cmd, CtlArgs, EXIT_REFUSED, EXIT_UNREACHABLE};

/// Where the node's socket is: the flag, the config, else the first
/// default place that exists.
#[must_use]
pub fn socket_path(ctl: &CtlArgs) -> PathBuf {
    if let Some(s) = &ctl.socket {
        return s.clone();
    }
    let env = |k: &str| std::env::var(k).ok();
    let cfg = Config::load(ctl.config.as_deref(), &env, &Overrides::default()).ok();
    if let Some(s) = cfg.as_ref().and_then(|c| c.socket.clone()) {
        return s;
    }
    let mut candidates = vec![PathBuf::from("/run/scalesmall/control.sock")];
    if let Some(c) = &cfg {
        candidates.push(c.data_dir.join("control.sock"));
    }
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| candidates.remove(0))
}

fn request_of(cmd: Cmd) -> Option<(Request, CtlArgs)> {
    Some(match cmd {
        Cmd::Join { group, ctl } => (Request::Join { group }, ctl),
        Cmd::Leave { group, ctl } => (Request::Leave { group }, ctl),
        Cmd::Claim {
            group,
            range,
            auto,
            manual,
            weight,
            priority,
            port,
            ctl,
        } => (
            match (auto, manual, range) {
                (true, _, _) => Request::Auto {
                    group,
                    weight: weight.unwrap_or(1),
                    priority,
                    port,
                },
                (false, true, _) => Request::Manual { group },
                // clap requires a range without --auto and --manual.
                (false, false, range) => Request::Claim {
                    group,
                    range: range.unwrap_or_default(),
                    priority: priority.unwrap_or(0),
                    port,
                },
            },
            ctl,
        ),
        Cmd::Release { group, range, ctl } => (Request::Release { group, range }, ctl),
        Cmd::Forget { node, ctl } => (Request::Forget { node }, ctl),
        Cmd::Lookup { group, key, ctl } => (Request::Lookup { group, key }, ctl),
        Cmd::Members { group, ctl } => (Request::Members { group }, ctl),
        Cmd::Topology { group, ctl } => (Request::Topology { group }, ctl),
        Cmd::Peers { ctl } => (Request::Peers, ctl),
        Cmd::Status { ctl } => (Request::Status, ctl),
        Cmd::Watch { ctl, .. } => (Request::Watch, ctl),
        Cmd::Keys(k) => super::keys::request_of(k),
        _ => return None,
    })
}

/// Runs one control command.
#[must_use]
pub fn main(cmd: Cmd) -> ExitCode {
    let exec = match &cmd {
        Cmd::Watch { exec, .. } => exec.clone(),
        _ => None,
    };
    let Some((req, ctl)) = request_of(cmd) else {
        return ExitCode::FAILURE;
    };
    let rt = match super::runtime() {
        Some(rt) => rt,
        None => return ExitCode::FAILURE,
    };
    let path = socket_path(&ctl);
    rt.block_on(async move {
        match talk(&path, req, ctl.json, exec.as_deref()).await {
            Ok(code) => code,
            Err(e @ ClientError::Unreachable { .. }) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNREACHABLE)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn talk(
    path: &std::path::Path,
    req: Request,
    json: bool,
    exec: Option<&str>,
) -> Result<ExitCode, ClientError> {
    let mut client = Client::connect(path).await?;
    if req == Request::Watch {
        return super::watch::follow(&mut client, json, exec).await;
    }
    let reply = client.ask(&req).await?;
    if let Reply::Refused { reason } = &reply {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&reply).unwrap_or_default()
            );
        }
        eprintln!("refused: {reason}");
        return Ok(ExitCode::from(EXIT_REFUSED));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply).unwrap_or_default()
        );
    } else if let Reply::Keys(k) = &reply {
        super::keys::print(k, !matches!(&req, Request::Keys { op, .. } if op == "list"));
    } else {
        print_human(&reply);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(reply: &Reply) {
    match reply {
        Reply::Written { changed, clock } => {
            if *changed {
                println!("changed (clock {clock})");
            } else {
                println!("unchanged");
            }
        }
        Reply::Lookup(l) => {
            let how = if l.hashed { " (hashed)" } else { "" };
            println!("key {} ({:#010x}){how} in {}:", l.key, l.key, l.group);
            if l.servers.is_empty() {
                if l.member == Some(false) {
                    println!(
                        "  no server known: this board is not a member of {g}, and a board holds only \
                         the groups it joined (`scalesmall join {g}` to read it)",
                        g = l.group
                    );
                } else {
                    println!("  no server");
                }
            }
            println!(
                "  {:<16}  {:>8}  {:>5}  {:<24}  {:<21}  STATE",
                "NODE", "PRIORITY", "PORT", "RANGE", "ADDR"
            );
            for s in &l.servers {
                println!(
                    "  {:<16}  {:>8}  {:>5}  {:<24}  {:<21}  {}",
                    s.node,
                    s.priority,
                    s.port,
                    s.range,
                    s.addr.as_deref().unwrap_or("-"),
                    if s.state.is_empty() { "-" } else { &s.state }
                );
            }
        }
        Reply::Members {
            group,
            members,
            member,
        } => print_members(group, members, *member),
        Reply::Topology { items, .. } => {
            println!(
                "{:<16}  {:<4}  {:<5}  {:<24}  {:>8}  {:>6}  {:>5}  {:>6}",
                "NODE", "OP", "KIND", "RANGE", "PRIORITY", "WEIGHT", "PORT", "CLOCK"
            );
            for i in items {
                // An auto marker covers no keys and has a weight, not a
                // priority.
                let (range, priority, weight) = match i.weight {
                    Some(w) => ("-".to_owned(), "-".to_owned(), w.to_string()),
                    None => (i.range.clone(), i.priority.to_string(), "-".to_owned()),
                };
                println!(
                    "{:<16}  {:<4}  {:<5}  {:<24}  {:>8}  {:>6}  {:>5}  {:>6}",
                    i.node, i.op, i.kind, range, priority, weight, i.port, i.clock
                );
            }
        }
        Reply::Peers { peers } => {
            println!(
                "{:<16}  {:<7}  {:<22}  {:>9}  {:<9}  {:<8}  REP",
                "ID", "STATE", "ADDR", "HEARD", "MULTICAST", "HEARS US"
            );
            for p in peers {
                println!(
                    "{:<16}  {:<7}  {:<22}  {:>8.1}s  {:<9}  {:<8}  {}",
                    p.id,
                    p.state,
                    p.addr.as_deref().unwrap_or("-"),
                    p.last_heard_ms as f64 / 1000.0,
                    yes(p.multicast),
                    yes(p.hears_us),
                    yes(p.representative)
                );
            }
        }
        Reply::Groups { groups } => {
            println!(
                "{:<24}  {:>7}  {:>7}  {:>4}  {:>6}  {:>5}  {:<4}  DIFFERS",
                "GROUP", "MEMBERS", "SERVERS", "AUTO", "CLAIMS", "ITEMS", "MINE"
            );
            for g in groups {
                println!(
                    "{:<24}  {:>7}  {:>7}  {:>4}  {:>6}  {:>5}  {:<4}  {}",
                    g.name,
                    g.members,
                    g.servers,
                    g.auto,
                    g.claims,
                    g.items,
                    yes(g.mine),
                    g.differs.join(",")
                );
            }
        }
        Reply::Status(s) => print_status(s),
        Reply::Metrics(m) => println!("{}", serde_json::to_string_pretty(m).unwrap_or_default()),
        Reply::Keys(k) => super::keys::print(k, false),
        Reply::Refused { reason } => println!("refused: {reason}"),
    }
}

/// `members`: one row per board. (A NAME column goes after ID once boards
/// have names.)
fn print_members(group: &str, members: &[MemberView], member: Option<bool>) {
    if member == Some(false) {
        println!(
            "no member known: this board is not a member of {group}, and a board holds only the groups \
             it joined (`scalesmall join {group}` to read it)"
        );
        return;
    }
    println!("{:<16}  STATE", "ID");
    for m in members {
        let state = if m.state.is_empty() { "-" } else { &m.state };
        println!("{:<16}  {state}", m.id);
    }
}

/// The `islands` line of `status`: a split shows here, a dead board only
/// as a peer down.
fn islands_line(unreachable: usize) -> String {
    match unreachable {
        0 => "none unreachable".to_owned(),
        n => format!(
            "{n} unreachable: every known board of {} is down in this board's view \
             (a split, or all its boards off)",
            if n == 1 { "it" } else { "each" }
        ),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_status(s: &Status) {
    println!("node        {} (incarnation {})", s.id, s.incarnation);
    println!("version     {}", s.version);
    println!("arch        {}", s.arch);
    println!("listening   {}", s.listen);
    println!("data        {}", s.data_dir);
    println!(
        "cluster     {}{}",
        s.cluster,
        if s.insecure { " (INSECURE)" } else { "" }
    );
    println!("clock       {}", s.clock);
    println!(
        "groups      {} (member of: {})",
        s.groups.join(", "),
        s.my_groups.join(", ")
    );
    println!(
        "peers       {} known: {} alive, {} suspect, {} down; {} heard in the last 30 s ({} TCP connections)",
        s.peers, s.peers_alive, s.peers_suspect, s.peers_down, s.peers_recent, s.connections
    );
    println!("islands     {}", islands_line(s.unreachable_islands));
    println!("converged   {}", yes(s.converged));
    for a in &s.auto {
        // keys / 2^32, in percent.
        let share = a.keys as f64 / 42_949_672.96;
        let fair = if a.total_weight == 0 {
            String::new()
        } else {
            let f = f64::from(a.replicas) * f64::from(a.weight) * 100.0 / a.total_weight as f64;
            format!(", fair {:.1}%", f.min(100.0))
        };
        println!(
            "auto        {}: weight {}{}, {} auto members, R={} over {} slices, holds {} ranges, {share:.1}% of keys{fair}",
            a.group,
            a.weight,
            if a.weight == 0 { " (standby)" } else { "" },
            a.members,
            a.replicas,
            a.slices,
            a.claims,
        );
    }
    let mismatch = if s.policy_mismatch.is_empty() {
        String::new()
    } else {
        let who: Vec<String> = s
            .policy_mismatch
            .iter()
            .map(|m| format!("{} ({})", m.node, m.fingerprint))
            .collect();
        format!(
            "; DIFFERS on {}: set the same replicas/slices on every board",
            who.join(", ")
        )
    };
    if !s.policy_fingerprint.is_empty() {
        println!("policies    {}{mismatch}", s.policy_fingerprint);
    }
    println!("uptime      {:.1}s", s.uptime_ms as f64 / 1000.0);
    println!(
        "traffic     {} frames / {} bytes out, {} frames / {} bytes in, {} news",
        s.counters.frames_out,
        s.counters.bytes_out,
        s.counters.frames_in,
        s.counters.bytes_in,
        s.counters.news
    );
    if !s.counters.drops.is_empty() {
        let d: Vec<String> = s
            .counters
            .drops
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("drops       {}", d.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn request(args: &[&str]) -> Result<Request, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        request_of(cli.command)
            .map(|(r, _)| r)
            .ok_or_else(|| "not a control command".to_owned())
    }

    #[test]
    fn claim_auto_and_manual_become_their_requests() {
        assert_eq!(
            request(&["scalesmall", "claim", "kv", "--auto"]),
            Ok(Request::Auto {
                group: "kv".into(),
                weight: 1,
                priority: None,
                port: 0
            })
        );
        assert_eq!(
            request(&[
                "scalesmall",
                "claim",
                "kv",
                "--auto",
                "--weight",
                "0",
                "--priority",
                "3",
                "--port",
                "8080"
            ]),
            Ok(Request::Auto {
                group: "kv".into(),
                weight: 0,
                priority: Some(3),
                port: 8080
            })
        );
        assert_eq!(
            request(&["scalesmall", "claim", "kv", "--manual"]),
            Ok(Request::Manual { group: "kv".into() })
        );
        assert_eq!(
            request(&["scalesmall", "claim", "kv", "0..9"]),
            Ok(Request::Claim {
                group: "kv".into(),
                range: "0..9".into(),
                priority: 0,
                port: 0
            })
        );
        for bad in [
            &["scalesmall", "claim", "kv"][..],
            &["scalesmall", "claim", "kv", "0..9", "--auto"],
            &["scalesmall", "claim", "kv", "--auto", "--manual"],
            &["scalesmall", "claim", "kv", "--manual", "--weight", "2"],
            &["scalesmall", "claim", "kv", "0..9", "--weight", "2"],
            &["scalesmall", "claim", "kv", "--auto", "--weight", "70000"],
        ] {
            assert!(request(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_auto_request_without_a_weight_means_one() {
        let r: Request = serde_json::from_str(r#"{"cmd":"auto","group":"kv"}"#).unwrap();
        assert_eq!(
            r,
            Request::Auto {
                group: "kv".into(),
                weight: 1,
                priority: None,
                port: 0
            }
        );
        assert!(r.clone().into_action().is_ok_and(|a| a.is_write()));
        let m: Request = serde_json::from_str(r#"{"cmd":"manual","group":"kv"}"#).unwrap();
        assert!(m.into_action().is_ok_and(|a| a.is_write()));
    }
}
