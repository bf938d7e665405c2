//! What reconnecting costs at rest: the traffic of a quiet cluster with K
//! members crashed for good, against the same cluster with none down
//! (issue 16, section 1: "bytes/s per node with K members down").
//!
//! The run boots the cluster (every board joins the scenario group and
//! claims a range), lets it settle for a minute, crashes K boards drawn at
//! random and never restarts them. It then measures, per running board
//! (sent plus received, as the "at rest" figure of docs/results.md), two windows: the
//! first five minutes after the crash (the down verdicts and the first,
//! frequent reconnect attempts) and five minutes starting 15 minutes after
//! it (backoff at its ceiling: the steady cost). It also counts the
//! contacts addressed to the stopped boards (unicast datagrams and TCP
//! connects), per down member per minute: reconnect's promise is about one
//! contact per down member per interval cluster-wide, not one per
//! observer.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::cluster::{Cluster, SimConfig, Traffic};
use super::scenario::boot_writes;

/// One window's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CostWindow {
    /// Bytes/s per running board, sent plus received.
    pub bytes: f64,
    /// Frames/s per running board, sent plus received.
    pub frames: f64,
    /// Contacts addressed to the stopped boards, per down member per
    /// minute (0 with none down).
    pub contacts: f64,
}

/// What [`reconnect_cost`] measured.
#[derive(Clone, Debug, Default)]
pub struct CostReport {
    /// Boards.
    pub nodes: usize,
    /// Boards crashed for good.
    pub down: usize,
    /// The first five minutes after the crash.
    pub early: CostWindow,
    /// Five minutes from 15 minutes after the crash.
    pub steady: CostWindow,
    /// Whether the running boards held every write exactly at the end.
    pub exact: bool,
}

/// Length of a window (ms).
const WINDOW_MS: u64 = 300_000;
/// When the steady window starts after the crash (ms).
const STEADY_AFTER_MS: u64 = 900_000;

/// Boots `cfg`, crashes `down` random boards for good, measures (see the
/// module docs).
#[must_use]
pub fn reconnect_cost(cfg: SimConfig, down: usize) -> CostReport {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xc057);
    let nodes = cfg.nodes;
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 3_000);
    let _ = c.run_until_converged(500, 120_000);
    c.run_for(60_000);
    let mut order: Vec<usize> = (0..nodes).collect();
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let down = down.min(nodes.saturating_sub(1));
    for &v in order.iter().take(down) {
        c.crash(v);
    }
    let early = window(&mut c, down);
    c.run_for(STEADY_AFTER_MS - WINDOW_MS);
    let steady = window(&mut c, down);
    CostReport {
        nodes,
        down,
        early,
        steady,
        exact: c.converged(),
    }
}

/// Runs one window and measures it.
fn window(c: &mut Cluster, down: usize) -> CostWindow {
    let before = running_total(c);
    let contacts = c.to_stopped;
    c.run_for(WINDOW_MS);
    let after = running_total(c);
    let running = (0..c.len()).filter(|&i| c.alive(i)).count().max(1) as f64;
    let secs = WINDOW_MS as f64 / 1000.0;
    let bytes =
        (after.bytes_in + after.bytes_out).saturating_sub(before.bytes_in + before.bytes_out);
    let frames =
        (after.frames_in + after.frames_out).saturating_sub(before.frames_in + before.frames_out);
    CostWindow {
        bytes: bytes as f64 / running / secs,
        frames: frames as f64 / running / secs,
        contacts: if down == 0 {
            0.0
        } else {
            (c.to_stopped - contacts) as f64 / down as f64 / (secs / 60.0)
        },
    }
}

/// Traffic summed over the running boards.
fn running_total(c: &Cluster) -> Traffic {
    (0..c.len())
        .filter(|&i| c.alive(i))
        .fold(Traffic::default(), |mut t, i| {
            let x = c.traffic(i);
            t.bytes_in += x.bytes_in;
            t.bytes_out += x.bytes_out;
            t.frames_in += x.frames_in;
            t.frames_out += x.frames_out;
            t
        })
}
