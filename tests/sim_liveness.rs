//! The failure detector in the simulator: seeds that once failed, kept as
//! regression tests with the exact settings of the `sim` command that
//! found them.
//!
//! A 100-node run takes about 15 s in a release build and over 10 minutes
//! in a debug one, so these run only in release builds:
//! `cargo test --release --test sim_liveness` (the mechanism itself is
//! tested cheaply by the detector's unit tests and tests/protocol_reconnect.rs).

use scalesmall::sim::{self, NetConfig, SimConfig};

/// `sim liveness --nodes <nodes> --loss <loss> --seed <seed>`.
fn liveness(seed: u64, nodes: usize, loss: f64) -> sim::LivenessReport {
    let cfg = SimConfig {
        nodes,
        subnets: nodes.div_ceil(25).max(1),
        net: NetConfig {
            loss,
            ..NetConfig::default()
        },
        seed,
        ..SimConfig::default()
    };
    sim::measure_liveness(cfg, sim::LivenessRun::default())
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "100 nodes: minutes in a debug build; cargo test --release --test sim_liveness"
)]
fn an_observer_holding_a_crashed_nodes_last_frame_still_marks_it_down() {
    // Seed 3: a node crashed right after sending one observer a frame no
    // other observer had, so every other verdict about it was older than
    // that observer's evidence and did not apply there; its own probe
    // round did not come back to the node within the two minutes it was
    // down. A stale verdict now makes the observer probe the node next.
    // Replay: cargo run --release --bin sim -- liveness --nodes 100
    //   --loss 0.05 --seed 3
    let r = liveness(3, 100, 0.05);
    assert_eq!(r.undetected, 0, "{r:?}");
    assert_eq!(r.detect_ms.len(), 2 * 98, "{r:?}");
    // Every observer within a probe period or two of the others.
    let last = r.detect_ms.last().copied().unwrap_or(u64::MAX);
    assert!(last < 40_000, "slowest detection {last} ms: {r:?}");
    assert!(r.restart_ms.is_some(), "{r:?}");
    assert!(r.exact_after_restart, "{r:?}");
}
