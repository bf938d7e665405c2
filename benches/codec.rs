//! The wire codec: encode+seal and open+decode of a ~1200-byte delta frame
//! and of an announce, per frame and in bytes per second.
//!
//! `cargo bench --bench codec`; `cargo test --benches` runs each once.
//! Instruction counts: `benches/callgrind_codec.sh`.

#[path = "support/wire_workload.rs"]
mod wire_workload;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use scalesmall::wire::VERSION;
use wire_workload::{NONCE, announce_frame, codec, delta_frame};

fn codec_paths(c: &mut Criterion) {
    let codec = codec();
    for (name, frame) in [("delta", delta_frame()), ("announce", announce_frame())] {
        let bytes = codec.encode(&frame, VERSION, NONCE).expect("encodes");
        let mut g = c.benchmark_group(format!("codec/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("encode_seal", bytes.len()), |b| {
            b.iter(|| black_box(codec.encode(black_box(&frame), VERSION, NONCE)));
        });
        g.bench_function(BenchmarkId::new("open_decode", bytes.len()), |b| {
            b.iter(|| black_box(codec.decode(black_box(&bytes))));
        });
        g.bench_function(BenchmarkId::new("encoded_len", bytes.len()), |b| {
            b.iter(|| black_box(codec.encoded_len(black_box(&frame), VERSION)));
        });
        g.finish();
    }
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
    targets = codec_paths
}
criterion_main!(benches);
