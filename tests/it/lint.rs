//! `jitp lint`: a trigger and a near-miss fixture per finding, snapshots
//! of every output format, SARIF schema validation, and the command line.

use jitp::diagnostic::Diagnostic;
use jitp::lint::run::{run, Options, RunError};
use jitp::lint::{output, registry, Finding};
use jitp::span::SourceMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(code: &str, which: &str) -> PathBuf {
    PathBuf::from(format!(
        "tests/fixtures/lint/{}/{which}.jitp",
        code.to_lowercase()
    ))
}

/// Lints `path` (relative to the crate root) with default settings.
fn lint(path: &Path) -> (SourceMap, Vec<Finding>) {
    // Tests run in the crate root, so findings name files relative to it
    // and snapshots do not depend on where the checkout is.
    let full = root().join(path);
    match run(&[path.to_path_buf()], &Options::default()) {
        Ok(r) => (r.sources, r.findings),
        Err(RunError::Input(m)) => panic!("{}: {m}", full.display()),
        Err(RunError::Diagnostics {
            sources,
            diagnostics,
            what,
        }) => panic!(
            "{}: {what}\n{}",
            full.display(),
            jitp::render::terminal(&sources, &diagnostics, false)
        ),
    }
}

fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .map(|f| f.diagnostic.code.as_str())
        .collect()
}

fn human(sources: &SourceMap, findings: &[Finding]) -> String {
    let diags: Vec<Diagnostic> = findings.iter().map(Finding::for_terminal).collect();
    jitp::render::terminal(sources, &diags, false)
}

/// The fixtures of `code` whose name starts with `which` (`trigger`,
/// `trigger_wildcard`, ... or `near_miss`, `near_miss_wildcard`, ...), in
/// name order; each trigger has a near miss of the same suffix.
fn fixtures(code: &str, which: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(format!("tests/fixtures/lint/{}", code.to_lowercase()));
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(&dir))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_suffix(".jitp")
                .and_then(|n| n.strip_prefix(which))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
        })
        .map(|n| dir.join(n))
        .collect();
    out.sort();
    out
}

/// The suffix of a fixture's name after `trigger`/`near_miss`: `""` or
/// `_wildcard`.
fn suffix(path: &Path, which: &str) -> String {
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    name.strip_prefix(which).unwrap_or_default().to_string()
}

#[test]
fn every_finding_has_a_trigger_and_a_near_miss() {
    for l in registry() {
        let code = l.info().code.as_str();
        let triggers = fixtures(code, "trigger");
        let misses = fixtures(code, "near_miss");
        assert!(!triggers.is_empty(), "{code}: no trigger fixture");
        let t: Vec<String> = triggers.iter().map(|p| suffix(p, "trigger")).collect();
        let m: Vec<String> = misses.iter().map(|p| suffix(p, "near_miss")).collect();
        assert_eq!(
            t, m,
            "{code}: every trigger has a near miss of the same name"
        );
        for path in &triggers {
            let (sources, found) = lint(path);
            assert!(
                codes(&found).contains(&code),
                "{}: the trigger fixture does not produce {code}; got {:?}\n{}",
                path.display(),
                codes(&found),
                human(&sources, &found)
            );
        }
        // A near miss is clean: not this finding, nor any other.
        for path in &misses {
            let (sources, missed) = lint(path);
            assert!(
                missed.is_empty(),
                "{}: the near-miss fixture produces findings\n{}",
                path.display(),
                human(&sources, &missed)
            );
        }
    }
}

#[test]
fn every_finding_is_documented_in_fixed_sections() {
    for l in registry() {
        let i = l.info();
        let head = format!("# {} {} ({}", i.code.as_str(), i.name, i.level.as_str());
        assert!(
            i.doc.starts_with(&head),
            "{}: doc starts {:?}",
            i.code.as_str(),
            &i.doc[..40]
        );
        let mut at = 0;
        for section in [
            "## What it catches",
            "## Why it matters",
            "## Example",
            "## How to fix",
        ] {
            let pos = i.doc[at..]
                .find(section)
                .unwrap_or_else(|| panic!("{}: no `{section}` (in order)", i.code.as_str()));
            at += pos + section.len();
        }
        assert!(
            i.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{}",
            i.name
        );
        assert_eq!(
            i.code.title(),
            i.name,
            "the code registry and the lint registry disagree"
        );
    }
}

