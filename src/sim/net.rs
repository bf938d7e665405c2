//! `Net`: the simulated network: subnets, addresses, latency, loss,
//! duplication, reordering, one-way multicast, and the wiring faults of
//! [`Links`] (partitions, one-way cuts, router and switch failures).
//!
//! A multicast reaches the nodes of the sender's subnet (never across the
//! router, exactly as on a real board cluster), except where a one-way block
//! says a receiver does not hear a sender or a wiring fault stops it.
//! Unicast reaches any node the links let it reach; TCP needs both
//! directions. A node can be renumbered (a new DHCP lease): it gets a fresh
//! address in its subnet and its old one leads nowhere. Every datagram
//! independently may be lost or duplicated; latency is a base plus uniform
//! jitter, so datagrams reorder. All randomness comes from the caller's RNG.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

use super::links::Links;

/// The port every simulated node listens on.
pub const PORT: u16 = 29999;

/// Link behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency within a subnet (ms).
    pub lan_latency: u64,
    /// One-way latency across the router (ms).
    pub wan_latency: u64,
    /// Extra uniform random latency, 0..=jitter (ms); it reorders datagrams.
    pub jitter: u64,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub dup: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            lan_latency: 1,
            wan_latency: 5,
            jitter: 2,
            loss: 0.0,
            dup: 0.0,
        }
    }
}

/// The network between `n` simulated nodes.
#[derive(Clone, Debug)]
pub struct Net {
    /// Link behaviour.
    pub cfg: NetConfig,
    subnet: Vec<usize>,
    addrs: Vec<SocketAddr>,
    by_addr: BTreeMap<SocketAddr, usize>,
    /// `(sender, receiver)` pairs whose multicast does not arrive.
    deaf: BTreeSet<(usize, usize)>,
    /// The wiring faults in force.
    links: Links,
    /// Addresses handed out so far per subnet (a renumbered node gets the
    /// next).
    hosts: BTreeMap<usize, usize>,
}

impl Net {
    /// `subnet[i]` is node `i`'s subnet.
    #[must_use]
    pub fn new(cfg: NetConfig, subnet: Vec<usize>) -> Self {
        let mut per_subnet: BTreeMap<usize, usize> = BTreeMap::new();
        let addrs: Vec<SocketAddr> = subnet
            .iter()
            .map(|&s| {
                let k = per_subnet.entry(s).or_insert(0);
                *k += 1;
                host_addr(s, *k)
            })
            .collect();
        let by_addr = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        Self {
            cfg,
            subnet,
            addrs,
            by_addr,
            deaf: BTreeSet::new(),
            links: Links::new(),
            hosts: per_subnet,
        }
    }

    /// Gives node `i` the next unused address of its subnet (a new DHCP
    /// lease); its old address leads nowhere from now on. Returns the new
    /// address.
    pub fn renumber(&mut self, i: usize) -> Option<SocketAddr> {
        let s = self.subnet.get(i).copied()?;
        let k = self.hosts.entry(s).or_insert(0);
        *k += 1;
        let addr = host_addr(s, *k);
        let old = self.addrs.get_mut(i)?;
        self.by_addr.remove(old);
        *old = addr;
        self.by_addr.insert(addr, i);
        Some(addr)
    }

