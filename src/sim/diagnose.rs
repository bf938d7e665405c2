//! Why a cluster did not heal, in a few lines a protocol engineer can act
//! on: which board lacks whose writes, and for each such pair what each
//! board thinks of the other (liveness, the address it holds, when it last
//! heard from it) and whether the network lets them talk; which boards hold
//! a running board down; which still hold a renumbered board's old
//! address.

use core::fmt::Write as _;
use core::net::SocketAddr;

use super::cluster::Cluster;
use super::heal::{down_pairs, stale_addresses};

/// Most lines of each section.
const MAX_LINES: usize = 12;

/// The report (see the module docs); `old` are the renumbered boards with
/// their old addresses.
#[must_use]
pub fn diagnose(c: &Cluster, old: &[(usize, SocketAddr)]) -> String {
    let mut out = String::new();
    let running = (0..c.len()).filter(|&i| c.alive(i)).count();
    let lacking: Vec<(usize, Vec<(usize, usize)>)> = (0..c.len())
        .filter_map(|i| {
            let db = c.chatter(i)?.db();
            let of: Vec<(usize, usize)> = c
                .truth()
                .lacking(db)
                .into_iter()
                .filter_map(|(m, k)| index_of(c, m).map(|j| (j, k)))
                .collect();
            (!of.is_empty()).then_some((i, of))
        })
        .collect();
    let _ = writeln!(
        out,
        "at {:.1} s: {} of {running} running boards lack writes",
        c.now().0 as f64 / 1000.0,
        lacking.len()
    );
    let mut lines = 0;
    'all: for (i, of) in &lacking {
        for &(j, k) in of {
            if lines == MAX_LINES {
                let _ = writeln!(out, "  ...");
                break 'all;
            }
            lines += 1;
            let _ = writeln!(out, "  {} lacks {k} write(s) of {}", who(c, *i), who(c, j));
            let _ = writeln!(out, "    {}; {}", view(c, *i, j), view(c, j, *i));
        }
    }
    if let Some(db) = lacking
        .first()
        .and_then(|(i, _)| c.chatter(*i))
        .map(|ch| ch.db())
    {
        let diff = c.truth().diff(db);
        let _ = writeln!(out, "  the first one's difference:");
        for l in diff.lines().take(MAX_LINES / 2) {
            let _ = writeln!(out, "  {l}");
        }
    }
    let down = down_pairs(c);
    if !down.is_empty() {
        let _ = writeln!(
            out,
            "{} (observer, peer) pairs hold a running board down:",
            down.len()
        );
        for &(i, j) in down.iter().take(MAX_LINES) {
            let _ = writeln!(out, "  {}; {}", view(c, i, j), view(c, j, i));
            let _ = writeln!(out, "    {i}'s verdicts on {j}: {}", verdicts(c, i, j));
        }
    }
    for (i, v) in stale_addresses(c, old).into_iter().take(MAX_LINES) {
        let _ = writeln!(
            out,
            "  board {i} still holds board {v}'s old address (now {})",
            c.addr(v)
        );
    }
    out
}

/// The last few liveness verdicts board `i` reached about board `j`, with
/// their times.
fn verdicts(c: &Cluster, i: usize, j: usize) -> String {
    let id = c.node_id(j);
    let all: Vec<String> = c
        .liveness_log
        .iter()
        .filter(|v| v.observer == i && v.about == id)
        .map(|v| {
            format!(
                "{:?}{} at {:.1} s",
                v.state,
                if v.restarted { " (restarted)" } else { "" },
                v.at.0 as f64 / 1000.0
            )
        })
        .collect();
    let skip = all.len().saturating_sub(4);
    all[skip..].join(", ")
}

/// The index of the board with id `id`.
fn index_of(c: &Cluster, id: crate::model::NodeId) -> Option<usize> {
    (0..c.len()).find(|&i| c.node_id(i) == id)
}

/// `board 3 (subnet 1, 10.1.0.2:29999, running)`.
fn who(c: &Cluster, i: usize) -> String {
    format!(
        "board {i} (subnet {}, {}, {})",
        c.subnet_of(i),
        c.addr(i),
        if c.alive(i) { "running" } else { "stopped" }
    )
}

/// What board `i` thinks of board `j`, and whether `i` reaches `j`.
fn view(c: &Cluster, i: usize, j: usize) -> String {
    let Some(ch) = c.chatter(i) else {
        return format!("{i} is stopped");
    };
    let id = c.node_id(j);
    let state = ch.liveness(id);
    let peer = ch.peers().get(id).map_or_else(
        || "no peer entry".to_owned(),
        |p| {
            let addr = p.addr.map_or_else(
                || "no address".to_owned(),
                |a| {
                    if a == c.addr(j) {
                        format!("{a} (current)")
                    } else {
                        format!("{a} (NOT current)")
                    }
                },
            );
            format!(
                "at {addr}, last heard {:.1} s ago",
                c.now().since(p.last_heard) as f64 / 1000.0
            )
        },
    );
    let net = if c.reaches(i, j) {
        "reaches"
    } else {
        "does NOT reach"
    };
    format!("{i} holds {j} {state:?}, {peer}, {net} it")
}
