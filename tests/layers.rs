//! The layering rules, checked on the source tree: the sans-IO core (model,
//! wire, protocol, sim) never touches tokio, sockets, files, the OS clock or
//! OS entropy, and every layer imports only the layers below it:
//! model → wire → protocol → node → control → cli.

use std::fs;
use std::path::{Path, PathBuf};

/// Layers from the bottom up; a layer may import only those before it.
const LAYERS: [&str; 6] = ["model", "wire", "protocol", "node", "control", "cli"];

/// Folders that must stay pure.
const CORE: [&str; 4] = ["model", "wire", "protocol", "sim"];

/// What the core must not mention.
const FORBIDDEN_IN_CORE: [&str; 8] = [
    "tokio",
    "std::net",
    "std::fs",
    "std::thread",
    "Instant::now",
    "SystemTime",
    "rand::rng",
    "getrandom",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Source lines that are code (not `//` comments).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_core_does_no_io() {
    let mut problems = Vec::new();
    for layer in CORE {
        for file in rust_files(&src().join(layer)) {
            for (n, line) in code_lines(&file) {
                for bad in FORBIDDEN_IN_CORE {
                    if line.contains(bad) {
                        problems.push(format!(
                            "{}:{n}: `{bad}` in the sans-IO core",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn imports_only_go_down() {
    let mut problems = Vec::new();
    assert!(src().join("model").is_dir(), "the model layer exists");
    for (rank, layer) in LAYERS.iter().enumerate() {
        for file in rust_files(&src().join(layer)) {
            for (n, line) in code_lines(&file) {
                for above in &LAYERS[rank + 1..] {
                    if line.contains(&format!("crate::{above}")) {
                        problems.push(format!(
                            "{}:{n}: the {layer} layer imports the {above} layer above it",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_says_what_it_is() {
    let mut missing = Vec::new();
    for file in rust_files(&src()) {
        let text = fs::read_to_string(&file).unwrap_or_default();
        if !text.trim_start().starts_with("//!") {
            missing.push(file.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a `//!` header:\n{}",
        missing.join("\n")
    );
}
