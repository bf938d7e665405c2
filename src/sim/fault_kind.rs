//! `Fault`: the kinds of fault a board cluster meets that the heal checker
//! ([`super::heal`]) tries one at a time, and how each is injected into a
//! running [`Cluster`] and ended.
//!
//! Every long fault lasts at least three times (suspicion timeout +
//! auto-mode hold-down) of simulated time: far past the moment every node
//! has given up on the other side (the down verdict) and auto-claim has
//! taken over its ranges (issue 16, section 3). A fault's victims (which
//! subnet, which half, which board) are drawn from the run's RNG, so the
//! sweep over seeds covers them all.

use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

use super::cluster::Cluster;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The router drops all traffic between one subnet and the others, for
    /// minutes (multicast inside each subnet keeps working).
    RouterCut,
    /// One subnet's switch splits in two: one half of its boards reaches
    /// nobody else, not even by multicast, for minutes.
    SubnetSplit,
    /// A cut at the router that starts during boot (0 to 5 s after the
    /// first board starts), held for 1 minute up to a long fault's length.
    BootCut,
    /// The router fails: no path crosses between subnets; multicast and
    /// unicast inside each subnet keep working. For minutes.
    RouterDown,
    /// One-way cuts: a third of the boards (drawn at random, across
    /// subnets) send to everyone but hear from nobody outside their third.
    OneWay,
    /// The whole cluster loses power at once; the boards come back from
    /// their data dirs in random order over 30 s, after 10 s to 2 minutes.
    PowerLoss,
    /// One subnet's switch fails: its boards reach nobody, not even each
    /// other. For minutes.
    SwitchDown,
    /// A running board gets a new address in its subnet (a new DHCP lease)
    /// and keeps running (its id, its data, its advertised address).
    Renumber,
    /// A board is stopped, gets a new address in its subnet, and is
    /// restarted with the same data dir.
    RenumberRestart,
    /// A 5-minute cut at the router with `expire_after` = 60 s: each side
    /// expires the other's members while it lasts.
    ExpiryCut,
    /// A board's data dir refuses writes (a read-only or full SD card) for
    /// 10 s to 2 minutes while it keeps running and writing: its writes are
    /// refused and undone, then retried once the disk is back.
    DiskFailure,
}

/// What [`Fault::start`] did, for [`Fault::end`] and the checker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// The boards it acts on (renumbers, stops, fails the disk of).
    pub boards: Vec<usize>,
    /// The renumbered boards, each with its address before.
    pub old_addrs: Vec<(usize, SocketAddr)>,
}

impl Fault {
    /// Every kind, in the order tables list them.
    pub const ALL: [Self; 11] = [
        Self::RouterCut,
        Self::SubnetSplit,
        Self::BootCut,
        Self::RouterDown,
        Self::OneWay,
        Self::PowerLoss,
        Self::SwitchDown,
        Self::Renumber,
        Self::RenumberRestart,
        Self::ExpiryCut,
        Self::DiskFailure,
    ];

