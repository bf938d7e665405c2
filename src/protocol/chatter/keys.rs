//! Chatter's side of a key rotation without restarts: the keyring replaced
//! while running (the shell stores it; `scalesmall keys`, docs/node.md) and
//! the key each peer was last heard sealing with ([`super::super::KeyUse`]).

use crate::wire::Keyring;

use super::super::key_use::KeyUse;
use super::super::time::Millis;
use super::Chatter;

impl Chatter {
    /// The keyring frames are sealed (primary) and opened (all) with.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        self.codec.keyring()
    }

    /// The key id of the last frame opened from each peer.
    #[must_use]
    pub fn key_use(&self) -> &KeyUse {
        &self.key_use
    }

    /// Seals with `ring`'s primary and opens with its keys from now on.
    /// When the primary changes, an announce goes out at once, so the
    /// others see the new key id without waiting for the next period.
    /// Authentication failures counted so far are forgotten (a peer that
    /// failed may now open).
    pub fn set_keyring(&mut self, now: Millis, ring: Keyring) {
        let switched = ring.primary().id() != self.codec.keyring().primary().id();
        self.codec.set_keyring(ring);
        self.auth_failures.clear();
        if switched {
            self.announce_now(now);
        }
    }
}
