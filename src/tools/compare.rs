//! `acidbase compare`: one workload, one fault schedule, several protocols side by side.
//!
//! Fairness comes from the engine's common random numbers: a seed draws the same
//! faults for every protocol (faults are drawn by node name, DESIGN §4), so the
//! columns differ only by what the protocols do with them. Runs are independent, so
//! they go to a pool of threads; the table is assembled in (protocol, seed) order and
//! does not depend on how many threads ran it.

use crate::report::Report;
use crate::run::Registry;
use crate::scenario::{Loaded, ScenarioError};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One protocol's column: counts summed over the seeds, rates and latencies averaged.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Column {
    pub protocol: String,
    pub runs: u64,
    pub committed: u64,
    pub aborted: u64,
    /// Atomicity violations (some participants applied, others rolled back).
    pub atomicity_violations: u64,
    /// Business-invariant violations at quiescence (money, stock, lost orders …).
    pub invariant_violations: u64,
    /// Runs with at least one violation of either kind.
    pub runs_violating: u64,
    pub blocked_locks: u64,
    pub blocked_lock_ms: f64,
    pub in_doubt: u64,
    pub unresolved: u64,
    /// Mean over runs of the share of requests answered within the deadline.
    pub availability: f64,
    /// Mean over runs of each run's p99 latency of definite answers.
    pub p99_latency_ms: f64,
    /// Protocol messages per committed transaction, over all runs.
    pub messages_per_commit: f64,
    /// BASE: episodes of an invariant visibly broken mid-flight (money in flight),
    /// summed; 0 for protocols that hide intermediate states behind locks.
    pub transient_anomalies: u64,
    /// BASE: mean over the runs that report it of `consistency.time_to_consistent_ms.p99`;
    /// `None` for protocols that report none (an atomic commit is consistent when it
    /// commits).
    pub time_to_consistency_p99_ms: Option<f64>,
    /// Repairs: inconsistencies fixed automatically / flagged / silent, summed.
    pub repaired_automatic: u64,
    pub flagged_operator: u64,
    pub silent: u64,
    /// Runs that reported a time to consistency (for the mean).
    #[serde(skip)]
    ttc_runs: u64,
}

impl Column {
    fn add(&mut self, r: &Report) {
        self.runs += 1;
        self.committed += r.txns.committed;
        self.aborted += r.txns.aborted;
        self.atomicity_violations += r.violations.atomicity;
        self.invariant_violations += r.violations.invariant;
        self.runs_violating += u64::from(r.violations.atomicity + r.violations.invariant > 0);
        self.blocked_locks += r.locks.blocked;
        self.blocked_lock_ms += r.locks.lock_ms_total;
        self.in_doubt += r.txns.in_doubt;
        self.unresolved += r.txns.unresolved;
        self.availability += r.availability;
        self.p99_latency_ms += r.latency_ms.p99;
        // Weighted by commits so the ratio is over all runs, not a mean of ratios.
        self.messages_per_commit += r.per_commit.messages * r.txns.committed as f64;
        self.transient_anomalies += r.consistency.transient_anomalies;
        if r.consistency.consistent > 0 {
            *self.time_to_consistency_p99_ms.get_or_insert(0.0) +=
                r.consistency.time_to_consistent_ms.p99;
            self.ttc_runs += 1;
        }
        self.repaired_automatic += r.repair.automatic;
        self.flagged_operator += r.repair.operator;
        self.silent += r.repair.silent;
    }

    fn finish(&mut self) {
        if self.runs > 0 {
            self.availability /= self.runs as f64;
            self.p99_latency_ms /= self.runs as f64;
        }
        if let Some(t) = self.time_to_consistency_p99_ms.as_mut() {
            *t /= self.ttc_runs.max(1) as f64;
        }
        self.messages_per_commit = if self.committed > 0 {
            self.messages_per_commit / self.committed as f64
        } else {
            0.0
        };
    }
}

/// The whole comparison: what ran, the columns, and what they show in words.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub seeds: Vec<u64>,
    pub columns: Vec<Column>,
    /// Protocols left out because the scenario does not fit them, with the reason.
    pub skipped: Vec<Skipped>,
    pub summary: Vec<String>,
    /// Stopped early ([`crate::tools::stop`]): every column covers the same first
    /// `seeds`, fewer than asked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Skipped {
    pub protocol: String,
    pub reason: String,
}

