//! The auto-claim oracle: the nominal assignment computed the slow, obvious
//! way, to check `Assignment::compute` against.
//!
//! - Shares by repeated proportional division: give every member its weight
//!   share of the replica slots; while someone's share exceeds one copy of
//!   every slice, fix it at that and divide the rest again.
//! - Caps from the shares, as `docs/ALGORITHM.md` states them.
//! - The matching: every `(key, member, slice)` pair sorted, then taken
//!   greedily when the slice still needs an owner and the member has room.
//!   With both sides ranking pairs by the same key this is the unique stable
//!   matching, which the optimised deferred acceptance must equal whenever
//!   it needed no repair.

use scalesmall::model::NodeId;
use scalesmall::protocol::auto_claim::{Member, Policy, key};

/// Members sorted by id, one per id (the greatest weight), and their
/// effective weights (standbys count 1 while fewer than R have a weight).
pub fn effective(policy: &Policy, members: &[Member]) -> Vec<(NodeId, u32)> {
    let mut best: std::collections::BTreeMap<NodeId, u32> = Default::default();
    for m in members {
        let w = best.entry(m.id).or_insert(0);
        *w = (*w).max(m.weight);
    }
    let positive = best.values().filter(|&&w| w > 0).count();
    best.into_iter()
        .map(|(id, w)| {
            let w = if positive < policy.replicas() as usize {
                w.max(1)
            } else {
                w
            };
            (id, w)
        })
        .collect()
}

/// Each member's share `(num, den)` of the replica slots.
pub fn shares(policy: &Policy, eff: &[(NodeId, u32)]) -> Vec<(u128, u128)> {
    let s = u128::from(policy.slices());
    let eligible = eff.iter().filter(|(_, w)| *w > 0).count();
    let per_slice = (policy.replicas() as usize).min(eligible) as u128;
    let mut fixed = vec![false; eff.len()];
    loop {
        let slots = per_slice * s - s * fixed.iter().filter(|&&f| f).count() as u128;
        let weight: u128 = eff
            .iter()
            .zip(&fixed)
            .filter(|(_, f)| !**f)
            .map(|((_, w), _)| u128::from(*w))
            .sum();
        let mut changed = false;
        let mut out = Vec::new();
        for (i, (_, w)) in eff.iter().enumerate() {
            if fixed[i] {
                out.push((s, 1));
            } else if *w == 0 || weight == 0 {
                out.push((0, 1));
            } else if slots * u128::from(*w) > s * weight {
                fixed[i] = true;
                changed = true;
                out.push((s, 1));
            } else {
                out.push((slots * u128::from(*w), weight));
            }
        }
        if !changed {
            return out;
        }
    }
}

/// The caps: `min(slices, max(ceil(share), floor(1.25 share)))`.
pub fn caps(policy: &Policy, shares: &[(u128, u128)]) -> Vec<u32> {
    shares
        .iter()
        .map(|&(num, den)| {
            if num == 0 {
                return 0;
            }
            let ceil = num.div_ceil(den);
            let slack = 5 * num / (4 * den);
            ceil.max(slack).min(u128::from(policy.slices())) as u32
        })
        .collect()
}

/// The greedy over globally ranked pairs: each slice's owners, best key
/// first.
pub fn assignment(policy: &Policy, salt: u64, members: &[Member]) -> Vec<Vec<NodeId>> {
    let eff = effective(policy, members);
    let caps = caps(policy, &shares(policy, &eff));
    let eligible = eff.iter().filter(|(_, w)| *w > 0).count();
    let per_slice = (policy.replicas() as usize).min(eligible);
    let mut pairs = Vec::new();
    for (i, (id, w)) in eff.iter().enumerate() {
        for s in 0..policy.slices() {
            pairs.push((key(salt, s, *id, *w), *id, s, i));
        }
    }
    pairs.sort_unstable();
    let mut load = vec![0u32; eff.len()];
    let mut out: Vec<Vec<NodeId>> = vec![Vec::new(); policy.slices() as usize];
    for (_, id, s, i) in pairs {
        let owners = &mut out[s as usize];
        if owners.len() < per_slice && load[i] < caps[i] {
            owners.push(id);
            load[i] += 1;
        }
    }
    out
}
