//! `acidbase explore`: one scenario under many seeds, in parallel, grouped by what
//! went wrong.
//!
//! Each seed's run is single-threaded and deterministic; threads only pick which seed
//! to run next, and results are put back in seed order, so the summary is the same at
//! any `--jobs`.

use crate::report::Report;
use crate::scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The kinds of failure a run can show, strongest first. Explore groups by them;
/// shrink keeps one of them while it minimises.
///
/// - `atomicity`: some participants applied a transaction others rolled back;
/// - `invariant`: a business invariant was broken at quiescence (money);
/// - `blocked`: a transaction still unresolved (in doubt or half applied) after the
///   drain;
/// - `event-guard`: the run hit `max_events`;
/// - `expect: METRIC COND`: an expectation of the scenario failed.
pub fn violation_kinds(report: &Report) -> Vec<String> {
    let mut kinds = Vec::new();
    if report.violations.atomicity > 0 {
        kinds.push("atomicity".to_string());
    }
    if report.violations.invariant > 0 {
        kinds.push("invariant".to_string());
    }
    if report.txns.unresolved > 0 {
        kinds.push("blocked".to_string());
    }
    if report.stopped_by_event_guard {
        kinds.push("event-guard".to_string());
    }
    for e in &report.expectations.results {
        if !e.held {
            kinds.push(format!("expect: {} {}", e.metric, e.condition));
        }
    }
    kinds
}

/// Does `report` show failure kind `kind`?
pub fn has_kind(report: &Report, kind: &str) -> bool {
    violation_kinds(report).iter().any(|k| k == kind)
}

/// The seeds to run: `A..B` (B excluded), `A..=B`, or a single seed `A`.
pub fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let bad = || {
        format!("cannot read seeds {text:?}: expected A..B (B excluded), A..=B, or one seed, e.g. 1..1000")
    };
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let range = if let Some((a, b)) = text.split_once("..=") {
        num(a)?..num(b)?.checked_add(1).ok_or_else(bad)?
    } else if let Some((a, b)) = text.split_once("..") {
        num(a)?..num(b)?
    } else {
        let a = num(text)?;
        a..a.checked_add(1).ok_or_else(bad)?
    };
    if range.is_empty() {
        return Err(format!(
            "seeds {text:?} is empty: the end must be after the start"
        ));
    }
    Ok(range)
}

/// One failure kind over all explored seeds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindSummary {
    pub kind: String,
    pub seeds: u64,
    pub first_seed: u64,
}

/// What explore found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Exploration {
    pub scenario: String,
    pub protocol: String,
    pub seeds_run: u64,
    pub violating_seeds: u64,
    pub first_violating_seed: Option<u64>,
    pub kinds: Vec<KindSummary>,
    /// Digest per seed, in seed order (same at any job count).
    #[serde(skip)]
    pub digests: Vec<String>,
}

