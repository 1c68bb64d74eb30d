//! Any bytes as a scenario file: parse, validate, a short run, the report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| acidbase::fuzzing::scenario_input(data));
