//! Every `sim` command the docs show parses with the simulator's own
//! command line (src/bin/sim/cli.rs, included here), so README.md and
//! docs/*.md cannot drift from the binary: in code blocks, the lines that
//! run `cargo run --release --bin sim -- …` or `sim …`; in prose, inline
//! code that starts with `sim ` or is such a `cargo run`. The replay
//! commands the library prints are checked the same way.

#[allow(dead_code)]
#[path = "../src/bin/sim/cli.rs"]
mod cli;

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use clap::error::ErrorKind;
use scalesmall::protocol::auto_claim::Policy;
use scalesmall::sim::{self, Fault, HealRun, SimConfig};

/// What runs the simulator inside a longer command line.
const CARGO: &str = "--bin sim -- ";

/// The arguments of the `sim` command in `text` (one command line or one
/// inline code span), if it is one: up to a comment, a redirection or a
/// pipe.
fn sim_args(text: &str) -> Option<Vec<String>> {
    let t = text.trim().trim_start_matches("$ ");
    let rest = match t.find(CARGO) {
        Some(k) => &t[k + CARGO.len()..],
        None => ["sim ", "./sim ", "target/release/sim "]
            .iter()
            .find_map(|p| t.strip_prefix(p))?,
    };
    let mut args = Vec::new();
    for word in rest.split_whitespace() {
        if ["#", ">", "|", "&&", ";", "2>", ">>", "\\"].contains(&word) {
            break;
        }
        args.push(word.to_owned());
    }
    Some(args)
}

/// Every `sim` command in the markdown `text`, with its line number.
fn commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (k, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.extend(sim_args(line).map(|a| (k + 1, a)));
            continue;
        }
        // Inline code: every other backtick opens a span.
        for span in line.split('`').skip(1).step_by(2) {
            out.extend(sim_args(span).map(|a| (k + 1, a)));
        }
    }
    out
}

/// README.md and every docs/*.md.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

fn parses(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("sim".to_owned()).chain(args.iter().cloned());
    match cli::Cli::try_parse_from(argv) {
        Ok(_) => Ok(()),
        // `sim --help`, `sim heal --help`, `sim --version`: fine.
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn every_documented_sim_command_parses() {
    let mut seen = 0;
    let mut bad = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).expect("readable");
        for (line, args) in commands(&text) {
            seen += 1;
            if let Err(e) = parses(&args) {
                let first = e.lines().next().unwrap_or_default().to_owned();
                bad.push(format!(
                    "{}:{line}: sim {}\n    {first}",
                    doc.display(),
                    args.join(" ")
                ));
            }
        }
    }
    assert!(
        seen >= 10,
        "only {seen} sim commands found: is the extraction broken?"
    );
    assert!(
        bad.is_empty(),
        "{} of {seen} documented sim commands do not parse (see `sim help`):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_extraction_finds_code_lines_and_inline_code_and_stops_at_comments() {
    let text = "Run `sim liveness --nodes 50` or `sim::replay`.\n\
                ```sh\n\
                cargo run --release --bin sim -- curve --seed 7 > docs/sim-curve.csv\n\
                sim heal all --seeds 5   # a sweep\n\
                echo sim\n\
                ```\n";
    let found: Vec<String> = commands(text)
        .into_iter()
        .map(|(_, a)| a.join(" "))
        .collect();
    assert_eq!(
        found,
        vec![
            "liveness --nodes 50",
            "curve --seed 7",
            "heal all --seeds 5"
        ]
    );
    assert!(parses(&["liveness".into(), "--nodes".into(), "50".into()]).is_ok());
    assert!(parses(&["heal".into(), "--help".into()]).is_ok());
    // A retired form fails, so the test above can fail.
    assert!(parses(&["--liveness".into(), "--liveness-nodes".into(), "50".into()]).is_err());
}

#[test]
fn the_heal_replay_line_parses() {
    let cfg = SimConfig {
        nodes: 24,
        subnets: 3,
        seed: 9,
        ..SimConfig::default()
    };
    for run in [
        HealRun::new(Fault::ALL[0]),
        HealRun {
            auto: false,
            ..HealRun::new(Fault::ALL[1])
        },
        HealRun {
            policy: Policy::new(3, 256).expect("valid"),
            ..HealRun::new(Fault::ALL[2])
        },
    ] {
        let line = sim::replay(&cfg, &run);
        let args = sim_args(&line).expect("a sim command");
        assert_eq!(parses(&args), Ok(()), "{line}");
    }
}
