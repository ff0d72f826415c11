//! End-to-end tests of the `jitp` command, plus a library-level check that
//! every shipped example is clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{code, examples_dir, jitp, run, scratch, stderr, stdout};
use std::path::PathBuf;
use std::process::Output;

/// Every `examples/*/` directory holding a `policy.jitp`.
fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("policy.jitp").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no examples found");
    dirs
}

const BROKEN: &str = r#"package acme.broken

entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.taem == "platform"
}
"#;

// ----------------------------------------------------------- clean inputs

#[test]
fn all_examples_check_clean() {
    let o = run(&["check", "examples"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    let n = example_dirs().len();
    assert!(
        err.contains(&format!(
            "checked {n} policy sets ({n} files): 0 errors, 0 warnings"
        )),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "human output goes to stderr only");
}

#[test]
fn each_example_dir_checks_clean() {
    for dir in example_dirs() {
        let o = jitp().arg("check").arg(&dir).output().expect("runs");
        let err = stderr(&o);
        assert_eq!(code(&o), 0, "{}: {err}", dir.display());
        assert!(err.contains("0 errors"), "{}: {err}", dir.display());
        assert!(
            err.contains("checked 1 policy set (1 file)"),
            "{}: {err}",
            dir.display()
        );
    }
}

#[test]
fn each_example_file_checks_clean() {
    for dir in example_dirs() {
        let file = dir.join("policy.jitp");
        let o = jitp().arg("check").arg(&file).output().expect("runs");
        assert_eq!(code(&o), 0, "{}: {}", file.display(), stderr(&o));
    }
}

/// The library agrees with the command: every example checks without a
/// single diagnostic, warnings included.
#[test]
fn examples_check_clean_through_the_library() {
    for dir in example_dirs() {
        let path = dir.join("policy.jitp");
        let text = std::fs::read_to_string(&path).expect("readable example");
        let (sources, program, diags) =
            jitp::driver::check_text(&path.display().to_string(), &text);
        assert!(
            diags.is_empty(),
            "{} is not clean:\n{}",
            path.display(),
            jitp::render::terminal(&sources, &diags, false)
        );
        let program = program.expect("a clean policy yields a program");
        assert!(!program.rules.is_empty(), "{}: no rules", path.display());
    }
}

// ---------------------------------------------------------- broken inputs

#[test]
fn broken_policy_exits_1_with_report_on_stderr() {
    let dir = scratch("broken");
    std::fs::write(dir.join("policy.jitp"), BROKEN).expect("write");
    let o = jitp().arg("check").arg(&dir).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        stdout(&o).is_empty(),
        "the report goes to stderr: {}",
        stdout(&o)
    );
    assert!(err.contains("E0204"), "{err}");
    assert!(
        err.contains("`ServiceAccount` has no field `taem`"),
        "{err}"
    );
    assert!(err.contains("did you mean `team`?"), "{err}");
    assert!(
        err.contains("policy.jitp:10:20"),
        "file:line:column of the error: {err}"
    );
    assert!(
        err.contains("principal.taem"),
        "the source line is shown: {err}"
    );
    assert!(err.contains("1 error, 0 warnings"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour when stderr is not a terminal: {err:?}"
    );
}

#[test]
fn color_always_colours_the_report() {
    let dir = scratch("color");
    std::fs::write(dir.join("policy.jitp"), BROKEN).expect("write");
    let o = jitp()
        .args(["--color", "always", "check"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains('\u{1b}'), "expected ANSI colour codes");
    let o = jitp()
        .args(["--color", "never", "check"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(!stderr(&o).contains('\u{1b}'));
}

#[test]
fn warnings_alone_exit_0() {
    let dir = scratch("warning");
    std::fs::write(
        dir.join("policy.jitp"),
        "entity ServiceAccount { team: String }\n\n/// documents nothing\n",
    )
    .expect("write");
    let o = jitp().arg("check").arg(&dir).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(err.contains("W0001"), "{err}");
    assert!(err.contains("0 errors, 1 warning"), "{err}");
}

#[test]
fn clean_and_broken_together_exit_1() {
    let dir = scratch("mixed");
    std::fs::write(dir.join("broken.jitp"), BROKEN).expect("write");
    let ok =
        std::fs::read_to_string(examples_dir().join("rotate_secrets/policy.jitp")).expect("read");
    std::fs::write(dir.join("ok.jitp"), ok).expect("write");
    let o = jitp().arg("check").arg(&dir).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("checked 2 policy sets (2 files): 1 error"),
        "{err}"
    );
}

// ----------------------------------------------------------- input errors

#[test]
fn missing_path_exits_2_with_a_clear_message() {
    let o = run(&["check", "does/not/exist.jitp"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("does/not/exist.jitp"), "names the path: {err}");
    assert!(err.contains("no such file or directory"), "{err}");
    assert!(err.starts_with("error:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_path_among_good_ones_exits_2() {
    let o = run(&["check", "examples/rotate_secrets", "nope.jitp"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("nope.jitp"));
}

#[test]
fn empty_directory_exits_2() {
    let dir = scratch("empty");
    let o = jitp().arg("check").arg(&dir).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("no `.jitp` files"), "{err}");
}

#[test]
fn non_utf8_file_exits_2() {
    let dir = scratch("latin1");
    let path = dir.join("policy.jitp");
    std::fs::write(&path, b"entity Caf\xe9 { team: String }\n").expect("write");
    let o = jitp().arg("check").arg(&path).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
}

/// A request file that is not JSON at all is an input error (exit 2), like
/// an unreadable one; a JSON request that does not fit the schema is
/// decided: deny, `invalid_request`, exit 0.
#[test]
fn eval_refuses_a_request_file_that_is_not_json() {
    let dir = scratch("eval-json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "subject: bot\n").expect("write");
    let o = jitp()
        .args(["eval", "--policy", "examples/guards", "--request"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bad.json"),
        "names the file: {}",
        stderr(&o)
    );

    let misfit = dir.join("misfit.json");
    std::fs::write(&misfit, r#"{"subject": {"type": "Nobody", "id": "x"}}"#).expect("write");
    let o = jitp()
        .args(["eval", "--policy", "examples/guards", "--request"])
        .arg(&misfit)
        .output()
        .expect("runs");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("invalid_request"), "{}", stdout(&o));
}

#[test]
fn no_path_is_a_usage_error() {
    let o = run(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("PATH"), "{}", stderr(&o));
}

#[test]
fn help_mentions_check() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("check"), "{out}");
    assert!(out.contains("Exit codes"), "{out}");
    let o = run(&["check", "--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("--format"), "{out}");
    assert!(out.contains("json"), "{out}");
}

// -------------------------------------------------------------------- json

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

#[test]
fn json_output_for_clean_examples() {
    let o = run(&["check", "examples", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_of(&o);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 0);
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(0));
    let sets = v["policy_sets"]
        .as_array()
        .expect("policy_sets is an array");
    assert_eq!(sets.len(), example_dirs().len());
    for s in sets {
        assert!(
            s["package"]
                .as_str()
                .is_some_and(|p| p.starts_with("acme.")),
            "{s}"
        );
        assert_eq!(s["files"].as_array().map(Vec::len), Some(1), "{s}");
        assert_eq!(s["errors"], 0);
        assert_eq!(s["warnings"], 0);
    }
}

#[test]
fn json_output_for_a_broken_policy() {
    let dir = scratch("json");
    std::fs::write(dir.join("policy.jitp"), BROKEN).expect("write");
    let o = jitp()
        .arg("check")
        .arg(&dir)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json_of(&o);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let sets = v["policy_sets"].as_array().expect("policy_sets");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["package"], "acme.broken");
    assert_eq!(sets[0]["errors"], 1);
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d["code"], "E0204");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "`ServiceAccount` has no field `taem`");
    assert_eq!(d["help"], "did you mean `team`?");
    let p = &d["primary"];
    assert!(
        p["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("policy.jitp")),
        "{p}"
    );
    assert_eq!(p["line"], 10);
    assert_eq!(p["column"], 20);
    assert_eq!(p["end_line"], 10);
    assert_eq!(p["end_column"], 24);
    let (start, end) = (
        p["start"].as_u64().expect("start"),
        p["end"].as_u64().expect("end"),
    );
    assert_eq!(&BROKEN[start as usize..end as usize], "taem");
    assert!(d["secondary"].is_array());
    assert!(d["notes"].is_array());
    // Nothing human-readable is mixed into stdout.
    assert!(
        stderr(&o).is_empty(),
        "json mode writes nothing to stderr: {}",
        stderr(&o)
    );
}

#[test]
fn json_output_groups_files_by_package() {
    let dir = scratch("packages");
    std::fs::write(
        dir.join("a.jitp"),
        "package acme.one\nentity A { x: String }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("b.jitp"),
        "package acme.two\nentity B { y: Strin }\n",
    )
    .expect("write");
    std::fs::write(dir.join("c.jitp"), "package acme.one\nentity C { z: A }\n").expect("write");
    let o = jitp()
        .arg("check")
        .arg(&dir)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(code(&o), 1);
    let v = json_of(&o);
    let sets = v["policy_sets"].as_array().expect("policy_sets");
    let names: Vec<&str> = sets.iter().filter_map(|s| s["package"].as_str()).collect();
    assert_eq!(names, ["acme.one", "acme.two"]);
    assert_eq!(sets[0]["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(sets[1]["files"].as_array().map(Vec::len), Some(1));
    assert_eq!(sets[1]["errors"], 1, "acme.two has one error: {}", sets[1]);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    // `C.z: A` uses an entity declared in another file of the same set.
    assert!(
        codes.contains(&"E0203") && codes.contains(&"E0306"),
        "{codes:?}"
    );
}

/// A policy set split over two files that both start with the same
/// `package` line is valid (files are grouped by package).
#[test]
fn policy_set_split_over_two_files_checks_clean() {
    let dir = scratch("split");
    std::fs::write(
        dir.join("schema.jitp"),
        "package acme.split\n\nentity ServiceAccount { team: String }\nentity Secret { env: String }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("rules.jitp"),
        "package acme.split\n\naction secrets.read on Secret sensitivity low\n\n\
         @standing(\"reads\")\npermit ServiceAccount to secrets.read on Secret\n",
    )
    .expect("write");
    let o = jitp().arg("check").arg(&dir).output().expect("runs");
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("checked 1 policy set (2 files): 0 errors"),
        "{err}"
    );
}
