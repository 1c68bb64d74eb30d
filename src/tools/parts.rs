//! Explore and the swarm across machines: the part of the seeds one shard runs, the
//! file it writes, and `merge`, which folds the parts into exactly what one machine
//! running every seed prints.
//!
//! A shard (`--shard I/N`, or `--shards N` with a batch system's array index: see
//! [`Shard::resolve`]) runs the seeds at offsets k from the first with k mod N = I —
//! for every row of a swarm — and writes a [`Part`]: the command (everything that
//! shapes the output), a fingerprint of the command and of the scenarios it ran, and
//! each row's [`Exploration`] of its seeds. An exploration is made of commutative
//! folds (counts, least first seeds, a sum of mixed digests), so the parts of all N
//! shards merge into the one exploration of the whole range ([`Exploration::merge`]).
//! The swarm's drawn worlds of each failing kind's first seed are written by the
//! merge, not by the shards, so the directory holds what one machine writes.

use crate::run::Registry;
use crate::tools::explore::{Exploration, Shard};
use crate::tools::swarm::{self, FaultMix, PlanRow};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the part file's layout.
pub const PART_VERSION: u32 = 1;

/// The command a shard ran, bar the shard, `--jobs` and where the part went:
/// everything that decides what the merged output says. Shards merge only when
/// their commands are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCommand {
    /// `explore --swarm` (else a plain explore).
    pub swarm: bool,
    /// The scenario file as given (with --swarm it may be absent).
    pub scenario: Option<String>,
    /// `--protocol`.
    pub protocol: Option<String>,
    /// `--ignore-expect` (plain explore).
    pub ignore_expect: bool,
    /// `--seeds` as given.
    pub seeds: String,
    /// `--format json`.
    pub json: bool,
    /// `--faults` (swarm).
    pub faults: Option<String>,
    /// `--config` (swarm).
    pub config: Vec<String>,
    /// `--out` (swarm): where the merge writes the failing drawn worlds.
    pub out: String,
}

/// One row of a part: a swarm row (its name) or the plain explore (name "").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartRow {
    pub name: String,
    pub exploration: Exploration,
}

/// What one shard of an explore or swarm writes for `merge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// [`PART_VERSION`]: marks the file as an explore part.
    pub acidbase_explore_part: u32,
    pub command: PartCommand,
    /// FNV-1a over the command and every scenario the shard ran (for a swarm, each
    /// row's base scenario and fault mix).
    pub fingerprint: String,
    /// `[I, N]`.
    pub shard: [usize; 2],
    /// The shard's wall time (the merged swarm summary gives the sum).
    pub seconds: f64,
    pub rows: Vec<PartRow>,
}

/// The default file a shard writes its part to.
pub fn default_file(shard: Shard) -> PathBuf {
    PathBuf::from(format!(
        "explore-shard-{}-of-{}.json",
        shard.index, shard.count
    ))
}

/// The fingerprint of a command and the scenarios it runs (canonical JSON, FNV-1a).
pub fn fingerprint(command: &PartCommand, scenarios: &[serde_json::Value]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(serde_json::to_string(command)
        .expect("a command serialises")
        .as_bytes());
    for s in scenarios {
        eat(s.to_string().as_bytes());
    }
    format!("{h:016x}")
}

/// The fingerprint of a swarm's plan under `command`.
pub fn swarm_fingerprint(command: &PartCommand, plan: &[PlanRow]) -> String {
    let scenarios: Vec<serde_json::Value> = plan
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "faults": r.mix.name(),
                "base": serde_json::to_value(&r.base).expect("a scenario serialises"),
            })
        })
        .collect();
    fingerprint(command, &scenarios)
}

impl Part {
    /// The part as the file holds it (pretty JSON and a final newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a part serialises");
        s.push('\n');
        s
    }
}

/// What a merge of parts prints, and the exit code one machine would have given.
#[derive(Clone, Debug)]
pub struct Merged {
    /// Exactly the standard output of the unsharded command.
    pub stdout: String,
    /// 0: no seed failed (swarm: every row as expected); 1: otherwise.
    pub exit: u8,
    /// The swarm's drawn worlds written (to the command's `--out`).
    pub files: Vec<PathBuf>,
}

/// Reads part files: each must be one, of one command, and the shards must be
/// 0..N-1 of one N, each once.
pub fn read_parts(files: &[PathBuf]) -> Result<Vec<Part>, String> {
    let mut parts: Vec<(PathBuf, Part)> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let p: Part = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a part written by explore --shard ({e})",
                f.display()
            )
        })?;
        if p.acidbase_explore_part != PART_VERSION {
            return Err(format!(
                "{}: a part of layout version {}, this build reads version {PART_VERSION}",
                f.display(),
                p.acidbase_explore_part
            ));
        }
        if let Some((f0, p0)) = parts.first() {
            if p.fingerprint != p0.fingerprint || p.command != p0.command {
                return Err(format!(
                    "{}: belongs to another run (fingerprint {}, expected {} as in {}): merge the shards of one command, which differ only in --shard, --jobs and --shard-out",
                    f.display(),
                    p.fingerprint,
                    p0.fingerprint,
                    f0.display()
                ));
            }
            if p.shard[1] != p0.shard[1] {
                return Err(format!(
                    "{}: shard {}/{} of another split than {} (shard {}/{}): every shard must be of the same N",
                    f.display(),
                    p.shard[0],
                    p.shard[1],
                    f0.display(),
                    p0.shard[0],
                    p0.shard[1]
                ));
            }
        }
        let [i, n] = p.shard;
        if n == 0 || i >= n {
            return Err(format!("{}: shard {i}/{n} is not one", f.display()));
        }
        if let Some((other, _)) = parts.iter().find(|(_, q)| q.shard[0] == i) {
            return Err(format!(
                "{}: shard {i}/{n} is given twice (also {}): give each shard once",
                f.display(),
                other.display()
            ));
        }
        parts.push((f.clone(), p));
    }
    let Some((_, p0)) = parts.first() else {
        return Err("merge: give at least one part".into());
    };
    let n = p0.shard[1];
    if parts.len() != n {
        let missing: Vec<String> = (0..n)
            .filter(|i| !parts.iter().any(|(_, p)| p.shard[0] == *i))
            .map(|i| format!("{i}/{n}"))
            .collect();
        return Err(format!(
            "merge: {} of {n} shards are missing ({}): run them (explore … --shard I/{n}) and give every part",
            missing.len(),
            missing.join(", ")
        ));
    }
    parts.sort_by_key(|(_, p)| p.shard[0]);
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}

