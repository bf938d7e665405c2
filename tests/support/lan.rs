//! LANs and routers made of network namespaces, for tests that run real
//! nodes with no network flags (so each node needs a host of its own).
//!
//! Every namespace carries a prefix unique to the test process and the
//! topology (`ss6-<pid>-<n>-`) and is deleted when its [`Namespaces`]
//! drops, also when the test fails; deleting a namespace deletes its
//! links. Every `ip` command is bounded. Addresses are added with `nodad`
//! (no "tentative" second). Nothing touches the host's own network. Needs
//! root: see [`skip_unless_root`].

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::procs::{is_root, wait_exit};

/// Runs `ip` (bounded to 10 s); panics naming the command if it fails.
pub fn ip(args: &[&str]) {
    let child = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip");
    let status = wait_exit(child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "ip {} failed",
        args.join(" ")
    );
}

/// Whether the test can make namespaces; if not, prints why `test` skips.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("SKIP {test}: needs root to create network namespaces");
    true
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The namespaces of one topology, deleted on drop.
pub struct Namespaces {
    prefix: String,
    names: Vec<String>,
}

impl Namespaces {
    pub fn new() -> Self {
        Self {
            prefix: format!(
                "ss6-{}-{}-",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            names: Vec::new(),
        }
    }

    /// A new namespace with `lo` up.
    pub fn add(&mut self, tag: &str) -> String {
        let name = format!("{}{tag}", self.prefix);
        ip(&["netns", "add", &name]);
        self.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// A veth pair, `near` in namespace `a` and `far` in `b`, both up.
    pub fn cable(&self, a: &str, near: &str, b: &str, far: &str) {
        ip(&[
            "-n", a, "link", "add", near, "type", "veth", "peer", "name", far, "netns", b,
        ]);
        ip(&["-n", a, "link", "set", near, "up"]);
        ip(&["-n", b, "link", "set", far, "up"]);
    }

    /// A new namespace holding bridge `br0` (multicast snooping off, so
    /// every port gets every group).
    pub fn bridge(&mut self, tag: &str) -> String {
        let ns = self.add(tag);
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    /// A new host namespace whose `eth0` is port `port` of the bridge in
    /// `bridge`.
    pub fn host_on(&mut self, bridge: &str, port: &str, tag: &str) -> String {
        let host = self.add(tag);
        self.cable(bridge, port, &host, "eth0");
        ip(&["-n", bridge, "link", "set", port, "master", "br0"]);
        host
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Adds `cidr` to `ns`'s `eth0` without duplicate address detection.
pub fn addr(ns: &str, cidr: &str) {
    ip(&["-n", ns, "addr", "add", cidr, "dev", "eth0", "nodad"]);
}

/// One LAN: a bridge and a host per entry of `v4`. Host `i` (from 1) gets
/// `fd77::i/64`, and `10.77.0.i/24` if its entry is true.
pub fn lan(v4: &[bool]) -> (Namespaces, Vec<String>) {
    let mut ns = Namespaces::new();
    let hub = ns.bridge("br");
    let mut hosts = Vec::new();
    for (i, with_v4) in v4.iter().enumerate() {
        let n = i + 1;
        let host = ns.host_on(&hub, &format!("v{n}"), &format!("h{n}"));
        addr(&host, &format!("fd77::{n}/64"));
        if *with_v4 {
            ip(&[
                "-n",
                &host,
                "addr",
                "add",
                &format!("10.77.0.{n}/24"),
                "dev",
                "eth0",
            ]);
        }
        hosts.push(host);
    }
    (ns, hosts)
}

/// IPv6-only subnets joined by a router (namespace `rt`, forwarding on):
/// subnet `s` (from 1) is `fd77:s::/64`, a bridge with `hosts[s-1]` hosts
/// at `fd77:s::2`, `fd77:s::3`, ..., each with its default route via the
/// router at `fd77:s::1` (its link `r<s>`: set it down to cut the subnet
/// off). Multicast stays inside each subnet.
pub fn routed(hosts: &[usize]) -> (Namespaces, Vec<Vec<String>>) {
    let mut ns = Namespaces::new();
    let router = ns.add("rt");
    let forward = Command::new("ip")
        .args(["netns", "exec", &router, "sysctl", "-qw"])
        .arg("net.ipv6.conf.all.forwarding=1")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(forward, "enable IPv6 forwarding in {router}");
    let mut subnets = Vec::new();
    for (i, count) in hosts.iter().enumerate() {
        let s = i + 1;
        let hub = ns.bridge(&format!("s{s}"));
        let side = format!("r{s}");
        ns.cable(&router, &side, &hub, "up0");
        ip(&["-n", &hub, "link", "set", "up0", "master", "br0"]);
        let gw = format!("fd77:{s}::1");
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            &format!("{gw}/64"),
            "dev",
            &side,
            "nodad",
        ]);
        let mut names = Vec::new();
        for h in 1..=*count {
            let host = ns.host_on(&hub, &format!("v{h}"), &format!("h{s}{h}"));
            addr(&host, &format!("fd77:{s}::{}/64", h + 1));
            ip(&["-n", &host, "-6", "route", "add", "default", "via", &gw]);
            names.push(host);
        }
        subnets.push(names);
    }
    (ns, subnets)
}

/// The router's namespace of a [`routed`] topology.
pub fn router(ns: &Namespaces) -> String {
    format!("{}rt", ns.prefix)
}
