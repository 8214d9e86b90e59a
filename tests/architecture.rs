//! The layout rules of `docs/architecture.md`, checked on the source text:
//! which part may import which, no loop between parts, policy without I/O,
//! metrics reading only the model, releases and creations only in the reaper
//! and our-own-objects, the simulator only behind the `demo` feature, no read
//! outside the repository, no source file over 500 lines.
//!
//! A part is a folder of `src/` (`src/reaper/...` is `reaper`) or a file at
//! its top (`src/clock.rs` is `clock`). Test code (`tests.rs`, `*_tests.rs`,
//! `tests/` folders, and the `#[cfg(test)] mod` at the end of a file) is left
//! out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each part and the parts it may import (`docs/architecture.md`).
const ALLOWED: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("problem", &[]),
    ("throttle", &[]),
    ("web", &[]),
    ("kms", &["throttle"]),
    ("model", &["kms"]),
    ("policy", &["model", "kms", "problem"]),
    ("metrics", &["model", "kms"]),
    ("scrape", &["kms", "model", "config", "metrics", "clock"]),
    (
        "reaper",
        &["policy", "model", "kms", "metrics", "clock", "problem"],
    ),
    (
        "own",
        &["kms", "model", "policy", "metrics", "clock", "problem"],
    ),
    (
        "cluster",
        &["reaper", "model", "metrics", "clock", "problem", "throttle"],
    ),
    (
        "http",
        &[
            "model", "metrics", "reaper", "own", "policy", "kms", "config", "clock", "throttle",
            "web", "cluster",
        ],
    ),
    (
        "config",
        &[
            "policy", "reaper", "own", "problem", "metrics", "web", "cluster",
        ],
    ),
    ("demo", &["config", "policy", "reaper"]),
    (
        "daemon",
        &[
            "clock", "problem", "kms", "model", "policy", "metrics", "scrape", "reaper", "own",
            "http", "config", "web", "cluster",
        ],
    ),
    ("lib", &[]),
    ("main", &[]),
];

/// The product's source files (test code left out), as (path, part, text).
fn sources() -> Vec<(PathBuf, String, String)> {
    let mut out = Vec::new();
    let src = Path::new(ROOT).join("src");
    walk(&src, &mut |path| {
        let rel = path.strip_prefix(&src).expect("under src");
        let name = rel.to_string_lossy();
        let is_test = rel.components().any(|c| c.as_os_str() == "tests")
            || name.ends_with("tests.rs")
            || name.ends_with("_tests.rs");
        if is_test {
            return;
        }
        let part = match rel.components().next() {
            Some(c) if rel.components().count() > 1 => c.as_os_str().to_string_lossy().into_owned(),
            _ => rel
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let text = std::fs::read_to_string(path).expect("readable source");
        out.push((path.to_path_buf(), part, without_test_module(&text)));
    });
    assert!(out.len() > 20, "found only {} source files", out.len());
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, f);
        } else if p.extension().is_some_and(|e| e == "rs") {
            f(&p);
        }
    }
}

/// The text before a trailing `#[cfg(test)] mod ...`.
fn without_test_module(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() == "#[cfg(test)]" {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            if next.is_some_and(|n| n.trim_start().starts_with("mod ")) {
                return lines[..i].join("\n");
            }
        }
    }
    text.to_string()
}

/// Code lines only (comments and doc comments dropped).
fn code(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// The parts a file names through `crate::PART`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code(text) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

/// part → parts it imports, with one file that does for each.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (path, part, text) in sources() {
        let entry = g.entry(part.clone()).or_default();
        for dep in imports(&text) {
            if dep != part {
                entry.entry(dep).or_insert_with(|| path.clone());
            }
        }
    }
    g
}

