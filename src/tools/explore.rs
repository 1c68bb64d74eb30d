//! `acidbase explore`: one scenario under many seeds, in parallel, grouped by what
//! went wrong.
//!
//! Each seed's run is single-threaded and deterministic; threads only pick which seed
//! to run next, and results are put back in seed order, so the summary is the same at
//! any `--jobs`. A [`Shard`] runs every N-th seed of the range (the seed at offset
//! k from the first where k mod N = I); [`Exploration::merge`] folds the shards'
//! explorations into the one a single machine makes of the whole range.

use crate::report::Report;
use crate::run::Validated;
pub use crate::tools::sweep::Shard;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The kinds of failure a run can show, strongest first. Explore groups by them;
/// shrink keeps one of them while it minimises.
///
/// - `atomicity`: some participants applied a transaction others rolled back;
/// - `partial-entry`: a read was served a partially filled composite cache entry
///   (protocol `cache`, `cache.partial_served`): a consumer got a structure with
///   parts missing, whenever it happened (not a state at quiescence);
/// - `invariant`: a business invariant was broken at quiescence (money, stock, an
///   unpaid sale, an order the services disagree on);
/// - `blocked`: after the drain, a transaction still unresolved (in doubt or half
///   applied) or a participant still in doubt (a hanging reservation);
/// - `counts`: the counts contradict each other (committed + aborted + unresolved is
///   not the number begun) — a bug in a protocol's observations or in the checkers;
/// - `event-guard`: the run hit `max_events`;
/// - `expect: METRIC COND`: an expectation of the scenario failed.
pub fn violation_kinds(report: &Report) -> Vec<String> {
    let mut kinds = Vec::new();
    let t = &report.txns;
    if report.violations.atomicity > 0 {
        kinds.push("atomicity".to_string());
    }
    if report.cache.partial_served > 0 {
        kinds.push("partial-entry".to_string());
    }
    if report.truncated {
        // Cut short: nothing else was judged (no quiescence).
        kinds.push("event-guard".to_string());
        return kinds;
    }
    if report.violations.invariant > 0 {
        kinds.push("invariant".to_string());
    }
    if t.unresolved > 0 || t.in_doubt > 0 {
        kinds.push("blocked".to_string());
    }
    if t.committed + t.aborted + t.unresolved != t.begun {
        kinds.push("counts".to_string());
    }
    for p in report.properties.iter().filter(|p| p.failed()) {
        kinds.push(format!("property: {}", p.name));
    }
    for e in &report.expectations.results {
        if !e.held {
            kinds.push(format!("expect: {} {}", e.metric, e.condition));
        }
    }
    kinds
}

/// The fixed failure kinds, strongest first.
pub const KIND_ORDER: &[&str] = &[
    "atomicity",
    "partial-entry",
    "invariant",
    "blocked",
    "counts",
    "event-guard",
];

/// Does `report` show failure kind `kind`?
pub fn has_kind(report: &Report, kind: &str) -> bool {
    violation_kinds(report).iter().any(|k| k == kind)
}

/// Seeds that [`parse_seeds`] cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedsError {
    /// `text` is not `A..B`, `A..=B` or one seed (each a `u64`).
    Unreadable { text: String },
    /// `text` names no seed: its end is not after its start.
    Empty { text: String },
}

impl fmt::Display for SeedsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedsError::Unreadable { text } => write!(
                f,
                "cannot read seeds {text:?}: expected A..B (B excluded), A..=B, or one seed, e.g. 1..1000"
            ),
            SeedsError::Empty { text } => write!(
                f,
                "seeds {text:?} is empty: the end must be after the start"
            ),
        }
    }
}

impl std::error::Error for SeedsError {}

/// The seeds to run: `A..B` (B excluded), `A..=B`, or a single seed `A`. Any seed a
/// run accepts can be named, `u64::MAX` included (`A..=18446744073709551615`).
pub fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, SeedsError> {
    let bad = || SeedsError::Unreadable {
        text: text.to_string(),
    };
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let empty = || SeedsError::Empty {
        text: text.to_string(),
    };
    let range = if let Some((a, b)) = text.split_once("..=") {
        num(a)?..=num(b)?
    } else if let Some((a, b)) = text.split_once("..") {
        let end = num(b)?.checked_sub(1).ok_or_else(empty)?;
        num(a)?..=end
    } else {
        let a = num(text)?;
        a..=a
    };
    if range.is_empty() {
        return Err(empty());
    }
    Ok(range)
}

