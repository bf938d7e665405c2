//! A board renumbered while it runs (a new DHCP lease, an address changed
//! by hand): the node notices, binds its unicast sockets and TCP listeners
//! to the new address and tells the protocol (`Chatter::set_addrs`), which
//! announces it at once to its LAN and every far peer and seed.
//!
//! Why the shell must do this itself: the unicast sockets are bound to the
//! interface's address, not to every address, so after the old address is
//! gone the node could not even send from the new one; and peers follow a
//! board's address only on the evidence of its own newer frames.
//!
//! What is watched: the interface chosen at start, every
//! [`CHECK_EVERY`]; the addresses it would advertise are decided again
//! exactly as at start ([`netplan::plan`]). Nothing is watched when the
//! addresses are configured (`node.advertise`), and a moment with no usable
//! address (a lease being renewed) changes nothing: the old sockets stay
//! until a new usable address appears. A node that started with no usable
//! address listens on the wildcard and only starts advertising the one
//! that appears. A bind that fails is a warning and is tried again at the
//! next check. The multicast socket is joined on the
//! interface, not on an address, and is kept.

use core::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::config::Config;
use super::error::NodeError;
use super::iface;
use super::netplan::{self, NetPlan};
use super::tcp::{self, Listeners};
use super::udp;
use super::unicast::Unicast;

/// How often the interface's addresses are read (a few syscalls; a lease
/// change is noticed within this).
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Watches the interface's addresses.
#[derive(Debug)]
pub struct Renumber {
    cfg: Config,
    iface: String,
    /// What the node advertises now.
    current: Vec<IpAddr>,
}

/// New sockets for a new address.
pub struct Rebound {
    /// The addresses to advertise (without the port).
    pub advertise: Vec<IpAddr>,
    /// The new sockets: unicast and TCP listeners (`None`: the old ones
    /// listen on the wildcard address and serve the new one as well).
    pub sockets: Option<(Unicast, Listeners)>,
}

impl Renumber {
    /// A watcher of interface `iface` for a node that advertises `current`;
    /// `None` when the addresses are configured (nothing to follow).
    #[must_use]
    pub fn new(cfg: &Config, iface: &str, current: Vec<IpAddr>) -> Option<Self> {
        cfg.advertise.is_empty().then(|| Self {
            cfg: cfg.clone(),
            iface: iface.to_owned(),
            current,
        })
    }

    /// What the node advertises now.
    #[must_use]
    pub fn current(&self) -> &[IpAddr] {
        &self.current
    }

    /// Reads the interface: the new plan if its addresses changed (see the
    /// module doc), else `None`.
    #[must_use]
    pub fn check(&self) -> Option<NetPlan> {
        let nic = iface::pick(Some(&self.iface)).ok()?;
        let plan = netplan::plan(&self.cfg, &nic);
        changed(&self.current, &plan.advertise).then_some(plan)
    }

    /// Binds unicast sockets and TCP listeners for `plan` (on success the
    /// watcher takes its addresses as the current ones).
    ///
    /// # Errors
    /// The bind that failed; the old sockets are still the node's.
    pub fn rebind(&mut self, plan: &NetPlan) -> Result<Rebound, NodeError> {
        let sockets = if self.current.is_empty() {
            // Started with no usable address: bound to the wildcard, which
            // a specific bind would collide with and which serves the new
            // address already.
            None
        } else {
            let listener = tcp::listen(&plan.listen)?;
            let unicast = udp::bind_unicast_only(&plan.listen, plan.multicast, &self.cfg.peers)?;
            Some((unicast, listener))
        };
        self.current.clone_from(&plan.advertise);
        Ok(Rebound {
            advertise: plan.advertise.clone(),
            sockets,
        })
    }

    /// The socket addresses to advertise for `ips`.
    #[must_use]
    pub fn socket_addrs(&self, ips: &[IpAddr]) -> Vec<SocketAddr> {
        ips.iter()
            .map(|ip| SocketAddr::new(*ip, self.cfg.port))
            .collect()
    }
}

/// Whether the node should move from `current` to `fresh`: they differ and
/// `fresh` is usable (not empty: an interface without an address for a
/// moment keeps the old sockets).
#[must_use]
pub fn changed(current: &[IpAddr], fresh: &[IpAddr]) -> bool {
    !fresh.is_empty() && fresh != current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn a_new_address_is_a_change_and_none_at_all_is_not() {
        let old = ips(&["10.0.0.5"]);
        assert!(changed(&old, &ips(&["10.0.0.9"])));
        assert!(
            changed(&old, &ips(&["10.0.0.5", "fd77::5"])),
            "a family added"
        );
        assert!(!changed(&old, &ips(&["10.0.0.5"])));
        assert!(
            !changed(&old, &[]),
            "no address for a moment: keep the sockets"
        );
    }

    #[test]
    fn configured_addresses_are_not_watched() {
        let env = |k: &str| (k == "SCALESMALL_DATA_DIR").then(|| "/tmp/renumber".to_owned());
        let Ok(mut cfg) = Config::load(None, &env, &crate::node::config::Overrides::default())
        else {
            panic!("defaults load");
        };
        assert!(Renumber::new(&cfg, "eth0", ips(&["10.0.0.5"])).is_some());
        cfg.advertise = ips(&["10.0.0.5"]);
        assert!(Renumber::new(&cfg, "eth0", ips(&["10.0.0.5"])).is_none());
    }
}
