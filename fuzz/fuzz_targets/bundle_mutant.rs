//! Fuzz target `bundle_mutant`: see `jitp_fuzz::mutant` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|plan: jitp_fuzz::mutant::Plan| jitp_fuzz::mutant::run(&plan));
