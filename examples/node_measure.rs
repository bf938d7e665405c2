//! Measures real nodes (README's node figures): RSS and CPU of an idle
//! node and of a node in a 5-node cluster, start-up time until a peer hears
//! the new node, and the time from `claim` on one node to the change being
//! visible on the others (median and p99 over many claims).
//!
//! ```text
//! cargo build --release && cargo run --release --example node_measure [-- ROUNDS]
//! ```
//!
//! Runs the nodes in a network namespace with multicast when root (as the
//! integration tests do), else on loopback with seeds. Uses
//! `target/release/scalesmall` (or `$SCALESMALL_BIN`).

#[path = "../tests/support/procs.rs"]
#[allow(dead_code)]
mod procs;

use std::time::{Duration, Instant};

use procs::{Env, Node};

/// Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on Linux).
const TICKS: f64 = 100.0;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the ")" of the command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// CPU share of `pid` over `window`.
#[allow(clippy::disallowed_methods)] // a measurement tool reads the real clock
fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let t0 = cpu_ticks(pid);
    std::thread::sleep(window);
    let t1 = cpu_ticks(pid);
    (t1 - t0) as f64 / TICKS / window.as_secs_f64() * 100.0
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

#[allow(clippy::disallowed_methods)] // a measurement tool reads the real clock
fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let env = Env::new();
    println!(
        "binary {} ({}), {}",
        procs::bin(),
        std::env::consts::ARCH,
        if env.multicast() {
            "network namespace with multicast"
        } else {
            "loopback, seeds, no multicast"
        }
    );

    // An idle node alone.
    let t = Instant::now();
    let solo = Node::start(&env, "solo", &[], &[]);
    let ready_ms = t.elapsed().as_secs_f64() * 1000.0;
    let pid = solo.pid().unwrap_or(0);
    let idle_cpu = cpu_percent(pid, Duration::from_secs(10));
    let idle_rss = rss_kib(pid);
    drop(solo);

    // A 5-node cluster.
    let a = Node::start(&env, "a", &[], &[]);
    let mut nodes = vec![a];
    for k in 1..5 {
        let seeds: Vec<u16> = nodes.iter().map(|n| n.port).collect();
        nodes.push(Node::start(&env, &format!("n{k}"), &seeds, &[]));
    }
    // Start-up until an existing node hears the new one.
    let watch = nodes[0].watch();
    let t = Instant::now();
    let seeds = [nodes[0].port];
    let late = Node::start(&env, "late", &seeds, &[]);
    let heard = watch
        .until(Duration::from_secs(30), |e| {
            e["event"] == "peer_discovered" && e["node"] == late.id.as_str()
        })
        .map(|_| t.elapsed().as_secs_f64() * 1000.0);
    drop(late);

    // Claim on node 0 until visible (a change event) on every other node.
    let watches: Vec<_> = nodes[1..].iter().map(Node::watch).collect();
    let mut delays = Vec::new();
    for r in 0..rounds {
        let prio = (r % 60_000) + 1;
        let t = Instant::now();
        let out = nodes[0].ctl(&["claim", "demo", "0..1000", "--priority", &prio.to_string()]);
        if !out.status.success() {
            eprintln!("claim failed: {out:?}");
            break;
        }
        let mut worst: f64 = 0.0;
        for w in &watches {
            if w.until(Duration::from_secs(10), |e| e["event"] == "changed")
                .is_some()
            {
                worst = worst.max(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        delays.push(worst);
    }
    let pid = nodes[2].pid().unwrap_or(0);
    let busy_cpu = cpu_percent(pid, Duration::from_secs(10));
    let busy_rss = rss_kib(pid);

    println!("| measure | value |");
    println!("|---|---|");
    println!("| idle node alone: RSS / CPU | {idle_rss} KiB / {idle_cpu:.2}% |");
    println!("| node in a 5-node cluster, idle: RSS / CPU | {busy_rss} KiB / {busy_cpu:.2}% |");
    println!("| start to ready (banner) | {ready_ms:.0} ms |");
    println!(
        "| start until a running peer hears the new node | {} |",
        heard.map_or_else(|| "not heard".to_owned(), |ms| format!("{ms:.0} ms"))
    );
    let n = delays.len();
    let (p50, p99) = (quantile(&mut delays, 0.5), quantile(&mut delays, 0.99));
    println!(
        "| `claim` on one node until all 4 others see it ({n} claims): median / p99 | {p50:.1} ms / {p99:.1} ms |"
    );
}
