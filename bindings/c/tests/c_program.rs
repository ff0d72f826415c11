//! The C test program `tests/c/decide_test.c`, compiled with the system C
//! compiler against the freshly built `libjitp` and the checked-in header,
//! decides every example request exactly as `jitp eval` does, refuses
//! corrupt bundles, agrees with itself from eight threads, and leaks
//! nothing over 10,000 decisions (AddressSanitizer's leak checker; a
//! build that deliberately leaks must be caught).

use jitp_runtime::{Bundle, DecisionRecord, RequestErrorKind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace() -> PathBuf {
    crate_dir().join("../..")
}

/// Where cargo put `libjitp.so` / `libjitp.a`: the profile directory above
/// this test's `deps/`. Cargo builds a `cdylib` for its integration tests
/// only if it links them, which it cannot: the library is built here, once
/// per test binary, so the C program never links a stale one.
fn lib_dir() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    BUILT.call_once(|| {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--quiet", "-p", "jitp-c", "--lib"]);
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo.current_dir(workspace()).status().expect("cargo runs");
        assert!(status.success(), "cargo build -p jitp-c failed");
    });
    assert!(
        dir.join("libjitp.so").is_file() || dir.join("libjitp.dylib").is_file(),
        "libjitp was not built into {}",
        dir.display()
    );
    dir
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitp-c-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Compiles a C source of this repository against libjitp.
pub fn build_c(source: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let lib = lib_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-D_POSIX_C_SOURCE=200809L",
            "-g",
        ])
        .args(extra)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(source)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-ljitp", "-lpthread"])
        .status()
        .expect("a C compiler `cc` is installed");
    assert!(status.success(), "compiling {} failed", source.display());
    out.to_path_buf()
}

fn run(exe: &Path, args: &[&Path]) -> Output {
    Command::new(exe)
        .args(args)
        .output()
        .expect("the C program runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "the C program failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

struct Example {
    bundle: PathBuf,
    compiled: Bundle,
    requests: Vec<PathBuf>,
}

/// Every example with a policy, compiled to a bundle file in `dir`.
fn examples(dir: &Path) -> Vec<Example> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join("examples"))
        .expect("examples/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("policy.jitp").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        let mut loaded = jitp::driver::load(&[d.join("policy.jitp")]).expect("example loads");
        let set = loaded.select(None).expect("one package").clone();
        let built = jitp::driver::check_and_build(&mut loaded.sources, &set);
        let compiled = built.bundle.expect("example compiles");
        let bundle = dir.join(format!("{name}.jitb"));
        std::fs::write(&bundle, compiled.to_bytes()).expect("write the bundle");
        let mut requests: Vec<PathBuf> = std::fs::read_dir(d.join("requests"))
            .expect("requests/ is readable")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        requests.sort();
        out.push(Example {
            bundle,
            compiled,
            requests,
        });
    }
    assert!(out.len() >= 8, "expected the shipped examples");
    out
}

/// What `jitp eval --bundle B --request R` prints, as JSON (`None`: the
/// request is not JSON, an input error).
fn eval(bundle: &Bundle, request: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(request).expect("request readable");
    let record = match bundle.bind_str(&text) {
        Ok(r) => bundle.decide(&r).to_record(),
        Err(e) if matches!(e.kind, RequestErrorKind::Syntax { .. }) => return None,
        Err(e) => DecisionRecord::invalid(e.to_string()),
    };
    Some(record.to_json())
}

fn decide_test(dir: &Path, extra: &[&str], name: &str) -> PathBuf {
    build_c(
        &crate_dir().join("tests/c/decide_test.c"),
        &dir.join(name),
        extra,
    )
}

#[test]
fn c_decides_every_example_request_as_jitp_eval() {
    let dir = scratch("decide");
    let exe = decide_test(&dir, &[], "decide_test");
    let mut total = 0;
    for ex in examples(&dir) {
        let mut args: Vec<&Path> = vec![Path::new("decide"), &ex.bundle];
        args.extend(ex.requests.iter().map(PathBuf::as_path));
        let stdout = ok(&run(&exe, &args));
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), ex.requests.len(), "one line per request");
        for (line, req) in lines.iter().zip(&ex.requests) {
            match eval(&ex.compiled, req) {
                Some(want) => {
                    let got: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", req.display()));
                    assert_eq!(got, want, "{}", req.display());
                    // Byte for byte what `jitp eval` prints, compacted.
                    assert_eq!(*line, want.to_string(), "{}", req.display());
                }
                None => assert!(line.starts_with("error 4 "), "{}: {line}", req.display()),
            }
            total += 1;
        }
    }
    assert!(total >= 50, "only {total} requests decided");
}

