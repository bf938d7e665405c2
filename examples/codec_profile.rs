//! Runs one codec operation a given number of times, for instruction
//! counting under `valgrind --tool=callgrind` (see
//! `benches/callgrind_codec.sh`, which runs it with 0 and with K iterations
//! and divides the difference), and measures compression.
//!
//! ```text
//! codec_profile <encode|decode|lz4> <delta|announce|full> <iters>
//! codec_profile sizes
//! ```
//!
//! - `encode`: encode+seal the frame; `decode`: open+decode it.
//! - `lz4`: compress and decompress the frame's plaintext body with
//!   `lz4_flex` (a block, size-prepended), as a compressing codec would.
//! - `sizes`: prints, per workload, the body bytes and what lz4 saves.
//!
//! `delta` is one 1200-byte datagram of a catch-up, `full` one 64 KiB TCP
//! frame of the same state, `announce` a 100-member cluster's announce.

#[path = "../benches/support/wire_workload.rs"]
mod wire_workload;

use std::hint::black_box;
use std::process::ExitCode;

use scalesmall::wire::{Frame, VERSION};
use wire_workload::{NONCE, announce_frame, codec, delta_frame, deltas};

fn workload(name: &str) -> Option<Vec<Frame>> {
    match name {
        "delta" => Some(vec![delta_frame()]),
        "announce" => Some(vec![announce_frame()]),
        "full" => Some(deltas(64 * 1024).into_iter().take(1).collect()),
        "catchup" => Some(deltas(1200)),
        _ => None,
    }
}

/// The plaintext bodies of `frames`.
fn bodies(frames: &[Frame]) -> Vec<Vec<u8>> {
    let codec = codec();
    frames
        .iter()
        .map(|f| {
            let bytes = codec.encode(f, VERSION, NONCE).expect("encodes");
            codec.open_raw(&bytes).expect("opens").1
        })
        .collect()
}

fn sizes() {
    println!("| workload | frames | body bytes | lz4 bytes | saved | saved % |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ["delta", "catchup", "full", "announce"] {
        let frames = workload(name).unwrap_or_default();
        let bodies = bodies(&frames);
        let raw: usize = bodies.iter().map(Vec::len).sum();
        let packed: usize = bodies
            .iter()
            .map(|b| lz4_flex::compress_prepend_size(b).len())
            .sum();
        let saved = raw as i64 - packed as i64;
        println!(
            "| {name} | {} | {raw} | {packed} | {saved} | {:.1} |",
            frames.len(),
            100.0 * saved as f64 / raw as f64
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: codec_profile <encode|decode|lz4> <delta|announce|full> <iters> | codec_profile sizes";
    if args.first().is_some_and(|a| a == "sizes") {
        sizes();
        return ExitCode::SUCCESS;
    }
    let (Some(op), Some(frames), Some(iters)) = (
        args.first(),
        args.get(1).and_then(|w| workload(w)),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let codec = codec();
    let frame = &frames[0];
    // Everything an iteration needs is prepared outside the counted
    // difference: the 0-iteration run does the same.
    let bytes = codec.encode(frame, VERSION, NONCE).expect("encodes");
    let body = bodies(std::slice::from_ref(frame)).swap_remove(0);
    let packed = lz4_flex::compress_prepend_size(&body);
    match op.as_str() {
        "encode" => {
            for _ in 0..iters {
                black_box(codec.encode(black_box(frame), VERSION, NONCE).ok());
            }
        }
        "decode" => {
            for _ in 0..iters {
                black_box(codec.decode(black_box(&bytes)).ok());
            }
        }
        "lz4" => {
            for _ in 0..iters {
                black_box(lz4_flex::compress_prepend_size(black_box(&body)));
                black_box(lz4_flex::decompress_size_prepended(black_box(&packed)).ok());
            }
        }
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    }
    eprintln!(
        "frame {} bytes, body {} bytes, lz4 {} bytes",
        bytes.len(),
        body.len(),
        packed.len()
    );
    ExitCode::SUCCESS
}
