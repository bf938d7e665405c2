//! Build-time tasks for scalesmall, run as `cargo run -p xtask -- TASK`.
//! A package of its own in the workspace: nothing here is linked into the
//! `scalesmall` binary, so its dependencies (clap_complete, clap_mangen)
//! cost the boards nothing.
//!
//! `generate --out DIR` writes shell completions and man pages made from
//! the CLI's own clap definitions (`scalesmall::cli::Cli`), so they always
//! say what `--help` says:
//!
//! ```text
//! DIR/man/man1/scalesmall.1              the command
//! DIR/man/man1/scalesmall-<sub>.1        one page per subcommand (scalesmall-run.1,
//!                                        scalesmall-config-check.1, ...)
//! DIR/completions/scalesmall.bash        bash: install as .../bash-completion/completions/scalesmall
//! DIR/completions/_scalesmall            zsh:  install in a directory of $fpath
//! DIR/completions/scalesmall.fish        fish: install in .../fish/vendor_completions.d/
//! ```
//!
//! It prints each file written, one per line. `MANPATH=DIR/man man
//! scalesmall` reads the pages before they are installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use scalesmall::cli::Cli;

const USAGE: &str = "usage: cargo run -p xtask -- generate --out DIR

  generate --out DIR   shell completions (bash, zsh, fish) under DIR/completions/
                       and man pages under DIR/man/man1/, from the CLI's clap
                       definitions";

/// The command's name, as installed.
const BIN: &str = "scalesmall";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match parse(&args) {
        Ok(Some(out)) => out,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("xtask: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match generate(&out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: generate into {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// `generate --out DIR` (or `--out=DIR`): the output directory; `None` for
/// `--help`.
fn parse(args: &[String]) -> Result<Option<PathBuf>, String> {
    match args.first().map(String::as_str) {
        None => return Err("no task given".into()),
        Some("-h" | "--help" | "help") => return Ok(None),
        Some("generate") => {}
        Some(other) => return Err(format!("unknown task {other:?}")),
    }
    let mut out = None;
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        let dir = match a.as_str() {
            "--out" => rest.next().ok_or("--out needs a directory")?.clone(),
            _ => match a.strip_prefix("--out=") {
                Some(d) => d.to_owned(),
                None => return Err(format!("unexpected argument {a:?}")),
            },
        };
        if dir.is_empty() {
            return Err("--out needs a directory".into());
        }
        out = Some(PathBuf::from(dir));
    }
    out.map(Some)
        .ok_or_else(|| "generate needs --out DIR".into())
}

/// Writes the completions and the man pages under `out`; the files written.
fn generate(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let completions = out.join("completions");
    let man = out.join("man").join("man1");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        files.push(clap_complete::generate_to(
            shell,
            &mut cmd,
            BIN,
            &completions,
        )?);
    }
    clap_mangen::generate_to(Cli::command(), &man)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    pages.retain(|p| p.extension().is_some_and(|x| x == "1"));
    pages.sort();
    files.extend(pages);
    Ok(files)
}
