//! The command-line side of run (with its trace, schedule export and diagram), explore
//! and shrink: read the flags' files, call the library, write files and print. No
//! simulation logic here.

use crate::diagram::{self, DiagramOptions};
use crate::explore::{explore, parse_seeds, seed_count};
use crate::report::Report;
use crate::run::Registry;
use crate::run::TraceOut;
use crate::scenario::{self, Loaded, Scenario};
use crate::schedule::{export, to_ron};
use crate::shrink::{counterexample_ron, focus_txns, shrink, story, ShrinkOptions};
use crate::tracelog;
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

fn bad(msg: impl std::fmt::Display) -> ExitCode {
    warnln!("error: {msg}");
    ExitCode::from(2)
}

/// The scenario at `path`, or the built-in default (said on stderr).
pub fn load_or_default(registry: &Registry, path: Option<&Path>) -> Result<Loaded, ExitCode> {
    match path {
        Some(p) => registry.load(p).map_err(bad),
        None => {
            warnln!(
                "acidbase: no scenario given; running the built-in default, {}",
                scenario::DEFAULT_SCENARIO_NAME
            );
            Ok(crate::run::default_scenario())
        }
    }
}

/// The scenario at `path` (or the built-in default), with `protocol` swapped in.
fn load(
    registry: &Registry,
    path: Option<&Path>,
    protocol: Option<&str>,
) -> Result<Scenario, ExitCode> {
    let loaded = load_or_default(registry, path)?;
    let Some(p) = protocol else {
        return Ok(loaded.scenario);
    };
    if registry.get(p).is_none() {
        return Err(bad(format!(
            "--protocol {p:?}: unknown protocol; expected one of: {}",
            registry.names().join(", ")
        )));
    }
    // Validated again under the other protocol, errors located in the user's file.
    registry
        .with_protocol(&loaded, p)
        .map(|l| l.scenario)
        .map_err(|e| bad(format!("--protocol {p}: {e}")))
}

fn write_file(path: &Path, text: &str, what: &str) -> Result<(), ExitCode> {
    std::fs::write(path, text)
        .map_err(|e| bad(format!("cannot write the {what} {}: {e}", path.display())))
}

/// Writes the trace to a file (if any), remembering its first write error (a trace cut
/// short must be reported, not silently truncated), and keeps a copy in memory only
/// when a diagram needs it.
struct Tee {
    file: Option<std::fs::File>,
    buf: Option<Rc<RefCell<Vec<u8>>>>,
    error: Rc<RefCell<Option<std::io::Error>>>,
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(data) {
                self.error.borrow_mut().get_or_insert(e);
            }
        }
        if let Some(buf) = &self.buf {
            buf.borrow_mut().extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.flush() {
                self.error.borrow_mut().get_or_insert(e);
            }
        }
        Ok(())
    }
}

pub struct RunTools {
    pub path: Option<PathBuf>,
    pub seed: Option<u64>,
    pub json: bool,
    pub trace: Option<PathBuf>,
    pub export_schedule: Option<PathBuf>,
    pub diagram: Option<PathBuf>,
    pub txn: Option<u64>,
    pub from: Option<f64>,
    pub to: Option<f64>,
}

fn print_report(report: &Report, json: bool) -> Result<(), ExitCode> {
    if json {
        let j = serde_json::to_string_pretty(report)
            .map_err(|e| bad(format!("cannot write the report as JSON: {e}")))?;
        sayln!("{j}");
    } else {
        say!("{}", report.to_text());
    }
    Ok(())
}

/// `acidbase run` (and `replay`).
pub fn run_with_tools(registry: &Registry, a: RunTools) -> ExitCode {
    match run_with_tools_inner(registry, a) {
        Ok(code) | Err(code) => code,
    }
}

