//! Robustness: no input makes the decoder panic or allocate out of
//! proportion to the bytes given. For every golden vector, every single bit
//! flip, every truncation and appended bytes give a clean error; the same
//! mutations of the *opened body*, resealed under the key so they pass
//! authentication, decode or fail cleanly; and random bytes (as a frame, and
//! as a sealed body of every kind) never panic. A tracking allocator checks
//! the largest single allocation per decode.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use scalesmall::model::NodeId;
use scalesmall::wire::{Codec, FrameKind, FrameReader, Header, WireError};
use support::wire::{golden_codec, golden_frames, golden_nonce, read_vector};

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: the thread-local may be gone while a thread shuts down.
    let _ = LARGEST.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Decodes `bytes`, asserting that no single allocation exceeded a small
/// multiple of the input (decoded values are larger in memory than on the
/// wire, and vectors double as they grow).
fn decode_bounded(codec: &Codec, bytes: &[u8]) -> Result<(), WireError> {
    LARGEST.with(|c| c.set(0));
    let r = codec.decode(bytes).map(|_| ());
    let largest = LARGEST.with(Cell::get);
    assert!(
        largest <= 64 * bytes.len() + 4096,
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    r
}

#[test]
fn any_single_bit_flip_is_refused() {
    let codec = golden_codec();
    for (stem, _, _) in golden_frames() {
        let good = read_vector(stem);
        for bit in 0..good.len() * 8 {
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_bounded(&codec, &b).is_err(),
                "{stem}: flipping bit {bit} still decodes"
            );
        }
    }
}

#[test]
fn any_truncation_or_appended_bytes_are_refused() {
    let codec = golden_codec();
    for (stem, _, _) in golden_frames() {
        let good = read_vector(stem);
        for len in 0..good.len() {
            assert!(
                decode_bounded(&codec, &good[..len]).is_err(),
                "{stem}: cut at {len}"
            );
        }
        for extra in [&[0u8][..], &[0xff; 3], &[0; 100]] {
            let mut b = good.clone();
            b.extend_from_slice(extra);
            assert!(
                decode_bounded(&codec, &b).is_err(),
                "{stem}: +{} bytes",
                extra.len()
            );
        }
    }
}

fn reseal(codec: &Codec, h: &Header, body: &[u8]) -> Vec<u8> {
    codec.seal_raw(h.version, h.kind as u8, h.sender, body, golden_nonce())
}

#[test]
fn mutated_bodies_under_a_valid_tag_fail_cleanly() {
    let codec = golden_codec();
    for (stem, _, frame) in golden_frames() {
        let (h, body) = codec.open_raw(&read_vector(stem)).expect("golden opens");
        assert_eq!(
            codec.decode(&reseal(&codec, &h, &body)).map(|d| d.frame),
            Ok(frame)
        );
        for bit in 0..body.len() * 8 {
            let mut b = body.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let _ = decode_bounded(&codec, &reseal(&codec, &h, &b));
        }
        for len in 0..body.len() {
            let r = decode_bounded(&codec, &reseal(&codec, &h, &body[..len]));
            assert!(r.is_err(), "{stem}: body cut at {len} decodes");
        }
        let mut b = body.clone();
        b.push(0);
        assert_eq!(
            decode_bounded(&codec, &reseal(&codec, &h, &b)),
            Err(WireError::TrailingBytes),
            "{stem}"
        );
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..2000)) {
        let codec = golden_codec();
        let _ = decode_bounded(&codec, &bytes);
        let mut r = FrameReader::new(4096);
        r.push(&bytes);
        while let Ok(Some(f)) = r.next_frame() {
            let _ = decode_bounded(&codec, &f);
        }
    }

    #[test]
    fn random_bytes_with_a_valid_header_never_panic(
        version in 1u8..=2,
        kind in 0u8..=8,
        body in vec(any::<u8>(), 0..600),
    ) {
        let codec = golden_codec();
        let sealed = codec.seal_raw(version, kind, NodeId::from_u64(9), &body, golden_nonce());
        let r = decode_bounded(&codec, &sealed);
        if FrameKind::from_byte(kind).is_none() {
            prop_assert_eq!(r, Err(WireError::UnknownKind(kind)));
        }
    }

    /// Random bodies shaped like real ones: a short valid prefix (small
    /// varints and counts) followed by noise, so decoding gets deep.
    #[test]
    fn plausible_bodies_never_panic(
        kind in 1u8..=7,
        head in vec(0u8..4, 0..40),
        tail in vec(any::<u8>(), 0..200),
    ) {
        let codec = golden_codec();
        let mut body = head;
        body.extend(tail);
        let sealed = codec.seal_raw(2, kind, NodeId::from_u64(9), &body, golden_nonce());
        let _ = decode_bounded(&codec, &sealed);
    }
}