/// Row `r`'s explorations over every part, merged.
fn merged_row(parts: &[Part], r: usize) -> Result<Exploration, String> {
    let row: Vec<Exploration> = parts
        .iter()
        .map(|p| p.rows.get(r).map(|x| x.exploration.clone()))
        .collect::<Option<Vec<_>>>()
        .ok_or("merge: the parts hold different rows")?;
    Exploration::merge(&row).ok_or_else(|| {
        "merge: a part is interrupted or of another scenario: run its shard again".to_string()
    })
}

/// Merges `files` (parts of one explore or swarm command) into what one machine
/// running every seed prints; `program` names the binary in the commands printed,
/// `json` overrides the shards' `--format`, `out` their swarm `--out`. Nothing is
/// written unless every part is there and agrees.
pub fn merge(
    registry: &Registry,
    program: &str,
    files: &[PathBuf],
    json: Option<bool>,
    out: Option<&Path>,
) -> Result<Merged, String> {
    let parts = read_parts(files)?;
    let command = parts[0].command.clone();
    let rows = parts[0].rows.len();
    if parts.iter().any(|p| {
        p.rows.len() != rows
            || p.rows
                .iter()
                .zip(&parts[0].rows)
                .any(|(a, b)| a.name != b.name)
    }) {
        return Err("merge: the parts hold different rows".into());
    }
    let json = json.unwrap_or(command.json);
    if !command.swarm {
        if out.is_some() {
            return Err(
                "merge --out: the parts of a plain explore write no files (it is for a sweep's shards and a swarm's failing worlds)"
                    .into(),
            );
        }
        let e = merged_row(&parts, 0)?;
        let stdout = if json {
            let mut j = serde_json::to_string_pretty(&e)
                .map_err(|err| format!("cannot write JSON: {err}"))?;
            j.push('\n');
            j
        } else {
            e.to_text(
                program,
                command.scenario.as_deref().unwrap_or_default(),
                command.protocol.as_deref(),
            )
        };
        return Ok(Merged {
            stdout,
            exit: u8::from(e.violating_seeds > 0),
            files: Vec::new(),
        });
    }
    // The swarm: the plan again, from the same command, so the failing worlds can
    // be drawn; its fingerprint says the scenarios are still those the shards ran.
    let plan = swarm_plan(registry, &command)?;
    if swarm_fingerprint(&command, &plan) != parts[0].fingerprint || plan.len() != rows {
        return Err(format!(
            "merge: the scenarios changed since the shards ran (fingerprint {}, the shards': {}): run the shards again",
            swarm_fingerprint(&command, &plan),
            parts[0].fingerprint
        ));
    }
    let explorations = (0..rows)
        .map(|r| merged_row(&parts, r))
        .collect::<Result<Vec<_>, _>>()?;
    let out = out.map_or_else(|| PathBuf::from(&command.out), Path::to_path_buf);
    let mut results = Vec::new();
    for (row, e) in plan.iter().zip(explorations) {
        results.push(swarm::judge(registry, row, e, &out, program)?);
    }
    let seeds = crate::tools::explore::parse_seeds(&command.seeds).map_err(|e| e.to_string())?;
    let total = crate::tools::explore::seed_count(&seeds).saturating_mul(plan.len() as u64);
    let seconds: f64 = parts.iter().map(|p| p.seconds).sum();
    let stdout = if json {
        swarm::to_json(&command.seeds, total, seconds, &results)
    } else {
        swarm::to_text(program, &command.seeds, total, seconds, &results)
    };
    let all_ok = results.iter().all(|r| r.ok);
    Ok(Merged {
        stdout,
        exit: u8::from(!all_ok),
        files: results
            .iter()
            .flat_map(|r| r.saved.iter().map(|(_, f)| f.clone()))
            .collect(),
    })
}

/// The swarm plan `command` runs: its scenario file (with `--protocol`), or its
/// built-in configurations.
pub fn swarm_plan(registry: &Registry, command: &PartCommand) -> Result<Vec<PlanRow>, String> {
    let mix = match command.faults.as_deref() {
        None => None,
        Some(m) => Some(FaultMix::parse(m).ok_or_else(|| {
            format!(
                "--faults {m:?}: expected `all` or `crash-only` (no loss, no partition, bounded delays)"
            )
        })?),
    };
    let file = match &command.scenario {
        None => None,
        Some(path) => {
            let loaded = registry.load(Path::new(path)).map_err(|e| e.to_string())?;
            let v = match &command.protocol {
                None => loaded,
                Some(p) => registry
                    .with_protocol(&loaded, p)
                    .map_err(|e| format!("--protocol {p}: {e}"))?,
            };
            Some((path.clone(), v.into_loaded().scenario))
        }
    };
    swarm::plan(file, &command.config, mix)
}