/// How many seeds `seeds` holds (saturating: `0..=u64::MAX` holds one more than a
/// `u64` counts).
pub fn seed_count(seeds: &std::ops::RangeInclusive<u64>) -> u64 {
    if seeds.is_empty() {
        0
    } else {
        (seeds.end() - seeds.start()).saturating_add(1)
    }
}

/// How many seeds of `seeds` shard `shard` runs: those at an offset k from the
/// first seed with k mod N = I.
pub fn shard_seed_count(seeds: &std::ops::RangeInclusive<u64>, shard: Shard) -> u64 {
    if seeds.is_empty() {
        return 0;
    }
    let span = seeds.end() - seeds.start();
    let (i, n) = (shard.index as u64, shard.count as u64);
    if i > span {
        0
    } else {
        ((span - i) / n).saturating_add(1)
    }
}

/// One failure kind over all explored seeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KindSummary {
    pub kind: String,
    pub seeds: u64,
    pub first_seed: u64,
}

/// What explore found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Exploration {
    pub scenario: String,
    pub protocol: String,
    pub seeds_run: u64,
    pub violating_seeds: u64,
    pub first_violating_seed: Option<u64>,
    pub kinds: Vec<KindSummary>,
    /// A digest of every seed's trace digest, independent of the order the seeds ran
    /// in: equal explorations have equal folds, at any `--jobs`.
    pub digest_fold: String,
    /// Stopped early ([`crate::stop`]): the seeds run are the first
    /// `seeds_run` of the range, every one of them whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// What one seed's run showed: its trace digest and its failure kinds.
pub struct SeedVerdict {
    pub digest: u64,
    pub kinds: Vec<String>,
}

/// Running totals over the seeds done so far. Everything in it is a commutative fold
/// (counts, the least failing seed per kind, a sum of mixed digests), so memory does
/// not grow with the number of seeds and the result does not depend on which thread
/// ran which seed.
#[derive(Default)]
struct Tally {
    done: u64,
    violating: u64,
    first: Option<u64>,
    /// Kind → (seeds, first seed).
    kinds: BTreeMap<String, (u64, u64)>,
    fold: u64,
}

impl Tally {
    fn add(&mut self, seed: u64, v: SeedVerdict) {
        self.done += 1;
        self.fold = self
            .fold
            .wrapping_add(crate::rng::mix64(seed ^ crate::rng::mix64(v.digest)));
        if v.kinds.is_empty() {
            return;
        }
        self.violating += 1;
        self.first = Some(self.first.map_or(seed, |f| f.min(seed)));
        for k in v.kinds {
            let e = self.kinds.entry(k).or_insert((0, seed));
            e.0 += 1;
            e.1 = e.1.min(seed);
        }
    }
}

/// Runs `verdict` for every seed in `seeds` on `jobs` threads and folds the results;
/// `progress` is called (from worker threads, serialised) with the seeds done and
/// failing so far. The verdicts are folded as they come, so any number of seeds runs
/// in constant memory.
pub fn explore_seeds(
    name: (&str, &str),
    seeds: std::ops::RangeInclusive<u64>,
    jobs: usize,
    verdict: &(dyn Fn(u64) -> SeedVerdict + Sync),
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    explore_shard_seeds(name, seeds, Shard::ALL, jobs, verdict, progress)
}

/// [`explore_seeds`] over the seeds of `seeds` that shard `shard` runs.
pub fn explore_shard_seeds(
    name: (&str, &str),
    seeds: std::ops::RangeInclusive<u64>,
    shard: Shard,
    jobs: usize,
    verdict: &(dyn Fn(u64) -> SeedVerdict + Sync),
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    let first = *seeds.start();
    // The shard's seeds, counted: the k-th is at offset I + k·N from the first
    // (offsets always fit a u64, even up to u64::MAX).
    let in_shard = shard_seed_count(&seeds, shard);
    let (i, n) = (shard.index as u64, shard.count as u64);
    let next = AtomicU64::new(0);
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                // Checked before a seed is claimed, so the seeds run are always a
                // prefix of the shard's: every claimed seed is finished.
                if crate::stop::requested() {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= in_shard {
                    break;
                }
                let seed = first + (i + k * n);
                let v = verdict(seed);
                let mut t = tally.lock().expect("no worker panicked");
                t.add(seed, v);
                progress(t.done, t.violating);
            });
        }
    });
    let t = tally.into_inner().expect("no worker panicked");
    let interrupted = t.done < in_shard;
    Tally::finish(t, name, interrupted)
}

