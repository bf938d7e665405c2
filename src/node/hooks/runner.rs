//! Runs hook commands without ever blocking the node: each hook has a
//! bounded queue (a full queue drops its oldest event, counted) and its own
//! workers (one by default, so a hook's runs never overlap). A run is
//! `/bin/sh -c COMMAND` with the event in its environment and as JSON on
//! stdin; it gets `timeout` to finish, then it and its process group are
//! killed (SIGKILL). Exit status and duration are logged and counted.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Notify;

use super::{HookConfig, HookEvent};
use crate::node::clock::Stopwatch;

/// How one run ended, as counted in `scalesmall_hook_runs_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunResult {
    /// Exit status 0.
    Ok,
    /// A non-zero exit status or a signal.
    Failed,
    /// Still running at the timeout: killed.
    Timeout,
    /// The command could not be started.
    Error,
}

impl RunResult {
    /// Every result, in the order of [`HookStats::runs`].
    pub const ALL: [RunResult; 4] = [Self::Ok, Self::Failed, Self::Timeout, Self::Error];

    /// The label value.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }
}

/// One hook's counters, readable while it runs.
#[derive(Debug, Default)]
pub struct HookStats {
    /// Runs by [`RunResult`] (index as in [`RunResult::ALL`]).
    runs: [AtomicU64; 4],
    /// Events dropped from a full queue.
    dropped: AtomicU64,
}

impl HookStats {
    /// Runs that ended with `r`.
    #[must_use]
    pub fn runs(&self, r: RunResult) -> u64 {
        self.runs[r as usize].load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One configured hook: its queue, its counters.
struct Hook {
    cfg: HookConfig,
    queue: Mutex<VecDeque<HookEvent>>,
    ready: Notify,
    stats: HookStats,
}

/// The running hooks. Cheap to call from the node's loop: [`Hooks::fire`]
/// only queues.
#[derive(Clone, Default)]
pub struct Hooks {
    hooks: Vec<Arc<Hook>>,
}

impl Hooks {
    /// Starts the workers of every hook on the current tokio runtime.
    #[must_use]
    pub fn start(cfgs: &[HookConfig]) -> Self {
        let hooks: Vec<Arc<Hook>> = cfgs
            .iter()
            .map(|cfg| {
                Arc::new(Hook {
                    cfg: cfg.clone(),
                    queue: Mutex::new(VecDeque::new()),
                    ready: Notify::new(),
                    stats: HookStats::default(),
                })
            })
            .collect();
        for h in &hooks {
            for _ in 0..h.cfg.concurrency.max(1) {
                tokio::spawn(worker(Arc::clone(h)));
            }
        }
        Hooks { hooks }
    }

    /// Queues `e` for every hook that matches it. Never blocks.
    pub fn fire(&self, e: &HookEvent) {
        for h in self
            .hooks
            .iter()
            .filter(|h| h.cfg.events.contains(&e.event))
        {
            let mut q = h.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if q.len() >= h.cfg.queue.max(1) {
                q.pop_front();
                h.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(hook = %h.cfg.name, "hook queue full: dropped its oldest event");
            }
            q.push_back(e.clone());
            drop(q);
            h.ready.notify_one();
        }
    }

    /// Each hook's name and counters, in config order.
    pub fn stats(&self) -> impl Iterator<Item = (&str, &HookStats)> {
        self.hooks.iter().map(|h| (h.cfg.name.as_str(), &h.stats))
    }
}

/// Takes events off one hook's queue and runs them, one at a time.
async fn worker(h: Arc<Hook>) {
    loop {
        let next = h
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(e) = next else {
            h.ready.notified().await;
            continue;
        };
        let watch = Stopwatch::start();
        let result = run(&h.cfg, &e).await;
        h.stats.runs[result as usize].fetch_add(1, Ordering::Relaxed);
        let secs = watch.seconds();
        match result {
            RunResult::Ok => {
                tracing::info!(hook = %h.cfg.name, event = %e.event, secs, "hook ran");
            }
            r => {
                tracing::warn!(hook = %h.cfg.name, event = %e.event, secs, result = r.name(), "hook did not succeed");
            }
        }
    }
}

/// One run of `cfg`'s command for `e`.
async fn run(cfg: &HookConfig, e: &HookEvent) -> RunResult {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&cfg.command)
        .envs(e.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!(hook = %cfg.name, "cannot start {:?}: {err}", cfg.command);
            return RunResult::Error;
        }
    };
    let pgid = child.id();
    let json = serde_json::to_string(e).unwrap_or_default();
    let body = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read stdin closes it: not an error.
            let _ = stdin.write_all(json.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
        child.wait().await
    };
    match tokio::time::timeout(Duration::from_secs(cfg.timeout_secs), body).await {
        Ok(Ok(status)) if status.success() => RunResult::Ok,
        Ok(Ok(status)) => {
            tracing::warn!(hook = %cfg.name, "exited with {status}");
            RunResult::Failed
        }
        Ok(Err(err)) => {
            tracing::warn!(hook = %cfg.name, "wait failed: {err}");
            RunResult::Error
        }
        Err(_) => {
            kill_group(pgid).await;
            let _ = child.kill().await;
            RunResult::Timeout
        }
    }
}

