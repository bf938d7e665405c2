//! `Notifier`: systemd's service notification protocol (`sd_notify`), so a
//! `Type=notify` unit with `WatchdogSec=` can tell when the node is ready
//! and when it hangs.
//!
//! The protocol is one Unix datagram per notification, `VAR=value` lines, to
//! the socket systemd names in `$NOTIFY_SOCKET`: a path, or with a leading
//! `@` a name in Linux's abstract namespace. `$WATCHDOG_USEC` is the
//! watchdog timeout (`WatchdogSec=`); `$WATCHDOG_PID`, if set, says which
//! process it is meant for. Written here (about a hundred lines, no crate):
//! the node sends `READY=1` once every socket is bound, `WATCHDOG=1` at half
//! the timeout, and `STOPPING=1` when a shutdown starts.
//!
//! The pings come from the driver's own event loop (an arm of its
//! `select!`, see [`Watchdog::due`]), never from a task of their own: when
//! the loop is stuck (an SD card stalled in `fsync`, a runaway input) the
//! pings stop, and systemd restarts the node after `WatchdogSec`.
//!
//! Sending never blocks and never fails the node: the socket is
//! non-blocking, and an error is logged once.

use std::cell::Cell;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tracing::{debug, warn};

/// Where and how often to notify, as systemd's environment says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyEnv {
    /// `$NOTIFY_SOCKET`: a path, or `@name` (abstract namespace).
    pub socket: String,
    /// `$WATCHDOG_USEC` as a duration, when the watchdog is on and meant
    /// for this process.
    pub watchdog: Option<Duration>,
}

/// Reads systemd's variables through `var` (the environment, or a test's
/// map) for the process `pid`. `Ok(None)`: not run under `Type=notify`.
///
/// # Errors
/// A `WATCHDOG_USEC` that is not a positive number of microseconds.
pub fn parse_env(
    var: &dyn Fn(&str) -> Option<String>,
    pid: u32,
) -> Result<Option<NotifyEnv>, String> {
    let Some(socket) = var("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let for_us = var("WATCHDOG_PID").is_none_or(|p| p.trim().parse::<u32>() == Ok(pid));
    let watchdog = match var("WATCHDOG_USEC") {
        Some(usec) if for_us => match usec.trim().parse::<u64>() {
            Ok(n) if n > 0 => Some(Duration::from_micros(n)),
            _ => {
                return Err(format!(
                    "WATCHDOG_USEC={usec:?}: expected a positive number of microseconds"
                ));
            }
        },
        _ => None,
    };
    Ok(Some(NotifyEnv { socket, watchdog }))
}

/// The address `$NOTIFY_SOCKET` names.
///
/// # Errors
/// Neither an absolute path nor `@name`, or too long for a Unix address.
pub fn socket_addr(name: &str) -> io::Result<SocketAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        SocketAddr::from_abstract_name(abstract_name.as_bytes())
    } else if name.starts_with('/') {
        SocketAddr::from_pathname(name)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={name:?}: expected an absolute path or @name"),
        ))
    }
}

/// Sends notifications to systemd (or a test standing in for it).
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
    /// Whether a failed send was logged (only the first one is).
    warned: Cell<bool>,
}

impl Notifier {
    /// From the process environment; `None` when not run under
    /// `Type=notify`, or (logged) when the variables are unusable.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok();
        let found = parse_env(&var, std::process::id()).and_then(|e| {
            e.map(|e| Self::new(&e.socket, e.watchdog).map_err(|err| err.to_string()))
                .transpose()
        });
        found.unwrap_or_else(|e| {
            warn!(error = %e, "systemd notification is off");
            None
        })
    }

    /// Notifies `socket` (a path or `@name`); pings every half `watchdog`.
    ///
    /// # Errors
    /// A bad address, or no socket could be made.
    pub fn new(socket: &str, watchdog: Option<Duration>) -> io::Result<Self> {
        let addr = socket_addr(socket)?;
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Self {
            socket: sock,
            addr,
            watchdog,
            warned: Cell::new(false),
        })
    }

    /// `READY=1`: every socket is bound; `status` is shown by systemctl.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// `STOPPING=1`: a shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\n");
    }

    /// `WATCHDOG=1`: the event loop is alive.
    pub fn ping(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// The watchdog timer the event loop pings on, if the watchdog is on.
    #[must_use]
    pub fn watchdog(&self) -> Watchdog {
        Watchdog {
            interval: self.watchdog.map(|t| {
                let mut i = tokio::time::interval((t / 2).max(Duration::from_millis(1)));
                i.set_missed_tick_behavior(MissedTickBehavior::Delay);
                i
            }),
        }
    }

    fn send(&self, msg: &str) {
        match self.socket.send_to_addr(msg.as_bytes(), &self.addr) {
            Ok(_) => debug!(msg = msg.trim_end(), "notified systemd"),
            Err(e) if !self.warned.replace(true) => {
                warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET); the watchdog may restart the node");
            }
            Err(_) => {}
        }
    }
}

