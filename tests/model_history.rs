//! History-based tests: real writers write through `TopologyDb`, every write
//! is logged as ground truth, and nodes exchange full states and chunked
//! `delta_since` deltas, delivered late, in random order, duplicated or
//! lost. After every step every node satisfies the coverage invariant
//! against the log (and every produced message carries all it claims); each
//! apply matches the reference apply; after a final exchange with an
//! up-to-date node every node holds exactly the latest write of every
//! identity.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use scalesmall::model::{
    ChunkSizer, GroupName, KeyRange, Message, ModelError, NodeId, Span, TimedItem, TopologyDb,
    WorldClock,
};
use support::history::Truth;
use support::reference::RefState;

const G: &str = "g";
const WRITERS: usize = 3;
const NODES: usize = 6;

/// Small sizes so deltas split into many chunks.
struct TinySizer;

impl ChunkSizer for TinySizer {
    fn message_len(&self, _group: &GroupName) -> usize {
        4
    }
    fn member_len(&self, _member: NodeId, claimable: &[Span]) -> usize {
        8 + 2 * claimable.len()
    }
    fn item_len(&self, _item: &TimedItem) -> usize {
        30
    }
}

const BUDGETS: [usize; 3] = [110, 170, 1000];

fn range(i: u8) -> KeyRange {
    let all = [(0, 99), (100, 199), (0, 199), (0, u32::MAX), (5000, 5000)];
    let (a, b) = all[usize::from(i) % all.len()];
    KeyRange::new(a, b).expect("valid")
}

#[derive(Debug, Clone)]
enum Action {
    Join,
    Leave,
    Claim {
        range: u8,
        priority: u16,
    },
    Release {
        range: u8,
    },
    /// A write in another group: a gap in this group's clocks.
    Elsewhere {
        range: u8,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Write {
        writer: usize,
        action: Action,
    },
    /// `src` makes messages for `dst`: its full state, or a delta against
    /// `dst`'s current world clock; they go into the in-flight pool.
    Produce {
        src: usize,
        dst: usize,
        full: bool,
        budget: usize,
    },
    /// One in-flight message reaches `dst`; `keep` leaves a copy in flight
    /// (a later duplicate). Messages never delivered are lost.
    Deliver {
        pick: Index,
        dst: usize,
        keep: bool,
    },
    /// `writer` collects its own retractions written more than `back`
    /// clocks ago (raising its GC floor) and broadcasts the floor.
    Collect {
        writer: usize,
        back: u64,
    },
    /// `writer` restarts from what it persists: its clock, its own items
    /// and its own GC floor (everything it knew of others is gone).
    Restart {
        writer: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => Just(Action::Join),
        1 => Just(Action::Leave),
        4 => (0u8..5, 0u16..3).prop_map(|(range, priority)| Action::Claim { range, priority }),
        2 => (0u8..5).prop_map(|range| Action::Release { range }),
        2 => (0u8..5).prop_map(|range| Action::Elsewhere { range }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..WRITERS, action()).prop_map(|(writer, action)| Step::Write { writer, action }),
        2 => (0..NODES, 0..NODES, any::<bool>(), 0..BUDGETS.len())
            .prop_map(|(src, dst, full, b)| Step::Produce { src, dst, full, budget: BUDGETS[b] }),
        5 => (any::<Index>(), 0..NODES, any::<bool>())
            .prop_map(|(pick, dst, keep)| Step::Deliver { pick, dst, keep }),
        1 => (0..WRITERS, 0u64..4).prop_map(|(writer, back)| Step::Collect { writer, back }),
        1 => (0..WRITERS).prop_map(|writer| Step::Restart { writer }),
    ]
}

struct World {
    dbs: Vec<TopologyDb>,
    refs: Vec<RefState>,
    truth: Truth,
    pool: Vec<Message>,
}

fn id(i: usize) -> NodeId {
    if i < WRITERS {
        NodeId::from_u64(i as u64 + 1)
    } else {
        NodeId::from_u64(0x100 + i as u64)
    }
}

fn state_of(db: &TopologyDb) -> RefState {
    db.message(G).map(RefState::of).unwrap_or_default()
}

impl World {
    fn new() -> Self {
        let dbs: Vec<TopologyDb> = (0..NODES).map(|i| TopologyDb::new(id(i))).collect();
        Self {
            refs: vec![RefState::default(); NODES],
            dbs,
            truth: Truth::default(),
            pool: Vec::new(),
        }
    }

