//! The fuzzers' corpus, replayed on every `cargo test`: each input (the seeds, and
//! every input a fuzzer found that once crashed or hung acidbase) must still give an
//! error or a result, never a panic. The fuzz targets are in fuzz/ (`cargo +nightly
//! fuzz run scenario`, `... sweep`); they call the same entry points.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_input_the_fuzzer_kept_is_handled_without_a_panic() {
    let files = corpus("scenario");
    assert!(files.len() >= 10, "the corpus is there");
    for f in files {
        let data = std::fs::read(&f).expect("readable");
        let result = std::panic::catch_unwind(|| acidbase::fuzzing::scenario_input(&data));
        assert!(result.is_ok(), "{} panicked", f.display());
    }
}

#[test]
fn every_sweep_input_the_fuzzer_kept_is_handled_without_a_panic() {
    let files = corpus("sweep");
    assert!(files.len() >= 5, "the corpus is there");
    for f in files {
        let data = std::fs::read(&f).expect("readable");
        let result = std::panic::catch_unwind(|| acidbase::fuzzing::sweep_input(&data));
        assert!(result.is_ok(), "{} panicked", f.display());
    }
}
