//! Malformed arguments are usage errors: the real binary, run with every
//! argument that takes a parsed value given a malformed one (a table, one
//! row per argument and kind of mistake), exits 2 in clap's format with the
//! explanation the node would have given, before it contacts any node:
//! with no node running, and with one running (which must not see the
//! request); `keys install` reads and checks its key file first. A node that hangs up mid-request is exit 1; a reader that
//! stops early (`| head -1`) is no panic. And the README's exit-code list
//! is the one `--help` prints.
//!
//! The running node is a real `scalesmall run` on loopback (no namespace
//! needed), killed by PID on drop; every command is bounded in time.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::procs::{Env, Node, bin, wait_exit};

/// One malformed invocation and a phrase its error must contain.
struct Case {
    args: &'static [&'static str],
    says: &'static str,
}

const fn case(args: &'static [&'static str], says: &'static str) -> Case {
    Case { args, says }
}

/// 256 bytes: one more than a group name may have.
const LONG_GROUP: &str = concat!(
    "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
    "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
    "gggggggggggggggggggggggggggggggg"
);
const _: () = assert!(LONG_GROUP.len() == 256);

const RANGE: &str = "is not a key range: expected START..END";
const EMPTY_GROUP: &str = "group name is empty";
const LONG: &str = "the limit is 255 bytes";
const KEY_ID: &str = "is not a key id: expected 8 hex digits";

/// The control commands: every parsed argument, malformed.
fn control_cases() -> Vec<Case> {
    vec![
        case(&["claim", "demo", "10..5"], RANGE),
        case(&["claim", "demo", "0..x"], RANGE),
        case(&["claim", "demo", "0..0x100000000"], RANGE),
        case(&["claim", "demo", "5"], RANGE),
        case(&["release", "demo", "10..5"], RANGE),
        case(&["release", "demo", ""], RANGE),
        case(&["claim", "", "0..9"], EMPTY_GROUP),
        case(&["claim", LONG_GROUP, "0..9"], LONG),
        case(&["claim", "", "--auto"], EMPTY_GROUP),
        case(&["claim", "demo", "0..9", "--priority", "70000"], "70000"),
        case(&["claim", "demo", "0..9", "--port", "x"], "'--port <PORT>'"),
        case(
            &["claim", "demo", "--auto", "--weight", "two"],
            "'--weight <W>'",
        ),
        case(&["release", "", "0..9"], EMPTY_GROUP),
        case(&["join", ""], EMPTY_GROUP),
        case(&["join", LONG_GROUP], LONG),
        case(&["leave", ""], EMPTY_GROUP),
        case(&["leave", LONG_GROUP], LONG),
        case(&["lookup", "", "42"], EMPTY_GROUP),
        case(&["lookup", LONG_GROUP, "42"], LONG),
        case(&["lookup", "demo", ""], "is not a key: expected a u32"),
        case(&["lookup", "demo", "  "], "is not a key: expected a u32"),
        case(&["members", ""], EMPTY_GROUP),
        case(&["members", LONG_GROUP], LONG),
        case(&["topology", ""], EMPTY_GROUP),
        case(&["topology", LONG_GROUP], LONG),
        case(
            &["forget", "xyz"],
            "is not a node id: expected 1 to 16 hex digits",
        ),
        case(&["forget", "12345678901234567"], "is not a node id"),
        case(&["forget", ""], "is not a node id"),
        case(&["keys", "use", "xyz"], KEY_ID),
        case(&["keys", "use", ""], KEY_ID),
        case(&["keys", "use", "0x123456789"], KEY_ID),
        case(&["keys", "remove", "0xg0000000"], KEY_ID),
        case(
            &["keys", "install", "/nonexistent/new.key"],
            "cannot read the key file /nonexistent/new.key",
        ),
        // The crate's own manifest: a file, but not a key.
        case(
            &["keys", "install", "Cargo.toml"],
            "does not hold a cluster key: the key is not base64",
        ),
        case(
            &["keys", "install", "-"],
            "standard input does not hold a cluster key",
        ),
    ]
}

/// `scalesmall run`: every flag that takes a parsed value, malformed.
fn run_cases() -> Vec<Case> {
    vec![
        case(&["run", "--peer", "board.local"], "must be an IP address"),
        case(
            &["run", "--peer", "10.0.0.1:99999"],
            "must be an IP address",
        ),
        case(
            &["run", "--port", "0"],
            "a port is a number from 1 to 65535",
        ),
        case(
            &["run", "--port", "70000"],
            "a port is a number from 1 to 65535",
        ),
        case(&["run", "--multicast-port", "0"], "a port is a number"),
        case(&["run", "--advertise", "10.0.0"], "'--advertise <IP>'"),
        case(&["run", "--http", "29980"], "must be ADDR:PORT"),
        case(
            &["run", "--log-format", "xml"],
            "must be one of auto, human",
        ),
        case(&["run", "--log", "scalesmall=loud"], "a filter is like"),
        case(
            &["run", "--cluster", ""],
            "a cluster name is 1 to 255 bytes",
        ),
    ]
}

