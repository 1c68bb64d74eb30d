//! `acidbase run` (alias `replay`): one scenario, with its trace, schedule export and
//! sequence diagram written where the flags say.

use super::common::{bad, load, write_file};
use crate::report::Report;
use crate::run::{Registry, TraceOut};
use crate::tools::diagram::{self, DiagramOptions};
use crate::tools::schedule::{export, to_ron};
use crate::tools::tracelog;
use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

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

/// The flags of `run`, as the command uses them.
pub(super) struct RunArgs {
    pub(super) path: Option<PathBuf>,
    pub(super) seed: Option<u64>,
    pub(super) protocol: Option<String>,
    pub(super) json: bool,
    pub(super) trace: Option<PathBuf>,
    pub(super) export_schedule: Option<PathBuf>,
    pub(super) diagram: Option<PathBuf>,
    pub(super) txn: Option<u64>,
    pub(super) from: Option<f64>,
    pub(super) to: Option<f64>,
    pub(super) otlp: Option<PathBuf>,
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

/// `acidbase run` (and `replay`); `program` names the binary in the commands it prints.
pub(super) fn run_command(registry: &Registry, program: &str, a: RunArgs) -> ExitCode {
    match run_inner(registry, program, a) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(registry: &Registry, program: &str, a: RunArgs) -> Result<ExitCode, ExitCode> {
    diagram::check_window(a.from, a.to).map_err(bad)?;
    let v = load(registry, a.path.as_deref(), a.protocol.as_deref())?;
    let s = v.scenario();
    let seed = a.seed.unwrap_or(s.seed);
    if let Some(w) = crate::run::size_warning(s) {
        warnln!("warning: {w}");
    }
    let buf = (a.diagram.is_some() || a.otlp.is_some()).then(|| Rc::new(RefCell::new(Vec::new())));
    let error = Rc::new(RefCell::new(None));
    let file = match &a.trace {
        Some(p) => Some(
            std::fs::File::create(p)
                .map_err(|e| bad(format!("cannot create trace file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    if let Some(p) = &a.otlp {
        // As with the trace: a file that cannot be created stops the run before it starts.
        std::fs::File::create(p)
            .map_err(|e| bad(format!("cannot create OTLP file {}: {e}", p.display())))?;
    }
    let wants_trace = a.trace.is_some() || buf.is_some();
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
    let outcome = v.run_with(seed, opts);
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
        let exported = export(s, seed, &outcome);
        let header = format!(
            "The concrete fault schedule of `{program} run {file_name} --seed {seed}`\n\
             (digest {}), exported by --export-schedule: every fault is scripted, none is\n\
             drawn at random. `{program} run {}` replays the same run, to the digest.",
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
    let text = buf
        .as_ref()
        .map(|b| String::from_utf8_lossy(&b.borrow()).into_owned());
    if let (Some(p), Some(text)) = (&a.otlp, &text) {
        let spans = tracelog::spans_of(text);
        super::trace::write_otlp(p, &spans, &outcome.names)?;
    }
    if let (Some(p), Some(text)) = (&a.diagram, &text) {
        let trace = tracelog::parse(text);
        let opts = DiagramOptions {
            txn: a.txn,
            from_ms: a.from,
            to_ms: a.to,
            title: match a.txn {
                Some(t) => format!(
                    "{} — seed {seed} — {}",
                    s.name,
                    crate::tools::spans::traces_named(&[t])
                ),
                None => format!("{} — seed {seed}", s.name),
            },
            ..Default::default()
        };
        let drawn = diagram::draw(&trace, &outcome.names, &opts);
        write_file(p, &drawn.svg, "diagram")?;
        warnln!("acidbase: wrote the sequence diagram to {}", p.display());
        for n in &drawn.notices {
            warnln!("acidbase: {n}");
        }
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
        warnln!("acidbase: {what}; reproduce with: {program} run{file} --seed {seed}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
