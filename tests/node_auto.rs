//! Auto mode with real `scalesmall run` processes: three nodes, two put in
//! auto mode by their config file and one by `scalesmall claim kv --auto`,
//! end up serving every key twice (R = 2) with roughly equal shares; `claim
//! kv --manual` then retracts that node's marker and keeps its ranges. A
//! config that drops `auto = true` takes the group out of auto mode on
//! SIGHUP; boards with different policies see each other in `status`.
//!
//! Nodes run as in `tests/node_cluster.rs` (a network namespace as root,
//! else loopback without multicast, with seeds); `[auto] settle_secs` and
//! `hold_down_secs` are turned down so a run takes seconds. Every wait
//! polls the control socket with a deadline.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::procs::{Env, Node};

const DEADLINE: Duration = Duration::from_secs(40);
const KEYS: u64 = 1 << 32;

/// A config file for a node of the test (fast auto-claim timings).
fn config(env: &Env, name: &str, groups: &str) -> PathBuf {
    let p = env.dir.join(format!("{name}.toml"));
    let text = format!("[auto]\nsettle_secs = 1\nhold_down_secs = 2\n\n{groups}");
    std::fs::write(&p, text).expect("write config");
    p
}

/// The live items of `group` in `n`'s view: (node, kind) -> ranges
/// (`start, end`) and, for auto markers, the weight.
#[derive(Default, Debug)]
struct View {
    serve: BTreeMap<String, Vec<(u64, u64)>>,
    auto: BTreeMap<String, u64>,
}

