//! `MonoClock`: the one place the node reads the OS clock and OS entropy.
//!
//! The protocol takes `now` as [`Millis`] since an arbitrary epoch; here the
//! epoch is the process start and the source is the monotonic clock (boards
//! often have no real-time clock, so wall time is never used). The
//! protocol's RNG seed also comes from here.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The wall-clock time now, RFC 3339 in UTC with milliseconds
/// (`2026-12-06T04:30:00.123Z`). For people reading events (hooks, `watch`)
/// only: nothing orders or times by it, since a board without a real-time
/// clock may be far off until NTP syncs.
#[must_use]
#[allow(clippy::disallowed_methods)] // display only, as above
pub fn wall_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Seconds since the Unix epoch by the wall clock (display only, as above:
/// `process_start_time_seconds`).
#[must_use]
#[allow(clippy::disallowed_methods)] // display only, as above
pub fn wall_unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `t` as RFC 3339 in UTC with milliseconds (the epoch for times before it).
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01, counting in 400-year eras that start on 1 March (so the leap
/// day is the last day of an era's year).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March year
    let mp = (5 * doy + 2) / 153; // month from March, 0..11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
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

#[cfg(test)]
mod wall_tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(s * 1000 + ms);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_709_251_199, 999)), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(at(1_796_531_696, 123)), "2026-12-06T04:34:56.123Z");
        assert_eq!(rfc3339(at(4_102_444_800, 0)), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_follows_the_one_before() {
        let (mut py, mut pm, mut pd) = civil(0);
        for day in 1..200_000 {
            let (y, m, d) = civil(day);
            let next_day = (y, m) == (py, pm) && d == pd + 1;
            let next_month = y == py && m == pm + 1 && d == 1;
            let next_year = y == py + 1 && (pm, m, d) == (12, 1, 1);
            assert!(
                next_day || next_month || next_year,
                "{py}-{pm}-{pd} then {y}-{m}-{d}"
            );
            (py, pm, pd) = (y, m, d);
        }
    }
}
