//! `sim --auto` and `sim --auto-picture`: auto-claim in the protocol
//! simulation, as a markdown table per node count and as an SVG of the key
//! space around a board failure (see `scalesmall::sim::auto`).

use std::io::Write as _;
use std::process::ExitCode;

use scalesmall::protocol::auto_claim::Policy;
use scalesmall::sim::{self, AutoPhase, AutoReport, AutoRun, Panel};

use super::{Args, config, fmt_ms};

/// Subnets of a run of `n` nodes unless given: about 25 nodes a subnet,
/// from 2 to 32.
fn subnets_for(n: usize) -> usize {
    (n / 25).clamp(2, 32)
}

fn ratio(part: f64, total: usize) -> String {
    format!("{:.1}%", 100.0 * part / total.max(1) as f64)
}

fn row(r: &AutoReport, p: &AutoPhase) -> String {
    format!(
        "| {} / {} / {:.0}% | {} | {} | {} | {} / {} | {} | {:.2} ({:.2}) | {} ({}) | {} / {} | {} / {} |",
        r.nodes,
        r.subnets,
        r.loss * 100.0,
        p.name,
        fmt_ms(p.covered_ms),
        fmt_ms(p.settled_ms),
        ratio(p.added as f64, p.total),
        ratio(p.removed as f64, p.total),
        ratio(p.minimum, p.total),
        p.max_load,
        p.nominal_max_load,
        p.min_coverage
            .map_or_else(|| "—".to_owned(), |c| c.to_string()),
        p.below,
        p.writes,
        p.quiet_writes,
        p.max_ranges,
        p.max_items,
    )
}

/// Runs `--auto` or `--auto-picture`.
pub fn main(a: &Args, seed: u64) -> ExitCode {
    let policy = match Policy::new(a.replicas, a.slices) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = AutoRun {
        policy,
        hold_down: a.hold_down.unwrap_or(15_000),
        heavy_every: a.heavy_every,
        leave: !a.auto_picture,
        ..AutoRun::default()
    };
    if a.auto_picture {
        return picture(a, seed, &run);
    }
    let counts = a.nodes.map_or_else(|| vec![10, 100, 1000], |n| vec![n]);
    println!(
        "R = {}, {} slices, hold-down {}, every {}th node weight 2 (others 1), seed {seed}\n",
        policy.replicas(),
        policy.slices(),
        fmt_ms(Some(a.hold_down.unwrap_or(15_000))),
        a.heavy_every
    );
    println!(
        "| nodes / subnets / loss | event | R everywhere, views agree | settled on targets | slice-replicas added / removed | minimum: forced, or fair share | max/mean load (nominal) | min coverage (samples < R−1) | items written settling / after | per node: live ranges / items (max) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    let mut footer = Vec::new();
    for n in counts {
        let subnets = a.subnets.unwrap_or_else(|| subnets_for(n));
        let loss = a.loss.unwrap_or(0.01);
        let r = sim::auto(config(a, n, subnets, loss, seed), &run);
        for p in &r.phases {
            println!("{}", row(&r, p));
        }
        for p in r.phases.iter().filter(|p| !p.unsettled.is_empty()) {
            eprintln!("{n} nodes, {}: not converged:\n{}", p.name, p.unsettled);
        }
        let _ = std::io::stdout().flush();
        footer.push(format!(
            "{n} nodes: {:.0} s simulated, {} events, trace {:016x}, simulator violations {}",
            r.sim_ms as f64 / 1000.0,
            r.events,
            r.trace,
            r.violations
        ));
        ok &= r.ok();
    }
    println!();
    for f in footer {
        println!("{f}");
    }
    println!("seed {seed}");
    if ok {
        ExitCode::SUCCESS
    } else {
        println!("FAILED: an event did not settle, fell below R−1 or churned");
        ExitCode::FAILURE
    }
}

fn picture(a: &Args, seed: u64, run: &AutoRun) -> ExitCode {
    let n = a.nodes.unwrap_or(8);
    let subnets = a.subnets.unwrap_or(2);
    let loss = a.loss.unwrap_or(0.01);
    let r = sim::auto(config(a, n, subnets, loss, seed), run);
    let mut panels = Vec::new();
    for (k, p) in r.phases.iter().enumerate() {
        if k == 1
            && let Some(h) = &p.at_lowest
        {
            panels.push(Panel {
                title: format!(
                    "{}: just down, within the hold-down (its slices at R − 1)",
                    p.name
                ),
                holdings: h.clone(),
            });
        }
        let title = match k {
            0 => format!("{}: settled after {}", p.name, fmt_ms(p.settled_ms)),
            _ => format!(
                "{}: settled after {} ({} slice-replicas added, {} removed)",
                p.name,
                fmt_ms(p.settled_ms),
                p.added,
                p.removed
            ),
        };
        panels.push(Panel {
            title,
            holdings: p.holdings.clone(),
        });
    }
    let caption = format!(
        "Auto-claim, {n} nodes in {subnets} subnets, {:.0}% loss, R = {}, {} slices, hold-down {} (sim --auto-picture --seed {seed})",
        loss * 100.0,
        run.policy.replicas(),
        run.policy.slices(),
        fmt_ms(Some(run.hold_down))
    );
    let text = sim::auto_svg(&run.policy, &r.weights, &panels, &caption);
    if let Err(e) = std::fs::write(&a.out, text) {
        eprintln!("sim: cannot write {}: {e}", a.out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} ({} panels), trace {:016x}, seed {seed}",
        a.out.display(),
        panels.len(),
        r.trace
    );
    if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