fn run_with_tools_inner(registry: &Registry, a: RunTools) -> Result<ExitCode, ExitCode> {
    diagram::check_window(a.from, a.to).map_err(bad)?;
    let s = load(registry, a.path.as_deref(), None)?;
    let seed = a.seed.unwrap_or(s.seed);
    if let Some(w) = crate::run::size_warning(&s) {
        warnln!("warning: {w}");
    }
    let buf = a
        .diagram
        .is_some()
        .then(|| Rc::new(RefCell::new(Vec::new())));
    let error = Rc::new(RefCell::new(None));
    let file = match &a.trace {
        Some(p) => Some(
            std::fs::File::create(p)
                .map_err(|e| bad(format!("cannot create trace file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let wants_trace = a.trace.is_some() || a.diagram.is_some();
    let out: Option<TraceOut> = wants_trace.then(|| {
        Box::new(Tee {
            file,
            buf: buf.clone(),
            error: Rc::clone(&error),
        }) as TraceOut
    });
    let opts = crate::run::RunOptions {
        trace: out,
        record_fates: a.export_schedule.is_some(),
    };
    let outcome = registry.run_validated_with(&s, seed, opts);
    if let (Some(p), Some(e)) = (&a.trace, error.borrow().as_ref()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // `--trace /dev/stdout | head`: the reader had enough; not an error.
            return Ok(ExitCode::SUCCESS);
        }
        return Err(bad(format!(
            "the trace {} could not be written in full: {e}",
            p.display()
        )));
    }
    let file_name = a.path.as_ref().map_or_else(
        || "(built-in default)".to_string(),
        |p| p.display().to_string(),
    );
    if let Some(p) = &a.export_schedule {
        let exported = export(&s, seed, &outcome);
        let header = format!(
            "The concrete fault schedule of `acidbase run {file_name} --seed {seed}`\n\
             (digest {}), exported by --export-schedule: every fault is scripted, none is\n\
             drawn at random. `acidbase run {}` replays the same run, to the digest.",
            outcome.report.digest,
            p.display()
        );
        write_file(p, &to_ron(&exported, &header), "schedule")?;
        warnln!(
            "acidbase: wrote the fault schedule ({} crashes, {} partitions, {} scripted messages) to {}",
            exported.faults.crashes.len(),
            exported.faults.partitions.len() + exported.faults.one_way.len(),
            exported.faults.messages.len(),
            p.display()
        );
    }
    if let (Some(p), Some(buf)) = (&a.diagram, &buf) {
        let text = String::from_utf8_lossy(&buf.borrow()).into_owned();
        let trace = tracelog::parse(&text);
        let opts = DiagramOptions {
            txn: a.txn,
            from_ms: a.from,
            to_ms: a.to,
            title: format!("{} — seed {seed}", s.name),
            ..Default::default()
        };
        write_file(p, &diagram::svg(&trace, &outcome.names, &opts), "diagram")?;
        warnln!("acidbase: wrote the sequence diagram to {}", p.display());
    }
    let report = &outcome.report;
    print_report(report, a.json)?;
    if report.truncated {
        warnln!(
            "acidbase: truncated: the run hit max_events ({}) at {:.1} ms, before its end; nothing was judged at quiescence (exit status 3). Raise max_events or make the scenario smaller.",
            s.max_events,
            report.sim_time_ms
        );
        return Ok(ExitCode::from(3));
    }
    if report.failed() {
        let what = if report.expectations.failed > 0 {
            format!("{} expectation(s) failed", report.expectations.failed)
        } else {
            "an invariant was violated".to_string()
        };
        let file = a
            .path
            .as_ref()
            .map_or_else(String::new, |p| format!(" {}", p.display()));
        warnln!("acidbase: {what}; reproduce with: acidbase run{file} --seed {seed}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `acidbase explore`.
pub fn explore_command(
    registry: &Registry,
    path: &Path,
    seeds: &str,
    jobs: Option<u32>,
    protocol: Option<&str>,
    ignore_expect: bool,
    json: bool,
) -> ExitCode {
    let s = match load(registry, Some(path), protocol) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seeds = match parse_seeds(seeds) {
        Ok(r) => r,
        Err(e) => return bad(format!("--seeds: {e}")),
    };
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let total = seed_count(&seeds);
    let tty = std::io::stderr().is_terminal();
    let step = (total / 100).max(1);
    let progress = move |done: u64, failing: u64| {
        if tty && (done % step == 0 || done == total) {
            warn!("\rexplore: {done}/{total} seeds, {failing} failing ");
        }
    };
    let e = explore(registry, &s, seeds, jobs, ignore_expect, &progress);
    if tty {
        warnln!();
    }
    if json {
        match serde_json::to_string_pretty(&e) {
            Ok(j) => sayln!("{j}"),
            Err(err) => return bad(format!("cannot write JSON: {err}")),
        }
    } else {
        say!("{}", e.to_text(&path.display().to_string(), protocol));
    }
    if e.violating_seeds > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub struct ShrinkArgs {
    pub path: PathBuf,
    pub seed: Option<u64>,
    pub out: PathBuf,
    pub kind: Option<String>,
    pub max_runs: u32,
    pub protocol: Option<String>,
    pub diagram: Option<PathBuf>,
    pub json: bool,
}

/// `acidbase shrink --format json`.
#[derive(serde::Serialize)]
struct ShrinkSummary<'a> {
    scenario: &'a str,
    seed: u64,
    kind: &'a str,
    before: &'a crate::schedule::Sizes,
    after: &'a crate::schedule::Sizes,
    runs: u32,
    counterexample: &'a str,
    digest: &'a str,
    story: &'a [String],
}

/// `acidbase shrink`.
pub fn shrink_command(registry: &Registry, a: ShrinkArgs) -> ExitCode {
    match shrink_inner(registry, a) {
        Ok(code) | Err(code) => code,
    }
}

fn shrink_inner(registry: &Registry, a: ShrinkArgs) -> Result<ExitCode, ExitCode> {
    let s = load(registry, Some(&a.path), a.protocol.as_deref())?;
    let seed = a.seed.unwrap_or(s.seed);
    let source = a.path.display().to_string();
    warnln!("acidbase shrink: {source} --seed {seed} ...");
    let opts = ShrinkOptions {
        kind: a.kind,
        max_runs: a.max_runs,
    };
    let shrunk = shrink(registry, &s, seed, &opts).map_err(bad)?;
    let out = a.out.display().to_string();
    write_file(
        &a.out,
        &counterexample_ron(&shrunk, &source, seed, &out),
        "counterexample",
    )?;
    let told = story(&shrunk.trace, &shrunk.outcome, &focus_txns(&shrunk.outcome));
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
        };
        let j = serde_json::to_string_pretty(&summary)
            .map_err(|e| bad(format!("cannot write JSON: {e}")))?;
        sayln!("{j}");
    } else {
        sayln!("acidbase shrink: {source} --seed {seed}: {}", shrunk.kind);
        sayln!("  before  {}", shrunk.before.line());
        sayln!("  after   {}", shrunk.after.line());
        sayln!("  ({} candidate runs)", shrunk.runs);
        sayln!();
        sayln!("The shrunk run");
        for line in &told {
            sayln!("  {line}");
        }
        sayln!();
        sayln!("Wrote {out}. Reproduce: acidbase run {out}");
    }
    if let Some(p) = &a.diagram {
        let opts = DiagramOptions {
            title: format!("{} — {}", shrunk.scenario.name, shrunk.kind),
            ..Default::default()
        };
        write_file(
            p,
            &diagram::svg(&shrunk.trace, &shrunk.outcome.names, &opts),
            "diagram",
        )?;
        warnln!("acidbase: drew the shrunk run in {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub struct SwarmArgs {
    pub path: Option<PathBuf>,
    pub seeds: String,
    pub faults: Option<String>,
    pub config: Vec<String>,
    pub out: PathBuf,
    pub shrink: bool,
    pub write_all: bool,
    pub jobs: Option<u32>,
    pub protocol: Option<String>,
    pub json: bool,
}

/// `acidbase explore --swarm`: a user's scenario, or the built-in configurations.
pub fn swarm_command(registry: &Registry, a: SwarmArgs) -> ExitCode {
    match swarm_inner(registry, a) {
        Ok(code) | Err(code) => code,
    }
}

fn swarm_inner(registry: &Registry, a: SwarmArgs) -> Result<ExitCode, ExitCode> {
    use crate::swarm::{self, FaultMix};
    let seeds = parse_seeds(&a.seeds).map_err(|e| bad(format!("--seeds: {e}")))?;
    let mix = match a.faults.as_deref() {
        None => None,
        Some(m) => Some(FaultMix::parse(m).ok_or_else(|| {
            bad(format!(
                "--faults {m:?}: expected `all` or `crash-only` (no loss, no partition, bounded delays)"
            ))
        })?),
    };
    let jobs = a.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    // The runs to make: (configuration name, base scenario, fault mix, expectation).
    let mut plan: Vec<(String, Scenario, FaultMix, swarm::Expect)> = Vec::new();
    if let Some(path) = &a.path {
        if !a.config.is_empty() {
            return Err(bad(
                "--config names built-in configurations: give it without a scenario file",
            ));
        }
        let s = load(registry, Some(path), a.protocol.as_deref())?;
        plan.push((
            path.display().to_string(),
            s,
            mix.unwrap_or(FaultMix::All),
            swarm::Expect::Safe,
        ));
    } else {
        let all = swarm::configurations();
        if a.config.iter().any(|c| c == "list") {
            for c in &all {
                let ws: Vec<&str> = c.workloads.iter().map(|w| w.name()).collect();
                sayln!(
                    "{:<40} {:<10} {:<28} {}",
                    c.name,
                    c.faults.name(),
                    ws.join(","),
                    match c.expect {
                        swarm::Expect::Safe => "safe".to_string(),
                        swarm::Expect::Shows(k) => format!("unsafe: shows {}", k.join(" or ")),
                    }
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        for name in &a.config {
            if !all.iter().any(|c| c.name == name) {
                return Err(bad(format!(
                    "--config {name:?}: no such configuration; `--config list` lists them: {}",
                    swarm::configuration_names().join(", ")
                )));
            }
        }
        for c in all
            .iter()
            .filter(|c| a.config.is_empty() || a.config.iter().any(|n| n == c.name))
        {
            for &w in c.workloads {
                let base = swarm::base_scenario(c, w).map_err(bad)?;
                plan.push((
                    format!("{} ({})", c.name, w.name()),
                    base,
                    mix.unwrap_or(c.faults),
                    c.expect,
                ));
            }
        }
    }
    let per = seed_count(&seeds);
    let total = per.saturating_mul(plan.len() as u64);
    let bar = std::sync::Mutex::new(crate::sweep::progress::Progress::new(
        usize::try_from(total).unwrap_or(usize::MAX),
        0,
        true,
    ));
    let mut rows = Vec::new();
    let mut all_ok = true;
    let mut first_failure: Option<PathBuf> = None;
    for (name, base, mix, expect) in &plan {
        let progress = |_: u64, _: u64| {
            if let Ok(mut b) = bar.lock() {
                b.advance(1);
            }
        };
        let e = swarm::swarm(registry, base, *mix, seeds.clone(), jobs, &progress);
        if a.write_all {
            std::fs::create_dir_all(&a.out)
                .map_err(|err| bad(format!("cannot create {}: {err}", a.out.display())))?;
            for seed in seeds.clone() {
                let drawn = swarm::draw(registry, base, seed, *mix).map_err(bad)?;
                let file = a.out.join(format!("{}.ron", drawn.name));
                write_file(
                    &file,
                    &crate::schedule::to_ron(&drawn, &drawn.description),
                    "drawn scenario",
                )?;
            }
        }
        let ok = match expect {
            swarm::Expect::Safe => e.violating_seeds == 0,
            swarm::Expect::Shows(kinds) => e.kinds.iter().any(|k| kinds.contains(&k.kind.as_str())),
        };
        all_ok &= ok;
        // Keep the drawn world of each kind's first seed, to replay and shrink.
        let mut saved = Vec::new();
        if matches!(expect, swarm::Expect::Safe) {
            for k in &e.kinds {
                let drawn = swarm::draw(registry, base, k.first_seed, *mix).map_err(bad)?;
                let file = a.out.join(format!("{}.ron", drawn.name));
                std::fs::create_dir_all(&a.out)
                    .map_err(|err| bad(format!("cannot create {}: {err}", a.out.display())))?;
                let header = format!(
                    "{}\nFirst seed of {} in the swarm of {name} ({} faults).\nReplay: acidbase run {}\nMinimise: acidbase shrink {}",
                    drawn.description,
                    k.kind,
                    mix.name(),
                    file.display(),
                    file.display()
                );
                write_file(
                    &file,
                    &crate::schedule::to_ron(&drawn, &header),
                    "drawn scenario",
                )?;
                first_failure.get_or_insert_with(|| file.clone());
                saved.push((k.kind.clone(), file));
            }
        }
        rows.push((name.clone(), *mix, *expect, e, ok, saved));
    }
    let seconds = bar.lock().map_or(0.0, |mut b| {
        b.finish();
        b.seconds()
    });
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, mix, expect, e, ok, saved)| {
                serde_json::json!({
                    "configuration": name,
                    "faults": mix.name(),
                    "expected": match expect { swarm::Expect::Safe => "safe".to_string(), swarm::Expect::Shows(k) => format!("shows {}", k.join(" or ")) },
                    "as_expected": ok,
                    "exploration": e,
                    "saved": saved.iter().map(|(k, f)| serde_json::json!({"kind": k, "file": f.display().to_string()})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let j = serde_json::to_string_pretty(&serde_json::json!({
            "seeds": a.seeds,
            "runs": total,
            "seconds": seconds,
            "configurations": v,
        }))
        .map_err(|e| bad(format!("cannot write JSON: {e}")))?;
        sayln!("{j}");
    } else {
        sayln!(
            "acidbase explore --swarm: {} configuration(s) x seeds {} = {total} runs in {seconds:.1} s",
            rows.len(),
            a.seeds
        );
        for (name, mix, expect, e, ok, saved) in &rows {
            let verdict = match (expect, ok) {
                (swarm::Expect::Safe, true) => "ok: safe".to_string(),
                (swarm::Expect::Safe, false) => format!("FAILED in {} seeds", e.violating_seeds),
                (swarm::Expect::Shows(_), true) => "ok: anomaly found".to_string(),
                (swarm::Expect::Shows(k), false) => {
                    format!("NOT FOUND: expected {}", k.join(" or "))
                }
            };
            sayln!("  {name:<52} {:<10} {verdict}", mix.name());
            for k in &e.kinds {
                let file = saved
                    .iter()
                    .find(|(kind, _)| *kind == k.kind)
                    .map_or_else(String::new, |(_, f)| format!("  -> {}", f.display()));
                sayln!(
                    "      {:<36} {:>7} seeds, first {}{file}",
                    k.kind,
                    k.seeds,
                    k.first_seed
                );
            }
        }
        if let Some(f) = &first_failure {
            sayln!();
            sayln!("Replay the first failure: acidbase run {}", f.display());
            sayln!("Minimise it:              acidbase shrink {}", f.display());
        }
    }
    if a.shrink {
        if let Some(f) = first_failure {
            let out = f.with_file_name(format!(
                "{}-shrunk.ron",
                f.file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            ));
            let code = shrink_command(
                registry,
                ShrinkArgs {
                    path: f,
                    seed: None,
                    out,
                    kind: None,
                    max_runs: 600,
                    protocol: None,
                    diagram: None,
                    json: a.json,
                },
            );
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
