//! systemd's notification protocol, with the test standing in for systemd
//! (these machines do not run systemd as PID 1): a Unix datagram socket as
//! `NOTIFY_SOCKET`.
//!
//! - A real `scalesmall run` process sends `READY=1` only once its UDP, TCP
//!   and control sockets are bound (the test checks all three the moment
//!   it arrives), pings `WATCHDOG=1` at half `WATCHDOG_USEC`, and sends
//!   `STOPPING=1` on SIGTERM.
//! - In process: a driver whose store stalls in `fsync` (an SD card that
//!   hangs; the fault is injected through the store's `Fs`, as the store's
//!   own tests inject theirs) stops pinging while the stall lasts, well past
//!   `WatchdogSec`, and pings again once it ends: the pings come from the
//!   event loop itself.
//!
//! Every wait has a deadline; the process is killed by PID on drop.

// Deadlines need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use scalesmall::node::clock::MonoClock;
use scalesmall::node::config::{Config, Overrides};
use scalesmall::node::driver::{Driver, Io, RunInfo};
use scalesmall::node::fs::{Fs, RealFs, Step, write_atomic_with};
use scalesmall::node::notify::Notifier;
use scalesmall::node::request::{Reply, Request};
use scalesmall::node::store::Store;
use scalesmall::node::{tcp, udp};
use scalesmall::protocol::{Chatter, NodeIdentity};
use scalesmall::wire::{Codec, Keyring, Limits};
use support::procs::{bin, free_port, wait_exit};

const DEADLINE: Duration = Duration::from_secs(20);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scalesmall-notify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The test's stand-in for systemd's notification socket.
struct Systemd {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Systemd {
    fn bind(dir: &Path) -> Systemd {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        Systemd { sock, path }
    }

    /// The next notification, or `None` if none comes within `wait`.
    fn next(&self, wait: Duration) -> Option<String> {
        self.sock
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .ok()?;
        let mut buf = [0u8; 512];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }

    /// Waits (with a deadline) for a notification containing `what`.
    fn wait_for(&self, what: &str) -> String {
        let end = Instant::now() + DEADLINE;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(m) if m.contains(what) => return m,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no {what} within {DEADLINE:?}");
    }
}

/// A child process killed by PID on drop.
struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn ready_comes_once_every_socket_is_bound_then_pings_then_stopping() {
    let dir = temp_dir("process");
    let systemd = Systemd::bind(&dir);
    let port = free_port();
    let socket = dir.join("control.sock");
    let child = Command::new(bin())
        .args([
            "run",
            "--insecure",
            "--no-multicast",
            "--interface",
            "lo",
            "--log-format",
            "compact",
        ])
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--socket")
        .arg(&socket)
        .env("NOTIFY_SOCKET", &systemd.path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scalesmall run starts");
    let mut node = Killed(Some(child));

    let ready = systemd.wait_for("READY=1");
    assert!(ready.contains("STATUS=listening on 127.0.0.1:"), "{ready}");
    // At this moment every socket is bound: the UDP port is taken, TCP
    // accepts, and the control socket answers.
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "UDP {port} not bound yet at READY=1"
    );
    let tcp: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(
        TcpStream::connect_timeout(&tcp, Duration::from_secs(5)).is_ok(),
        "TCP {port} not listening at READY=1"
    );
    let status = Command::new(bin())
        .args(["status", "--json", "--socket"])
        .arg(&socket)
        .output()
        .expect("status runs");
    assert!(status.status.success(), "status at READY=1: {status:?}");

    // Pings at half the 400 ms timeout.
    let t0 = Instant::now();
    systemd.wait_for("WATCHDOG=1");
    systemd.wait_for("WATCHDOG=1");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "pings too slow: {:?}",
        t0.elapsed()
    );

    let pid = node
        .0
        .as_ref()
        .map(|c| c.id().to_string())
        .unwrap_or_default();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success())
    );
    systemd.wait_for("STOPPING=1");
    // Waits on the exit itself (killed and `None` past the deadline).
    let code = node.0.take().and_then(|c| wait_exit(c, DEADLINE));
    assert!(
        code.is_some_and(|c| c.success()),
        "no clean exit within {DEADLINE:?} of SIGTERM: {code:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where the stalling file system is: armed (the next fsync stalls),
/// stalled (a write is stuck in it), released (the stall ends).
#[derive(Default)]
struct Stall {
    armed: bool,
    stalled: bool,
    released: bool,
}

/// A file system whose next `fsync` hangs until released: an SD card that
/// stalls. Everything else is the real file system.
#[derive(Clone, Default)]
struct StallingFs {
    state: Arc<(Mutex<Stall>, Condvar)>,
}

impl StallingFs {
    fn arm(&self) {
        self.state.0.lock().expect("lock").armed = true;
    }
    /// Waits until a write is stuck in the stalled fsync.
    fn wait_stalled(&self, wait: Duration) -> bool {
        let (lock, cv) = &*self.state;
        let g = lock.lock().expect("lock");
        let (g, _) = cv
            .wait_timeout_while(g, wait, |s| !s.stalled)
            .expect("lock");
        g.stalled
    }
    fn release(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().expect("lock").released = true;
        cv.notify_all();
    }
}

impl Fs for StallingFs {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        RealFs.read(path)
    }
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        write_atomic_with(path, bytes, |step| {
            let (lock, cv) = &*self.state;
            let mut g = lock.lock().expect("lock");
            if step == Step::Fsync && g.armed {
                g.armed = false;
                g.stalled = true;
                cv.notify_all();
                // Blocks this thread, which is the driver's whole runtime.
                let _g = cv.wait_while(g, |s| !s.released).expect("lock");
            }
            Ok(())
        })
    }
}

