//! `acidbase check --exhaustive`: every order of events and placement of faults in a
//! small world, or the replay of one path it found.

use super::args::Format;
use crate::exhaustive::scenario::CheckOptions;
use crate::run::Registry;
use crate::scenario;
use crate::tools::progress::Progress;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The flags of `check`, as the command uses them.
pub(super) struct CheckArgs {
    pub(super) scenario: PathBuf,
    pub(super) exhaustive: bool,
    pub(super) max_depth: Option<u32>,
    pub(super) max_crashes: u32,
    pub(super) max_drops: u32,
    pub(super) max_states: u64,
    pub(super) crash: Option<Vec<String>>,
    pub(super) horizon_ms: Option<f64>,
    pub(super) max_latency_ms: Option<f64>,
    pub(super) txns: u64,
    pub(super) threads: Option<u64>,
    pub(super) out: Option<PathBuf>,
    pub(super) replay: Option<PathBuf>,
    pub(super) format: Format,
}

/// `acidbase check`: the flags checked and turned into the explorer's options;
/// `program` names the binary in the commands it prints.
pub(super) fn check_command(registry: &Registry, program: &str, a: CheckArgs) -> ExitCode {
    if !a.exhaustive {
        warnln!(
            "error: check needs --exhaustive (the only mode so far); see {program} check --help"
        );
        return ExitCode::from(2);
    }
    for (flag, v) in [
        ("--horizon-ms", a.horizon_ms),
        ("--max-latency-ms", a.max_latency_ms),
    ] {
        if v.is_some_and(|v| !(v.is_finite() && (0.0..=scenario::MAX_MS).contains(&v))) {
            warnln!(
                "error: {flag}: expected a number of ms in [0, {}]",
                scenario::MAX_MS
            );
            return ExitCode::from(2);
        }
    }
    let opts = CheckOptions {
        max_depth: a.max_depth,
        max_states: usize::try_from(a.max_states).unwrap_or(usize::MAX),
        max_crashes: a.max_crashes,
        max_drops: a.max_drops,
        crash_nodes: a.crash,
        horizon_ms: a.horizon_ms,
        max_latency_ms: a.max_latency_ms,
        txns: a.txns,
        progress: Some(crate::exhaustive::ProgressHook(&progress_line)),
        // The machine's cores unless told; the report is the same at any count.
        threads: a
            .threads
            .and_then(|t| usize::try_from(t).ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
    };
    check_scenario(
        registry,
        program,
        &a.scenario,
        &opts,
        a.out,
        a.replay,
        a.format,
    )
}

/// The progress line: states visited, their rate, the depth reached. One per process,
/// since the hook must outlive the exploration.
static BAR: std::sync::Mutex<Option<Progress>> = std::sync::Mutex::new(None);

fn progress_line(states: usize, depth: u32) {
    if let Ok(mut bar) = BAR.lock() {
        bar.get_or_insert_with(|| Progress::new("states", None, 0, true))
            .set(states as u64, format!("depth {depth}"));
    }
}

fn check_scenario(
    registry: &Registry,
    program: &str,
    path: &Path,
    opts: &CheckOptions,
    out: Option<PathBuf>,
    replay: Option<PathBuf>,
    format: Format,
) -> ExitCode {
    use crate::exhaustive::parse_steps;
    let loaded = match registry.load(path) {
        Ok(l) => l,
        Err(e) => {
            warnln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(file) = replay {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                warnln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let steps = match parse_steps(&text) {
            Ok(s) => s,
            Err(e) => {
                warnln!(
                    "error: {}: expected a RON list of steps: {e}",
                    file.display()
                );
                return ExitCode::from(2);
            }
        };
        let r = match loaded.replay_steps(opts, &steps) {
            Ok(r) => r,
            Err(e) => {
                warnln!("error: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        for (i, line) in r.story.iter().enumerate() {
            sayln!("  {:>3}. {line}", i + 1);
        }
        return match r.findings.first() {
            Some(f) => {
                sayln!("VIOLATION {}: {}", f.kind, f.detail);
                ExitCode::from(1)
            }
            None => {
                sayln!("no violation on this path");
                ExitCode::SUCCESS
            }
        };
    }
    super::interrupt::install();
    let report = loaded.check(opts);
    if let Some(bar) = BAR.lock().ok().as_mut().and_then(|b| b.as_mut()) {
        bar.finish();
    }
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            warnln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(j) => sayln!("{j}"),
            Err(e) => {
                warnln!("error: cannot write the report as JSON: {e}");
                return ExitCode::from(2);
            }
        },
        Format::Text => say!("{}", report.to_text()),
    }
    let Some(c) = &report.violation else {
        if report.complete {
            return ExitCode::SUCCESS;
        }
        if report.interrupted {
            super::interrupt::say_interrupted(&format!(
                "{} states visited, no violation among them; not a verification",
                report.distinct_states
            ));
            return ExitCode::from(crate::stop::INTERRUPTED_EXIT);
        }
        // No violation among the states visited, but not every state was: that is
        // not a verification, and a CI job must not read it as one.
        warnln!(
            "acidbase: incomplete: the search stopped at --max-states or --max-depth before every reachable state was visited; raise them to verify (exit status 3)"
        );
        return ExitCode::from(3);
    };
    match &out {
        Some(file) => {
            if let Err(e) = std::fs::write(file, c.steps_ron()) {
                warnln!("error: cannot write {}: {e}", file.display());
                return ExitCode::from(2);
            }
            warnln!(
                "acidbase: the path is in {f}; replay it with: {program} check {p} --exhaustive --replay {f}",
                f = file.display(),
                p = path.display()
            );
        }
        None => {
            if matches!(format, Format::Text) {
                sayln!(
                    "replayable path (RON; save it and pass --replay FILE):\n{}",
                    c.steps_ron()
                );
            }
        }
    }
    ExitCode::from(1)
}