impl Tally {
    fn finish(t: Tally, name: (&str, &str), interrupted: bool) -> Exploration {
        let mut kinds: Vec<KindSummary> = t
            .kinds
            .into_iter()
            .map(|(kind, (n, first))| KindSummary {
                kind,
                seeds: n,
                first_seed: first,
            })
            .collect();
        // First seen first; at one seed, strongest first (the order violation_kinds uses).
        kinds.sort_by_key(|k| (k.first_seed, kind_rank(&k.kind)));
        Exploration {
            scenario: name.0.to_string(),
            protocol: name.1.to_string(),
            seeds_run: t.done,
            violating_seeds: t.violating,
            first_violating_seed: t.first,
            kinds,
            digest_fold: format!("{:016x}", t.fold),
            interrupted,
        }
    }
}

impl Exploration {
    /// The exploration of the union of disjoint sets of seeds, from each set's
    /// (the shards of one range): counts added, the least first seeds kept, the
    /// digest folds added — every part of an exploration is such a fold, so this is
    /// exactly what one run over all the seeds gives. `None` for no parts, parts of
    /// different scenarios, an interrupted part or an unreadable fold.
    pub fn merge(parts: &[Exploration]) -> Option<Exploration> {
        let first = parts.first()?;
        let mut t = Tally::default();
        for p in parts {
            if p.interrupted || p.scenario != first.scenario || p.protocol != first.protocol {
                return None;
            }
            t.done += p.seeds_run;
            t.violating += p.violating_seeds;
            t.first = match (t.first, p.first_violating_seed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            t.fold = t
                .fold
                .wrapping_add(u64::from_str_radix(&p.digest_fold, 16).ok()?);
            for k in &p.kinds {
                let e = t.kinds.entry(k.kind.clone()).or_insert((0, k.first_seed));
                e.0 += k.seeds;
                e.1 = e.1.min(k.first_seed);
            }
        }
        Some(Tally::finish(t, (&first.scenario, &first.protocol), false))
    }
}

/// The strength order of failure kinds, as [`violation_kinds`] lists them.
fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// Runs `scenario` for every seed in `seeds` on `jobs` threads; `progress` is called
/// (from worker threads, serialised) with the number of seeds done and failing. With
/// `ignore_expect`, seeds are judged by the invariants alone (a lesson scenario's
/// expectations often pin the outcome of its own seed only).
pub fn explore(
    scenario: &Validated,
    seeds: std::ops::RangeInclusive<u64>,
    jobs: usize,
    ignore_expect: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    explore_shard(scenario, seeds, Shard::ALL, jobs, ignore_expect, progress)
}

/// [`explore`] over the seeds of `seeds` that shard `shard` runs.
pub fn explore_shard(
    scenario: &Validated,
    seeds: std::ops::RangeInclusive<u64>,
    shard: Shard,
    jobs: usize,
    ignore_expect: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    let verdict = |seed: u64| {
        let report = scenario.run(seed, None).report;
        let mut kinds = violation_kinds(&report);
        if ignore_expect {
            kinds.retain(|k| !k.starts_with("expect:"));
        }
        SeedVerdict {
            digest: u64::from_str_radix(&report.digest, 16).unwrap_or(0),
            kinds,
        }
    };
    explore_shard_seeds(
        (&scenario.scenario.name, &scenario.scenario.protocol),
        seeds,
        shard,
        jobs,
        &verdict,
        progress,
    )
}

impl Exploration {
    /// The summary for people; `program` and `file` (the scenario path) make up the
    /// repro commands.
    pub fn to_text(&self, program: &str, file: &str, protocol_flag: Option<&str>) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let extra = protocol_flag.map_or_else(String::new, |p| format!(" --protocol {p}"));
        let _ = writeln!(
            s,
            "{program} explore: {} ({}), {} seeds: {} violating",
            self.scenario, self.protocol, self.seeds_run, self.violating_seeds
        );
        for k in &self.kinds {
            let _ = writeln!(
                s,
                "  {:<40} {:>6} seeds  first: seed {:<6} {program} run {file} --seed {}{extra}",
                k.kind, k.seeds, k.first_seed, k.first_seed
            );
        }
        if let Some(seed) = self.first_violating_seed {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "First violating seed {seed}. Reproduce: {program} run {file} --seed {seed}{extra}"
            );
            let _ = writeln!(
                s,
                "Minimise it:             {program} shrink {file} --seed {seed}{extra}"
            );
        } else {
            let _ = writeln!(s, "No seed violated an invariant or an expectation.");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse() {
        assert_eq!(parse_seeds("1..4"), Ok(1..=3));
        assert_eq!(parse_seeds("1..=4"), Ok(1..=4));
        assert_eq!(parse_seeds("7"), Ok(7..=7));
        assert!(parse_seeds("4..1").is_err());
        assert!(parse_seeds("4..4").is_err());
        assert!(parse_seeds("0..0").is_err());
        let top = format!("{}..={}", u64::MAX - 2, u64::MAX);
        assert_eq!(parse_seeds(&top), Ok(u64::MAX - 2..=u64::MAX));
        assert_eq!(seed_count(&(u64::MAX - 2..=u64::MAX)), 3);
        assert_eq!(seed_count(&(0..=u64::MAX)), u64::MAX);
        assert!(parse_seeds("a..b")
            .unwrap_err()
            .to_string()
            .contains("A..B"));
    }

    #[test]
    fn results_do_not_depend_on_the_job_count() {
        let s = crate::run::parse(
            "(duration_ms: 200, rms: 2, two_pc: (rm_abort_on_timeout: true, rm_timeout_ms: 20), network: (loss_probability: 0.1))",
            "x.ron",
        )
        .expect("valid");
        let one = explore(&s, 0..=11, 1, false, &|_, _| {});
        let three = explore(&s, 0..=11, 3, false, &|_, _| {});
        assert_eq!(one, three);
        assert_eq!(one.digest_fold, three.digest_fold);
        assert!(one.violating_seeds > 0, "{one:?}");
        assert!(one.kinds.iter().any(|k| k.kind == "atomicity"));
    }

    #[test]
    fn expectations_can_be_ignored() {
        let s = crate::run::parse(
            "(duration_ms: 100, expect: {\"txns.committed\": \"> 1000000\"})",
            "x.ron",
        )
        .expect("valid");
        let judged = explore(&s, 0..=2, 1, false, &|_, _| {});
        assert_eq!(judged.violating_seeds, 3);
        assert!(judged.kinds[0].kind.starts_with("expect: txns.committed"));
        assert_eq!(explore(&s, 0..=2, 1, true, &|_, _| {}).violating_seeds, 0);
    }
}

#[cfg(test)]
mod top_seed_tests {
    use super::*;

