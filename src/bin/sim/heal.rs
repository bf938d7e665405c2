//! `sim heal KINDS`: the heal checker (see `scalesmall::sim::heal`) for
//! one seed, printing the outcome, a diagnosis and the replay command of a
//! failure; with `--seeds N`, the sweep: seeds 1..=N for every kind and
//! loss rate, on `--jobs` threads, with progress on stderr and a table of
//! heal times (median, p99, max) and failures (each with its replay command)
//! on stdout.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scalesmall::node::clock::Stopwatch;

use scalesmall::protocol::auto_claim::Policy;
use scalesmall::sim::{self, Fault, HealOutcome, HealRun, SimConfig};

use super::cli::Heal;
use super::{Setup, fmt_ms};

/// Failures listed per (kind, loss) row.
const LISTED: usize = 10;

/// The kinds named on the command line (`all`: every kind).
fn kinds(names: &[String]) -> Result<Vec<Fault>, String> {
    let mut out = Vec::new();
    for n in names {
        if n == "all" {
            out.extend(Fault::ALL);
        } else {
            let f = Fault::parse(n).ok_or_else(|| {
                let all: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault kind {n:?}; kinds: all, {}", all.join(", "))
            })?;
            out.push(f);
        }
    }
    out.dedup();
    Ok(out)
}

/// `sim heal`: one run per kind and loss rate, or the `--seeds` sweep.
pub fn main(s: &Setup, h: &Heal) -> ExitCode {
    let faults = match kinds(&h.kinds) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let policy = match Policy::new(h.policy.replicas, h.policy.slices) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan {
        s,
        h,
        policy,
        nodes: h.nodes.unwrap_or(24),
        subnets: h.subnets.unwrap_or(3),
    };
    let ok = if h.seeds == 0 {
        plan.each_once(&faults)
    } else {
        plan.seeds(&faults)
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What every run of one `sim heal` shares.
struct Plan<'a> {
    s: &'a Setup,
    h: &'a Heal,
    policy: Policy,
    nodes: usize,
    subnets: usize,
}

impl Plan<'_> {
    fn run(&self, fault: Fault) -> HealRun {
        HealRun {
            bound_ms: self.h.bound_ms,
            auto: !self.h.no_auto,
            policy: self.policy,
            ..HealRun::new(fault)
        }
    }

    fn config(&self, loss: f64, seed: u64) -> SimConfig {
        let mut cfg = self.s.config_seeded(self.nodes, self.subnets, loss, seed);
        if let Some(h) = self.h.policy.hold_down {
            cfg.protocol.auto.hold_down = h;
        }
        cfg
    }

    /// Every kind at every loss rate once, with the run's seed; prints each.
    fn each_once(&self, faults: &[Fault]) -> bool {
        let mut ok = true;
        for &loss in &self.h.loss {
            for &f in faults {
                let cfg = self.config(loss, self.s.seed);
                let run = self.run(f);
                let replay = sim::replay(&cfg, &run);
                let out = sim::heal(cfg, &run);
                ok &= print_one(&out, &replay);
            }
        }
        ok
    }

    /// Seeds 1..=N of every kind and loss rate on `--jobs` threads; prints
    /// the table.
    fn seeds(&self, faults: &[Fault]) -> bool {
        let seeds = self.h.seeds;
        let jobs: Vec<(Fault, f64, u64)> = self
            .h
            .loss
            .iter()
            .flat_map(|&l| faults.iter().map(move |&f| (f, l)))
            .flat_map(|(f, l)| (1..=seeds).map(move |s| (f, l, s)))
            .collect();
        let threads = self.h.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let results = sweep(&jobs, threads.max(1), |&(f, l, s)| {
            let cfg = self.config(l, s);
            let run = self.run(f);
            let replay = sim::replay(&cfg, &run);
            (sim::heal(cfg, &run), replay)
        });
        print_table(&jobs, &results, self.h.bound_ms, self.nodes, self.subnets);
        results.iter().all(|(o, _)| o.passed())
    }
}

