//! `Links`: which node's packets reach which node: the faults of the wiring
//! between the boards (as opposed to the behaviour of a working link, loss
//! and latency, which [`super::net::Net`] models).
//!
//! A board cluster fails in a few shapes, and each is one fault here:
//! - **sides**: the nodes split into parts that do not reach each other (a
//!   router dropping traffic between two groups of subnets, or one
//!   subnet's switch split in two: multicast does not cross either);
//! - **one-way cuts**: packets from one set of nodes to another are
//!   dropped while the reverse direction passes (a firewall rule, a
//!   half-broken cable);
//! - **router down**: no packet crosses between subnets, while multicast
//!   and unicast inside each subnet keep working;
//! - **switch down**: a subnet's nodes reach nobody, not even each other.
//!
//! Faults combine (a packet passes only if no fault stops it) and all end
//! together with [`Links::heal`]. A TCP connection needs both directions.

use std::collections::{BTreeMap, BTreeSet};

/// The wiring faults in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Node → side; nodes not listed are on side 0.
    side: BTreeMap<usize, usize>,
    /// `(from, to)`: packets from a node of `from` to a node of `to` are
    /// dropped.
    one_way: Vec<(BTreeSet<usize>, BTreeSet<usize>)>,
    /// No packet crosses between subnets.
    router_down: bool,
    /// Subnets whose switch is down.
    switches_down: BTreeSet<usize>,
}

impl Links {
    /// No fault.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts each of `parts` on a side of its own (the nodes listed in no
    /// part stay together on side 0). Replaces an earlier split.
    pub fn split(&mut self, parts: &[Vec<usize>]) {
        self.side.clear();
        for (k, part) in parts.iter().enumerate() {
            for &n in part {
                self.side.insert(n, k + 1);
            }
        }
    }

    /// Drops packets from every node of `from` to every node of `to`.
    pub fn cut_one_way(
        &mut self,
        from: impl IntoIterator<Item = usize>,
        to: impl IntoIterator<Item = usize>,
    ) {
        self.one_way
            .push((from.into_iter().collect(), to.into_iter().collect()));
    }

    /// The router stops forwarding: nothing crosses between subnets.
    pub fn fail_router(&mut self) {
        self.router_down = true;
    }

    /// Subnet `subnet`'s switch fails: its nodes reach nobody.
    pub fn fail_switch(&mut self, subnet: usize) {
        self.switches_down.insert(subnet);
    }

    /// Ends every fault.
    pub fn heal(&mut self) {
        *self = Self::default();
    }

    /// Whether no fault is in force.
    #[must_use]
    pub fn healed(&self) -> bool {
        *self == Self::default()
    }

    /// Whether a packet from node `a` (in subnet `sa`) reaches node `b` (in
    /// subnet `sb`).
    #[must_use]
    pub fn reaches(&self, a: usize, sa: usize, b: usize, sb: usize) -> bool {
        let side = |n: usize| self.side.get(&n).copied().unwrap_or(0);
        !(side(a) != side(b)
            || (self.router_down && sa != sb)
            || self.switches_down.contains(&sa)
            || self.switches_down.contains(&sb)
            || self
                .one_way
                .iter()
                .any(|(from, to)| from.contains(&a) && to.contains(&b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes 0..6, node `i` in subnet `i % 2`.
    fn reaches(l: &Links, a: usize, b: usize) -> bool {
        l.reaches(a, a % 2, b, b % 2)
    }

    #[test]
    fn sides_cut_both_ways_and_heal() {
        let mut l = Links::new();
        l.split(&[vec![0, 1]]);
        assert!(!reaches(&l, 0, 2) && !reaches(&l, 2, 0));
        assert!(reaches(&l, 0, 1) && reaches(&l, 2, 3));
        l.heal();
        assert!(reaches(&l, 0, 2) && l.healed());
    }

    #[test]
    fn a_one_way_cut_passes_the_other_way() {
        let mut l = Links::new();
        l.cut_one_way([0], [2, 4]);
        assert!(!reaches(&l, 0, 2) && !reaches(&l, 0, 4));
        assert!(reaches(&l, 2, 0) && reaches(&l, 0, 1));
    }

    #[test]
    fn a_router_failure_keeps_each_subnet_whole() {
        let mut l = Links::new();
        l.fail_router();
        assert!(reaches(&l, 0, 2) && reaches(&l, 1, 3));
        assert!(!reaches(&l, 0, 1) && !reaches(&l, 3, 2));
    }

    #[test]
    fn a_switch_failure_isolates_every_node_of_its_subnet() {
        let mut l = Links::new();
        l.fail_switch(0);
        assert!(!reaches(&l, 0, 2) && !reaches(&l, 0, 1) && !reaches(&l, 1, 2));
        assert!(reaches(&l, 1, 3));
    }
}
