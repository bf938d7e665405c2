//! `scalesmall bench`: a small built-in benchmark of the merge path and the
//! wire codec that a user runs on a real board and pastes into an issue.
//!
//! Part of the binary, not the library: it reads the OS clock. Each
//! operation runs in batches until about 300 ms have passed; the table gives
//! nanoseconds per operation. The criterion benches (`benches/`) are the
//! precise tool; this one needs nothing but the binary.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::model::{
    GroupName, Item, KeyRange, Message, NodeId, Span, TimedItem, TopologyDb, WorldClock,
};
use crate::wire::{
    Announce, Codec, Frame, GroupDigest, Key, Keyring, Limits, Payload, VERSION, Window, caps,
};

/// The one place the benchmark reads the clock.
#[allow(clippy::disallowed_methods)] // the CLI's benchmark measures wall time on purpose
fn now() -> Instant {
    Instant::now()
}

/// Runs `op` (which performs `per_call` operations) until `budget` has
/// passed; returns nanoseconds per operation.
fn time(budget: Duration, per_call: u64, mut op: impl FnMut()) -> f64 {
    op(); // warm up
    let start = now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        op();
        calls += 1;
    }
    start.elapsed().as_nanos() as f64 / (calls * per_call).max(1) as f64
}

fn member(m: u64) -> NodeId {
    NodeId::from_u64(m.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// `n` items from 16 members at odd clocks `first..`, covering all of them.
fn message(n: u64, first: u64) -> Result<Message, String> {
    let per = n.div_ceil(16);
    let mut items = Vec::new();
    let mut clock = WorldClock::new();
    for m in 1..=16u64 {
        for k in 0..per {
            let start =
                u32::try_from((m * per + k) * 4099 % (1 << 32)).map_err(|e| e.to_string())?;
            let r = KeyRange::new(start, start.saturating_add(99)).map_err(|e| e.to_string())?;
            let c = 2 * (first + k) + 1;
            items.push(
                TimedItem::at(Item::add(member(m), r, 1, 8080), c).map_err(|e| e.to_string())?,
            );
        }
        let upto = 2 * (first + per);
        clock.cover(member(m), Span::new(0, upto).map_err(|e| e.to_string())?);
    }
    let g = GroupName::new("bench").map_err(|e| e.to_string())?;
    Message::new(g, clock, items).map_err(|e| e.to_string())
}

struct Row {
    op: &'static str,
    unit: &'static str,
    ns: f64,
}

/// Runs the benchmark and prints the table.
pub fn run() -> Result<(), String> {
    let budget = Duration::from_millis(300);
    let mut rows = Vec::new();

    // Merge: 1000 items into 1000 items, half of them newer writes.
    let a = message(1000, 0)?;
    let b = message(1000, 500 / 16)?;
    let mut copies: Vec<Message> = Vec::new();
    let ns = time(budget, 64 * 2000, || {
        copies.clear();
        copies.extend((0..64).map(|_| a.clone()));
        for c in &mut copies {
            black_box(c.join(&b).is_ok());
        }
    });
    let clone_ns = time(budget, 64 * 2000, || {
        copies.clear();
        copies.extend((0..64).map(|_| a.clone()));
        black_box(&copies);
    });
    rows.push(Row {
        op: "merge 1000+1000 items",
        unit: "ns/item",
        ns: (ns - clone_ns).max(0.0),
    });
    let mut known = a.clone();
    rows.push(Row {
        op: "apply a known message",
        unit: "ns/call",
        ns: time(budget, 1, || {
            black_box(known.apply(&a).is_ok());
        }),
    });
    let mut db = TopologyDb::new(NodeId::from_u64(1));
    db.apply(&a);
    let mut key = 0u32;
    rows.push(Row {
        op: "lookup in 1000 items",
        unit: "ns/call",
        ns: time(budget, 1, || {
            key = key.wrapping_add(7919);
            black_box(db.lookup("bench", key));
        }),
    });

    // Codec: a 1200-byte delta datagram and an announce.
    let codec = Codec::new(
        "bench",
        Keyring::new(Key::from_bytes([9; 32])),
        Limits::default(),
    );
    let sizer = codec.delta_sizer(VERSION, 1200);
    let chunk = db
        .delta_since("bench", &WorldClock::new(), 1200, &sizer)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no delta")?;
    let groups: Vec<GroupDigest> = ["cache", "sessions", "queue", "config"]
        .iter()
        .map(|g| {
            GroupName::new(g).map(|group| GroupDigest {
                group,
                fingerprint: 7,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let hears: Vec<NodeId> = (2..=100).map(member).collect();
    let announce = Payload::Announce(Announce {
        max_version: VERSION,
        addrs: vec!["192.168.1.1:7946".parse().map_err(|e| format!("{e}"))?],
        hears: Window::rotating(&hears, 0, caps::HEARS_WINDOW, usize::MAX, |_| 0),
        groups: Window::rotating(
            &groups,
            0,
            caps::MAX_GROUPS,
            caps::GROUPS_WINDOW_BYTES,
            GroupDigest::encoded_len,
        ),
        groups_fp: 1,
        heads: Vec::new(),
        policy_fp: 0,
        rumors: Vec::new(),
    });
    let nonce = [0x42; 24];
    for (name_enc, name_dec, payload) in [
        (
            "encode+seal 1200 B delta",
            "open+decode 1200 B delta",
            Payload::Delta(chunk),
        ),
        ("encode+seal announce", "open+decode announce", announce),
    ] {
        let frame = Frame {
            sender: NodeId::from_u64(1),
            incarnation: 1,
            seq: 1,
            payload,
        };
        let bytes = codec
            .encode(&frame, VERSION, nonce)
            .map_err(|e| e.to_string())?;
        rows.push(Row {
            op: name_enc,
            unit: "ns/frame",
            ns: time(budget, 1, || {
                black_box(codec.encode(&frame, VERSION, nonce).is_ok());
            }),
        });
        rows.push(Row {
            op: name_dec,
            unit: "ns/frame",
            ns: time(budget, 1, || {
                black_box(codec.decode(&bytes).is_ok());
            }),
        });
    }

    println!(
        "scalesmall {} bench: {} {} ({} cpus)",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| operation | time | unit |");
    println!("|---|---:|---|");
    for r in rows {
        println!("| {} | {:.1} | {} |", r.op, r.ns, r.unit);
    }
    Ok(())
}