/// Runs `scenario` for every seed in `seeds` on `jobs` threads; `progress` is called
/// (from worker threads, serialised) with the number of seeds done and failing. With
/// `ignore_expect`, seeds are judged by the invariants alone (a lesson scenario's
/// expectations often pin the outcome of its own seed only).
pub fn explore(
    scenario: &Scenario,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    ignore_expect: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    let total = seeds.end - seeds.start;
    let next = AtomicU64::new(seeds.start);
    // Per seed: its digest and failure kinds.
    type SeedResult = Option<(String, Vec<String>)>;
    let results: Mutex<Vec<SeedResult>> = Mutex::new(vec![None; total as usize]);
    let counters = Mutex::new((0u64, 0u64));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                let report = crate::run::run(scenario, seed, None).report;
                let mut kinds = violation_kinds(&report);
                if ignore_expect {
                    kinds.retain(|k| !k.starts_with("expect:"));
                }
                let failing = !kinds.is_empty();
                results.lock().expect("no worker panicked")[(seed - seeds.start) as usize] =
                    Some((report.digest, kinds));
                let mut c = counters.lock().expect("no worker panicked");
                c.0 += 1;
                c.1 += u64::from(failing);
                progress(c.0, c.1);
            });
        }
    });
    let results = results.into_inner().expect("no worker panicked");
    let mut kinds: BTreeMap<String, KindSummary> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut violating = 0;
    let mut first = None;
    let mut digests = Vec::with_capacity(results.len());
    for (i, r) in results.into_iter().enumerate() {
        let seed = seeds.start + i as u64;
        let (digest, ks) = r.expect("every seed ran");
        digests.push(digest);
        if !ks.is_empty() {
            violating += 1;
            first.get_or_insert(seed);
        }
        for k in ks {
            kinds
                .entry(k.clone())
                .and_modify(|s| s.seeds += 1)
                .or_insert_with(|| {
                    order.push(k.clone());
                    KindSummary {
                        kind: k,
                        seeds: 1,
                        first_seed: seed,
                    }
                });
        }
    }
    let mut kinds: Vec<KindSummary> = kinds.into_values().collect();
    kinds.sort_by_key(|k| (k.first_seed, order.iter().position(|o| *o == k.kind)));
    Exploration {
        scenario: scenario.name.clone(),
        protocol: scenario.protocol.clone(),
        seeds_run: total,
        violating_seeds: violating,
        first_violating_seed: first,
        kinds,
        digests,
    }
}

impl Exploration {
    /// The summary for people; `file` is the scenario path for repro commands.
    pub fn to_text(&self, file: &str, protocol_flag: Option<&str>) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let extra = protocol_flag.map_or_else(String::new, |p| format!(" --protocol {p}"));
        let _ = writeln!(
            s,
            "acidbase explore: {} ({}), {} seeds: {} violating",
            self.scenario, self.protocol, self.seeds_run, self.violating_seeds
        );
        for k in &self.kinds {
            let _ = writeln!(
                s,
                "  {:<40} {:>6} seeds  first: seed {:<6} acidbase run {file} --seed {}{extra}",
                k.kind, k.seeds, k.first_seed, k.first_seed
            );
        }
        if let Some(seed) = self.first_violating_seed {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "First violating seed {seed}. Reproduce: acidbase run {file} --seed {seed}{extra}"
            );
            let _ = writeln!(
                s,
                "Minimise it:             acidbase shrink {file} --seed {seed}{extra}"
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
        assert_eq!(parse_seeds("1..4"), Ok(1..4));
        assert_eq!(parse_seeds("1..=4"), Ok(1..5));
        assert_eq!(parse_seeds("7"), Ok(7..8));
        assert!(parse_seeds("4..1").is_err());
        assert!(parse_seeds("a..b").unwrap_err().contains("A..B"));
    }

    #[test]
    fn results_do_not_depend_on_the_job_count() {
        let s = crate::scenario::parse(
            "(duration_ms: 200, rms: 2, two_pc: (rm_abort_on_timeout: true, rm_timeout_ms: 20), network: (loss_probability: 0.1))",
            "x.ron",
        )
        .expect("valid")
        .scenario;
        let one = explore(&s, 0..12, 1, false, &|_, _| {});
        let three = explore(&s, 0..12, 3, false, &|_, _| {});
        assert_eq!(one, three);
        assert_eq!(one.digests, three.digests);
        assert!(one.violating_seeds > 0, "{one:?}");
        assert!(one.kinds.iter().any(|k| k.kind == "atomicity"));
    }

    #[test]
    fn expectations_can_be_ignored() {
        let s = crate::scenario::parse(
            "(duration_ms: 100, expect: {\"txns.committed\": \"> 1000000\"})",
            "x.ron",
        )
        .expect("valid")
        .scenario;
        let judged = explore(&s, 0..3, 1, false, &|_, _| {});
        assert_eq!(judged.violating_seeds, 3);
        assert!(judged.kinds[0].kind.starts_with("expect: txns.committed"));
        assert_eq!(explore(&s, 0..3, 1, true, &|_, _| {}).violating_seeds, 0);
    }
}
