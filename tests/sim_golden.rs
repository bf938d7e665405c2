//! Golden trace hashes: the simulator's runs pinned bit for bit, so a
//! change that claims "no behaviour change" (issue 17: the protocol cut by
//! concept) can prove it. Every datagram, timer and random draw of every
//! node feeds a run's trace hash; one changed decision anywhere changes it.
//!
//! The runs are those of the `sim` binary (the same library calls and
//! defaults), called through the library so they do not depend on its
//! command line:
//! - `faults` seeds 1, 2, 3: 24 nodes, 3 subnets, 10% loss, 5% duplication,
//!   jitter 8 ms (the configuration of tests/sim.rs, without its per-event
//!   invariant check, which does not change the trace);
//! - `sim --nodes 200 --subnets 8 --loss 0.01 --seed 7` (`sim::measure`);
//! - `sim --liveness --liveness-nodes 50 --liveness-loss 0.05 --seed 7`
//!   (`sim::measure_liveness`, whose report carries no trace: its whole
//!   report is hashed instead, every detection time in ms included);
//! - `sim --auto --nodes 10 --seed 7` (`sim::auto`).
//!
//! To regenerate after a change that MEANS to change behaviour:
//! `SCALESMALL_GOLDEN_PRINT=1 cargo test --release --test sim_golden -- --include-ignored --nocapture`
//! prints every hash. A hash may change only in a commit that does nothing
//! else and says why (and shows the 1,000-node table before and after).
//!
//! The larger runs take minutes in a debug build, so they run only in a
//! release build (`cargo test --release --test sim_golden`), like
//! tests/sim_liveness.rs; the `faults` seeds run everywhere.

use scalesmall::sim::{self, AutoRun, Faults, LivenessRun, NetConfig, SimConfig};

/// `faults` seeds 1, 2 and 3 (24 nodes, 3 subnets, 10% loss).
const FAULTS: [(u64, u64); 3] = [
    (1, 0xef35_4bb4_89ad_f438),
    (2, 0x9dfd_c12f_8a52_b126),
    (3, 0xa042_6bd4_8635_39eb),
];
/// `sim --nodes 200 --subnets 8 --loss 0.01 --seed 7`.
const MEASURE_200: u64 = 0xe332_a1a5_1251_0711;
/// `sim --liveness --liveness-nodes 50 --liveness-loss 0.05 --seed 7`
/// (FNV-1a of the report's `Debug` text).
const LIVENESS_50: u64 = 0xaf53_f8c9_acd2_491f;
/// `sim --auto --nodes 10 --seed 7`.
const AUTO_10: u64 = 0x69b7_16ec_8f34_f70e;

/// Prints the hashes instead of only comparing them.
fn printing() -> bool {
    std::env::var_os("SCALESMALL_GOLDEN_PRINT").is_some()
}

fn check(name: &str, got: u64, want: u64) {
    if printing() {
        println!("{name}: 0x{got:016x}");
        return;
    }
    assert_eq!(
        got, want,
        "{name}: trace hash 0x{got:016x}, pinned 0x{want:016x}: behaviour changed \
         (regenerate only on purpose: see the top of tests/sim_golden.rs)"
    );
}

/// The `sim` binary's configuration (its default latencies, jitter 2 ms,
/// no duplication, no per-step check).
fn binary_config(nodes: usize, subnets: usize, loss: f64, seed: u64) -> SimConfig {
    SimConfig {
        nodes,
        subnets,
        net: NetConfig {
            lan_latency: 1,
            wan_latency: 5,
            jitter: 2,
            loss,
            dup: 0.0,
        },
        seed,
        ..SimConfig::default()
    }
}

/// FNV-1a, 64 bits: stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[test]
fn faults_seeds_1_2_3_keep_their_traces() {
    for (seed, want) in FAULTS {
        let cfg = SimConfig {
            nodes: 24,
            subnets: 3,
            net: NetConfig {
                lan_latency: 1,
                wan_latency: 5,
                jitter: 8,
                loss: 0.10,
                dup: 0.05,
            },
            // tests/sim.rs runs these seeds with the invariant checked
            // after every event; the check only reads, so the trace is the
            // same without it (checked), and this test stays cheap.
            check_every_step: false,
            seed,
            ..SimConfig::default()
        };
        let out = sim::faults(cfg, &Faults::default());
        check(&format!("faults seed {seed}"), out.trace, want);
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "200 nodes: slow in a debug build; cargo test --release --test sim_golden"
)]
fn measure_200_nodes_keeps_its_trace() {
    let r = sim::measure(binary_config(200, 8, 0.01, 7));
    check("measure 200/8/0.01 seed 7", r.trace, MEASURE_200);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "50 nodes for 15 simulated minutes: slow in a debug build; cargo test --release --test sim_golden"
)]
fn liveness_50_nodes_keeps_its_report() {
    // `--liveness` puts up to 25 nodes in a subnet.
    let r = sim::measure_liveness(binary_config(50, 2, 0.05, 7), LivenessRun::default());
    check(
        "liveness 50/0.05 seed 7",
        fnv1a(format!("{r:?}").as_bytes()),
        LIVENESS_50,
    );
}

#[test]
fn auto_10_nodes_keeps_its_trace() {
    // `--auto --nodes 10`: 2 subnets, 1% loss, R = 2, 1024 slices,
    // hold-down 15 s, every 4th node weight 2.
    let r = sim::auto(binary_config(10, 2, 0.01, 7), &AutoRun::default());
    check("auto 10 seed 7", r.trace, AUTO_10);
}