/// What to compare.
pub struct CompareArgs<'a> {
    /// The protocols this program knows (built-ins and a user's).
    pub registry: &'a Registry,
    pub loaded: &'a Loaded,
    pub protocols: Vec<String>,
    /// Protocols named explicitly must fit the scenario; from the default list, those
    /// that do not are skipped with their reason.
    pub explicit: bool,
    pub first_seed: u64,
    pub seeds: u64,
    pub jobs: usize,
    /// Called with the runs done and the runs in all, as they finish.
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
}

/// Runs every (protocol, seed) pair and builds the table.
pub fn compare(args: &CompareArgs) -> Result<Comparison, ScenarioError> {
    let mut scenarios = Vec::new();
    let mut skipped = Vec::new();
    for p in &args.protocols {
        match args.registry.with_protocol(args.loaded, p) {
            Ok(v) => scenarios.push(v),
            Err(e) if !args.explicit => skipped.push(Skipped {
                protocol: p.clone(),
                reason: e.message,
            }),
            Err(e) => return Err(e),
        }
    }
    let seeds: Vec<u64> = (0..args.seeds)
        .map(|i| args.first_seed.wrapping_add(i))
        .collect();
    // Seed-major, so that a comparison stopped early still has every protocol over
    // the same seeds.
    let jobs: Vec<(usize, u64)> = seeds
        .iter()
        .flat_map(|&s| (0..scenarios.len()).map(move |p| (p, s)))
        .collect();
    let reports: Vec<Mutex<Option<Report>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                if crate::tools::stop::requested() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(p, seed)) = jobs.get(i) else { break };
                let report = scenarios[p].run(seed, None).report;
                if let Ok(mut slot) = reports[i].lock() {
                    *slot = Some(report);
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                (args.progress)(d as u64, jobs.len() as u64);
            });
        }
    });
    let mut columns: Vec<Column> = scenarios
        .iter()
        .map(|s| Column {
            protocol: s.scenario.protocol.clone(),
            ..Column::default()
        })
        .collect();
    let reports: Vec<Option<Report>> = reports
        .into_iter()
        .map(|slot| slot.into_inner().ok().flatten())
        .collect();
    // The seeds every protocol finished (all of them, unless stopped early).
    let whole = if scenarios.is_empty() {
        seeds.len()
    } else {
        reports
            .chunks(scenarios.len())
            .take_while(|round| round.iter().all(Option::is_some))
            .count()
    };
    let interrupted = whole < seeds.len();
    for ((p, _), report) in jobs.iter().zip(&reports).take(whole * scenarios.len()) {
        columns[*p].add(report.as_ref().expect("a whole round has every report"));
    }
    let mut seeds = seeds;
    seeds.truncate(whole);
    for c in &mut columns {
        c.finish();
    }
    let summary = summarise(&columns);
    Ok(Comparison {
        scenario: args.loaded.scenario.name.clone(),
        seeds,
        columns,
        skipped,
        summary,
        interrupted,
    })
}

/// Two or three sentences on what the table shows: safety first, then liveness, then
/// cost.
pub fn summarise(columns: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    if columns.is_empty() {
        return out;
    }
    let runs = columns[0].runs;
    let of_runs = |n: u64| {
        if runs == 1 {
            "its run".to_string()
        } else {
            format!("{n} of {runs} runs")
        }
    };
    let unsafe_: Vec<&Column> = columns
        .iter()
        .filter(|c| c.atomicity_violations + c.invariant_violations > 0)
        .collect();
    if unsafe_.is_empty() {
        out.push(format!(
            "No protocol broke atomicity or a business invariant under this fault schedule{}.",
            if runs > 1 { " on any seed" } else { "" }
        ));
    } else {
        let parts: Vec<String> = unsafe_
            .iter()
            .map(|c| {
                let mut what = Vec::new();
                if c.atomicity_violations > 0 {
                    what.push(format!("{} atomicity", c.atomicity_violations));
                }
                if c.invariant_violations > 0 {
                    what.push(format!("{} invariant", c.invariant_violations));
                }
                format!(
                    "{} ({} violation(s) in {})",
                    c.protocol,
                    what.join(" and "),
                    of_runs(c.runs_violating)
                )
            })
            .collect();
        let safe: Vec<&str> = columns
            .iter()
            .filter(|c| c.atomicity_violations + c.invariant_violations == 0)
            .map(|c| c.protocol.as_str())
            .collect();
        let tail = if safe.is_empty() {
            String::new()
        } else {
            format!("; {} stayed consistent", safe.join(", "))
        };
        out.push(format!(
            "Consistency broke under {}{tail}.",
            parts.join(", ")
        ));
    }
    let blocking: Vec<String> = columns
        .iter()
        .filter(|c| c.blocked_locks > 0)
        .map(|c| {
            format!(
                "{} ({} lock(s), {:.0} lock·ms)",
                c.protocol, c.blocked_locks, c.blocked_lock_ms
            )
        })
        .collect();
    let stuck: Vec<String> = columns
        .iter()
        .filter(|c| c.unresolved > 0)
        .map(|c| format!("{} ({})", c.protocol, c.unresolved))
        .collect();
    match (blocking.is_empty(), stuck.is_empty()) {
        (true, true) => out.push(
            "Nothing blocked: no lock was held in doubt past the threshold and every transaction was resolved by the end."
                .to_string(),
        ),
        _ => {
            let mut s = String::new();
            if !blocking.is_empty() {
                let _ = write!(s, "Blocked in doubt: {}", blocking.join(", "));
            }
            if !stuck.is_empty() {
                if !s.is_empty() {
                    s.push_str("; ");
                }
                let _ = write!(s, "left unresolved at the end: {}", stuck.join(", "));
            }
            s.push('.');
            out.push(s);
        }
    }
    if columns.len() > 1 {
        let best_avail = columns
            .iter()
            .max_by(|a, b| a.availability.total_cmp(&b.availability))
            .map(|c| (c.protocol.as_str(), c.availability));
        let cheapest = columns
            .iter()
            .filter(|c| c.committed > 0)
            .min_by(|a, b| a.messages_per_commit.total_cmp(&b.messages_per_commit))
            .map(|c| (c.protocol.as_str(), c.messages_per_commit));
        if let (Some((pa, a)), Some((pc, m))) = (best_avail, cheapest) {
            out.push(format!(
                "{pa} answered the most requests in time ({:.1}%); {pc} needed the fewest messages per commit ({m:.1}).",
                a * 100.0
            ));
        }
    }
    out
}