#[test]
fn a_store_stalled_in_fsync_stops_the_watchdog_pings_until_it_ends() {
    let dir = temp_dir("stall");
    let systemd = Systemd::bind(&dir);
    let watchdog_sec = Duration::from_millis(300);
    let fs = StallingFs::default();
    let data = dir.join("data");
    let data_s = data.display().to_string();
    let env = move |k: &str| (k == "SCALESMALL_DATA_DIR").then(|| data_s.clone());
    let cfg = Config::load(None, &env, &Overrides::default()).expect("config");
    let store = Store::open(&data, Box::new(fs.clone())).expect("store");
    let id = store.node_id(|| Ok(0x5eed)).expect("node id");
    let incarnation = store.bump_incarnation().expect("incarnation");
    let notify = Notifier::new(
        systemd.path.to_str().expect("utf-8 path"),
        Some(watchdog_sec),
    )
    .expect("notifier");

    let (ask_tx, ask_rx) = std_mpsc::channel::<Request>();
    let (reply_tx, reply_rx) = std_mpsc::channel::<Reply>();
    let driver_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let loopback = udp::Listen {
                addr: ([127, 0, 0, 1], 0).into(),
                freebind: false,
            };
            let udp = udp::bind(&[loopback], None, &[]).expect("udp");
            let local = *udp.local.first().expect("a bound socket");
            let listener = tcp::listen(&[udp::Listen {
                addr: local,
                freebind: false,
            }])
            .expect("tcp");
            let mut pcfg = cfg.protocol();
            pcfg.multicast = false;
            let limits = Limits {
                mtu: pcfg.mtu,
                max_frame: pcfg.max_frame,
            };
            let info = RunInfo {
                listen: local,
                data_dir: cfg.data_dir.clone(),
                cluster: cfg.cluster.clone(),
                insecure: true,
                leave_on_exit: false,
                max_frame: pcfg.max_frame,
                connect_timeout: Duration::from_millis(pcfg.connect_timeout),
            };
            let clock = MonoClock::start();
            let codec = Codec::new(&cfg.cluster, Keyring::insecure(), limits);
            let me = NodeIdentity {
                id,
                incarnation,
                addrs: vec![local],
            };
            let chatter =
                Chatter::new(pcfg, me, codec, None, [7; 32], clock.now()).expect("chatter");
            let (driver, handle, requests, conn_rx) = Driver::new(chatter, clock, store, info);
            let stop = tokio_util::sync::CancellationToken::new();
            // The test's requests, passed on from its thread.
            let asks = {
                let stop = stop.clone();
                tokio::task::spawn_blocking(move || {
                    while let Ok(req) = ask_rx.recv() {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        if handle.requests.blocking_send((req, tx)).is_err() {
                            break;
                        }
                        if let Ok(r) = rx.blocking_recv() {
                            let _ = reply_tx.send(r);
                        }
                    }
                    stop.cancel();
                })
            };
            let io = Io {
                udp,
                listener,
                notify: Some(notify),
                renumber: None,
            };
            let stopped = stop.clone();
            let r = driver
                .run(
                    io,
                    requests,
                    conn_rx,
                    async move { stopped.cancelled().await },
                )
                .await;
            let _ = asks.await;
            r
        })
    });

    systemd.wait_for("READY=1");
    systemd.wait_for("WATCHDOG=1");
    systemd.wait_for("WATCHDOG=1");

    // A join must be made durable: the store's fsync stalls, in the loop.
    fs.arm();
    ask_tx
        .send(Request::Join {
            group: "demo".into(),
        })
        .expect("driver alive");
    assert!(fs.wait_stalled(DEADLINE), "the write never reached fsync");
    // A ping sent before the stall is already queued (a Unix datagram is
    // delivered by the send itself): take those, then expect silence.
    while systemd.next(Duration::from_millis(1)).is_some() {}
    let stalled_at = Instant::now();
    let quiet_for = watchdog_sec * 4;
    while let Some(left) = (stalled_at + quiet_for).checked_duration_since(Instant::now()) {
        if let Some(m) = systemd.next(left) {
            panic!(
                "{m:?} came {:?} into the stall: the pings do not come from the stuck loop",
                stalled_at.elapsed()
            );
        }
    }
    // systemd would have restarted it: no ping for 4 x WatchdogSec.

    fs.release();
    let t = Instant::now();
    systemd.wait_for("WATCHDOG=1");
    assert!(
        t.elapsed() < watchdog_sec,
        "pings did not resume: {:?}",
        t.elapsed()
    );
    let reply = reply_rx
        .recv_timeout(DEADLINE)
        .expect("the join is answered");
    assert!(
        matches!(reply, Reply::Written { changed: true, .. }),
        "{reply:?}"
    );

    drop(ask_tx);
    systemd.wait_for("STOPPING=1");
    let r = driver_thread.join().expect("driver thread");
    assert!(r.is_ok(), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
