//! Many rounds of independent auto-claim deciders with differing, stale
//! views, executing their plans simultaneously: the make-before-break rule
//! under pressure.
//!
//! Each round every running node decides from its own view: each other
//! node's holdings as of a random earlier round (up to 3 rounds stale),
//! liveness beliefs that are wrong for a few rounds at a time (random
//! alive / suspect / down, down for a random while; about a third of all
//! beliefs), and, where nodes join, a membership it learns at its own
//! random round. All plans are then applied at once (the
//! worst case for concurrent releases). Nodes crash (keeping their items)
//! and restart, one at a time, down for longer than the hold-down.
//!
//! Checked after every round, for every slice:
//! - the number of nodes holding it (crashed ones included) never drops
//!   below R once it reached R, while all nodes agree on the membership
//!   (the proof's setting); with joins learned at different times, never
//!   below R - 1;
//! - the live holders never drop below R - 1 (one node is down at a time).
//!
//! Then views agree (fresh holdings, true liveness): within a few rounds
//! nothing is left to do, and every running node holds exactly its targets.
//!
//! A failure names the seed: `SCALESMALL_SEED=<n> cargo test --test auto_claim_sim`.

use std::collections::BTreeMap;

use scalesmall::model::{KeyRange, NodeId};
use scalesmall::protocol::Millis;
use scalesmall::protocol::auto_claim::{
    Assignment, Member, Observed, Policy, Situation, mix64, slices,
};
use scalesmall::wire::Liveness;

/// A small deterministic generator (the test's only randomness).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const ROUND_MS: u64 = 1_000;
const HOLD_DOWN: u64 = 3_000;
const STALE: u64 = 3;

struct Scenario {
    /// Each node starts holding each slice with this chance (percent): the
    /// mess left by a policy change or by manual claims turned auto.
    initial_percent: u64,
    nodes: usize,
    joiners: usize,
    replicas: u32,
    slices: u32,
    chaos_rounds: u64,
}

struct World {
    policy: Policy,
    ids: Vec<NodeId>,
    weights: Vec<u32>,
    /// Round from which a node is a member.
    member_from: Vec<u64>,
    /// `learn[x][y]`: the round from which `x` knows `y` is a member.
    learn: Vec<Vec<u64>>,
    running: Vec<bool>,
    down_since: Vec<u64>,
    own: Vec<Vec<KeyRange>>,
    /// Everyone's own ranges after each round.
    history: Vec<Vec<Vec<KeyRange>>>,
    cache: BTreeMap<Vec<usize>, Assignment>,
    /// `belief[x][y]`: a wrong liveness `x` currently holds about `y`.
    belief: Vec<Vec<Option<Observed>>>,
}

impl World {
    fn new(sc: &Scenario, rng: &mut Rng) -> Self {
        let total = sc.nodes + sc.joiners;
        let ids: Vec<NodeId> = (0..total).map(|_| NodeId::from_u64(rng.next())).collect();
        let weights: Vec<u32> = (0..total).map(|_| 1 + rng.below(3) as u32).collect();
        let member_from: Vec<u64> = (0..total)
            .map(|i| {
                if i < sc.nodes {
                    0
                } else {
                    5 + rng.below(sc.chaos_rounds.saturating_sub(10).max(1))
                }
            })
            .collect();
        let learn = (0..total)
            .map(|x| {
                (0..total)
                    .map(|y| {
                        if x == y || member_from[y] == 0 {
                            member_from[y]
                        } else {
                            member_from[y] + rng.below(4)
                        }
                    })
                    .collect()
            })
            .collect();
        let policy = Policy::new(sc.replicas, sc.slices).expect("valid");
        let own = (0..total)
            .map(|x| {
                let held: Vec<u32> = (0..sc.slices)
                    .filter(|_| x < sc.nodes && rng.chance(sc.initial_percent))
                    .collect();
                slices::blocks(&policy, &held)
            })
            .collect();
        Self {
            policy,
            ids,
            weights,
            member_from,
            learn,
            running: vec![true; total],
            down_since: vec![0; total],
            own,
            history: Vec::new(),
            cache: BTreeMap::new(),
            belief: vec![vec![None; total]; total],
        }
    }