/// The command that regenerates the findings section of docs/lint.md.
const UPDATE_DOCS: &str = "JITP_UPDATE_DOCS=1 cargo test --test it docs_lint_md";

/// The findings section of docs/lint.md as the registry has it: the table
/// of findings, then each finding's documentation exactly as `--explain`
/// prints it, headings one level down.
fn findings_section() -> String {
    let mut out = String::from(
        "## Findings\n\n| code | name | default | what it catches |\n|---|---|---|---|\n",
    );
    for l in registry() {
        let i = l.info();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            i.code.as_str(),
            i.name,
            i.level.as_str(),
            i.summary
        ));
    }
    for l in registry() {
        out.push('\n');
        for line in l.info().doc.lines() {
            match line.strip_prefix('#') {
                Some(rest) if rest.starts_with(' ') || rest.starts_with('#') => {
                    out.push_str(&format!("##{line}\n"))
                }
                _ => out.push_str(&format!("{line}\n")),
            }
        }
    }
    out
}

/// docs/lint.md is hand-written down to its `## Findings` heading and
/// generated from the registry from there on. With `JITP_UPDATE_DOCS=1`
/// this test rewrites the generated part instead of comparing it.
#[test]
fn docs_lint_md_is_generated_from_the_registry() {
    let path = root().join("docs/lint.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    assert!(
        docs.starts_with("<!--") && docs.contains(UPDATE_DOCS),
        "docs/lint.md should open with the generated-file note naming `{UPDATE_DOCS}`"
    );
    let at = docs
        .find("\n## Findings\n")
        .expect("docs/lint.md has a `## Findings` section")
        + 1;
    let (written, generated) = docs.split_at(at);
    let expected = findings_section();
    if std::env::var_os("JITP_UPDATE_DOCS").is_some() {
        if generated != expected {
            std::fs::write(&path, format!("{written}{expected}")).unwrap();
        }
        return;
    }
    assert!(
        generated == expected,
        "the findings section of docs/lint.md is not what the finding registry generates; \
         regenerate it with `{UPDATE_DOCS}`"
    );
}

#[test]
fn human_snapshot_per_finding() {
    for l in registry() {
        let code = l.info().code.as_str();
        for path in fixtures(code, "trigger") {
            let source = std::fs::read_to_string(root().join(&path)).unwrap();
            let (sources, found) = lint(&path);
            insta::assert_snapshot!(
                format!("lint_{}{}", code.to_lowercase(), suffix(&path, "trigger")),
                format!("{source}\n---\n{}", human(&sources, &found))
            );
        }
    }
}

#[test]
fn every_format_for_a_representative_subset() {
    for code in ["JIT008", "JIT012", "JIT016"] {
        let (sources, found) = lint(&fixture(code, "trigger"));
        let lower = code.to_lowercase();
        let json = output::json(&sources, &found);
        insta::assert_json_snapshot!(format!("lint_{lower}_json"), json);
        let sarif = output::sarif(&sources, &found, Some(&root()));
        // The rule table is the same in every log; keep the snapshot to
        // the results.
        insta::assert_json_snapshot!(
            format!("lint_{lower}_sarif_results"),
            sarif["runs"][0]["results"]
        );
        insta::assert_snapshot!(
            format!("lint_{lower}_github"),
            output::github(&sources, &found, Some(&root()))
        );
    }
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // The published schema's `language` patterns (of `run` and
    // `toolComponent`) have a stray `]`, which the validator's meta-schema
    // check rejects as a regular expression. jitp never writes `language`;
    // give those patterns their intended form in memory so the rest of the
    // schema is enforced as published.
    fn fix(v: &mut serde_json::Value, fixed: &mut usize) {
        match v {
            serde_json::Value::String(s) if s == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" => {
                *s = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
                *fixed += 1;
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| fix(x, fixed)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| fix(x, fixed)),
            _ => {}
        }
    }
    let mut fixed = 0;
    fix(&mut schema, &mut fixed);
    assert_eq!(fixed, 2, "the schema file changed; review this workaround");
    let validator = jsonschema::draft7::new(&schema).expect("the SARIF schema compiles");
    let mut results = 0;
    for l in registry() {
        let (sources, found) = lint(&fixture(l.info().code.as_str(), "trigger"));
        let log = output::sarif(&sources, &found, Some(&root()));
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", l.info().code.as_str());
        let run = &log["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(registry().len())
        );
        for r in run["results"].as_array().unwrap() {
            results += 1;
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(
                uri.starts_with("tests/fixtures/lint/"),
                "uri {uri} is not relative to the working directory"
            );
            assert!(
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap()
                    >= 1
            );
            assert!(r["partialFingerprints"]["jitpFinding/v1"].is_string());
        }
    }
    assert!(results >= registry().len(), "too few results to validate");
}

