//! `acidbase explore`: one scenario under many seeds, failures grouped by kind; and its
//! `--swarm` form, where each seed draws the whole world around a scenario or a
//! built-in configuration.

use super::common::{bad, jobs_or_cores, load, write_file};
use super::shrink::{shrink_command, ShrinkArgs};
use crate::run::Registry;
use crate::tools::explore::{explore_shard, parse_seeds, shard_seed_count, Shard};
use crate::tools::parts::{self, Part, PartCommand, PartRow};
use crate::tools::progress::Progress;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The flags of `explore` (without --swarm), as the command uses them.
pub(super) struct ExploreArgs {
    pub(super) path: PathBuf,
    pub(super) seeds: String,
    pub(super) jobs: Option<u32>,
    pub(super) protocol: Option<String>,
    pub(super) ignore_expect: bool,
    pub(super) json: bool,
    pub(super) shard: ShardFlags,
}

/// `--shard I/N`, `--shards N` and `--shard-out FILE`.
pub(super) struct ShardFlags {
    pub(super) shard: Option<Shard>,
    pub(super) shards: Option<u32>,
    pub(super) out: Option<PathBuf>,
}

impl ShardFlags {
    /// The shard this process runs, if the flags ask for one (`--shards N` takes
    /// the index from a batch system's array, as sweeps do); `None` runs every seed.
    fn resolve(&self) -> Result<Option<Shard>, ExitCode> {
        if self.shard.is_none() && self.shards.is_none() {
            if self.out.is_some() {
                return Err(bad("--shard-out needs --shard I/N or --shards N"));
            }
            return Ok(None);
        }
        Shard::resolve(self.shard, self.shards.map(|n| n as usize), |k| {
            std::env::var(k).ok()
        })
        .map(Some)
        .map_err(bad)
    }
}

/// Writes a shard's part and says what it holds and how to merge it.
fn write_part(program: &str, part: &Part, file: Option<&Path>, in_shard: u64) -> ExitCode {
    let shard = Shard {
        index: part.shard[0],
        count: part.shard[1],
    };
    let file = file.map_or_else(|| parts::default_file(shard), Path::to_path_buf);
    if let Err(code) = write_file(&file, &part.to_json(), "shard's part") {
        return code;
    }
    let failing: u64 = part
        .rows
        .iter()
        .map(|r| r.exploration.violating_seeds)
        .sum();
    let what = if part.command.swarm {
        format!(
            "{in_shard} seeds x {} row(s), {failing} failing runs",
            part.rows.len()
        )
    } else {
        format!("{in_shard} seeds, {failing} failing")
    };
    sayln!(
        "shard {}/{} of seeds {}: {what}; wrote {}",
        shard.index,
        shard.count,
        part.command.seeds,
        file.display()
    );
    sayln!(
        "Merge the parts of all {} shards: {program} merge PART... (prints what one machine prints)",
        shard.count
    );
    ExitCode::SUCCESS
}

