//! `xtask generate --out DIR`, run as packagers run it (the built binary):
//! the bash, zsh and fish completions and the man pages exist, are more
//! than a stub and name every subcommand of the real CLI; a real bash
//! completes the subcommands, a nested subcommand and a long option with
//! the generated script; groff renders every page without a warning; zsh
//! and fish parse their scripts and fish completes the subcommands, where
//! they are installed (else the test says so and checks the text only).
//! Bad arguments are a usage error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;
use scalesmall::cli::Cli;

/// A fresh directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        // One per test (its tag) and run (the pid); a leftover of an
        // earlier run with the same pid is removed first.
        let p = std::env::temp_dir().join(format!("xtask-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

/// The CLI's visible subcommands: `(name, its visible subcommands)`.
fn subcommands() -> Vec<(String, Vec<String>)> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let inner = c
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_owned())
                .collect();
            (c.get_name().to_owned(), inner)
        })
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// What a real bash offers for `words` (the last one being completed),
/// with the generated script sourced.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        r#"source '{}' || exit 9
COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
_scalesmall scalesmall '{}' '{}'
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash completion: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn generate_writes_completions_and_man_pages_for_every_subcommand() {
    let dir = TempDir::new("generate");
    let out = xtask(&["generate", "--out", &dir.0.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let listed: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    for f in &listed {
        assert!(f.is_file(), "listed but missing: {}", f.display());
    }
    let subs = subcommands();
    assert!(subs.len() >= 10, "{subs:?}");

    let comp = dir.0.join("completions");
    let bash = comp.join("scalesmall.bash");
    let zsh = comp.join("_scalesmall");
    let fish = comp.join("scalesmall.fish");
    for (file, head) in [
        (&bash, "_scalesmall()"),
        (&zsh, "#compdef scalesmall"),
        (&fish, "complete -c scalesmall"),
    ] {
        assert!(listed.contains(file), "{} not listed", file.display());
        let text = read(file);
        assert!(
            text.len() > 4096,
            "{}: {} bytes",
            file.display(),
            text.len()
        );
        assert!(text.contains(head), "{}", file.display());
        for (name, inner) in &subs {
            for n in std::iter::once(name).chain(inner) {
                assert!(text.contains(n.as_str()), "{} lacks {n}", file.display());
            }
        }
    }

    // A real bash completes from the script.
    let offered = bash_complete(&bash, &["scalesmall", ""]);
    for (name, _) in &subs {
        assert!(
            offered.contains(name),
            "bash offers {offered:?}, not {name}"
        );
    }
    for (name, inner) in subs.iter().filter(|(_, inner)| !inner.is_empty()) {
        let offered = bash_complete(&bash, &["scalesmall", name, ""]);
        for n in inner {
            assert!(offered.contains(n), "`{name} ` offers {offered:?}");
        }
    }
    assert_eq!(
        bash_complete(&bash, &["scalesmall", "run", "--log-fo"]),
        ["--log-format"]
    );
    for (shell, file) in [("zsh", &zsh), ("fish", &fish)] {
        if has(shell) {
            let ok = Command::new(shell).arg("-n").arg(file).status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "{shell} -n {}",
                file.display()
            );
        } else {
            println!(
                "{shell} not installed: {} checked as text only",
                file.display()
            );
        }
    }

    if has("fish") {
        let out = Command::new("fish")
            .arg("-c")
            .arg(format!(
                "source '{}'; complete -C'scalesmall '",
                fish.display()
            ))
            .output()
            .expect("run fish");
        let offered = String::from_utf8_lossy(&out.stdout);
        for (name, _) in &subs {
            assert!(
                offered.lines().any(|l| l.split('\t').next() == Some(name)),
                "fish offers {offered}, not {name}"
            );
        }
    }

    // A man page for the command and one per subcommand (nested ones too).
    let man = dir.0.join("man").join("man1");
    let mut pages = vec![("scalesmall".to_owned(), man.join("scalesmall.1"))];
    for (name, inner) in &subs {
        pages.push((
            format!("scalesmall-{name}"),
            man.join(format!("scalesmall-{name}.1")),
        ));
        for n in inner {
            pages.push((
                format!("scalesmall-{name}-{n}"),
                man.join(format!("scalesmall-{name}-{n}.1")),
            ));
        }
    }
    for (title, page) in &pages {
        assert!(listed.contains(page), "{} not listed", page.display());
        let text = read(page);
        assert!(
            text.contains(&format!(".TH {title} 1")),
            "{}",
            page.display()
        );
    }
    let top = read(&man.join("scalesmall.1"));
    assert!(top.len() > 1024, "scalesmall.1: {} bytes", top.len());
    for (name, _) in &subs {
        assert!(
            top.contains(&format!("scalesmall-{name}(1)").replace('-', "\\-")),
            "scalesmall.1 lacks {name}"
        );
    }
    if !has("groff") {
        println!("groff not installed: the man pages were checked as text only");
        return;
    }
    for (title, page) in &pages {
        let out = Command::new("groff")
            // -P-cbou: plain text, no overstrike or escape sequences.
            .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
            .arg(page)
            .output()
            .expect("run groff");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "groff {}: {stderr}",
            page.display()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION"] {
            assert!(text.contains(section), "{title} renders without {section}");
        }
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["generate"],
        &["generate", "--out"],
        &["generate", "--out="],
        &["generate", "--out", "x", "--bogus"],
    ] {
        let out = xtask(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: cargo run -p xtask"),
            "{args:?}"
        );
    }
    let help = xtask(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("generate --out DIR"));
}

#[test]
fn an_unwritable_output_is_an_error_not_a_panic() {
    let dir = TempDir::new("unwritable");
    let file = dir.0.join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let out = xtask(&["generate", "--out", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("xtask: generate into"), "{stderr}");
}
