//! Multicast islands: who hears whom, this island's representative.

use super::*;

impl Chatter {
    /// How long a multicast observation lasts: a few of the current periods.
    pub(super) fn hears_ttl(&self) -> u64 {
        self.schedule
            .period
            .saturating_mul(self.cfg.hears_ttl_periods)
            .max(self.cfg.far_sync_period * 2)
    }

    /// How long a representative named in a `heads` list stays one.
    pub(super) fn rep_ttl(&self) -> u64 {
        self.cfg.rep_sync_period.saturating_mul(10)
    }

    /// Whether `p` shares our multicast island (either of us hears the other).
    pub(super) fn is_local(&self, p: &super::super::peers::Peer, now: Millis, ttl: u64) -> bool {
        self.cfg.multicast && (p.heard_by_multicast(now, ttl) || p.hears_us(now, ttl))
    }

    /// Our island's representative: the node with the smallest id among us
    /// and the peers whose multicast we hear (its multicast reaches us, which
    /// is what the tree relies on); ourselves without multicast. `None` for
    /// the first two announce periods, while we may not have heard our LAN.
    pub(super) fn my_rep(&self, now: Millis) -> Option<PeerRef> {
        let ttl = self.hears_ttl();
        let grace = 2 * self.schedule.period.max(self.cfg.announce_period);
        if self.cfg.multicast && now.since(self.schedule.started) < grace {
            return None;
        }
        let me = self.me.addrs.first().map(|addr| PeerRef {
            id: self.me.id,
            addr: *addr,
        });
        if !self.cfg.multicast {
            return me;
        }
        let best = self
            .peers
            .iter()
            .filter(|p| p.id < self.me.id && p.heard_by_multicast(now, ttl))
            .min_by_key(|p| p.id)
            .and_then(|p| p.peer_ref());
        best.or(me)
    }

    /// A random peer with an address passing `want`, by sampling (so the
    /// cost does not grow with the table).
    pub(super) fn sample_peer(
        &mut self,
        want: impl Fn(&super::super::peers::Peer) -> bool,
    ) -> Option<NodeId> {
        for _ in 0..16 {
            let r = self.rng.next_u64();
            if let Some(p) = self.peers.nth_wrapping(r)
                && p.addr.is_some()
                && want(p)
            {
                return Some(p.id);
            }
        }
        None
    }
}

/// The address of the placeholder in `heads[0]` that says "I do not know my
/// island's representative yet".
pub(super) const UNKNOWN_REP: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);
