//! Every command survives an output it cannot write: a full disk or a
//! closed pipe is one error and exit status 2, never a panic.

use crate::support::jitp;
use std::io::Write;
use std::process::{Command, Stdio};

/// A bundle of the guards example, built once per test run.
fn bundle() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("jitp-output-{}.jitb", std::process::id()));
    if !path.exists() {
        let out = jitp()
            .args(["build", "examples/guards", "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    path
}

/// The commands that write to standard output, with their arguments.
fn commands() -> Vec<Vec<String>> {
    let b = bundle().display().to_string();
    let request = "examples/guards/requests/allow-read-app-secret.json".to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["disasm", &b]),
        s(&["eval", "--bundle", &b, "--request", &request]),
        s(&["eval", "--bundle", &b, "--request", &request, "--explain"]),
        s(&["check", "--format", "json", "examples"]),
        s(&["lint", "examples"]),
        s(&["lint", "--format", "sarif", "examples"]),
        s(&["lint", "--explain", "JIT001"]),
        s(&["lint", "--rules"]),
        s(&["test", "examples"]),
        s(&["test", "--format", "junit", "examples"]),
        s(&["fmt", "--diff", "tests/fixtures/lint/jit001/trigger.jitp"]),
    ]
}

fn assert_clean_failure(what: &str, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{what}: {stderr}"
    );
}

#[test]
fn a_full_disk_is_exit_2() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    for args in commands() {
        if args[0] == "fmt" {
            continue; // prints nothing when the file is formatted
        }
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = jitp().args(&args).stdout(full).output().unwrap();
        assert_clean_failure(&args.join(" "), &out);
    }
    // `jitp fmt -` as a filter: writing nothing must not look like success.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = jitp()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read("examples/guards/policy.jitp").unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    assert_clean_failure("fmt -", &child.wait_with_output().unwrap());
}

/// A reader that goes away (`jitp … | head`): output larger than a pipe
/// holds, so the write is still pending when the pipe closes.
#[test]
fn a_closed_pipe_is_exit_2() {
    let policy: String = std::iter::once("entity A {}\n".to_string())
        .chain((0..20_000).map(|i| format!("// comment line number {i}\n")))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitp"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let _ = child.stdin.take().unwrap().write_all(policy.as_bytes());
    assert_clean_failure("fmt - | (closed)", &child.wait_with_output().unwrap());
}
