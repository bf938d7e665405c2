//! `Policy`: a group's shared auto-claim configuration, replication factor
//! and granularity, and its fingerprint.
//!
//! Every board of a group must use the same policy (the Ansible role sets
//! it), otherwise two halves of the cluster compute different assignments
//! and fight. Announces will carry [`Policy::fingerprint`] so a mismatch
//! shows in `status` and the log.
//!
//! The key space `0..=0xffff_ffff` is cut into `slices` equal slices (a power
//! of two, so every slice has exactly `2^32 / slices` keys); a slice is the
//! unit of assignment. Pure data: no I/O.

use crate::model::KeyRange;

use super::score::mix64;

/// Why a policy is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The replication factor is outside `1..=MAX_REPLICAS`.
    #[error("replication factor {0} is not allowed: expected 1 to {max}", max = Policy::MAX_REPLICAS)]
    Replicas(u32),
    /// The number of slices is not a power of two in `1..=MAX_SLICES`.
    #[error(
        "{0} slices is not allowed: expected a power of two from 1 to {max} (e.g. 256 or 1024)",
        max = Policy::MAX_SLICES
    )]
    Slices(u32),
}

/// A group's auto-claim policy: how many nodes serve each key, and how
/// finely the key space is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    replicas: u32,
    slices: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            replicas: Self::DEFAULT_REPLICAS,
            slices: Self::DEFAULT_SLICES,
        }
    }
}

impl Policy {
    /// Default replication factor R.
    pub const DEFAULT_REPLICAS: u32 = 2;
    /// Default number of slices: fine enough that the load bound holds up
    /// to `R * 1024 / 4` = 512 equal nodes at R = 2.
    pub const DEFAULT_SLICES: u32 = 1024;
    /// Largest replication factor.
    pub const MAX_REPLICAS: u32 = 64;
    /// Largest number of slices (each then holds 2^21 keys): an auto
    /// node's items come from `2 * slices - 1` aligned blocks, which must
    /// stay within peers' per-member item cap
    /// ([`crate::model::Caps::items_per_member`], 4096). Enough for the load
    /// bound at 1000 equal members with R = 2 (4 slices each).
    pub const MAX_SLICES: u32 = 1 << 11;

    /// A policy with `replicas` copies of every key over `slices` slices.
    ///
    /// # Errors
    /// [`PolicyError::Replicas`] unless `1 <= replicas <= 64`;
    /// [`PolicyError::Slices`] unless `slices` is a power of two up to 2048.
    pub const fn new(replicas: u32, slices: u32) -> Result<Self, PolicyError> {
        if replicas == 0 || replicas > Self::MAX_REPLICAS {
            return Err(PolicyError::Replicas(replicas));
        }
        if !slices.is_power_of_two() || slices > Self::MAX_SLICES {
            return Err(PolicyError::Slices(slices));
        }
        Ok(Self { replicas, slices })
    }

    /// The replication factor R.
    #[must_use]
    pub const fn replicas(&self) -> u32 {
        self.replicas
    }

    /// The number of slices.
    #[must_use]
    pub const fn slices(&self) -> u32 {
        self.slices
    }

    /// log2 of the number of keys in one slice.
    const fn width_bits(&self) -> u32 {
        32 - self.slices.trailing_zeros()
    }

    /// The keys of slice `index` (indices past the end wrap).
    #[must_use]
    pub fn slice_range(&self, index: u32) -> KeyRange {
        let bits = self.width_bits();
        let index = index & (self.slices - 1);
        let start = ((index as u64) << bits) as u32;
        let end = (((index as u64 + 1) << bits) - 1) as u32;
        // start <= end by construction; FULL only to avoid a panic path.
        KeyRange::new(start, end).unwrap_or(KeyRange::FULL)
    }

    /// The slice holding `key`.
    #[must_use]
    pub const fn slice_of(&self, key: u32) -> u32 {
        let bits = self.width_bits();
        if bits >= 32 { 0 } else { key >> bits }
    }

    /// The keys of slices `first..=last` as one range.
    #[must_use]
    pub fn slices_range(&self, first: u32, last: u32) -> KeyRange {
        let a = self.slice_range(first);
        let b = self.slice_range(last);
        KeyRange::new(a.start(), b.end()).unwrap_or(a)
    }

    /// The slices that `range` touches at all, `first..=last`.
    #[must_use]
    pub fn touched(&self, range: KeyRange) -> (u32, u32) {
        (self.slice_of(range.start()), self.slice_of(range.end()))
    }

    /// A stable 64-bit hash of the policy, for announces: two boards with
    /// the same fingerprint compute the same assignment from the same view.
    /// Part of the protocol (pinned by a test vector).
    #[must_use]
    pub const fn fingerprint(&self) -> u64 {
        // "autoclm1": the assignment algorithm's version.
        let tag = u64::from_be_bytes(*b"autoclm1");
        mix64(mix64(tag ^ self.replicas as u64) ^ self.slices as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_policies() {
        assert_eq!(Policy::new(0, 256), Err(PolicyError::Replicas(0)));
        assert_eq!(Policy::new(65, 256), Err(PolicyError::Replicas(65)));
        assert_eq!(Policy::new(2, 0), Err(PolicyError::Slices(0)));
        assert_eq!(Policy::new(2, 1000), Err(PolicyError::Slices(1000)));
        assert_eq!(Policy::new(2, 1 << 12), Err(PolicyError::Slices(1 << 12)));
        assert!(Policy::new(1, 1).is_ok());
        assert!(Policy::new(64, 1 << 11).is_ok());
    }

    #[test]
    fn slices_tile_the_key_space() {
        for slices in [1, 2, 256, 1024, 1 << 11] {
            let p = Policy::new(2, slices).unwrap();
            let mut next = 0u64;
            for i in 0..slices {
                let r = p.slice_range(i);
                assert_eq!(u64::from(r.start()), next);
                assert_eq!(r.len(), (1u64 << 32) / u64::from(slices));
                assert_eq!(p.slice_of(r.start()), i);
                assert_eq!(p.slice_of(r.end()), i);
                next = u64::from(r.end()) + 1;
            }
            assert_eq!(next, 1 << 32);
            assert_eq!(p.slices_range(0, slices - 1), KeyRange::FULL);
        }
    }

    #[test]
    fn the_fingerprint_is_pinned_and_tells_policies_apart() {
        let d = Policy::default();
        assert_eq!((d.replicas(), d.slices()), (2, 1024));
        assert_eq!(d.fingerprint(), 0x946a_01ba_beba_059e);
        assert_ne!(d.fingerprint(), Policy::new(3, 1024).unwrap().fingerprint());
        assert_ne!(d.fingerprint(), Policy::new(2, 256).unwrap().fingerprint());
    }
}
