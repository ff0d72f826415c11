//! Fuzz target `request`: see `jitp_fuzz::request` and docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jitp_fuzz::request(data));