    /// Its name on the command line and in tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RouterCut => "router-cut",
            Self::SubnetSplit => "subnet-split",
            Self::BootCut => "boot-cut",
            Self::RouterDown => "router-down",
            Self::OneWay => "one-way",
            Self::PowerLoss => "power-loss",
            Self::SwitchDown => "switch-down",
            Self::Renumber => "renumber",
            Self::RenumberRestart => "renumber-restart",
            Self::ExpiryCut => "expiry-cut",
            Self::DiskFailure => "disk-failure",
        }
    }

    /// The kind named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The `expire_after` the kind runs with, if not the cluster's.
    #[must_use]
    pub const fn expire_after(self) -> Option<u64> {
        match self {
            Self::ExpiryCut => Some(60_000),
            _ => None,
        }
    }

    /// Whether the fault starts during boot (before the cluster converged).
    #[must_use]
    pub const fn at_boot(self) -> bool {
        matches!(self, Self::BootCut)
    }

    /// How long the fault lasts (ms), drawn for this run; `long` is a long
    /// fault's shortest length.
    pub fn duration(self, long: u64, rng: &mut ChaCha8Rng) -> u64 {
        let extra = |rng: &mut ChaCha8Rng, max: u64| rng.next_u64() % (max + 1);
        match self {
            Self::BootCut => 60_000 + extra(rng, long.saturating_sub(60_000)),
            Self::PowerLoss | Self::DiskFailure => 10_000 + extra(rng, 110_000),
            Self::Renumber => 0,
            Self::RenumberRestart => 2_000 + extra(rng, 8_000),
            Self::ExpiryCut => 300_000,
            _ => long + extra(rng, 60_000),
        }
    }

    /// Injects the fault into `c` now.
    pub fn start(self, c: &mut Cluster, rng: &mut ChaCha8Rng) -> Injected {
        let n = c.len();
        let subnets = subnets(c);
        let pick = |rng: &mut ChaCha8Rng, k: usize| (rng.next_u64() % k.max(1) as u64) as usize;
        match self {
            Self::RouterCut | Self::BootCut | Self::ExpiryCut => {
                let side = if subnets.len() > 1 {
                    let s = pick(rng, subnets.len());
                    members(c, s)
                } else {
                    half(&(0..n).collect::<Vec<_>>(), rng)
                };
                c.net_mut().links_mut().split(&[side]);
            }
            Self::SubnetSplit => {
                let s = pick(rng, subnets.len());
                let side = half(&members(c, s), rng);
                c.net_mut().links_mut().split(&[side]);
            }
            Self::RouterDown => c.net_mut().links_mut().fail_router(),
            Self::OneWay => {
                let deaf: BTreeSet<usize> = (0..n).filter(|_| rng.next_u64() % 3 == 0).collect();
                let rest: Vec<usize> = (0..n).filter(|i| !deaf.contains(i)).collect();
                c.net_mut().links_mut().cut_one_way(rest, deaf);
            }
            Self::PowerLoss => {
                for i in 0..n {
                    c.crash(i);
                }
            }
            Self::SwitchDown => {
                let s = pick(rng, subnets.len());
                c.net_mut().links_mut().fail_switch(s);
            }
            Self::Renumber => {
                let v = pick(rng, n);
                let old = c.addr(v);
                let _ = c.renumber(v);
                return Injected {
                    boards: vec![v],
                    old_addrs: vec![(v, old)],
                };
            }
            Self::RenumberRestart => {
                let v = pick(rng, n);
                c.crash(v);
                return Injected {
                    boards: vec![v],
                    old_addrs: vec![(v, c.addr(v))],
                };
            }
            Self::DiskFailure => {
                let v = pick(rng, n);
                c.fail_disk(v, true);
                return Injected {
                    boards: vec![v],
                    old_addrs: Vec::new(),
                };
            }
        }
        Injected::default()
    }

    /// Ends the fault: heals the links, or brings the boards back. A power
    /// loss restarts the boards in random order over up to 30 s, so this
    /// runs the cluster meanwhile; `injected` is what [`Fault::start`]
    /// returned.
    pub fn end(self, c: &mut Cluster, rng: &mut ChaCha8Rng, injected: &Injected) {
        match self {
            Self::PowerLoss => {
                let mut order: Vec<(u64, usize)> =
                    (0..c.len()).map(|i| (rng.next_u64() % 30_000, i)).collect();
                order.sort_unstable();
                let t0 = c.now();
                for (at, i) in order {
                    c.run_until(t0.plus(at));
                    c.restart(i);
                }
            }
            Self::RenumberRestart => {
                for &v in &injected.boards {
                    let _ = c.renumber(v);
                    c.restart(v);
                }
            }
            Self::DiskFailure => {
                for &v in &injected.boards {
                    c.fail_disk(v, false);
                }
            }
            Self::Renumber => {}
            _ => c.net_mut().heal(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The subnets in use, in order.
fn subnets(c: &Cluster) -> Vec<usize> {
    let set: BTreeSet<usize> = (0..c.len()).map(|i| c.subnet_of(i)).collect();
    set.into_iter().collect()
}

/// The boards of the `k`-th subnet in use.
fn members(c: &Cluster, k: usize) -> Vec<usize> {
    let s = subnets(c).get(k).copied().unwrap_or(0);
    (0..c.len()).filter(|&i| c.subnet_of(i) == s).collect()
}

/// A random half of `of` (at least one, when `of` has two or more, fewer
/// than all).
fn half(of: &[usize], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v = of.to_vec();
    // Fisher-Yates with the run's RNG.
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v.truncate(of.len() / 2);
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_that_parses_back() {
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()), Some(f));
        }
        assert_eq!(Fault::parse("nope"), None);
    }

    #[test]
    fn long_faults_last_at_least_the_long_length() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            for f in [
                Fault::RouterCut,
                Fault::SubnetSplit,
                Fault::RouterDown,
                Fault::SwitchDown,
                Fault::OneWay,
            ] {
                let d = f.duration(210_000, &mut rng);
                assert!((210_000..=270_000).contains(&d), "{f}: {d}");
            }
            let b = Fault::BootCut.duration(210_000, &mut rng);
            assert!((60_000..=210_000).contains(&b), "{b}");
        }
    }
}
