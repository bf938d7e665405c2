//! The log(n) TCP distribution tree, and multicast islands.
//!
//! To broadcast, a node takes the destinations still to reach, shuffled,
//! and splits them in halves repeatedly: the first half's first node gets
//! the message with the rest of that half as its distribution list; the
//! remaining half is split again. So the sender makes about `log2(n)` sends
//! and each receiver does the same with its list: a binomial tree of depth
//! about `log2(n)`.
//!
//! Destinations are first thinned by multicast: a node that hears our
//! multicast gets the message that way (one random such node stays on the
//! list, because UDP is unreliable), and the remaining destinations are
//! grouped into islands (nodes that hear one another's multicast); only one
//! node per island is sent the TCP copy, and it multicasts it on its LAN.

use crate::model::NodeId;
use crate::wire::PeerRef;

/// Splits a distribution list into parts: `(head, rest of its part)`.
/// Part sizes halve: for 7 destinations, parts of 4, 2 and 1.
#[must_use]
pub fn split(list: &[PeerRef]) -> Vec<(PeerRef, Vec<PeerRef>)> {
    let mut out = Vec::new();
    let mut rest = list;
    while let Some(&head) = rest.first() {
        let take = rest.len().div_ceil(2);
        let (part, tail) = rest.split_at(take);
        out.push((head, part.get(1..).unwrap_or(&[]).to_vec()));
        rest = tail;
    }
    out
}

/// Picks one head per multicast island among `candidates` (in their given,
/// shuffled, order): a candidate is covered, and dropped, when it hears the
/// multicast of a head already picked. `hears(a, b)` says whether `a` is
/// known to hear `b`'s multicast.
#[must_use]
pub fn island_heads(
    candidates: &[PeerRef],
    hears: impl Fn(NodeId, NodeId) -> bool,
) -> Vec<PeerRef> {
    let mut heads: Vec<PeerRef> = Vec::new();
    for c in candidates {
        if !heads.iter().any(|h| hears(c.id, h.id)) {
            heads.push(*c);
        }
    }
    heads
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn p(i: u64) -> PeerRef {
        PeerRef {
            id: NodeId::from_u64(i),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)), 29999),
        }
    }

    fn depth(list: &[PeerRef]) -> usize {
        split(list)
            .iter()
            .map(|(_, rest)| 1 + depth(rest))
            .max()
            .unwrap_or(0)
    }

    fn reached(list: &[PeerRef], out: &mut Vec<NodeId>) {
        for (head, rest) in split(list) {
            out.push(head.id);
            reached(&rest, out);
        }
    }

    #[test]
    fn split_halves() {
        let list: Vec<PeerRef> = (1..=7).map(p).collect();
        let parts = split(&list);
        let sizes: Vec<usize> = parts.iter().map(|(_, r)| r.len() + 1).collect();
        assert_eq!(sizes, vec![4, 2, 1]);
        assert_eq!(parts[0].0.id, NodeId::from_u64(1));
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn the_tree_reaches_everyone_once_in_log_depth() {
        for n in [1usize, 2, 3, 10, 31, 100, 1000] {
            let list: Vec<PeerRef> = (1..=n as u64).map(p).collect();
            let mut got = Vec::new();
            reached(&list, &mut got);
            got.sort();
            let want: Vec<NodeId> = list.iter().map(|x| x.id).collect();
            assert_eq!(got, want, "n = {n}");
            let bound = (usize::BITS - n.leading_zeros()) as usize; // floor(log2 n) + 1
            assert!(depth(&list) <= bound, "n = {n}: depth {}", depth(&list));
        }
    }

    #[test]
    fn one_head_per_island() {
        // Islands {1,2,3} and {4,5}; 6 alone. Nodes hear their island mates.
        let island = |x: NodeId| match x.as_u64() {
            1..=3 => 0,
            4 | 5 => 1,
            n => n,
        };
        let hears = |a: NodeId, b: NodeId| a != b && island(a) == island(b);
        let list: Vec<PeerRef> = [2, 4, 1, 6, 5, 3].into_iter().map(p).collect();
        let heads: Vec<u64> = island_heads(&list, hears)
            .iter()
            .map(|h| h.id.as_u64())
            .collect();
        assert_eq!(heads, vec![2, 4, 6]);
    }
}