/// Prints one run; returns whether it passed.
fn print_one(out: &HealOutcome, replay: &str) -> bool {
    println!(
        "{}: fault {:.0} s, healed after {} (bound {}), {} writes, {} events, trace {:016x}",
        out.fault,
        out.fault_ms as f64 / 1000.0,
        fmt_ms(out.heal_ms),
        fmt_ms(Some(out.bound_ms)),
        out.writes,
        out.events,
        out.trace
    );
    for v in out.violations.iter().take(10) {
        println!("violation: {v}");
    }
    if out.passed() {
        return true;
    }
    print!("{}", out.diagnosis);
    println!("FAILED; replay with: {replay}");
    false
}

/// Runs `f` over `jobs` on `threads` threads, in job order, printing
/// progress on stderr every 10 s.
fn sweep<J: Sync, R: Send>(jobs: &[J], threads: usize, f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<BTreeMap<usize, R>> = Mutex::new(BTreeMap::new());
    let start = Stopwatch::start();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(k) else { break };
                    let r = f(job);
                    if let Ok(mut m) = slots.lock() {
                        m.insert(k, r);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut last = Stopwatch::start();
        while done.load(Ordering::Relaxed) < jobs.len() {
            std::thread::sleep(Duration::from_millis(200));
            if last.seconds() >= 10.0 {
                last = Stopwatch::start();
                let d = done.load(Ordering::Relaxed);
                let spent = start.seconds();
                let left = spent / d.max(1) as f64 * (jobs.len() - d) as f64;
                eprintln!(
                    "heal sweep: {d}/{} runs, {:.0} s spent, about {:.0} s left",
                    jobs.len(),
                    spent,
                    left
                );
            }
        }
    });
    slots
        .into_inner()
        .map(|m| m.into_values().collect())
        .unwrap_or_default()
}

/// The `q`-quantile of sorted `v`.
fn quantile(v: &[u64], q: f64) -> Option<u64> {
    let i = ((v.len().checked_sub(1)?) as f64 * q).round() as usize;
    v.get(i).copied()
}

/// The table of a sweep, then its failures.
fn print_table(
    jobs: &[(Fault, f64, u64)],
    results: &[(HealOutcome, String)],
    bound: u64,
    nodes: usize,
    subnets: usize,
) {
    let mut rows: BTreeMap<(Fault, u64), Vec<&(HealOutcome, String)>> = BTreeMap::new();
    for ((f, l, _), r) in jobs.iter().zip(results) {
        rows.entry((*f, (l * 1e6) as u64)).or_default().push(r);
    }
    println!(
        "| fault ({nodes} nodes, {subnets} subnets) | loss | runs | failed (bound {}) | heal median / p99 / max | not healed in 5 min |",
        fmt_ms(Some(bound))
    );
    println!("|---|---:|---:|---:|---|---:|");
    for ((f, l), rs) in &rows {
        let mut healed: Vec<u64> = rs.iter().filter_map(|(o, _)| o.heal_ms).collect();
        healed.sort_unstable();
        let failed = rs.iter().filter(|(o, _)| !o.passed()).count();
        println!(
            "| {f} | {:.0}% | {} | {failed} | {} / {} / {} | {} |",
            *l as f64 / 1e4,
            rs.len(),
            fmt_ms(quantile(&healed, 0.5)),
            fmt_ms(quantile(&healed, 0.99)),
            fmt_ms(healed.last().copied()),
            rs.len() - healed.len()
        );
    }
    for ((f, l), rs) in &rows {
        let failed: Vec<_> = rs.iter().filter(|(o, _)| !o.passed()).collect();
        if failed.is_empty() {
            continue;
        }
        println!(
            "\n{f} at {:.0}% loss: {} failed{}",
            *l as f64 / 1e4,
            failed.len(),
            if failed.len() > LISTED {
                format!(" (first {LISTED} listed)")
            } else {
                String::new()
            }
        );
        for (o, replay) in failed.iter().take(LISTED) {
            let why = match (o.heal_ms, o.violations.len()) {
                (_, v) if v > 0 => format!("{v} invariant violations"),
                (None, _) => "not healed in 5 min".to_owned(),
                (Some(ms), _) => format!("healed after {}", fmt_ms(Some(ms))),
            };
            println!("  {why}: {replay}");
        }
    }
}
