//! The protocol's shape, checked on the source tree (issue 17): every file
//! under src/protocol/ (auto_claim and chatter included) stays under 800
//! production lines and every function there under 60 lines, `Chatter`
//! keeps few fields, and no parameter is silenced with `let _ = x;`.
//!
//! Production lines: code outside `#[cfg(test)]` modules (inline ones and
//! files declared `#[cfg(test)] mod x;`), blank and comment-only lines
//! excluded. A function's length runs from `fn` to its closing brace with
//! comments stripped.
//!
//! Every function is under the limit now (`LONG_TODAY` is empty and must
//! stay so), and `Chatter` holds at most 16 fields, each a named sub-state.

use std::fs;
use std::path::{Path, PathBuf};

/// Most production lines in one file.
const MAX_FILE_LINES: usize = 800;
/// Most lines in one function.
const MAX_FN_LINES: usize = 60;
/// Most fields in `Chatter` (issue 17): each a named sub-state.
const CHATTER_FIELDS_MAX: usize = 16;

/// Functions over [`MAX_FN_LINES`] today, `(file under src/protocol, fn,
/// lines)`: each may only shrink, and leaves the list once short.
const LONG_TODAY: &[(&str, &str, usize)] = &[];

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
    out.sort();
    out
}

/// `src` with comments removed and string and char literals emptied (line
/// breaks kept, so line counts stay true).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            // Raw strings are not used in src/protocol; plain ones are
            // emptied (escapes skipped).
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                } else if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(&b[i..]).is_some() {
            i += char_literal_len(&b[i..]).unwrap_or(1);
            out.push_str("' '");
        } else {
            // Copy one whole UTF-8 character.
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of a char literal at the start of `b` (not a lifetime).
fn char_literal_len(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'\\') {
        let end = b.iter().skip(3).position(|&c| c == b'\'')?;
        return Some(end + 4);
    }
    // 'x' or a multi-byte char.
    let end = b.iter().skip(1).take(5).position(|&c| c == b'\'')?;
    (end >= 1).then_some(end + 2)
}

/// The index of the brace closing the one at `open`.
fn closing(s: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in s.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Stripped source without its inline `#[cfg(test)] mod x { .. }` blocks,
/// and the names of the test modules it declares as files.
fn production(stripped: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut rest = stripped;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let Some(decl) = trimmed.strip_prefix("mod ") else {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        };
        let name: String = decl
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let decl_start = rest.len() - trimmed.len();
        let tail = &rest[decl_start..];
        let semi = tail.find(';').unwrap_or(tail.len());
        let brace = tail.find('{').unwrap_or(tail.len());
        out.push_str(&rest[..at]);
        if semi < brace {
            test_files.push(name);
            rest = &tail[semi + 1..];
        } else {
            let end = closing(tail.as_bytes(), brace);
            // Keep the line breaks out of the count: the block is gone.
            rest = tail.get(end + 1..).unwrap_or("");
        }
    }
    out.push_str(rest);
    (out, test_files)
}

struct FileShape {
    path: String,
    lines: usize,
    fns: Vec<(String, usize)>,
    text: String,
}

/// Every production file under src/protocol, relative path first.
fn shapes() -> Vec<FileShape> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
    let files = rust_files(&root);
    let mut test_only: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for f in &files {
        let src = fs::read_to_string(f).expect("read a source file");
        let (prod, tests) = production(&strip(&src));
        let dir = if f.file_name().is_some_and(|n| n == "mod.rs") {
            f.parent().map(Path::to_path_buf)
        } else {
            Some(f.with_extension(""))
        };
        for t in tests {
            if let Some(d) = &dir {
                test_only.push(d.join(format!("{t}.rs")));
                test_only.push(d.join(&t));
            }
        }
        let rel = f
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        out.push((f.clone(), rel, prod));
    }
    out.into_iter()
        .filter(|(f, _, _)| !test_only.iter().any(|t| f.starts_with(t)))
        .map(|(_, rel, prod)| FileShape {
            lines: prod.lines().filter(|l| !l.trim().is_empty()).count(),
            fns: functions(&prod),
            path: rel,
            text: prod,
        })
        .collect()
}

