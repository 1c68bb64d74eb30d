//! `acidbase shrink`: minimise a violating run's fault schedule while the same kind of
//! violation still occurs, and tell the shrunk run as a story.
//!
//! The run's concrete schedule is exported first ([`crate::tools::schedule::export`]), so
//! every fault is scripted and the result replays with no random draws for faults.
//! Greedy passes then try, in turn: dropping pinned latencies, message faults (halves
//! of the list, then single ones), crashes, partitions, drift, clock steps; narrowing partitions;
//! shortening fault windows and moving them earlier; fewer requests and sessions;
//! fewer participants; a shorter horizon (and drain, for the safety kinds); a constant
//! latency. A candidate is
//! kept only if it still shows the violation kind *and* is no larger than the current
//! schedule on every measure of [`Sizes`]. Rounds repeat until nothing changes or the
//! run budget is spent.

use crate::run::{Outcome, Registry, Validated};
use crate::scenario::{
    LatencySpec, LoadSpec, MessageFateSpec, Scenario, ScenarioError, WorkloadSpec,
};
use crate::story::trace::{self as trace_story, Focus, Voice};
use crate::tools::explore::{has_kind, violation_kinds};
use crate::tools::greedy::{round_us, Greedy, Judge, Verdict};
use crate::tools::schedule::{revalidate, run_and_export, Sizes};
use crate::tools::tracelog::{self, TraceLine};
use std::fmt;

/// How to shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// The violation kind to keep (see [`violation_kinds`]); `None`: the run's first.
    pub kind: Option<String>,
    /// At most this many candidate runs.
    pub max_runs: u32,
    /// The program named in the commands an error suggests (a user's binary built on
    /// `cli::main_with` has its own name).
    pub program: String,
    /// Told the candidate runs judged so far and `max_runs`, after each (a progress
    /// line).
    pub progress: Option<fn(u32, u32)>,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            kind: None,
            max_runs: 600,
            program: "acidbase".to_string(),
            progress: None,
        }
    }
}

/// Why a run cannot be shrunk: the seed shows no violation (or not the one asked
/// for), or, a bug, the exported or shrunk scenario does not hold up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    /// Seed `seed` of scenario `scenario` violates nothing (`program`: the command
    /// the advice names).
    NoViolation {
        seed: u64,
        scenario: String,
        program: String,
    },
    /// Seed `seed` does not show `kind`; it shows the kinds in `shown`.
    KindNotShown {
        seed: u64,
        kind: String,
        shown: Vec<String>,
    },
    /// Internal: the run's exported schedule does not validate.
    ExportedInvalid(ScenarioError),
    /// Internal: the exported schedule replays to digest `replayed`, not `original`.
    ExportedDiverges { replayed: String, original: String },
    /// Internal: the shrunk scenario does not validate.
    ShrunkInvalid(ScenarioError),
}

impl fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShrinkError::NoViolation {
                seed,
                scenario,
                program,
            } => write!(
                f,
                "seed {seed} does not violate anything in {scenario}: nothing to shrink (find a violating seed with `{program} explore`)"
            ),
            ShrinkError::KindNotShown { seed, kind, shown } => write!(
                f,
                "seed {seed} does not show {kind:?}; it shows: {}",
                shown.join("; ")
            ),
            ShrinkError::ExportedInvalid(e) => write!(
                f,
                "internal error: the exported schedule is invalid: {e}"
            ),
            ShrinkError::ExportedDiverges { replayed, original } => write!(
                f,
                "internal error: the exported schedule replays to digest {replayed}, not {original}"
            ),
            ShrinkError::ShrunkInvalid(e) => write!(
                f,
                "internal error: the shrunk scenario is invalid: {e}"
            ),
        }
    }
}

impl std::error::Error for ShrinkError {}

