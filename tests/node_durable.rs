//! A write takes effect only once durable, with real processes: a node
//! whose data dir goes read-only (as an SD card does after I/O errors), then
//! full, refuses `claim` with exit 4, does not serve the refused claim
//! itself, and never sends it; once the dir is writable again the retry
//! answers `changed` (exit 0, the refused write's clock used again),
//! reaches a peer, and survives `kill -9` and a restart.
//!
//! The data dir is a small tmpfs in a private mount namespace the test
//! creates (held by a process that exits with the test, so nothing stays
//! mounted), remounted read-only and filled up from inside it; the node runs
//! in that namespace, its control socket and log outside. Needs root (mount
//! namespaces); skipped with a message otherwise. As root the nodes also run
//! in a network namespace (tests/support/procs.rs). Every process is killed
//! by PID on drop; every wait has a deadline.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::procs::{Env, Node};

const PROPAGATE: Duration = Duration::from_secs(15);

/// A private mount namespace holding a tmpfs at `dir`, alive while its
/// holder (`cat` on a pipe from this process) runs: it exits when this
/// process does, whatever happens, and is killed by PID on drop.
struct MountNs {
    holder: Child,
    dir: PathBuf,
}

impl MountNs {
    /// `None` (with the reason) where mount namespaces are not available.
    fn create(dir: &Path, size: &str) -> Result<MountNs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let script = format!(
            "mount -t tmpfs -o size={size},mode=0700 ssw-durable \"$0\" && echo ready && exec cat"
        );
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let stdout = holder.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ns = MountNs {
            holder,
            dir: dir.to_path_buf(),
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l.trim() == "ready" => Ok(ns),
            _ => Err("the mount namespace did not come up".to_owned()),
        }
    }

    /// Runs `args` inside the namespace.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.holder.id().to_string(), "-m", "--"])
            .args(args)
            .output()
            .expect("nsenter runs")
    }

    fn sh(&self, script: &str) {
        let out = self.run(&["sh", "-c", script]);
        assert!(out.status.success(), "{script}: {out:?}");
    }

    /// The prefix that runs a program inside the namespace.
    fn wrap(&self) -> Vec<String> {
        ["nsenter", "-t", &self.holder.id().to_string(), "-m", "--"]
            .map(str::to_owned)
            .to_vec()
    }

    fn remount(&self, how: &str) {
        let dir = self.dir.display().to_string();
        let out = self.run(&["mount", "-o", &format!("remount,{how}"), &dir]);
        assert!(out.status.success(), "remount {how}: {out:?}");
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `claim demo RANGE` is refused as not persisted, with `why` in the
/// reason, and leaves no trace on the node.
fn refused(sick: &Node, range: &str, key: &str, why: &str) {
    let clock = sick.json(&["status"])["clock"].clone();
    let out = sick.ctl(&["claim", "demo", range]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("refused: not persisted") && t.contains(why),
        "{t}"
    );
    assert!(
        sick.servers("demo", key).is_empty(),
        "the node serves a refused claim itself"
    );
    assert_eq!(sick.json(&["status"])["clock"], clock, "clock given back");
    // The same claim again: still refused, not `unchanged`.
    let again = sick.ctl(&["claim", "demo", range]);
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
}

#[test]
fn a_write_the_data_dir_refuses_takes_no_effect_and_its_retry_does() {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let env = Env::new();
    let data = env.dir.join("sick-data");
    let ns = match MountNs::create(&data, "256k") {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("skipped: no mount namespace here: {e}");
            return;
        }
    };
    let peer = Node::start(&env, "peer", &[], &[]);
    let mut sick = Node::start_wrapped(&env, "sick", &[peer.port], &[], Some(&data), &ns.wrap());
    for n in [&peer, &sick] {
        let out = n.ctl(&["join", "demo"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let joined = sick.json(&["status"])["clock"].as_u64().expect("a clock");

    // Read-only: refused, nothing served, nothing sent.
    ns.remount("ro");
    refused(&sick, "900..950", "920", "Read-only file system");
    assert!(peer.servers("demo", "920").is_empty());
    assert!(
        sick.log_text().contains("cannot store own state"),
        "the refusal is logged:\n{}",
        sick.log_text()
    );

    // Full: refused the same way.
    ns.remount("rw");
    let fill = format!(
        "dd if=/dev/zero of={}/ssw-fill bs=4k 2>/dev/null; true",
        data.display()
    );
    ns.sh(&fill);
    refused(&sick, "900..950", "920", "No space left on device");

    // Writable again: the retry is a fresh write at the clock the refused
    // ones took, and it reaches the peer.
    ns.sh(&format!("rm {}/ssw-fill", data.display()));
    let w = peer.watch();
    let out = sick.ctl(&["claim", "demo", "900..950"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("changed (clock {})", joined + 1)
    );
    assert_eq!(sick.servers("demo", "920"), vec![sick.id.clone()]);
    w.until(PROPAGATE, |_| {
        peer.servers("demo", "920") == vec![sick.id.clone()]
    })
    .unwrap_or_else(|| {
        panic!(
            "the retry did not reach the peer; events:\n{}\nlog:\n{}",
            w.history(),
            peer.log_text()
        )
    });

    // A power cut and a restart: the claim was durable.
    sick.kill9();
    sick.restart();
    assert_eq!(sick.servers("demo", "920"), vec![sick.id.clone()]);
    assert_eq!(sick.json(&["status"])["clock"].as_u64(), Some(joined + 1));
}

#[test]
fn declared_groups_the_data_dir_refuses_are_applied_once_it_is_writable() {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let env = Env::new();
    let data = env.dir.join("sick-data");
    let ns = match MountNs::create(&data, "256k") {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("skipped: no mount namespace here: {e}");
            return;
        }
    };
    let cfg = env.dir.join("sick.toml");
    std::fs::write(&cfg, "").expect("write config");
    let cfg_arg = cfg.display().to_string();
    let sick = Node::start_wrapped(
        &env,
        "sick",
        &[],
        &["--config", &cfg_arg],
        Some(&data),
        &ns.wrap(),
    );
    ns.remount("ro");
    std::fs::write(
        &cfg,
        "[[groups]]\nname = \"demo\"\nclaims = [{ range = \"900..950\", priority = 1, port = 80 }]\n",
    )
    .expect("write config");
    let pid = sick.pid().expect("running").to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(hup.is_ok_and(|s| s.success()));
    assert!(
        sick.eventually(PROPAGATE, || sick
            .log_text()
            .contains("the declared groups of the config are not applied")),
        "no warning; log:\n{}",
        sick.log_text()
    );
    let st = sick.json(&["status"]);
    assert_eq!(st["clock"].as_u64(), Some(0), "nothing written: {st}");
    assert!(sick.servers("demo", "920").is_empty());

    // Writable again: applied by the node's own retry (every 10 s).
    ns.remount("rw");
    assert!(
        sick.eventually(PROPAGATE, || sick.servers("demo", "920")
            == vec![sick.id.clone()]),
        "the declared claim was not applied again; log:\n{}",
        sick.log_text()
    );
    assert!(sick.log_text().contains("claimed (declared in the config)"));
}
