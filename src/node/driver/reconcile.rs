//! Config → desired state: the `[[groups]]` the config file declares (at
//! start, and again on SIGHUP) made the node's own items, as writes through
//! the protocol like any other; each change logged once it is durable. A
//! write the store refuses undoes them all and the same groups are applied
//! again later ([`RETRY_AFTER`]).

use tracing::{info, warn};

use crate::model::{GroupName, KeyRange, Kind, TopologyFilter};
use crate::protocol::{Command, Millis, RETRY_AFTER};

use super::super::config::DeclaredGroup;
use super::super::error::NodeError;
use super::Driver;

/// The log lines of the changes made, written once they are durable.
type Changes = Vec<Box<dyn FnOnce() + Send>>;

impl Driver {
    /// Makes the node's own items match the declared groups (desired
    /// state): joins each declared group, claims each declared range
    /// (priority and port included), releases its other claims there
    /// (`claims = []`: all of them), puts each `auto = true` group in auto
    /// mode (its claims are then auto-claim's, none released here) and
    /// takes every other declared group out of it (`Command::Manual`, also
    /// when `claim --auto` put it there), and leaves every group that was
    /// declared when this last ran (also in an earlier run: the list is in
    /// the data dir) but no longer is. Groups never declared are left to the
    /// CLI. Logs each change once it is durable; returns how many writes
    /// changed something.
    ///
    /// # Errors
    /// [`NodeError::Persist`] if the result cannot be made durable: every
    /// change is undone (a write takes effect only once durable) and the
    /// same groups are applied again [`RETRY_AFTER`] ms later, while the
    /// node runs.
    pub fn reconcile(&mut self, groups: &[DeclaredGroup]) -> Result<usize, NodeError> {
        let now = self.clock.now();
        self.declared_retry = None;
        let previous = match self.declared.take() {
            Some(d) => d,
            None => self.store.load_declared().unwrap_or_else(|e| {
                warn!(error = %e, "ignoring the list of previously declared groups");
                Vec::new()
            }),
        };
        let mut changes = Changes::new();
        for gone in previous
            .iter()
            .filter(|p| !groups.iter().any(|g| g.name == **p))
        {
            let group = gone.clone();
            self.change(now, Command::Leave(gone.clone()), &mut changes, move || {
                info!(group = %group, "left the group: no longer declared in the config");
            });
        }
        for g in groups {
            self.declare_group(now, g, &mut changes);
        }
        // Own items first: a crash in between leaves the old list, and
        // leaving again changes nothing.
        if let Err(e) = self.persist(now) {
            self.declared = Some(previous);
            self.declared_retry = Some((groups.to_vec(), now.plus(RETRY_AFTER)));
            return Err(NodeError::Persist(e));
        }
        let n = changes.len();
        for log in changes {
            log();
        }
        let names: Vec<GroupName> = groups.iter().map(|g| g.name.clone()).collect();
        if names != previous
            && let Err(e) = self.store.save_declared(&names)
        {
            warn!(error = %e, "cannot record the declared groups: a group taken out of the config \
                 after a restart may not be left");
        }
        self.declared = Some(names);
        Ok(n)
    }

    /// The writes of one declared group (see [`Driver::reconcile`]).
    fn declare_group(&mut self, now: Millis, g: &DeclaredGroup, changes: &mut Changes) {
        let name = g.name.clone();
        let group = name.clone();
        self.change(now, Command::Join(name.clone()), changes, move || {
            info!(group = %group, "joined the group (declared in the config)");
        });
        if let Some(a) = g.auto {
            // Auto mode picks the claims: none are released here.
            let auto = Command::Auto {
                group: name.clone(),
                weight: a.weight,
                priority: a.priority,
                port: a.port,
            };
            self.change(now, auto, changes, move || {
                info!(group = %name, weight = a.weight, port = a.port,
                    "auto mode on (declared in the config)");
            });
            return;
        }
        let me = self.chatter.identity().id;
        let auto_on = self
            .chatter
            .db()
            .auto_members(name.as_str())
            .iter()
            .any(|m| m.0 == me);
        if auto_on {
            let group = name.clone();
            self.change(now, Command::Manual(name.clone()), changes, move || {
                info!(group = %group, "auto mode off: the config declares the group without auto = true; \
                    its claims are now the ones the config lists");
            });
        }
        self.declare_claims(now, g, changes);
    }

    /// Claims a declared group's listed ranges and releases its others.
    fn declare_claims(&mut self, now: Millis, g: &DeclaredGroup, changes: &mut Changes) {
        let name = &g.name;
        for c in &g.claims {
            let claim = Command::Claim {
                group: name.clone(),
                range: c.range,
                priority: c.priority,
                port: c.port,
            };
            let (group, range, priority, port) = (name.clone(), c.range, c.priority, c.port);
            self.change(now, claim, changes, move || {
                info!(group = %group, range = %range, priority, port,
                    "claimed (declared in the config)");
            });
        }
        let own_claims = TopologyFilter {
            kind: Some(Kind::Serve),
            live_only: true,
            member: Some(self.chatter.identity().id),
        };
        let stale: Vec<KeyRange> = self
            .chatter
            .db()
            .topology(name.as_str(), own_claims)
            .map(|i| i.range())
            .filter(|r| !g.claims.iter().any(|c| c.range == *r))
            .collect();
        for range in stale {
            let release = Command::Release {
                group: name.clone(),
                range,
            };
            let group = name.clone();
            self.change(now, release, changes, move || {
                info!(group = %group, range = %range, "released: not declared in the config");
            });
        }
    }

    /// One declared write; if it changed anything, `log` is kept in
    /// `changes` (written once the change is durable).
    fn change(
        &mut self,
        now: Millis,
        cmd: Command,
        changes: &mut Changes,
        log: impl FnOnce() + Send + 'static,
    ) {
        if self.declare(now, cmd) {
            changes.push(Box::new(log));
        }
    }

    /// Applies declared groups while running (SIGHUP, or again after the
    /// store refused them), logging the outcome.
    pub(super) fn apply_declared(&mut self, groups: &[DeclaredGroup]) {
        match self.reconcile(groups) {
            Ok(changes) => {
                info!(
                    groups = groups.len(),
                    changes, "applied the declared groups of the config"
                );
            }
            Err(e) => warn!(
                error = %e,
                retry_secs = RETRY_AFTER / 1000,
                "the declared groups of the config are not applied: nothing changed; trying again"
            ),
        }
    }

    /// One declared write; whether it changed anything (a refusal is logged).
    fn declare(&mut self, now: Millis, cmd: Command) -> bool {
        let before = self.chatter.db().clock();
        match self.chatter.handle_command(now, cmd) {
            Ok(()) => self.chatter.db().clock() > before,
            Err(e) => {
                warn!(error = %e, "a declared change was refused");
                false
            }
        }
    }
}