/// A shrunk counterexample.
pub struct Shrunk {
    pub kind: String,
    /// The exported (unshrunk) schedule and its sizes.
    pub exported: Scenario,
    pub before: Sizes,
    pub scenario: Scenario,
    pub after: Sizes,
    /// Candidate runs tried.
    pub runs: u32,
    /// Stopped early by [`crate::stop`]: the result is the smallest failing run
    /// found so far (every step kept still fails), not the smallest the budget allows.
    pub interrupted: bool,
    pub outcome: Outcome,
    pub trace: Vec<TraceLine>,
}

/// The failure test of a scenario shrink: a candidate is kept if it validates, still
/// shows the kind, and is no larger on any measure of [`Sizes`] than the one kept
/// before (whose sizes it then takes).
struct ShowsKind<'r> {
    registry: &'r Registry,
    seed: u64,
    kind: String,
    sizes: Sizes,
    progress: Option<fn(u32, u32)>,
    judged: u32,
    max_runs: u32,
}

impl Judge<Scenario> for ShowsKind<'_> {
    fn judge(&mut self, candidate: &Scenario) -> Verdict<Scenario> {
        self.judged += 1;
        if let Some(p) = self.progress {
            p(self.judged, self.max_runs);
        }
        let Ok(l) = revalidate(self.registry, candidate, "candidate.ron") else {
            return Verdict::Invalid;
        };
        let report = l.run(self.seed, None).report;
        if !has_kind(&report, &self.kind) {
            return Verdict::Rejected;
        }
        let sizes = Sizes::measure(&l.scenario, &report);
        if !sizes.no_larger_than(&self.sizes) {
            return Verdict::Rejected;
        }
        self.sizes = sizes;
        Verdict::StillFails(l.into_loaded().scenario)
    }
}

/// A scenario's candidate moves (the passes), over the shared greedy core.
struct Shrinker<'r> {
    g: Greedy<Scenario, ShowsKind<'r>>,
}

