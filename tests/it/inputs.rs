//! Hostile input files: pipes, devices and link loops are refused or
//! walked once, within a time bound, without reading unbounded data.

use crate::support::{jitp, scratch};
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs `jitp args`, killing it (and failing) after five seconds. Its
/// output is read while it runs, so a large one cannot fill the pipe and
/// stall it.
fn bounded(args: &[&str]) -> Output {
    use std::io::Read as _;
    let mut child = jitp()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("`jitp {}` did not finish in 5 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn refused(args: &[&str], why: &str) {
    let out = bounded(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(why), "{args:?}: {stderr}");
}

/// `/dev/zero` under a 1 GiB address-space limit: refused before anything
/// is read, so the limit is never approached.
#[test]
fn dev_zero_is_refused_under_a_memory_limit() {
    for args in [["check", "/dev/zero"], ["disasm", "/dev/zero"]] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_jitp"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}

#[test]
fn devices_are_refused_before_reading() {
    let dev = "is not a regular file";
    refused(&["check", "/dev/zero"], dev);
    refused(&["lint", "/dev/zero"], dev);
    refused(&["fmt", "--check", "/dev/zero"], dev);
    refused(
        &[
            "eval",
            "--policy",
            "examples/guards",
            "--request",
            "/dev/zero",
        ],
        dev,
    );
}

#[test]
fn a_fifo_does_not_block() {
    let dir = scratch("fifo");
    let fifo = dir.join("policy.jitp");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo on this system
    }
    let path = fifo.display().to_string();
    refused(&["check", &path], "is not a regular file");
    // Found by walking a directory, too.
    refused(
        &["check", &dir.display().to_string()],
        "is not a regular file",
    );
    refused(
        &["eval", "--policy", "examples/guards", "--request", &path],
        "is not a regular file",
    );
    refused(&["disasm", &path], "not a regular file");
}

#[test]
fn a_directory_link_loop_reads_each_file_once() {
    let dir = scratch("loop");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::copy("examples/guards/policy.jitp", dir.join("a/policy.jitp")).unwrap();
    if std::os::unix::fs::symlink(&dir, dir.join("a/back")).is_err() {
        return;
    }
    let out = bounded(&["check", "--format", "json", &dir.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = doc["policy_sets"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
}

/// A `jitp.toml` that is a directory or a dangling link is an error, not
/// a configuration silently ignored.
#[test]
fn an_unreadable_lint_configuration_is_an_error() {
    for kind in ["directory", "dangling link"] {
        let dir = scratch(&kind.replace(' ', "-"));
        std::fs::copy("examples/guards/policy.jitp", dir.join("policy.jitp")).unwrap();
        let config = dir.join("jitp.toml");
        match kind {
            "directory" => std::fs::create_dir(&config).unwrap(),
            _ => {
                if std::os::unix::fs::symlink(dir.join("missing"), &config).is_err() {
                    continue;
                }
            }
        }
        refused(
            &["lint", &dir.display().to_string()],
            "cannot read the configuration",
        );
    }
}

/// `lint` refuses policies `check` rejects, limits included.
#[test]
fn lint_fails_where_check_fails() {
    let dir = scratch("lint-check");
    std::fs::write(dir.join("p.jitp"), "entity S {}\ncontext { x: Unknown }\n").unwrap();
    let path = dir.display().to_string();
    assert_eq!(bounded(&["check", &path]).status.code(), Some(1));
    assert_eq!(bounded(&["lint", &path]).status.code(), Some(2));
}

/// A suite with thousands of problems (here duplicate case names) reports
/// each at its line in linear time: positions come from one index of the
/// suite, not a walk of the text per problem (5,000 errors in a 4 MB
/// suite once took 21 s in release).
#[test]
fn many_suite_problems_cost_linear_time() {
    let dir = scratch("dup-cases");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::copy("examples/guards/policy.jitp", dir.join("policy.jitp")).unwrap();
    let request: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("examples/guards/requests/allow-read-app-secret.json").unwrap(),
    )
    .unwrap();
    let cases: Vec<_> = (0..3000)
        .map(|_| serde_json::json!({"name": "x", "request": request, "expect": {"decision": "allow"}}))
        .collect();
    let suite = serde_json::json!({"cases": cases});
    std::fs::write(
        dir.join("tests/dup.test.json"),
        serde_json::to_string_pretty(&suite).unwrap(),
    )
    .unwrap();
    let start = Instant::now();
    let out = bounded(&["test", "--format", "json", &dir.display().to_string()]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("another case is already named").count(),
        2999
    );
    assert!(stdout.contains("\"line\""), "errors carry positions");
}
