//! `Net`: the simulated network: subnets, latency, loss, duplication,
//! reordering, partitions and one-way multicast.
//!
//! A multicast reaches the nodes of the sender's subnet (never across the
//! router, exactly as on a real board cluster), except where a one-way block
//! says a receiver does not hear a sender. Unicast and TCP reach any node
//! not cut off by a partition. Every datagram independently may be lost or
//! duplicated; latency is a base plus uniform jitter, so datagrams reorder.
//! All randomness comes from the caller's RNG.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

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
    /// Nodes on the far side of a partition (cut from everyone else).
    cut: BTreeSet<usize>,
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
                let ip = Ipv4Addr::new(10, (s % 250) as u8, (*k >> 8) as u8, (*k & 0xff) as u8);
                SocketAddr::new(IpAddr::V4(ip), PORT)
            })
            .collect();
        let by_addr = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        Self {
            cfg,
            subnet,
            addrs,
            by_addr,
            deaf: BTreeSet::new(),
            cut: BTreeSet::new(),
        }
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
        self.cut = nodes.into_iter().collect();
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether `a` and `b` can exchange unicast or TCP traffic.
    #[must_use]
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&a) == self.cut.contains(&b)
    }

    /// Whether `b` receives `a`'s multicast.
    #[must_use]
    pub fn hears_multicast(&self, a: usize, b: usize) -> bool {
        a != b
            && self.subnet_of(a) == self.subnet_of(b)
            && self.connected(a, b)
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

/// True with probability `p`.
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
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
