//! The process's own resource use, for the standard `process_*` metrics
//! (resident memory, CPU time, open and maximum file descriptors, start
//! time), read from Linux's `/proc/self` on each scrape. Only `/proc/self`
//! is read: the shipped unit's `ProcSubset=pid` hides the rest of /proc.
//!
//! A few small text parsers instead of a procfs crate: the four files and
//! fields used here are stable kernel ABI, and a dependency would cost the
//! board binary more than these lines. Each value is `None` where the file
//! is missing or unreadable (another OS, a hardened mount), and the metric
//! is then left out rather than reported as 0.

use std::fs;

/// Clock ticks per second in `/proc/<pid>/stat` times: Linux's `USER_HZ`,
/// 100 on every architecture the boards run (arm, aarch64, x86).
const USER_HZ: f64 = 100.0;

/// One reading of the process's resource use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self`; the start time is the wall clock now less
    /// `uptime_secs`, the node's own monotonic age.
    pub fn read(uptime_secs: f64) -> Self {
        let text = |p: &str| fs::read_to_string(p).ok();
        let stat = text("/proc/self/stat");
        let times = stat.as_deref().and_then(stat_times);
        ProcessStats {
            resident_bytes: text("/proc/self/status").as_deref().and_then(vm_rss),
            cpu_seconds: times.map(|t| (t.0 + t.1) as f64 / USER_HZ),
            open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
            max_fds: text("/proc/self/limits")
                .as_deref()
                .and_then(max_open_files),
            start_time_seconds: Some(crate::node::clock::wall_unix_seconds() - uptime_secs),
        }
    }
}

/// `VmRSS` from `/proc/self/status`, in bytes (the file says kB).
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// (utime, stime) in ticks from `/proc/self/stat`: fields 14 and 15,
/// counted after the command name, which is in parentheses and may
/// itself hold spaces or parentheses.
fn stat_times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some((field(14)?, field(15)?))
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_read_real_kernel_text() {
        let status = "Name:\tscalesmall\nVmPeak:\t  10000 kB\nVmRSS:\t    5120 kB\nThreads:\t2\n";
        assert_eq!(vm_rss(status), Some(5120 * 1024));
        // A command name with a space and a parenthesis in it.
        let stat = "4242 (scale (small) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 \
                    250 150 0 0 20 0 2 0 123456 10000000 1280 18446744073709551615";
        assert_eq!(stat_times(stat), Some((250, 150)));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[test]
    fn garbage_gives_none_not_a_panic() {
        for bad in [
            "",
            ")",
            "VmRSS:",
            "VmRSS: many kB",
            "1 (x",
            "Max open files",
        ] {
            assert_eq!(vm_rss(bad), None);
            assert_eq!(stat_times(bad), None);
            assert_eq!(max_open_files(bad), None);
        }
    }

    #[test]
    fn this_process_reads_its_own_use_on_linux() {
        let s = ProcessStats::read(1.0);
        if cfg!(target_os = "linux") {
            assert!(s.resident_bytes.is_some_and(|b| b > 0), "{s:?}");
            assert!(s.open_fds.is_some_and(|n| n >= 3), "{s:?}");
            assert!(
                s.max_fds.is_some_and(|n| n >= s.open_fds.unwrap_or(0)),
                "{s:?}"
            );
            assert!(s.cpu_seconds.is_some(), "{s:?}");
            // Started after 2020 and not in the future.
            assert!(s.start_time_seconds.is_some_and(|t| t > 1.577e9), "{s:?}");
        }
    }
}