    fn write(&mut self, w: usize, action: &Action) {
        let db = &mut self.dbs[w];
        let result = match *action {
            Action::Join => db.join(G),
            Action::Leave => db.leave(G),
            Action::Claim { range: r, priority } => {
                db.claim(G, range(r), priority, 7000 + u16::from(r))
            }
            Action::Release { range: r } => db.release(G, range(r)),
            Action::Elsewhere { range: r } => db.claim("elsewhere", range(r), 0, 0),
        };
        match result {
            Ok(Some(written)) => self.truth.record(db, G, &written),
            Ok(None) | Err(ModelError::NotClaimed { .. }) => {}
            Err(e) => panic!("unexpected write error: {e}"),
        }
        self.refs[w] = state_of(db);
    }

    fn produce(&mut self, src: usize, dst: usize, full: bool, budget: usize) -> Result<(), String> {
        let remote = self.dbs[dst]
            .message(G)
            .map(|m| m.clock().clone())
            .unwrap_or_default();
        let msgs: Vec<Message> = if full {
            self.dbs[src].message(G).cloned().into_iter().collect()
        } else {
            self.dbs[src]
                .delta_since(G, &remote, budget, &TinySizer)
                .map_err(|e| format!("delta_since: {e}"))?
        };
        for m in &msgs {
            self.truth.check("a produced message", Some(m))?;
        }
        self.pool.extend(msgs);
        Ok(())
    }

    fn deliver(&mut self, msg: &Message, dst: usize) -> Result<(), String> {
        let before = state_of(&self.dbs[dst]);
        let applied = self.dbs[dst].apply(msg);
        let own = self.dbs[dst].own_id().as_u64();
        self.refs[dst].apply(&RefState::of(msg), Some(own));
        let after = state_of(&self.dbs[dst]);
        let want = self.refs[dst].clone().normalised();
        if after != want {
            return Err(format!(
                "node {dst}: apply of {msg:?} to {before:?} differs from the reference\n{after:?}\n{want:?}"
            ));
        }
        if applied.changed != (before != after) {
            return Err(format!(
                "node {dst}: changed={} but the state {} change",
                applied.changed,
                if before == after { "did not" } else { "did" }
            ));
        }
        self.refs[dst] = want;
        Ok(())
    }

    fn collect(&mut self, w: usize, back: u64) -> Result<(), String> {
        let db = &mut self.dbs[w];
        let upto = db.clock().saturating_sub(back);
        let mut floors = db.collect_own(upto);
        floors.retain(|m| m.group().as_str() == G);
        self.refs[w] = state_of(db);
        for m in &floors {
            self.truth.check("a floor message", Some(m))?;
        }
        self.pool.extend(floors);
        Ok(())
    }

    fn restart(&mut self, w: usize) -> Result<(), String> {
        let db = &self.dbs[w];
        let restored = TopologyDb::restore(db.own_id(), db.clock(), db.own_items())
            .map_err(|e| format!("restore: {e}"))?
            .with_own_floors(&db.own_floors());
        self.dbs[w] = restored;
        self.refs[w] = state_of(&self.dbs[w]);
        Ok(())
    }

