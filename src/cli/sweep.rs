//! `acidbase sweep` (a scenario over a grid of parameters, series and seeds) and
//! `acidbase merge` (the shards of one sweep combined).

use super::args::ChartFormatArg;
use super::common::jobs_or_cores;
use crate::run::Registry;
use crate::tools::sweep::{ReadOptions, Shard, SweepArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `sweep`, as the command uses them.
pub(super) struct SweepFlags {
    pub(super) file: PathBuf,
    pub(super) jobs: Option<u32>,
    pub(super) out: Option<PathBuf>,
    pub(super) resume: bool,
    pub(super) force: bool,
    pub(super) shard: Option<Shard>,
    pub(super) shards: Option<u32>,
    pub(super) skip_unknown_protocols: bool,
    pub(super) format: ChartFormatArg,
    pub(super) quiet: bool,
    pub(super) stop_after: Option<usize>,
    pub(super) max_runs: usize,
}

/// What `sweep` and `merge` draw when their results are complete: the sweep file's
/// charts, in `format`.
fn sweep_charts(format: ChartFormatArg) -> crate::tools::chart::SweepCharts {
    crate::tools::chart::SweepCharts {
        format: format.into(),
    }
}

/// `acidbase sweep`: the shard resolved from the flags or the job array's environment.
pub(super) fn sweep_command(registry: &Registry, program: &str, f: SweepFlags) -> ExitCode {
    let shard = match Shard::resolve(f.shard, f.shards.map(|n| n as usize), |k| {
        std::env::var(k).ok()
    }) {
        Ok(s) => s,
        Err(e) => {
            warnln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let resume = resume_command(program, &f.file, f.out.as_deref(), f.shard);
    let args = SweepArgs {
        file: f.file,
        jobs: jobs_or_cores(f.jobs),
        out: f.out,
        resume: f.resume,
        force: f.force,
        shard,
        read: ReadOptions {
            skip_unknown_protocols: f.skip_unknown_protocols,
            registry: registry.clone(),
        },
        progress: !f.quiet,
        stop_after: f.stop_after,
        max_runs: f.max_runs,
    };
    super::interrupt::install();
    run_sweep(&args, &sweep_charts(f.format), &resume)
}

/// The command that continues this sweep where it stopped.
fn resume_command(
    program: &str,
    file: &std::path::Path,
    out: Option<&std::path::Path>,
    shard: Option<Shard>,
) -> String {
    let mut c = format!("{program} sweep {} --resume", file.display());
    if let Some(out) = out {
        c += &format!(" --out {}", out.display());
    }
    if let Some(s) = shard {
        c += &format!(" --shard {}/{}", s.index, s.count);
    }
    c
}

fn run_sweep(
    args: &SweepArgs,
    charts: &crate::tools::chart::SweepCharts,
    resume: &str,
) -> ExitCode {
    match crate::tools::sweep::run_sweep(args, charts) {
        Ok(done) => {
            for w in &done.warnings {
                warnln!("warning: {w}");
            }
            let rate = if done.seconds > 0.0 {
                done.ran as f64 / done.seconds
            } else {
                0.0
            };
            sayln!(
                "sweep {}: {} runs in this {}, {} resumed from the journal, {} run now ({:.1} runs/s with {} jobs)",
                done.name,
                done.in_shard,
                if done.in_shard == done.total { "sweep".to_string() } else { format!("shard (of {})", done.total) },
                done.resumed,
                done.ran,
                rate,
                args.jobs
            );
            if done.complete {
                sayln!("wrote {}:", done.out.display());
                for f in &done.files {
                    sayln!("  {}", f.display());
                }
            } else {
                sayln!(
                    "stopped early: {} of {} runs done, every one kept in {}",
                    done.resumed + done.ran,
                    done.in_shard,
                    done.out.join(crate::tools::sweep::journal::FILE).display()
                );
                sayln!("continue with: {resume}");
            }
            if done.interrupted {
                super::interrupt::say_interrupted("the sweep stopped after the runs under way");
                return ExitCode::from(crate::tools::stop::INTERRUPTED_EXIT);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            warnln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `acidbase merge`.
pub(super) fn merge_command(
    dirs: &[PathBuf],
    out: Option<PathBuf>,
    format: ChartFormatArg,
) -> ExitCode {
    match crate::tools::sweep::merge(dirs, out, &sweep_charts(format)) {
        Ok(m) => {
            for w in &m.warnings {
                warnln!("warning: {w}");
            }
            sayln!("merged {} runs into {}", m.runs, m.out.display());
            for f in &m.files {
                sayln!("  {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            warnln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
