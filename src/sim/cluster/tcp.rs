//! The simulated TCP: a reliable, ordered stream per connection between two
//! nodes. A connect costs one round trip and needs both directions open; a
//! frame arrives in order after the link latency; a connection to a
//! crashed, partitioned or renumbered node fails after a retransmission
//! timeout, and a frame for a connection the receiver no longer knows
//! resets the sender's.

use core::net::SocketAddr;

use crate::protocol::{ConnEvent, ConnId};

use super::super::net::PORT;
use super::{Cluster, Ev, SimConn, trace};

/// How long a connect to a dead or unreachable node takes to fail (ms).
const CONNECT_FAIL_MS: u64 = 1_000;
/// How long a send on a connection whose peer vanished takes to fail (ms).
const RTO_MS: u64 = 1_000;

impl Cluster {
    /// Node `i` opens `conn` to `to`.
    pub(super) fn tcp_connect(&mut self, i: usize, conn: ConnId, to: SocketAddr) {
        let now = self.now;
        let inc = self.nodes.get(i).map_or(0, |n| n.incarnation);
        let j = self.net.node_at(to);
        self.to_stopped += u64::from(j.is_some_and(|j| !self.alive(j)));
        let Some(j) = j else {
            self.push(
                now.plus(CONNECT_FAIL_MS),
                Ev::TcpFailed {
                    node: i,
                    incarnation: inc,
                    conn,
                },
            );
            return;
        };
        if let Some(n) = self.nodes.get_mut(i) {
            n.conns.insert(
                conn,
                SimConn {
                    remote: j,
                    remote_conn: None,
                    last_delivery: now,
                },
            );
        }
        let lat = self.net.latency(i, j, &mut self.rng);
        self.push(
            now.plus(lat),
            Ev::TcpSyn {
                to: j,
                from: i,
                from_conn: conn,
            },
        );
    }

    /// Node `i` sends `bytes` on `conn`.
    pub(super) fn tcp_send(&mut self, i: usize, conn: ConnId, bytes: Vec<u8>) {
        let now = self.now;
        self.count_out(i, bytes.len(), usize::MAX, false);
        let inc = self.nodes.get(i).map_or(0, |n| n.incarnation);
        let Some((remote, remote_conn, last)) = self
            .nodes
            .get(i)
            .and_then(|n| n.conns.get(&conn))
            .map(|c| (c.remote, c.remote_conn, c.last_delivery))
        else {
            return;
        };
        let remote_inc = self.nodes.get(remote).map_or(0, |n| n.incarnation);
        match remote_conn {
            Some(rc) if self.net.connected(i, remote) && self.alive(remote) => {
                let lat = self.net.latency(i, remote, &mut self.rng);
                let at = now.plus(lat).max(last);
                if let Some(c) = self.nodes.get_mut(i).and_then(|n| n.conns.get_mut(&conn)) {
                    c.last_delivery = at;
                }
                self.push(
                    at,
                    Ev::TcpFrame {
                        to: remote,
                        incarnation: remote_inc,
                        conn: rc,
                        from: i,
                        from_conn: conn,
                        bytes,
                    },
                );
            }
            _ => self.push(
                now.plus(RTO_MS),
                Ev::TcpFailed {
                    node: i,
                    incarnation: inc,
                    conn,
                },
            ),
        }
    }

    /// Node `i` closes `conn`: its peer learns it after the link latency.
    pub(super) fn tcp_close(&mut self, i: usize, conn: ConnId) {
        let now = self.now;
        let removed = self.nodes.get_mut(i).and_then(|n| n.conns.remove(&conn));
        if let Some(c) = removed
            && let Some(rc) = c.remote_conn
            && self.alive(c.remote)
        {
            let lat = self.net.latency(i, c.remote, &mut self.rng);
            let inc = self.nodes.get(c.remote).map_or(0, |n| n.incarnation);
            self.push(
                now.plus(lat),
                Ev::TcpClosed {
                    node: c.remote,
                    incarnation: inc,
                    conn: rc,
                },
            );
        }
    }

    /// Every connection of node `i` breaks (its address changed under
    /// them): both ends learn it after a retransmission timeout.
    pub(super) fn tcp_break_all(&mut self, i: usize) {
        let now = self.now;
        let Some(n) = self.nodes.get(i) else { return };
        let inc = n.incarnation;
        let ends: Vec<(ConnId, usize, Option<ConnId>)> = n
            .conns
            .iter()
            .map(|(id, c)| (*id, c.remote, c.remote_conn))
            .collect();
        for (conn, remote, remote_conn) in ends {
            // This side fails at once, so no frame for it is accepted.
            self.push(
                now,
                Ev::TcpFailed {
                    node: i,
                    incarnation: inc,
                    conn,
                },
            );
            if let Some(rc) = remote_conn {
                let remote_inc = self.nodes.get(remote).map_or(0, |n| n.incarnation);
                self.push(
                    now.plus(RTO_MS),
                    Ev::TcpFailed {
                        node: remote,
                        incarnation: remote_inc,
                        conn: rc,
                    },
                );
            }
        }
    }

