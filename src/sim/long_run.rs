//! A long run with boards replaced: the node's tables stay flat.
//!
//! Over simulated hours, every `replace_every` ms one board is swapped for a
//! new one (a new id, an empty data dir: a re-flashed or replaced Pi) that
//! joins and claims. Each old id never comes back: the others mark it down,
//! expire it after the grace period, keep its marker for another grace
//! period, then forget it (peer table, failure detector, marker). Sampled
//! every simulated hour, the largest table of any running node must not
//! grow with the hours: what a cluster whose boards come and go for years
//! needs. The coverage invariant is checked at every sample.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::cluster::{Cluster, SimConfig};
use super::scenario::{boot_writes, join_and_claim};
use crate::protocol::{Millis, Sizes};

/// One hourly sample: the largest of each table over the running nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Simulated hour.
    pub hour: u64,
    /// Boards replaced so far.
    pub replaced: u64,
    /// The largest tables.
    pub max: Sizes,
}

/// What [`long_run`] found.
#[derive(Clone, Debug, Default)]
pub struct LongRunReport {
    /// The grace period (ms).
    pub grace_ms: u64,
    /// One sample per hour.
    pub samples: Vec<Sample>,
    /// Coverage invariant violations (must be none).
    pub violations: usize,
}

impl LongRunReport {
    /// Whether the tables are flat: the last sample is no bigger than the
    /// largest of the first `hours / 4` samples after the warm-up.
    #[must_use]
    pub fn flat(&self) -> bool {
        let n = self.samples.len();
        if n < 4 {
            return false;
        }
        let early = &self.samples[1..=n / 4];
        let last = self.samples[n - 1].max;
        let top = |f: fn(&Sizes) -> usize| early.iter().map(|s| f(&s.max)).max().unwrap_or(0);
        last.peers <= top(|s| s.peers)
            && last.views <= top(|s| s.views)
            && last.markers <= top(|s| s.markers)
            && last.members <= top(|s| s.members)
            && last.items <= top(|s| s.items)
    }
}

/// Runs `hours` simulated hours with a `grace_ms` expiry, replacing a
/// random board every `replace_every_ms`.
#[must_use]
pub fn long_run(
    mut cfg: SimConfig,
    grace_ms: u64,
    hours: u64,
    replace_every_ms: u64,
) -> LongRunReport {
    cfg.protocol.expire_after = grace_ms;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x10_0000);
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 2_000);
    let mut report = LongRunReport {
        grace_ms,
        ..LongRunReport::default()
    };
    let n = c.len();
    let mut replaced = 0;
    let hour = 3_600_000;
    let mut next_replace = replace_every_ms;
    for h in 0..=hours {
        let end = h * hour;
        while next_replace <= end {
            c.run_until(Millis(next_replace));
            // Never a seed board (index 0 of a subnet), so new boards find
            // the cluster as real ones would.
            let i = 1 + (rng.next_u64() % (n.saturating_sub(1)).max(1) as u64) as usize;
            if i < n {
                c.reflash(i);
                join_and_claim(&mut c, i);
                replaced += 1;
            }
            next_replace += replace_every_ms;
        }
        c.run_until(Millis(end));
        c.check_invariant();
        let mut max = Sizes::default();
        for ch in (0..n).filter_map(|i| c.chatter(i)) {
            let s = ch.sizes();
            max.peers = max.peers.max(s.peers);
            max.views = max.views.max(s.views);
            max.markers = max.markers.max(s.markers);
            max.members = max.members.max(s.members);
            max.items = max.items.max(s.items);
        }
        report.samples.push(Sample {
            hour: h,
            replaced,
            max,
        });
    }
    report.violations = c.violations().len();
    report
}
