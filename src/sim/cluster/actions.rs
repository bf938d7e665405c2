//! What happens to a board: a crash (power cut), a restart from its data
//! dir, a re-flash (a new board in its place), a new address (renumbering),
//! and the seeds an operator writes into each board's config.

use core::net::SocketAddr;

use crate::model::NodeId;
use crate::protocol::OwnState;
use rand_chacha::rand_core::Rng;

use super::super::net::Net;
use super::Cluster;

/// The seeds of node `i`'s config: the first node of subnet 0 and of the
/// next subnet (as an operator would configure one or two per subnet).
pub(super) fn seeds_of(net: &Net, i: usize, subnets: usize) -> Vec<SocketAddr> {
    let my_subnet = net.subnet_of(i);
    let mut seeds = Vec::new();
    for s in [0, (my_subnet + 1) % subnets.max(1)] {
        if s != my_subnet
            && let Some(j) = (0..net.len()).find(|&j| net.subnet_of(j) == s)
        {
            seeds.push(net.addr(j));
        }
    }
    seeds
}

impl Cluster {
    /// Crashes node `i` (power cut): its process and sockets vanish; its
    /// durable state stays.
    pub fn crash(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.chatter = None;
            n.timer_at = None;
            n.conns.clear();
        }
        // A write only this node lacked is now everywhere it must be.
        self.sweep_tracked();
    }

    /// Restarts node `i` from its durable state with a new incarnation.
    pub fn restart(&mut self, i: usize) {
        if !self.alive(i) {
            let now = self.now;
            self.start_node(i, now);
        }
    }

    /// Replaces node `i` by a new board at the same address: a new id, an
    /// empty data dir (a board re-flashed or swapped). The old id never
    /// comes back; the others expire it. Starts it now.
    pub fn reflash(&mut self, i: usize) {
        self.crash(i);
        let id = NodeId::from_u64(self.rng.next_u64());
        if let Some(n) = self.nodes.get_mut(i) {
            n.id = id;
            n.incarnation = 0;
            n.store = OwnState::default();
            n.markers = Vec::new();
        }
        let now = self.now;
        self.start_node(i, now);
    }

    /// Gives node `i` a new address in its subnet (a new DHCP lease),
    /// keeping its id and data dir; returns it. A running node goes on
    /// running: its sockets send from the new address, its TCP connections
    /// break, and its shell, noticing the interface's new address, tells
    /// the protocol (`Chatter::set_addrs`), which announces it, as the real
    /// shell does when it rebinds (src/node/renumber.rs, ALGORITHM.md 9.6).
    /// The others' seed lists are not updated.
    pub fn renumber(&mut self, i: usize) -> Option<SocketAddr> {
        let addr = self.net.renumber(i)?;
        self.tcp_break_all(i);
        let now = self.now;
        if let Some(c) = self.nodes.get_mut(i).and_then(|n| n.chatter.as_mut()) {
            c.set_addrs(now, vec![addr]);
            self.drive(i);
        }
        Some(addr)
    }

    /// Node `i`'s current address.
    #[must_use]
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.net.addr(i)
    }

    /// Whether a packet from node `i` reaches node `j` now.
    #[must_use]
    pub fn reaches(&self, i: usize, j: usize) -> bool {
        self.net.reaches(i, j)
    }

    /// Node `i`'s subnet.
    #[must_use]
    pub fn subnet_of(&self, i: usize) -> usize {
        self.net.subnet_of(i)
    }
}
