//! The merge path, optimised against the reference (`tests/support/reference.rs`)
//! in the same run, so the ratio is measured, not guessed.
//!
//! `cargo bench --bench merge` runs everything (sizes 100 to 100k);
//! `cargo test --benches` runs each benchmark once at small sizes.

#[path = "../tests/support/reference.rs"]
mod reference;
#[path = "support/workload.rs"]
mod workload;

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reference::RefState;
use scalesmall::model::{FixedSizer, NodeId, Span, TopologyDb, WorldClock};
use workload::{Case, pair};

fn sizes() -> Vec<usize> {
    // Full sizes only for a real `cargo bench`; test mode stays quick.
    if std::env::args().any(|a| a == "--bench") {
        vec![100, 1_000, 10_000, 100_000]
    } else {
        vec![100, 1_000]
    }
}

fn merge_and_apply(c: &mut Criterion) {
    for case in Case::ALL {
        for op in ["merge", "apply"] {
            let mut g = c.benchmark_group(format!("{op}/{}", case.name()));
            for n in sizes() {
                let (a, b) = pair(n, case);
                let (ra, rb) = (RefState::of(&a), RefState::of(&b));
                g.throughput(Throughput::Elements(
                    (a.items().len() + b.items().len()) as u64,
                ));
                g.bench_with_input(BenchmarkId::new("optimised", n), &n, |bench, _| {
                    bench.iter_batched_ref(
                        || a.clone(),
                        |x| {
                            if op == "merge" {
                                black_box(x.join(&b).ok());
                            } else {
                                black_box(x.apply(&b).ok());
                            }
                        },
                        BatchSize::LargeInput,
                    );
                });
                g.bench_with_input(BenchmarkId::new("reference", n), &n, |bench, _| {
                    bench.iter_batched_ref(
                        || ra.clone(),
                        |x| {
                            if op == "merge" {
                                x.join(&rb);
                            } else {
                                x.apply(&rb, None);
                            }
                            black_box(&*x);
                        },
                        BatchSize::LargeInput,
                    );
                });
            }
            g.finish();
        }
    }
}

/// Applying a message already known: the allocation-free fast path.
fn apply_known(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply/known");
    for n in sizes() {
        let (a, _) = pair(n, Case::Identical);
        let ra = RefState::of(&a);
        let mut x = a.clone();
        g.throughput(Throughput::Elements(a.items().len() as u64));
        g.bench_with_input(BenchmarkId::new("optimised", n), &n, |bench, _| {
            bench.iter(|| black_box(x.apply(&a).ok()));
        });
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |bench, _| {
            bench.iter_batched_ref(
                || ra.clone(),
                |y| {
                    y.apply(&ra, None);
                    black_box(&*y);
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let n = 10_000;
    let (a, _) = pair(n, Case::Identical);
    let mut db = TopologyDb::new(NodeId::from_u64(0xffff));
    db.apply(&a);
    let ra = RefState::of(&a);
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(n as u64));
    let mut key = 0u32;
    g.bench_function(BenchmarkId::new("optimised", n), |bench| {
        bench.iter(|| {
            key = key.wrapping_add(7919) % 40_000;
            black_box(db.lookup("bench", key))
        });
    });
    g.bench_function(BenchmarkId::new("reference", n), |bench| {
        bench.iter(|| {
            key = key.wrapping_add(7919) % 40_000;
            black_box(ra.lookup(key))
        });
    });
    g.finish();
}

/// `delta_since` for a peer that lags by 1% of the items.
fn delta_since(c: &mut Criterion) {
    let n = *sizes().last().unwrap_or(&1000);
    let (a, _) = pair(n, Case::Identical);
    let mut db = TopologyDb::new(NodeId::from_u64(0xffff));
    db.apply(&a);
    // The remote covers each member's clocks except its last 1%.
    let mut remote = WorldClock::new();
    for e in a.clock().entries() {
        let upto = e.known_upto();
        let lag = (upto / 100).max(2);
        if let Ok(s) = Span::new(0, upto - lag) {
            remote.cover(e.member(), s);
        }
    }
    let ra = RefState::of(&a);
    let mut g = c.benchmark_group("delta_since");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("optimised", n), |bench| {
        bench.iter(|| black_box(db.delta_since("bench", &remote, 1200, &FixedSizer).ok()));
    });
    g.bench_function(BenchmarkId::new("reference", n), |bench| {
        // The reference answer: every item at a clock the remote lacks.
        bench.iter(|| {
            let out: Vec<_> = ra
                .items
                .iter()
                .filter(|(id, it)| !remote.covers(NodeId::from_u64(id.0), it.clock))
                .collect();
            black_box(out)
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = merge_and_apply, apply_known, lookup, delta_since
}
criterion_main!(benches);
