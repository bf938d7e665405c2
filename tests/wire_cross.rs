//! Cross-checks: each way a frame can be foreign, stale or wrong gives its
//! own error, and the cheap checks come before any cryptography.

mod support;

use scalesmall::model::NodeId;
use scalesmall::wire::{
    Codec, Field, Frame, FrameKind, Freshness, Invalid, Key, Keyring, Limits, MIN_VERSION, Payload,
    Probe, VERSION, WireError, negotiate,
};
use support::wire::{CLUSTER, golden_codec, golden_frames, golden_key, golden_nonce, read_vector};

fn other_key() -> Key {
    Key::from_bytes([0x77; 32])
}

fn ping(seq: u64) -> Frame {
    Frame {
        sender: NodeId::from_u64(5),
        incarnation: 1,
        seq,
        payload: Payload::Ping(Probe {
            nonce: 1,
            rumors: vec![],
        }),
    }
}

fn golden(stem: &str) -> (u8, Frame) {
    golden_frames()
        .into_iter()
        .find(|(s, _, _)| *s == stem)
        .map(|(_, v, f)| (v, f))
        .expect("known vector")
}

#[test]
fn a_frame_under_an_accepted_non_primary_key_decodes() {
    // The sender already switched to the new key; we still send with the old.
    let sender = Codec::new(CLUSTER, Keyring::new(other_key()), Limits::default());
    let receiver = Codec::new(
        CLUSTER,
        Keyring::new(golden_key()).with_accepted(other_key()),
        Limits::default(),
    );
    let bytes = sender
        .encode(&ping(1), VERSION, golden_nonce())
        .expect("encodes");
    assert_eq!(receiver.decode(&bytes).map(|d| d.frame), Ok(ping(1)));
    // Without it: an unknown key id.
    assert_eq!(
        golden_codec().decode(&bytes),
        Err(WireError::UnknownKeyId(other_key().id()))
    );
}

#[test]
fn another_cluster_is_refused_before_any_cryptography() {
    // Other cluster AND other key: the cluster check comes first.
    let foreign = Codec::new("elsewhere", Keyring::new(other_key()), Limits::default());
    let bytes = foreign
        .encode(&ping(1), VERSION, golden_nonce())
        .expect("encodes");
    assert_eq!(
        golden_codec().decode(&bytes),
        Err(WireError::WrongCluster(scalesmall::wire::cluster_id(
            "elsewhere"
        )))
    );
}

#[test]
fn a_tag_that_does_not_verify_is_auth_failed() {
    let mut bytes = read_vector("ping");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    assert_eq!(golden_codec().decode(&bytes), Err(WireError::AuthFailed));
}

#[test]
fn versions_outside_min_to_n_are_unsupported() {
    let codec = golden_codec();
    let (_, frame) = golden("delta");
    for v in [0u8, VERSION + 1, 255] {
        assert_eq!(
            codec.encode(&frame, v, golden_nonce()),
            Err(WireError::UnsupportedVersion(v))
        );
        let mut bytes = read_vector("delta");
        bytes[4] = v;
        assert_eq!(codec.decode(&bytes), Err(WireError::UnsupportedVersion(v)));
    }
    assert_eq!((MIN_VERSION, VERSION), (1, 3));
}

#[test]
fn a_version_2_kind_in_a_version_1_frame_is_refused() {
    let codec = golden_codec();
    assert_eq!(
        codec.encode(&ping(1), 1, golden_nonce()),
        Err(WireError::KindNotInVersion {
            kind: FrameKind::Ping,
            version: 1
        })
    );
    // Sealed properly at version 1 by a buggy peer: still refused, before
    // the tag is even checked.
    let (h, body) = codec.open_raw(&read_vector("ping")).expect("opens");
    let sealed = codec.seal_raw(1, FrameKind::Ping as u8, h.sender, &body, golden_nonce());
    assert_eq!(
        codec.decode(&sealed),
        Err(WireError::KindNotInVersion {
            kind: FrameKind::Ping,
            version: 1
        })
    );
}

#[test]
fn frames_of_both_versions_decode_and_negotiation_picks_the_common_one() {
    let codec = golden_codec();
    let (v1, a1) = golden("announce_v1");
    let (v2, a2) = golden("announce_v2");
    assert_eq!((v1, v2), (1, 2));
    let d1 = codec
        .decode(&read_vector("announce_v1"))
        .expect("v1 decodes");
    let d2 = codec
        .decode(&read_vector("announce_v2"))
        .expect("v2 decodes");
    assert_eq!((d1.version, d2.version), (1, 2));
    // Version 1 has no policy_fp: it decodes as 0.
    let Payload::Announce(ann1) = &d1.frame.payload else {
        panic!("announce")
    };
    assert_eq!(ann1.policy_fp, 0);
    assert_eq!(d1.frame, a1);
    assert_eq!(d2.frame, a2);
    // An announce with a policy encoded at version 1 loses it.
    let bytes = codec.encode(&a2, 1, golden_nonce()).expect("encodes at 1");
    let Payload::Announce(back) = codec.decode(&bytes).expect("decodes").frame.payload else {
        panic!("announce")
    };
    assert_eq!(back.policy_fp, 0);
    // Rolling upgrade: one old peer keeps everyone on version 1.
    assert_eq!(negotiate([2, 2, 1]), 1);
    assert_eq!(negotiate([2, 2]), 2);
}