/// SIGKILL to the process group a run leads (the shell and whatever it
/// started), with kill(1): the crate has no unsafe code to call kill(2).
async fn kill_group(pgid: Option<u32>) {
    let Some(pgid) = pgid else { return };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::hooks::HookEventKind;

    fn event(kind: HookEventKind) -> HookEvent {
        HookEvent {
            event: kind,
            group: Some("cache".into()),
            node: Some("00000000000000aa".into()),
            time: "2026-12-06T00:00:00.000Z".into(),
            uptime_ms: 5,
            restarted: false,
            ranges: Vec::new(),
        }
    }

    fn hook(command: String, timeout_secs: u64, queue: usize) -> HookConfig {
        HookConfig {
            timeout_secs,
            queue,
            name: "exec".into(),
            events: HookEventKind::ALL.to_vec(),
            command,
            concurrency: 1,
        }
    }

    /// Waits (bounded) until `done` holds, checking every 20 ms.
    async fn until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done()
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("scalesmall-hooks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[tokio::test]
    async fn a_hook_gets_the_event_in_its_environment_and_on_stdin() {
        let d = dir("env");
        let out = d.join("out");
        let cmd = format!(
            "{{ echo \"$SCALESMALL_EVENT $SCALESMALL_GROUP $SCALESMALL_NODE\"; cat; }} > {}",
            out.display()
        );
        let hooks = Hooks::start(&[hook(cmd, 10, 8)]);
        hooks.fire(&event(HookEventKind::PeerDown));
        let stats = || {
            hooks
                .stats()
                .next()
                .map_or(0, |(_, s)| s.runs(RunResult::Ok))
        };
        assert!(until(Duration::from_secs(10), || stats() == 1).await);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("peer-down cache 00000000000000aa"));
        let json: serde_json::Value =
            serde_json::from_str(lines.next().unwrap_or_default()).unwrap_or_default();
        assert_eq!(json["event"], "peer-down");
        assert_eq!(json["time"], "2026-12-06T00:00:00.000Z");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed_with_what_it_started() {
        let d = dir("timeout");
        let pid = d.join("pid");
        // The shell starts a sleep in the background and waits on it.
        let cmd = format!("sleep 60 & echo $! > {}; wait", pid.display());
        let hooks = Hooks::start(&[hook(cmd, 1, 8)]);
        hooks.fire(&event(HookEventKind::PeerSuspect));
        let timed_out = || {
            hooks
                .stats()
                .next()
                .map_or(0, |(_, s)| s.runs(RunResult::Timeout))
        };
        assert!(until(Duration::from_secs(10), || timed_out() == 1).await);
        let sleeper = std::fs::read_to_string(&pid).unwrap_or_default();
        let proc_dir = format!("/proc/{}", sleeper.trim());
        assert!(!sleeper.trim().is_empty());
        // Killed with its group (a zombie until reaped by init at most).
        let gone = until(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("{proc_dir}/stat")).map_or(true, |s| s.contains(") Z "))
        })
        .await;
        assert!(gone, "the hook's child {sleeper} outlived the timeout");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_events_and_counts_them() {
        let d = dir("queue");
        let gate = d.join("gate");
        // Each run waits for the gate file: the queue fills behind the first.
        let cmd = format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display());
        let hooks = Hooks::start(&[hook(cmd, 10, 2)]);
        for _ in 0..6 {
            hooks.fire(&event(HookEventKind::OwnersChanged));
        }
        let stats = |f: fn(&HookStats) -> u64| hooks.stats().next().map_or(0, |(_, s)| f(s));
        // One running (or about to), two queued: three or four dropped.
        assert!(
            stats(HookStats::dropped) >= 3,
            "{}",
            stats(HookStats::dropped)
        );
        std::fs::write(&gate, b"").expect("open the gate");
        let ran = |s: &HookStats| s.runs(RunResult::Ok);
        assert!(
            until(Duration::from_secs(10), || stats(ran)
                + stats(HookStats::dropped)
                == 6)
            .await
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_failing_or_missing_command_is_counted_not_fatal() {
        let hooks = Hooks::start(&[
            hook("exit 3".into(), 5, 8),
            hook("/nonexistent/x".into(), 5, 8),
        ]);
        hooks.fire(&event(HookEventKind::GroupJoined));
        let failed = || {
            hooks
                .stats()
                .map(|(_, s)| s.runs(RunResult::Failed))
                .sum::<u64>()
        };
        // sh reports a missing program as exit 127: failed, too.
        assert!(until(Duration::from_secs(10), || failed() == 2).await);
    }
}
