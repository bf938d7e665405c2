//! `Driver`: the thin tokio shell around [`Chatter`]. It owns the sockets,
//! the timer, the store and the request channel, feeds every input to the
//! protocol, and carries out its outputs in the documented order: persist
//! (durably, before anything is sent), transmit, events. It holds no
//! protocol logic.
//!
//! Requests from the control layer arrive on a channel and are answered
//! after any write they cause is durable; a write the store refuses (a
//! read-only or full data dir) is undone by the protocol and answered
//! `refused: not persisted: ...` (docs/node.md). Events go to a broadcast
//! channel for `watch`. Declared groups (the config file's `[[groups]]`, at start
//! and again on SIGHUP) arrive on their own channel ([`Driver::reloads`])
//! and are applied as desired state ([`Driver::reconcile`]).

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::model::{GroupName, KeyRange, Kind, NodeId, TopologyFilter, key_hash};
use crate::protocol::{
    Chatter, Command, ConnEvent, ConnId, Event, Millis, RETRY_AFTER, Transmit, Via,
};

use super::api::{
    AutoView, Counters, GroupView, ItemView, LookupReply, MemberView, Metrics, PeerView,
    PolicyMismatchView, Reply, Request, ServerView, Status, WatchEvent, arch,
};
use super::clock::{MonoClock, Stopwatch};
use super::config::DeclaredGroup;
use super::error::NodeError;
use super::key_admin::KeyAdmin;
use super::notify::{Notifier, Watchdog};
use super::renumber::{self, Rebound, Renumber};
use super::store::{Store, StoreError};
use super::tcp::{self, ConnMsg};
use super::udp::UdpSockets;
use super::unicast::Unicast;

mod keys;

/// How recent a peer's announce must be to count for `converged` (ms).
const CONVERGED_WINDOW: u64 = 30_000;
/// At shutdown, how long to let the last tree steps connect and send.
const DRAIN: Duration = Duration::from_millis(2_000);
/// ... and how long a quiet moment ends the drain early.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// A request and where to send its reply.
pub type Ask = (Request, oneshot::Sender<Reply>);

/// What the control layer holds to talk to the running node.
#[derive(Clone)]
pub struct NodeHandle {
    /// Requests in.
    pub requests: mpsc::Sender<Ask>,
    /// Changes out (subscribe for `watch`).
    pub events: broadcast::Sender<WatchEvent>,
}

/// Facts about this run that `status` shows.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The cluster name.
    pub cluster: String,
    /// Insecure mode.
    pub insecure: bool,
    /// Retract own items on shutdown.
    pub leave_on_exit: bool,
    /// Largest TCP frame.
    pub max_frame: usize,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

/// The running node's shell.
pub struct Driver {
    chatter: Chatter,
    clock: MonoClock,
    store: Store,
    info: RunInfo,
    conns: BTreeMap<ConnId, mpsc::Sender<Vec<u8>>>,
    conn_tx: mpsc::Sender<ConnMsg>,
    events: broadcast::Sender<WatchEvent>,
    group_addr: Option<SocketAddr>,
    stopping: bool,
    tasks: TaskTracker,
    /// Inputs handled and seconds spent in the protocol on them.
    inputs: u64,
    input_seconds: f64,
    /// Declared groups to apply (SIGHUP), if [`Driver::reloads`] was called.
    reload_rx: Option<mpsc::Receiver<Vec<DeclaredGroup>>>,
    /// The groups the config declared when last applied (`None`: not yet
    /// read from the store).
    declared: Option<Vec<GroupName>>,
    /// Expiry markers not stored yet (a failed write is tried again 10 s
    /// later, at the next input), and whether that failure was logged.
    markers_unsaved: Option<Vec<(NodeId, u64)>>,
    markers_retry: Millis,
    markers_warned: bool,
    /// Declared groups whose writes the store refused, applied again then.
    declared_retry: Option<(Vec<DeclaredGroup>, Millis)>,
    /// The last store of own state failed (logged once per streak).
    persist_failing: bool,
    /// The keyring commands ([`Driver::with_keys`]).
    keys: Option<KeyAdmin>,
}

/// The sockets the driver reads.
pub struct Io {
    /// UDP.
    pub udp: UdpSockets,
    /// TCP listeners.
    pub listener: tcp::Listeners,
    /// systemd's notification socket (`Type=notify`): `run` sends
    /// `READY=1` as it starts, so bind every socket (the control socket
    /// too) before calling it; its event loop pings the watchdog.
    pub notify: Option<Notifier>,
    /// Follows the interface's addresses (`None`: configured addresses).
    pub renumber: Option<Renumber>,
}

