//! Fuzz target `bundle`: see `jitp_fuzz::bundle` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jitp_fuzz::bundle(data));
