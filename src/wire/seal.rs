//! Sealing: XChaCha20-Poly1305 over the body, with the clear header as
//! associated data.
//!
//! The 24-byte nonce comes from the caller (the node draws it from the OS;
//! tests pass constants): nothing in the core draws randomness. XChaCha's
//! 192-bit nonce makes random nonces safe for any number of frames per key.
//! The tag authenticates header and body together, so a receiver that has
//! opened a frame knows every byte of it came from a holder of the key.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};

use super::error::WireError;
use super::header::TAG_LEN;

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Array::from(*key))
}

/// Encrypts `buf` in place under `key` and `nonce`, authenticating `aad`
/// too, and returns the tag.
///
/// # Errors
/// [`WireError::TooLong`] past the cipher's limit (256 GiB; never reached
/// below `max_frame`).
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], WireError> {
    let len = buf.len();
    let tag = cipher(key)
        .encrypt_inout_detached(&Array::from(*nonce), aad, buf.into())
        .map_err(|_| WireError::TooLong {
            len,
            max: usize::MAX,
        })?;
    Ok(tag.into())
}

/// Verifies `tag` over `aad` and `buf` and decrypts `buf` in place.
///
/// # Errors
/// [`WireError::AuthFailed`]; `buf` is then left unspecified (the caller
/// discards it).
pub(crate) fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), WireError> {
    cipher(key)
        .decrypt_inout_detached(&Array::from(*nonce), aad, buf.into(), &Array::from(*tag))
        .map_err(|_| WireError::AuthFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_and_nothing_altered() {
        let key = [7u8; 32];
        let nonce = [1u8; 24];
        let mut buf = *b"hello, board";
        let tag = seal_in_place(&key, &nonce, b"header", &mut buf).unwrap();
        assert_ne!(&buf, b"hello, board");
        let sealed = buf;
        assert_eq!(
            open_in_place(&key, &nonce, b"header", &mut buf, &tag),
            Ok(())
        );
        assert_eq!(&buf, b"hello, board");
        let mut b = sealed;
        assert_eq!(
            open_in_place(&key, &nonce, b"headex", &mut b, &tag),
            Err(WireError::AuthFailed)
        );
        let mut b = sealed;
        b[0] ^= 1;
        assert_eq!(
            open_in_place(&key, &nonce, b"header", &mut b, &tag),
            Err(WireError::AuthFailed)
        );
        let mut b = sealed;
        assert_eq!(
            open_in_place(&[8u8; 32], &nonce, b"header", &mut b, &tag),
            Err(WireError::AuthFailed)
        );
    }
}
