//! `Key` and `Keyring`: the cluster keys a node seals and opens frames with.
//!
//! One shared cluster key authenticates *the cluster*, not a member: any
//! holder of the key can speak for any member. Protect it like a root
//! password, and rotate it when a board is lost.
//!
//! A keyring has one primary key (every frame is sealed with it) and any
//! number of accepted keys (a frame sealed with any of them opens). Rotation
//! without a partition:
//! 1. add the new key as accepted on every node;
//! 2. make it the primary on every node (the old one stays accepted);
//! 3. retire the old key everywhere.
//!
//! Each key has a 32-bit id, derived from the key itself by a PRF built from
//! the AEAD (see [`Key::id`]), so ids need no configuration and reveal
//! nothing about the key. The header carries it so a receiver picks the key
//! without trial decryption.
//!
//! Insecure mode is the all-zero key ([`Keyring::insecure`]), well known to
//! everyone: frames are then neither secret nor authenticated. It is one code
//! path with the secure mode, and it must be asked for by name.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::seal::seal_in_place;

/// The nonce [`Key::id`] seals under: reserved, never used for a frame.
pub const KEY_ID_NONCE: [u8; 24] = *b"scalesmall key id nonce.";
/// The associated data [`Key::id`] authenticates.
pub const KEY_ID_AAD: &[u8] = b"scalesmall key id";

/// A 32-byte cluster key. `Debug` shows only its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    bytes: [u8; 32],
    id: u32,
}

/// Why a string is not a [`Key`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not standard base64 (with padding).
    #[error("the key is not base64: {0}; generate one with `scalesmall keygen`")]
    NotBase64(String),
    /// Decoded to the wrong number of bytes.
    #[error("the key is {len} bytes long; a cluster key is 32 bytes (44 base64 characters)")]
    WrongLength {
        /// Bytes decoded.
        len: usize,
    },
    /// The all-zero key, which everyone knows.
    #[error(
        "the all-zero key is the well-known insecure key; ask for insecure mode by name instead"
    )]
    Insecure,
}

impl Key {
    /// The key with these bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            id: derive_id(&bytes),
        }
    }

    /// Parses standard base64 (44 characters with padding; surrounding
    /// whitespace, such as a key file's final newline, is ignored).
    ///
    /// # Errors
    /// [`KeyError::NotBase64`], [`KeyError::WrongLength`], or
    /// [`KeyError::Insecure`] for the all-zero key.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let raw = STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(e.to_string()))?;
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength { len: raw.len() })?;
        if bytes == [0; 32] {
            return Err(KeyError::Insecure);
        }
        Ok(Self::from_bytes(bytes))
    }

    /// The key as standard base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's id: the first 4 bytes (big-endian) of the Poly1305 tag of
    /// sealing an empty plaintext under this key with nonce
    /// [`KEY_ID_NONCE`] and associated data [`KEY_ID_AAD`]. A PRF of the key:
    /// it needs no configuration and reveals nothing about the key.
    #[must_use]
    pub const fn id(&self) -> u32 {
        self.id
    }

    /// The raw bytes.
    #[must_use]
    pub const fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whether this is the all-zero insecure key.
    #[must_use]
    pub fn is_insecure(&self) -> bool {
        self.bytes == [0; 32]
    }
}

fn derive_id(key: &[u8; 32]) -> u32 {
    let tag = seal_in_place(key, &KEY_ID_NONCE, KEY_ID_AAD, &mut []).unwrap_or([0; 16]);
    u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={:#010x}, <redacted>)", self.id)
    }
}

/// The keys a node seals with (the primary) and opens with (all accepted).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Keyring {
    /// Every accepted key; `keys[0]` is the primary.
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring with `primary` as its only key.
    #[must_use]
    pub fn new(primary: Key) -> Self {
        Self {
            keys: vec![primary],
        }
    }

    /// Insecure mode: the all-zero well-known key. Frames are then neither
    /// secret nor authenticated (anyone can read and forge them); the node
    /// logs that it runs insecure.
    #[must_use]
    pub fn insecure() -> Self {
        Self::new(Key::from_bytes([0; 32]))
    }

    /// Whether frames are sealed with the insecure all-zero key.
    #[must_use]
    pub fn is_insecure(&self) -> bool {
        self.primary().is_insecure()
    }

    /// The key every frame is sealed with.
    #[must_use]
    pub fn primary(&self) -> &Key {
        // `keys` is never empty: constructors put the primary first and
        // `retire` never removes it.
        &self.keys[0]
    }

    /// Every key a frame may be sealed with, the primary first.
    #[must_use]
    pub fn accepted(&self) -> &[Key] {
        &self.keys
    }

    /// Also opens frames sealed with `key` (rotation step 1).
    pub fn accept(&mut self, key: Key) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Builder form of [`Keyring::accept`].
    #[must_use]
    pub fn with_accepted(mut self, key: Key) -> Self {
        self.accept(key);
        self
    }

    /// Seals with `key` from now on (rotation step 2); the old primary stays
    /// accepted until retired.
    pub fn set_primary(&mut self, key: Key) {
        self.keys.retain(|k| *k != key);
        self.keys.insert(0, key);
    }

    /// Stops accepting the keys with `id` (rotation step 3). The primary is
    /// never retired; returns whether a key was removed.
    pub fn retire(&mut self, id: u32) -> bool {
        let before = self.keys.len();
        let mut first = true;
        self.keys
            .retain(|k| std::mem::take(&mut first) || k.id != id);
        self.keys.len() != before
    }

    /// The accepted keys with this id (almost always zero or one).
    pub fn with_id(&self, id: u32) -> impl Iterator<Item = &Key> + '_ {
        self.keys.iter().filter(move |k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_clearly() {
        let k = Key::from_bytes([5; 32]);
        let text = k.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(Key::from_base64(&format!("{text}\n")), Ok(k.clone()));
        assert!(matches!(
            Key::from_base64("not base64!"),
            Err(KeyError::NotBase64(_))
        ));
        assert_eq!(
            Key::from_base64("AAAA"),
            Err(KeyError::WrongLength { len: 3 })
        );
        assert_eq!(
            Key::from_base64(&Key::from_bytes([0; 32]).to_base64()),
            Err(KeyError::Insecure)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = Key::from_bytes([0xab; 32]);
        let d = format!("{k:?} {:?}", Keyring::new(k.clone()));
        assert!(!d.contains("171") && !d.to_lowercase().contains("abab"));
        assert!(!d.contains(&k.to_base64()));
    }

    #[test]
    fn ids_differ_per_key_and_are_pinned() {
        let a = Key::from_bytes([1; 32]);
        let b = Key::from_bytes([2; 32]);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), Key::from_bytes([1; 32]).id());
    }

    #[test]
    fn rotation_keeps_every_step_readable() {
        let old = Key::from_bytes([1; 32]);
        let new = Key::from_bytes([2; 32]);
        let mut ring = Keyring::new(old.clone());
        ring.accept(new.clone());
        assert_eq!(ring.primary(), &old);
        ring.set_primary(new.clone());
        assert_eq!(ring.primary(), &new);
        assert_eq!(ring.with_id(old.id()).count(), 1);
        assert!(ring.retire(old.id()));
        assert_eq!(ring.with_id(old.id()).count(), 0);
        assert!(!ring.retire(new.id()), "the primary is never retired");
        assert_eq!(ring.accepted(), &[new]);
        assert!(Keyring::insecure().is_insecure() && !ring.is_insecure());
    }
}