    /// A made-up verdict: seeds divisible by 3 break atomicity, by 5 block.
    fn verdict(seed: u64) -> SeedVerdict {
        let mut kinds = Vec::new();
        if seed % 3 == 0 {
            kinds.push("atomicity".to_string());
        }
        if seed % 5 == 0 {
            kinds.push("blocked".to_string());
        }
        SeedVerdict {
            digest: seed.wrapping_mul(0x9e37_79b9),
            kinds,
        }
    }

    #[test]
    fn shards_merge_into_the_whole_range() {
        let whole = explore_seeds(("x", "2pc"), 4..=40, 2, &verdict, &|_, _| {});
        for n in [1, 2, 3, 7, 50] {
            let parts: Vec<Exploration> = (0..n)
                .map(|i| {
                    let shard = Shard::new(i, n).expect("a shard");
                    let e =
                        explore_shard_seeds(("x", "2pc"), 4..=40, shard, 1, &verdict, &|_, _| {});
                    assert_eq!(e.seeds_run, shard_seed_count(&(4..=40), shard));
                    e
                })
                .collect();
            assert_eq!(Exploration::merge(&parts), Some(whole.clone()), "N = {n}");
        }
        // The first seed of each kind is the least over the shards, not shard 0's.
        assert_eq!(whole.kinds[0].kind, "blocked");
        assert_eq!(whole.kinds[0].first_seed, 5);
        assert_eq!(whole.first_violating_seed, Some(5));
    }

    #[test]
    fn shard_seed_counts_cover_the_range_once() {
        for (range, n) in [(0..=0, 3), (1..=10, 3), (5..=5, 1), (0..=99, 7)] {
            let total: u64 = (0..n)
                .map(|i| shard_seed_count(&range, Shard::new(i, n).expect("a shard")))
                .sum();
            assert_eq!(total, seed_count(&range));
        }
        assert_eq!(shard_seed_count(&(0..=u64::MAX), Shard::ALL), u64::MAX);
    }

    #[test]
    fn the_highest_seeds_run_and_the_loop_stops_there() {
        let seen = Mutex::new(Vec::new());
        let e = explore_seeds(
            ("x", "2pc"),
            u64::MAX - 2..=u64::MAX,
            2,
            &|seed| {
                seen.lock().expect("ok").push(seed);
                SeedVerdict {
                    digest: seed,
                    kinds: Vec::new(),
                }
            },
            &|_, _| {},
        );
        assert_eq!(e.seeds_run, 3);
        let mut seen = seen.into_inner().expect("ok");
        seen.sort_unstable();
        assert_eq!(seen, vec![u64::MAX - 2, u64::MAX - 1, u64::MAX]);
    }
}
