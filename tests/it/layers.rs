//! The layers, checked mechanically.
//!
//! Between crates the build enforces them: `jitp-runtime` cannot name the
//! compiler. Inside the compiler crate each top-level module is a stage
//! with a rank, and a module may only use modules of a lower rank (the
//! runtime crate is below them all), so a cycle between stages
//! fails this test rather than creeping in.

use crate::support::root;
use std::collections::BTreeSet;
use std::path::Path;

/// The compiler's stages, lowest first; modules of one row are peers and
/// may not use each other.
const LAYERS: &[&[&str]] = &[
    &["span"],
    &["diagnostic"],
    &["render", "syntax"],
    &["stdlib", "explain_render"],
    &["check"],
    &["reference", "lower"],
    &["driver"],
    &["lint", "fmt", "testing"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The top-level modules `text` names through `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.insert(name.to_string());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn compiler_stages_only_use_lower_stages() {
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        // The binary (main.rs, cli/) and the crate root sit above every stage.
        if matches!(module.as_str(), "main" | "cli" | "lib") {
            continue;
        }
        let Some(own) = rank(&module) else {
            violations.push(format!("`{module}` has no layer: add it to LAYERS"));
            continue;
        };
        seen.insert(module.clone());
        for used in uses(&std::fs::read_to_string(&file).unwrap()) {
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                _ => violations.push(format!(
                    "{} (stage `{module}`) uses `crate::{used}`",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
    let declared: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|r| r.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(
        seen, declared,
        "LAYERS names exactly the compiler's modules"
    );
}

/// The crates of `package`'s normal dependency tree.
fn tree(package: &str) -> (BTreeSet<String>, String) {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let crates = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (crates, text)
}

/// The compiler's and the command's own dependencies.
const COMPILER: [&str; 8] = [
    "jitp",
    "clap",
    "ariadne",
    "petgraph",
    "toml",
    "logos",
    "lalrpop-util",
    "strsim",
];

/// The runtime depends only on what deciding needs: none of the
/// compiler's, the command's or the server's dependencies are in its tree.
#[test]
fn the_runtime_depends_only_on_what_deciding_needs() {
    let (crates, text) = tree("jitp-runtime");
    for forbidden in COMPILER.iter().chain(&["tokio", "hyper", "rustls"]) {
        assert!(
            !crates.contains(*forbidden),
            "`{forbidden}` is in the runtime's tree:\n{text}"
        );
    }
    for needed in ["jitp-runtime", "serde", "serde_json", "time"] {
        assert!(crates.contains(needed), "`{needed}` missing from:\n{text}");
    }
}

/// The server builds on the runtime, never on the compiler.
#[test]
fn the_server_does_not_depend_on_the_compiler() {
    let (crates, text) = tree("jitp-server");
    // `toml` reads jitp-identity's issuers file; it is no compiler code.
    for forbidden in COMPILER.iter().filter(|c| **c != "toml") {
        assert!(
            !crates.contains(*forbidden),
            "`{forbidden}` is in the server's tree:\n{text}"
        );
    }
    assert!(crates.contains("jitp-runtime"), "{text}");
}

/// Workload identity verification is a library a service embeds beside
/// the runtime: no compiler, no server stack.
#[test]
fn identity_depends_on_neither_the_compiler_nor_the_server() {
    let (crates, text) = tree("jitp-identity");
    let forbidden = COMPILER.iter().filter(|c| **c != "toml");
    for forbidden in forbidden.chain(&["jitp-server", "tokio", "hyper", "rustls"]) {
        assert!(
            !crates.contains(*forbidden),
            "`{forbidden}` is in jitp-identity's tree:\n{text}"
        );
    }
    assert!(crates.contains("jsonwebtoken"), "{text}");
}
