//! `Millis`: the protocol's notion of time, a monotonic millisecond count
//! passed in by the caller.
//!
//! The core never reads a clock. Boards often have no real-time clock, so
//! nothing here depends on wall time: only on differences of a monotonic
//! counter whose epoch is arbitrary (the node uses its process start; the
//! simulator its virtual clock). `now` must never go backwards between calls.

use std::fmt;
use std::ops::{Add, Sub};

/// A monotonic instant in milliseconds since an arbitrary epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// The epoch.
    pub const ZERO: Millis = Millis(0);
    /// Later than any real instant ("never").
    pub const NEVER: Millis = Millis(u64::MAX);

    /// Milliseconds since `earlier` (0 if `earlier` is later).
    #[must_use]
    pub const fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This instant plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        self.plus(ms)
    }
}

impl Sub<Millis> for Millis {
    type Output = u64;
    fn sub(self, earlier: Millis) -> u64 {
        self.since(earlier)
    }
}

impl fmt::Debug for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Millis::NEVER {
            f.write_str("never")
        } else {
            write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
        }
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Millis(5).since(Millis(9)), 0);
        assert_eq!(Millis(9) - Millis(5), 4);
        assert_eq!(Millis::NEVER + 1, Millis::NEVER);
        assert_eq!(format!("{:?}", Millis(1234)), "1.234s");
    }
}
