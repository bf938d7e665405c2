//! Fuzz target: arbitrary bytes into `Codec::decode` and `FrameReader`, and,
//! so the fuzzer reaches the body decoder behind the tag, the same bytes as
//! a body sealed under the codec's own key for every kind and both versions.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalesmall::model::NodeId;
use scalesmall::wire::{Codec, FrameReader, Key, Keyring, Limits};

fuzz_target!(|data: &[u8]| {
    let codec = Codec::new("fuzz", Keyring::new(Key::from_bytes([7; 32])), Limits::default());
    // As a whole frame (mostly refused by the header checks).
    let _ = codec.decode(data);
    // As a TCP stream.
    let mut reader = FrameReader::new(4096);
    reader.push(data);
    while let Ok(Some(frame)) = reader.next_frame() {
        let _ = codec.decode(&frame);
    }
    // As an authenticated body: the first byte picks kind and version.
    if let Some((&sel, body)) = data.split_first() {
        let kind = sel % 8;
        let version = 1 + (sel >> 3) % 2;
        let sealed = codec.seal_raw(version, kind, NodeId::from_u64(3), body, [1; 24]);
        if let Ok(d) = codec.decode(&sealed) {
            // Whatever decodes must re-encode to a frame that decodes equal.
            let again = codec.encode(&d.frame, d.version, [2; 24]).expect("re-encodes");
            assert_eq!(codec.decode(&again).expect("decodes").frame, d.frame);
        }
    }
});
