//! The compiled bundles the runtime crate's hostile-bundle tests load
//! (`crates/jitp-runtime/tests/data/*.jitb`) are what this compiler
//! produces: every example policy and the generated policy below.
//!
//! When the compiler or the format changes, regenerate them with
//! `JITP_UPDATE_FIXTURES=1 cargo test --test it bundle_fixtures` and commit
//! the result.

use crate::support::{examples_dir, root};
use std::path::PathBuf;

/// A larger bundle: every example policy's rules in one policy set is not
/// possible (their schemas clash), so a generated policy with many rules,
/// functions, sets and patterns.
fn generated_policy() -> String {
    let mut s = String::from(
        r#"package gen.big
use std.time
use std.net

entity Svc { team: String  roles: Set<String>  level: Int }
entity Doc { path: String  tags: Set<String>  owner: String }
enum Stage { dev, test, prod }
record Change { id: String  stage: Stage  window: time.Window }
context { change: Change?  ip: Ip  risk: Int  note: String? }
action doc.read on Doc sensitivity low
action doc.write on Doc sensitivity high
action doc.admin on Doc sensitivity critical

const TEAMS = ["a", "b", "c"]
fn ok_team(t: String) -> Bool = t in TEAMS or t like "team-*"
fn fresh(t: Time, w: time.Window?) -> Bool = t in w
"#,
    );
    for t in 0..6 {
        s.push_str(&format!(
            "task t{t} {{\n  ttl {}m\n  notify \"ch{t}\"\n",
            10 + t
        ));
        for r in 0..6 {
            s.push_str(&format!(
                "  @id(\"t{t}-r{r}\")\n  permit Svc to doc.read, doc.write on Doc\n    when ok_team(principal.team) and principal.level >= {r}\n     and (context.change?.stage ?? Stage.dev) != Stage.prod\n     and fresh(now, context.change?.window)\n    unless resource.tags.contains_any([\"hold\", \"x{r}\"])\n    require context.risk < {}  else \"low risk {r}\"\n    require principal.roles.contains(\"role{r}\") else \"role {r}\"\n",
                50 + r
            ));
        }
        s.push_str(&format!(
            "  forbid doc.admin when resource.path.starts_with(\"/t{t}\")\n}}\n"
        ));
    }
    s.push_str("breakglass bg {\n  ttl 1h\n  permit Svc to doc.* on Doc when has context.note require context.risk < 10 else \"calm\"\n}\n");
    s.push_str("forbid * when context.risk >= 90\nforbid doc.* when not (context.ip in 10.0.0.0/8) or not net.is_private(context.ip)\n");
    s
}

/// (fixture name, file name the policy is compiled as, policy text).
fn policies() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("policy.jitp").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(dir.join("policy.jitp")).expect("policy readable");
        out.push((name.clone(), format!("{name}/policy.jitp"), text));
    }
    out.push(("generated".into(), "gen.jitp".into(), generated_policy()));
    out
}

fn compile(file: &str, text: &str) -> Vec<u8> {
    jitp::driver::compile_text(file, text)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .to_bytes()
}

#[test]
fn runtime_fixtures_are_up_to_date() {
    let data = root().join("crates/jitp-runtime/tests/data");
    let update = std::env::var_os("JITP_UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    let mut names = Vec::new();
    for (name, file, text) in policies() {
        let bytes = compile(&file, &text);
        // Fixtures are only meaningful if compiling is deterministic.
        assert_eq!(
            bytes,
            compile(&file, &text),
            "{name}: compiling twice gave different bundle bytes"
        );
        let path = data.join(format!("{name}.jitb"));
        names.push(format!("{name}.jitb"));
        if update {
            std::fs::create_dir_all(&data).expect("create tests/data");
            std::fs::write(&path, &bytes).expect("write fixture");
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    // No fixture without a policy behind it.
    for entry in std::fs::read_dir(&data).expect("tests/data readable") {
        let file = entry.expect("entry").file_name();
        let file = file.to_string_lossy();
        if file.ends_with(".jitb") && !names.iter().any(|n| *n == file) {
            stale.push(format!("{file} (no policy compiles to it)"));
        }
    }
    assert!(
        stale.is_empty(),
        "runtime fixtures differ from what this compiler produces:\n  {}\nrerun with JITP_UPDATE_FIXTURES=1 and commit the result",
        stale.join("\n  ")
    );
}
