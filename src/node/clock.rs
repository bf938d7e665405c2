//! `MonoClock`: the one place the node reads the OS clock and OS entropy.
//!
//! The protocol takes `now` as [`Millis`] since an arbitrary epoch; here the
//! epoch is the process start and the source is the monotonic clock (boards
//! often have no real-time clock, so wall time is never used). The
//! protocol's RNG seed also comes from here.

use std::time::{Duration, Instant};

use crate::protocol::Millis;

/// Monotonic milliseconds since the node started.
#[derive(Clone, Copy, Debug)]
pub struct MonoClock {
    start: Instant,
}

impl MonoClock {
    /// Starts counting now.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // the one reader of the OS clock
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Milliseconds since start.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // the one reader of the OS clock
    pub fn now(&self) -> Millis {
        Millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The instant of `at` (for tokio's `sleep_until`).
    #[must_use]
    pub fn instant(&self, at: Millis) -> Instant {
        self.start
            .checked_add(Duration::from_millis(at.0))
            .unwrap_or(self.start + Duration::from_secs(86_400 * 365))
    }
}

/// Measures short durations (time spent in the protocol, for metrics).
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // the one reader of the OS clock
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Seconds since start.
    #[must_use]
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// 32 bytes of OS randomness (the protocol's RNG seed, nonces' origin).
///
/// # Errors
/// If the OS refuses randomness.
pub fn os_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(seed)
}
