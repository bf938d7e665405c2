//! The clear header in front of every datagram and TCP frame.
//!
//! 46 bytes, fixed layout (all integers big-endian):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | magic `SCSM` |
//! | 4 | 1 | format version |
//! | 5 | 1 | kind ([`FrameKind`] byte) |
//! | 6 | 4 | cluster id ([`cluster_id`]) |
//! | 10 | 8 | sender [`NodeId`] |
//! | 18 | 4 | key id ([`crate::wire::Key::id`]) |
//! | 22 | 24 | XChaCha20-Poly1305 nonce |
//!
//! The sealed body and a 16-byte tag follow. The header travels in clear so
//! a receiver can drop foreign traffic cheaply (length, magic, version, kind,
//! cluster) before any cryptography, and pick the key by id; it is the
//! AEAD's associated data, so none of it can be altered unnoticed.

use crate::model::NodeId;

use super::error::WireError;
use super::frame::FrameKind;
use super::version::{MIN_VERSION, VERSION};

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"SCSM";
/// Length of the clear header.
pub const HEADER_LEN: usize = 46;
/// Length of the authentication tag after the sealed body.
pub const TAG_LEN: usize = 16;
/// The shortest possible frame: a header and a tag.
pub const MIN_FRAME: usize = HEADER_LEN + TAG_LEN;

/// The cluster id of a cluster name: the low 32 bits of xxh3-64 of its
/// UTF-8 bytes (`xxh3_64(name) as u32`). A cheap filter, not a secret.
#[must_use]
pub fn cluster_id(cluster: &str) -> u32 {
    // Truncation is the definition.
    #[allow(clippy::cast_possible_truncation)]
    let id = xxhash_rust::xxh3::xxh3_64(cluster.as_bytes()) as u32;
    id
}

/// A parsed clear header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// Format version of the body.
    pub version: u8,
    /// What the body is.
    pub kind: FrameKind,
    /// [`cluster_id`] of the sender's cluster.
    pub cluster: u32,
    /// The sending node.
    pub sender: NodeId,
    /// Which key sealed the body.
    pub key_id: u32,
    /// The AEAD nonce.
    pub nonce: [u8; 24],
}

impl Header {
    /// The header's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.version;
        b[5] = self.kind as u8;
        b[6..10].copy_from_slice(&self.cluster.to_be_bytes());
        b[10..18].copy_from_slice(&self.sender.as_u64().to_be_bytes());
        b[18..22].copy_from_slice(&self.key_id.to_be_bytes());
        b[22..46].copy_from_slice(&self.nonce);
        b
    }

    /// Parses and checks the clear header of `frame`, cheapest checks
    /// first: length, magic, version, kind (and whether the version has
    /// it), then cluster. No cryptography happens here.
    ///
    /// # Errors
    /// [`WireError::TooShort`], [`WireError::BadMagic`],
    /// [`WireError::UnsupportedVersion`], [`WireError::UnknownKind`],
    /// [`WireError::KindNotInVersion`], [`WireError::WrongCluster`].
    pub fn parse(frame: &[u8], cluster: u32) -> Result<Header, WireError> {
        let Some((head, _)) = frame
            .split_first_chunk::<HEADER_LEN>()
            .filter(|_| frame.len() >= MIN_FRAME)
        else {
            return Err(WireError::TooShort { len: frame.len() });
        };
        let (magic, rest) = head.split_at(4);
        if magic != MAGIC {
            return Err(WireError::BadMagic);
        }
        let (version, kind_byte) = (rest[0], rest[1]);
        check_version(version)?;
        let kind = FrameKind::from_byte(kind_byte).ok_or(WireError::UnknownKind(kind_byte))?;
        check_kind(kind, version)?;
        let theirs = be_u32(&head[6..10]);
        if theirs != cluster {
            return Err(WireError::WrongCluster(theirs));
        }
        let mut sender = [0u8; 8];
        sender.copy_from_slice(&head[10..18]);
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&head[22..46]);
        Ok(Header {
            version,
            kind,
            cluster: theirs,
            sender: NodeId::from_u64(u64::from_be_bytes(sender)),
            key_id: be_u32(&head[18..22]),
            nonce,
        })
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_be_bytes(a)
}

/// Whether this node speaks `version`.
pub(crate) const fn check_version(version: u8) -> Result<(), WireError> {
    if version < MIN_VERSION || version > VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    Ok(())
}

/// Whether `version` has `kind`.
pub(crate) const fn check_kind(kind: FrameKind, version: u8) -> Result<(), WireError> {
    if kind.since_version() > version {
        return Err(WireError::KindNotInVersion { kind, version });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            kind: FrameKind::Ping,
            cluster: cluster_id("test"),
            sender: NodeId::from_u64(0x0102_0304_0506_0708),
            key_id: 0xaabb_ccdd,
            nonce: [9; 24],
        }
    }

    fn frame(h: &Header) -> Vec<u8> {
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[0; TAG_LEN]);
        v
    }

    #[test]
    fn round_trips_with_the_documented_offsets() {
        let h = header();
        let b = h.to_bytes();
        assert_eq!(&b[0..4], b"SCSM");
        assert_eq!(b[5], 5);
        assert_eq!(&b[10..18], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[18..22], &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(Header::parse(&frame(&h), h.cluster), Ok(h));
    }

    #[test]
    fn cheap_checks_come_in_order() {
        let h = header();
        let f = frame(&h);
        assert_eq!(
            Header::parse(&f[..MIN_FRAME - 1], h.cluster),
            Err(WireError::TooShort { len: MIN_FRAME - 1 })
        );
        let mut bad = f.clone();
        bad[0] = b'X';
        bad[4] = 0;
        assert_eq!(Header::parse(&bad, 1), Err(WireError::BadMagic));
        let mut bad = f.clone();
        bad[4] = 0;
        assert_eq!(
            Header::parse(&bad, 1),
            Err(WireError::UnsupportedVersion(0))
        );
        let mut bad = f.clone();
        bad[5] = 99;
        assert_eq!(Header::parse(&bad, 1), Err(WireError::UnknownKind(99)));
        let mut bad = f.clone();
        bad[4] = 1;
        assert_eq!(
            Header::parse(&bad, 1),
            Err(WireError::KindNotInVersion {
                kind: FrameKind::Ping,
                version: 1
            })
        );
        assert_eq!(
            Header::parse(&f, h.cluster ^ 1),
            Err(WireError::WrongCluster(h.cluster))
        );
    }

    #[test]
    fn cluster_id_is_pinned() {
        assert_eq!(
            cluster_id("scalesmall"),
            xxhash_rust::xxh3::xxh3_64(b"scalesmall") as u32
        );
        assert_ne!(cluster_id("a"), cluster_id("b"));
    }
}