impl Driver {
    /// A driver for `chatter`; returns it with the handle for the control layer
    /// and the receiving ends it runs on.
    #[must_use]
    pub fn new(
        chatter: Chatter,
        clock: MonoClock,
        store: Store,
        info: RunInfo,
    ) -> (
        Self,
        NodeHandle,
        mpsc::Receiver<Ask>,
        mpsc::Receiver<ConnMsg>,
    ) {
        let (req_tx, req_rx) = mpsc::channel(64);
        let (conn_tx, conn_rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(1024);
        let handle = NodeHandle {
            requests: req_tx,
            events: events.clone(),
        };
        (
            Self {
                chatter,
                clock,
                store,
                info,
                conns: BTreeMap::new(),
                conn_tx,
                events,
                group_addr: None,
                markers_unsaved: None,
                markers_retry: Millis::ZERO,
                markers_warned: false,
                declared_retry: None,
                persist_failing: false,
                keys: None,
                stopping: false,
                tasks: TaskTracker::new(),
                inputs: 0,
                input_seconds: 0.0,
                reload_rx: None,
                declared: None,
            },
            handle,
            req_rx,
            conn_rx,
        )
    }

    /// The protocol instance (for tests and status).
    #[must_use]
    pub fn chatter(&self) -> &Chatter {
        &self.chatter
    }

    /// A sender for declared groups to apply while running (the config
    /// file re-read on SIGHUP); `run` applies each with [`Driver::reconcile`].
    pub fn reloads(&mut self) -> mpsc::Sender<Vec<DeclaredGroup>> {
        let (tx, rx) = mpsc::channel(4);
        self.reload_rx = Some(rx);
        tx
    }

    /// Makes the node's own items match the declared groups (desired
    /// state): joins each declared group, claims each declared range
    /// (priority and port included), releases its other claims there
    /// (`claims = []`: all of them), puts each `auto = true` group in auto
    /// mode (its claims are then auto-claim's, none released here) and
    /// takes every other declared group out of it (`Command::Manual`, also
    /// when `claim --auto` put it there), and leaves every group that was
    /// declared when this last ran (also in an earlier run: the list is in
    /// the data dir) but no longer is. Groups never declared are left to the
    /// CLI. Logs each change once it is durable; returns how many writes
    /// changed something.
    ///
    /// # Errors
    /// [`NodeError::Persist`] if the result cannot be made durable: every
    /// change is undone (a write takes effect only once durable) and the
    /// same groups are applied again [`RETRY_AFTER`] ms later, while the
    /// node runs.
    pub fn reconcile(&mut self, groups: &[DeclaredGroup]) -> Result<usize, NodeError> {
        let now = self.clock.now();
        self.declared_retry = None;
        let previous = match self.declared.take() {
            Some(d) => d,
            None => self.store.load_declared().unwrap_or_else(|e| {
                warn!(error = %e, "ignoring the list of previously declared groups");
                Vec::new()
            }),
        };
        let mut changes: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
        for gone in previous
            .iter()
            .filter(|p| !groups.iter().any(|g| g.name == **p))
        {
            if self.declare(now, Command::Leave(gone.clone())) {
                let gone = gone.clone();
                changes.push(Box::new(move || {
                    info!(group = %gone, "left the group: no longer declared in the config");
                }));
            }
        }
        for g in groups {
            self.declare_group(now, g, &mut changes);
        }
        // Own items first: a crash in between leaves the old list, and
        // leaving again changes nothing.
        if let Err(e) = self.persist(now) {
            self.declared = Some(previous);
            self.declared_retry = Some((groups.to_vec(), now.plus(RETRY_AFTER)));
            return Err(NodeError::Persist(e));
        }
        let n = changes.len();
        for log in changes {
            log();
        }
        let names: Vec<GroupName> = groups.iter().map(|g| g.name.clone()).collect();
        if names != previous
            && let Err(e) = self.store.save_declared(&names)
        {
            warn!(error = %e, "cannot record the declared groups: a group taken out of the config \
                 after a restart may not be left");
        }
        self.declared = Some(names);
        Ok(n)
    }

    /// The writes of one declared group (see [`Driver::reconcile`]); each
    /// change's log line is kept in `changes`.
    fn declare_group(
        &mut self,
        now: Millis,
        g: &DeclaredGroup,
        changes: &mut Vec<Box<dyn FnOnce() + Send>>,
    ) {
        let me = self.chatter.identity().id;
        let name = g.name.clone();
        if self.declare(now, Command::Join(name.clone())) {
            let name = name.clone();
            changes.push(Box::new(move || {
                info!(group = %name, "joined the group (declared in the config)");
            }));
        }
        if let Some(a) = g.auto {
            // Auto mode picks the claims: none are released here.
            let auto = Command::Auto {
                group: name.clone(),
                weight: a.weight,
                priority: a.priority,
                port: a.port,
            };
            if self.declare(now, auto) {
                changes.push(Box::new(move || {
                    info!(group = %name, weight = a.weight, port = a.port,
                        "auto mode on (declared in the config)");
                }));
            }
            return;
        }
        let auto_on = self
            .chatter
            .db()
            .auto_members(name.as_str())
            .iter()
            .any(|m| m.0 == me);
        if auto_on && self.declare(now, Command::Manual(name.clone())) {
            let name = name.clone();
            changes.push(Box::new(move || {
                info!(group = %name, "auto mode off: the config declares the group without auto = true; \
                    its claims are now the ones the config lists");
            }));
        }
        for c in &g.claims {
            let claim = Command::Claim {
                group: name.clone(),
                range: c.range,
                priority: c.priority,
                port: c.port,
            };
            if self.declare(now, claim) {
                let (name, range, priority, port) = (name.clone(), c.range, c.priority, c.port);
                changes.push(Box::new(move || {
                    info!(group = %name, range = %range, priority, port,
                        "claimed (declared in the config)");
                }));
            }
        }
        let stale: Vec<KeyRange> = self
            .chatter
            .db()
            .topology(
                name.as_str(),
                TopologyFilter {
                    kind: Some(Kind::Serve),
                    live_only: true,
                    member: Some(me),
                },
            )
            .map(|i| i.range())
            .filter(|r| !g.claims.iter().any(|c| c.range == *r))
            .collect();
        for range in stale {
            let release = Command::Release {
                group: name.clone(),
                range,
            };
            if self.declare(now, release) {
                let name = name.clone();
                changes.push(Box::new(move || {
                    info!(group = %name, range = %range, "released: not declared in the config");
                }));
            }
        }
    }

    /// Applies declared groups while running (SIGHUP, or again after the
    /// store refused them), logging the outcome.
    fn apply_declared(&mut self, groups: &[DeclaredGroup]) {
        match self.reconcile(groups) {
            Ok(changes) => {
                info!(
                    groups = groups.len(),
                    changes, "applied the declared groups of the config"
                );
            }
            Err(e) => warn!(
                error = %e,
                retry_secs = RETRY_AFTER / 1000,
                "the declared groups of the config are not applied: nothing changed; trying again"
            ),
        }
    }

    /// One declared write; whether it changed anything (a refusal is logged).
    fn declare(&mut self, now: Millis, cmd: Command) -> bool {
        let before = self.chatter.db().clock();
        match self.chatter.handle_command(now, cmd) {
            Ok(()) => self.chatter.db().clock() > before,
            Err(e) => {
                warn!(error = %e, "a declared change was refused");
                false
            }
        }
    }

    /// Runs until `shutdown` completes, then leaves (if configured), sends a
    /// final announce and returns. A store that refuses own state does not
    /// stop the node: the writes are undone and refused (see
    /// `Driver::persist`).
    ///
    /// # Errors
    /// None today (kept for the shell's errors to come).
    pub async fn run(
        mut self,
        io: Io,
        mut requests: mpsc::Receiver<Ask>,
        mut conn_rx: mpsc::Receiver<ConnMsg>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        self.group_addr = io.udp.group;
        let mut unicast = io.udp.unicast;
        let multicast = io.udp.multicast;
        let mut listener = io.listener;
        let mut renumber = io.renumber;
        let mut addr_check = tokio::time::interval(renumber::CHECK_EVERY);
        addr_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ubuf = vec![0u8; 65_536];
        let mut mbuf = vec![0u8; 65_536];
        let mut reloads = self.reload_rx.take();
        let notify = io.notify;
        let mut watchdog = notify
            .as_ref()
            .map_or_else(Watchdog::default, Notifier::watchdog);
        if let Some(n) = &notify {
            n.ready(&format!("listening on {}", self.info.listen));
        }
        tokio::pin!(shutdown);
        loop {
            // A refused store is logged there; the node goes on.
            let _ = self.pump(&unicast).await;
            let wake = self.chatter.poll_timeout().unwrap_or(Millis(u64::MAX / 4));
            let retry = self.declared_retry.as_ref().map(|(_, at)| *at);
            let deadline = self.clock.instant(retry.map_or(wake, |r| r.min(wake)));
            let mut watch: Option<Stopwatch> = None;
            let mut rebound = None;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // In this loop, not a task of its own: a stuck loop stops
                // the pings and systemd restarts the node.
                () = watchdog.due() => {
                    if let Some(n) = &notify {
                        n.ping();
                    }
                }
                r = unicast.recv_from(&mut ubuf) => {
                    if let Ok((n, from)) = r {
                        watch = Some(Stopwatch::start());
                        let now = self.clock.now();
                        self.chatter.handle_datagram(now, from, Via::Unicast, ubuf.get(..n).unwrap_or(&[]));
                    }
                }
                r = recv_opt(multicast.as_ref(), &mut mbuf) => {
                    if let Ok((n, from)) = r {
                        watch = Some(Stopwatch::start());
                        let now = self.clock.now();
                        self.chatter.handle_datagram(now, from, Via::Multicast, mbuf.get(..n).unwrap_or(&[]));
                    }
                }
                r = listener.accept() => {
                    if let Ok((stream, from)) = r {
                        let now = self.clock.now();
                        let _ = stream.set_nodelay(true);
                        let conn = self.chatter.handle_accept(now, from);
                        let (tx, rx) = mpsc::channel(tcp::QUEUE);
                        self.conns.insert(conn, tx);
                        self.tasks.spawn(tcp::serve(conn, stream, rx, self.info.max_frame, self.conn_tx.clone()));
                    }
                }
                Some(msg) = conn_rx.recv() => {
                    watch = Some(Stopwatch::start());
                    self.on_conn(msg);
                }
                Some((req, reply)) = requests.recv() => {
                    let answer = self.answer(req, &unicast).await;
                    let _ = reply.send(answer);
                }
                _ = addr_check.tick(), if renumber.is_some() => {
                    rebound = renumber.as_mut().and_then(Self::follow_addresses);
                }
                groups = recv_or_pending(reloads.as_mut()) => {
                    watch = Some(Stopwatch::start());
                    self.apply_declared(&groups);
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    watch = Some(Stopwatch::start());
                    let now = self.clock.now();
                    if retry.is_some_and(|r| now >= r)
                        && let Some((groups, _)) = self.declared_retry.take()
                    {
                        self.apply_declared(&groups);
                    }
                    if now >= wake {
                        self.chatter.handle_timeout(now);
                    }
                }
            }
            if let Some(r) = rebound {
                let addrs = renumber
                    .as_ref()
                    .map(|w| w.socket_addrs(&r.advertise))
                    .unwrap_or_default();
                if let Some((u, l)) = r.sockets {
                    self.info.listen = u.local_addrs().first().copied().unwrap_or(self.info.listen);
                    unicast = u;
                    listener = l;
                }
                let now = self.clock.now();
                self.chatter.set_addrs(now, addrs);
            }
            if let Some(w) = watch {
                self.inputs += 1;
                self.input_seconds += w.seconds();
            }
        }
        if let Some(n) = &notify {
            n.stopping();
        }
        self.stop(&unicast).await?;
        self.drain(&unicast, &mut conn_rx).await
    }

