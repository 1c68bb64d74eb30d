//! `acidbase compare`: one scenario under several protocols, the same faults, side by
//! side.

use super::args::TableFormat;
use super::common::{jobs_or_cores, load_or_default};
use crate::run::Registry;
use crate::tools::compare::{compare, CompareArgs};
use crate::tools::progress::Progress;
use std::path::PathBuf;
use std::process::ExitCode;

/// `acidbase compare`.
pub(super) fn compare_command(
    registry: &Registry,
    path: Option<PathBuf>,
    protocols: Vec<String>,
    seed: Option<u64>,
    seeds: u64,
    jobs: Option<u32>,
    format: TableFormat,
) -> ExitCode {
    let loaded = match load_or_default(registry, path.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let explicit = !protocols.is_empty();
    let named: Vec<String> = if explicit {
        protocols.iter().map(|p| p.trim().to_string()).collect()
    } else {
        registry.names().iter().map(|p| p.to_string()).collect()
    };
    let mut list: Vec<String> = Vec::with_capacity(named.len());
    for p in named {
        if !list.contains(&p) {
            list.push(p);
        }
    }
    if let Some(bad) = list.iter().find(|p| registry.get(p).is_none()) {
        warnln!(
            "error: --protocols: unknown protocol {bad:?}; expected a comma-separated list of: {}",
            registry.names().join(", ")
        );
        return ExitCode::from(2);
    }
    let jobs = jobs_or_cores(jobs);
    super::interrupt::install();
    let bar = std::sync::Mutex::new(Progress::new("runs", None, 0, true));
    let progress = |done: u64, total: u64| {
        if let Ok(mut b) = bar.lock() {
            b.set_total(total);
            b.set(done, String::new());
        }
    };
    let args = CompareArgs {
        registry,
        loaded: &loaded,
        protocols: list,
        explicit,
        first_seed: seed.unwrap_or(loaded.scenario.seed),
        seeds,
        jobs,
        progress: &progress,
    };
    let table = compare(&args);
    if let Ok(mut b) = bar.lock() {
        b.finish();
    }
    let table = match table {
        Ok(t) => t,
        Err(e) => {
            warnln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if table.interrupted && table.seeds.is_empty() {
        super::interrupt::say_interrupted(
            "no seed had run under every protocol yet: there is no fair table to print",
        );
        return ExitCode::from(crate::stop::INTERRUPTED_EXIT);
    }
    match format {
        TableFormat::Text => say!("{}", table.to_text()),
        TableFormat::Csv => say!("{}", table.to_csv()),
        TableFormat::Json => match serde_json::to_string_pretty(&table) {
            Ok(j) => sayln!("{j}"),
            Err(e) => {
                warnln!("error: cannot write the table as JSON: {e}");
                return ExitCode::from(2);
            }
        },
    }
    if table.interrupted {
        super::interrupt::say_interrupted(&format!(
            "the table covers the first {} of {seeds} seeds, every protocol the same ones",
            table.seeds.len()
        ));
        return ExitCode::from(crate::stop::INTERRUPTED_EXIT);
    }
    ExitCode::SUCCESS
}
