//! Golden vectors: for every frame kind (and the announce at both format
//! versions), a fixed key, nonce and frame and the exact bytes, stored in
//! `tests/vectors/*.hex` and dissected in `docs/wire.md`. Encoding must
//! reproduce the bytes and decoding them must give the frame back.
//!
//! After a deliberate format change, regenerate them with
//! `SCALESMALL_BLESS_VECTORS=1 cargo test --test wire_golden` and review the
//! diff. CI never writes into the tree (the variable is refused when `CI`
//! is set).

mod support;

use support::wire::{
    format_vector, golden_codec, golden_frames, golden_nonce, read_vector, vector_path,
};

fn blessing() -> bool {
    let bless = std::env::var_os("SCALESMALL_BLESS_VECTORS").is_some_and(|v| v == "1");
    assert!(
        !(bless && std::env::var_os("CI").is_some()),
        "refusing to rewrite tests/vectors under CI"
    );
    bless
}

#[test]
fn every_kind_encodes_to_its_golden_bytes() {
    let codec = golden_codec();
    let bless = blessing();
    for (stem, version, frame) in golden_frames() {
        let bytes = codec
            .encode(&frame, version, golden_nonce())
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        if bless {
            std::fs::write(
                vector_path(stem),
                format_vector(stem, version, &frame, &bytes),
            )
            .unwrap_or_else(|e| panic!("write {stem}: {e}"));
        }
        assert_eq!(
            bytes,
            read_vector(stem),
            "{stem}: encoding differs from tests/vectors/{stem}.hex"
        );
        assert_eq!(codec.encoded_len(&frame, version), bytes.len(), "{stem}");
    }
}

#[test]
fn every_golden_vector_decodes_to_its_frame() {
    let codec = golden_codec();
    for (stem, version, frame) in golden_frames() {
        let d = codec
            .decode(&read_vector(stem))
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(d.version, version, "{stem}");
        assert_eq!(d.frame, frame, "{stem}");
    }
}

#[test]
fn every_kind_and_both_announce_versions_have_a_vector() {
    let frames = golden_frames();
    for kind in scalesmall::wire::FrameKind::ALL {
        assert!(
            frames.iter().any(|(_, _, f)| f.payload.kind() == kind),
            "no vector for {}",
            kind.name()
        );
    }
    let announces: Vec<u8> = frames
        .iter()
        .filter(|(_, _, f)| f.payload.kind() == scalesmall::wire::FrameKind::Announce)
        .map(|(_, v, _)| *v)
        .collect();
    assert_eq!(announces, vec![1, 2]);
}