    fn check_all(&self) -> Result<(), String> {
        for (i, db) in self.dbs.iter().enumerate() {
            self.truth.check(&format!("node {i}"), db.message(G))?;
        }
        Ok(())
    }
}

fn run(steps: &[Step]) -> Result<(), String> {
    let mut w = World::new();
    // A preamble so every history has enough items for several chunks.
    for writer in 0..WRITERS {
        for action in [
            Action::Join,
            Action::Claim {
                range: 0,
                priority: 1,
            },
            Action::Elsewhere { range: 1 },
            Action::Claim {
                range: 1,
                priority: 2,
            },
            Action::Claim {
                range: 4,
                priority: 0,
            },
        ] {
            w.write(writer, &action);
        }
    }
    for step in steps {
        match step {
            Step::Write { writer, action } => w.write(*writer, action),
            Step::Produce {
                src,
                dst,
                full,
                budget,
            } => w.produce(*src, *dst, *full, *budget)?,
            Step::Collect { writer, back } => w.collect(*writer, *back)?,
            Step::Restart { writer } => w.restart(*writer)?,
            Step::Deliver { pick, dst, keep } => {
                if !w.pool.is_empty() {
                    let i = pick.index(w.pool.len());
                    let msg = if *keep {
                        w.pool[i].clone()
                    } else {
                        w.pool.swap_remove(i)
                    };
                    w.deliver(&msg, *dst)?;
                }
            }
        }
        w.check_all()?;
    }

    // An up-to-date node: the writers' full states.
    let mut up = TopologyDb::new(NodeId::from_u64(0xfff));
    for writer in 0..WRITERS {
        if let Some(m) = w.dbs[writer].message(G) {
            up.apply(m);
        }
    }
    w.truth
        .holds_exactly("the up-to-date node", up.message(G))?;
    let fresh = up
        .delta_since(G, &WorldClock::new(), BUDGETS[0], &TinySizer)
        .map_err(|e| e.to_string())?;
    let floors = up
        .message(G)
        .is_some_and(|m| !m.clock().floors().is_empty());
    if fresh.len() < 3 && !floors {
        return Err(format!("a full delta took only {} chunks", fresh.len()));
    }
    // A final exchange: each node pulls from it; chunks arrive newest first.
    for dst in 0..NODES {
        let remote = w.dbs[dst]
            .message(G)
            .map(|m| m.clock().clone())
            .unwrap_or_default();
        let chunks = up
            .delta_since(G, &remote, BUDGETS[0], &TinySizer)
            .map_err(|e| e.to_string())?;
        for c in chunks.iter().rev() {
            w.truth.check("a final chunk", Some(c))?;
            w.deliver(c, dst)?;
            w.check_all()?;
        }
        w.truth
            .holds_exactly(&format!("node {dst}"), w.dbs[dst].message(G))?;
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn histories_keep_the_invariant_and_converge(steps in vec(step(), 0..120)) {
        if let Err(e) = run(&steps) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The checker can fail: a chunk that claims one clock too many is caught.
#[test]
fn a_chunk_claiming_one_clock_too_many_is_caught() {
    let mut writer = TopologyDb::new(NodeId::from_u64(1));
    let mut truth = Truth::default();
    for r in 0..4 {
        let w = writer
            .claim(G, range(r), 0, 0)
            .expect("valid")
            .expect("a write");
        truth.record(&writer, G, &w);
    }
    // Budget for one item per chunk.
    let chunks = writer
        .delta_since(G, &WorldClock::new(), 4 + 8 + 2 + 30, &TinySizer)
        .expect("fits");
    assert_eq!(chunks.len(), 4);
    let first = &chunks[0];
    let member = NodeId::from_u64(1);
    let claimed = first
        .clock()
        .coverage(member)
        .expect("claims")
        .max_covered();
    assert_eq!(claimed, 1);

    // Honest: a fresh node applying it is consistent.
    let mut honest = TopologyDb::new(NodeId::from_u64(2));
    honest.apply(first);
    truth
        .check("honest", honest.message(G))
        .expect("honest chunk passes");

    // Mutant: the same items, claiming (0, 2].
    let mut clock = first.clock().clone();
    clock.cover(member, Span::new(claimed, claimed + 1).expect("valid"));
    let mutant = Message::new(first.group().clone(), clock, first.items().items().to_vec())
        .expect("valid shape");
    let mut fooled = TopologyDb::new(NodeId::from_u64(2));
    fooled.apply(&mutant);
    assert!(truth.check("fooled", fooled.message(G)).is_err());
}
