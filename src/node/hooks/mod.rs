//! Event hooks, serf's event handlers for scalesmall: a command run when a
//! peer's liveness changes, when this board joins or leaves a group, or
//! when the owners of a group's ranges change, so that a service can
//! reconfigure instead of polling (docs/node.md "Hooks").
//!
//! - [`HookSource`] turns the protocol's events into [`HookEvent`]s
//!   (`owners-changed` computed per group and coalesced over a window);
//! - [`Hooks`] queues them per hook (bounded, dropping the oldest) and runs
//!   each command with a timeout, never blocking the node.
//!
//! Configured as `[[hooks]]` tables in the config file; `watch --exec` is
//! the ad-hoc form.

mod event;
mod runner;
mod source;

pub use event::{HookEvent, HookEventKind, OwnerView, RangeOwners};
pub use runner::{HookStats, Hooks, RunResult};
pub use source::HookSource;

use serde::Deserialize;

/// One `[[hooks]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// A name for logs and metrics (default `hook1`, `hook2`, … in file
    /// order).
    #[serde(default)]
    pub name: String,
    /// The events it runs on.
    pub events: Vec<HookEventKind>,
    /// The command, run by `/bin/sh -c`.
    pub command: String,
    /// Seconds a run may take before it is killed (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Events waiting at most (default 64; a full queue drops its oldest).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Runs at once (default 1: a hook's runs never overlap).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

const fn default_timeout() -> u64 {
    30
}
const fn default_queue() -> usize {
    64
}
const fn default_concurrency() -> usize {
    1
}

impl HookConfig {
    /// Checks the hooks of a config file and names the unnamed ones.
    ///
    /// # Errors
    /// A message naming the hook and what is wrong with it.
    pub fn validate(hooks: &mut [HookConfig]) -> Result<(), String> {
        for (i, h) in hooks.iter_mut().enumerate() {
            if h.name.is_empty() {
                h.name = format!("hook{}", i + 1);
            }
            let which = format!("hooks[{i}] ({})", h.name);
            if h.command.trim().is_empty() {
                return Err(format!("{which}: `command` is empty"));
            }
            if h.events.is_empty() {
                return Err(format!("{which}: `events` is empty"));
            }
            if !(1..=3600).contains(&h.timeout_secs) {
                return Err(format!("{which}: `timeout_secs` must be 1 to 3600"));
            }
            if !(1..=10_000).contains(&h.queue) {
                return Err(format!("{which}: `queue` must be 1 to 10000"));
            }
            if !(1..=16).contains(&h.concurrency) {
                return Err(format!("{which}: `concurrency` must be 1 to 16"));
            }
            if !h
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(format!("{which}: `name` may hold only A-Z a-z 0-9 . _ -"));
            }
        }
        Ok(())
    }
}
