//! `Driver`: the thin tokio shell around [`Chatter`]. It owns the sockets,
//! the timer, the store and the request channel, feeds every input to the
//! protocol, and carries out its outputs in the documented order: persist
//! (durably, before anything is sent), transmit, events. It holds no
//! protocol logic. This file is the loop; the rest is cut by concept:
//! - `driver/events.rs`: each protocol event as a tracing line and a
//!   [`WatchEvent`] for `watch`;
//! - `driver/views.rs`: the answers to queries (lookup, status, metrics…);
//! - `driver/reconcile.rs`: the config's `[[groups]]` made desired state;
//! - `driver/keys.rs`: the `scalesmall keys` commands.
//!
//! Requests from the control layer arrive on a channel, are translated once
//! ([`Request::into_action`]) and answered after any write they cause is
//! durable; a write the store refuses (a read-only or full data dir) is
//! undone by the protocol and answered `refused: not persisted: ...`
//! (docs/node.md). Events go to a broadcast channel for `watch`. Declared
//! groups (the config file's `[[groups]]`, at start and again on SIGHUP)
//! arrive on their own channel ([`Driver::reloads`]) and are applied as
//! desired state ([`Driver::reconcile`]).

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::model::{GroupName, NodeId};
use crate::protocol::{Chatter, Command, ConnEvent, ConnId, Millis, Transmit, Via};

use super::clock::{MonoClock, Stopwatch};
use super::config::DeclaredGroup;
use super::error::NodeError;
use super::key_admin::KeyAdmin;
use super::notify::{Notifier, Watchdog};
use super::renumber::{self, Rebound, Renumber};
use super::request::{Action, Reply, Request, WatchEvent, refused};
use super::store::{Store, StoreError};
use super::tcp::{self, ConnMsg};
use super::udp::UdpSockets;
use super::unicast::Unicast;

