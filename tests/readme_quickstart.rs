//! README's quick starts (and the first cluster of docs/operations.md),
//! run as written against real `scalesmall` processes, so the front door
//! cannot drift from what the binary does.
//!
//! Every fenced block under a `<!-- quickstart: NAME -->` marker belongs to
//! scenario NAME; a scenario's blocks run in order. In a scenario whose
//! name ends in `(started)` the boards run as services (systemd in
//! operations.md), so a board's node starts when the block first uses it. A line is
//! `[BOARD$ ]COMMAND [&& COMMAND ...] [# comment]`, and a command is
//! `scalesmall ARGS` or `cargo run --release -- ARGS` (the binary under
//! test runs either). `run` starts a node for BOARD (`local` when the line
//! has no prompt); every other `scalesmall` command runs against BOARD's
//! node and must succeed. `lookup GROUP KEY` must name a server: exactly the
//! boards whose claims in the scenario cover the key's hash, in the view of
//! the board that asks (waited for, bounded); `status` must show the board
//! converged with every other board of the quick start alive. Lines that are not
//! `scalesmall` commands (`./test.sh`, `scp`) are not run: the nodes share
//! the test's key instead of a copied one.
//!
//! The nodes run on loopback only (no multicast, no namespace: seeds stand
//! in for multicast, so every board after the first is seeded with the
//! first, as `--peer` does in README); each has its own data dir and
//! control socket in a temporary dir, and is killed by PID when the test
//! ends, also when it fails (`support::procs`). A few seconds.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use support::procs::{Env, Node, bin};

const README: &str = include_str!("../README.md");
const OPERATIONS: &str = include_str!("../docs/operations.md");
const PROPAGATE: Duration = Duration::from_secs(20);

/// One command of a quick start: the board it runs on and its arguments
/// (after `scalesmall`).
#[derive(Debug, Clone)]
struct Step {
    board: String,
    args: Vec<String>,
}

/// The scenarios of README, by name, each a list of lines as written.
fn scenarios(readme: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- quickstart:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let fence = lines
            .by_ref()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_start();
        assert!(
            fence.starts_with("```"),
            "a quickstart marker must sit right above a fenced block, found {fence:?}"
        );
        let block = out.entry(name.trim().to_owned()).or_default();
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            block.push(l.trim().to_owned());
        }
    }
    out
}

