//! Format versions and the policy for choosing one.
//!
//! A node accepts format versions [`MIN_VERSION`] to [`VERSION`] and sends the highest version that every peer it knows
//! accepts ([`negotiate`]; every announce carries its sender's
//! `max_version`). During a rolling upgrade from N−1 to N the upgraded nodes
//! keep sending N−1 until the last old node is gone (or expires), then
//! switch to N; no pair of nodes ever stops understanding each other. An
//! upgrade must therefore move one version at a time: a node two versions
//! behind is not understood, and its frames are dropped as
//! [`crate::wire::WireError::UnsupportedVersion`].
//!
//! What changed per version:
//! - 1: announce, pull, delta, forward.
//! - 2: adds the probe kinds (ping, ack, ping_req) and the announce's
//!   `policy_fp` (a version 1 announce decodes it as 0).
//! - 3: delta and forward bodies end with the message's GC floors (a
//!   version 2 delta decodes with none). Below version 3 a message with a
//!   floor claims nothing of that member at or below it; nodes collect
//!   tombstones only while every peer speaks version 3.

/// The highest format version this build speaks (and sends by default).
pub const VERSION: u8 = 3;
/// The lowest format version this build accepts.
pub const MIN_VERSION: u8 = 1;

/// The version to send given the `max_version` of every known peer: the
/// lowest of them, capped at [`VERSION`]. A peer whose `max_version` is below
/// [`MIN_VERSION`] cannot be spoken to at all and is left out (it must be
/// upgraded). With no peers, [`VERSION`].
#[must_use]
pub fn negotiate(peer_max_versions: impl IntoIterator<Item = u8>) -> u8 {
    peer_max_versions
        .into_iter()
        .filter(|v| *v >= MIN_VERSION)
        .map(|v| v.min(VERSION))
        .min()
        .unwrap_or(VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_the_highest_version_everyone_accepts() {
        assert_eq!(negotiate([]), VERSION);
        assert_eq!(negotiate([3, 3, 4]), 3);
        assert_eq!(negotiate([2, 3, 3]), 2);
        assert_eq!(negotiate([2, 1, 2]), 1);
        // Too old to speak to at all: ignored.
        assert_eq!(negotiate([0, 3]), 3);
        const { assert!(MIN_VERSION < VERSION) };
    }
}