mod events;
mod hooks;
mod keys;
mod reconcile;
mod views;

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
    /// The hooks ([`Driver::with_hooks`]).
    hooks: hooks::HookRelay,
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
                hooks: hooks::HookRelay::default(),
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
        let mut addr_check = address_checks();
        let (mut ubuf, mut mbuf) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        let mut reloads = self.reload_rx.take();
        let notify = io.notify;
        let mut watchdog = self.ready(notify.as_ref());
        self.hooks.start(&self.chatter);
        tokio::pin!(shutdown);
        loop {
            // A refused store is logged there; the node goes on.
            let _ = self.pump(&unicast).await;
            let (wake, retry) = self.next_wake();
            let deadline = self.clock.instant(retry.map_or(wake, |r| r.min(wake)));
            let mut watch: Option<Stopwatch> = None;
            let mut rebound = None;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // In this loop, not a task of its own: a stuck loop stops
                // the pings and systemd restarts the node.
                () = watchdog.due() => notify.iter().for_each(Notifier::ping),
                r = unicast.recv_from(&mut ubuf) => watch = self.on_datagram(r, Via::Unicast, &ubuf),
                r = recv_opt(multicast.as_ref(), &mut mbuf) => {
                    watch = self.on_datagram(r, Via::Multicast, &mbuf);
                }
                r = listener.accept() => self.on_accept(r),
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
                () = tokio::time::sleep_until(deadline.into()) => watch = Some(self.on_deadline(retry, wake)),
            }
            if let Some(r) = rebound
                && let Some((u, l)) = self.on_rebound(r, renumber.as_ref())
            {
                unicast = u;
                listener = l;
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

    /// Tells systemd the node is ready (every socket is bound); the
    /// watchdog to ping.
    fn ready(&self, notify: Option<&Notifier>) -> Watchdog {
        if let Some(n) = notify {
            n.ready(&format!("listening on {}", self.info.listen));
        }
        notify.map_or_else(Watchdog::default, Notifier::watchdog)
    }

    /// When the protocol's next timer is due, and when declared groups the
    /// store refused are to be applied again.
    fn next_wake(&self) -> (Millis, Option<Millis>) {
        let wake = self.chatter.poll_timeout().unwrap_or(Millis(u64::MAX / 4));
        let retry = self.declared_retry.as_ref().map(|(_, at)| *at);
        // Hooks' owners-changed windows end on the same deadline.
        let retry = match (retry, self.hooks.next_deadline()) {
            (Some(r), Some(h)) => Some(r.min(h)),
            (r, h) => r.or(h),
        };
        (wake, retry)
    }

    /// A datagram in (or a failed read, ignored); the stopwatch of its
    /// handling.
    fn on_datagram(
        &mut self,
        r: std::io::Result<(usize, SocketAddr)>,
        via: Via,
        buf: &[u8],
    ) -> Option<Stopwatch> {
        let (n, from) = r.ok()?;
        let watch = Stopwatch::start();
        let now = self.clock.now();
        self.chatter
            .handle_datagram(now, from, via, buf.get(..n).unwrap_or(&[]));
        Some(watch)
    }

    /// A TCP connection in: the protocol numbers it, a task serves it.
    fn on_accept(&mut self, r: std::io::Result<(tokio::net::TcpStream, SocketAddr)>) {
        let Ok((stream, from)) = r else {
            return;
        };
        let now = self.clock.now();
        let _ = stream.set_nodelay(true);
        let conn = self.chatter.handle_accept(now, from);
        let (tx, rx) = mpsc::channel(tcp::QUEUE);
        self.conns.insert(conn, tx);
        let serve = tcp::serve(conn, stream, rx, self.info.max_frame, self.conn_tx.clone());
        self.tasks.spawn(serve);
    }

    /// The loop's deadline: declared groups to apply again (`retry`) and the
    /// protocol's timers (`wake`), whichever are due.
    fn on_deadline(&mut self, retry: Option<Millis>, wake: Millis) -> Stopwatch {
        let watch = Stopwatch::start();
        let now = self.clock.now();
        // `retry` may be a hook's deadline: the declared groups have their own.
        if retry.is_some_and(|r| now >= r)
            && self
                .declared_retry
                .as_ref()
                .is_some_and(|(_, at)| now >= *at)
            && let Some((groups, _)) = self.declared_retry.take()
        {
            self.apply_declared(&groups);
        }
        if now >= wake {
            self.chatter.handle_timeout(now);
        }
        self.hooks.poll(&self.chatter, now, &self.events);
        watch
    }

    /// The board's addresses changed: the protocol advertises the new ones;
    /// the new sockets, if the change needed them, are returned.
    fn on_rebound(
        &mut self,
        r: Rebound,
        renumber: Option<&Renumber>,
    ) -> Option<(Unicast, tcp::Listeners)> {
        let addrs = renumber
            .map(|w| w.socket_addrs(&r.advertise))
            .unwrap_or_default();
        let sockets = r.sockets.map(|(u, l)| {
            self.info.listen = u.local_addrs().first().copied().unwrap_or(self.info.listen);
            (u, l)
        });
        let now = self.clock.now();
        self.chatter.set_addrs(now, addrs);
        sockets
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
            events::log(&e);
            let _ = self.events.send(events::watch_event(now, &e));
            self.hooks.on_event(&self.chatter, &e, now, &self.events);
        }
        stored
    }

    /// The answer to a request from the control layer.
    async fn answer(&mut self, req: Request, unicast: &Unicast) -> Reply {
        let action = match req.into_action() {
            Ok(action) => action,
            Err(reason) => return refused(reason),
        };
        if action.is_write() && self.stopping {
            return refused("the node is shutting down");
        }
        let now = self.clock.now();
        match action {
            Action::Write(cmd) => self.write(now, cmd, unicast).await,
            Action::Query(q) => self.query(now, q),
            Action::Keys { op, arg } => self.answer_keys(now, &op, arg.as_ref()),
            Action::Watch => refused("watch is a stream: use the control socket's watch"),
        }
    }

    /// A write, answered once it is durable (or refused and undone).
    async fn write(&mut self, now: Millis, cmd: Command, unicast: &Unicast) -> Reply {
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
}

/// Ticks every [`renumber::CHECK_EVERY`] (none caught up after a stall).
fn address_checks() -> tokio::time::Interval {
    let mut every = tokio::time::interval(renumber::CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every
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
