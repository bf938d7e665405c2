#![allow(dead_code)]

//! A deliberately simple reference of the model, written for clarity, not
//! speed: items in a `BTreeMap` keyed by identity, coverage as explicit sets
//! of clocks. The optimised types are checked against it exactly.

use std::collections::{BTreeMap, BTreeSet};

use scalesmall::model::{Kind, Message, TimedItem};

/// `(member, kind, start, end)`.
pub type Ident = (u64, Kind, u32, u32);

/// The overwritable part of an item, and its clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RefItem {
    pub clock: u64,
    pub live: bool,
    pub priority: u16,
    pub port: u16,
}

impl RefItem {
    fn wins_over(&self, other: &RefItem) -> bool {
        (self.clock, self.live, self.priority, self.port)
            > (other.clock, other.live, other.priority, other.port)
    }
}

/// One group's state: covered clocks per member, items per identity, and
/// GC floors per member.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RefState {
    pub cover: BTreeMap<u64, BTreeSet<u64>>,
    pub items: BTreeMap<Ident, RefItem>,
    pub floors: BTreeMap<u64, u64>,
}

pub fn ident(i: &TimedItem) -> Ident {
    (
        i.member().as_u64(),
        i.kind(),
        i.range().start(),
        i.range().end(),
    )
}

pub fn ref_item(i: &TimedItem) -> RefItem {
    RefItem {
        clock: i.clock(),
        live: i.live(),
        priority: i.priority(),
        port: i.port(),
    }
}

impl RefState {
    /// The reference view of an optimised message (coverage expanded clock
    /// by clock: keep clocks small in tests).
    pub fn of(msg: &Message) -> Self {
        let mut s = RefState::default();
        for e in msg.clock().entries() {
            let set = s.cover.entry(e.member().as_u64()).or_default();
            for span in e.coverage().spans() {
                set.extend(span.after() + 1..=span.upto());
            }
        }
        for i in msg.items().items() {
            s.items.insert(ident(i), ref_item(i));
        }
        for &(m, f) in msg.clock().floors() {
            s.floors.insert(m.as_u64(), f);
        }
        s
    }

    /// The CRDT join.
    pub fn join(&mut self, other: &RefState) {
        for (id, theirs) in &other.items {
            self.put(*id, *theirs);
        }
        for (m, clocks) in &other.cover {
            self.cover.entry(*m).or_default().extend(clocks);
        }
        for (m, f) in &other.floors {
            let ours = self.floors.entry(*m).or_default();
            *ours = (*ours).max(*f);
        }
    }

    /// Coverage-aware apply, leaving member `except` alone, with the floor
    /// rule: an incoming floor `f` above ours is a reset if `other` covers
    /// every clock `1..=f` (our items at clocks `<= f` are replaced by its),
    /// else its items and coverage at clocks `<= f` are ignored; then our
    /// floor rises to `f` as far as our own prefix allows, and our
    /// retractions at or below it are dropped.
    pub fn apply(&mut self, other: &RefState, except: Option<u64>) {
        let mut resets = BTreeMap::new();
        let mut cuts = BTreeMap::new();
        for (&m, &f) in &other.floors {
            if Some(m) == except || f <= self.floor(m) {
                continue;
            }
            if other.known_upto(m) >= f {
                resets.insert(m, f);
            } else {
                cuts.insert(m, f);
            }
        }
        self.items
            .retain(|id, it| resets.get(&id.0).is_none_or(|&f| it.clock > f));
        for (id, theirs) in &other.items {
            if Some(id.0) == except || cuts.get(&id.0).is_some_and(|&f| theirs.clock <= f) {
                continue;
            }
            let reset = resets.get(&id.0).is_some_and(|&f| theirs.clock <= f);
            if !reset && self.covers(id.0, theirs.clock) {
                continue;
            }
            self.put(*id, *theirs);
        }
        for (m, clocks) in &other.cover {
            if Some(*m) != except {
                let cut = cuts.get(m).copied().unwrap_or(0);
                self.cover
                    .entry(*m)
                    .or_default()
                    .extend(clocks.iter().filter(|&&c| c > cut));
            }
        }
        for (&m, &f) in resets.iter().chain(&cuts) {
            self.raise_floor(m, f);
        }
    }

    /// `member`'s floor (0 = none).
    pub fn floor(&self, member: u64) -> u64 {
        self.floors.get(&member).copied().unwrap_or(0)
    }

    /// The largest `k` with every clock `1..=k` of `member` covered.
    pub fn known_upto(&self, member: u64) -> u64 {
        let Some(set) = self.cover.get(&member) else {
            return 0;
        };
        let mut k = 0;
        while set.contains(&(k + 1)) {
            k += 1;
        }
        k
    }

    /// Raises `member`'s floor to `f`, capped by its prefix, dropping its
    /// retractions at or below the new floor.
    pub fn raise_floor(&mut self, member: u64, f: u64) {
        let f = f.min(self.known_upto(member));
        if f <= self.floor(member) {
            return;
        }
        self.floors.insert(member, f);
        self.items
            .retain(|id, it| id.0 != member || it.live || it.clock > f);
    }

    pub fn covers(&self, member: u64, clock: u64) -> bool {
        self.cover.get(&member).is_some_and(|s| s.contains(&clock))
    }

    fn put(&mut self, id: Ident, item: RefItem) {
        match self.items.get(&id) {
            Some(held) if !item.wins_over(held) => {}
            _ => {
                self.items.insert(id, item);
            }
        }
    }

    /// Members serving `key`: `(member, priority, port)`, priority high to
    /// low, ties by member; each member once, with its best claim.
    pub fn lookup(&self, key: u32) -> Vec<(u64, u16, u16)> {
        let mut best: BTreeMap<u64, (u16, u16)> = BTreeMap::new();
        for (&(m, kind, start, end), it) in &self.items {
            if it.live && kind == Kind::Serve && start <= key && key <= end {
                let e = best.entry(m).or_insert((it.priority, it.port));
                if it.priority > e.0 {
                    *e = (it.priority, it.port);
                }
            }
        }
        let mut out: Vec<(u64, u16, u16)> = best
            .into_iter()
            .map(|(m, (p, port))| (m, p, port))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Without empty coverage sets (the optimised form never keeps them).
    pub fn normalised(mut self) -> Self {
        self.cover.retain(|_, s| !s.is_empty());
        self.floors.retain(|_, f| *f > 0);
        self
    }
}
