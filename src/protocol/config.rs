//! `ProtocolConfig`: every knob of the Chatter protocol, with documented
//! defaults chosen for a LAN of small boards.
//!
//! Times are milliseconds of the monotonic clock passed in. The node layer
//! fills this from its typed config; the simulator from its command line.

use core::net::SocketAddr;

/// Tunables of the Chatter protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// Largest UDP payload sent (bytes). 1200 passes any path without IP
    /// fragmentation.
    pub mtu: usize,
    /// Largest TCP frame sent or accepted (bytes).
    pub max_frame: usize,
    /// Whether this node uses UDP multicast at all (tests on a shared host
    /// turn it off and use seeds).
    pub multicast: bool,
    /// Shortest announce period (ms): the period on a small LAN.
    pub announce_period: u64,
    /// Target number of announces per second on one LAN, all nodes together:
    /// the period grows with the number of multicast peers heard so a big
    /// LAN's total announce traffic stays bounded.
    pub lan_announce_rate: u64,
    /// Random spread of each period, in percent either way.
    pub jitter_percent: u64,
    /// How many announce periods of a peer a "hears" observation lasts.
    pub hears_ttl_periods: u64,
    /// Period of the push-pull with one random peer outside the local
    /// multicast island (ms).
    pub far_sync_period: u64,
    /// Period at which an island's representative sends its announce to
    /// every other island's representative it knows (ms): first-hand news of
    /// who represents which island, for the TCP tree.
    pub rep_sync_period: u64,
    /// A group whose digest differs is pulled once it has had no news for
    /// this long (ms): broadcasts in flight settle first.
    pub pull_quiet: u64,
    /// ... or at the latest this long after the difference was seen (ms),
    /// under sustained churn.
    pub pull_max_delay: u64,
    /// How long to wait for a pull's answer before asking another holder (ms).
    pub pull_timeout: u64,
    /// Most TCP connections open at once (a Pi has few descriptors).
    pub max_conns: usize,
    /// Close a TCP connection unused for this long (ms).
    pub conn_idle: u64,
    /// Give up on a TCP connect after this long (ms) if the shell has not
    /// reported it.
    pub connect_timeout: u64,
    /// Number of tree broadcasts remembered for de-duplication.
    pub seen_capacity: usize,
    /// Entries of who-hears-me per announce (the rest rotates).
    pub hears_window: usize,
    /// Group digests per announce (the rest rotates).
    pub groups_window: usize,
    /// Pulls served per peer per second, sustained (a burst of 4x is allowed).
    pub pulls_per_sec: u64,
    /// Peers given by address (other subnets multicast cannot reach).
    pub seeds: Vec<SocketAddr>,
    /// Reconnect (ms): every seed, and one address of every multicast
    /// island this node holds down as a whole, is contacted at least this
    /// often; a down member first after this long, then with a doubling
    /// wait up to 5 minutes (about one contact per down member per wait,
    /// cluster-wide). Default 10 s.
    pub reconnect_interval: u64,
    /// The failure detector.
    pub liveness: super::liveness::DetectorConfig,
    /// A peer down for this long (ms, monotonic) is expired: its items
    /// are dropped from this node's view and its old writes refused for as
    /// long again. Default 24 h.
    pub expire_after: u64,
    /// A retraction this node wrote at least this long ago (ms, monotonic)
    /// is collected at its next write: its GC floor rises and travels with
    /// that write, so every node drops the tombstone (docs/ALGORITHM.md,
    /// section 11). Default 1 h; 0 never collects.
    pub tombstone_ttl: u64,
    /// New member ids admitted per source address (a flood of invented
    /// ids from one machine is dropped beyond it).
    pub admissions: super::rate::Budget,
    /// Answers to unicast frames per source address (announce replies,
    /// acks, pings relayed for another): no amplification beyond it.
    pub replies: super::rate::Budget,
    /// Auto-claim: the groups' policies and the damping.
    pub auto: super::auto_mode::AutoConfig,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            mtu: 1200,
            max_frame: 1 << 20,
            multicast: true,
            announce_period: 1_000,
            lan_announce_rate: 5,
            jitter_percent: 25,
            hears_ttl_periods: 8,
            far_sync_period: 5_000,
            rep_sync_period: 20_000,
            pull_quiet: 500,
            pull_max_delay: 10_000,
            pull_timeout: 1_500,
            max_conns: 16,
            conn_idle: 30_000,
            connect_timeout: 3_000,
            seen_capacity: 4_096,
            hears_window: 8,
            groups_window: 8,
            pulls_per_sec: 20,
            seeds: Vec::new(),
            reconnect_interval: 10_000,
            liveness: super::liveness::DetectorConfig::default(),
            // A board announces a handful of ids at most (itself and up to
            // four island heads per announce).
            expire_after: 24 * 3_600_000,
            tombstone_ttl: 3_600_000,
            admissions: super::rate::Budget {
                rate: 20,
                burst: 200,
            },
            // A peer's own traffic needs about one answer per second.
            replies: super::rate::Budget {
                rate: 50,
                burst: 200,
            },
            auto: super::auto_mode::AutoConfig::default(),
        }
    }
}
