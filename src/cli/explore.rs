//! `acidbase explore`: one scenario under many seeds, failures grouped by kind; and its
//! `--swarm` form, where each seed draws the whole world around a scenario or a
//! built-in configuration.

use super::common::{bad, jobs_or_cores, load, write_file};
use super::shrink::{shrink_command, ShrinkArgs};
use crate::run::Registry;
use crate::scenario::Scenario;
use crate::tools::explore::{explore, parse_seeds, seed_count};
use crate::tools::progress::Progress;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `explore` (without --swarm), as the command uses them.
pub(super) struct ExploreArgs {
    pub(super) path: PathBuf,
    pub(super) seeds: String,
    pub(super) jobs: Option<u32>,
    pub(super) protocol: Option<String>,
    pub(super) ignore_expect: bool,
    pub(super) json: bool,
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
    let jobs = jobs_or_cores(a.jobs);
    let total = seed_count(&seeds);
    let (first, last) = (*seeds.start(), *seeds.end());
    super::interrupt::install();
    let bar = std::sync::Mutex::new(Progress::new("seeds", Some(total), 0, true));
    let progress = |done: u64, failing: u64| {
        if let Ok(mut b) = bar.lock() {
            b.set(done, format!("{failing} failing"));
        }
    };
    let e = explore(&s, seeds, jobs, a.ignore_expect, &progress);
    if let Ok(mut b) = bar.lock() {
        b.finish();
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
        return ExitCode::from(crate::tools::stop::INTERRUPTED_EXIT);
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
            s.into_loaded().scenario,
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
    super::interrupt::install();
    let bar = std::sync::Mutex::new(Progress::new("runs", Some(total), 0, true));
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
                let drawn = drawn.scenario();
                let file = a.out.join(format!("{}.ron", drawn.name));
                write_file(
                    &file,
                    &crate::tools::schedule::to_ron(drawn, &drawn.description),
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
                let drawn = drawn.scenario();
                let file = a.out.join(format!("{}.ron", drawn.name));
                std::fs::create_dir_all(&a.out)
                    .map_err(|err| bad(format!("cannot create {}: {err}", a.out.display())))?;
                let header = format!(
                    "{}\nFirst seed of {} in the swarm of {name} ({} faults).\nReplay: {program} run {}\nMinimise: {program} shrink {}",
                    drawn.description,
                    k.kind,
                    mix.name(),
                    file.display(),
                    file.display()
                );
                write_file(
                    &file,
                    &crate::tools::schedule::to_ron(drawn, &header),
                    "drawn scenario",
                )?;
                first_failure.get_or_insert_with(|| file.clone());
                saved.push((k.kind.clone(), file));
            }
        }
        let stopped = e.interrupted;
        rows.push((name.clone(), *mix, *expect, e, ok, saved));
        if stopped {
            break;
        }
    }
    let interrupted = rows.last().is_some_and(|r| r.3.interrupted);
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
            "{program} explore --swarm: {} configuration(s) x seeds {} = {total} runs in {seconds:.1} s",
            rows.len(),
            a.seeds
        );
        for (name, mix, expect, e, ok, saved) in &rows {
            let verdict = match (expect, ok) {
                _ if e.interrupted => format!("interrupted after {} seeds", e.seeds_run),
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
            sayln!("Replay the first failure: {program} run {}", f.display());
            sayln!("Minimise it:              {program} shrink {}", f.display());
        }
    }
    if a.shrink && !interrupted {
        if let Some(f) = first_failure {
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
        return Ok(ExitCode::from(crate::tools::stop::INTERRUPTED_EXIT));
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
