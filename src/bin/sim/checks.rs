//! The measurement modes of `sim` beyond the benchmark: `curve`,
//! `expiry`, `tombstones`, `long-run`, `flood`, `liveness`, `sweep` and
//! `reconnect-cost` (see `sim help <mode>`). Each prints its table and
//! exits 1 when its check fails.

use std::process::ExitCode;

use scalesmall::sim;

use super::cli::Size;
use super::{Setup, fmt_ms};

/// `curve`: CSV of convergence time vs nodes and vs loss.
pub fn curve(
    s: &Setup,
    nodes: &[usize],
    losses: &[f64],
    nodes_loss: f64,
    subnets: Option<usize>,
) -> ExitCode {
    let seed = s.seed;
    println!("axis,x,seed,converge_p50_ms,converge_max_ms,idle_bytes_per_node");
    for &n in nodes {
        let subnets = subnets.unwrap_or((n / 32).clamp(1, 32));
        let r = sim::measure(s.config(n, subnets, nodes_loss));
        println!(
            "nodes,{n},{seed},{},{},{:.0}",
            r.delay_quantile(0.5).unwrap_or(0),
            r.write_delays.last().copied().unwrap_or(0),
            r.idle_bytes
        );
    }
    for &loss in losses {
        let r = sim::measure(s.config(100, subnets.unwrap_or(4), loss));
        println!(
            "loss,{loss},{seed},{},{},{:.0}",
            r.delay_quantile(0.5).unwrap_or(0),
            r.write_delays.last().copied().unwrap_or(0),
            r.idle_bytes
        );
    }
    ExitCode::SUCCESS
}

