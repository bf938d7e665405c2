//! A key rotation without restarts on three real `scalesmall run`
//! processes, driven only through `scalesmall keys`: install the new key on
//! every node, use it on every node, wait until every node sees every peer
//! on it (`keys list`), remove the old one. Writes made before, between
//! and after the steps reach every node (none lost), no node restarts,
//! the keyring file survives kill -9, and `keys reset` goes back to the
//! config's key. Key material appears in no answer and no log.
//!
//! As root the nodes run in a network namespace with multicast on its `lo`;
//! otherwise on loopback without multicast, with seeds (see
//! `tests/support/procs.rs`). Every process is killed by PID on drop.

mod support;

use std::process::Command;
use std::time::Duration;

use support::procs::{Env, Node, bin};

const PROPAGATE: Duration = Duration::from_secs(20);

fn ok(n: &Node, args: &[&str]) -> String {
    let out = n.ctl(args);
    assert!(
        out.status.success(),
        "{args:?} on {}: {}{}",
        n.id,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The (node id, range start) of every live claim of `group` in `n`'s view.
fn claimed(n: &Node, group: &str) -> Vec<(String, u64)> {
    let v = n.json(&["topology", group]);
    let mut out: Vec<(String, u64)> = v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["op"] == "add" && i["kind"] == "serve")
                .map(|i| {
                    (
                        i["node"].as_str().unwrap_or("").to_owned(),
                        i["start"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every node sees every other one's last frame under `id`, and seals
/// with it itself.
fn all_on(nodes: &[&Node], id: &str) -> bool {
    nodes.iter().all(|n| {
        let v = n.json(&["keys", "list"]);
        let peers = v["peers"].as_array().cloned().unwrap_or_default();
        v["primary"] == id
            && nodes.iter().filter(|o| o.id != n.id).all(|o| {
                peers
                    .iter()
                    .any(|p| p["id"] == o.id.as_str() && p["key_id"] == id)
            })
    })
}

/// A claim on `n`, recorded in `want`.
fn write(want: &mut Vec<(String, u64)>, n: &Node, start: u32) {
    let range = format!("{start}..{}", start + 9);
    ok(n, &["claim", "rot", &range]);
    want.push((n.id.clone(), u64::from(start)));
    want.sort();
}

fn wait(what: &str, n: &Node, mut check: impl FnMut() -> bool) {
    assert!(
        n.eventually(PROPAGATE, &mut check),
        "{what}: not within {PROPAGATE:?}; log of {}:\n{}",
        n.id,
        n.log_text()
    );
}

#[test]
fn a_key_rotates_on_three_nodes_with_no_restart_and_no_write_lost() {
    let env = Env::new();
    let a = Node::start(&env, "a", &[], &[]);
    let b = Node::start(&env, "b", &[a.port], &[]);
    let c = Node::start(&env, "c", &[a.port, b.port], &[]);
    let nodes = [&a, &b, &c];
    let pids: Vec<_> = nodes.iter().map(|n| n.pid()).collect();
    for n in nodes {
        ok(n, &["join", "rot"]);
    }
    let old_id = a.json(&["keys", "list"])["primary"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(a.json(&["keys", "list"])["source"], "config");
    wait("everyone heard on the old key", &a, || {
        all_on(&nodes, &old_id)
    });

    let mut want = Vec::new();
    write(&mut want, &a, 0);

    // The new key, as an operator makes it.
    let key = env.dir.join("new.key");
    let out = Command::new(bin()).arg("keygen").output().expect("keygen");
    std::fs::write(&key, &out.stdout).expect("write the new key");
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let k = key.display().to_string();

    // 1. install everywhere.
    let mut new_id = String::new();
    for n in nodes {
        let v = n.json(&["keys", "install", &k]);
        assert_eq!(v["changed"], true);
        assert_eq!(v["source"], "keyring");
        assert_eq!(v["primary"], old_id.as_str(), "installing does not switch");
        new_id = v["installed"].as_str().unwrap_or("").to_owned();
        assert!(v["accepted"].as_array().is_some_and(|a| a.len() == 2));
    }
    // Again: unchanged (Ansible's changed_when relies on it).
    assert!(ok(&b, &["keys", "install", &k]).starts_with("unchanged"));
    write(&mut want, &b, 100);

    // 2. use everywhere, then wait until nobody sends the old id.
    for n in nodes {
        assert_eq!(n.json(&["keys", "use", &new_id])["changed"], true);
    }
    write(&mut want, &c, 200);
    wait("every node on the new key", &a, || all_on(&nodes, &new_id));

    // 3. remove the old key everywhere; the key in use is refused.
    let out = a.ctl(&["keys", "remove", &new_id]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sends with"));
    for n in nodes {
        let v = n.json(&["keys", "remove", &old_id]);
        assert_eq!(v["changed"], true);
        assert_eq!(v["accepted"], serde_json::json!([new_id.clone()]));
    }
    write(&mut want, &a, 300);
    for n in nodes {
        wait("every write on every node", n, || claimed(n, "rot") == want);
    }
    // No restart: the same processes, the same incarnations.
    assert_eq!(nodes.iter().map(|n| n.pid()).collect::<Vec<_>>(), pids);
    for n in nodes {
        assert_eq!(n.json(&["status"])["incarnation"], 1);
        let log = n.log_text();
        assert!(!log.contains(&secret), "the key is in {}'s log", n.id);
        assert!(log.contains("keyring changed"), "{log}");
    }

    // The keyring file outlives kill -9 and overrides --key-file.
    let mut c = c;
    let file = c.data_dir().join("keyring");
    let mode = std::fs::metadata(&file)
        .expect("keyring file")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    c.kill9();
    c.restart();
    let v = c.json(&["keys", "list"]);
    assert_eq!(
        (v["primary"].as_str(), v["source"].as_str()),
        (Some(new_id.as_str()), Some("keyring"))
    );
    write(&mut want, &c, 400);
    for n in [&a, &b] {
        wait("a write after the restart", n, || claimed(n, "rot") == want);
    }

    // reset: back to the config's key (now the new one as well), no file.
    std::fs::copy(&key, &env.key).expect("the new key becomes the config's");
    let v = a.json(&["keys", "reset"]);
    assert_eq!(
        (v["changed"].as_bool(), v["source"].as_str()),
        (Some(true), Some("config"))
    );
    assert_eq!(v["primary"], new_id.as_str());
    assert!(!a.data_dir().join("keyring").exists());
    assert!(ok(&a, &["keys", "reset"]).starts_with("unchanged"));
    write(&mut want, &a, 500);
    for n in [&b, &c] {
        wait("a write after the reset", n, || claimed(n, "rot") == want);
    }
}

#[test]
fn key_commands_are_refused_under_insecure() {
    let env = Env::new();
    let a = Node::start(&env, "a", &[], &["--insecure"]);
    for args in [
        &["keys", "list"][..],
        &["keys", "use", "0x12345678"],
        &["keys", "reset"],
    ] {
        let out = a.ctl(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--insecure"),
            "{out:?}"
        );
    }
    assert!(!a.data_dir().join("keyring").exists());
}

#[test]
fn a_damaged_keyring_stops_the_start_naming_the_file() {
    let env = Env::new();
    let mut a = Node::start(&env, "a", &[], &[]);
    let key = env.dir.join("new.key");
    let out = Command::new(bin()).arg("keygen").output().expect("keygen");
    std::fs::write(&key, &out.stdout).expect("write the new key");
    ok(&a, &["keys", "install", &key.display().to_string()]);
    let file = a.data_dir().join("keyring");
    assert!(a.terminate(Duration::from_secs(10)).is_some(), "a stops");
    // A torn write, as a failing card leaves it: half the file.
    let text = std::fs::read(&file).expect("keyring file");
    std::fs::write(&file, &text[..text.len() / 2]).expect("tear it");
    let child = Command::new(bin())
        .args(["run", "--data-dir"])
        .arg(a.data_dir())
        .args(["--key-file"])
        .arg(&env.key)
        .args(["--no-multicast", "--interface", "lo", "--port"])
        .arg(support::procs::free_port().to_string())
        .arg("--socket")
        .arg(a.data_dir().join("other.sock"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(1), "pid {pid}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&file.display().to_string())
            && err.contains("damaged")
            && err.contains("delete it"),
        "{err}"
    );
}

/// The output of a process that must end within 20 s (killed by PID
/// otherwise, and the test fails).
fn wait_output(child: std::process::Child) -> std::process::Output {
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(out)) => out,
        _ => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("scalesmall run (pid {pid}) did not exit within 20 s");
        }
    }
}