/// The row labels of the text table and the CSV header, with how to read a column.
const ROWS: &[(&str, &str)] = &[
    ("runs", "runs"),
    ("committed", "committed"),
    ("aborted", "aborted"),
    ("atomicity_violations", "atomicity violations"),
    ("invariant_violations", "invariant violations"),
    ("runs_violating", "runs violating"),
    ("blocked_locks", "blocked locks"),
    ("blocked_lock_ms", "blocked lock·ms"),
    ("in_doubt", "in doubt at end"),
    ("unresolved", "unresolved at end"),
    ("availability", "availability"),
    ("p99_latency_ms", "p99 latency ms"),
    ("messages_per_commit", "messages/commit"),
    ("transient_anomalies", "transient anomalies"),
    ("time_to_consistency_p99_ms", "consistent after p99 ms"),
    ("repaired_automatic", "repaired (auto)"),
    ("flagged_operator", "flagged (operator)"),
    ("silent", "silent"),
];

/// A count's cell; `None` for a number the runs did not give (no saga or message
/// became consistent), which the text table shows as `-` and the CSV leaves empty.
fn cell(c: &Column, key: &str) -> Option<String> {
    Some(match key {
        "runs" => c.runs.to_string(),
        "committed" => c.committed.to_string(),
        "aborted" => c.aborted.to_string(),
        "atomicity_violations" => c.atomicity_violations.to_string(),
        "invariant_violations" => c.invariant_violations.to_string(),
        "runs_violating" => c.runs_violating.to_string(),
        "blocked_locks" => c.blocked_locks.to_string(),
        "blocked_lock_ms" => format!("{:.1}", c.blocked_lock_ms),
        "in_doubt" => c.in_doubt.to_string(),
        "unresolved" => c.unresolved.to_string(),
        "availability" => format!("{:.4}", c.availability),
        "p99_latency_ms" => format!("{:.3}", c.p99_latency_ms),
        "messages_per_commit" => format!("{:.2}", c.messages_per_commit),
        "transient_anomalies" => c.transient_anomalies.to_string(),
        "time_to_consistency_p99_ms" => format!("{:.3}", c.time_to_consistency_p99_ms?),
        "repaired_automatic" => c.repaired_automatic.to_string(),
        "flagged_operator" => c.flagged_operator.to_string(),
        "silent" => c.silent.to_string(),
        _ => unreachable!("every row key has a cell"),
    })
}

