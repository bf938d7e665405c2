//! Workloads shared by the criterion benches (`benches/merge.rs`) and the
//! instruction-count driver (`examples/merge_profile.rs`).
//!
//! `n` items from 16 members; member `m`'s item `k` serves
//! `[k*100, k*100+99]` at clock `2k+1` (the even clocks went to other
//! groups), and the message covers `(0, 2 * n/16]` for each member.

#![allow(dead_code)]

use scalesmall::model::{GroupName, Item, KeyRange, Message, NodeId, Span, TimedItem, WorldClock};

pub const MEMBERS: u64 = 16;

/// How the second message relates to the first.
#[derive(Clone, Copy, Debug)]
pub enum Case {
    /// The same message.
    Identical,
    /// Other members' items: nothing shared.
    Disjoint,
    /// Same members; half the identities rewritten at newer clocks, half new.
    Overlap50,
}

impl Case {
    pub const ALL: [Case; 3] = [Case::Identical, Case::Disjoint, Case::Overlap50];

    pub fn name(self) -> &'static str {
        match self {
            Case::Identical => "identical",
            Case::Disjoint => "disjoint",
            Case::Overlap50 => "overlap50",
        }
    }

    pub fn parse(s: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == s)
    }
}

fn group() -> GroupName {
    GroupName::new("bench").expect("valid")
}

fn serve(member: u64, start: u32, clock: u64) -> TimedItem {
    let range = KeyRange::new(start, start + 99).expect("valid");
    TimedItem::at(Item::add(NodeId::from_u64(member), range, 1, 8080), clock).expect("clock >= 1")
}

fn message(items: Vec<TimedItem>, cover: impl Iterator<Item = (u64, u64, u64)>) -> Message {
    let mut clock = WorldClock::new();
    for (m, after, upto) in cover {
        if after < upto {
            clock.cover(
                NodeId::from_u64(m),
                Span::new(after, upto).expect("after < upto"),
            );
        }
    }
    Message::new(group(), clock, items).expect("valid")
}

/// The base message: `n` items from members `first..first+16`.
pub fn base(n: usize, first: u64) -> Message {
    let per = (n as u64).div_ceil(MEMBERS);
    let mut items = Vec::with_capacity(n);
    'outer: for m in first..first + MEMBERS {
        for k in 0..per {
            if items.len() == n {
                break 'outer;
            }
            items.push(serve(m, (k * 100) as u32, 2 * k + 1));
        }
    }
    message(items, (first..first + MEMBERS).map(|m| (m, 0, 2 * per)))
}

/// The pair `(a, b)` for a case.
pub fn pair(n: usize, case: Case) -> (Message, Message) {
    let a = base(n, 1);
    let b = match case {
        Case::Identical => a.clone(),
        Case::Disjoint => base(n, 1 + MEMBERS),
        Case::Overlap50 => {
            let per = (n as u64).div_ceil(MEMBERS);
            let mut items = Vec::with_capacity(n);
            'outer: for m in 1..=MEMBERS {
                for k in 0..per {
                    if items.len() == n {
                        break 'outer;
                    }
                    let clock = 2 * per + k + 1;
                    let start = if k % 2 == 0 { k * 100 } else { k * 100 + 50 };
                    items.push(serve(m, start as u32, clock));
                }
            }
            message(items, (1..=MEMBERS).map(|m| (m, 2 * per, 3 * per)))
        }
    };
    (a, b)
}