    /// A connect of `from`'s `from_conn` reaches `to`.
    pub(super) fn tcp_syn(&mut self, to: usize, from: usize, from_conn: ConnId) {
        let now = self.now;
        self.trace_event(4, to, from as u64);
        let from_inc = self.nodes.get(from).map_or(0, |n| n.incarnation);
        let reachable = self.net.connected(from, to);
        let src = ephemeral(self.net.addr(from), from_conn);
        let accepted = match self.nodes.get_mut(to).and_then(|n| n.chatter.as_mut()) {
            Some(c) if reachable => Some(c.handle_accept(now, src)),
            _ => None,
        };
        let Some(conn) = accepted else {
            self.push(
                now.plus(CONNECT_FAIL_MS),
                Ev::TcpFailed {
                    node: from,
                    incarnation: from_inc,
                    conn: from_conn,
                },
            );
            return;
        };
        if let Some(n) = self.nodes.get_mut(to) {
            n.conns.insert(
                conn,
                SimConn {
                    remote: from,
                    remote_conn: Some(from_conn),
                    last_delivery: now,
                },
            );
        }
        let lat = self.net.latency(to, from, &mut self.rng);
        self.push(
            now.plus(lat),
            Ev::TcpOpened {
                node: from,
                incarnation: from_inc,
                conn: from_conn,
                remote_conn: conn,
            },
        );
        self.drive(to);
    }

    /// `node`'s connect of `conn` was accepted as the peer's `remote_conn`.
    pub(super) fn tcp_opened(
        &mut self,
        node: usize,
        incarnation: u64,
        conn: ConnId,
        remote_conn: ConnId,
    ) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.incarnation != incarnation || n.chatter.is_none() {
            return;
        }
        let Some(sc) = n.conns.get_mut(&conn) else {
            return;
        };
        sc.remote_conn = Some(remote_conn);
        trace(&mut self.trace, now, 5, node, conn.0);
        if let Some(c) = n.chatter.as_mut() {
            c.handle_conn_event(now, conn, ConnEvent::Opened);
        }
        self.drive(node);
    }

    /// A frame of `from`'s `from_conn` reaches `to`'s `conn`.
    pub(super) fn tcp_frame(
        &mut self,
        to: usize,
        incarnation: u64,
        conn: ConnId,
        from: (usize, ConnId),
        bytes: &[u8],
    ) {
        let now = self.now;
        self.trace_event(7, to, bytes.len() as u64);
        let known = self.nodes.get(to).is_some_and(|n| {
            n.incarnation == incarnation && n.chatter.is_some() && n.conns.contains_key(&conn)
        });
        if !known {
            // Reset: the sender's connection fails.
            let from_inc = self.nodes.get(from.0).map_or(0, |n| n.incarnation);
            self.push(
                now.plus(RTO_MS),
                Ev::TcpFailed {
                    node: from.0,
                    incarnation: from_inc,
                    conn: from.1,
                },
            );
            return;
        }
        if let Some(n) = self.nodes.get_mut(to) {
            n.traffic.bytes_in += bytes.len() as u64;
            n.traffic.frames_in += 1;
            if let Some(c) = n.chatter.as_mut() {
                c.handle_frame(now, conn, bytes);
            }
        }
        self.drive(to);
    }

    /// A connection of `node` failed or was closed by its peer.
    pub(super) fn conn_gone(
        &mut self,
        node: usize,
        incarnation: u64,
        conn: ConnId,
        event: ConnEvent,
    ) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.incarnation != incarnation || n.conns.remove(&conn).is_none() {
            return;
        }
        trace(&mut self.trace, now, 6, node, conn.0);
        if let Some(c) = n.chatter.as_mut() {
            c.handle_conn_event(now, conn, event);
        }
        self.drive(node);
    }
}

/// The source address of an outgoing TCP connection (an ephemeral port).
fn ephemeral(addr: SocketAddr, conn: ConnId) -> SocketAddr {
    let port = 32_768 + (conn.0 % 28_000) as u16;
    SocketAddr::new(addr.ip(), if port == PORT { port + 1 } else { port })
}