impl Shrinker<'_> {
    fn cur(&self) -> &Scenario {
        self.g.current()
    }

    fn pass_faults(&mut self) -> bool {
        let mut changed = false;
        if self
            .cur()
            .faults
            .messages
            .iter()
            .any(|m| matches!(m.fate, MessageFateSpec::Latency { .. }))
        {
            changed |= self.g.try_edit(|s| {
                s.faults
                    .messages
                    .retain(|m| !matches!(m.fate, MessageFateSpec::Latency { .. }))
            });
        }
        changed |= self.g.drop_from_list(|s| &mut s.faults.messages);
        changed |= self.g.drop_from_list(|s| &mut s.faults.crashes);
        changed |= self.g.drop_from_list(|s| &mut s.faults.partitions);
        changed |= self.g.drop_from_list(|s| &mut s.faults.one_way);
        changed |= self.g.drop_from_list(|s| &mut s.faults.drift);
        changed |= self.g.drop_from_list(|s| &mut s.faults.clock_steps);
        // Narrower partitions: fewer nodes on each side.
        for i in 0..self.cur().faults.partitions.len() {
            for g in 0..self
                .cur()
                .faults
                .partitions
                .get(i)
                .map_or(0, |p| p.groups.len())
            {
                let mut k = 0;
                while k < self.cur().faults.partitions[i].groups[g].len() && self.g.budget_left() {
                    let accepted = self.g.try_edit(|s| {
                        s.faults.partitions[i].groups[g].remove(k);
                    });
                    if accepted {
                        changed = true;
                    } else {
                        k += 1;
                    }
                }
            }
        }
        changed
    }

    fn pass_windows(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.cur().faults.crashes.len() {
            // Shorter downtime.
            changed |= self.g.lower(
                |s| s.faults.crashes.get(i)?.restart_ms,
                |s, v| s.faults.crashes[i].restart_ms = Some(v),
                round_us(self.cur().faults.crashes[i].at_ms + 0.001),
                1.0,
            );
            // Earlier, keeping the downtime.
            changed |= self.g.lower(
                |s| s.faults.crashes.get(i).map(|c| c.at_ms),
                |s, v| {
                    let c = &mut s.faults.crashes[i];
                    if let Some(r) = c.restart_ms.as_mut() {
                        *r = round_us(*r - (c.at_ms - v));
                    }
                    c.at_ms = v;
                },
                0.0,
                1.0,
            );
        }
        for i in 0..self.cur().faults.partitions.len() {
            let from = self.cur().faults.partitions[i].from_ms;
            changed |= self.g.lower(
                |s| s.faults.partitions.get(i).map(|p| p.to_ms),
                |s, v| s.faults.partitions[i].to_ms = v,
                round_us(from + 0.001),
                1.0,
            );
            changed |= self.g.lower(
                |s| s.faults.partitions.get(i).map(|p| p.from_ms),
                |s, v| {
                    let p = &mut s.faults.partitions[i];
                    p.to_ms = round_us(p.to_ms - (p.from_ms - v));
                    p.from_ms = v;
                },
                0.0,
                1.0,
            );
        }
        for i in 0..self.cur().faults.one_way.len() {
            let from = self.cur().faults.one_way[i].from_ms;
            changed |= self.g.lower(
                |s| s.faults.one_way.get(i).map(|p| p.to_ms),
                |s, v| s.faults.one_way[i].to_ms = v,
                round_us(from + 0.001),
                1.0,
            );
            changed |= self.g.lower(
                |s| s.faults.one_way.get(i).map(|p| p.from_ms),
                |s, v| {
                    let p = &mut s.faults.one_way[i];
                    p.to_ms = round_us(p.to_ms - (p.from_ms - v));
                    p.from_ms = v;
                },
                0.0,
                1.0,
            );
        }
        changed
    }

    fn pass_workload(&mut self) -> bool {
        let mut changed = false;
        let requests = self.g.judge().sizes.requests.max(1);
        if self.cur().clients.max_requests.is_none_or(|m| m > requests) {
            changed |= self.g.try_edit(|s| s.clients.max_requests = Some(requests));
        }
        changed |= self.g.lower(
            |s| s.clients.max_requests.map(|m| m as f64),
            |s, v| s.clients.max_requests = Some(v as u64),
            1.0,
            1.0,
        );
        changed |= self.g.lower(
            |s| match s.clients.load {
                LoadSpec::Closed { sessions, .. } => Some(f64::from(sessions)),
                LoadSpec::Open { .. } => None,
            },
            |s, v| {
                if let LoadSpec::Closed { sessions, .. } = &mut s.clients.load {
                    *sessions = v as u32;
                }
            },
            1.0,
            1.0,
        );
        // Fewer participants: drop the last RM and every fault that names it (only
        // transfers scale with `rms`; the business workloads fix their services).
        while self.cur().rms > 2
            && matches!(self.cur().workload, WorkloadSpec::Transfer(_))
            && self.g.budget_left()
        {
            let accepted = self.g.try_edit(|s| {
                let gone = format!("rm{}", s.rms);
                s.rms -= 1;
                if let WorkloadSpec::Transfer(t) = &mut s.workload {
                    if t.fan_out > 1 {
                        t.fan_out = t.fan_out.min(s.rms - 1);
                    }
                }
                let f = &mut s.faults;
                f.crashes.retain(|c| c.node != gone);
                f.drift.retain(|d| d.node != gone);
                f.clock_steps.retain(|c| c.node != gone);
                f.messages.retain(|m| m.from != gone && m.to != gone);
                for p in &mut f.partitions {
                    for g in &mut p.groups {
                        g.retain(|n| *n != gone);
                    }
                    p.groups.retain(|g| !g.is_empty());
                }
                f.partitions.retain(|p| p.groups.len() >= 2);
                for w in &mut f.one_way {
                    w.from.retain(|n| *n != gone);
                    w.to.retain(|n| *n != gone);
                }
                f.one_way.retain(|w| !w.from.is_empty() && !w.to.is_empty());
            });
            if !accepted {
                break;
            }
            changed = true;
        }
        changed
    }

    fn pass_time(&mut self) -> bool {
        let mut changed = false;
        changed |= self
            .g
            .lower(|s| Some(s.duration_ms), |s, v| s.duration_ms = v, 1.0, 1.0);
        // Cutting the drain could fake a failure that the drain exists to rule out
        // (a transaction merely still in flight at the end looks blocked), so only
        // the safety kinds, which a longer run cannot undo, shorten it.
        if matches!(self.g.judge().kind.as_str(), "atomicity" | "invariant") {
            changed |= self
                .g
                .lower(|s| Some(s.drain_ms), |s, v| s.drain_ms = v, 0.0, 1.0);
        }
        let pinned = self
            .cur()
            .faults
            .messages
            .iter()
            .any(|m| matches!(m.fate, MessageFateSpec::Latency { .. }));
        let constant = match self.cur().network.latency {
            LatencySpec::Constant { .. } => None,
            LatencySpec::Uniform { min_ms, .. } => Some(min_ms),
            LatencySpec::Exponential { floor_ms, .. } => Some(floor_ms),
        };
        if let (false, Some(ms)) = (pinned, constant) {
            changed |= self
                .g
                .try_edit(|s| s.network.latency = LatencySpec::Constant { ms });
        }
        changed
    }
}