/// The watchdog's timer, polled as one arm of the driver's `select!`
/// (`Default`: no watchdog).
#[derive(Debug, Default)]
pub struct Watchdog {
    interval: Option<Interval>,
}

impl Watchdog {
    /// Completes when a ping is due; never without a watchdog.
    pub async fn due(&mut self) {
        match self.interval.as_mut() {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_decides_socket_and_watchdog() {
        assert_eq!(parse_env(&env(&[]), 7), Ok(None));
        assert_eq!(parse_env(&env(&[("NOTIFY_SOCKET", "")]), 7), Ok(None));
        let e = parse_env(
            &env(&[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "30000000")]),
            7,
        );
        assert_eq!(
            e,
            Ok(Some(NotifyEnv {
                socket: "/run/n".into(),
                watchdog: Some(Duration::from_secs(30))
            }))
        );
        // The watchdog of another process (a parent's) is not ours.
        let other = parse_env(
            &env(&[
                ("NOTIFY_SOCKET", "@x"),
                ("WATCHDOG_USEC", "1000"),
                ("WATCHDOG_PID", "8"),
            ]),
            7,
        );
        assert_eq!(other.map(|e| e.map(|e| e.watchdog)), Ok(Some(None)));
        let ours = parse_env(
            &env(&[
                ("NOTIFY_SOCKET", "@x"),
                ("WATCHDOG_USEC", "1000"),
                ("WATCHDOG_PID", "7"),
            ]),
            7,
        );
        assert_eq!(
            ours.map(|e| e.map(|e| e.watchdog)),
            Ok(Some(Some(Duration::from_millis(1))))
        );
        for bad in ["0", "-5", "soon"] {
            let r = parse_env(&env(&[("NOTIFY_SOCKET", "/n"), ("WATCHDOG_USEC", bad)]), 7);
            assert!(r.is_err_and(|e| e.contains("WATCHDOG_USEC")), "{bad}");
        }
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        assert!(socket_addr("relative/path").is_err());
        assert!(socket_addr("vsock:2:1").is_err());
        assert!(socket_addr(&format!("/{}", "x".repeat(200))).is_err());
        let a = socket_addr("@scalesmall/notify").unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"scalesmall/notify"[..]));
        let p = socket_addr("/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifications_reach_a_path_and_an_abstract_socket() {
        let dir =
            std::env::temp_dir().join(format!("scalesmall-notify-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(path.to_str().unwrap(), None).unwrap();
        n.ready("listening");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=listening\n");
        n.ping();
        n.stopping();
        assert_eq!(recv(&listener), "WATCHDOG=1\n");
        assert_eq!(recv(&listener), "STOPPING=1\n");

        let name = format!("scalesmall-notify-unit-{}", std::process::id());
        let abs =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        abs.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Notifier::new(&format!("@{name}"), None).unwrap().ready("x");
        assert_eq!(recv(&abs), "READY=1\nSTATUS=x\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_listener_is_not_an_error() {
        let n = Notifier::new("@scalesmall-notify-nobody-listens", None).unwrap();
        n.ready("x");
        n.ping();
        assert!(n.warned.get(), "the failure was noted once");
    }

    // Paused time: the clock moves only when every task waits, so the test
    // measures the interval itself, not the machine (qemu rounds timers).
    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_due_every_half_timeout_and_never_without_one() {
        let n = Notifier::new("@x", Some(Duration::from_millis(100))).unwrap();
        let mut w = n.watchdog();
        w.due().await; // the first tick is immediate
        let t0 = tokio::time::Instant::now();
        w.due().await;
        w.due().await;
        let dt = t0.elapsed();
        assert!(
            dt == Duration::from_millis(100),
            "two ticks of half the timeout, took {dt:?}"
        );
        let mut off = Notifier::new("@x", None).unwrap().watchdog();
        let r = tokio::time::timeout(Duration::from_millis(200), off.due()).await;
        assert!(r.is_err(), "no watchdog: never due");
    }
}
