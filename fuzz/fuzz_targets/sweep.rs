//! Any bytes as a sweep file: parse, expand and validate its plan.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| acidbase::fuzzing::sweep_input(data));