    /// The interface's addresses changed: new sockets for them (see
    /// `renumber.rs`); `None` if nothing changed or the bind failed (tried
    /// again at the next check).
    fn follow_addresses(w: &mut Renumber) -> Option<Rebound> {
        let plan = w.check()?;
        let old = w.current().to_vec();
        match w.rebind(&plan) {
            Ok(r) => {
                info!(from = ?old, to = ?r.advertise, "this board's address changed: listening and advertising the new one");
                Some(r)
            }
            Err(e) => {
                warn!(from = ?old, to = ?plan.advertise, "this board's address changed but the new one cannot be bound yet: {e}");
                None
            }
        }
    }

    /// The shutdown sequence after the signal.
    async fn stop(&mut self, unicast: &Unicast) -> Result<(), NodeError> {
        self.stopping = true;
        let now = self.clock.now();
        if self.info.leave_on_exit {
            let _ = self.chatter.handle_command(now, Command::LeaveAll);
            match self.persist(now) {
                Ok(()) => info!("left every group (leave-on-exit)"),
                Err(e) => {
                    warn!(error = %e, "leave-on-exit refused: not persisted; the others keep our \
                    items until they expire this node")
                }
            }
        }
        self.chatter.announce_now(now);
        let _ = self.pump(unicast).await;
        Ok(())
    }

