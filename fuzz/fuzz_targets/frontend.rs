//! Fuzz target `frontend`: see `jitp_fuzz::frontend` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jitp_fuzz::frontend(data));
