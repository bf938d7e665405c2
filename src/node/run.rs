//! The composition root of a node: [`start`] builds it from a [`Config`]
//! (data dir, node id and incarnation, own state, keys, interface and
//! sockets, protocol, driver, declared groups) and [`Node::run`] runs it
//! until a shutdown future completes. [`run`] does both, so a test can run
//! a node in-process. The control socket, the HTTP listener and the
//! signals belong to the layers above (`cli/run.rs`), which talk to the
//! node through [`Node::handle`].

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::clock::{MonoClock, os_seed};
use super::config::{Config, DeclaredGroup};
use super::driver::{Ask, Driver, Io, NodeHandle, RunInfo};
use super::fs::RealFs;
use super::key_admin::{KeyAdmin, KeySources};
use super::keys::{self, KeySource};
use super::notify::Notifier;
use super::renumber::Renumber;
use super::store::Store;
use super::tcp::ConnMsg;
use super::{NodeError, iface, netplan, tcp, udp};
use crate::model::NodeId;
use crate::protocol::{Chatter, NodeIdentity};
use crate::wire::{Codec, Keyring, Limits};

/// A node built and bound, not yet running.
pub struct Node {
    driver: Driver,
    handle: NodeHandle,
    requests: mpsc::Receiver<Ask>,
    conn_rx: mpsc::Receiver<ConnMsg>,
    io: Io,
    banner: String,
    id: NodeId,
    incarnation: u64,
    listening: String,
}

/// Builds the node of `cfg`: opens the data dir (a new incarnation), loads
/// the keys, binds its sockets on its interface, restores the protocol and
/// applies the declared groups. Call it inside a tokio runtime.
///
/// # Errors
/// The first step that fails, with its cause (docs/node.md, "Signals and
/// exit status").
pub fn start(cfg: &Config) -> Result<Node, NodeError> {
    let clock = MonoClock::start();
    let (store, id, incarnation) = open_store(cfg)?;
    let own = store.load_own(id)?;
    let markers = store.load_markers().unwrap_or_else(|e| {
        warn!(error = %e, "starting without the stored expiry markers");
        Vec::new()
    });
    let keyring = load_keys(cfg)?;
    let (io, net) = bind(cfg)?;
    let mut pcfg = cfg.protocol();
    pcfg.multicast = net.multicast;
    let info = RunInfo {
        listen: net.local,
        data_dir: cfg.data_dir.clone(),
        cluster: cfg.cluster.clone(),
        insecure: keyring.is_insecure(),
        leave_on_exit: cfg.leave_on_exit,
        max_frame: pcfg.max_frame,
        connect_timeout: Duration::from_millis(pcfg.connect_timeout),
    };
    let codec = Codec::new(
        &cfg.cluster,
        keyring,
        Limits {
            mtu: pcfg.mtu,
            max_frame: pcfg.max_frame,
        },
    );
    let identity = NodeIdentity {
        id,
        incarnation,
        addrs: net.addrs,
    };
    let seed = os_seed().map_err(|e| NodeError::Entropy(e.to_string()))?;
    let mut chatter = Chatter::new(pcfg, identity, codec, own, seed, clock.now())
        .map_err(|e| NodeError::Restore(e.to_string()))?;
    chatter.restore_markers(clock.now(), &markers);
    let (driver, handle, requests, conn_rx) = Driver::new(chatter, clock, store, info);
    let mut driver = driver.with_keys(KeyAdmin::new(KeySources {
        insecure: cfg.insecure,
        key_file: cfg.key_file.clone(),
        accept: cfg.accept_key_files.clone(),
        data_dir: cfg.data_dir.clone(),
    }));
    driver.reconcile(&cfg.groups)?;
    let banner = format!(
        "node {id} incarnation {incarnation} listening udp+tcp {}, data {}",
        net.banner,
        cfg.data_dir.display()
    );
    Ok(Node {
        driver,
        handle,
        requests,
        conn_rx,
        io,
        banner,
        id,
        incarnation,
        listening: net.listening,
    })
}

/// Builds the node of `cfg` and runs it until `shutdown` completes (without
/// a control socket: see [`Node::handle`]).
///
/// # Errors
/// As [`start`] and [`Node::run`].
pub async fn run(cfg: &Config, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    start(cfg)?.run(shutdown).await
}

impl Node {
    /// What the control layer holds to talk to the node.
    #[must_use]
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// A sender for declared groups to apply while running (the config
    /// re-read on SIGHUP).
    pub fn reloads(&mut self) -> mpsc::Sender<Vec<DeclaredGroup>> {
        self.driver.reloads()
    }

    /// The start banner after the version: id, incarnation, where it
    /// listens (every address, its multicast group and interface) and its
    /// data dir.
    #[must_use]
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Runs the node until `shutdown` completes, then leaves (if
    /// configured), sends a final announce and returns.
    ///
    /// # Errors
    /// None today (kept for the shell's errors to come).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
        info!(node = %self.id, incarnation = self.incarnation, listen = %self.listening, "started");
        self.driver
            .run(self.io, self.requests, self.conn_rx, shutdown)
            .await
    }
}

/// The data dir's store, the node's id (made on first start) and this
/// run's incarnation (one more than the last).
fn open_store(cfg: &Config) -> Result<(Store, NodeId, u64), NodeError> {
    let store = Store::open(&cfg.data_dir, Box::new(RealFs))?;
    let id = store.node_id(|| {
        os_seed()
            .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
            .map_err(|e| e.to_string())
    })?;
    let incarnation = store.bump_incarnation()?;
    Ok((store, id, incarnation))
}