#[test]
fn a_replayed_announce_is_refused_by_freshness() {
    let codec = golden_codec();
    let bytes = read_vector("announce_v2");
    let mut fresh = Freshness::default();
    let check = |fresh: &mut Freshness| {
        let f = codec.decode(&bytes).expect("decodes").frame;
        assert!(f.payload.kind().needs_freshness());
        fresh.check(f.sender, f.incarnation, f.seq)
    };
    assert_eq!(check(&mut fresh), Ok(()));
    assert_eq!(check(&mut fresh), Err(WireError::Replayed));
    // CRDT payloads are exempt: the caller does not ask.
    assert!(!FrameKind::Delta.needs_freshness());
}

#[test]
fn body_errors_have_their_own_reasons() {
    let codec = golden_codec();
    let seal = |kind: FrameKind, body: &[u8]| {
        codec.decode(&codec.seal_raw(2, kind as u8, NodeId::from_u64(1), body, golden_nonce()))
    };
    // Ping: incarnation 1, seq 1, no ids, nonce, no rumors.
    let ping = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0];
    assert!(seal(FrameKind::Ping, &ping).is_ok());
    let mut trailing = ping.to_vec();
    trailing.push(0);
    assert_eq!(
        seal(FrameKind::Ping, &trailing),
        Err(WireError::TrailingBytes)
    );
    assert_eq!(seal(FrameKind::Ping, &ping[..6]), Err(WireError::Malformed));
    // PingReq naming id index 5 with an empty table.
    let req = [
        1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 5, 0, 10, 0, 0, 1, 0x1f, 0x0a,
    ];
    assert_eq!(
        seal(FrameKind::PingReq, &req),
        Err(WireError::Invalid {
            invalid: Invalid::IdIndex
        })
    );
    // Announce with 5 addresses (the cap is 4).
    let mut ann = vec![1, 1, 0, 2, 5];
    for _ in 0..5 {
        ann.extend_from_slice(&[0, 10, 0, 0, 1, 0x1f, 0x0a]);
    }
    ann.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // empty windows
    ann.extend_from_slice(&[0; 8]); // groups_fp
    ann.push(0); // heads
    ann.extend_from_slice(&[0; 8]); // policy_fp
    ann.push(0); // rumors
    assert_eq!(
        seal(FrameKind::Announce, &ann),
        Err(WireError::OverCap {
            field: Field::Addrs
        })
    );
    // The same with 4 addresses decodes.
    let mut ok = vec![1, 1, 0, 2, 4];
    for _ in 0..4 {
        ok.extend_from_slice(&[0, 10, 0, 0, 1, 0x1f, 0x0a]);
    }
    ok.extend_from_slice(&ann[5 + 5 * 7..]);
    assert!(seal(FrameKind::Announce, &ok).is_ok());
}

#[test]
fn a_datagram_above_the_mtu_is_too_long() {
    let codec = Codec::new(
        CLUSTER,
        Keyring::new(golden_key()),
        Limits {
            mtu: 100,
            max_frame: 1 << 20,
        },
    );
    let (v, frame) = golden("delta");
    let len = codec.encoded_len(&frame, v);
    assert!(len > 100);
    assert_eq!(
        codec.encode_datagram(&frame, v, golden_nonce()),
        Err(WireError::TooLong { len, max: 100 })
    );
    assert!(codec.encode(&frame, v, golden_nonce()).is_ok());
}

#[test]
fn the_key_id_nonce_is_reserved() {
    assert_eq!(
        golden_codec().encode(&ping(1), VERSION, scalesmall::wire::KEY_ID_NONCE),
        Err(WireError::ReservedNonce)
    );
}

#[test]
fn insecure_mode_is_one_code_path_with_a_well_known_key() {
    let a = Codec::new(CLUSTER, Keyring::insecure(), Limits::default());
    let b = Codec::new(CLUSTER, Keyring::insecure(), Limits::default());
    assert!(a.keyring().is_insecure());
    let bytes = a
        .encode(&ping(1), VERSION, golden_nonce())
        .expect("encodes");
    assert_eq!(b.decode(&bytes).map(|d| d.frame), Ok(ping(1)));
    // A keyed node does not accept it.
    assert!(matches!(
        golden_codec().decode(&bytes),
        Err(WireError::UnknownKeyId(_))
    ));
}