/// Shrinks the run of `scenario` with `seed`. Errors say why nothing can be shrunk.
pub fn shrink(
    registry: &Registry,
    scenario: &Validated,
    seed: u64,
    opts: &ShrinkOptions,
) -> Result<Shrunk, ShrinkError> {
    let (original, exported) = run_and_export(scenario, seed);
    let kinds = violation_kinds(&original.report);
    if kinds.is_empty() {
        return Err(ShrinkError::NoViolation {
            seed,
            scenario: scenario.scenario.name.clone(),
            program: opts.program.clone(),
        });
    }
    let kind = match &opts.kind {
        Some(k) if kinds.contains(k) => k.clone(),
        Some(k) => {
            return Err(ShrinkError::KindNotShown {
                seed,
                kind: k.clone(),
                shown: kinds,
            })
        }
        None => kinds[0].clone(),
    };
    let exported =
        revalidate(registry, &exported, "exported.ron").map_err(ShrinkError::ExportedInvalid)?;
    let replay = exported.run(seed, None).report;
    let exported = exported.into_loaded().scenario;
    if replay.digest != original.report.digest {
        return Err(ShrinkError::ExportedDiverges {
            replayed: replay.digest,
            original: original.report.digest,
        });
    }
    let before = Sizes::measure(&exported, &replay);
    let judge = ShowsKind {
        registry,
        seed,
        kind: kind.clone(),
        sizes: before.clone(),
        progress: opts.progress,
        judged: 0,
        max_runs: opts.max_runs,
    };
    let mut s = Shrinker {
        g: Greedy::new(exported.clone(), judge, opts.max_runs),
    };
    for _round in 0..8 {
        let mut changed = s.pass_faults();
        changed |= s.pass_windows();
        changed |= s.pass_workload();
        changed |= s.pass_time();
        if !changed || !s.g.budget_left() {
            break;
        }
    }
    let runs = s.g.tries();
    let scenario = s.g.into_current();
    let shrunk =
        revalidate(registry, &scenario, "shrunk.ron").map_err(ShrinkError::ShrunkInvalid)?;
    let (outcome, trace) = tracelog::run_traced(&shrunk, seed);
    let after = Sizes::measure(&scenario, &outcome.report);
    Ok(Shrunk {
        kind,
        exported,
        before,
        scenario,
        after,
        runs,
        interrupted: crate::stop::requested(),
        outcome,
        trace,
    })
}

