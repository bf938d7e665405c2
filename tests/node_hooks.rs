//! Hooks against real `scalesmall run` processes (docs/node.md "Hooks"):
//! a board joining a group, a peer's claim changing a group's owners and
//! a killed peer going down each run the configured commands with the
//! documented environment and JSON; the shipped recipe's hook
//! (deploy/hooks/write-owners, docs/operations.md section 11) keeps the
//! owners file current; the runs are counted in `/metrics`; and
//! `watch --exec` runs a command per event.
//!
//! The nodes run on the host's loopback (`Env::loopback`) so this process
//! reaches the HTTP listener; every process is killed by PID on drop.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::http::get;
use support::procs::{Env, Node, bin, free_port};

const WITHIN: Duration = Duration::from_secs(30);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn recipe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/hooks/write-owners")
}

/// The config of a node with two hooks: the recipe's owners file (into
/// `dir`) and a log line per event (into `dir/events.log`).
fn config(dir: &Path) -> PathBuf {
    let text = format!(
        "[node]\nhook_window_ms = 300\n\n\
         [[hooks]]\nname = \"owners-file\"\nevents = [\"owners-changed\"]\n\
         command = \"SCALESMALL_HOOK_DIR={dir} {recipe}\"\n\n\
         [[hooks]]\nname = \"log\"\nevents = [\"peer-down\", \"group-joined\", \"owners-changed\"]\n\
         command = 'echo \"$SCALESMALL_EVENT|$SCALESMALL_GROUP|$SCALESMALL_NODE|$(head -c 40)\" >> {dir}/events.log'\n",
        dir = dir.display(),
        recipe = recipe().display(),
    );
    let p = dir.join("hooks.toml");
    std::fs::write(&p, text).expect("write the config");
    p
}

/// `watch --exec` against `n`, killed by PID on drop.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hooks_run_on_joins_owner_changes_and_peers_going_down() {
    let env = Env::loopback();
    let dir = env.dir.join("hooks");
    std::fs::create_dir_all(&dir).expect("hooks dir");
    let cfg = config(&dir);
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let cfg_arg = cfg.display().to_string();
    let a = Node::start(
        &env,
        "a",
        &[],
        &["--config", &cfg_arg, "--http", &http.to_string()],
    );
    let mut b = Node::start(&env, "b", &[a.port], &[]);

    // watch --exec beside the hooks.
    let exec_log = dir.join("exec.log");
    let mut watcher = Watcher(
        Command::new(bin())
            .args([
                "watch",
                "--socket",
                &a.socket.display().to_string(),
                "--exec",
            ])
            .arg(format!(
                "echo \"$SCALESMALL_EVENT $SCALESMALL_GROUP\" >> {}",
                exec_log.display()
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("watch starts"),
    );
    // Its first line says the subscription is live: events from then on
    // reach it. Later lines go to a file, for the report.
    let stdout = watcher.0.stdout.take().expect("piped");
    let printed = dir.join("watch.out");
    let out = printed.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
        // Keep reading: a closed pipe would end the watch.
        for line in lines.map_while(Result::ok) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out);
            if let Ok(f) = f.as_mut() {
                let _ = std::io::Write::write_all(f, format!("{line}\n").as_bytes());
            }
        }
    });
    let first = rx.recv_timeout(WITHIN).unwrap_or_default();
    assert!(first.contains("watching"), "watch's first line: {first:?}");

    let events = dir.join("events.log");
    assert!(a.ctl(&["join", "demo"]).status.success());
    assert!(
        a.eventually(WITHIN, || read(&events).contains("group-joined|demo||")),
        "no group-joined: {}",
        read(&events)
    );

    // b serves the upper half: a's owners of demo change.
    assert!(
        b.ctl(&["claim", "demo", "0x80000000..0xffffffff", "--port", "7"])
            .status
            .success()
    );
    let owners = dir.join("owners-demo.json");
    let served_by_b = |text: &str| {
        let v: Value = serde_json::from_str(text).unwrap_or_default();
        v["event"] == "owners-changed"
            && v["group"] == "demo"
            && v["ranges"].as_array().is_some_and(|r| {
                r.iter().any(|r| {
                    r["range"] == "0x80000000..0xffffffff"
                        && r["owners"][0]["node"] == b.id.as_str()
                        && r["owners"][0]["port"] == 7
                })
            })
    };
    assert!(
        a.eventually(WITHIN, || served_by_b(&read(&owners))),
        "owners file: {}\nlog: {}",
        read(&owners),
        a.log_text()
    );
    let v: Value = serde_json::from_str(&read(&owners)).unwrap_or_default();
    assert!(
        v["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
        "{v}"
    );

    // b dies: down in a's view, and its range's owner is now down.
    b.kill9();
    let down = format!("peer-down||{}|", b.id);
    assert!(
        a.eventually(WITHIN, || read(&events).contains(&down)),
        "{}",
        read(&events)
    );
    assert!(
        a.eventually(WITHIN, || read(&owners).contains("\"state\":\"down\"")),
        "{}",
        read(&owners)
    );

    // Counted, and seen by watch --exec.
    let metrics = get(http, "/metrics").text();
    let ok = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("scalesmall_hook_runs_total{hook=\"owners-file\",result=\"ok\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok());
    assert!(ok.is_some_and(|n| n >= 2), "{metrics}");
    assert!(
        metrics.contains("scalesmall_hook_dropped_total{hook=\"log\"} 0"),
        "{metrics}"
    );
    assert!(
        a.eventually(WITHIN, || {
            let t = read(&exec_log);
            t.contains("group_joined demo")
                && t.contains("owners_changed demo")
                && t.contains("down ")
        }),
        "watch --exec saw: {}\nwatch printed: {}\nhooks saw: {}",
        read(&exec_log),
        read(&printed),
        read(&events)
    );
    drop(watcher);
}

#[test]
fn a_bad_hook_table_stops_the_node_with_a_message_naming_it() {
    let env = Env::loopback();
    let p = env.dir.join("bad.toml");
    std::fs::write(&p, "[[hooks]]\nevents = [\"peer-down\"]\ncommand = \"\"\n").expect("write");
    let out = Command::new(bin())
        .args(["config", "check", "--config", &p.display().to_string()])
        .output()
        .expect("config check runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("hooks[0] (hook1): `command` is empty"),
        "{err}"
    );
}