/// The `scalesmall` commands of one README line (none for other commands).
fn steps_of(line: &str) -> Vec<Step> {
    let code = line.split(" #").next().unwrap_or_default().trim();
    let (board, rest) = match code.split_once("$ ") {
        Some((b, r)) if !b.contains(' ') => (b.to_owned(), r),
        _ => ("local".to_owned(), code),
    };
    rest.split("&&")
        .filter_map(|cmd| {
            let cmd = cmd.trim();
            let args = cmd
                .strip_prefix("cargo run --release -- ")
                .or_else(|| cmd.strip_prefix("scalesmall "))?;
            Some(Step {
                board: board.clone(),
                args: args.split_whitespace().map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// A number as the CLI takes it: decimal or 0x-hex.
fn number(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .unwrap_or_else(|e| panic!("not a number in README: {s:?}: {e}"))
}

/// An inclusive claim range as README writes it (`full` or START..END).
fn range(s: &str) -> (u64, u64) {
    if s == "full" {
        return (0, u64::from(u32::MAX));
    }
    let (a, b) = s
        .split_once("..")
        .unwrap_or_else(|| panic!("not a range in README: {s:?}"));
    (number(a), number(b))
}

/// `scalesmall key-hash KEY`: the key's place in the key space.
fn key_hash(key: &str) -> u64 {
    let out = Command::new(bin())
        .args(["key-hash", key])
        .output()
        .expect("run key-hash");
    assert!(out.status.success(), "key-hash {key}: {out:?}");
    number(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default(),
    )
}

/// A quick start being run: its nodes by board, and the claims made.
struct Run<'a> {
    env: &'a Env,
    nodes: BTreeMap<String, Node>,
    first_port: Option<u16>,
    /// (group, board, start, end) of every claim made so far.
    claims: Vec<(String, String, u64, u64)>,
    lookups: usize,
    /// Boards run as services: a node starts when its board is first used.
    started: bool,
}

impl Run<'_> {
    /// `run` for `board`: README's network flags give way to the test's
    /// (loopback, its own port and socket, the shared key, the first board
    /// as seed).
    fn start(&mut self, step: &Step) {
        let mut extra: Vec<&str> = Vec::new();
        let mut args = step.args[1..].iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--key-file" | "--peer" => {
                    args.next();
                }
                other => extra.push(other),
            }
        }
        let seeds: Vec<u16> = self.first_port.into_iter().collect();
        let node = Node::start(self.env, &step.board, &seeds, &extra);
        self.first_port.get_or_insert(node.port);
        self.nodes.insert(step.board.clone(), node);
    }

    /// Starts `board`'s node if the scenario's boards run as services.
    fn ensure(&mut self, board: &str) {
        if self.started && !self.nodes.contains_key(board) {
            self.start(&Step {
                board: board.to_owned(),
                args: vec!["run".to_owned()],
            });
        }
    }

    fn node(&self, board: &str) -> &Node {
        self.nodes
            .get(board)
            .unwrap_or_else(|| panic!("README runs a command on {board} before starting its node"))
    }

    /// Any control command: it must succeed as README shows it.
    fn control(&mut self, step: &Step) {
        let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
        let out = self.node(&step.board).ctl(&args);
        assert!(
            out.status.success(),
            "README's `scalesmall {}` on {} failed: {}{}",
            args.join(" "),
            step.board,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if args.first() == Some(&"claim") && args.len() >= 3 && !args[2].starts_with("--") {
            let (a, b) = range(args[2]);
            self.claims
                .push((args[1].to_owned(), step.board.clone(), a, b));
        }
    }

    /// `lookup GROUP KEY`: the servers are the boards whose claims cover
    /// the key, and there is at least one.
    fn lookup(&mut self, step: &Step) {
        let (group, key) = (&step.args[1], &step.args[2]);
        let h = key_hash(key);
        let mut want: Vec<String> = self
            .claims
            .iter()
            .filter(|(g, _, a, b)| g == group && (*a..=*b).contains(&h))
            .map(|(_, board, _, _)| self.node(board).id.clone())
            .collect();
        want.sort();
        assert!(
            !want.is_empty(),
            "README looks up {key} (hash {h:#010x}) in {group}, but no claim of its quick start covers it: the lookup would say \"no server\""
        );
        let asker = self.node(&step.board);
        let mut got = Vec::new();
        let seen = asker.eventually(PROPAGATE, || {
            got = asker.servers(group, key);
            got.sort();
            got == want
        });
        assert!(
            seen,
            "lookup {group} {key} on {}: servers {got:?}, README's claims give {want:?}",
            step.board
        );
        self.control(step);
        self.lookups += 1;
    }

    /// `status`: as README shows it, the board is converged and holds
    /// every other board of the quick start alive.
    fn status(&mut self, step: &Step) {
        let others = self.nodes.len() - 1;
        let n = self.node(&step.board);
        let mut last = serde_json::Value::Null;
        let ok = n.eventually(PROPAGATE, || {
            last = n.json(&["status"]);
            last["converged"] == true && last["peers_alive"] == others
        });
        assert!(
            ok,
            "status on {}: not converged with {others} peers alive: {last}",
            step.board
        );
        self.control(step);
    }

    fn step(&mut self, step: &Step) {
        if step.args.first().map(String::as_str) != Some("run") {
            self.ensure(&step.board);
        }
        match step.args.first().map(String::as_str) {
            Some("run") => self.start(step),
            Some("lookup") => self.lookup(step),
            Some("status") => self.status(step),
            Some(_) => self.control(step),
            None => panic!("an empty scalesmall command in README"),
        }
    }
}

/// Runs one scenario; returns how many lookups it checked.
fn run_scenario(name: &str, lines: &[String]) -> usize {
    let env = Env::loopback();
    let mut run = Run {
        env: &env,
        nodes: BTreeMap::new(),
        first_port: None,
        claims: Vec::new(),
        lookups: 0,
        started: name.ends_with("(started)"),
    };
    for line in lines {
        for step in steps_of(line) {
            run.step(&step);
        }
    }
    assert!(!run.nodes.is_empty(), "quick start {name:?} starts no node");
    run.lookups
}

#[test]
fn readme_quick_starts_run_as_written() {
    let readme = scenarios(README);
    assert!(
        readme.contains_key("one machine") && readme.contains_key("three boards"),
        "README has the quick starts `one machine` and `three boards`: {:?}",
        readme.keys().collect::<Vec<_>>()
    );
    let ops = scenarios(OPERATIONS);
    assert!(
        !ops.is_empty(),
        "docs/operations.md marks its first cluster's commands as a quickstart"
    );
    for (name, lines) in readme.iter().chain(&ops) {
        let lookups = run_scenario(name, lines);
        assert!(lookups > 0, "quick start {name:?} looks nothing up");
    }
}

#[test]
fn the_parser_reads_prompts_chains_and_comments() {
    let s = steps_of("board3$ scalesmall join demo && scalesmall lookup demo user:42   # x");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].board, "board3");
    assert_eq!(s[1].args, ["lookup", "demo", "user:42"]);
    let c = steps_of("cargo run --release -- claim demo full --port 8080   # all");
    assert_eq!(c[0].board, "local");
    assert_eq!(c[0].args, ["claim", "demo", "full", "--port", "8080"]);
    assert!(steps_of("./test.sh   # every suite").is_empty());
    assert!(steps_of("board1$ scp a board2:").is_empty());
    assert_eq!(range("0x80000000..0xffffffff"), (0x8000_0000, 0xffff_ffff));
    assert_eq!(range("full"), (0, 0xffff_ffff));
}
