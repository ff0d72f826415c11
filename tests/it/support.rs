//! What the integration tests share: paths, the `jitp` binary, seeds.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The repository root (where `examples/` and `tests/` live).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/`.
pub fn examples_dir() -> PathBuf {
    root().join("examples")
}

/// The `jitp` binary, run from the repository root with colour settings
/// removed, so its output is the same whatever the caller's environment.
pub fn jitp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jitp"));
    cmd.current_dir(root());
    cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    cmd
}

/// Runs `jitp args` to completion.
pub fn run(args: &[&str]) -> Output {
    jitp().args(args).output().expect("the jitp binary runs")
}

/// The exit status of a finished `jitp` (a signal is a test failure).
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .expect("the process exited normally (not by a signal)")
}

/// Standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh, empty directory of its own for one test: the tests of all
/// modules run in parallel in one process, so every call gets a new one.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// The seed every generated test starts from.
///
/// Fixed by default, so `cargo test` gives the same result on every run.
/// `JITP_SEED=random` picks a fresh one and `JITP_SEED=N` replays run `N`;
/// a seed other than the default is printed once, so any failure can be
/// replayed exactly.
pub fn seed() -> u64 {
    /// The seed of every default run.
    const FIXED: u64 = 0x6a69_7470_2026;
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = match std::env::var("JITP_SEED") {
            Err(_) => return FIXED,
            Ok(s) if s.trim() == "random" => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                (nanos ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000_000
            }
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("JITP_SEED must be `random` or a number, not `{s}`")),
        };
        eprintln!("generated tests: seed {seed} (JITP_SEED={seed} replays this run)");
        seed
    })
}

/// A proptest configuration with `cases` cases from [`seed`] (offset by
/// `salt`, so properties do not all draw the same inputs), and no
/// regressions file written: a failure prints its seed instead, and
/// committed regressions are explicit tests.
pub fn proptest_config(cases: u32, salt: u64) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed().wrapping_add(salt)),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