    fn is_member(&self, y: usize, t: u64) -> bool {
        self.member_from[y] <= t
    }

    /// Node `x`'s membership view at round `t` (indices), or the truth.
    fn membership(&self, x: Option<usize>, t: u64) -> Vec<usize> {
        (0..self.ids.len())
            .filter(|&y| self.is_member(y, t) && x.is_none_or(|x| self.learn[x][y] <= t))
            .collect()
    }

    fn assignment(&mut self, members: Vec<usize>) -> &Assignment {
        let ms: Vec<Member> = members
            .iter()
            .map(|&i| Member {
                id: self.ids[i],
                weight: self.weights[i],
            })
            .collect();
        let policy = self.policy;
        self.cache
            .entry(members)
            .or_insert_with(|| Assignment::compute(policy, 0x5ca1e, &ms))
    }

    fn truth(&self, y: usize) -> Observed {
        if self.running[y] {
            Observed::ALIVE
        } else {
            Observed {
                state: Liveness::Down,
                since: Millis(self.down_since[y] * ROUND_MS),
            }
        }
    }

    /// One round: every running node decides on its view, then all plans
    /// are applied at once. Returns whether any node wrote anything.
    fn round(&mut self, t: u64, rng: &mut Rng, chaos: bool) -> bool {
        let n = self.ids.len();
        let mut plans = Vec::new();
        for x in 0..n {
            let involved = self.is_member(x, t) || !self.own[x].is_empty();
            if !self.running[x] || !involved {
                continue;
            }
            let mut holders: Vec<(NodeId, KeyRange)> = Vec::new();
            for y in (0..n).filter(|&y| y != x) {
                let lag = if chaos { rng.below(STALE + 1) } else { 0 };
                let ranges = if lag == 0 || self.history.is_empty() {
                    &self.own[y]
                } else {
                    let i = self.history.len().saturating_sub(1 + lag as usize);
                    &self.history[i][y]
                };
                holders.extend(ranges.iter().map(|&r| (self.ids[y], r)));
            }
            let mut live = BTreeMap::new();
            for y in (0..n).filter(|&y| y != x) {
                // A wrong belief lasts a few rounds (as a partial partition
                // or a lost rumor would), then is corrected.
                if chaos {
                    let keep = self.belief[x][y].is_some() && rng.chance(75);
                    self.belief[x][y] = if keep {
                        self.belief[x][y]
                    } else if rng.chance(15) {
                        let state = match rng.below(3) {
                            0 => Liveness::Alive,
                            1 => Liveness::Suspect,
                            _ => Liveness::Down,
                        };
                        let since = (t * ROUND_MS).saturating_sub(rng.below(8 * ROUND_MS));
                        Some(Observed {
                            state,
                            since: Millis(since),
                        })
                    } else {
                        None
                    };
                }
                let seen = match self.belief[x][y] {
                    Some(wrong) if chaos => wrong,
                    _ => self.truth(y),
                };
                live.insert(self.ids[y], seen);
            }
            let view = if chaos {
                self.membership(Some(x), t)
            } else {
                self.membership(None, t)
            };
            let me = self.ids[x];
            let own = self.own[x].clone();
            let a = self.assignment(view);
            let plan = Situation {
                me,
                assignment: a,
                now: Millis(t * ROUND_MS),
                hold_down: HOLD_DOWN,
                liveness: &live,
                holders: &holders,
                own: &own,
            }
            .decide();
            plans.push((x, plan));
        }
        let mut wrote = false;
        for (x, plan) in plans {
            if plan.is_empty() {
                continue;
            }
            wrote = true;
            let mut next: Vec<KeyRange> = self.own[x]
                .iter()
                .filter(|r| !plan.release.contains(r))
                .copied()
                .collect();
            next.extend(&plan.claim);
            next.sort_unstable();
            assert_eq!(
                slices::covered(&self.policy, &next),
                plan.held,
                "the items written serve exactly the planned slices"
            );
            assert_eq!(next, slices::blocks(&self.policy, &plan.held));
            self.own[x] = next;
        }
        self.history.push(self.own.clone());
        wrote
    }

