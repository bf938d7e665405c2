//! Runs one merge-path operation a given number of times, for instruction
//! counting under `valgrind --tool=callgrind` (see `benches/callgrind.sh`,
//! which runs it with 0 and with K iterations and divides the difference).
//!
//! ```text
//! merge_profile <merge|apply|known|lookup|delta> <identical|disjoint|overlap50> <items> <iters> <copies> [reference]
//! ```
//!
//! `copies` inputs are cloned before the loop whatever `iters` is (at least
//! `iters`), so a run with 0 iterations does the same setup work.

#[path = "../tests/support/reference.rs"]
mod reference;
#[path = "../benches/support/workload.rs"]
mod workload;

use std::hint::black_box;
use std::process::ExitCode;

use reference::RefState;
use scalesmall::model::{FixedSizer, NodeId, Span, TopologyDb, WorldClock};
use workload::{Case, pair};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: merge_profile <merge|apply|known|lookup|delta> <identical|disjoint|overlap50> <items> <iters> <copies> [reference]";
    let (Some(op), Some(case), Some(n), Some(iters), Some(copies)) = (
        args.first(),
        args.get(1).and_then(|c| Case::parse(c)),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
        args.get(3).and_then(|n| n.parse::<usize>().ok()),
        args.get(4).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let copies = copies.max(iters);
    let reference = args.get(5).is_some_and(|a| a == "reference");
    let (a, b) = pair(n, case);
    let (ra, rb) = (RefState::of(&a), RefState::of(&b));
    // Inputs are cloned outside the counted difference: the 0-iteration run
    // makes the same clones.
    let mut ref_copies: Vec<_> = (0..copies).map(|_| ra.clone()).collect();
    let mut copies: Vec<_> = (0..copies).map(|_| a.clone()).collect();
    let mut db = TopologyDb::new(NodeId::from_u64(0xffff));
    db.apply(&a);
    let mut remote = WorldClock::new();
    for e in a.clock().entries() {
        let upto = e.known_upto();
        if let Ok(s) = Span::new(0, upto - (upto / 100).max(2)) {
            remote.cover(e.member(), s);
        }
    }
    for i in 0..iters {
        match (op.as_str(), reference) {
            ("merge", false) => {
                black_box(copies[i].join(&b).ok());
            }
            ("merge", true) => ref_copies[i].join(&rb),
            ("apply", false) => {
                black_box(copies[i].apply(&b).ok());
            }
            ("apply", true) => ref_copies[i].apply(&rb, None),
            ("known", false) => {
                black_box(copies[i].apply(&a).ok());
            }
            ("known", true) => ref_copies[i].apply(&ra, None),
            ("lookup", false) => {
                black_box(db.lookup("bench", (i as u32).wrapping_mul(7919) % 40_000));
            }
            ("lookup", true) => {
                black_box(ra.lookup((i as u32).wrapping_mul(7919) % 40_000));
            }
            ("delta", false) => {
                black_box(db.delta_since("bench", &remote, 1200, &FixedSizer).ok());
            }
            ("delta", true) => {
                let out: Vec<_> = ra
                    .items
                    .iter()
                    .filter(|(id, it)| !remote.covers(NodeId::from_u64(id.0), it.clock))
                    .collect();
                black_box(out);
            }
            _ => {
                eprintln!("{usage}");
                return ExitCode::from(2);
            }
        }
    }
    black_box((&copies, &ref_copies));
    ExitCode::SUCCESS
}