/// `acidbase explore`; `program` names the binary in the commands it prints.
pub(super) fn explore_command(registry: &Registry, program: &str, a: ExploreArgs) -> ExitCode {
    let protocol = a.protocol.as_deref();
    let s = match load(registry, Some(&a.path), protocol) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seeds = match parse_seeds(&a.seeds) {
        Ok(r) => r,
        Err(e) => return bad(format!("--seeds: {e}")),
    };
    let shard = match a.shard.resolve() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let jobs = jobs_or_cores(a.jobs);
    let total = shard_seed_count(&seeds, shard.unwrap_or(Shard::ALL));
    let (first, last) = (*seeds.start(), *seeds.end());
    super::interrupt::install();
    let bar = std::sync::Mutex::new(Progress::new("seeds", Some(total), 0, true));
    let progress = |done: u64, failing: u64| {
        if let Ok(mut b) = bar.lock() {
            b.set(done, format!("{failing} failing"));
        }
    };
    let e = explore_shard(
        &s,
        seeds,
        shard.unwrap_or(Shard::ALL),
        jobs,
        a.ignore_expect,
        &progress,
    );
    let seconds = bar.lock().map_or(0.0, |mut b| {
        b.finish();
        b.seconds()
    });
    if let Some(shard) = shard {
        if e.interrupted {
            super::interrupt::say_interrupted(&format!(
                "shard {}/{} stopped after {} of its {total} seeds; nothing written: run the shard again",
                shard.index, shard.count, e.seeds_run
            ));
            return ExitCode::from(crate::stop::INTERRUPTED_EXIT);
        }
        let command = PartCommand {
            swarm: false,
            scenario: Some(a.path.display().to_string()),
            protocol: a.protocol.clone(),
            ignore_expect: a.ignore_expect,
            seeds: a.seeds.clone(),
            json: a.json,
            faults: None,
            config: Vec::new(),
            out: String::new(),
        };
        let scenario = match serde_json::to_value(s.scenario()) {
            Ok(v) => v,
            Err(err) => return bad(format!("cannot write JSON: {err}")),
        };
        let part = Part {
            acidbase_explore_part: parts::PART_VERSION,
            fingerprint: parts::fingerprint(&command, &[scenario]),
            command,
            shard: [shard.index, shard.count],
            seconds,
            rows: vec![PartRow {
                name: String::new(),
                exploration: e,
            }],
        };
        return write_part(program, &part, a.shard.out.as_deref(), total);
    }
    if a.json {
        match serde_json::to_string_pretty(&e) {
            Ok(j) => sayln!("{j}"),
            Err(err) => return bad(format!("cannot write JSON: {err}")),
        }
    } else {
        say!(
            "{}",
            e.to_text(program, &a.path.display().to_string(), protocol)
        );
    }
    if e.interrupted {
        let mut extra = protocol.map_or_else(String::new, |p| format!(" --protocol {p}"));
        if a.ignore_expect {
            extra += " --ignore-expect";
        }
        super::interrupt::say_interrupted(&format!(
            "{} of {total} seeds run (seeds {first}..={}); the rest: {program} explore {} --seeds {}..={last}{extra}",
            e.seeds_run,
            first + e.seeds_run.saturating_sub(1),
            a.path.display(),
            first + e.seeds_run,
        ));
        return ExitCode::from(crate::stop::INTERRUPTED_EXIT);
    }
    if e.violating_seeds > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The flags of `explore --swarm`, as the command uses them.
pub(super) struct SwarmArgs {
    pub(super) path: Option<PathBuf>,
    pub(super) seeds: String,
    pub(super) faults: Option<String>,
    pub(super) config: Vec<String>,
    pub(super) out: PathBuf,
    pub(super) shrink: bool,
    pub(super) write_all: bool,
    pub(super) jobs: Option<u32>,
    pub(super) protocol: Option<String>,
    pub(super) json: bool,
    pub(super) shard: ShardFlags,
}

/// `acidbase explore --swarm`: a user's scenario, or the built-in configurations;
/// `program` names the binary in the commands it prints.
pub(super) fn swarm_command(registry: &Registry, program: &str, a: SwarmArgs) -> ExitCode {
    match swarm_inner(registry, program, a) {
        Ok(code) | Err(code) => code,
    }
}

fn swarm_inner(registry: &Registry, program: &str, a: SwarmArgs) -> Result<ExitCode, ExitCode> {
    use crate::tools::swarm::{self, FaultMix};
    let seeds = parse_seeds(&a.seeds).map_err(|e| bad(format!("--seeds: {e}")))?;
    let mix = match a.faults.as_deref() {
        None => None,
        Some(m) => Some(FaultMix::parse(m).ok_or_else(|| {
            bad(format!(
                "--faults {m:?}: expected `all` or `crash-only` (no loss, no partition, bounded delays)"
            ))
        })?),
    };
    let jobs = jobs_or_cores(a.jobs);
    if a.path.is_none() && a.config.iter().any(|c| c == "list") {
        for c in &swarm::configurations() {
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
    let file = match &a.path {
        Some(path) => {
            if !a.config.is_empty() {
                return Err(bad(
                    "--config names built-in configurations: give it without a scenario file",
                ));
            }
            let s = load(registry, Some(path), a.protocol.as_deref())?;
            Some((path.display().to_string(), s.into_loaded().scenario))
        }
        None => None,
    };
    let plan = swarm::plan(file, &a.config, mix).map_err(bad)?;
    let shard = a.shard.resolve()?;
    if shard.is_some() && a.shrink {
        return Err(bad(
            "--shrink with --shard: a shard does not know the first failure of every seed; merge the shards, then run the shrink command the merge prints",
        ));
    }
    let per = shard_seed_count(&seeds, shard.unwrap_or(Shard::ALL));
    let total = per.saturating_mul(plan.len() as u64);
    super::interrupt::install();
    let bar = std::sync::Mutex::new(Progress::new("runs", Some(total), 0, true));
    let mut rows = Vec::new();
    let mut explored = Vec::new();
    for row in &plan {
        let progress = |_: u64, _: u64| {
            if let Ok(mut b) = bar.lock() {
                b.advance(1);
            }
        };
        let e = swarm::swarm_shard(
            registry,
            &row.base,
            row.mix,
            seeds.clone(),
            shard.unwrap_or(Shard::ALL),
            jobs,
            &progress,
        );
        if a.write_all {
            let (first, n) = (*seeds.start(), shard.unwrap_or(Shard::ALL));
            let mine = seeds
                .clone()
                .filter(|s| n.has(((s - first) % n.count as u64) as usize));
            swarm::write_drawn(registry, row, mine, &a.out).map_err(bad)?;
        }
        let stopped = e.interrupted;
        if shard.is_some() {
            explored.push(PartRow {
                name: row.name.clone(),
                exploration: e,
            });
        } else {
            // Keep the drawn world of each kind's first seed, to replay and shrink.
            rows.push(swarm::judge(registry, row, e, &a.out, program).map_err(bad)?);
        }
        if stopped {
            break;
        }
    }
    let interrupted = rows.last().is_some_and(|r| r.exploration.interrupted)
        || explored.last().is_some_and(|r| r.exploration.interrupted);
    let seconds = bar.lock().map_or(0.0, |mut b| {
        b.finish();
        b.seconds()
    });
    if let Some(shard) = shard {
        if interrupted {
            super::interrupt::say_interrupted(&format!(
                "shard {}/{} stopped in row {} of {}; nothing written: run the shard again",
                shard.index,
                shard.count,
                explored.len(),
                plan.len()
            ));
            return Ok(ExitCode::from(crate::stop::INTERRUPTED_EXIT));
        }
        let command = PartCommand {
            swarm: true,
            scenario: a.path.as_ref().map(|p| p.display().to_string()),
            protocol: a.protocol.clone(),
            ignore_expect: false,
            seeds: a.seeds.clone(),
            json: a.json,
            faults: a.faults.clone(),
            config: a.config.clone(),
            out: a.out.display().to_string(),
        };
        let part = Part {
            acidbase_explore_part: parts::PART_VERSION,
            fingerprint: parts::swarm_fingerprint(&command, &plan),
            command,
            shard: [shard.index, shard.count],
            seconds,
            rows: explored,
        };
        return Ok(write_part(program, &part, a.shard.out.as_deref(), per));
    }
    if a.json {
        say!("{}", swarm::to_json(&a.seeds, total, seconds, &rows));
    } else {
        say!(
            "{}",
            swarm::to_text(program, &a.seeds, total, seconds, &rows)
        );
    }
    if a.shrink && !interrupted {
        if let Some(f) = swarm::first_failure(&rows).map(Path::to_path_buf) {
            let out = f.with_file_name(format!(
                "{}-shrunk.ron",
                f.file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            ));
            let code = shrink_command(
                registry,
                program,
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
    if interrupted {
        super::interrupt::say_interrupted(&format!(
            "{} of {} configuration(s) run, the last one in part; what they found is above",
            rows.len(),
            plan.len()
        ));
        return Ok(ExitCode::from(crate::stop::INTERRUPTED_EXIT));
    }
    Ok(if rows.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `acidbase merge` of explore or swarm parts: prints what one machine prints and
/// exits as it would have; exit 2, writing nothing, when the parts do not make one
/// whole run.
pub(super) fn merge_parts_command(
    registry: &Registry,
    program: &str,
    files: &[PathBuf],
    json: Option<bool>,
    out: Option<&Path>,
) -> ExitCode {
    match parts::merge(registry, program, files, json, out) {
        Ok(m) => {
            say!("{}", m.stdout);
            ExitCode::from(m.exit)
        }
        Err(e) => bad(e),
    }
}
