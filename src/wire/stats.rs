//! `DropCounters`: how many frames were refused, per reason.
//!
//! Pure counting; the node exposes them (status page, logs). One counter per
//! [`WireError::reason`], in the order of [`WireError::REASONS`].

use super::error::WireError;

/// Counts of refused frames by reason.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DropCounters {
    counts: [u64; WireError::REASONS.len()],
}

impl DropCounters {
    /// All zero.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            counts: [0; WireError::REASONS.len()],
        }
    }

    /// Counts one refused frame.
    pub fn record(&mut self, error: &WireError) {
        if let Some(c) = self.counts.get_mut(error.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Frames refused for `reason` (a [`WireError::reason`]); 0 for an
    /// unknown reason.
    #[must_use]
    pub fn get(&self, reason: &str) -> u64 {
        WireError::REASONS
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Every reason with its count, in [`WireError::REASONS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        WireError::REASONS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }

    /// Frames refused in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, c| a.saturating_add(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut c = DropCounters::new();
        c.record(&WireError::AuthFailed);
        c.record(&WireError::AuthFailed);
        c.record(&WireError::BadMagic);
        assert_eq!(c.get("auth_failed"), 2);
        assert_eq!(c.get("bad_magic"), 1);
        assert_eq!(c.get("nonsense"), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().count(), WireError::REASONS.len());
    }
}