/// Runs the binary with `args` (bounded) and checks a usage error that
/// says `says`.
fn assert_usage_error(args: &[&str], says: &str, situation: &str) {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scalesmall");
    let out = wait_output(child, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} ({situation}) exited {:?}: {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    assert!(
        stderr.starts_with("error: invalid value '"),
        "{args:?} ({situation}): not clap's format: {stderr}"
    );
    assert!(
        stderr.contains("For more information, try '--help'."),
        "{args:?} ({situation}): {stderr}"
    );
    // clap's `invalid value 'X' for '<ARG>': ` then the explanation, once
    // (it once read `"zzzz" is not a node id: "zzzz" is not a node id: …`).
    let first = stderr.lines().next().unwrap_or_default();
    let why = first.split_once("': ").map_or(first, |(_, w)| w);
    assert!(
        stderr.contains(says),
        "{args:?} ({situation}) should say {says:?}: {stderr}"
    );
    let parts: Vec<&str> = why.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "{args:?} ({situation}) repeats {p:?}: {stderr}"
        );
    }
}

fn wait_output(mut child: std::process::Child, args: &[&str]) -> std::process::Output {
    use std::io::Read;
    // Each pipe still held is read to its end on its own thread.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(mut s) = stdout {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let status = wait_exit(child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{args:?} did not exit within 10 s"));
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn with_socket<'a>(args: &[&'a str], socket: &'a str) -> Vec<&'a str> {
    let mut a = args.to_vec();
    a.extend(["--socket", socket]);
    a
}

#[test]
fn malformed_arguments_exit_2_without_a_node() {
    let dir = std::env::temp_dir().join(format!("scalesmall-usage-{}", std::process::id()));
    let socket = dir.join("nobody.sock");
    let socket = socket.to_str().expect("utf-8 path");
    for c in control_cases() {
        assert_usage_error(&with_socket(c.args, socket), c.says, "no node");
    }
    for c in run_cases() {
        // The data dir is never touched: the flags fail first.
        let mut a = c.args.to_vec();
        a.extend(["--data-dir", dir.to_str().expect("utf-8 path")]);
        assert_usage_error(&a, c.says, "run");
    }
    assert!(!dir.exists(), "a malformed run created its data dir");
}

#[test]
fn malformed_arguments_exit_2_and_the_running_node_sees_nothing() {
    let env = Env::loopback();
    let node = Node::start(&env, "a", &[], &[]);
    let before = node.json(&["status"]);
    let socket = node.socket.to_str().expect("utf-8 path");
    for c in control_cases() {
        assert_usage_error(&with_socket(c.args, socket), c.says, "node running");
    }
    let after = node.json(&["status"]);
    assert_eq!(after["clock"], before["clock"], "a write reached the node");
    assert_eq!(after["groups"], before["groups"]);
    assert_eq!(after["my_groups"], serde_json::json!([]));
    // The same commands, well formed, do reach it.
    let ok = node.ctl(&["join", "demo"]);
    assert!(ok.status.success(), "{ok:?}");
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_readme_lists_the_exit_codes_of_help() {
    let out = Command::new(bin()).arg("--help").output().expect("--help");
    assert!(out.status.success());
    let help = squash(&String::from_utf8_lossy(&out.stdout));
    let start = help.find("Exit codes:").expect("--help lists exit codes");
    let end = help[start..]
        .find("(the reason is printed).")
        .map(|e| start + e + "(the reason is printed).".len())
        .expect("the list ends with refused");
    let list = &help[start..end];
    assert!(list.contains("1 error"), "{list}");
    let readme = squash(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README"),
    );
    assert!(
        readme.contains(list),
        "README.md should list the exit codes as --help does:\n{list}"
    );
    let node_doc = squash(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/node.md"))
            .expect("docs/node.md"),
    );
    assert!(node_doc.contains(list), "docs/node.md: {list}");
}

#[test]
fn a_node_that_closes_the_connection_mid_request_is_exit_1() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("scalesmall-usage-close-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("closing.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    // Reads the request line, then hangs up without a reply.
    let server = std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut line = String::new();
            let _ = std::io::BufReader::new(&stream).read_line(&mut line);
            line
        } else {
            String::new()
        }
    });
    let child = Command::new(bin())
        .args(["status", "--socket"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_output(child, &["status"]);
    let request = server.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        request.contains("status"),
        "the request was sent: {request:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the node closed the connection"),
        "{stderr}"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `scalesmall config check | head -1`: the reader is gone after the
    // first line (usually before the rest is written); pipefail gives
    // scalesmall's own status.
    let dir = std::env::temp_dir().join(format!("scalesmall-usage-pipe-{}", std::process::id()));
    let child = Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; \"$0\" config check | head -1 >/dev/null",
            &bin(),
        ])
        .env("SCALESMALL_DATA_DIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    let out = wait_output(child, &["config", "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
