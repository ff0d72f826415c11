//! Embeds the runtime's bundle fixtures and each one's example requests,
//! so the fuzz binaries are self-contained and the fixture list follows
//! `crates/jitp-runtime/tests/data/` without edits here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn sorted(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .parent()
        .expect("fuzz/ is inside the repository")
        .to_path_buf();
    let data = root.join("crates/jitp-runtime/tests/data");
    let examples = root.join("examples");
    let extra = manifest.join("requests");
    println!("cargo:rerun-if-changed={}", data.display());
    println!("cargo:rerun-if-changed={}", examples.display());
    println!("cargo:rerun-if-changed={}", extra.display());
    let mut out =
        String::from("/// The fixtures, sorted by name.\npub static FIXTURES: &[Fixture] = &[\n");
    for bundle in sorted(&data, "jitb") {
        let name = bundle
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let _ = writeln!(out, "    Fixture {{\n        name: {name:?},\n        bytes: include_bytes!({:?}),\n        requests: &[", bundle.display().to_string());
        let mut dirs = vec![examples.join(&name).join("requests"), extra.join(&name)];
        dirs.dedup();
        for dir in dirs {
            println!("cargo:rerun-if-changed={}", dir.display());
            for req in sorted(&dir, "json") {
                let file = req
                    .file_name()
                    .and_then(|s| s.to_str())
                    .expect("utf-8 name")
                    .to_string();
                let _ = writeln!(
                    out,
                    "            ({file:?}, include_str!({:?})),",
                    req.display().to_string()
                );
            }
        }
        out.push_str("        ],\n    },\n");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("fixtures.rs");
    std::fs::write(dest, out).expect("write fixtures.rs");
}
