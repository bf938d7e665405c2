//! The driver's side of hooks: the protocol's events to [`HookSource`], its
//! hook events to the configured [`Hooks`] and to `watch` (the kinds
//! `watch` does not already show: `group_joined`, `group_left`,
//! `owners_changed`), and the hook counters for `/metrics`.

use tokio::sync::broadcast;

use crate::node::hooks::{HookConfig, HookEvent, HookEventKind, HookSource, Hooks, RunResult};
use crate::node::request::{HookStatsView, WatchEvent};
use crate::protocol::{Chatter, Event, Millis};

use super::Driver;

/// Hooks as configured, started with the driver's loop.
#[derive(Default)]
pub(super) struct HookRelay {
    cfgs: Vec<HookConfig>,
    window_ms: u64,
    runner: Hooks,
    source: Option<HookSource>,
}

impl Driver {
    /// Runs `hooks` on the node's events (docs/node.md "Hooks"), gathering
    /// a group's changes for `window_ms` before one `owners-changed`.
    #[must_use]
    pub fn with_hooks(mut self, hooks: Vec<HookConfig>, window_ms: u64) -> Self {
        self.hooks.cfgs = hooks;
        self.hooks.window_ms = window_ms;
        self
    }
}

impl HookRelay {
    /// Starts the hooks' workers and takes the groups' current owners (on
    /// the loop's runtime, as it starts).
    pub(super) fn start(&mut self, c: &Chatter) {
        self.runner = Hooks::start(&self.cfgs);
        self.source = Some(HookSource::new(c, self.window_ms));
    }

    /// A protocol event in: its hook events out, at once.
    pub(super) fn on_event(
        &mut self,
        c: &Chatter,
        e: &Event,
        now: Millis,
        watch: &broadcast::Sender<WatchEvent>,
    ) {
        if let Some(s) = self.source.as_mut() {
            for h in s.on_event(c, e, now) {
                self.emit(&h, watch);
            }
        }
    }

    /// The `owners-changed` events due at `now`.
    pub(super) fn poll(&mut self, c: &Chatter, now: Millis, watch: &broadcast::Sender<WatchEvent>) {
        if let Some(s) = self.source.as_mut() {
            for h in s.poll(c, now) {
                self.emit(&h, watch);
            }
        }
    }

    /// When [`HookRelay::poll`] next has something.
    pub(super) fn next_deadline(&self) -> Option<Millis> {
        self.source.as_ref().and_then(HookSource::next_deadline)
    }

    /// Each hook's counters.
    pub(super) fn stats(&self) -> Vec<HookStatsView> {
        self.runner
            .stats()
            .map(|(name, s)| HookStatsView {
                hook: name.to_owned(),
                ok: s.runs(RunResult::Ok),
                failed: s.runs(RunResult::Failed),
                timeout: s.runs(RunResult::Timeout),
                error: s.runs(RunResult::Error),
                dropped: s.dropped(),
            })
            .collect()
    }

    fn emit(&self, h: &HookEvent, watch: &broadcast::Sender<WatchEvent>) {
        self.runner.fire(h);
        let name = match h.event {
            HookEventKind::GroupJoined => "group_joined",
            HookEventKind::GroupLeft => "group_left",
            HookEventKind::OwnersChanged => "owners_changed",
            // `watch` shows these from the protocol's own events.
            _ => return,
        };
        // Nobody watching is not an error.
        let _ = watch.send(WatchEvent {
            group: h.group.clone(),
            time: h.time.clone(),
            ranges: h.ranges.clone(),
            ..WatchEvent::now(name, h.uptime_ms)
        });
    }
}
