//! `sim auto` and `sim auto-picture`: auto-claim in the protocol
//! simulation, as a markdown table per node count and as an SVG of the key
//! space around a board failure (see `scalesmall::sim::auto`).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use scalesmall::protocol::auto_claim::Policy;
use scalesmall::sim::{self, AutoPhase, AutoReport, AutoRun, Panel};

use super::cli::{AutoPolicy, Size};
use super::{Setup, fmt_ms};

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

/// The run of `auto` (with a leave) or of `auto-picture` (without).
fn auto_run(p: &AutoPolicy, heavy_every: usize, leave: bool) -> Result<AutoRun, ExitCode> {
    let policy = Policy::new(p.replicas, p.slices).map_err(|e| {
        eprintln!("sim: {e}");
        ExitCode::FAILURE
    })?;
    Ok(AutoRun {
        policy,
        hold_down: p.hold_down.unwrap_or(15_000),
        heavy_every,
        leave,
        ..AutoRun::default()
    })
}

/// `auto`: the table of every event, per node count.
pub fn table(s: &Setup, size: &Size, p: &AutoPolicy, heavy_every: usize) -> ExitCode {
    let run = match auto_run(p, heavy_every, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (policy, seed) = (run.policy, s.seed);
    let counts = size.nodes.map_or_else(|| vec![10, 100, 1000], |n| vec![n]);
    println!(
        "R = {}, {} slices, hold-down {}, every {}th node weight 2 (others 1), seed {seed}\n",
        policy.replicas(),
        policy.slices(),
        fmt_ms(Some(run.hold_down)),
        heavy_every
    );
    println!(
        "| nodes / subnets / loss | event | R everywhere, views agree | settled on targets | slice-replicas added / removed | minimum: forced, or fair share | max/mean load (nominal) | min coverage (samples < R−1) | items written settling / after | per node: live ranges / items (max) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    let mut footer = Vec::new();
    for n in counts {
        let subnets = size.subnets.unwrap_or_else(|| subnets_for(n));
        let loss = size.loss.unwrap_or(0.01);
        let r = sim::auto(s.config(n, subnets, loss), &run);
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

/// `auto-picture`: the key space around a board failure, as an SVG.
pub fn picture(s: &Setup, size: &Size, p: &AutoPolicy, heavy_every: usize, out: &Path) -> ExitCode {
    let run = match auto_run(p, heavy_every, false) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let seed = s.seed;
    let (n, subnets, loss) = size.or(8, 2, 0.01);
    let r = sim::auto(s.config(n, subnets, loss), &run);
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
        "Auto-claim, {n} nodes in {subnets} subnets, {:.0}% loss, R = {}, {} slices, hold-down {} (sim auto-picture --seed {seed})",
        loss * 100.0,
        run.policy.replicas(),
        run.policy.slices(),
        fmt_ms(Some(run.hold_down))
    );
    let text = sim::auto_svg(&run.policy, &r.weights, &panels, &caption);
    if let Err(e) = std::fs::write(out, text) {
        eprintln!("sim: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} ({} panels), trace {:016x}, seed {seed}",
        out.display(),
        panels.len(),
        r.trace
    );
    if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