    /// Node `i`'s address: `10.<subnet>.<hi>.<lo>:29999`.
    #[must_use]
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs
            .get(i)
            .copied()
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT))
    }

    /// The node at `addr`.
    #[must_use]
    pub fn node_at(&self, addr: SocketAddr) -> Option<usize> {
        self.by_addr.get(&addr).copied()
    }

    /// Node `i`'s subnet.
    #[must_use]
    pub fn subnet_of(&self, i: usize) -> usize {
        self.subnet.get(i).copied().unwrap_or(0)
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.subnet.len()
    }

    /// Whether there are no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.subnet.is_empty()
    }

    /// Makes `receiver` deaf to `sender`'s multicast (one-way reachability).
    pub fn block_multicast(&mut self, sender: usize, receiver: usize) {
        self.deaf.insert((sender, receiver));
    }

    /// Cuts `nodes` off from everyone else until [`Net::heal`].
    pub fn partition(&mut self, nodes: impl IntoIterator<Item = usize>) {
        self.links.split(&[nodes.into_iter().collect()]);
    }

    /// The wiring faults, to add one (they end with [`Net::heal`]).
    pub fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }

    /// Ends every wiring fault (one-way multicast blocks stay).
    pub fn heal(&mut self) {
        self.links.heal();
    }

    /// Whether a packet from `a` reaches `b` (unicast).
    #[must_use]
    pub fn reaches(&self, a: usize, b: usize) -> bool {
        self.links
            .reaches(a, self.subnet_of(a), b, self.subnet_of(b))
    }

    /// Whether `a` and `b` can exchange TCP traffic (both directions).
    #[must_use]
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.reaches(a, b) && self.reaches(b, a)
    }

    /// Whether `b` receives `a`'s multicast.
    #[must_use]
    pub fn hears_multicast(&self, a: usize, b: usize) -> bool {
        a != b
            && self.subnet_of(a) == self.subnet_of(b)
            && self.reaches(a, b)
            && !self.deaf.contains(&(a, b))
    }

    /// One-way latency from `a` to `b` for one packet (ms), jitter included.
    pub fn latency(&self, a: usize, b: usize, rng: &mut ChaCha8Rng) -> u64 {
        let base = if self.subnet_of(a) == self.subnet_of(b) {
            self.cfg.lan_latency
        } else {
            self.cfg.wan_latency
        };
        let jitter = if self.cfg.jitter == 0 {
            0
        } else {
            rng.next_u64() % (self.cfg.jitter + 1)
        };
        base + jitter
    }

    /// How many copies of a datagram arrive (0, 1 or 2).
    pub fn copies(&self, rng: &mut ChaCha8Rng) -> usize {
        if chance(rng, self.cfg.loss) {
            0
        } else if chance(rng, self.cfg.dup) {
            2
        } else {
            1
        }
    }
}

/// The `k`-th address of subnet `s`: `10.<s>.<hi>.<lo>:29999`.
fn host_addr(s: usize, k: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(10, (s % 250) as u8, (k >> 8) as u8, (k & 0xff) as u8);
    SocketAddr::new(IpAddr::V4(ip), PORT)
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    // 53 random bits as a fraction in [0, 1).
    let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    x < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn multicast_stays_in_its_subnet_and_respects_blocks() {
        let mut net = Net::new(NetConfig::default(), vec![0, 0, 1]);
        assert!(net.hears_multicast(0, 1));
        assert!(!net.hears_multicast(0, 2));
        net.block_multicast(0, 1);
        assert!(!net.hears_multicast(0, 1));
        assert!(net.hears_multicast(1, 0), "one-way");
    }

    #[test]
    fn partitions_cut_and_heal() {
        let mut net = Net::new(NetConfig::default(), vec![0, 0, 1]);
        net.partition([2]);
        assert!(!net.connected(0, 2) && net.connected(0, 1));
        net.heal();
        assert!(net.connected(0, 2));
    }

    #[test]
    fn a_renumbered_node_leaves_its_old_address_behind() {
        let mut net = Net::new(NetConfig::default(), vec![0, 0, 1]);
        let old = net.addr(1);
        let new = net.renumber(1).expect("node 1 exists");
        assert_ne!(old, new);
        assert_eq!(net.addr(1), new);
        assert_eq!(net.node_at(new), Some(1));
        assert_eq!(net.node_at(old), None);
        assert_ne!(net.renumber(0), Some(new), "every lease is new");
    }

    #[test]
    fn a_one_way_cut_stops_multicast_and_unicast_in_one_direction_only() {
        let mut net = Net::new(NetConfig::default(), vec![0, 0, 1]);
        net.links_mut().cut_one_way([0], [1]);
        assert!(!net.hears_multicast(0, 1) && net.hears_multicast(1, 0));
        assert!(!net.reaches(0, 1) && net.reaches(1, 0));
        assert!(!net.connected(0, 1) && !net.connected(1, 0));
        net.heal();
        assert!(net.connected(0, 1));
    }

    #[test]
    fn addresses_are_distinct() {
        let net = Net::new(NetConfig::default(), vec![0, 1, 0, 1, 2]);
        let mut addrs: Vec<SocketAddr> = (0..5).map(|i| net.addr(i)).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 5);
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let net = Net::new(
            NetConfig {
                loss: 0.1,
                dup: 0.1,
                ..NetConfig::default()
            },
            vec![0],
        );
        let counts = (0..10_000).fold([0usize; 3], |mut c, _| {
            c[net.copies(&mut rng)] += 1;
            c
        });
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((700..1100).contains(&counts[2]), "{counts:?}");
    }
}