/// `expiry`: a dead board expired everywhere, then back.
pub fn expiry(s: &Setup, size: &Size) -> ExitCode {
    let (seed, (nodes, subnets, loss)) = (s.seed, size.or(100, 1, 0.0));
    let r = sim::expiry(s.config(nodes, subnets, loss), 60_000, 180_000);
    println!(
        "| nodes / subnets / loss | grace | node 0 expired it and restarted after | expired by every node after | still listed | back, cluster exact after | invariant violations |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} / {} / {:.0}% | {} | {} | {} | {} | {} | {} |",
        nodes,
        subnets,
        loss * 100.0,
        fmt_ms(Some(r.grace_ms)),
        fmt_ms(r.observer_restarted_ms),
        fmt_ms(r.all_expired_ms),
        r.still_listed,
        fmt_ms(r.back_ms),
        r.violations
    );
    println!("seed {seed}");
    let ok = r.all_expired_ms.is_some() && r.back_ms.is_some() && r.violations == 0;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `tombstones`: tombstone collection over hours, with and without.
pub fn tombstones(s: &Setup, size: &Size, hours: u64) -> ExitCode {
    let (seed, (nodes, subnets, loss)) = (s.seed, size.or(100, 1, 0.0));
    let hours = hours.min(48);
    let with = sim::tombstones(s.config(nodes, subnets, loss), 600_000, hours, 30_000);
    let without = sim::tombstones(s.config(nodes, subnets, loss), 0, hours, 30_000);
    println!(
        "| hour | releases | largest per node, collected every 10 min: items / retractions | never collected: items / retractions |"
    );
    println!("|---:|---:|---|---|");
    for (w, o) in with.samples.iter().zip(&without.samples) {
        println!(
            "| {} | {} | {} / {} | {} / {} |",
            w.hour, w.releases, w.max_items, w.max_retractions, o.max_items, o.max_retractions
        );
    }
    let show = |ms: Option<u64>| {
        ms.map_or_else(
            || "NO".to_owned(),
            |t| format!("{:.1} s", t as f64 / 1000.0),
        )
    };
    println!(
        "{nodes} nodes, {subnets} subnets, {:.0}% loss; one board partitioned for 30 min from hour 1; converged after the churn: {} (collected), {} (never); invariant violations {} / {}; seed {seed}",
        loss * 100.0,
        show(with.converged_ms),
        show(without.converged_ms),
        with.violations,
        without.violations
    );
    let flat = with.samples.last().map(|s| s.max_retractions)
        <= with.samples.get(2).map(|s| s.max_retractions.max(1) * 2);
    if with.converged_ms.is_some() && with.violations == 0 && without.violations == 0 && flat {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `long-run`: boards replaced for hours; the tables must stay flat.
pub fn long_run(s: &Setup, size: &Size, hours: u64, replace_every_min: u64) -> ExitCode {
    let (seed, (nodes, subnets, loss)) = (s.seed, size.or(100, 1, 0.0));
    let r = sim::long_run(
        s.config(nodes, subnets, loss),
        600_000,
        hours,
        replace_every_min.max(1) * 60_000,
    );
    println!(
        "| hour | boards replaced | largest per node: peers / liveness views / expiry markers / members / items |"
    );
    println!("|---:|---:|---|");
    for s in &r.samples {
        println!(
            "| {} | {} | {} / {} / {} / {} / {} |",
            s.hour, s.replaced, s.max.peers, s.max.views, s.max.markers, s.max.members, s.max.items
        );
    }
    println!(
        "{nodes} nodes, {subnets} subnets, {:.0}% loss, grace {} min, flat: {}, invariant violations {}, seed {seed}",
        loss * 100.0,
        r.grace_ms / 60_000,
        if r.flat() { "yes" } else { "NO" },
        r.violations
    );
    if r.flat() && r.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `flood`: a flooding key holder against node 0.
pub fn flood(s: &Setup, size: &Size, rate: u64) -> ExitCode {
    let (seed, (nodes, subnets, loss)) = (s.seed, size.or(100, 1, 0.0));
    println!(
        "| flood ({} datagrams/s for 30 s at node 0; {} nodes, {} subnets, {:.0}% loss) | peers known / cap | members held / cap | node 0 sends: before / during | honest writes | converged after the flood | invariant violations |",
        rate,
        nodes,
        subnets,
        loss * 100.0
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ok = true;
    for kind in [sim::Flood::Announces, sim::Flood::Pulls, sim::Flood::Deltas] {
        let r = sim::flood(s.config(nodes, subnets, loss), kind, rate, 30);
        println!(
            "| {} | {} / {} | {} / {} | {:.0} / {:.0} B/s | {} | {} | {} |",
            kind.name(),
            r.victim_peers,
            scalesmall::protocol::MAX_PEERS,
            r.victim_members,
            r.member_cap,
            r.victim_out_before,
            r.victim_out_bytes,
            r.honest_writes,
            fmt_ms(r.converged_ms),
            r.violations
        );
        ok &= r.converged_ms.is_some() && r.violations == 0;
    }
    println!("seed {seed}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `liveness`: the failure detector measured (one subnet per 25 nodes
/// unless `subnets` is given).
pub fn liveness(s: &Setup, nodes: &[usize], losses: &[f64], subnets: Option<usize>) -> ExitCode {
    let seed = s.seed;
    println!(
        "| nodes / subnets | loss | crashed marked down by all: p50 / p99 / max | not detected | false suspicions / false downs per node-hour | restarted seen alive, new incarnation, by all | exact after restart |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ok = true;
    for &n in nodes {
        for &loss in losses {
            let subnets = subnets.unwrap_or(n.div_ceil(25).max(1));
            let r = sim::measure_liveness(s.config(n, subnets, loss), sim::LivenessRun::default());
            println!(
                "| {n} / {subnets} | {:.0}% | {} / {} / {} | {} | {:.2} / {:.2} | {} | {} |",
                loss * 100.0,
                fmt_ms(r.detect_quantile(0.5)),
                fmt_ms(r.detect_quantile(0.99)),
                fmt_ms(r.detect_ms.last().copied()),
                r.undetected,
                r.false_suspects_per_node_hour(),
                r.false_downs_per_node_hour(),
                fmt_ms(r.restart_ms),
                if r.exact_after_restart { "yes" } else { "NO" },
            );
            ok &= r.undetected == 0 && r.restart_ms.is_some() && r.exact_after_restart;
        }
    }
    println!("seed {seed}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `sweep`: the benchmark at several sizes on one LAN (unless `subnets`).
pub fn lan_sweep(s: &Setup, nodes: &[usize], subnets: Option<usize>, loss: f64) -> ExitCode {
    let seed = s.seed;
    println!(
        "| nodes (one LAN) | idle B/s per node | write reaches all: p50 / max | boot converged |"
    );
    println!("|---|---|---|---|");
    for &n in nodes {
        let r = sim::measure(s.config(n, subnets.unwrap_or(1), loss));
        println!(
            "| {n} | {:.0} | {} / {} | {} |",
            r.idle_bytes,
            fmt_ms(r.delay_quantile(0.5)),
            fmt_ms(r.write_delays.last().copied()),
            fmt_ms(r.boot_ms)
        );
    }
    println!("seed {seed}");
    ExitCode::SUCCESS
}

/// `reconnect-cost`: traffic at rest with 0, 1 and half the members down.
pub fn reconnect_cost(s: &Setup, size: &Size) -> ExitCode {
    let (seed, (nodes, subnets, loss)) = (s.seed, size.or(24, 3, 0.0));
    println!(
        "| members down ({nodes} nodes, {subnets} subnets, {:.0}% loss) | first 5 min after the crash: B/s, frames/s per running node | contacts per down member per minute | from 15 min after: B/s, frames/s per running node | contacts per down member per minute |",
        loss * 100.0
    );
    println!("|---|---|---:|---|---:|");
    let mut ok = true;
    for down in [0, 1, nodes / 2] {
        let r = sim::reconnect_cost(s.config(nodes, subnets, loss), down);
        println!(
            "| {} | {:.0}, {:.1} | {:.1} | {:.0}, {:.1} | {:.1} |",
            r.down,
            r.early.bytes,
            r.early.frames,
            r.early.contacts,
            r.steady.bytes,
            r.steady.frames,
            r.steady.contacts
        );
        ok &= r.exact;
    }
    println!("seed {seed}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
