//! The integration tests, in one binary so a change links one executable.
//!
//! Each module tests one thing users see; `support` holds what they share
//! (paths, the `jitp` binary, fixed seeds). The allocation test stays a
//! binary of its own (`tests/alloc.rs`): it installs a global allocator.

mod support;

mod bundle_fixtures;
mod cli;
mod decisions;
mod diagnostics;
mod differential;
mod disasm;
mod extensions;
mod fmt;
mod fuzz;
mod horizon;
mod hostile;
mod identity;
mod inputs;
mod layers;
mod lint;
mod lint_oracle;
mod lint_soundness;
mod output;
mod pipeline;
mod proofs;
mod requests;
mod serve;
mod serve_fuzz;
mod tasks;
mod testing;
