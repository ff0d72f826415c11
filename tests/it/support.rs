//! What the integration tests share: paths, the `jitp` binary, seeds.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
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
