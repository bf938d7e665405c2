//! Chatter's side of a key rotation without restarts: the keyring replaced
//! while running (the shell stores it; `scalesmall keys`, docs/node.md).
//! The key each peer was last heard sealing with is in the peer table
//! ([`super::super::Peer::key_seen`]).

use crate::wire::Keyring;

use super::super::time::Millis;
use super::Chatter;

impl Chatter {
    /// The keyring frames are sealed (primary) and opened (all) with.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        self.frames.codec.keyring()
    }

    /// Seals with `ring`'s primary and opens with its keys from now on.
    /// When the primary changes, an announce goes out at once, so the
    /// others see the new key id without waiting for the next period.
    /// Authentication failures counted so far are forgotten (a peer that
    /// failed may now open).
    pub fn set_keyring(&mut self, now: Millis, ring: Keyring) {
        let switched = ring.primary().id() != self.frames.codec.keyring().primary().id();
        self.frames.codec.set_keyring(ring);
        self.budgets.auth_failures.clear();
        if switched {
            self.announce_now(now);
        }
    }
}
