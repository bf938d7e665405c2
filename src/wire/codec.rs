//! `Codec`: frames to sealed bytes and back, the API the protocol uses.
//!
//! Encoding: the body ([`super::body`]) is postcard-encoded behind the clear
//! header and sealed in place with the keyring's primary key, the header
//! being the associated data; then the length is checked against the limit.
//! Decoding runs the cheap checks first (length, magic, version, kind,
//! cluster: no cryptography for foreign traffic), then picks the key by id,
//! opens the body, and decodes and validates it completely. Any failure
//! returns a [`WireError`]; nothing is ever half-decoded.
//!
//! Freshness (replay) is not checked here: only some kinds need it, and it is
//! per-receiver state ([`super::Freshness`]).

use crate::model::{ChunkSizer, NodeId};

use super::body::{self, Body};
use super::error::WireError;
use super::frame::{Frame, FrameKind};
use super::header::{HEADER_LEN, Header, TAG_LEN, check_kind, check_version, cluster_id};
use super::keyring::{KEY_ID_NONCE, Keyring};
use super::limits::Limits;
use super::peer_ref::PeerRef;
use super::seal::{open_in_place, seal_in_place};
use super::sizer::FrameSizer;

/// A decoded frame and the format version it came in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Decoded {
    /// The sender's format version for this frame.
    pub version: u8,
    /// The id of the key the frame was sealed with (from its clear header):
    /// which key the sender uses now, for `keys list` during a rotation.
    pub key_id: u32,
    /// The frame.
    pub frame: Frame,
}

/// Encodes and decodes the frames of one cluster.
#[derive(Clone, Debug)]
pub struct Codec {
    cluster: u32,
    keyring: Keyring,
    limits: Limits,
}

