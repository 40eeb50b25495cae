//! The size rules ARCHITECTURE.md promises, enforced by the build as
//! rust-analyzer's tidy test does: no source file over 900 lines (its
//! tests aside) and no function over 100 lines, anywhere in the workspace.
//! A file or a function that grows past them is a sign to split it; this
//! test names each one and where.

use std::path::{Path, PathBuf};

/// Lines a source file may have, its test module aside.
const FILE_LINES: usize = 900;
/// Lines a function may have, from `fn` to its closing brace.
const FUNCTION_LINES: usize = 100;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_owned()
}

/// Every `.rs` file under `dir`, build output and fuzz corpora aside.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(
                name.as_ref(),
                "target" | "corpus" | "artifacts" | "node_modules"
            ) && !name.starts_with('.')
            {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// A file that is all test code: integration tests, benches and
/// `tests.rs` modules.
fn is_test_file(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    s.starts_with("tests/tests/")
        || s.starts_with("tests/benches/")
        || rel.file_name().is_some_and(|n| n == "tests.rs")
        || rel.components().any(|c| c.as_os_str() == "tests") && !s.starts_with("tests/src/")
}

/// The lines of a file before its `#[cfg(test)] mod tests`, if any.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].starts_with("mod tests"))
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// `Some(indent)` when `line` starts a function definition.
fn fn_start(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let mut rest = trimmed;
    loop {
        let before = rest;
        for word in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(word).unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    rest.strip_prefix("fn ").map(|_| indent)
}

/// Each function over the limit in `lines`: (first line number, length).
fn long_functions(lines: &[&str]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(indent) = fn_start(line) else {
            continue;
        };
        let close = format!("{}}}", " ".repeat(indent));
        // A declaration without a body (traits, externs) ends in `;`
        // before any line opens a body; a one-line body closes on its line.
        let mut opened = false;
        let end = lines[i..].iter().position(|l| {
            let l = l.trim_end();
            if !opened && l.ends_with(';') {
                return true;
            }
            let first = !opened;
            opened = opened || l.contains('{');
            l == close || first && opened && l.ends_with('}')
        });
        let Some(end) = end else {
            continue;
        };
        let body = &lines[i..=i + end];
        let is_declaration = body.last().is_some_and(|l| l.trim_end().ends_with(';'));
        if !is_declaration && body.len() > FUNCTION_LINES {
            found.push((i + 1, body.len()));
        }
    }
    found
}

#[test]
fn no_source_file_or_function_is_too_long() {
    let root = workspace();
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 100,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    let mut problems = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path);
        if is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let lines = code_lines(&text);
        if lines.len() > FILE_LINES {
            problems.push(format!(
                "{}: {} lines of code (at most {FILE_LINES}): split it by job",
                rel.display(),
                lines.len()
            ));
        }
        for (at, len) in long_functions(&lines) {
            problems.push(format!(
                "{}:{at}: a function of {len} lines (at most {FUNCTION_LINES}): split it",
                rel.display()
            ));
        }
    }
    assert!(problems.is_empty(), "too long:\n{}", problems.join("\n"));
}

#[test]
fn the_size_rules_see_a_long_function_and_a_short_one() {
    let long = format!("pub fn f() {{\n{}}}\n", "    x();\n".repeat(FUNCTION_LINES));
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(long_functions(&lines), vec![(1, FUNCTION_LINES + 2)]);
    let short =
        "    async fn g(\n        a: u8,\n    ) -> u8 {\n        a\n    }\n    fn h(&self);\n";
    let lines: Vec<&str> = short.lines().collect();
    assert!(long_functions(&lines).is_empty());
    let with_tests = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\n";
    assert_eq!(code_lines(with_tests).len(), 1);
}
