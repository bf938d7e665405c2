//! The HTTP listener against real `scalesmall run` processes, with real
//! HTTP requests (the small client in `support/http.rs`): each JSON
//! endpoint's shape, and that it says the same as the CLI's `--json` (one
//! definition); the page and `/metrics`; and every kind of bad request (bad
//! path, bad group name, bad or missing query value, a write method,
//! garbage) answered with a 4xx and a message that names the problem, while
//! the node keeps serving.
//!
//! The nodes run on the host's loopback with seeds even as root
//! (`Env::loopback`): in a network namespace their HTTP listener would be
//! out of this process's reach.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::http::{self, get};
use support::procs::{Env, Node, free_port};

const PROPAGATE: Duration = Duration::from_secs(20);
/// A group name that needs percent-encoding (a slash, a space, UTF-8).
const ODD: &str = "racks/é 2";
const ODD_ENCODED: &str = "racks%2F%C3%A9%202";

struct Cluster {
    _env: Env,
    a: Node,
    b: Node,
    http: SocketAddr,
}

/// Two nodes; `a` serves HTTP. `a` claims the lower half of `demo`, `b` a
/// middle part and joins `ODD`; returns once `a` sees it all.
fn cluster() -> Cluster {
    let env = Env::loopback();
    let port = free_port();
    let http: SocketAddr = ([127, 0, 0, 1], port).into();
    let a = Node::start(&env, "a", &[], &["--http", &http.to_string()]);
    let b = Node::start(&env, "b", &[a.port], &[]);
    let w = a.watch();
    let ok = |args: &[&str], n: &Node| {
        let out = n.ctl(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    ok(
        &[
            "claim",
            "demo",
            "0..0x7fffffff",
            "--priority",
            "9",
            "--port",
            "8080",
        ],
        &a,
    );
    ok(
        &["claim", "demo", "0x40000000..0x9fffffff", "--priority", "4"],
        &b,
    );
    ok(&["join", ODD], &b);
    let ready = || {
        let g = get(http, "/api/v1/groups").json();
        let names: Vec<&str> = g["groups"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| g["name"].as_str()).collect())
            .unwrap_or_default();
        names == ["demo", ODD]
            && g["groups"][0]["claims"] == 2
            && get(http, "/api/v1/peers").json()["peers"][0]["id"] == b.id.as_str()
    };
    w.until(PROPAGATE, |e| e["event"] == "changed" && ready())
        .unwrap_or_else(|| {
            panic!(
                "a never saw b's writes; events:\n{}\nlog:\n{}",
                w.history(),
                a.log_text()
            )
        });
    Cluster {
        _env: env,
        a,
        b,
        http,
    }
}

fn assert_json(r: &http::Reply) -> Value {
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    r.json()
}

#[test]
fn each_endpoint_answers_json_of_the_documented_shape() {
    let c = cluster();
    let (a, b) = (&c.a, &c.b);

    let r = get(c.http, "/api/v1/status");
    assert_eq!(r.status, 200);
    let st = assert_json(&r);
    assert_eq!(st["result"], "status");
    assert_eq!(st["id"], a.id.as_str());
    assert_eq!(st["groups"], serde_json::json!(["demo", ODD]));
    assert_eq!(st["my_groups"], serde_json::json!(["demo"]));
    for field in [
        "version",
        "arch",
        "incarnation",
        "clock",
        "listen",
        "converged",
        "peers",
    ] {
        assert!(!st[field].is_null(), "status has no {field}: {st}");
    }
    // b, by disjoint state; no multicast here, so no island to lose.
    assert_eq!(
        [
            &st["peers"],
            &st["peers_alive"],
            &st["peers_suspect"],
            &st["peers_down"]
        ],
        [1, 1, 0, 0],
        "{st}"
    );
    assert_eq!(st["unreachable_islands"], 0, "{st}");
    // The same document as the CLI's (one definition), up to what moves.
    let cli = a.json(&["status"]);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&st), keys(&cli));
    assert_eq!(st["id"], cli["id"]);

    let peers = assert_json(&get(c.http, "/api/v1/peers"));
    assert_eq!(peers["result"], "peers");
    let p = &peers["peers"][0];
    assert_eq!(p["id"], b.id.as_str());
    assert_eq!(p["state"], "alive");
    assert_eq!(p["addr"], format!("127.0.0.1:{}", b.port).as_str());
    for field in [
        "incarnation",
        "last_heard_ms",
        "representative",
        "multicast",
        "version",
    ] {
        assert!(!p[field].is_null(), "peer has no {field}: {p}");
    }

    let groups = assert_json(&get(c.http, "/api/v1/groups"));
    assert_eq!(groups["result"], "groups");
    let demo = &groups["groups"][0];
    assert_eq!(demo["name"], "demo");
    assert_eq!(demo["members"], 2);
    assert_eq!(demo["servers"], 2);
    assert_eq!(demo["claims"], 2);
    assert_eq!(demo["mine"], true);
    assert!(demo["differs"].is_array());
    let odd = &groups["groups"][1];
    assert_eq!(odd["name"], ODD);
    // a has not joined ODD: it lists the name and holds nothing of it
    // (interest, ALGORITHM.md 8.6).
    assert_eq!(
        (odd["members"].as_u64(), odd["servers"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(odd["mine"], false);

    let topo = assert_json(&get(c.http, "/api/v1/groups/demo/topology"));
    assert_eq!(topo, a.json(&["topology", "demo"]), "the CLI's document");
    let items = topo["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let mine = items
        .iter()
        .find(|i| i["node"] == a.id.as_str())
        .expect("a's claim");
    assert_eq!(mine["start"], 0);
    assert_eq!(mine["end"], 0x7fff_ffff);
    assert_eq!(mine["priority"], 9);
    assert_eq!(mine["port"], 8080);
    assert_eq!(mine["op"], "add");
    assert_eq!(mine["kind"], "serve");

    let odd_topo = assert_json(&get(
        c.http,
        &format!("/api/v1/groups/{ODD_ENCODED}/topology"),
    ));
    assert_eq!(odd_topo["group"], ODD);
    assert_eq!(odd_topo["items"], serde_json::json!([]), "not a member");

    // Keys: decimal, hex, a string (hashed); `+` is a space, `%2B` a plus.
    for (query, cli_key) in [
        ("key=1342177280", "1342177280"),
        ("key=0x50000000", "0x50000000"),
        ("key=0X50000000", "0x50000000"),
        ("key=user%3A42", "user:42"),
        ("key=a+b", "a b"),
        ("key=a%2Bb", "a+b"),
        ("key=%C3%A9t%C3%A9", "été"),
    ] {
        let l = assert_json(&get(c.http, &format!("/api/v1/groups/demo/lookup?{query}")));
        assert_eq!(l, a.json(&["lookup", "demo", cli_key]), "{query}");
    }
    let l = get(c.http, "/api/v1/groups/demo/lookup?key=0x50000000").json();
    assert_eq!(l["result"], "lookup");
    assert_eq!(l["key"], 0x5000_0000);
    assert_eq!(l["hashed"], false);
    let servers: Vec<&str> = l["servers"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["node"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        servers,
        [a.id.as_str(), b.id.as_str()],
        "priority 9 before 4"
    );
    assert_eq!(
        l["servers"][0]["addr"],
        format!("127.0.0.1:{}", a.port).as_str()
    );
    let l = get(c.http, "/api/v1/groups/demo/lookup?key=0xf0000000").json();
    assert_eq!(l["servers"], serde_json::json!([]), "uncovered");
}

#[test]
fn the_page_and_metrics_are_served() {
    let c = cluster();
    let r = get(c.http, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let page = r.text();
    assert!(page.contains("Read-only"), "the page says it is read-only");
    assert!(page.len() < 24 * 1024);

    let m = get(c.http, "/metrics");
    assert_eq!(m.status, 200);
    let text = m.text();
    for line in [
        "scalesmall_peers{state=\"alive\"} 1\n",
        "scalesmall_peers{state=\"suspect\"} 0\n",
        "scalesmall_peers{state=\"down\"} 0\n",
        "scalesmall_peers_recent 1\n",
        "scalesmall_peers_multicast 0\n",
        "scalesmall_islands_unreachable 0\n",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(!text.contains("state=\"known\""), "{text}");
}

/// One sample of the Prometheus text, e.g. `scalesmall_peers{state="down"}`.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_killed_peer_shows_as_suspect_then_down_in_status_api_and_metrics() {
    let mut c = cluster();
    c.b.kill9();
    let a = &c.a;
    let states = |st: &Value| {
        [
            st["peers_alive"].as_u64(),
            st["peers_suspect"].as_u64(),
            st["peers_down"].as_u64(),
        ]
    };
    let mut seen_suspect = false;
    let down = a.eventually(Duration::from_secs(30), || {
        let st = get(c.http, "/api/v1/status").json();
        seen_suspect |= states(&st) == [Some(0), Some(1), Some(0)];
        states(&st) == [Some(0), Some(0), Some(1)]
    });
    let st = get(c.http, "/api/v1/status").json();
    assert!(down, "b never shown down: {st}");
    assert!(
        seen_suspect,
        "b went down without being shown suspect first"
    );
    // Disjoint: the states sum to the peers known.
    assert_eq!(st["peers"], 1);
    // One board down is not a split (and without multicast there are no
    // islands at all).
    assert_eq!(st["unreachable_islands"], 0);
    let text = get(c.http, "/metrics").text();
    assert_eq!(
        sample(&text, "scalesmall_peers{state=\"alive\"}"),
        Some(0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "scalesmall_peers{state=\"suspect\"}"),
        Some(0)
    );
    assert_eq!(sample(&text, "scalesmall_peers{state=\"down\"}"), Some(1));
    assert_eq!(sample(&text, "scalesmall_islands_unreachable"), Some(0));
    let human = a.ctl(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("1 known: 0 alive, 0 suspect, 1 down;"),
        "{human}"
    );
    assert!(human.contains("islands     none unreachable"), "{human}");
}

#[test]
fn bad_requests_get_a_4xx_that_says_what_is_wrong() {
    let c = cluster();
    let long = "x".repeat(256);
    let long_path = format!("/api/v1/groups/{long}/lookup?key=1");
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "GET",
            "/api/v1/nope",
            404,
            "/api/v1/groups/{group}/topology",
        ),
        ("GET", "/api/v1/status/", 404, "no such path"),
        (
            "GET",
            "/api/v1/groups/demo",
            404,
            "/api/v1/groups/{group}/lookup?key=",
        ),
        (
            "GET",
            "/api/v1/groups/nope/topology",
            404,
            "no group \\\"nope\\\"",
        ),
        (
            "GET",
            "/api/v1/groups/nope/lookup?key=1",
            404,
            "/api/v1/groups lists",
        ),
        ("GET", "/api/v1/groups/%zz/topology", 400, "two hex digits"),
        ("GET", "/api/v1/groups/%ff%fe/topology", 400, "not UTF-8"),
        ("GET", "/api/v1/groups//topology", 400, "1 to 255 bytes"),
        ("GET", &long_path, 400, "256 bytes long"),
        (
            "GET",
            "/api/v1/groups/demo/lookup",
            400,
            "missing query parameter \\\"key\\\"",
        ),
        ("GET", "/api/v1/groups/demo/lookup?key=", 400, "is empty"),
        (
            "GET",
            "/api/v1/groups/demo/lookup?key=1&key=2",
            400,
            "more than once",
        ),
        (
            "GET",
            "/api/v1/groups/demo/lookup?key=1&limit=3",
            400,
            "unknown query parameter \\\"limit\\\"",
        ),
        (
            "GET",
            "/api/v1/groups/demo/lookup?key=%G0",
            400,
            "bad percent-encoding",
        ),
        (
            "GET",
            "/api/v1/status?verbose=1",
            400,
            "takes no query parameters",
        ),
        ("POST", "/api/v1/status", 405, "only GET"),
        ("PUT", "/api/v1/groups/demo/topology", 405, "read-only"),
        (
            "DELETE",
            "/api/v1/groups/demo/lookup?key=1",
            405,
            "writes go through the CLI",
        ),
    ];
    for (method, target, status, fragment) in cases {
        let r = http::request(c.http, method, target, None)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        assert_eq!(r.status, *status, "{method} {target}: {}", r.text());
        let body = assert_json(&r);
        assert_eq!(body["status"], *status);
        assert!(
            body.to_string().contains(fragment),
            "{method} {target}: {body} lacks {fragment:?}"
        );
        if *status == 405 {
            assert_eq!(r.header("allow"), Some("GET"));
        }
    }
    // Outside /api/ the messages are text.
    let r = get(c.http, "/nope");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("paths: /, /metrics"), "{}", r.text());
    let r = http::request(c.http, "POST", "/", Some(b"{}")).expect("POST /");
    assert_eq!(r.status, 405);
    assert!(r.text().contains("read-only"));
    // Garbage is hyper's 400, and the node goes on.
    let out = http::raw(c.http, b"NOT HTTP AT ALL\r\n\r\n").expect("raw");
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"),
        "{out:?}"
    );
    let out = http::raw(c.http, b"\x00\xff\x13\r\n\r\n").expect("raw");
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 4"),
        "{out:?}"
    );
    assert_eq!(get(c.http, "/api/v1/status").status, 200);
    assert_eq!(c.a.json(&["status"])["id"], c.a.id.as_str());
}
