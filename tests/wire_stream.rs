//! TCP framing: frames split at every byte boundary, and concatenated,
//! come out of `FrameReader` whole and in order; an oversized declared
//! length is an error for good.

mod support;

use scalesmall::wire::{FrameReader, WireError, length_prefix};
use support::wire::{golden_codec, golden_frames, read_vector};

fn stream() -> (Vec<Vec<u8>>, Vec<u8>) {
    let frames: Vec<Vec<u8>> = golden_frames()
        .iter()
        .map(|(s, _, _)| read_vector(s))
        .collect();
    let mut bytes = Vec::new();
    for f in &frames {
        bytes.extend_from_slice(&length_prefix(f.len()));
        bytes.extend_from_slice(f);
    }
    (frames, bytes)
}

fn drain(r: &mut FrameReader, out: &mut Vec<Vec<u8>>) {
    while let Some(f) = r.next_frame().expect("no error") {
        out.push(f);
    }
}

#[test]
fn a_stream_split_at_any_boundary_reassembles() {
    let (frames, bytes) = stream();
    let codec = golden_codec();
    for cut in 0..=bytes.len() {
        let mut r = FrameReader::new(codec.limits().max_frame);
        let mut out = Vec::new();
        r.push(&bytes[..cut]);
        drain(&mut r, &mut out);
        r.push(&bytes[cut..]);
        drain(&mut r, &mut out);
        assert_eq!(out, frames, "cut at {cut}");
        assert_eq!(r.buffered(), 0);
    }
    for piece in [1, 2, 3, 7, 64, 1000] {
        let mut r = FrameReader::new(codec.limits().max_frame);
        let mut out = Vec::new();
        for p in bytes.chunks(piece) {
            r.push(p);
            drain(&mut r, &mut out);
        }
        assert_eq!(out, frames, "pieces of {piece}");
    }
    for f in &frames {
        assert!(codec.decode(f).is_ok());
    }
}

#[test]
fn a_length_above_max_frame_closes_the_stream() {
    let (_, bytes) = stream();
    let mut r = FrameReader::new(1 << 20);
    r.push(&bytes);
    r.push(&length_prefix((1 << 20) + 1));
    r.push(&[0; 64]);
    let mut n = 0;
    let err = loop {
        match r.next_frame() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the oversized frame was not refused"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, golden_frames().len());
    assert_eq!(
        err,
        WireError::TooLong {
            len: (1 << 20) + 1,
            max: 1 << 20
        }
    );
    assert!(r.next_frame().is_err());
}