impl Comparison {
    /// The table for people: one column per protocol, then the summary sentences.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let seeds = match self.seeds.as_slice() {
            [one] => format!("seed {one}"),
            [first, .., last] => format!("seeds {first}..={last}"),
            [] => "no seeds".into(),
        };
        let _ = writeln!(
            s,
            "{} — same workload and fault schedule for every protocol ({seeds})\n",
            self.scenario
        );
        let label_w = ROWS
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(0);
        let cells: Vec<Vec<String>> = self
            .columns
            .iter()
            .map(|c| {
                ROWS.iter()
                    .map(|(k, _)| cell(c, k).unwrap_or_else(|| "-".into()))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .zip(&cells)
            .map(|(c, col)| {
                col.iter()
                    .map(String::len)
                    .chain([c.protocol.len()])
                    .max()
                    .unwrap_or(0)
                    .max(6)
            })
            .collect();
        let _ = write!(s, "  {:label_w$}", "");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(s, "  {:>w$}", c.protocol);
        }
        s.push('\n');
        for (row, (_, label)) in ROWS.iter().enumerate() {
            let pad = label_w - label.chars().count();
            let _ = write!(s, "  {label}{:pad$}", "");
            for (col, w) in cells.iter().zip(&widths) {
                let _ = write!(s, "  {:>w$}", col[row]);
            }
            s.push('\n');
        }
        for k in &self.skipped {
            let _ = writeln!(s, "\n  (skipped {}: {})", k.protocol, k.reason);
        }
        s.push('\n');
        for line in &self.summary {
            let _ = writeln!(s, "{line}");
        }
        s
    }

    /// One row per protocol, one column per count.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("scenario,protocol");
        for (k, _) in ROWS {
            s.push(',');
            s.push_str(k);
        }
        s.push('\n');
        for c in &self.columns {
            let _ = write!(
                s,
                "{},{}",
                csv_field(&self.scenario),
                csv_field(&c.protocol)
            );
            for (k, _) in ROWS {
                s.push(',');
                s.push_str(&cell(c, k).unwrap_or_default());
            }
            s.push('\n');
        }
        s
    }
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(protocol: &str, atomicity: u64, blocked: u64, avail: f64, msgs: f64) -> Column {
        Column {
            protocol: protocol.into(),
            runs: 4,
            committed: 10,
            atomicity_violations: atomicity,
            runs_violating: u64::from(atomicity > 0),
            blocked_locks: blocked,
            blocked_lock_ms: blocked as f64 * 100.0,
            availability: avail,
            messages_per_commit: msgs,
            ..Column::default()
        }
    }

    #[test]
    fn summary_names_who_broke_who_blocked_and_who_was_cheapest() {
        let cols = [
            column("2pc", 0, 3, 0.5, 12.0),
            column("3pc", 2, 0, 0.9, 18.0),
        ];
        let s = summarise(&cols);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            s[0].contains("3pc (2 atomicity violation(s) in 1 of 4 runs)"),
            "{}",
            s[0]
        );
        assert!(s[0].contains("2pc stayed consistent"), "{}", s[0]);
        assert!(s[1].contains("2pc (3 lock(s), 300 lock·ms)"), "{}", s[1]);
        assert!(s[2].starts_with("3pc answered the most"), "{}", s[2]);
        assert!(
            s[2].contains("2pc needed the fewest messages per commit (12.0)"),
            "{}",
            s[2]
        );
    }

    #[test]
    fn messages_per_commit_is_weighted_by_commits() {
        let mut c = Column::default();
        let mut a = Report::default();
        a.txns.committed = 1;
        a.per_commit.messages = 10.0;
        let mut b = Report::default();
        b.txns.committed = 3;
        b.per_commit.messages = 2.0;
        c.add(&a);
        c.add(&b);
        c.finish();
        assert_eq!(c.messages_per_commit, 4.0); // (10 + 6) / 4, not (10 + 2) / 2
        assert_eq!(c.runs, 2);
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_protocol() {
        let cmp = Comparison {
            scenario: "x,y".into(),
            seeds: vec![1],
            columns: vec![column("2pc", 0, 0, 1.0, 8.0)],
            skipped: vec![],
            summary: vec![],
            interrupted: false,
        };
        let csv = cmp.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split(',').count(), ROWS.len() + 2);
        assert!(lines[1].starts_with("\"x,y\",2pc,4,10,"), "{}", lines[1]);
        // No time to consistency: an empty CSV field, a `-` in the text table. (The
        // quoted scenario name splits in two on its comma, hence `at + 3`.)
        let at = ROWS
            .iter()
            .position(|(k, _)| *k == "time_to_consistency_p99_ms")
            .expect("the row exists");
        assert_eq!(lines[1].split(',').nth(at + 3), Some(""), "{}", lines[1]);
        let text = cmp.to_text();
        let row = text
            .lines()
            .find(|l| l.contains("consistent after p99 ms"))
            .expect("the text row");
        assert!(row.trim_end().ends_with('-'), "{row}");
    }
}
