//! A hostile key holder, measured: one address floods a node with
//! announces from invented members, with pulls for everything, or with
//! deltas of invented members, while the honest nodes keep writing. The
//! flooded node must stay within its caps (peers, members, items), and
//! the cluster must still converge on the honest writes within a bound.
//!
//! The shared cluster key authenticates the cluster, not a member (see
//! docs/wire.md), so a key holder can say anything; what it must not be able
//! to do is grow a board's memory without bound or stop the others.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{GroupName, KeyRange, NodeId, TopologyDb, WorldClock};
use crate::protocol::Command;
use crate::wire::{self, Announce, Frame, GroupDigest, Pull, Window};

use super::cluster::{Cluster, SimConfig};
use super::net::PORT;
use super::scenario::{GROUP, boot_writes, group};

/// What the flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flood {
    /// Announces, each from a new invented member.
    Announces,
    /// Pulls of the whole group from one sender, with an empty clock.
    Pulls,
    /// Deltas, each of a new invented member with a few claims.
    Deltas,
}

impl Flood {
    /// Its name in tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Flood::Announces => "announces from invented members",
            Flood::Pulls => "pulls of everything",
            Flood::Deltas => "deltas of invented members",
        }
    }
}

/// What [`flood`] found.
#[derive(Clone, Debug, Default)]
pub struct FloodReport {
    /// Frames the attacker sent.
    pub sent: u64,
    /// Datagrams per second it sent.
    pub rate: u64,
    /// Peers the victim knew at the end (capped at `MAX_PEERS`).
    pub victim_peers: usize,
    /// Members of the group the victim held at the end.
    pub victim_members: usize,
    /// The victim's member cap.
    pub member_cap: usize,
    /// Bytes per second the victim sent during the flood.
    pub victim_out_bytes: f64,
    /// The same before the flood (its normal rate).
    pub victim_out_before: f64,
    /// Honest writes made during the flood.
    pub honest_writes: usize,
    /// Time after the flood until every node held every honest write (ms),
    /// if it did (forged members may stay: a key holder can write them).
    pub converged_ms: Option<u64>,
    /// Coverage invariant violations (must be none).
    pub violations: usize,
}

/// Floods node 0 with `kind` at `rate` datagrams per second for `secs`
/// seconds while the other nodes keep writing; then measures how long the
/// cluster takes to converge on the honest writes.
#[must_use]
pub fn flood(cfg: SimConfig, kind: Flood, rate: u64, secs: u64) -> FloodReport {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xf100_d000);
    let mut report = FloodReport {
        rate,
        member_cap: TopologyDb::new(NodeId::from_u64(0)).caps().members,
        ..FloodReport::default()
    };
    let mut c = Cluster::new(cfg);
    boot_writes(&mut c, &mut rng, 2_000);
    let _ = c.run_until_converged(500, 120_000);
    c.run_for(10_000);

    let victim = 0;
    let before = c.traffic(victim).bytes_out;
    c.run_for(10_000);
    report.victim_out_before = (c.traffic(victim).bytes_out - before) as f64 / 10.0;

    let attacker = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 254, 0, 66)), PORT);
    let codec = c.codec();
    let step = 1_000 / rate.clamp(1, 1_000);
    let per_step = (rate / 1_000).max(1);
    let group = group();
    let flooder = NodeId::from_u64(rng.next_u64());
    let start = c.now();
    let before = c.traffic(victim).bytes_out;
    let mut next_write = start;
    let mut seq = 0u64;
    while c.now().since(start) < secs * 1_000 {
        for _ in 0..per_step {
            seq += 1;
            let Some(frame) = flood_frame(kind, &group, flooder, seq, &mut rng) else {
                continue;
            };
            let mut nonce = [0u8; 24];
            rng.fill_bytes(&mut nonce);
            if let Ok(bytes) = codec.encode_datagram(&frame, wire::VERSION, nonce) {
                c.inject(victim, attacker, bytes);
                report.sent += 1;
            }
        }
        // The honest nodes keep writing: one write every 500 ms.
        if c.now() >= next_write {
            let i = 1 + (rng.next_u64() % (c.len().max(2) as u64 - 1)) as usize;
            if c.alive(i) {
                c.command(
                    i,
                    Command::Claim {
                        group: group.clone(),
                        range: KeyRange::new(0, 9).unwrap_or(KeyRange::FULL),
                        priority: 10 + (report.honest_writes % 1000) as u16,
                        port: 8000,
                    },
                );
                report.honest_writes += 1;
            }
            next_write = next_write.plus(500);
        }
        c.run_for(step);
    }
    let flood_ms = c.now().since(start).max(1);
    report.victim_out_bytes =
        (c.traffic(victim).bytes_out - before) as f64 * 1000.0 / flood_ms as f64;
    report.converged_ms = c.run_until_holds_all(500, 120_000);
    c.check_invariant();
    report.violations = c.violations().len();
    if let Some(ch) = c.chatter(victim) {
        report.victim_peers = ch.peers().len();
        report.victim_members = ch
            .db()
            .members(GROUP)
            .len()
            .max(ch.db().message(GROUP).map_or(0, |m| m.clock().len()));
    }
    report
}

/// One frame of the flood `kind` (`None`: none this time).
fn flood_frame(
    kind: Flood,
    group: &GroupName,
    flooder: NodeId,
    seq: u64,
    rng: &mut ChaCha8Rng,
) -> Option<Frame> {
    Some(match kind {
        Flood::Announces => Frame {
            sender: NodeId::from_u64(rng.next_u64()),
            incarnation: 1,
            seq: 1,
            payload: wire::Payload::Announce(fake_announce(group, rng)),
        },
        Flood::Pulls => Frame {
            sender: flooder,
            incarnation: 1,
            seq,
            payload: wire::Payload::Pull(Pull {
                group: group.clone(),
                part: NodeId::ALL,
                clock: WorldClock::new(),
            }),
        },
        Flood::Deltas => {
            let member = rng.next_u64();
            let mut w = TopologyDb::new(NodeId::from_u64(member));
            for k in 0..4u32 {
                let _ = w.claim(
                    GROUP,
                    KeyRange::new(k * 100, k * 100 + 99).unwrap_or(KeyRange::FULL),
                    1,
                    80,
                );
            }
            let m = w.message(GROUP).cloned()?;
            Frame {
                sender: NodeId::from_u64(member),
                incarnation: 1,
                seq: 1,
                payload: wire::Payload::Delta(m),
            }
        }
    })
}

fn fake_announce(group: &GroupName, rng: &mut ChaCha8Rng) -> Announce {
    Announce {
        max_version: wire::VERSION,
        addrs: vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                10,
                254,
                (rng.next_u64() % 250) as u8,
                1 + (rng.next_u64() % 250) as u8,
            )),
            PORT,
        )],
        hears: Window::empty(),
        groups: Window::whole(vec![GroupDigest {
            group: group.clone(),
            fingerprint: rng.next_u64(),
        }]),
        groups_fp: rng.next_u64(),
        heads: Vec::new(),
        policy_fp: 0,
        rumors: Vec::new(),
    }
}
