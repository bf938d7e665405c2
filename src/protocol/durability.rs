//! `Durability`: a write takes effect only once durable.
//!
//! Every own write (a command, an auto-claim decision, a re-assertion after
//! `own_ahead`, a graceful leave that ends) changes the node's own state at
//! once, in memory, and the shell is asked to store it ([`OwnState`], polled
//! with `poll_persist`). Until the shell reports the outcome:
//!
//! - no transmit leaves (the frames may carry the write);
//! - the events the write caused (`changed` of our own write,
//!   `auto_claimed`, `own_ahead`) are held here.
//!
//! If the store succeeds ([`Durability::persisted`]) the held transmits and
//! events are released. If it fails ([`Durability::failed`]: a read-only or
//! full disk) the node puts its own state back as it was at the last
//! durable save, from the [`Checkpoint`] taken just before the first write
//! after it: the own part of the view, the auto-mode settings, the groups
//! held and left; the held events are withdrawn and the held transmits
//! queued after the checkpoint are dropped. The write never happened, as
//! far as anyone can tell; its clock is free again (it never left the
//! node). A later write is a fresh write. Own writes the node makes itself
//! are not tried again before [`Durability::may_retry`] says so
//! ([`RETRY_AFTER`] later), so a broken SD card is not hammered.
//!
//! One persist is outstanding at a time: writes made meanwhile are stored
//! together by the next one (a shell that stores asynchronously never has
//! two in flight, so their outcomes cannot cross). If the outstanding one
//! succeeds while later writes wait, the checkpoint moves to what it stored
//! (taken at the first of those later writes, when own state still equalled
//! it), so a failure of the next one undoes only what is not durable.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{GroupName, TimedItem, TopologyDb};

use super::auto_mode::AutoSettings;
use super::io::Event;
use super::time::Millis;

/// How long after a refused write the node's own writes (auto-claim,
/// re-assertion, the end of a graceful leave) wait before they are tried
/// again (ms). A command is always tried.
pub const RETRY_AFTER: u64 = 10_000;

/// The node's own state as persisted: its clock and its items. What the
/// shell stores after own writes ([`super::Chatter::poll_persist`]) and gives back to
/// [`super::Chatter::new`] after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OwnState {
    /// The highest clock written.
    pub clock: u64,
    /// Every own item, per group.
    pub items: Vec<(GroupName, TimedItem)>,
    /// The own GC floor of each group where it is above 0: own retractions
    /// there at or below it were collected (docs/ALGORITHM.md, section 11).
    /// A group left long ago stays listed, so its floor survives a restart.
    pub floors: Vec<(GroupName, u64)>,
}

impl OwnState {
    /// The own part of `db` now.
    #[must_use]
    pub fn of(db: &TopologyDb) -> Self {
        Self {
            clock: db.clock(),
            items: db.own_items(),
            floors: db.own_floors(),
        }
    }
}

/// What the node looked like at a durable save: the state a refused write
/// is undone to.
#[derive(Clone, Debug)]
pub(super) struct Checkpoint {
    /// The own part of the view (as stored).
    pub own: OwnState,
    /// Auto mode's settings.
    pub auto: AutoSettings,
    /// The groups the node was a member of.
    pub member_of: BTreeSet<GroupName>,
    /// The groups left and still lingering, since when.
    pub leaving: BTreeMap<GroupName, Millis>,
    /// How many transmits were queued (those after it may carry the write).
    pub transmits: usize,
}

/// The write-durability state (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Durability {
    /// The last durable state, while some write is not durable (or taken
    /// just before a write that may not happen: then `pending` is false).
    base: Option<Checkpoint>,
    /// Own state differs from the last durable save: transmits are held.
    pending: bool,
    /// The clock of the persist the shell is storing.
    in_flight: Option<u64>,
    /// Own state changed since the last persist was polled.
    dirty: bool,
    /// The state the in-flight persist stores, taken at the first write
    /// after it was polled; and how many held events came before it.
    next_base: Option<(Checkpoint, usize)>,
    /// Events of writes not durable yet.
    events: Vec<Event>,
    /// Own writes the node makes itself wait until then.
    retry_at: Millis,
}

impl Durability {
    /// Nothing pending (a node just started from its stored state).
    #[must_use]
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Whether a write is not durable yet: transmits are held.
    #[must_use]
    pub(super) const fn holding(&self) -> bool {
        self.pending
    }

    /// Whether a checkpoint must be taken before the next write (call
    /// [`Durability::begin`] with it): none is, or the one taken last was
    /// not followed by a write, or the in-flight persist's state has none.
    #[must_use]
    pub(super) fn wants_checkpoint(&self) -> bool {
        !self.pending || (self.in_flight.is_some() && !self.dirty)
    }

    /// The checkpoint of the state now, just before a write.
    pub(super) fn begin(&mut self, now: Checkpoint) {
        if !self.pending {
            self.base = Some(now);
        } else if self.in_flight.is_some() && !self.dirty {
            self.next_base = Some((now, self.events.len()));
        }
    }

    /// An own write was made (after [`Durability::begin`]).
    pub(super) fn wrote(&mut self) {
        debug_assert!(
            self.base.is_some()
                && !(self.pending
                    && self.in_flight.is_some()
                    && !self.dirty
                    && self.next_base.is_none()),
            "an own write without a checkpoint"
        );
        self.pending = true;
        self.dirty = true;
    }

    /// Holds an event of a write until the write is durable.
    pub(super) fn hold(&mut self, e: Event) {
        self.events.push(e);
    }

    /// The own state to store, if it changed and no persist is outstanding.
    pub(super) fn poll(&mut self, db: &TopologyDb) -> Option<OwnState> {
        if !self.dirty || self.in_flight.is_some() {
            return None;
        }
        self.dirty = false;
        self.in_flight = Some(db.clock());
        self.next_base = None;
        Some(OwnState::of(db))
    }

    /// The persist of `clock` is durable: returns the held events it made
    /// durable, in order. Transmits go once nothing is pending
    /// ([`Durability::holding`]).
    pub(super) fn persisted(&mut self, clock: u64) -> Vec<Event> {
        if self.in_flight != Some(clock) {
            return Vec::new();
        }
        self.in_flight = None;
        if !self.dirty {
            self.pending = false;
            self.base = None;
            return std::mem::take(&mut self.events);
        }
        // Later writes wait for the next persist: what this one stored is
        // the state to undo to now.
        match self.next_base.take() {
            Some((cp, held)) => {
                self.base = Some(cp);
                self.events.drain(..held.min(self.events.len())).collect()
            }
            None => Vec::new(),
        }
    }

    /// The persist of `clock` failed at `now`: the checkpoint to undo to
    /// (every write since it is refused), or `None` if `clock` is not the
    /// outstanding persist. The held events are withdrawn.
    pub(super) fn failed(&mut self, now: Millis, clock: u64) -> Option<Checkpoint> {
        if self.in_flight != Some(clock) {
            return None;
        }
        self.in_flight = None;
        self.pending = false;
        self.dirty = false;
        self.next_base = None;
        self.events.clear();
        self.retry_at = now.plus(RETRY_AFTER);
        self.base.take()
    }

    /// Whether own writes the node makes itself may be tried at `now` (not
    /// within [`RETRY_AFTER`] of a refused one).
    #[must_use]
    pub(super) fn may_retry(&self, now: Millis) -> bool {
        now >= self.retry_at
    }

    /// When they may be tried again.
    #[must_use]
    pub(super) const fn retry_at(&self) -> Millis {
        self.retry_at
    }
}