#[test]
fn c_reports_corrupt_bundles_as_errors() {
    let dir = scratch("corrupt");
    let exe = decide_test(&dir, &[], "decide_test");
    let ex = examples(&dir);
    let good = std::fs::read(&ex[0].bundle).expect("bundle");
    let mut cases: Vec<Vec<u8>> = vec![Vec::new(), b"not a bundle".to_vec()];
    for cut in [1, 8, 16, good.len() / 3, good.len() / 2, good.len() - 1] {
        cases.push(good[..cut].to_vec());
    }
    // Byte flips at fixed, spread positions (header, checksum, body, end).
    let mut x: u64 = 0x5eed;
    for _ in 0..16 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (x >> 33) as usize % good.len();
        let mut bad = good.clone();
        bad[at] ^= 1 << ((x >> 13) % 8);
        cases.push(bad);
    }
    for (i, bytes) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{i}.jitb"));
        std::fs::write(&file, bytes).expect("write");
        let message = ok(&run(&exe, &[Path::new("corrupt"), &file]));
        assert!(!message.trim().is_empty(), "case {i}: no message");
    }
}

#[test]
fn c_concurrent_decisions_agree_with_single_threaded_ones() {
    let dir = scratch("threads");
    let exe = decide_test(&dir, &[], "decide_test");
    for ex in examples(&dir).iter().take(3) {
        let mut args: Vec<&Path> = vec![Path::new("threads"), &ex.bundle];
        // Requests that are JSON (every shipped one is).
        args.extend(ex.requests.iter().map(PathBuf::as_path));
        let out = ok(&run(&exe, &args));
        assert!(out.contains("from 8 threads agree"), "{out}");
    }
}

#[test]
fn c_error_paths_return_codes_and_messages() {
    let dir = scratch("errors");
    let exe = decide_test(&dir, &[], "decide_test");
    let ex = examples(&dir);
    assert_eq!(
        ok(&run(&exe, &[Path::new("errors"), &ex[0].bundle])).trim(),
        "ok"
    );
}

/// Whether the C compiler builds and runs a program with
/// AddressSanitizer's leak checker.
fn asan(dir: &Path, exe_name: &str, leak: bool) -> PathBuf {
    let mut flags = vec!["-fsanitize=address,leak", "-fno-omit-frame-pointer"];
    if leak {
        flags.push("-DJITP_LEAK");
    }
    decide_test(dir, &flags, exe_name)
}

#[test]
fn c_ten_thousand_decisions_leak_nothing_and_a_leak_is_caught() {
    let dir = scratch("leak");
    let ex = examples(&dir);
    let bundle = &ex[0].bundle;
    let request = &ex[0].requests[0];
    let n = Path::new("10000");

    let clean = asan(&dir, "decide_test_asan", false);
    let out = run(&clean, &[Path::new("loop"), bundle, request, n]);
    let stdout = ok(&out);
    assert!(stdout.contains("10000 decisions"), "{stdout}");

    // The control: one unfreed decision string per iteration must fail
    // the run, or the check above proves nothing.
    let leaky = asan(&dir, "decide_test_leaky", true);
    let out = run(&leaky, &[Path::new("loop"), bundle, request, n]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("LeakSanitizer"),
        "a deliberate leak went unnoticed ({}):\n{stderr}",
        out.status
    );
}

#[test]
fn the_c_example_guard_builds_and_decides() {
    let dir = scratch("example");
    let exe = build_c(
        &workspace().join("examples/c/guard.c"),
        &dir.join("guard"),
        &[],
    );
    let ex = examples(&dir);
    let agent = ex
        .iter()
        .find(|e| e.bundle.ends_with("ai_agent.jitb"))
        .expect("the ai_agent example");
    for req in &agent.requests {
        let out = run(&exe, &[&agent.bundle, req]);
        let want = eval(&agent.compiled, req).expect("JSON request");
        let code = match want["decision"].as_str() {
            Some("allow") => 0,
            Some("step_up") => 2,
            _ => 1,
        };
        assert_eq!(out.status.code(), Some(code), "{}", req.display());
        let got: Value = serde_json::from_slice(&out.stdout).expect("decision JSON");
        assert_eq!(got, want, "{}", req.display());
    }
    let out = run(&exe, &[&dir.join("missing.jitb"), &agent.requests[0]]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jitb"));
}
