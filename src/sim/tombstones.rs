//! Tombstone collection over a long run: boards keep claiming and releasing
//! ranges, so without collection every released range stays behind as a
//! retraction on every node for ever (the seed's "the topology never
//! shrinks"). With a `tombstone_ttl`, each board collects its own
//! retractions at its next write once they are that old, the write carries
//! its raised GC floor, and every node drops the same tombstones.
//!
//! Meanwhile one board is cut off by a partition for three periods, keeping
//! its stale view (live claims whose retractions the others then collect).
//! When the partition heals it must converge by resets, without bringing
//! any retracted claim back. The extended coverage invariant is checked at
//! every event when the config asks for it, and at every hourly sample.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::cluster::{Cluster, SimConfig};
use super::scenario::{boot_writes, group};
use crate::model::KeyRange;
use crate::protocol::{Command, Millis};

/// One hourly sample over the running nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TombSample {
    /// Simulated hour.
    pub hour: u64,
    /// Releases made so far.
    pub releases: u64,
    /// The most items any node held (live and retractions).
    pub max_items: usize,
    /// The most retractions any node held.
    pub max_retractions: usize,
}

/// What [`tombstones`] found.
#[derive(Clone, Debug, Default)]
pub struct TombReport {
    /// The collection period (ms; 0 = never collected).
    pub ttl_ms: u64,
    /// One sample per hour.
    pub samples: Vec<TombSample>,
    /// Time from the end of the churn (the last release made) until every
    /// node, the one that was partitioned included, held exactly the latest
    /// writes (ms), or `None` if not within 10 simulated minutes.
    pub converged_ms: Option<u64>,
    /// Coverage invariant violations (must be none).
    pub violations: usize,
}

/// Runs `hours` simulated hours in which every `churn_ms` a random board
/// claims a new small range and releases it 2 minutes later, with
/// `ttl_ms` as the tombstone period (0: no collection). The last board is
/// partitioned away from hour 1 for `3 * ttl_ms` (20 minutes without
/// collection).
#[must_use]
pub fn tombstones(mut cfg: SimConfig, ttl_ms: u64, hours: u64, churn_ms: u64) -> TombReport {
    cfg.protocol.tombstone_ttl = ttl_ms;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x70_0000);
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 2_000);
    let n = c.len();
    let away = n - 1;
    let hour = 3_600_000;
    let cut_at = hour;
    let heal_at = cut_at + if ttl_ms > 0 { 3 * ttl_ms } else { 1_200_000 };
    let mut report = TombReport {
        ttl_ms,
        ..TombReport::default()
    };
    let mut pending: VecDeque<(u64, usize, KeyRange)> = VecDeque::new();
    let mut next_claim = 10_000;
    let mut counter: u32 = 0;
    let mut releases = 0;
    let mut cut = false;
    let mut healed = false;
    let end = hours * hour;
    let mut next_sample = 0;
    while next_sample <= end {
        let next_event = [
            Some(next_claim),
            pending.front().map(|p| p.0),
            (!cut && !healed).then_some(cut_at),
            cut.then_some(heal_at),
            Some(next_sample),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_sample);
        c.run_until(Millis(next_event));
        if !cut && !healed && next_event == cut_at {
            c.net_mut().partition([away]);
            cut = true;
        }
        if cut && next_event == heal_at {
            c.net_mut().heal();
            cut = false;
            healed = true;
        }
        releases += release_due(&mut c, &mut pending, next_event);
        if next_event >= next_claim {
            let i = (rng.next_u64() % (n as u64 - 1)) as usize;
            // A fresh identity each time: 16 keys high in the key space.
            counter = counter.wrapping_add(1);
            let start = 0x8000_0000u32 | (counter.wrapping_mul(16) & 0x7fff_fff0);
            if let Ok(range) = KeyRange::new(start, start | 15) {
                claim(&mut c, i, range);
                pending.push_back((next_event + 120_000, i, range));
            }
            next_claim = next_event + churn_ms;
        }
        if next_event >= next_sample {
            c.check_invariant();
            let s = sample(&c, next_sample / hour, releases);
            report.samples.push(s);
            next_sample += hour;
        }
    }
    // The claims still pending are released; then every node (the one that
    // was partitioned included) must hold exactly the latest writes.
    for (_, i, range) in pending {
        if c.alive(i) {
            c.command(
                i,
                Command::Release {
                    group: group(),
                    range,
                },
            );
        }
    }
    report.converged_ms = c.run_until_converged(1_000, 600_000);
    c.check_invariant();
    report.violations = c.violations().len();
    report
}

/// The largest item and retraction counts of any running node now.
fn sample(c: &Cluster, hour: u64, releases: u64) -> TombSample {
    let mut s = TombSample {
        hour,
        releases,
        ..TombSample::default()
    };
    for ch in (0..c.len()).filter_map(|i| c.chatter(i)) {
        let mut items = 0;
        let mut rmv = 0;
        for g in ch.db().groups() {
            if let Some(m) = ch.db().message(g.as_str()) {
                items += m.items().len();
                rmv += m.items().items().iter().filter(|i| !i.live()).count();
            }
        }
        s.max_items = s.max_items.max(items);
        s.max_retractions = s.max_retractions.max(rmv);
    }
    s
}

/// Releases the claims of `pending` due by `now` (those of running nodes);
/// returns how many.
fn release_due(c: &mut Cluster, pending: &mut VecDeque<(u64, usize, KeyRange)>, now: u64) -> u64 {
    let mut released = 0;
    while pending.front().is_some_and(|p| p.0 <= now) {
        if let Some((_, i, range)) = pending.pop_front()
            && c.alive(i)
        {
            c.command(
                i,
                Command::Release {
                    group: group(),
                    range,
                },
            );
            released += 1;
        }
    }
    released
}

/// Node `i` claims `range` (a churn claim).
fn claim(c: &mut Cluster, i: usize, range: KeyRange) {
    c.command(
        i,
        Command::Claim {
            group: group(),
            range,
            priority: 0,
            port: 9000,
        },
    );
}