/// The counterexample file: the shrunk scenario with a header that says what it shows
/// and the `program` commands that made it and replay it.
pub fn counterexample_ron(
    shrunk: &Shrunk,
    program: &str,
    source: &str,
    seed: u64,
    out: &str,
) -> String {
    let mut sc = shrunk.scenario.clone();
    sc.name = format!("{}-counterexample", shrunk.exported.name);
    sc.description = format!(
        "Shrunk from {source} --seed {seed}: the smallest schedule found that still shows {}.",
        shrunk.kind
    );
    // Keep only the expectation that failed, if that is the kind; an invariant
    // violation with no expectation on violations.* makes `acidbase run` exit 1.
    sc.expect
        .retain(|metric, cond| shrunk.kind == format!("expect: {metric} {cond}"));
    let header = format!(
        "{}: a counterexample ({}), shrunk by `{program} shrink {source} --seed {seed}`.\n\
         Every fault is scripted: it replays with no random draws for faults.\n\
         before: {}\n\
         after:  {}\n\
         Reproduce: {program} run {out}",
        sc.name,
        shrunk.kind,
        shrunk.before.line(),
        shrunk.after.line()
    );
    crate::tools::schedule::to_ron(&sc, &header)
}

/// The transactions a story follows: those the violation is about.
pub fn focus_txns(outcome: &Outcome) -> Vec<u64> {
    let r = &outcome.results;
    let mut txns: Vec<u64> = r.examples.iter().map(|e| e.txn).collect();
    txns.extend(r.in_doubt_at_end.iter().map(|e| e.txn));
    txns.extend(r.held_at_end.iter().map(|e| e.txn));
    txns.sort_unstable();
    txns.dedup();
    txns
}

/// The run told in plain words: faults, and what happened to the focus transactions
/// (all transactions if `txns` is empty), in order; repeated sends are folded; then
/// how it ended (see [`crate::story::trace`]).
pub fn story(trace: &[TraceLine], outcome: &Outcome, txns: &[u64]) -> Vec<String> {
    let names = &outcome.names;
    let moments: Vec<_> = trace.iter().map(|l| l.moment(names)).collect();
    let focus = Focus {
        txns: txns.to_vec(),
        untagged: false,
    };
    let mut out = trace_story::tell(&moments, &focus, Voice::Counterexample);
    out.extend(trace_story::ending(
        names,
        &outcome.results,
        &outcome.report,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_the_unsafe_timeout_scenario_and_keeps_atomicity_broken() {
        let l = crate::run::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/2pc-unsafe-timeout.ron"
        )))
        .expect("shipped");
        let s = shrink(&Registry::builtin(), &l, 1, &ShrinkOptions::default()).expect("violates");
        assert_eq!(s.kind, "atomicity");
        assert!(
            s.after.no_larger_than(&s.before),
            "{:?} vs {:?}",
            s.after,
            s.before
        );
        assert!(s.after.requests < s.before.requests);
        assert!(s.outcome.report.violations.atomicity > 0);
        let story = story(&s.trace, &s.outcome, &focus_txns(&s.outcome));
        assert!(
            story.iter().any(|l| l.contains("atomicity is broken")),
            "{story:#?}"
        );
        assert!(story.iter().any(|l| l.contains("partition")), "{story:#?}");
    }

    #[test]
    fn a_blocked_run_keeps_its_drain_and_its_fault() {
        let l = crate::run::parse(
            "(duration_ms: 500, drain_ms: 500, workload: Transfer(fan_out: 2), \
             clients: (load: Closed(sessions: 3, think_ms: 5)), network: (latency: Constant(ms: 5)), \
             faults: (crashes: [(node: \"tm\", at_ms: 15)]))",
            "tm-down.ron",
        )
        .expect("valid");
        let s = shrink(&Registry::builtin(), &l, 1, &ShrinkOptions::default()).expect("blocks");
        assert_eq!(s.kind, "blocked");
        assert_eq!(s.scenario.drain_ms, 500.0);
        // Without the crash nothing blocks: the shrunk schedule still needs it.
        assert_eq!(s.after.faults, 1);
        assert!(s.outcome.report.txns.unresolved > 0);
    }

    #[test]
    fn a_seed_without_violation_is_refused() {
        let l = crate::run::parse("(duration_ms: 100)", "ok.ron").expect("valid");
        let e = shrink(&Registry::builtin(), &l, 1, &ShrinkOptions::default())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("does not violate"), "{e}");
    }
}
