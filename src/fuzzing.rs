//! Entry points for the coverage-guided fuzzers (`fuzz/`, run with `cargo fuzz`) and
//! for the test that replays their corpus (`tests/suite/fuzz_corpus.rs`), so every input a
//! fuzzer ever found stays fixed in CI.
//!
//! The contract is the command line's: any bytes give either an error for the user
//! or a result, never a panic, an overflow or a hang. A scenario that parses is also
//! run, shortly (its event budget capped), and its report rendered.

use std::path::Path;

/// Events a fuzzed scenario may run: enough to reach faults, recovery and the end
/// checks of small worlds, few enough to keep thousands of inputs a second.
const FUZZ_EVENTS: u64 = 20_000;
/// Runs a fuzzed sweep may plan (the plan is built, not run).
const FUZZ_RUNS: usize = 100_000;

/// Parse and validate `data` as a scenario file; if it is valid, run it briefly and
/// render its report, as text and as JSON.
pub fn scenario_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = crate::run::parse(text, "fuzz.ron") else {
        return;
    };
    let mut s = loaded.into_loaded().scenario;
    s.max_events = s.max_events.min(FUZZ_EVENTS);
    let _ = crate::run::size_warning(&s);
    let Ok(s) = crate::run::Registry::builtin().validate_scenario(&s, "fuzz.ron") else {
        return;
    };
    let report = s.run(s.scenario.seed, None).report;
    let _ = report.to_text();
    let _ = serde_json::to_string(&report);
    let _ = crate::tools::explore::violation_kinds(&report);
}

/// Parse, expand and validate `data` as a sweep file (its plan is built, not run).
pub fn sweep_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut warnings = Vec::new();
    let size = |(points, series, seeds): (usize, usize, usize)| {
        let runs = points.saturating_mul(series).saturating_mul(seeds);
        if runs > FUZZ_RUNS {
            Err(crate::tools::sweep::SweepError::input(format!(
                "{runs} runs"
            )))
        } else {
            Ok(())
        }
    };
    let _ = crate::tools::sweep::spec::load_text(
        text,
        "fuzz.ron",
        Path::new("/nonexistent-fuzz-dir"),
        crate::tools::sweep::spec::ReadOptions::default(),
        &size,
        &mut warnings,
    );
}
