//! Real `scalesmall` processes for integration tests.
//!
//! As root, every node runs inside a network namespace the test creates
//! (multicast on that namespace's own `lo`), so nothing on the host's
//! network changes; otherwise nodes use loopback without multicast, with
//! seeds. No test ever sends multicast onto the host's real network.
//!
//! Every process is killed by PID when its guard drops (also when a test
//! fails), the namespace is deleted, and every wait has a deadline; nothing
//! waits by sleeping: readiness is the start banner, propagation is a
//! `watch` event.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `scalesmall` binary: cargo's for integration tests, else
/// `$SCALESMALL_BIN`, else `target/release/scalesmall` (for the measurement
/// example, which includes this file).
pub fn bin() -> String {
    option_env!("CARGO_BIN_EXE_scalesmall")
        .map(str::to_owned)
        .or_else(|| std::env::var("SCALESMALL_BIN").ok())
        .unwrap_or_else(|| "target/release/scalesmall".to_owned())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free UDP+TCP port on loopback (bound and released: a small race the
/// tests accept).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A network namespace with multicast on its `lo`, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates one if running as root and `ip` works; `None` otherwise (or
    /// with `SCALESMALL_TEST_NO_NETNS=1`, to test the loopback path as root).
    pub fn create() -> Option<Netns> {
        if !is_root() || std::env::var_os("SCALESMALL_TEST_NO_NETNS").is_some() {
            return None;
        }
        let name = format!("ss-test-{}", unique());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns { name };
        let n = ns.name.as_str();
        let all = ok(&["-n", n, "link", "set", "lo", "up"])
            && ok(&["-n", n, "link", "set", "lo", "multicast", "on"])
            && ok(&["-n", n, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        all.then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Where the nodes of one test run.
pub struct Env {
    pub netns: Option<Netns>,
    pub multicast_port: u16,
    pub key: PathBuf,
    pub dir: PathBuf,
}

impl Env {
    /// A fresh environment: a namespace when root, a temp dir, a key.
    pub fn new() -> Env {
        Env::with_netns(Netns::create())
    }

    /// A fresh environment on the host's loopback even as root (no
    /// namespace, no multicast, seeds): for tests whose own client (an HTTP
    /// client, a browser) must reach the nodes' HTTP listener, which would
    /// otherwise sit inside the namespace.
    pub fn loopback() -> Env {
        Env::with_netns(None)
    }

    fn with_netns(netns: Option<Netns>) -> Env {
        let dir = std::env::temp_dir().join(format!("scalesmall-it-{}", unique()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = dir.join("cluster.key");
        let out = Command::new(bin())
            .arg("keygen")
            .output()
            .expect("keygen runs");
        std::fs::write(&key, &out.stdout).expect("write key");
        // As the Ansible role installs it (a world-writable key is refused,
        // whatever the umask).
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .expect("chmod key");
        Env {
            netns,
            multicast_port: free_port(),
            key,
            dir,
        }
    }

    /// Whether nodes use multicast (inside a namespace).
    pub fn multicast(&self) -> bool {
        self.netns.is_some()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running node, killed (by PID) on drop.
pub struct Node {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub id: String,
    pub log: PathBuf,
    args: Vec<String>,
    netns: Option<String>,
    /// A command the binary runs under (e.g. `nsenter` into a mount
    /// namespace), before its own path.
    wrap: Vec<String>,
    banner: String,
}

impl Node {
    /// Starts a node with `extra` args and waits (up to 20 s) for its start
    /// banner. `seeds` are the ports of nodes to seed (without multicast).
    pub fn start(env: &Env, name: &str, seeds: &[u16], extra: &[&str]) -> Node {
        Node::start_wrapped(env, name, seeds, extra, None, &[])
    }

    /// [`Node::start`] with the data dir at `data` (the control socket and
    /// the log stay in the node's own dir) and the binary run under `wrap`
    /// (e.g. `nsenter -t PID -m --`, into a mount namespace holding `data`).
    pub fn start_wrapped(
        env: &Env,
        name: &str,
        seeds: &[u16],
        extra: &[&str],
        data: Option<&Path>,
        wrap: &[String],
    ) -> Node {
        let port = free_port();
        let dir = env.dir.join(name);
        std::fs::create_dir_all(&dir).expect("node dir");
        let socket = dir.join("control.sock");
        let mut args: Vec<String> = vec![
            "run".into(),
            "--data-dir".into(),
            data.unwrap_or(&dir).display().to_string(),
            "--port".into(),
            port.to_string(),
            "--interface".into(),
            "lo".into(),
            "--socket".into(),
            socket.display().to_string(),
            "--log-format".into(),
            "compact".into(),
        ];
        if !extra.contains(&"--key-file") {
            args.extend(["--key-file".into(), env.key.display().to_string()]);
        }
        if env.multicast() {
            args.extend([
                "--multicast-loop".into(),
                "--multicast-port".into(),
                env.multicast_port.to_string(),
            ]);
        } else {
            args.push("--no-multicast".into());
        }
        for s in seeds {
            args.push("--peer".into());
            args.push(format!("127.0.0.1:{s}"));
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut n = Node {
            child: None,
            port,
            dir: dir.clone(),
            socket,
            id: String::new(),
            log: dir.join("node.log"),
            args,
            netns: env.netns.as_ref().map(|n| n.name.clone()),
            wrap: wrap.to_vec(),
            banner: String::new(),
        };
        n.launch();
        n
    }

    /// Starts a node inside the network namespace `netns` (one the test
    /// created) with no network flags but `extra`: only its data dir,
    /// control socket, log format and the environment's key are given, so
    /// it picks its interface, addresses, port and multicast as on a board.
    /// Waits (up to 20 s) for its start banner.
    pub fn start_bare(env: &Env, netns: &str, name: &str, extra: &[&str]) -> Node {
        let dir = env.dir.join(name);
        std::fs::create_dir_all(&dir).expect("node dir");
        let socket = dir.join("control.sock");
        let mut args: Vec<String> = vec![
            "run".into(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--socket".into(),
            socket.display().to_string(),
            "--log-format".into(),
            "compact".into(),
            "--key-file".into(),
            env.key.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut n = Node {
            child: None,
            port: 29999,
            dir: dir.clone(),
            socket,
            id: String::new(),
            log: dir.join("node.log"),
            args,
            netns: Some(netns.to_owned()),
            wrap: Vec::new(),
            banner: String::new(),
        };
        n.launch();
        n
    }

    /// The start banner's line, as the node printed it (set by `launch`).
    pub fn banner(&self) -> &str {
        &self.banner
    }

    fn launch(&mut self) {
        let mut prog: Vec<String> = self.wrap.clone();
        prog.push(bin());
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(&prog);
                c
            }
            None => {
                let mut c = Command::new(&prog[0]);
                c.args(&prog[1..]);
                c
            }
        };
        let log = std::fs::File::create(&self.log).expect("log file");
        let mut child = cmd
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn scalesmall run");
        let stdout = child.stdout.take().expect("stdout");
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no start banner; log:\n{}", self.log_text()));
        assert!(banner.contains("listening"), "unexpected banner {banner:?}");
        self.banner.clone_from(&banner);
        self.id = banner
            .split_whitespace()
            .skip_while(|w| *w != "node")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// kill -9 (a power cut).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the same node again (same data dir).
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// SIGTERM, and the exit status if it exits within `bound` (else it is
    /// killed).
    pub fn terminate(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        self.stop_with("TERM", bound)
    }

    /// Sends `sig` (a `kill` signal name) and waits for the exit, up to
    /// `bound` (then SIGKILL, and `None`).
    pub fn stop_with(&mut self, sig: &str, bound: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.take()?;
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &c.id().to_string()])
            .status();
        wait_exit(c, bound)
    }

    /// Runs a control command against this node.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .expect("run the CLI")
    }

    /// A control command's JSON reply (asserting success).
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ctl(&a);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON reply")
    }

    /// Starts `watch --json` on this node and waits until it is subscribed.
    pub fn watch(&self) -> Watch {
        let mut child = Command::new(bin())
            .args(["watch", "--json", "--socket"])
            .arg(&self.socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let w = Watch {
            child,
            rx,
            seen: std::cell::RefCell::new(Vec::new()),
        };
        w.until(Duration::from_secs(10), |e| e["event"] == "watching")
            .expect("watch subscribed");
        w
    }

    /// Waits until `check` holds, up to `within`: re-checked at once and
    /// after every event this node's `watch` stream reports (a change of
    /// its view, a peer's liveness, an auto-claim write); states that come
    /// with no event of their own (a log line, a peer counter) are
    /// re-checked when no event arrived for half a second.
    pub fn eventually(&self, within: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        let w = self.watch();
        loop {
            if check() {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            w.next(left.min(Duration::from_millis(500)));
        }
    }

    /// The ids of the servers of `key` in `group` (`lookup --json`).
    pub fn servers(&self, group: &str, key: &str) -> Vec<String> {
        self.json(&["lookup", group, key])["servers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["node"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Where this node holds peer `id` (`peers --json`).
    pub fn peer_addr(&self, id: &str) -> Option<String> {
        self.json(&["peers"])["peers"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["addr"].as_str().map(str::to_owned))
    }

    /// The addresses this node advertises (`status --json`).
    pub fn addrs(&self) -> Vec<String> {
        self.json(&["status"])["addrs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `watch --json` stream, killed on drop.
pub struct Watch {
    child: Child,
    rx: mpsc::Receiver<String>,
    /// Every event line seen so far (for failure messages).
    pub seen: std::cell::RefCell<Vec<String>>,
}

impl Watch {
    /// Waits until an event satisfies `pred`, up to `within`.
    pub fn until(
        &self,
        within: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.rx.recv_timeout(left).ok()?;
            self.seen.borrow_mut().push(line.clone());
            let v: serde_json::Value = serde_json::from_str(&line).ok()?;
            if pred(&v) {
                return Some(v);
            }
        }
    }

    /// The next event, if one arrives within `within`.
    pub fn next(&self, within: Duration) -> Option<serde_json::Value> {
        let line = self.rx.recv_timeout(within).ok()?;
        self.seen.borrow_mut().push(line.clone());
        serde_json::from_str(&line).ok()
    }

    /// The events seen, one per line.
    pub fn history(&self) -> String {
        self.seen.borrow().join("\n")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit, up to `bound`: the exit is awaited (a thread
/// blocks in `wait`), not polled. At the deadline the child is killed by
/// PID and `None` returned.
pub fn wait_exit(mut child: Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(bound) {
        Ok(Ok(st)) => Some(st),
        _ => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            None
        }
    }
}