#[test]
fn parts_import_only_what_the_table_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for (part, deps) in graph() {
        let Some(ok) = allowed.get(part.as_str()) else {
            bad.push(format!(
                "part `{part}` is not in docs/architecture.md's table (nor ALLOWED here)"
            ));
            continue;
        };
        for (dep, file) in deps {
            if !ok.contains(&dep.as_str()) {
                bad.push(format!("{part} imports {dep} ({})", file.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports the layout does not allow:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_loop_between_parts() {
    let g = graph();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for dep in g.get(n).into_iter().flat_map(|d| d.keys()) {
            if let Some(c) = visit(dep, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(cycle) = visit(n, &g, &mut Vec::new(), &mut done) {
            panic!("import loop between parts: {}", cycle.join(" -> "));
        }
    }
}

/// Lines of `part`'s files that contain any of `needles`.
fn mentions(part: &str, needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, p, text) in sources() {
        if p != part {
            continue;
        }
        for line in code(&text) {
            if let Some(n) = needles.iter().find(|n| line.contains(*n)) {
                out.push(format!("{}: `{n}` in {}", path.display(), line.trim()));
            }
        }
    }
    out
}

#[test]
fn policy_does_no_io() {
    let found = mentions(
        "policy",
        &[
            "tokio",
            ".await",
            "async fn",
            "Client",
            "std::fs",
            "std::net",
            "std::io",
            "SystemTime",
            "Instant::now",
            "now_millis",
            "crate::config",
        ],
    );
    assert!(
        found.is_empty(),
        "the policy must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn metrics_read_only_the_model() {
    let found = mentions(
        "metrics",
        &[
            ".await",
            "async fn",
            "Client",
            "crate::scrape",
            "crate::reaper",
            "crate::http",
            "crate::own",
            "std::fs",
            "std::net",
        ],
    );
    assert!(
        found.is_empty(),
        "metrics read only the model:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_reaper_and_own_release() {
    let mut found = Vec::new();
    for (path, part, text) in sources() {
        if matches!(part.as_str(), "reaper" | "own" | "kms") {
            continue;
        }
        for line in code(&text) {
            for call in [
                ".release(",
                ".create(",
                "create_pipeline(",
                "create_element(",
            ] {
                if line.contains(call) {
                    found.push(format!("{}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "only the reaper releases others' objects and only `own` creates or releases ours:\n{}",
        found.join("\n")
    );
}

#[test]
fn simulator_only_in_the_demo() {
    let mut found = Vec::new();
    for (path, part, text) in sources() {
        if matches!(part.as_str(), "demo" | "main") {
            continue;
        }
        if code(&text).any(|l| l.contains("kms_sim")) {
            found.push(path.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "kms_sim used outside demo.rs/main.rs: {found:?}"
    );
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).expect("lib.rs");
    assert!(
        lib.contains("#[cfg(feature = \"demo\")]\npub mod demo;"),
        "the demo module must be behind the demo feature"
    );
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).expect("Cargo.toml");
    let dev = manifest
        .split("[dev-dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or("");
    assert!(
        !dev.contains("kms-sim"),
        "kms-sim must not be a dev-dependency"
    );
}

#[test]
fn one_wall_clock() {
    let mut found = Vec::new();
    for (path, part, text) in sources() {
        if part == "clock" {
            continue;
        }
        if code(&text).any(|l| l.contains("SystemTime::now")) {
            found.push(path.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "wall-clock reads outside clock.rs: {found:?}"
    );
}

/// Every file of the repository git would hold (target, node_modules and
/// fuzz output left out).
fn repository_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk_all(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("readable folder") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if matches!(
                name.as_str(),
                ".git" | "target" | "node_modules" | "corpus" | "artifacts" | "fixtures"
            ) {
                continue;
            }
            if p.is_dir() {
                walk_all(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    walk_all(Path::new(ROOT), &mut out);
    out
}

#[test]
fn nothing_reads_outside_the_repository() {
    let needle = ["..", "/shared"].concat();
    let mut found = Vec::new();
    for p in repository_files() {
        if p.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        if text.contains(&needle) {
            found.push(p.display().to_string());
        }
    }
    assert!(found.is_empty(), "files naming {needle}: {found:?}");
}

#[test]
fn no_source_file_over_500_lines() {
    let mut dirs = vec![Path::new(ROOT).join("src")];
    for e in std::fs::read_dir(Path::new(ROOT).join("crates")).expect("crates/") {
        dirs.push(e.expect("entry").path().join("src"));
    }
    let mut long = Vec::new();
    for d in dirs {
        walk(&d, &mut |p| {
            let n = std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
            if n > 500 {
                long.push(format!("{} ({n} lines)", p.display()));
            }
        });
    }
    assert!(long.is_empty(), "split these files: {long:?}");
}