    /// Per slice: (all holders, running holders).
    fn coverage(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.policy.slices() as usize];
        for (x, ranges) in self.own.iter().enumerate() {
            for s in slices::covered(&self.policy, ranges) {
                out[s as usize].0 += 1;
                if self.running[x] {
                    out[s as usize].1 += 1;
                }
            }
        }
        out
    }
}

struct Report {
    min_holders: usize,
    min_live: usize,
    rounds_to_converge: u64,
}

fn run(seed: u64, sc: &Scenario) -> Report {
    let mut rng = Rng(seed);
    let mut w = World::new(sc, &mut rng);
    let r = sc.replicas as usize;
    let n = w.ids.len();
    let mut reached = vec![false; sc.slices as usize];
    let mut min_holders = usize::MAX;
    let mut min_live = usize::MAX;
    // One crash at a time: down for 4 to 9 rounds (past the hold-down),
    // then up for a while.
    let mut down: Option<(usize, u64)> = None;
    if sc.initial_percent > 0 {
        // A node that never got to claim: its slices' targets do not hold.
        w.running[0] = false;
        down = Some((0, 6));
    }
    let mut next_crash = 8 + rng.below(6);
    for t in 0..sc.chaos_rounds {
        if let Some((x, until)) = down
            && t >= until
        {
            w.running[x] = true;
            down = None;
            next_crash = t + 4 + rng.below(8);
        }
        if down.is_none() && t >= next_crash {
            let x = rng.below(n as u64) as usize;
            w.running[x] = false;
            w.down_since[x] = t;
            down = Some((x, t + 4 + rng.below(6)));
        }
        w.round(t, &mut rng, true);
        // The proof's setting: one membership, so one rank order, for ever.
        let one_order = sc.joiners == 0;
        for (s, &(all, live)) in w.coverage().iter().enumerate() {
            if all >= r {
                reached[s] = true;
            }
            if !reached[s] {
                continue;
            }
            let floor_all = if one_order { r } else { r - 1 };
            assert!(
                all >= floor_all,
                "seed {seed} round {t}: slice {s} held by {all} < {floor_all}"
            );
            assert!(
                live + 1 >= r,
                "seed {seed} round {t}: slice {s} served by {live} running nodes, below R - 1"
            );
            min_holders = min_holders.min(all);
            min_live = min_live.min(live);
        }
    }
    // Views agree from now on. First with the crashed node still down
    // (its slices go to stand-ins once the hold-down is over), then with it
    // back (they are handed back).
    let (mut t, mut rounds_to_converge) = settle(&mut w, &mut rng, sc.chaos_rounds, seed, sc);
    check_targets(&mut w, t, seed, sc);
    if let Some((x, _)) = down {
        w.running[x] = true;
        let (end, rounds) = settle(&mut w, &mut rng, t + 1, seed, sc);
        t = end;
        rounds_to_converge = rounds_to_converge.max(rounds);
        check_targets(&mut w, t, seed, sc);
    }
    Report {
        min_holders,
        min_live,
        rounds_to_converge,
    }
}

/// Calm rounds until nothing was written for longer than the hold-down.
/// Returns the last round and how many rounds had writes until the last one.
fn settle(w: &mut World, rng: &mut Rng, mut t: u64, seed: u64, sc: &Scenario) -> (u64, u64) {
    let start = t;
    let quiet_needed = HOLD_DOWN / ROUND_MS + 2;
    let limit = t + 4 * u64::from(sc.replicas) + 12 + 2 * quiet_needed;
    let mut quiet = 0;
    let mut last_write = None;
    while quiet < quiet_needed {
        if w.round(t, rng, false) {
            quiet = 0;
            last_write = Some(t);
        } else {
            quiet += 1;
        }
        t += 1;
        assert!(t < limit, "seed {seed}: not converged by round {t}");
    }
    (t - 1, last_write.map_or(0, |l| l + 1 - start))
}