#[test]
fn fingerprints_do_not_move_with_lines() {
    let path = fixture("JIT009", "trigger");
    let text = std::fs::read_to_string(root().join(&path)).unwrap();
    let dir = std::env::temp_dir().join(format!("jitp-lint-fp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let moved = dir.join("moved.jitp");
    std::fs::write(
        &moved,
        format!("// a comment that moves every line\n\n{text}"),
    )
    .unwrap();
    let (_, a) = lint(&path);
    let (_, b) = lint(&moved);
    let fa: Vec<&str> = a.iter().map(|f| f.fingerprint.as_str()).collect();
    let fb: Vec<&str> = b.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(fa, fb);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A task without a ttl and `permits` permits to `*` principals: JIT001 on
/// the task counts the permits, JIT009 is on each permit.
fn open_task(permits: usize) -> String {
    let mut text = String::from(
        "package reworded\nentity S { team: String }\nentity R { env: String }\n\
         context { risk: Int }\naction r.read on R sensitivity low\n\
         forbid * when context.risk >= 80\ntask open {\n",
    );
    for i in 0..permits {
        text.push_str(&format!(
            "  @id(\"p{i}\")\n  permit * to r.read on R when context.risk == {i}\n"
        ));
    }
    text.push_str("}\n");
    text
}

#[test]
fn a_baseline_still_knows_a_finding_whose_message_changed() {
    let dir = scratch("reworded");
    let (old, new) = (dir.join("old"), dir.join("new"));
    for (d, permits) in [(&old, 1), (&new, 2)] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("p.jitp"), open_task(permits)).unwrap();
    }
    let task_finding = |found: &[Finding]| -> Option<String> {
        found
            .iter()
            .find(|f| f.diagnostic.code.as_str() == "JIT001")
            .map(|f| f.diagnostic.message.clone())
    };
    let (_, before) = lint(&old.join("p.jitp"));
    let (_, after) = lint(&new.join("p.jitp"));
    let (was, is) = (
        task_finding(&before).unwrap(),
        task_finding(&after).unwrap(),
    );
    assert!(was.contains("its 1 permit never"), "{was}");
    assert!(is.contains("its 2 permits never"), "{is}");
    let report = match run(
        std::slice::from_ref(&new),
        &Options {
            baseline: Some(vec![old]),
            ..Options::default()
        },
    ) {
        Ok(r) => r,
        Err(_) => panic!("the run failed"),
    };
    // Only the added permit's JIT009 is new; every earlier finding, the
    // reworded JIT001 among them, is recognised as in the baseline.
    let new_findings: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.diagnostic.code.as_str(), f.diagnostic.message.as_str()))
        .collect();
    assert_eq!(
        new_findings,
        vec![("JIT009", "permit `p1` is granted to every principal type")]
    );
    assert_eq!(report.in_baseline, before.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deep_and_wide_conditions_are_answered_without_overflow() {
    let pre = "package deep\nentity S { team: String }\nentity R { env: String }\ncontext { risk: Int  flag: Bool }\naction r.read on R sensitivity low\nforbid * when context.risk >= 80\n";
    let mut nested = "context.flag".to_string();
    for _ in 0..1001 {
        nested = format!("not ({nested})");
    }
    let ors: Vec<String> = (0..1000)
        .map(|i| format!("(context.risk == {i} and context.flag)"))
        .collect();
    let ands: Vec<String> = (0..1000)
        .map(|i| format!("(context.risk == {i} or context.flag)"))
        .collect();
    let dir = scratch("deep");
    for (name, when) in [
        ("nested", nested),
        ("ors", ors.join(" or ")),
        ("ands", ands.join(" and ")),
    ] {
        let text = format!("{pre}task t {{\n  ttl 1h\n  permit S to r.read on R\n    when {when}\n    require task.approvals >= 1 else \"a\"\n}}\n");
        let path = dir.join(format!("{name}.jitp"));
        std::fs::write(&path, text).unwrap();
        let (_, found) = lint(&path);
        // An odd number of `not`s around a boolean field is satisfiable;
        // the wide ones exceed the solver's budget and are unknown.
        assert!(codes(&found).is_empty(), "{name}: {:?}", codes(&found));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn examples_lint_clean() {
    let (sources, found) = lint(Path::new("examples"));
    assert!(found.is_empty(), "{}", human(&sources, &found));
}

// ------------------------------------------------------------------ command line

fn jitp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitp"))
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .args(args)
        .output()
        .expect("the jitp binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitp-lint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cli_exit_codes() {
    assert_eq!(code(&jitp(&["lint", "examples"])), 0);
    // JIT001 is an error by default.
    assert_eq!(
        code(&jitp(&["lint", "tests/fixtures/lint/jit001/trigger.jitp"])),
        1
    );
    // JIT009 is a warning: it fails only from --fail-level warning.
    let warn = "tests/fixtures/lint/jit009/trigger.jitp";
    assert_eq!(code(&jitp(&["lint", warn])), 0);
    assert_eq!(code(&jitp(&["lint", "--fail-level", "warning", warn])), 1);
    // Policies that do not compile, and misuse.
    let dir = scratch("broken");
    std::fs::write(dir.join("p.jitp"), "permit Nobody to x on Y\n").unwrap();
    let out = jitp(&["lint", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fix them before linting"));
    assert_eq!(code(&jitp(&["lint", "no/such/dir"])), 2);
    // No path: the current directory.
    let here = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_jitp"))
            .current_dir(dir)
            .arg("lint")
            .output()
            .unwrap()
    };
    assert_eq!(
        code(&here(&dir)),
        2,
        "the broken policy in the current directory"
    );
    std::fs::write(dir.join("p.jitp"), "entity S {}\n").unwrap();
    assert_eq!(code(&here(&dir)), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_explain_and_rules() {
    let out = jitp(&["lint", "--explain", "JIT003"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# JIT003 identity-only-condition"),
        "{text}"
    );
    assert!(text.contains("## How to fix"));
    assert_eq!(code(&jitp(&["lint", "--explain", "wildcard-action"])), 0);
    let out = jitp(&["lint", "--explain", "JIT999"]);
    assert_eq!(code(&out), 2);
    let out = jitp(&["lint", "--rules"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        registry().len()
    );
}

#[test]
fn cli_config_levels_and_limits() {
    let dir = scratch("config");
    let trigger =
        std::fs::read_to_string(root().join("tests/fixtures/lint/jit009/trigger.jitp")).unwrap();
    std::fs::write(dir.join("p.jitp"), &trigger).unwrap();
    let d = dir.to_str().unwrap();
    std::fs::write(
        dir.join("jitp.toml"),
        "[levels]\nwildcard-principal = \"error\"\nJIT015 = \"off\"\n",
    )
    .unwrap();
    let out = jitp(&["lint", "--format", "json", d]);
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let levels: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["level"].as_str().unwrap()))
        .collect();
    assert_eq!(levels, vec![("JIT009", "error")]);
    // A tighter max_ttl turns the 15m task into a finding.
    std::fs::write(dir.join("jitp.toml"), "max_ttl = \"10m\"\n").unwrap();
    let out = jitp(&["lint", "--format", "json", d]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"JIT002\""));
    assert_eq!(code(&out), 1);
    // A malformed file is a usage error with its location.
    std::fs::write(
        dir.join("jitp.toml"),
        "max_ttl = \"8 hours\"\n[levels]\nJIT404 = \"error\"\n",
    )
    .unwrap();
    let out = jitp(&["lint", d]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0601")
            && err.contains("unknown finding `JIT404`")
            && err.contains("max_ttl"),
        "{err}"
    );
    std::fs::write(dir.join("jitp.toml"), "max_ttl = [\n").unwrap();
    assert_eq!(code(&jitp(&["lint", d])), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_baseline_reports_only_new_findings() {
    let near = "tests/fixtures/lint/jit009/near_miss.jitp";
    let trig = "tests/fixtures/lint/jit009/trigger.jitp";
    // The same policies as baseline: nothing new.
    let out = jitp(&["lint", "--fail-level", "note", "--baseline", trig, trig]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already in the baseline"));
    // From the near miss to the trigger: the wildcard is new.
    let out = jitp(&["lint", "--format", "json", "--baseline", near, trig]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(found.contains(&"JIT009"), "{found:?}");
    // A bundle carries its sources, so it serves as a baseline too.
    let dir = scratch("baseline");
    let (old, new) = (dir.join("old.jitb"), dir.join("new.jitb"));
    assert_eq!(
        code(&jitp(&["build", near, "-o", old.to_str().unwrap()])),
        0
    );
    assert_eq!(
        code(&jitp(&["build", trig, "-o", new.to_str().unwrap()])),
        0
    );
    let out = jitp(&[
        "lint",
        "--fail-level",
        "note",
        "--baseline",
        new.to_str().unwrap(),
        trig,
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let out = jitp(&[
        "lint",
        "--format",
        "json",
        "--baseline",
        old.to_str().unwrap(),
        trig,
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "JIT009"));
    // A corrupt or missing baseline bundle is a usage error.
    std::fs::write(&old, b"not a bundle").unwrap();
    let out = jitp(&["lint", "--baseline", old.to_str().unwrap(), trig]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad magic"));
    assert_eq!(
        code(&jitp(&["lint", "--baseline", "no/such.jitb", trig])),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_formats() {
    let trig = "tests/fixtures/lint/jit008/trigger.jitp";
    let out = jitp(&["lint", "--format", "sarif", trig]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let out = jitp(&["lint", "--format", "github", trig]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("::error file=tests/fixtures/lint/jit008/trigger.jitp,line=")),
        "{text}"
    );
    let out = jitp(&["lint", trig]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[JIT008]"));
}

#[test]
fn config_errors_are_located() {
    let text = "max_ttl = \"8 hours\"\nmax_breakglass_ttl = 60\nmaxttl = \"1h\"\n\n[levels]\nJIT404 = \"error\"\nwildcard-action = \"loud\"\n";
    let mut sources = SourceMap::new();
    let file = sources.add("jitp.toml", text);
    let errors = jitp::lint::Config::parse(file, text).unwrap_err();
    insta::assert_snapshot!(
        "lint_config_errors",
        format!(
            "{text}\n---\n{}",
            jitp::render::terminal(&sources, &errors, false)
        )
    );
    let ok = jitp::lint::Config::parse(file, "max_ttl = \"2h\"\n[levels]\nJIT008 = \"error\"\n")
        .unwrap();
    assert_eq!(
        ok.max_ttl,
        jitp_runtime::value::Duration(2 * 3600 * 1_000_000)
    );
    assert_eq!(
        ok.level(jitp::diagnostic::Code::JIT008),
        jitp::lint::Level::Error
    );
    assert_eq!(
        ok.level(jitp::diagnostic::Code::JIT009),
        jitp::lint::Level::Warning
    );
}
