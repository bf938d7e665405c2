//! The metrics an operator alerts on, against real `scalesmall run`
//! processes: every metric that deploy/prometheus/alerts.yml and the
//! Grafana dashboard (deploy/grafana/scalesmall.json) query exists on a
//! live node's `/metrics`; the coverage metrics say what `topology` says
//! (all keys served at depth 1, then half uncovered once the board serving
//! them is killed); `promtool check metrics` finds nothing to complain
//! about (where promtool is installed; `SCALESMALL_REQUIRE_PROMTOOL=1`
//! makes its absence a failure); and the committed dashboard is what
//! deploy/grafana/generate.py writes.
//!
//! The nodes run on the host's loopback (`Env::loopback`), as in
//! tests/http_api.rs, so this process reaches their HTTP listener.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::http::get;
use support::procs::{Env, Node, free_port};

const PROPAGATE: Duration = Duration::from_secs(20);
const HALF: u64 = 1 << 31;

/// Metric names (`scalesmall_*`, `process_*`) named anywhere in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["scalesmall_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            let tail = &rest[i..];
            let len = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            // Not part of a longer word (e.g. `my_scalesmall_x`).
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(tail[..len].to_owned());
            }
            rest = &tail[len..];
        }
    }
    out
}

/// The families a `/metrics` text declares (its `# TYPE` lines).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// One sample's value, e.g. `scalesmall_group_uncovered_keys{group="demo"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Pair {
    _env: Env,
    a: Node,
    b: Node,
    http: SocketAddr,
}

/// `a` serves HTTP and claims the lower half of `demo`, `b` the upper half;
/// returns once `a` sees every key served at depth 1.
fn pair() -> Pair {
    let env = Env::loopback();
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let a = Node::start(&env, "a", &[], &["--http", &http.to_string()]);
    let b = Node::start(&env, "b", &[a.port], &[]);
    for (n, range) in [(&a, "0..0x7fffffff"), (&b, "0x80000000..0xffffffff")] {
        let out = n.ctl(&["claim", "demo", range]);
        assert!(out.status.success(), "{out:?}");
    }
    let served = a.eventually(PROPAGATE, || {
        let t = get(http, "/metrics").text();
        sample(&t, "scalesmall_group_uncovered_keys{group=\"demo\"}") == Some(0.0)
    });
    assert!(
        served,
        "a never saw demo fully served:\n{}",
        get(http, "/metrics").text()
    );
    Pair {
        _env: env,
        a,
        b,
        http,
    }
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_query_exists_on_a_live_node() {
    let p = pair();
    let text = get(p.http, "/metrics").text();
    let have = families(&text);
    let mut wanted = metric_names(&repo_file("deploy/prometheus/alerts.yml"));
    wanted.extend(metric_names(&repo_file("deploy/grafana/scalesmall.json")));
    assert!(wanted.len() >= 10, "too few names found: {wanted:?}");
    let missing: Vec<&String> = wanted.iter().filter(|m| !have.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\n{text}"
    );

    let g = |m: &str| sample(&text, &format!("{m}{{group=\"demo\"}}"));
    assert_eq!(g("scalesmall_group_uncovered_keys"), Some(0.0), "{text}");
    assert_eq!(g("scalesmall_group_min_live_depth"), Some(1.0), "{text}");
    assert_eq!(
        g("scalesmall_group_replication_target"),
        None,
        "a manual group has no R"
    );
    assert_eq!(
        sample(
            &text,
            "scalesmall_group_members{group=\"demo\",state=\"alive\"}"
        ),
        Some(2.0),
        "{text}"
    );
    let build = text
        .lines()
        .find(|l| l.starts_with("scalesmall_build_info{"))
        .unwrap_or_default();
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("arch=\"")
            && build.ends_with("} 1"),
        "{build:?}"
    );
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 1e6));
    assert!(sample(&text, "process_open_fds").is_some_and(|n| n >= 3.0));
    promtool_check(&text);
}

#[test]
fn a_killed_server_leaves_its_keys_uncovered_and_its_member_down() {
    let mut p = pair();
    p.b.kill9();
    let uncovered = p.a.eventually(Duration::from_secs(30), || {
        let t = get(p.http, "/metrics").text();
        sample(&t, "scalesmall_group_uncovered_keys{group=\"demo\"}") == Some(HALF as f64)
    });
    let text = get(p.http, "/metrics").text();
    assert!(uncovered, "b's half never counted as uncovered:\n{text}");
    assert_eq!(
        sample(&text, "scalesmall_group_min_live_depth{group=\"demo\"}"),
        Some(0.0)
    );
    // Uncovered as soon as b is suspect; its member state follows the
    // detector to down.
    let down = p.a.eventually(Duration::from_secs(30), || {
        let t = get(p.http, "/metrics").text();
        sample(
            &t,
            "scalesmall_group_members{group=\"demo\",state=\"down\"}",
        ) == Some(1.0)
    });
    assert!(down, "{}", get(p.http, "/metrics").text());
}

/// `promtool check metrics` on a scrape, where promtool is installed.
fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("SCALESMALL_REQUIRE_PROMTOOL").is_none(),
                "promtool required but not runnable: {e}"
            );
            println!("SKIP promtool check metrics: {e} (apt-get install prometheus)");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("promtool's stdin");
    }
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_committed_dashboard_is_what_the_generator_writes() {
    let dir = std::env::temp_dir().join(format!("scalesmall-grafana-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("generate.py");
    std::fs::write(&script, repo_file("deploy/grafana/generate.py")).expect("copy the script");
    let out = Command::new("python3").arg(&script).output();
    let generated = std::fs::read_to_string(dir.join("scalesmall.json"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        generated.expect("the script wrote scalesmall.json"),
        repo_file("deploy/grafana/scalesmall.json"),
        "run deploy/grafana/generate.py and commit the result"
    );
}