/// Every running node holds exactly its targets under the true view.
fn check_targets(w: &mut World, t: u64, seed: u64, sc: &Scenario) {
    let n = w.ids.len();
    let truth = w.membership(None, t);
    let now = Millis(t * ROUND_MS);
    let present: Vec<bool> = (0..n).map(|y| w.truth(y).present(now, HOLD_DOWN)).collect();
    let ids = w.ids.clone();
    let running = w.running.clone();
    let own = w.own.clone();
    let policy = w.policy;
    let a = w.assignment(truth).clone();
    for x in (0..n).filter(|&x| running[x]) {
        let want: Vec<u32> = (0..sc.slices)
            .filter(|&s| {
                a.targets(s, |id| {
                    ids.iter()
                        .position(|&i| i == id)
                        .is_some_and(|y| present[y])
                })
                .contains(&ids[x])
            })
            .collect();
        assert_eq!(
            slices::covered(&policy, &own[x]),
            want,
            "seed {seed}: node {x} does not hold exactly its targets at round {t}"
        );
    }
}

/// Runs `sc` for every seed (each run asserts its own invariants), lets
/// `check` look at each report, and returns the worst (min holders, min
/// running holders, calm rounds to converge) over the seeds.
fn worst_over_seeds(sc: &Scenario, check: impl Fn(u64, &Report)) -> (usize, usize, u64) {
    let mut worst = (usize::MAX, usize::MAX, 0);
    for seed in seeds() {
        let rep = run(seed, sc);
        check(seed, &rep);
        worst = (
            worst.0.min(rep.min_holders),
            worst.1.min(rep.min_live),
            worst.2.max(rep.rounds_to_converge),
        );
    }
    worst
}

/// `SCALESMALL_SEED=<n>` replays one seed; `SCALESMALL_SEEDS=<k>` runs
/// seeds 1 to k (12 by default).
fn seeds() -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match (var("SCALESMALL_SEED"), var("SCALESMALL_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(k)) => (1..=k).collect(),
        (None, None) => (1..=12).collect(),
    }
}

#[test]
fn stale_views_never_drop_coverage_below_r_and_converge() {
    for r in [2, 3] {
        let sc = Scenario {
            initial_percent: 0,
            nodes: 9,
            joiners: 0,
            replicas: r,
            slices: 32,
            chaos_rounds: 60,
        };
        let worst = worst_over_seeds(&sc, |seed, rep| {
            assert!(rep.min_holders >= r as usize, "seed {seed}");
        });
        println!(
            "R={r}: min holders {}, min running holders {}, calm rounds to converge <= {}",
            worst.0, worst.1, worst.2
        );
    }
}

#[test]
fn a_messy_start_never_drops_below_r_and_converges() {
    for r in [2, 3] {
        let sc = Scenario {
            initial_percent: 60,
            nodes: 8,
            joiners: 0,
            replicas: r,
            slices: 32,
            chaos_rounds: 40,
        };
        let worst = worst_over_seeds(&sc, |_, _| {});
        println!(
            "R={r} from a mess: min holders {}, min running holders {}, calm rounds to converge <= {}",
            worst.0, worst.1, worst.2
        );
    }
}

#[test]
fn joins_learned_at_different_times_keep_r_minus_one_and_converge() {
    for r in [2, 3] {
        let sc = Scenario {
            initial_percent: 0,
            nodes: 8,
            joiners: 3,
            replicas: r,
            slices: 32,
            chaos_rounds: 60,
        };
        let worst = worst_over_seeds(&sc, |_, _| {});
        println!(
            "R={r} with joins: min holders {}, min running holders {}, calm rounds to converge <= {}",
            worst.0, worst.1, worst.2
        );
    }
}
