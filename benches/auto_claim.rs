//! Auto-claim: the nominal assignment for 10, 100 and 1000 members over
//! 1024 slices (R = 2, weights 1 to 4), against the reference (a sort of all
//! `(key, member, slice)` pairs and a greedy pass) in the same group, and one
//! node's decision on a converged view.
//!
//! `cargo bench --bench auto_claim` runs everything; `cargo test --benches`
//! runs each benchmark once at small sizes.

#[path = "../tests/support/auto_claim_reference.rs"]
mod reference;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use scalesmall::model::{KeyRange, NodeId};
use scalesmall::protocol::Millis;
use scalesmall::protocol::auto_claim::{Assignment, Member, Policy, Situation, mix64, slices};

const SLICES: u32 = 1024;

fn sizes() -> Vec<usize> {
    if std::env::args().any(|a| a == "--bench") {
        vec![10, 100, 1000]
    } else {
        vec![10, 100]
    }
}

fn members(n: usize) -> Vec<Member> {
    (0..n as u64)
        .map(|i| Member {
            id: NodeId::from_u64(mix64(i + 1)),
            weight: 1 + (mix64(i ^ 0xbeef) % 4) as u32,
        })
        .collect()
}

fn assign(c: &mut Criterion) {
    let policy = Policy::new(2, SLICES).expect("valid");
    let mut g = c.benchmark_group("auto_claim/assign");
    g.sample_size(10);
    for n in sizes() {
        let ms = members(n);
        g.throughput(Throughput::Elements((n as u64) * u64::from(SLICES)));
        g.bench_with_input(BenchmarkId::new("optimised", n), &ms, |b, ms| {
            b.iter(|| black_box(Assignment::compute(policy, 7, black_box(ms))));
        });
        g.bench_with_input(BenchmarkId::new("reference", n), &ms, |b, ms| {
            b.iter(|| black_box(reference::assignment(&policy, 7, black_box(ms))));
        });
    }
    g.finish();
}

fn decide(c: &mut Criterion) {
    let policy = Policy::new(2, SLICES).expect("valid");
    let mut g = c.benchmark_group("auto_claim/decide");
    for n in sizes() {
        let ms = members(n);
        let a = Assignment::compute(policy, 7, &ms);
        // The converged topology: everyone holds its nominal slices.
        let mut holders: Vec<(NodeId, KeyRange)> = Vec::new();
        for m in &ms {
            let mine: Vec<u32> = (0..SLICES).filter(|&s| a.owns(s, m.id)).collect();
            holders.extend(
                slices::blocks(&policy, &mine)
                    .into_iter()
                    .map(|r| (m.id, r)),
            );
        }
        let me = ms[0].id;
        let own: Vec<KeyRange> = holders
            .iter()
            .filter(|(m, _)| *m == me)
            .map(|(_, r)| *r)
            .collect();
        // One member down past the hold-down: stand-ins are computed.
        let mut live = BTreeMap::new();
        live.insert(
            ms[n / 2].id,
            scalesmall::protocol::auto_claim::Observed {
                state: scalesmall::wire::Liveness::Down,
                since: Millis(0),
            },
        );
        g.throughput(Throughput::Elements(u64::from(SLICES)));
        g.bench_with_input(BenchmarkId::new("one_down", n), &n, |b, _| {
            b.iter(|| {
                let plan = Situation {
                    me,
                    assignment: &a,
                    now: Millis(100_000),
                    hold_down: 60_000,
                    liveness: &live,
                    holders: &holders,
                    own: &own,
                }
                .decide();
                black_box(plan)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, assign, decide);
criterion_main!(benches);
