//! `Freshness`: per sender, the highest `(incarnation, seq)` accepted and
//! which of the 64 sequence numbers below it were seen, so a replayed
//! announce or probe cannot fake liveness or reachability while frames that
//! merely arrive out of order still pass.
//!
//! A frame passes if its incarnation is higher than the one recorded (a
//! restart resets `seq`), or, at the same incarnation, if its `seq` is
//! higher than the highest accepted, or is one of the 64 below it not yet
//! seen (the anti-replay window of IPsec, RFC 4303 section 3.4.3). Older or
//! repeated pairs are replays. Only kinds with
//! [`crate::wire::FrameKind::needs_freshness`] go through it; CRDT payloads
//! are idempotent. The table is a `BTreeMap` (no `HashMap`: its
//! `RandomState` reads OS entropy) capped at a number of senders: when full,
//! the sender heard from least recently is forgotten (its next frame is
//! accepted whatever its pair, as after a restart).

use std::collections::BTreeMap;

use crate::model::NodeId;

use super::error::WireError;

/// One sender's window: its incarnation, the highest `seq` accepted, and
/// bit `i` set when `seq - 1 - i` was accepted too.
#[derive(Clone, Copy, Debug)]
struct Window {
    incarnation: u64,
    highest: u64,
    below: u64,
    tick: u64,
}

/// How many sequence numbers below the highest are remembered.
pub(super) const WINDOW: u64 = 64;

/// Per sender, the highest `(incarnation, seq)` accepted and a window below.
#[derive(Clone, Debug)]
pub struct Freshness {
    cap: usize,
    last: BTreeMap<NodeId, Window>,
    /// tick -> sender, for evicting the least recently accepted.
    by_tick: BTreeMap<u64, NodeId>,
    tick: u64,
}

impl Freshness {
    /// Default number of senders remembered.
    pub const DEFAULT_CAP: usize = 4096;

    /// Remembers at most `cap` senders (at least 1).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            last: BTreeMap::new(),
            by_tick: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Accepts and records `(incarnation, seq)` from `sender` if it is new:
    /// above the highest accepted, or within the window below it and not
    /// seen yet.
    ///
    /// # Errors
    /// [`WireError::Replayed`] if not; nothing is recorded then.
    pub fn check(&mut self, sender: NodeId, incarnation: u64, seq: u64) -> Result<(), WireError> {
        let fresh = match self.last.get(&sender) {
            None => Window {
                incarnation,
                highest: seq,
                below: 0,
                tick: 0,
            },
            Some(w) if incarnation > w.incarnation => Window {
                incarnation,
                highest: seq,
                below: 0,
                tick: w.tick,
            },
            Some(w) if incarnation < w.incarnation => return Err(WireError::Replayed),
            Some(w) if seq > w.highest => {
                let shift = seq - w.highest;
                // The old highest becomes bit `shift - 1`.
                let below = if shift > WINDOW {
                    0
                } else {
                    (w.below << (shift - 1) << 1) | (1 << (shift - 1))
                };
                Window {
                    highest: seq,
                    below,
                    ..*w
                }
            }
            Some(w) => {
                let back = w.highest - seq;
                if back == 0 || back > WINDOW {
                    return Err(WireError::Replayed);
                }
                let bit = 1u64 << (back - 1);
                if w.below & bit != 0 {
                    return Err(WireError::Replayed);
                }
                Window {
                    below: w.below | bit,
                    ..*w
                }
            }
        };
        match self.last.get(&sender) {
            Some(w) => {
                self.by_tick.remove(&w.tick);
            }
            None if self.last.len() >= self.cap => {
                if let Some((_, oldest)) = self.by_tick.pop_first() {
                    self.last.remove(&oldest);
                }
            }
            None => {}
        }
        self.tick += 1;
        self.last.insert(
            sender,
            Window {
                tick: self.tick,
                ..fresh
            },
        );
        self.by_tick.insert(self.tick, sender);
        Ok(())
    }

    /// Forgets `sender` (it left or expired).
    pub fn forget(&mut self, sender: NodeId) {
        if let Some(w) = self.last.remove(&sender) {
            self.by_tick.remove(&w.tick);
        }
    }

    /// Number of senders remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no sender is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> NodeId {
        NodeId::from_u64(v)
    }

    #[test]
    fn each_pair_passes_once_and_reordering_within_the_window_is_fine() {
        let mut f = Freshness::default();
        assert_eq!(f.check(n(1), 1, 5), Ok(()));
        assert_eq!(f.check(n(1), 1, 5), Err(WireError::Replayed));
        // 4 arrives after 5 (reordered): new, so it passes, once.
        assert_eq!(f.check(n(1), 1, 4), Ok(()));
        assert_eq!(f.check(n(1), 1, 4), Err(WireError::Replayed));
        assert_eq!(f.check(n(1), 1, 6), Ok(()));
        assert_eq!(
            f.check(n(1), 1, 4),
            Err(WireError::Replayed),
            "still remembered after a shift"
        );
        // A jump, then the window's far edge and beyond it.
        assert_eq!(f.check(n(1), 1, 6 + WINDOW), Ok(()));
        assert_eq!(
            f.check(n(1), 1, 6),
            Err(WireError::Replayed),
            "seen, at the edge"
        );
        assert_eq!(
            f.check(n(1), 1, 5),
            Err(WireError::Replayed),
            "beyond the window"
        );
        assert_eq!(f.check(n(1), 1, 7), Ok(()), "inside the window, not seen");
        // A restart: higher incarnation, seq starts over.
        assert_eq!(f.check(n(1), 2, 0), Ok(()));
        assert_eq!(f.check(n(1), 1, 100), Err(WireError::Replayed));
        // Other senders are independent.
        assert_eq!(f.check(n(2), 1, 1), Ok(()));
    }

    #[test]
    fn evicts_the_least_recently_accepted_when_full() {
        let mut f = Freshness::new(2);
        f.check(n(1), 1, 1).unwrap();
        f.check(n(2), 1, 1).unwrap();
        f.check(n(1), 1, 2).unwrap();
        f.check(n(3), 1, 1).unwrap();
        assert_eq!(f.len(), 2);
        // 2 was forgotten; 1 was not.
        assert_eq!(f.check(n(1), 1, 2), Err(WireError::Replayed));
        assert_eq!(f.check(n(2), 1, 1), Ok(()));
        f.forget(n(2));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn matches_a_set_of_everything_seen_within_the_window() {
        // An oracle: the set of pairs seen, and the highest. A pair passes
        // iff it was never seen and is above `highest - WINDOW`.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut f = Freshness::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut highest = None::<u64>;
        for _ in 0..20_000 {
            let seq = 1_000 + next() % 300;
            let want = !seen.contains(&seq) && highest.is_none_or(|h| seq + WINDOW >= h);
            assert_eq!(
                f.check(n(1), 1, seq).is_ok(),
                want,
                "seq {seq}, highest {highest:?}"
            );
            if want {
                seen.insert(seq);
                highest = Some(highest.map_or(seq, |h| h.max(seq)));
            }
        }
    }
}
