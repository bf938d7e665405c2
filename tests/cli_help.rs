//! The help texts and `config check`, from the real binary: every
//! subcommand's summary in the top-level list is one complete line; `run
//! --help` names every `SCALESMALL_*` variable the config reads (taken from
//! the source, so a new variable without help fails here) and docs/node.md
//! lists them too; `--http` says what it serves; `config check` prints a
//! summary (not a Rust debug dump) and `--json` every setting, and an
//! invalid config is exit 1 with the reason (in the JSON too).
//!
//! Every command is bounded in time (10 s) and killed by PID if it hangs.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::procs::{bin, wait_exit};

/// Runs the binary with `args` and `env` (bounded), in a clean environment
/// as far as `SCALESMALL_*` goes.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    use std::io::Read;
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SCALESMALL_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scalesmall");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let read = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut b);
            }
            b
        })
    };
    let out = read(stdout.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = read(stderr.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = wait_exit(child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{args:?} did not exit within 10 s"));
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `SCALESMALL_*` name in the config loader's source.
fn config_variables() -> BTreeSet<String> {
    let src = std::fs::read_to_string(repo().join("src/node/config.rs")).expect("read config.rs");
    let mut out = BTreeSet::new();
    for (i, _) in src.match_indices("\"SCALESMALL_") {
        let name: String = src[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

#[test]
fn every_summary_in_the_command_list_is_one_whole_line() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    let list: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(list.len() >= 15, "{text}");
    for line in &list {
        // A continuation line (a summary wrapped by a newline in its doc
        // comment) starts with more than the two spaces of a command.
        assert!(
            line.starts_with("  ") && !line.starts_with("   "),
            "a summary runs onto a second line: {line:?}\n{text}"
        );
        assert!(!line.ends_with('.'), "{line:?} ends with a period");
    }
    let join = list
        .iter()
        .find(|l| l.trim_start().starts_with("join "))
        .expect("join listed");
    assert!(join.contains("can look up its keys"), "{join}");
    let run_help = stdout(&run(&["run", "--help"], &[]));
    assert!(
        run_help.contains("status page (/), the JSON API (/api/v1/) and Prometheus /metrics"),
        "--http must say it serves the page and the API too:\n{run_help}"
    );
}

#[test]
fn run_help_and_the_docs_name_every_environment_variable() {
    let vars = config_variables();
    assert!(
        vars.len() >= 16,
        "found only {vars:?} in src/node/config.rs"
    );
    let help = stdout(&run(&["run", "--help"], &[]));
    let short = stdout(&run(&["run", "-h"], &[]));
    let docs = std::fs::read_to_string(repo().join("docs/node.md")).expect("read docs/node.md");
    for v in &vars {
        assert!(
            help.contains(v.as_str()),
            "`run --help` does not name {v}:\n{help}"
        );
        assert!(short.contains(v.as_str()), "`run -h` does not name {v}");
        assert!(
            docs.contains(&format!("`{v}`")),
            "docs/node.md does not name `{v}`"
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn config_check_prints_a_summary_or_every_setting_as_json() {
    let dir = std::env::temp_dir().join(format!("scalesmall-cli-help-{}", std::process::id()));
    let data = dir.join("data");
    let data = data.to_str().expect("utf-8 path");
    let file = write(
        &dir,
        "ok.toml",
        "[node]\nport = 2000\npeers = [\"10.1.0.5:29999\"]\n\n\
         [[groups]]\nname = \"demo\"\nclaims = [{ range = \"0..0x7fffffff\", priority = 10, port = 8080 }]\n\n\
         [[groups]]\nname = \"kv\"\nauto = true\nreplicas = 3\n",
    );
    let file = file.to_str().expect("utf-8 path");
    let env = [
        ("SCALESMALL_DATA_DIR", data),
        ("SCALESMALL_HTTP", "127.0.0.1:29980"),
    ];

    let out = run(&["config", "check", "--config", file], &env);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(text.starts_with(&format!("ok: {file}\n")), "{text}");
    assert!(!text.contains("Config {"), "a Rust debug dump:\n{text}");
    for want in [
        "port 2000",
        "seeds       10.1.0.5:29999",
        "http 127.0.0.1:29980",
        "demo: 0x00000000..0x7fffffff priority 10 port 8080",
        "kv: auto, weight 1 (replicas 3, slices 1024)",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }

    let out = run(&["config", "check", "--config", file, "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("config check --json is JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["file"], file);
    assert_eq!(v["node"]["port"], 2000);
    assert_eq!(v["node"]["data_dir"], data, "the environment applies");
    assert_eq!(v["node"]["peers"][0], "10.1.0.5:29999");
    assert_eq!(v["node"]["multicast_port"], 2000);
    assert_eq!(v["control"]["http"], "127.0.0.1:29980");
    assert_eq!(v["cluster"]["key_file"], format!("{data}/cluster.key"));
    assert_eq!(
        v["groups"][0]["claims"][0]["range"],
        "0x00000000..0x7fffffff"
    );
    assert_eq!(v["groups"][1]["auto"], true);
    assert_eq!(v["groups"][1]["replicas"], 3);
    assert_eq!(v["auto"]["hold_down_secs"], 60);

    // Invalid: exit 1, the reason on stderr (and in the JSON).
    let bad = write(&dir, "bad.toml", "[node]\nport = 70000\n");
    let bad = bad.to_str().expect("utf-8 path");
    let out = run(&["config", "check", "--config", bad], &env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("node.port = \"70000\": must be 1..=65535"),
        "{out:?}"
    );
    let out = run(&["config", "check", "--config", bad, "--json"], &env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("an error as JSON");
    assert_eq!(v["ok"], false);
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("node.port")),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