fn view(n: &Node, group: &str) -> View {
    let t = n.json(&["topology", group]);
    let mut v = View::default();
    for i in t["items"].as_array().into_iter().flatten() {
        if i["op"] == "rmv" {
            continue;
        }
        let node = i["node"].as_str().unwrap_or_default().to_owned();
        match i["kind"].as_str() {
            Some("serve") => v.serve.entry(node).or_default().push((
                i["start"].as_u64().unwrap_or(0),
                i["end"].as_u64().unwrap_or(0),
            )),
            Some("auto") => {
                v.auto
                    .insert(node, i["weight"].as_u64().unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }
    v
}

/// The fewest and most nodes serving any key (a sweep over the ranges).
fn depth(v: &View) -> (usize, usize) {
    let mut edges: BTreeMap<u64, i64> = BTreeMap::new();
    for ranges in v.serve.values() {
        // Per node: its ranges merged, so a node counts once per key.
        let mut rs = ranges.clone();
        rs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in rs {
            match merged.last_mut() {
                Some(last) if s <= last.1 + 1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            *edges.entry(s).or_default() += 1;
            *edges.entry(e + 1).or_default() -= 1;
        }
    }
    // Each segment prev..k between two edges has depth `at`.
    let (mut at, mut lo, mut hi, mut prev) = (0i64, usize::MAX, 0usize, 0u64);
    for k in edges.keys().copied().chain([KEYS]) {
        if k > prev {
            let d = usize::try_from(at).unwrap_or(0);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        at += edges.get(&k).copied().unwrap_or(0);
        prev = k;
    }
    (lo, hi)
}

/// The share of the key space each node of `status.auto` reports for `group`.
fn share(n: &Node, group: &str) -> Option<f64> {
    let st = n.json(&["status"]);
    st["auto"]
        .as_array()?
        .iter()
        .find(|a| a["group"] == group)
        .and_then(|a| a["keys"].as_u64())
        .map(|k| k as f64 / KEYS as f64)
}

#[test]
fn three_auto_nodes_cover_every_key_twice_and_manual_keeps_the_ranges() {
    let env = Env::new();
    // The default policy (R = 2, 1024 slices): each node writes a few
    // hundred aligned blocks, and its rewrites must pass peers' item cap.
    let auto_kv = "[[groups]]\nname = \"kv\"\nauto = true\nport = 8080\n";
    let ca = config(&env, "a", auto_kv);
    let cb = config(&env, "b", auto_kv);
    // c is put in auto mode by the CLI; its config does not declare kv
    // (a declared group follows the file, and the file says manual).
    let cc = config(&env, "c", "");
    let arg = |p: &PathBuf| p.display().to_string();
    let (ca, cb, cc) = (arg(&ca), arg(&cb), arg(&cc));
    let a = Node::start(&env, "a", &[], &["--config", &ca]);
    let b = Node::start(&env, "b", &[a.port], &["--config", &cb]);
    let c = Node::start(&env, "c", &[a.port, b.port], &["--config", &cc]);
    let out = c.ctl(&["claim", "kv", "--auto", "--weight", "1", "--port", "8080"]);
    assert!(out.status.success(), "{out:?}");
    let ids: BTreeSet<String> = [&a, &b, &c].iter().map(|n| n.id.clone()).collect();

    // Every node sees three auto members, every key served by exactly two
    // of them, and each node holding about two thirds of the keys.
    let settled = |n: &Node| {
        let v = view(n, "kv");
        let members: BTreeSet<String> = v.auto.keys().cloned().collect();
        members == ids
            && v.serve.keys().cloned().collect::<BTreeSet<_>>() == ids
            && depth(&v) == (2, 2)
            && v.auto.values().all(|w| *w == 1)
    };
    for n in [&a, &b, &c] {
        assert!(
            n.eventually(DEADLINE, || settled(n)),
            "{} did not see every key served twice: {:?}\nlog:\n{}",
            n.id,
            view(n, "kv"),
            n.log_text()
        );
    }
    for n in [&a, &b, &c] {
        let s = share(n, "kv").unwrap_or(0.0);
        assert!(
            (0.5..=0.85).contains(&s),
            "{} holds {s:.3} of the keys, not about 2/3",
            n.id
        );
        let st = n.json(&["status"]);
        assert_eq!(
            st["policy_fingerprint"],
            a.json(&["status"])["policy_fingerprint"],
            "{st}"
        );
        assert_eq!(st["policy_mismatch"], serde_json::json!([]), "{st}");
        assert_eq!(st["auto"][0]["weight"], 1);
        assert_eq!(st["auto"][0]["replicas"], 2);
        assert_eq!(st["auto"][0]["slices"], 1024);
        assert_eq!(st["auto"][0]["members"], 3);
    }
    // Any key: two servers, on the auto port.
    let l = a.json(&["lookup", "kv", "user:42"]);
    let servers = l["servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 2, "{l}");
    assert!(servers.iter().all(|s| s["port"] == 8080), "{l}");

    // Manual on c: its marker goes, its ranges stay (also after a and b
    // re-decide without it).
    let before = view(&c, "kv").serve.remove(&c.id).unwrap_or_default();
    let out = c.ctl(&["claim", "kv", "--manual"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim().get(..7),
        Some("changed")
    );
    let v = view(&c, "kv");
    assert!(
        !v.auto.contains_key(&c.id),
        "the marker is retracted: {v:?}"
    );
    assert_eq!(v.serve.get(&c.id), Some(&before), "the ranges stay");
    assert_eq!(
        c.json(&["status"])["auto"],
        serde_json::json!([]),
        "c is no longer in auto mode"
    );
    let gone_everywhere = |n: &Node| {
        let v = view(n, "kv");
        // Two auto members left, R = 2: both serve everything.
        v.auto.len() == 2
            && !v.auto.contains_key(&c.id)
            && [&a.id, &b.id].iter().all(|id| {
                v.serve.get(*id).is_some_and(|r| {
                    depth(&View {
                        serve: BTreeMap::from([((*id).clone(), r.clone())]),
                        auto: BTreeMap::new(),
                    }) == (1, 1)
                })
            })
    };
    for n in [&a, &b] {
        assert!(
            n.eventually(DEADLINE, || gone_everywhere(n)),
            "{} did not take over: {:?}\nstatus: {}\nlog:\n{}",
            n.id,
            view(n, "kv"),
            n.json(&["status"]),
            n.log_text()
        );
    }
    assert_eq!(
        view(&a, "kv").serve.get(&c.id),
        Some(&before),
        "c's ranges stay, as manual claims, in the others' view too"
    );
    // A manual claim again changes nothing.
    let out = c.ctl(&["claim", "kv", "--manual"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unchanged");
}

#[test]
fn a_config_without_auto_takes_the_group_out_of_auto_mode_on_sighup() {
    let env = Env::new();
    let p = config(
        &env,
        "a",
        "[[groups]]\nname = \"kv\"\nauto = true\nweight = 3\n",
    );
    let path = p.display().to_string();
    let a = Node::start(&env, "a", &[], &["--config", &path]);
    // Alone: it serves every key (once: it is the only auto member).
    assert!(
        a.eventually(DEADLINE, || {
            let v = view(&a, "kv");
            v.auto.get(&a.id) == Some(&3) && depth(&v) == (1, 1)
        }),
        "{:?}\n{}",
        view(&a, "kv"),
        a.log_text()
    );
    let sighup = || {
        let pid = a.pid().expect("running").to_string();
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP {pid}");
    };
    // auto = true removed, no claims listed: out of auto mode, and (as for
    // every declared group) its claims are exactly the listed ones: none.
    config(&env, "a", "[[groups]]\nname = \"kv\"\n");
    sighup();
    assert!(
        a.eventually(DEADLINE, || {
            let v = view(&a, "kv");
            v.auto.is_empty() && v.serve.is_empty()
        }),
        "{:?}\n{}",
        view(&a, "kv"),
        a.log_text()
    );
    assert!(a.log_text().contains("auto mode off"), "{}", a.log_text());
    // Back in: auto-claim picks everything again.
    config(&env, "a", "[[groups]]\nname = \"kv\"\nauto = true\n");
    sighup();
    assert!(
        a.eventually(DEADLINE, || {
            let v = view(&a, "kv");
            v.auto.get(&a.id) == Some(&1) && depth(&v) == (1, 1)
        }),
        "{:?}\n{}",
        view(&a, "kv"),
        a.log_text()
    );
}

#[test]
fn boards_with_different_policies_show_in_status() {
    let env = Env::new();
    let pa = config(&env, "a", "[[groups]]\nname = \"kv\"\nslices = 256\n");
    let pb = config(&env, "b", "");
    let (pa, pb) = (pa.display().to_string(), pb.display().to_string());
    let a = Node::start(&env, "a", &[], &["--config", &pa]);
    let b = Node::start(&env, "b", &[a.port], &["--config", &pb]);
    let fp_a = a.json(&["status"])["policy_fingerprint"].clone();
    assert_ne!(fp_a, "0000000000000000");
    let sees = |n: &Node, other: &Node, fp: &serde_json::Value| {
        let st = n.json(&["status"]);
        st["policy_mismatch"].as_array().is_some_and(|m| {
            m.iter()
                .any(|x| x["node"] == other.id.as_str() && x["fingerprint"] == *fp)
        })
    };
    assert!(
        b.eventually(DEADLINE, || sees(&b, &a, &fp_a)),
        "{}",
        b.json(&["status"])
    );
    let zero = serde_json::json!("0000000000000000");
    assert!(
        a.eventually(DEADLINE, || sees(&a, &b, &zero)),
        "{}",
        a.json(&["status"])
    );
    let human = String::from_utf8_lossy(&b.ctl(&["status"]).stdout).into_owned();
    assert!(human.contains("DIFFERS on"), "{human}");
}
