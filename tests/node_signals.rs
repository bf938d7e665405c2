//! Real `scalesmall run` processes and their signals and exit codes: SIGHUP
//! right after start keeps the node running; SIGHUP applies the edited
//! config's `[[groups]]` (claims moved, `claims = []` releases all, a group
//! taken out is left, also across a restart); a config that does not parse
//! is logged and ignored; SIGINT and SIGTERM exit 0, start-up errors exit 1
//! with a message naming the problem. Also what `status` reports (`arch`,
//! `peers_recent`, `converged` of a seeded node that hears nobody).
//!
//! Nodes run as in `tests/node_cluster.rs` (a network namespace as root,
//! else loopback without multicast); every process is killed by PID on drop
//! and every wait has a deadline.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use support::procs::{Env, Node, bin, free_port, wait_exit};

const DEADLINE: Duration = Duration::from_secs(15);

fn signal(n: &Node, sig: &str) {
    let pid = n.pid().expect("running").to_string();
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

/// Whether the process is still running (not exited).
fn running(n: &mut Node) -> bool {
    n.child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

fn servers(n: &Node, key: &str) -> Vec<(String, u64, u64)> {
    let v = n.json(&["lookup", "demo", key]);
    v["servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["node"].as_str().unwrap_or_default().to_owned(),
                        s["priority"].as_u64().unwrap_or(0),
                        s["port"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn my_groups(n: &Node) -> Vec<String> {
    let st = n.json(&["status"]);
    st["my_groups"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn write_config(path: &Path, text: &str) {
    // Replace, as an editor or Ansible does (never a half-written file).
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

#[test]
fn sighup_applies_the_declared_groups_and_ignores_a_broken_config() {
    let env = Env::new();
    let cfg = env.dir.join("a.toml");
    write_config(
        &cfg,
        "[[groups]]\nname = \"demo\"\nclaims = [{ range = \"0..100\", priority = 3, port = 80 }]\n",
    );
    let cfg_arg = cfg.display().to_string();
    let mut a = Node::start(&env, "a", &[], &["--config", &cfg_arg]);
    let me = a.id.clone();
    // Right after start (the banner): a supervisor's reload must not kill it.
    signal(&a, "HUP");
    assert_eq!(servers(&a, "50"), vec![(me.clone(), 3, 80)]);
    assert!(
        a.eventually(DEADLINE, || a.log_text().contains("SIGHUP: re-read")),
        "the first SIGHUP was not handled; log:\n{}",
        a.log_text()
    );
    assert!(running(&mut a), "SIGHUP killed the node:\n{}", a.log_text());

    // Move the claim and change its priority.
    write_config(
        &cfg,
        "[[groups]]\nname = \"demo\"\nclaims = [{ range = \"200..300\", priority = 5, port = 81 }]\n",
    );
    signal(&a, "HUP");
    assert!(
        a.eventually(DEADLINE, || servers(&a, "250") == vec![(me.clone(), 5, 81)]),
        "the new claim did not appear; log:\n{}",
        a.log_text()
    );
    assert!(servers(&a, "50").is_empty(), "the old claim is released");

    // A config that does not parse: logged, ignored, the node keeps going.
    write_config(&cfg, "[[groups]\nname = \"demo\"\n");
    signal(&a, "HUP");
    assert!(
        a.eventually(DEADLINE, || a
            .log_text()
            .contains("cannot be used; ignored")),
        "no warning about the broken config; log:\n{}",
        a.log_text()
    );
    assert!(running(&mut a), "a broken config stopped the node");
    assert_eq!(servers(&a, "250"), vec![(me.clone(), 5, 81)]);

    // `claims = []`: no claims in the group, still a member (reader).
    write_config(&cfg, "[[groups]]\nname = \"demo\"\nclaims = []\n");
    signal(&a, "HUP");
    assert!(
        a.eventually(DEADLINE, || servers(&a, "250").is_empty()),
        "claims = [] did not release; log:\n{}",
        a.log_text()
    );
    assert_eq!(my_groups(&a), vec!["demo".to_owned()]);

    // A group taken out of the file is left; a new one is joined.
    write_config(&cfg, "[[groups]]\nname = \"other\"\n");
    signal(&a, "HUP");
    assert!(
        a.eventually(DEADLINE, || my_groups(&a) == vec!["other".to_owned()]),
        "demo was not left; log:\n{}",
        a.log_text()
    );

    // The declared list survives a restart: taken out while the node was
    // down, "other" is left at the next start.
    let st = a
        .terminate(Duration::from_secs(6))
        .expect("SIGTERM stops it in time");
    assert!(st.success(), "{st:?}");
    write_config(&cfg, "");
    a.restart();
    assert!(my_groups(&a).is_empty(), "{}", a.log_text());
    assert!(running(&mut a));
}

#[test]
fn status_reports_arch_and_recent_peers_and_a_seeded_node_waits_to_converge() {
    let env = Env::new();
    let a = Node::start(&env, "a", &[], &[]);
    let st = a.json(&["status"]);
    assert_eq!(st["arch"], std::env::consts::ARCH, "{st}");
    assert_eq!(st["peers_recent"], 0, "{st}");
    assert_eq!(st["converged"], true, "a lone board is converged: {st}");
    let text = String::from_utf8_lossy(&a.ctl(&["status"]).stdout).into_owned();
    assert!(
        text.contains(&format!("arch        {}", std::env::consts::ARCH))
            && text.contains("heard in the last 30 s"),
        "{text}"
    );

    // Seeded with a port nobody answers on: not converged.
    // (Without multicast, which would let it hear a.)
    let nobody = free_port();
    let quiet: &[&str] = if env.multicast() {
        &["--no-multicast"]
    } else {
        &[]
    };
    let lonely = Node::start(&env, "lonely", &[nobody], quiet);
    let st = lonely.json(&["status"]);
    assert_eq!(st["converged"], false, "nobody heard yet: {st}");

    // Seeded with a: converged once a is heard, and a counts it.
    let b = Node::start(&env, "b", &[a.port], &[]);
    assert!(
        b.eventually(DEADLINE, || {
            let st = b.json(&["status"]);
            st["peers_recent"].as_u64() >= Some(1) && st["converged"] == true
        }),
        "b never heard a: {}",
        b.json(&["status"])
    );
    assert!(
        a.eventually(DEADLINE, || a.json(&["status"])["peers_recent"].as_u64()
            >= Some(1)),
        "a never heard b"
    );
}

/// Runs `scalesmall run` with `args` (loopback, no multicast) and returns
/// its exit status and stderr, killing it after `bound`.
fn run_to_exit(env: &Env, name: &str, args: &[&str], bound: Duration) -> (ExitStatus, String) {
    let dir = env.dir.join(name);
    let log = env.dir.join(format!("{name}.log"));
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--no-multicast", "--interface", "lo", "--data-dir"])
        .arg(&dir);
    if !args.contains(&"--key-file") {
        cmd.arg("--key-file").arg(&env.key);
    }
    let child = cmd
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let Some(status) = wait_exit(child, bound) else {
        panic!("{name} did not exit within {bound:?}");
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn only_a_signalled_stop_exits_0_and_errors_say_what_failed() {
    // Env::loopback: the tests below hold ports on the host's loopback.
    let env = Env::loopback();
    let mut a = Node::start(&env, "a", &[], &[]);
    let sock = a.socket.display().to_string();

    // SIGINT, like SIGTERM (node_cluster.rs), is a clean stop: exit 0.
    let st = a
        .stop_with("INT", Duration::from_secs(6))
        .expect("SIGINT did not stop the node in time");
    assert_eq!(st.code(), Some(0), "{st:?}");

    // A port in use: exit 1, naming the address.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let (st, err) = run_to_exit(
        &env,
        "busy",
        &[
            "--port",
            &port,
            "--socket",
            &env.dir.join("busy.sock").display().to_string(),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(st.code(), Some(1), "{st:?} {err}");
    assert!(err.contains("error:") && err.contains(&port), "{err}");

    // Another node answers on the control socket: exit 1, saying so.
    a.restart();
    let port = free_port().to_string();
    let (st, err) = run_to_exit(
        &env,
        "second",
        &["--port", &port, "--socket", &sock],
        Duration::from_secs(10),
    );
    assert_eq!(st.code(), Some(1), "{st:?} {err}");
    assert!(err.contains("another node is running"), "{err}");
    drop(a);

    // A world-writable key file: exit 1, naming it.
    let key = env.dir.join("open.key");
    std::fs::copy(&env.key, &key).expect("copy key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    let (st, err) = run_to_exit(
        &env,
        "openkey",
        &["--key-file", &key.display().to_string()],
        Duration::from_secs(10),
    );
    assert_eq!(st.code(), Some(1), "{st:?} {err}");
    assert!(err.contains("open.key") && err.contains("0666"), "{err}");
}
