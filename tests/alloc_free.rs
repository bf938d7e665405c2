//! "Nothing new" costs no allocation: applying an already-known message, or
//! a stale one, takes the fast path and allocates nothing. Proven with a
//! counting global allocator, in its own test binary. The count is per
//! thread, so other test threads cannot pollute it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use scalesmall::model::{KeyRange, NodeId, TopologyDb};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

/// 16 writers with 64 claims each, all known to `receiver`.
fn cluster() -> (Vec<TopologyDb>, TopologyDb) {
    let mut writers: Vec<TopologyDb> = (1..=16)
        .map(|i| TopologyDb::new(NodeId::from_u64(i)))
        .collect();
    for w in &mut writers {
        w.join("g").expect("valid");
        for k in 0..64u32 {
            w.claim(
                "g",
                KeyRange::new(k * 1000, k * 1000 + 999).expect("valid"),
                1,
                80,
            )
            .expect("valid");
        }
    }
    let mut receiver = TopologyDb::new(NodeId::from_u64(0xff));
    for w in &writers {
        receiver.apply(w.message("g").expect("written"));
    }
    (writers, receiver)
}

#[test]
fn applying_known_messages_allocates_nothing() {
    let (writers, mut receiver) = cluster();
    let full = receiver.message("g").expect("applied").clone();
    let stale = {
        // An older copy of writer 1's state.
        let mut old = TopologyDb::new(NodeId::from_u64(1));
        old.join("g").expect("valid");
        old.message("g").expect("written").clone()
    };
    let mut results = Vec::with_capacity(32);
    let n = allocations_during(|| {
        for w in &writers {
            results.push(receiver.apply(w.message("g").expect("written")));
        }
        results.push(receiver.apply(&full));
        results.push(receiver.apply(&stale));
    });
    assert!(results.iter().all(|a| !a.changed), "{results:?}");
    assert_eq!(n, 0, "the known-message fast path allocated {n} times");
}

#[test]
fn the_counter_sees_allocations() {
    // The proof above means something only if the counter counts.
    let (writers, _) = cluster();
    let mut fresh = TopologyDb::new(NodeId::from_u64(0xfe));
    let n = allocations_during(|| {
        fresh.apply(writers[0].message("g").expect("written"));
    });
    assert!(n > 0);
}