impl Codec {
    /// A codec for the cluster named `cluster` (only its
    /// [`super::cluster_id`] travels).
    #[must_use]
    pub fn new(cluster: &str, keyring: Keyring, limits: Limits) -> Codec {
        Codec {
            cluster: cluster_id(cluster),
            keyring,
            limits,
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The keyring.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Replaces the keyring (a rotation step).
    pub fn set_keyring(&mut self, keyring: Keyring) {
        self.keyring = keyring;
    }

    /// The cluster id frames carry.
    #[must_use]
    pub fn cluster_id(&self) -> u32 {
        self.cluster
    }

    fn header(
        &self,
        frame_kind: FrameKind,
        version: u8,
        sender: NodeId,
        nonce: [u8; 24],
    ) -> Header {
        Header {
            version,
            kind: frame_kind,
            cluster: self.cluster,
            sender,
            key_id: self.keyring.primary().id(),
            nonce,
        }
    }

    /// `frame` as sealed bytes at format `version`, at most `max_frame`
    /// bytes (for TCP; prefix it with [`super::length_prefix`]).
    ///
    /// # Errors
    /// [`WireError::UnsupportedVersion`], [`WireError::KindNotInVersion`],
    /// [`WireError::OverCap`] or [`WireError::Invalid`] for a frame that
    /// would not decode, [`WireError::TooLong`], [`WireError::ReservedNonce`].
    pub fn encode(
        &self,
        frame: &Frame,
        version: u8,
        nonce: [u8; 24],
    ) -> Result<Vec<u8>, WireError> {
        self.encode_within(frame, version, nonce, self.limits.max_frame)
    }

    /// [`Codec::encode`] for a UDP datagram: at most `mtu` bytes.
    ///
    /// # Errors
    /// As [`Codec::encode`]; [`WireError::TooLong`] above the MTU.
    pub fn encode_datagram(
        &self,
        frame: &Frame,
        version: u8,
        nonce: [u8; 24],
    ) -> Result<Vec<u8>, WireError> {
        self.encode_within(frame, version, nonce, self.limits.mtu)
    }

    fn encode_within(
        &self,
        frame: &Frame,
        version: u8,
        nonce: [u8; 24],
        max: usize,
    ) -> Result<Vec<u8>, WireError> {
        let kind = frame.payload.kind();
        check_version(version)?;
        check_kind(kind, version)?;
        if nonce == KEY_ID_NONCE {
            return Err(WireError::ReservedNonce);
        }
        let body = Body::of(frame, version)?;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.header(kind, version, frame.sender, nonce).to_bytes());
        let mut out = body.write(out)?;
        let len = out.len() + TAG_LEN;
        if len > max {
            return Err(WireError::TooLong { len, max });
        }
        let (aad, plain) = out.split_at_mut(HEADER_LEN);
        let tag = seal_in_place(self.keyring.primary().bytes(), &nonce, aad, plain)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The exact length [`Codec::encode`] produces for `frame` at `version`
    /// (0 if it cannot be encoded at all).
    #[must_use]
    pub fn encoded_len(&self, frame: &Frame, version: u8) -> usize {
        Body::of(frame, version).map_or(0, |b| HEADER_LEN + b.len() + TAG_LEN)
    }

    /// Seals arbitrary `body` bytes behind a header, unchecked: for tests,
    /// fuzzing and conformance checks of other implementations. The
    /// protocol uses [`Codec::encode`].
    #[must_use]
    pub fn seal_raw(
        &self,
        version: u8,
        kind: u8,
        sender: NodeId,
        body: &[u8],
        nonce: [u8; 24],
    ) -> Vec<u8> {
        let mut h = self
            .header(FrameKind::Announce, version, sender, nonce)
            .to_bytes();
        h[5] = kind;
        let mut out = h.to_vec();
        out.extend_from_slice(body);
        let (aad, plain) = out.split_at_mut(HEADER_LEN);
        let tag = seal_in_place(self.keyring.primary().bytes(), &nonce, aad, plain)
            .unwrap_or([0; TAG_LEN]);
        out.extend_from_slice(&tag);
        out
    }

    /// Checks, opens and decodes one frame (a datagram, or a TCP frame
    /// without its length prefix).
    ///
    /// # Errors
    /// Every [`WireError`] but [`WireError::Replayed`] (the caller's
    /// [`super::Freshness`] check) and [`WireError::ReservedNonce`]; the
    /// cheap header checks come first.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, WireError> {
        let (h, plain) = self.open_raw(bytes)?;
        let frame = body::decode(h.kind, h.version, h.sender, &plain)?;
        Ok(Decoded {
            version: h.version,
            key_id: h.key_id,
            frame,
        })
    }

    /// The checked header and opened (decrypted, authenticated) body bytes
    /// of a frame, not yet decoded: the first half of [`Codec::decode`], for
    /// tests, fuzzing and conformance checks.
    ///
    /// # Errors
    /// [`WireError::TooLong`], the header's errors (see [`Header::parse`]),
    /// [`WireError::UnknownKeyId`], [`WireError::AuthFailed`].
    pub fn open_raw(&self, bytes: &[u8]) -> Result<(Header, Vec<u8>), WireError> {
        if bytes.len() > self.limits.max_frame {
            return Err(WireError::TooLong {
                len: bytes.len(),
                max: self.limits.max_frame,
            });
        }
        let h = Header::parse(bytes, self.cluster)?;
        // Header::parse checked the length: at least MIN_FRAME.
        let (aad, rest) = bytes.split_at(HEADER_LEN);
        let Some((sealed, tag)) = rest.split_last_chunk::<TAG_LEN>() else {
            return Err(WireError::TooShort { len: bytes.len() });
        };
        let mut plain = Vec::new();
        let mut result = Err(WireError::UnknownKeyId(h.key_id));
        for key in self.keyring.with_id(h.key_id) {
            plain.clear();
            plain.extend_from_slice(sealed);
            result = open_in_place(key.bytes(), &h.nonce, aad, &mut plain, tag);
            if result.is_ok() {
                break;
            }
        }
        result?;
        Ok((h, plain))
    }

    /// Upper bounds for `delta_since` so that every chunk, sent as a Delta
    /// frame at `version` (header, tag and envelope included), is at most
    /// `budget` bytes. Pass `delta_since` the same `budget`.
    #[must_use]
    pub fn delta_sizer(&self, version: u8, budget: usize) -> impl ChunkSizer + use<> {
        // Version 3 bodies end with the floors list: its count, 1 byte for
        // the chunks `delta_since` cuts (they carry no floors).
        FrameSizer::delta(budget).with_extra(usize::from(version >= 3))
    }

    /// As [`Codec::delta_sizer`], for a Forward frame carrying `list`.
    #[must_use]
    pub fn forward_sizer(
        &self,
        version: u8,
        budget: usize,
        list: &[PeerRef],
    ) -> impl ChunkSizer + use<> {
        FrameSizer::forward(budget, list).with_extra(usize::from(version >= 3))
    }
}