/// The keyring `cfg` names (or the data dir's, or the generated one), with
/// a word about where it came from.
fn load_keys(cfg: &Config) -> Result<Keyring, NodeError> {
    let (keyring, source) = keys::load(
        cfg.insecure,
        cfg.key_file.as_deref(),
        &cfg.accept_key_files,
        &cfg.data_dir,
    )?;
    match &source {
        KeySource::Insecure => warn!(
            "INSECURE MODE (asked for by name): frames are neither secret nor authenticated; anyone on the network can forge claims"
        ),
        KeySource::Generated(p) => {
            eprintln!(
                "generated a new cluster key in {}: every board of a cluster needs the same key; copy this file to the \
                 other boards and point cluster.key_file at it (or give them all one key from `scalesmall keygen`)",
                p.display()
            );
        }
        KeySource::Keyring(_) => info!(
            "using the keyring file <data_dir>/keyring (`scalesmall keys`): it overrides cluster.key_file \
             and accept_key_files"
        ),
        KeySource::File(_) | KeySource::DataDir(_) => {}
    }
    Ok(keyring)
}

/// Where the node listens, as [`bind`] found it.
struct Bound {
    /// The first local address (`status` shows it).
    local: SocketAddr,
    /// The addresses the node advertises.
    addrs: Vec<SocketAddr>,
    /// Whether multicast is on.
    multicast: bool,
    /// Every local address, space-separated.
    listening: String,
    /// The banner's "listening" part.
    banner: String,
}

/// Picks the interface, plans the addresses and binds every socket.
fn bind(cfg: &Config) -> Result<(Io, Bound), NodeError> {
    let nic = iface::pick(cfg.interface.as_deref())?;
    let net = netplan::plan(cfg, &nic);
    for w in &net.warnings {
        warn!(interface = %nic.name, "{w}");
    }
    let mc = net.multicast;
    let udp = udp::bind(&net.listen, mc, &cfg.peers)?;
    let listener = tcp::listen(&net.listen)?;
    let local = udp
        .local
        .first()
        .copied()
        .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.port));
    let listening: Vec<String> = udp.local.iter().map(ToString::to_string).collect();
    let banner = format!(
        "{}{} on {}",
        listening.join(" "),
        mc.map_or_else(
            || " (no multicast)".to_owned(),
            |m| format!(" multicast {}", m.addr())
        ),
        nic.name,
    );
    let bound = Bound {
        local,
        listening: listening.join(" "),
        addrs: net
            .advertise
            .iter()
            .map(|ip| SocketAddr::new(*ip, local.port()))
            .collect(),
        multicast: mc.is_some(),
        banner,
    };
    let io = Io {
        udp,
        listener,
        notify: Notifier::from_env(),
        renumber: Renumber::new(cfg, &nic.name, net.advertise),
    };
    Ok((io, bound))
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::node::config::Overrides;
    use crate::node::request::{Reply, Request};

    /// A port free for both UDP and TCP on loopback.
    fn free_port() -> u16 {
        for _ in 0..50 {
            let Ok(udp) = std::net::UdpSocket::bind("127.0.0.1:0") else {
                continue;
            };
            let port = udp.local_addr().map_or(0, |a| a.port());
            if port != 0 && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
        panic!("no free port");
    }

    async fn ask(handle: &NodeHandle, req: Request) -> Reply {
        let (tx, rx) = oneshot::channel();
        handle.requests.send((req, tx)).await.expect("node running");
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("answered within 10 s")
            .expect("a reply")
    }

    /// A node built from a config runs in this process: it applies its
    /// declared groups, answers through its handle as through the control
    /// socket, and stops cleanly when its shutdown completes.
    #[tokio::test]
    async fn a_node_runs_in_process_answers_and_stops() {
        let dir = std::env::temp_dir().join(format!("scalesmall-inproc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("scalesmall.toml");
        let toml = "[[groups]]\nname = \"demo\"\nclaims = [{ range = \"0..0xff\", port = 80 }]\n";
        std::fs::write(&file, toml).expect("config");
        let data = dir.display().to_string();
        let env = move |k: &str| (k == "SCALESMALL_DATA_DIR").then(|| data.clone());
        let flags = Overrides::default()
            .with("node.port", Some(free_port()))
            .with("node.interface", Some("lo"))
            .with("node.multicast", Some(false))
            .with("cluster.insecure", Some(true));
        let cfg = Config::load(Some(&file), &env, &flags).expect("config loads");

        let node = start(&cfg).expect("node starts");
        let handle = node.handle();
        assert!(
            node.banner().contains("(no multicast) on lo"),
            "{}",
            node.banner()
        );
        let stop = CancellationToken::new();
        let running = tokio::spawn(node.run(stop.clone().cancelled_owned()));

        let Reply::Status(status) = ask(&handle, Request::Status).await else {
            panic!("no status");
        };
        let lookup = Request::Lookup {
            group: "demo".into(),
            key: "7".into(),
        };
        let Reply::Lookup(found) = ask(&handle, lookup).await else {
            panic!("no lookup");
        };
        assert_eq!(found.member, Some(true));
        let servers: Vec<(&str, u16)> = found
            .servers
            .iter()
            .map(|s| (s.node.as_str(), s.port))
            .collect();
        assert_eq!(
            servers,
            [(status.id.as_str(), 80)],
            "the declared claim serves key 7"
        );

        stop.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "stops cleanly within 10 s: {stopped:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
