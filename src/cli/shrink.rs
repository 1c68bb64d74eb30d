//! `acidbase shrink`: minimise a failing run's fault schedule and write it as a
//! replayable counterexample.

use super::common::{bad, load, write_file};
use crate::run::Registry;
use crate::tools::diagram::{self, DiagramOptions};
use crate::tools::progress::Progress;
use crate::tools::shrink::{counterexample_ron, focus_txns, shrink, story, ShrinkOptions};
use crate::tools::spans::{traces_named, txn_trace_id};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `shrink`, as the command uses them (swarm's --shrink fills them too).
pub(super) struct ShrinkArgs {
    pub(super) path: PathBuf,
    pub(super) seed: Option<u64>,
    pub(super) out: PathBuf,
    pub(super) kind: Option<String>,
    pub(super) max_runs: u32,
    pub(super) protocol: Option<String>,
    pub(super) diagram: Option<PathBuf>,
    pub(super) json: bool,
}

/// `acidbase shrink --format json`.
#[derive(serde::Serialize)]
struct ShrinkSummary<'a> {
    scenario: &'a str,
    seed: u64,
    kind: &'a str,
    before: &'a crate::tools::schedule::Sizes,
    after: &'a crate::tools::schedule::Sizes,
    runs: u32,
    counterexample: &'a str,
    digest: &'a str,
    story: &'a [String],
    /// The trace id of each transaction the story follows (`txn`, `trace_id`).
    traces: Vec<TraceName>,
}

#[derive(serde::Serialize)]
struct TraceName {
    txn: u64,
    trace_id: String,
}

/// `acidbase shrink`; `program` names the binary in the commands it prints.
pub(super) fn shrink_command(registry: &Registry, program: &str, a: ShrinkArgs) -> ExitCode {
    match shrink_inner(registry, program, a) {
        Ok(code) | Err(code) => code,
    }
}

fn shrink_inner(registry: &Registry, program: &str, a: ShrinkArgs) -> Result<ExitCode, ExitCode> {
    let s = load(registry, Some(&a.path), a.protocol.as_deref())?;
    let seed = a.seed.unwrap_or(s.scenario.seed);
    let source = a.path.display().to_string();
    warnln!("{program} shrink: {source} --seed {seed} ...");
    let opts = ShrinkOptions {
        kind: a.kind,
        max_runs: a.max_runs,
        program: program.to_string(),
        progress: Some(progress_line),
    };
    super::interrupt::install();
    let shrunk = shrink(registry, &s, seed, &opts);
    if let Some(bar) = BAR.lock().ok().as_mut().and_then(|b| b.as_mut()) {
        bar.finish();
    }
    let shrunk = shrunk.map_err(bad)?;
    let out = a.out.display().to_string();
    write_file(
        &a.out,
        &counterexample_ron(&shrunk, program, &source, seed, &out),
        "counterexample",
    )?;
    let focus = focus_txns(&shrunk.outcome);
    let told = story(&shrunk.trace, &shrunk.outcome, &focus);
    let traces = traces_named(&focus);
    if a.json {
        let summary = ShrinkSummary {
            scenario: &source,
            seed,
            kind: &shrunk.kind,
            before: &shrunk.before,
            after: &shrunk.after,
            runs: shrunk.runs,
            counterexample: &out,
            digest: &shrunk.outcome.report.digest,
            story: &told,
            traces: focus
                .iter()
                .map(|&txn| TraceName {
                    txn,
                    trace_id: txn_trace_id(txn),
                })
                .collect(),
        };
        let j = serde_json::to_string_pretty(&summary)
            .map_err(|e| bad(format!("cannot write JSON: {e}")))?;
        sayln!("{j}");
    } else {
        sayln!("{program} shrink: {source} --seed {seed}: {}", shrunk.kind);
        sayln!("  before  {}", shrunk.before.line());
        sayln!("  after   {}", shrunk.after.line());
        sayln!("  ({} candidate runs)", shrunk.runs);
        sayln!();
        if traces.is_empty() {
            sayln!("The shrunk run");
        } else {
            sayln!("The shrunk run ({traces})");
        }
        for line in &told {
            sayln!("  {line}");
        }
        sayln!();
        sayln!("Wrote {out}. Reproduce: {program} run {out}");
        if let Some(t) = focus.first() {
            sayln!("Its call tree: {program} run {out} --trace cx.jsonl && {program} trace cx.jsonl --txn {t}");
        }
    }
    if let Some(p) = &a.diagram {
        let opts = DiagramOptions {
            title: if traces.is_empty() {
                format!("{} — {}", shrunk.scenario.name, shrunk.kind)
            } else {
                format!("{} — {} — {traces}", shrunk.scenario.name, shrunk.kind)
            },
            ..Default::default()
        };
        let drawn = diagram::draw(&shrunk.trace, &shrunk.outcome.names, &opts);
        write_file(p, &drawn.svg, "diagram")?;
        warnln!("acidbase: drew the shrunk run in {}", p.display());
        for n in &drawn.notices {
            warnln!("acidbase: {n}");
        }
    }
    if shrunk.interrupted {
        super::interrupt::say_interrupted(&format!(
            "after {} candidate runs; {out} is the smallest failing run found so far (it fails as the original did)",
            shrunk.runs
        ));
        return Ok(ExitCode::from(crate::stop::INTERRUPTED_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress line: candidate runs judged of the budget (a shrink usually stops
/// well before it, when no smaller run fails).
static BAR: std::sync::Mutex<Option<Progress>> = std::sync::Mutex::new(None);

fn progress_line(done: u32, budget: u32) {
    if let Ok(mut bar) = BAR.lock() {
        bar.get_or_insert_with(|| Progress::new("runs", Some(u64::from(budget)), 0, true))
            .set(
                u64::from(done),
                "at most; it stops when nothing smaller fails".into(),
            );
    }
}