    /// Lets the last tree steps (a leave-on-exit retraction) connect and
    /// send, for at most [`DRAIN`]; then closes every connection and waits,
    /// briefly, for their tasks to flush.
    async fn drain(
        &mut self,
        unicast: &Unicast,
        conn_rx: &mut mpsc::Receiver<ConnMsg>,
    ) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + DRAIN;
        loop {
            let quiet = tokio::time::sleep(DRAIN_QUIET);
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                () = quiet => break,
                Some(msg) = conn_rx.recv() => {
                    self.on_conn(msg);
                    let _ = self.pump(unicast).await;
                }
            }
        }
        self.conns.clear();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.tasks.wait()).await;
        Ok(())
    }

    fn on_conn(&mut self, msg: ConnMsg) {
        let now = self.clock.now();
        match msg {
            ConnMsg::Opened(conn, tx) => {
                self.conns.insert(conn, tx);
                self.chatter.handle_conn_event(now, conn, ConnEvent::Opened);
            }
            ConnMsg::Failed(conn) => {
                self.conns.remove(&conn);
                self.chatter.handle_conn_event(now, conn, ConnEvent::Failed);
            }
            ConnMsg::Closed(conn) => {
                self.conns.remove(&conn);
                self.chatter.handle_conn_event(now, conn, ConnEvent::Closed);
            }
            ConnMsg::Frame(conn, bytes) => self.chatter.handle_frame(now, conn, &bytes),
        }
    }

    /// Makes own state durable, then the protocol releases what it held;
    /// if the store refuses it (a read-only or full data dir), the protocol
    /// undoes the writes it carried and the store's error is returned (the
    /// first of a streak is logged as a warning). Stores the expiry markers
    /// too, best effort.
    fn persist(&mut self, now: Millis) -> Result<(), StoreError> {
        let mut outcome = Ok(());
        while let Some(p) = self.chatter.poll_persist() {
            match self.store.save_own(&p) {
                Ok(()) => {
                    self.chatter.handle_persisted(now, p.clock);
                    if std::mem::take(&mut self.persist_failing) {
                        info!("own state is stored again: writes take effect");
                    }
                }
                Err(e) => {
                    self.chatter.handle_persist_failed(now, p.clock);
                    if std::mem::replace(&mut self.persist_failing, true) {
                        debug!(error = %e, "own state not stored: writes refused and undone");
                    } else {
                        warn!(error = %e, "cannot store own state: writes are refused and undone until \
                             the data dir is writable again (the node's own writes are retried)");
                    }
                    outcome = Err(e);
                }
            }
        }
        if let Some(markers) = self.chatter.poll_markers() {
            self.markers_unsaved = Some(markers);
            self.markers_retry = now;
        }
        if let Some(markers) = &self.markers_unsaved
            && now >= self.markers_retry
        {
            match self.store.save_markers(markers) {
                Ok(()) => {
                    self.markers_unsaved = None;
                    self.markers_warned = false;
                }
                // Not own state: the node goes on (a restart now would take
                // a dead member's old claims back until it expires again).
                Err(e) => {
                    self.markers_retry = now.plus(10_000);
                    if !self.markers_warned {
                        warn!(error = %e, "cannot store the expiry markers; trying again every 10 s");
                        self.markers_warned = true;
                    }
                }
            }
        }
        outcome
    }

    /// Persist, transmit, events: after every input. Returns the store's
    /// error if own state was refused (what was held is undone or sent).
    async fn pump(&mut self, unicast: &Unicast) -> Result<(), StoreError> {
        let now = self.clock.now();
        let stored = self.persist(now);
        while let Some(t) = self.chatter.poll_transmit() {
            match t {
                Transmit::Multicast { bytes } => {
                    if let Some(g) = self.group_addr
                        && let Err(e) = unicast.send_to(&bytes, g).await
                    {
                        debug!(error = %e, "multicast send failed");
                    }
                }
                Transmit::Unicast { to, bytes } => {
                    if let Err(e) = unicast.send_to(&bytes, to).await {
                        debug!(to = %to, error = %e, "unicast send failed");
                    }
                }
                Transmit::Connect { conn, to } => {
                    self.tasks.spawn(tcp::connect(
                        conn,
                        to,
                        self.info.connect_timeout,
                        self.info.max_frame,
                        self.conn_tx.clone(),
                    ));
                }
                Transmit::Send { conn, bytes } => {
                    let sent = self
                        .conns
                        .get(&conn)
                        .is_some_and(|tx| tx.try_send(bytes).is_ok());
                    if !sent {
                        // Unknown, closed or stuck: the protocol reroutes.
                        self.conns.remove(&conn);
                        self.chatter.handle_conn_event(now, conn, ConnEvent::Failed);
                    }
                }
                Transmit::Close { conn } => {
                    self.conns.remove(&conn);
                }
            }
        }
        while let Some(e) = self.chatter.poll_event() {
            self.event(now, e);
        }
        stored
    }

    fn event(&self, now: Millis, e: Event) {
        let ev = match e {
            Event::Changed { group, origin } => {
                debug!(group = %group, origin = %origin, "changed");
                WatchEvent {
                    event: "changed".into(),
                    group: Some(group.to_string()),
                    node: Some(origin.to_string()),
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::PeerDiscovered { id, addr } => {
                info!(peer = %id, addr = %addr, "peer discovered");
                WatchEvent {
                    event: "peer_discovered".into(),
                    group: None,
                    node: Some(id.to_string()),
                    addr: Some(addr.to_string()),
                    at_ms: now.0,
                }
            }
            Event::PeerMoved { id, addr } => {
                info!(peer = %id, addr = %addr, "peer moved to a new address");
                WatchEvent {
                    event: "peer_moved".into(),
                    group: None,
                    node: Some(id.to_string()),
                    addr: Some(addr.to_string()),
                    at_ms: now.0,
                }
            }
            Event::OwnAhead { seen, clock } => {
                warn!(
                    seen,
                    clock,
                    "peers hold our own writes above our clock (was the data dir restored from a backup?): \
                     jumped the clock and re-asserted our items"
                );
                WatchEvent {
                    event: "own_ahead".into(),
                    group: None,
                    node: None,
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::Liveness {
                id,
                state,
                restarted,
            } => {
                let how = if restarted { " (restarted)" } else { "" };
                match state {
                    crate::wire::Liveness::Alive => info!(peer = %id, "peer alive{how}"),
                    crate::wire::Liveness::Suspect => info!(peer = %id, "peer suspect"),
                    crate::wire::Liveness::Down => warn!(peer = %id, "peer down"),
                }
                WatchEvent {
                    event: state.name().into(),
                    group: None,
                    node: Some(id.to_string()),
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::AutoClaimed {
                group,
                claimed,
                released,
                waiting,
                held,
            } => {
                info!(
                    group = %group,
                    claimed,
                    released,
                    waiting,
                    held,
                    "auto-claim rewrote our ranges (slices claimed, released, kept until safe to release, held)"
                );
                WatchEvent {
                    event: "auto_claimed".into(),
                    group: Some(group.to_string()),
                    node: None,
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::PolicyMismatch {
                id,
                theirs,
                ours,
                same,
            } => {
                if same {
                    info!(peer = %id, "peer now uses the same auto-claim policies as we do");
                } else {
                    warn!(
                        peer = %id,
                        theirs = format_args!("{theirs:016x}"),
                        ours = format_args!("{ours:016x}"),
                        "peer uses different auto-claim policies: set the same replicas/slices for every \
                         auto group ([[groups]] in the config, or the Ansible role's scalesmall_groups) on every board"
                    );
                }
                WatchEvent {
                    event: if same {
                        "policy_agrees"
                    } else {
                        "policy_mismatch"
                    }
                    .into(),
                    group: None,
                    node: Some(id.to_string()),
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::Expired { id, upto } => {
                warn!(peer = %id, upto, "member expired: its items are dropped from this view");
                WatchEvent {
                    event: "expired".into(),
                    group: None,
                    node: Some(id.to_string()),
                    addr: None,
                    at_ms: now.0,
                }
            }
            Event::KeyMismatch { from, failures } => {
                warn!(
                    from = %from,
                    failures,
                    "frames from this address fail authentication: different cluster key? Copy the key file \
                     of a working board (cluster.key_file, or <data_dir>/cluster.key) to this one, or the other way round"
                );
                WatchEvent {
                    event: "key_mismatch".into(),
                    group: None,
                    node: None,
                    addr: Some(from.to_string()),
                    at_ms: now.0,
                }
            }
        };
        let _ = self.events.send(ev);
    }

    async fn answer(&mut self, req: Request, unicast: &Unicast) -> Reply {
        if req.is_write() && self.stopping {
            return refused("the node is shutting down");
        }
        let now = self.clock.now();
        if let Some(reply) = self.answer_keys(now, &req) {
            return reply;
        }
        let cmd = match to_command(&req) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return self.query(now, req),
            Err(reason) => return refused(reason),
        };
        let before = self.chatter.db().clock();
        let forgets = match &cmd {
            Command::Forget(id) => Some(*id),
            _ => None,
        };
        if let Err(e) = self.chatter.handle_command(now, cmd) {
            return refused(e.to_string());
        }
        // Durable before the answer (and before any frame) goes out; a
        // write the store refuses is undone: nothing of it stays or leaves.
        if let Err(e) = self.pump(unicast).await {
            return refused(format!(
                "not persisted: {e} (nothing changed; retry once the data dir is writable)"
            ));
        }
        let clock = self.chatter.db().clock();
        Reply::Written {
            // A forget changes this node's view, not its own writes.
            changed: forgets.map_or(clock > before, |id| self.chatter.db().expired_upto(id) > 0),
            clock,
        }
    }

    fn query(&self, now: Millis, req: Request) -> Reply {
        let db = self.chatter.db();
        match req {
            Request::Lookup { group, key } => {
                let (k, hashed) = parse_key(&key);
                let servers = self
                    .chatter
                    .lookup(&group, k)
                    .into_iter()
                    .map(|(s, state)| ServerView {
                        node: s.member.to_string(),
                        priority: s.priority,
                        port: s.port,
                        range: s.range.to_string(),
                        addr: self.addr_of(s.member).map(|a| a.to_string()),
                        state: state.name().to_owned(),
                    })
                    .collect();
                Reply::Lookup(LookupReply {
                    member: Some(db.is_member(&group)),
                    group,
                    key: k,
                    hashed,
                    servers,
                })
            }
            Request::Members { group } => self.members(&group),
            Request::Topology { group } => Reply::Topology {
                items: db
                    .topology(&group, TopologyFilter::default())
                    .map(|i| ItemView {
                        node: i.member().to_string(),
                        op: format!("{:?}", i.op()).to_lowercase(),
                        kind: i.kind().to_string(),
                        range: i.range().to_string(),
                        start: i.range().start(),
                        end: i.range().end(),
                        priority: i.priority(),
                        port: i.port(),
                        clock: i.clock(),
                        weight: (i.kind() == Kind::Auto).then(|| i.priority()),
                    })
                    .collect(),
                group,
            },
            Request::Peers => Reply::Peers {
                peers: self
                    .chatter
                    .peers()
                    .iter()
                    .map(|p| peer_view(&self.chatter, now, p))
                    .collect(),
            },
            Request::Status => Reply::Status(Box::new(self.status(now))),
            Request::Metrics => Reply::Metrics(Box::new(self.metrics(now))),
            Request::Groups => Reply::Groups {
                groups: self.groups(now),
            },
            Request::Watch => refused("watch is a stream: use the control socket's watch"),
            Request::Join { .. }
            | Request::Leave { .. }
            | Request::Claim { .. }
            | Request::Release { .. }
            | Request::Auto { .. }
            | Request::Manual { .. }
            | Request::Forget { .. }
            | Request::Keys { .. } => refused("not a query"),
        }
    }

    /// `members GROUP`: each member with its liveness; refused for a group
    /// this node has never heard of (a typo must not read as "no members").
    fn members(&self, group: &str) -> Reply {
        if !self.chatter.groups().iter().any(|g| g.as_str() == group) {
            return refused(format!(
                "no group {group:?} is known on this board (`scalesmall status` lists the groups it knows)"
            ));
        }
        let db = self.chatter.db();
        let me = self.chatter.identity().id;
        let members = db
            .members(group)
            .into_iter()
            .map(|id| MemberView {
                id: id.to_string(),
                state: if id == me {
                    "alive"
                } else {
                    c_state(&self.chatter, id)
                }
                .to_owned(),
            })
            .collect();
        Reply::Members {
            group: group.to_owned(),
            members,
            member: Some(db.is_member(group)),
        }
    }

    fn metrics(&self, now: Millis) -> Metrics {
        let c = &self.chatter;
        let st = c.stats();
        let states = c.peer_states();
        let names = |m: &BTreeMap<&'static str, u64>| {
            m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        let fingerprints: BTreeMap<String, u64> = c
            .db()
            .digest()
            .filter(|(g, _)| c.holds(g))
            .map(|(g, w)| (g.to_string(), w.fingerprint()))
            .collect();
        // Only the groups we are a member of: the others we do not hold.
        let digest_mismatches = c
            .peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .flat_map(|p| p.groups.iter())
            .filter(|(g, _)| c.holds(g))
            .filter(|(g, h)| fingerprints.get(g.as_str()) != Some(&h.fingerprint))
            .count() as u64;
        Metrics {
            frames_in: names(&st.frames_in),
            frames_out: names(&st.frames_out),
            drops: names(&st.drops),
            bytes_in: st.bytes_in,
            bytes_out: st.bytes_out,
            peers: c.peers().len() as u64,
            peers_multicast: c
                .peers()
                .iter()
                .filter(|p| {
                    p.last_multicast
                        .is_some_and(|t| now.since(t) <= CONVERGED_WINDOW)
                })
                .count() as u64,
            peers_recent: self.peers_recent(now) as u64,
            peers_alive: states.alive as u64,
            peers_suspect: states.suspect as u64,
            peers_down: states.down as u64,
            islands_unreachable: c.unreachable_islands(now) as u64,
            groups: c.groups().len() as u64,
            items: c
                .db()
                .groups()
                .filter_map(|g| c.db().message(g.as_str()))
                .map(|m| m.items().len() as u64)
                .sum(),
            clock: c.db().clock(),
            converged: self.converged(now),
            digest_mismatches,
            news: st.news,
            own_writes: st.own_writes,
            relays: st.relays,
            reconnects: st.reconnects,
            inputs: self.inputs,
            input_seconds: self.input_seconds,
            connections: c.conn_count() as u64,
            uptime_seconds: now.0 as f64 / 1000.0,
            group_health: crate::node::group_health::group_health(c),
        }
    }

    /// Peers heard within the converged window.
    fn peers_recent(&self, now: Millis) -> usize {
        self.chatter
            .peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .count()
    }

    /// Converged: no peer heard recently announces a group state that
    /// differs from ours, and, if seeds other than this node are
    /// configured, at least one peer was heard recently. A node without
    /// seeds that hears nobody (a lone board) is converged: nobody differs.
    fn converged(&self, now: Millis) -> bool {
        let c = &self.chatter;
        converged_rule(
            c.converged(now, CONVERGED_WINDOW),
            expects_peers(&c.config().seeds, &c.identity().addrs),
            self.peers_recent(now),
        )
    }

    fn addr_of(&self, id: NodeId) -> Option<SocketAddr> {
        if id == self.chatter.identity().id {
            return self.chatter.identity().addrs.first().copied();
        }
        self.chatter.peers().get(id).and_then(|p| p.addr)
    }

    fn status(&self, now: Millis) -> Status {
        let c = &self.chatter;
        let st = c.stats();
        let states = c.peer_states();
        Status {
            id: c.identity().id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            arch: arch().to_owned(),
            incarnation: c.identity().incarnation,
            clock: c.db().clock(),
            listen: self.info.listen.to_string(),
            addrs: c.identity().addrs.iter().map(ToString::to_string).collect(),
            data_dir: self.info.data_dir.display().to_string(),
            cluster: self.info.cluster.clone(),
            groups: c.groups().iter().map(ToString::to_string).collect(),
            my_groups: c.db().my_groups().map(ToString::to_string).collect(),
            peers: c.peers().len(),
            peers_recent: self.peers_recent(now),
            peers_alive: states.alive,
            peers_suspect: states.suspect,
            peers_down: states.down,
            unreachable_islands: c.unreachable_islands(now),
            converged: self.converged(now),
            representative: c.is_representative(now),
            insecure: self.info.insecure,
            uptime_ms: now.0,
            connections: c.conn_count(),
            counters: Counters {
                frames_out: st.frames_sent(),
                frames_in: st.frames_received(),
                bytes_out: st.bytes_out,
                bytes_in: st.bytes_in,
                drops: st
                    .drops
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
                news: st.news,
                own_writes: st.own_writes,
            },
            auto: self.auto_views(),
            policy_fingerprint: hex64(c.config().auto.fingerprint()),
            policy_mismatch: self.policy_mismatch(now),
        }
    }

    /// The groups where this node has a live auto marker.
    fn auto_views(&self) -> Vec<AutoView> {
        let c = &self.chatter;
        let db = c.db();
        let me = c.identity().id;
        db.groups()
            .filter_map(|g| {
                let members = db.auto_members(g.as_str());
                let (_, weight, port) = members.iter().find(|m| m.0 == me).copied()?;
                let policy = c.config().auto.policy(g);
                let claims: Vec<KeyRange> = db
                    .topology(
                        g.as_str(),
                        TopologyFilter {
                            kind: Some(Kind::Serve),
                            live_only: true,
                            member: Some(me),
                        },
                    )
                    .map(|i| i.range())
                    .collect();
                Some(AutoView {
                    group: g.to_string(),
                    weight,
                    port,
                    replicas: policy.replicas(),
                    slices: policy.slices(),
                    members: members.len(),
                    claims: claims.len(),
                    keys: keys_covered(claims),
                    total_weight: members.iter().map(|m| u64::from(m.1)).sum(),
                })
            })
            .collect()
    }

    /// Peers heard recently whose announced policy fingerprint differs
    /// from ours.
    fn policy_mismatch(&self, now: Millis) -> Vec<PolicyMismatchView> {
        let c = &self.chatter;
        let ours = c.config().auto.fingerprint();
        c.peers()
            .iter()
            .filter(|p| now.since(p.last_heard) <= CONVERGED_WINDOW)
            .filter_map(|p| {
                let theirs = p.policy_fp?;
                (theirs != ours).then(|| PolicyMismatchView {
                    node: p.id.to_string(),
                    fingerprint: hex64(theirs),
                })
            })
            .collect()
    }
}

/// A peer as `peers` shows it (`keys list` adds its key id).
fn peer_view(c: &Chatter, now: Millis, p: &crate::protocol::Peer) -> PeerView {
    PeerView {
        id: p.id.to_string(),
        state: c_state(c, p.id).to_owned(),
        addr: p.addr.map(|a| a.to_string()),
        incarnation: p.incarnation,
        last_heard_ms: now.since(p.last_heard),
        multicast: p.last_multicast.is_some_and(|t| now.since(t) < 60_000),
        hears_us: p.hears_me.is_some_and(|t| now.since(t) < 120_000),
        representative: p.rep_at.is_some(),
        version: p.max_version,
        key_id: None,
        key_age_ms: None,
    }
}

/// 16 hex digits.
fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

/// How many distinct keys `ranges` cover (overlaps counted once).
fn keys_covered(mut ranges: Vec<KeyRange>) -> u64 {
    ranges.sort_unstable_by_key(|r| (r.start(), r.end()));
    let mut total = 0u64;
    // The first key not yet counted.
    let mut next = 0u64;
    for r in ranges {
        let (start, end) = (u64::from(r.start()), u64::from(r.end()));
        let from = start.max(next);
        if end >= from {
            total += end - from + 1;
            next = end + 1;
        }
    }
    total
}

impl Driver {
    /// Every group with its counts, and the recent peers whose announced
    /// digest of it differs from ours (the same rule as `converged`).
    fn groups(&self, now: Millis) -> Vec<GroupView> {
        let c = &self.chatter;
        let db = c.db();
        c.groups()
            .iter()
            .map(|g| {
                let mine = c.holds(g);
                let msg = db.message(g.as_str());
                let items = msg.map_or(0, |m| m.items().len());
                let ours = msg.map(|m| m.clock().fingerprint());
                let (mut servers, mut servers_alive) = (0, 0);
                let mut claims = 0;
                let mut last = None;
                for i in db.topology(
                    g.as_str(),
                    TopologyFilter {
                        kind: Some(Kind::Serve),
                        live_only: true,
                        member: None,
                    },
                ) {
                    claims += 1;
                    if last != Some(i.member()) {
                        servers += 1;
                        if c.liveness(i.member()) == crate::wire::Liveness::Alive {
                            servers_alive += 1;
                        }
                        last = Some(i.member());
                    }
                }
                let differs = c
                    .peers()
                    .iter()
                    .filter(|p| mine && now.since(p.last_heard) <= CONVERGED_WINDOW)
                    .filter(|p| {
                        p.groups.get(g).is_some_and(|h| {
                            now.since(h.at) <= CONVERGED_WINDOW && ours != Some(h.fingerprint)
                        })
                    })
                    .map(|p| p.id.to_string())
                    .collect();
                GroupView {
                    name: g.to_string(),
                    auto: db.auto_members(g.as_str()).len(),
                    members: db.members(g.as_str()).len(),
                    servers,
                    servers_alive,
                    items,
                    claims,
                    mine,
                    differs,
                }
            })
            .collect()
    }
}

/// A peer's liveness in this node's view (the failure detector's).
fn c_state(c: &Chatter, id: NodeId) -> &'static str {
    c.liveness(id).name()
}

/// Whether the node has seeds that are not itself (a shared seed list
/// often names every board, this one included).
fn expects_peers(seeds: &[SocketAddr], own: &[SocketAddr]) -> bool {
    seeds.iter().any(|s| !own.contains(s))
}

/// `converged`: nothing differs among the recent peers, and a node that
/// expects peers has heard one.
const fn converged_rule(nothing_differs: bool, expects_peers: bool, peers_recent: usize) -> bool {
    nothing_differs && (!expects_peers || peers_recent > 0)
}

fn refused(reason: impl Into<String>) -> Reply {
    Reply::Refused {
        reason: reason.into(),
    }
}

/// The protocol command of a write request; `Ok(None)` for a query;
/// `Err(reason)` for a bad group name or range.
fn to_command(req: &Request) -> Result<Option<Command>, String> {
    let group = |g: &str| GroupName::new(g).map_err(|e| e.to_string());
    let range = |r: &str| r.parse::<KeyRange>().map_err(|e| e.to_string());
    Ok(Some(match req {
        Request::Join { group: g } => Command::Join(group(g)?),
        Request::Leave { group: g } => Command::Leave(group(g)?),
        Request::Claim {
            group: g,
            range: r,
            priority,
            port,
        } => Command::Claim {
            group: group(g)?,
            range: range(r)?,
            priority: *priority,
            port: *port,
        },
        Request::Release { group: g, range: r } => Command::Release {
            group: group(g)?,
            range: range(r)?,
        },
        Request::Auto {
            group: g,
            weight,
            priority,
            port,
        } => Command::Auto {
            group: group(g)?,
            weight: *weight,
            priority: *priority,
            port: *port,
        },
        Request::Manual { group: g } => Command::Manual(group(g)?),
        Request::Forget { node } => Command::Forget(
            node.trim()
                .parse::<crate::model::NodeId>()
                .map_err(|e| format!("{node:?} is not a node id: {e}"))?,
        ),
        _ => return Ok(None),
    }))
}

/// A key as given: a `u32` (decimal or 0x-hex), else a string to hash.
#[must_use]
pub fn parse_key(key: &str) -> (u32, bool) {
    let k = key.trim();
    let n = k
        .strip_prefix("0x")
        .or_else(|| k.strip_prefix("0X"))
        .map_or_else(
            || k.parse::<u32>().ok(),
            |h| u32::from_str_radix(h, 16).ok(),
        );
    match n {
        Some(n) => (n, false),
        None => (key_hash(key.as_bytes()), true),
    }
}

/// The next value of `rx`; never, if there is none or it is closed.
async fn recv_or_pending<T>(rx: Option<&mut mpsc::Receiver<T>>) -> T {
    if let Some(rx) = rx
        && let Some(v) = rx.recv().await
    {
        return v;
    }
    std::future::pending().await
}

async fn recv_opt(
    sock: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_node_is_not_converged_before_it_hears_a_peer() {
        let a: SocketAddr = "10.0.0.1:29999".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:29999".parse().unwrap();
        // A lone board: no seeds, nobody heard.
        assert!(converged_rule(true, expects_peers(&[], &[a]), 0));
        // Seeded, nobody heard yet.
        assert!(!converged_rule(true, expects_peers(&[b], &[a]), 0));
        assert!(converged_rule(true, expects_peers(&[b], &[a]), 1));
        // Its only seed is itself: a lone board again.
        assert!(converged_rule(true, expects_peers(&[a], &[a]), 0));
        assert!(!converged_rule(true, expects_peers(&[a, b], &[a]), 0));
        // A peer that differs is never converged.
        assert!(!converged_rule(false, false, 3));
    }

    #[test]
    fn covered_keys_count_overlaps_once() {
        let r = |a, b| KeyRange::new(a, b).unwrap();
        assert_eq!(keys_covered(vec![]), 0);
        assert_eq!(keys_covered(vec![KeyRange::FULL]), 1 << 32);
        assert_eq!(keys_covered(vec![r(10, 19), r(0, 9)]), 20);
        assert_eq!(keys_covered(vec![r(0, 9), r(5, 14), r(6, 7)]), 15);
        assert_eq!(keys_covered(vec![r(0, 0), r(u32::MAX, u32::MAX)]), 2);
    }

    #[test]
    fn keys_are_numbers_or_hashed_strings() {
        assert_eq!(parse_key("42"), (42, false));
        assert_eq!(parse_key("0xff"), (255, false));
        assert_eq!(parse_key("user:42"), (key_hash(b"user:42"), true));
        assert_eq!(parse_key("4294967296"), (key_hash(b"4294967296"), true));
    }
}
