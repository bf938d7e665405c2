//! One step of the simulation: an event fires at a node (a datagram, its
//! timer, a completed fsync, or a TCP event in tcp.rs), the node's protocol
//! handles it, and [`Cluster::drive`] takes everything the protocol put out
//! (`Chatter::drain_outputs`): writes go to the simulated disk, the timer is
//! set, transmits are routed and events followed.

use core::net::SocketAddr;

use crate::protocol::{ConnEvent, Event, OwnState, Persisted, Via};

use super::{Cluster, Ev, Verdict, trace};

impl Cluster {
    /// One event: each variant has its own method.
    pub(super) fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Datagram {
                to,
                from,
                via,
                bytes,
            } => self.on_datagram(to, from, via, &bytes),
            Ev::Timer { node } => self.on_timer(node),
            Ev::Persisted {
                node,
                incarnation,
                state,
            } => self.on_persisted(node, incarnation, &state),
            Ev::TcpSyn {
                to,
                from,
                from_conn,
            } => self.tcp_syn(to, from, from_conn),
            Ev::TcpOpened {
                node,
                incarnation,
                conn,
                remote_conn,
            } => self.tcp_opened(node, incarnation, conn, remote_conn),
            Ev::TcpFailed {
                node,
                incarnation,
                conn,
            } => self.conn_gone(node, incarnation, conn, ConnEvent::Failed),
            Ev::TcpClosed {
                node,
                incarnation,
                conn,
            } => self.conn_gone(node, incarnation, conn, ConnEvent::Closed),
            Ev::TcpFrame {
                to,
                incarnation,
                conn,
                from,
                from_conn,
                bytes,
            } => self.tcp_frame(to, incarnation, conn, (from, from_conn), &bytes),
        }
    }

    /// A datagram reaches node `to` (if it runs).
    fn on_datagram(&mut self, to: usize, from: SocketAddr, via: Via, bytes: &[u8]) {
        let now = self.now;
        self.trace_event(1, to, bytes.len() as u64);
        if let Some(n) = self.nodes.get_mut(to)
            && let Some(c) = n.chatter.as_mut()
        {
            n.traffic.bytes_in += bytes.len() as u64;
            n.traffic.frames_in += 1;
            c.handle_datagram(now, from, via, bytes);
            self.drive(to);
        }
    }

    /// Node `node`'s timer fires (a stale one, superseded by an earlier
    /// deadline, does nothing).
    fn on_timer(&mut self, node: usize) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.timer_at.is_some_and(|t| t > now) {
            return;
        }
        n.timer_at = None;
        let Some(c) = n.chatter.as_mut() else { return };
        trace(&mut self.trace, now, 2, node, 0);
        c.handle_timeout(now);
        // A state machine whose timeout stays due after it was
        // handled would spin here forever: fail loudly instead.
        if c.poll_timeout().is_some_and(|t| t <= now) {
            n.spins = if n.spins.0 == now {
                (now, n.spins.1 + 1)
            } else {
                (now, 1)
            };
            assert!(
                n.spins.1 < 1_000,
                "node {node}: poll_timeout stays due at {now:?} after handle_timeout (a spinning timer)"
            );
        }
        self.drive(node);
    }

    /// Node `node`'s store completes the write of `state` (lost if the
    /// node crashed meanwhile, refused if its disk is failing).
    fn on_persisted(&mut self, node: usize, incarnation: u64, state: &OwnState) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.incarnation != incarnation || n.chatter.is_none() {
            // Crashed before the fsync completed: the write is lost.
            return;
        }
        if n.disk_failing {
            self.persist_refused(node, state);
            return;
        }
        trace(&mut self.trace, now, 3, node, state.clock);
        n.store = state.clone();
        self.truth.record(&state.items);
        self.refused.retain(|r| !state.items.contains(r));
        if let Some(c) = n.chatter.as_mut() {
            c.handle_persisted(now, state.clock);
        }
        self.drive(node);
    }

    /// Takes node `i`'s outputs (`Chatter::drain_outputs`): its writes go
    /// to its disk (durable after the fsync delay), its timer is set, its
    /// transmits are routed and its events followed.
    pub(super) fn drive(&mut self, i: usize) {
        let now = self.now;
        let mut persists = Vec::new();
        let (incarnation, out) = {
            let Some(n) = self.nodes.get_mut(i) else {
                return;
            };
            let Some(c) = n.chatter.as_mut() else { return };
            let out = c.drain_outputs(now, |p| {
                persists.push(p);
                Persisted::Later
            });
            if let Some(m) = out.markers {
                n.markers = m;
            }
            if let Some(t) = out.timeout
                && n.timer_at.is_none_or(|cur| t < cur || cur < now)
            {
                n.timer_at = Some(t.max(now));
            }
            (n.incarnation, (out.transmits, out.events))
        };
        let (transmits, events) = out;
        let fsync = self.cfg.fsync_ms;
        for state in persists {
            self.push(
                now.plus(fsync),
                Ev::Persisted {
                    node: i,
                    incarnation,
                    state,
                },
            );
        }
        if let Some(t) = self.nodes.get(i).and_then(|n| n.timer_at)
            && t >= now
        {
            self.push(t, Ev::Timer { node: i });
        }
        let mtu = self.cfg.protocol.mtu;
        for t in transmits {
            self.route(i, t, mtu);
        }
        if let Some(n) = self.nodes.get_mut(i)
            && let Some(c) = n.chatter.as_ref()
        {
            // The protocol's own count (the simulated sockets of a peer's
            // close may linger until the close reaches this side).
            n.max_conns_seen = n.max_conns_seen.max(c.conn_count());
        }
        self.follow_events(i, events);
    }

    /// Node `i`'s events: changed groups are followed (single-write
    /// delays), liveness verdicts logged.
    fn follow_events(&mut self, i: usize, events: Vec<Event>) {
        let now = self.now;
        for e in events {
            match e {
                Event::Changed { group, .. } => self.follow(i, &group),
                Event::Liveness {
                    id,
                    state,
                    restarted,
                } => self.liveness_log.push(Verdict {
                    at: now,
                    observer: i,
                    about: id,
                    state,
                    restarted,
                }),
                _ => {}
            }
        }
    }
}