/// Every function with a body and its length in lines.
fn functions(prod: &str) -> Vec<(String, usize)> {
    let b = prod.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = prod[i..].find("fn ") {
        let start = i + at;
        i = start + 3;
        let word_start =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        if !word_start {
            continue;
        }
        let name: String = prod[start + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let tail = &prod[start..];
        let (Some(brace), semi) = (tail.find('{'), tail.find(';')) else {
            continue;
        };
        if semi.is_some_and(|s| s < brace) {
            continue;
        }
        let end = start + closing(tail.as_bytes(), brace);
        let lines = prod[start..end].matches('\n').count() + 1;
        out.push((name, lines));
    }
    out
}

#[test]
fn no_protocol_file_is_over_800_production_lines() {
    let over: Vec<String> = shapes()
        .iter()
        .filter(|f| f.lines > MAX_FILE_LINES)
        .map(|f| format!("{}: {} lines", f.path, f.lines))
        .collect();
    assert!(
        over.is_empty(),
        "over {MAX_FILE_LINES} production lines (cut by concept):\n{}",
        over.join("\n")
    );
}

#[test]
fn no_protocol_function_is_over_60_lines_beyond_todays_list() {
    let mut problems = Vec::new();
    let mut listed_seen = Vec::new();
    for f in shapes() {
        for (name, lines) in &f.fns {
            let listed = LONG_TODAY
                .iter()
                .find(|(p, n, _)| *p == f.path && n == name);
            match listed {
                Some((_, _, today)) => {
                    listed_seen.push((f.path.clone(), name.clone()));
                    if lines > today {
                        problems.push(format!(
                            "{}: fn {name} grew to {lines} lines (was {today}; the limit is {MAX_FN_LINES})",
                            f.path
                        ));
                    } else if *lines <= MAX_FN_LINES {
                        problems.push(format!(
                            "{}: fn {name} is {lines} lines now: take it off LONG_TODAY",
                            f.path
                        ));
                    }
                }
                None if *lines > MAX_FN_LINES => problems.push(format!(
                    "{}: fn {name} is {lines} lines (at most {MAX_FN_LINES})",
                    f.path
                )),
                None => {}
            }
        }
    }
    for (p, n, _) in LONG_TODAY {
        if !listed_seen.iter().any(|(sp, sn)| sp == p && sn == n) {
            problems.push(format!("{p}: fn {n} is gone: take it off LONG_TODAY"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn chatter_keeps_few_fields() {
    let shapes = shapes();
    let text = shapes
        .iter()
        .find(|f| f.path == "chatter/mod.rs")
        .map(|f| f.text.clone())
        .expect("src/protocol/chatter/mod.rs");
    let at = text
        .find("pub struct Chatter {")
        .expect("struct Chatter in chatter/mod.rs");
    let open = at + text[at..].find('{').unwrap_or(0);
    let end = closing(text.as_bytes(), open);
    let body = &text[open + 1..end];
    // One field per line at the struct's own depth: `name: Type,`.
    let fields = body
        .lines()
        .map(str::trim)
        .filter(|l| {
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.split_once(':').is_some_and(|(n, _)| {
                !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .count();
    assert!(fields > 0, "no fields found: the measurer is broken");
    assert!(
        fields <= CHATTER_FIELDS_MAX,
        "Chatter has {fields} fields (at most {CHATTER_FIELDS_MAX}): group them into named sub-states"
    );
}

#[test]
fn no_parameter_is_silenced_with_let_underscore() {
    let mut found = Vec::new();
    for f in shapes() {
        for (n, line) in f.text.lines().enumerate() {
            let l = line.trim();
            let Some(rest) = l.strip_prefix("let _ = ") else {
                continue;
            };
            let name = rest.trim_end_matches(';').trim();
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                found.push(format!("{}:{}: {l}", f.path, n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "name an unused parameter `_x` instead of `let _ = x;`:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_measurer_sees_test_modules_and_long_functions() {
    let src = "fn a() {\n    // c\n    let s = \"}\";\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
    let (prod, files) = production(&strip(src));
    assert!(files.is_empty());
    assert_eq!(prod.lines().filter(|l| !l.trim().is_empty()).count(), 3);
    assert_eq!(functions(&prod), vec![("a".to_string(), 4)]);
    let (_, files) = production(&strip("#[cfg(test)]\nmod tests;\nfn b() {}\n"));
    assert_eq!(files, vec!["tests".to_string()]);
    let shapes = shapes();
    assert!(shapes.iter().any(|f| f.path == "chatter/mod.rs"));
    assert!(shapes.iter().any(|f| f.path.starts_with("auto_claim/")));
    assert!(!shapes.iter().any(|f| f.path == "chatter/tests.rs"));
}
