//! Concrete fault schedules: export a run's faults as a scenario that replays them
//! with no randomness, and measure a schedule's size.
//!
//! A run's faults come from three places: the fault plan (scripted and random crashes
//! and partition windows), the drift of each node's clock, and the network's per
//! message draws (loss, duplication, reordering). [`export`] turns all three into
//! scripted scenario fields: `faults.crashes`, `faults.partitions`/`faults.one_way`,
//! `faults.drift` and `faults.messages`, and switches every random fault off.
//!
//! Messages are named by link and count — the `nth` message `from` sent to `to` —
//! not by a global event number, so removing one fault (as [`crate::tools::shrink`] does)
//! leaves the others on the same messages as long as those links carry the same
//! traffic up to them.
//!
//! **What "replays the same run" means.** The replay has the same trace digest as the
//! original run. Latency that is not a fault is still drawn from the network stream,
//! in order, for every message the script does not name; this reproduces the
//! original draws exactly when the latency is constant or the original run drew no
//! fault coins (no loss, duplication or reordering). In the one remaining case —
//! random latency *and* random message faults — the coins were interleaved with the
//! latency draws, so the export also pins each delivered message's delay
//! (`fate: Latency(delay_ms: …)`, not counted as a fault). The workload's own draws
//! (amounts, keys) still come from the seed, which the export keeps.

use crate::network::{RecordedFate, ScriptedFate};
use crate::node::NodeSet;
use crate::report::Report;
use crate::run::{fault_plan, Outcome, Registry, Validated};
use crate::scenario::{
    CrashSpec, DriftSpec, LoadSpec, MessageFateSpec, MessageFaultSpec, OneWaySpec, PartitionSpec,
    Scenario, ScenarioError,
};
use serde::Serialize;

/// The run scripts the network itself (it may not import this module); these keep
/// their former paths.
pub use crate::run::fates::{message_script, needs_pinned_latencies, prepare_network};

/// µs to ms as written in scenarios (exact: `ms_to_us` gives the µs back).
pub fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn fate_spec(f: ScriptedFate) -> MessageFateSpec {
    match f {
        ScriptedFate::Lose => MessageFateSpec::Lose,
        ScriptedFate::Latency { delay_us } => MessageFateSpec::Latency {
            delay_ms: us_to_ms(delay_us),
        },
        ScriptedFate::Delay { delay_us } => MessageFateSpec::Delay {
            delay_ms: us_to_ms(delay_us),
        },
        ScriptedFate::Duplicate { delay_us, again_us } => MessageFateSpec::Duplicate {
            delay_ms: us_to_ms(delay_us),
            again_ms: us_to_ms(again_us),
        },
    }
}

fn set_names(set: NodeSet, names: &[String]) -> Vec<String> {
    set.iter().map(|n| names[n.index()].clone()).collect()
}

/// The concrete schedule of the run `outcome` of `scenario` with `seed`, as a scenario
/// that replays it with every fault scripted. `outcome` must come from a run with
/// `RunOptions::record_fates` set (else message faults drawn by the network are missing).
pub fn export(scenario: &Scenario, seed: u64, outcome: &Outcome) -> Scenario {
    let names = &outcome.names;
    let plan = fault_plan(scenario, seed, names);
    let mut out = scenario.clone();
    out.seed = seed;
    let f = &mut out.faults;
    f.crashes = plan
        .crashes
        .iter()
        .map(|c| CrashSpec {
            node: names[c.node.index()].clone(),
            at_ms: us_to_ms(c.at_us),
            restart_ms: c.restart_us.map(us_to_ms),
        })
        .collect();
    // The plan lists scripted partitions, then one-way cuts, then random windows; the
    // export keeps that order (cut numbers and equal-time order are in the digest).
    let scripted = scenario.faults.partitions.len() + scenario.faults.one_way.len();
    for w in &plan.partitions[scripted..] {
        let [ab, ba] = &w.cuts[..] else {
            unreachable!("random partitions have two cuts")
        };
        let (from_ms, to_ms) = (us_to_ms(w.from_us), us_to_ms(w.to_us));
        if scenario.faults.one_way.is_empty() {
            f.partitions.push(PartitionSpec {
                groups: vec![set_names(ab.from, names), set_names(ab.to, names)],
                from_ms,
                to_ms,
            });
        } else {
            for cut in [ab, ba] {
                f.one_way.push(OneWaySpec {
                    from: set_names(cut.from, names),
                    to: set_names(cut.to, names),
                    from_ms,
                    to_ms,
                });
            }
        }
    }
    f.random_crashes.clear();
    f.random_partitions = None;
    if f.max_drift_ppm > 0 {
        for name in names {
            if f.drift.iter().any(|d| &d.node == name) {
                continue;
            }
            let ppm = crate::faults::draw_drift_ppm(seed, name, f.max_drift_ppm);
            if ppm != 0 {
                f.drift.push(DriftSpec {
                    node: name.clone(),
                    ppm,
                });
            }
        }
        f.max_drift_ppm = 0;
    }
    f.messages.extend(outcome.message_fates.iter().map(|r| {
        let RecordedFate { message, fate } = *r;
        MessageFaultSpec {
            from: names[message.from.index()].clone(),
            to: names[message.to.index()].clone(),
            nth: message.nth,
            fate: fate_spec(fate),
        }
    }));
    out.network.loss_probability = 0.0;
    out.network.duplicate_probability = 0.0;
    out.network.reorder_probability = 0.0;
    out
}

/// Runs `scenario` with `seed`, recording message fates, and exports its schedule.
pub fn run_and_export(scenario: &Validated, seed: u64) -> (Outcome, Scenario) {
    let opts = crate::run::RunOptions {
        trace: None,
        record_fates: true,
    };
    let outcome = scenario.run_with(seed, opts);
    let exported = export(scenario.scenario(), seed, &outcome);
    (outcome, exported)
}

pub use crate::scenario::to_ron;

/// Serialises and parses `s` again: validation for scenarios built in code.
pub fn revalidate(
    registry: &Registry,
    s: &Scenario,
    file: &str,
) -> Result<Validated, ScenarioError> {
    registry.validate_scenario(s, file)
}

/// How big a schedule and its run are: what shrinking makes smaller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sizes {
    /// Crash windows, partition windows, one-way cuts and faulted messages.
    pub faults: u64,
    /// Messages lost, duplicated or held back by the script (pinned latencies are not
    /// faults).
    pub messages_faulted: u64,
    /// Total time nodes are down or cut off (ms; a crash with no restart counts to the
    /// end of the run, horizon plus drain).
    pub fault_window_ms: f64,
    /// Client requests issued.
    pub requests: u64,
    /// Closed-loop sessions (0 for an open load).
    pub sessions: u64,
    /// Resource managers.
    pub participants: u64,
    /// Events the engine processed.
    pub events: u64,
}

impl Sizes {
    pub fn measure(s: &Scenario, report: &Report) -> Sizes {
        let f = &s.faults;
        let messages_faulted = f
            .messages
            .iter()
            .filter(|m| !matches!(m.fate, MessageFateSpec::Latency { .. }))
            .count() as u64;
        let crash_ms: f64 = f
            .crashes
            .iter()
            .map(|c| c.restart_ms.unwrap_or(s.duration_ms + s.drain_ms) - c.at_ms)
            .sum();
        let cut_ms: f64 = f
            .partitions
            .iter()
            .map(|p| p.to_ms - p.from_ms)
            .chain(f.one_way.iter().map(|w| w.to_ms - w.from_ms))
            .sum();
        Sizes {
            faults: (f.crashes.len() + f.partitions.len() + f.one_way.len()) as u64
                + messages_faulted,
            messages_faulted,
            // `+ 0.0` turns a -0.0 sum of nothing into 0.0.
            fault_window_ms: ((crash_ms + cut_ms) * 1000.0).round() / 1000.0 + 0.0,
            requests: report.txns.requests,
            sessions: match s.clients.load {
                LoadSpec::Closed { sessions, .. } => u64::from(sessions),
                LoadSpec::Open { .. } => 0,
            },
            participants: u64::from(s.rms),
            events: report.events,
        }
    }

    /// No larger than `other` on every measure.
    pub fn no_larger_than(&self, other: &Sizes) -> bool {
        self.faults <= other.faults
            && self.messages_faulted <= other.messages_faulted
            && self.fault_window_ms <= other.fault_window_ms
            && self.requests <= other.requests
            && self.sessions <= other.sessions
            && self.participants <= other.participants
            && self.events <= other.events
    }

    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "{} faults ({} messages faulted, {:.1} ms of fault windows), {} requests, {} sessions, {} participants, {} events",
            self.faults,
            self.messages_faulted,
            self.fault_window_ms,
            self.requests,
            self.sessions,
            self.participants,
            self.events
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(src: &str) -> Scenario {
        crate::run::parse(src, "t.ron")
            .expect("valid")
            .into_scenario()
    }

    fn run(src: &str, seed: u64) -> Outcome {
        crate::run::parse(src, "t.ron")
            .expect("valid")
            .run(seed, None)
    }

    /// Checks replay digests; returns every exported scenario.
    fn replays_exactly(src: &str, seeds: std::ops::Range<u64>) -> Vec<Scenario> {
        let s = crate::run::parse(src, "t.ron").expect("valid");
        let mut all = Vec::new();
        for seed in seeds {
            let (original, exported) = run_and_export(&s, seed);
            let l = revalidate(&Registry::builtin(), &exported, "exported.ron")
                .expect("the export is valid");
            assert!(l.scenario.faults.random_crashes.is_empty());
            assert_eq!(l.scenario.network.loss_probability, 0.0);
            let replay = l.run(seed, None);
            assert_eq!(
                replay.report.digest,
                original.report.digest,
                "seed {seed}: {}",
                to_ron(&exported, "")
            );
            assert_eq!(replay.report.txns, original.report.txns);
            all.push(exported);
        }
        all
    }

    fn count(all: &[Scenario], f: impl Fn(&MessageFateSpec) -> bool) -> usize {
        all.iter()
            .flat_map(|s| &s.faults.messages)
            .filter(|m| f(&m.fate))
            .count()
    }

    #[test]
    fn constant_latency_with_loss_duplication_and_reordering_replays_exactly() {
        let all = replays_exactly(
            "(duration_ms: 300, network: (latency: Constant(ms: 3), loss_probability: 0.05, duplicate_probability: 0.05, reorder_probability: 0.2, reorder_delay_ms: 20))",
            1..4,
        );
        assert!(count(&all, |f| matches!(f, MessageFateSpec::Lose)) > 0);
        assert!(count(&all, |f| matches!(f, MessageFateSpec::Duplicate { .. })) > 0);
        assert!(count(&all, |f| matches!(f, MessageFateSpec::Delay { .. })) > 0);
        assert_eq!(
            count(&all, |f| matches!(f, MessageFateSpec::Latency { .. })),
            0
        );
    }

    #[test]
    fn random_latency_with_message_faults_pins_latencies_and_replays_exactly() {
        let all = replays_exactly(
            "(duration_ms: 300, network: (loss_probability: 0.05, duplicate_probability: 0.05, reorder_probability: 0.2, reorder_delay_ms: 20))",
            1..3,
        );
        assert!(count(&all, |f| matches!(f, MessageFateSpec::Lose)) > 0);
        assert!(count(&all, |f| matches!(f, MessageFateSpec::Latency { .. })) > 0);
    }

    #[test]
    fn random_crashes_partitions_and_drift_replay_exactly() {
        let all = replays_exactly(
            "(duration_ms: 500, faults: (max_drift_ppm: 300, random_crashes: [(nodes: [\"all\"], rate_per_s: 4, mean_downtime_ms: 40)], random_partitions: (rate_per_s: 4, mean_duration_ms: 50)))",
            1..4,
        );
        assert!(all
            .iter()
            .all(|s| s.faults.max_drift_ppm == 0 && !s.faults.drift.is_empty()));
        assert!(all.iter().map(|s| s.faults.crashes.len()).sum::<usize>() > 0);
        assert!(all.iter().map(|s| s.faults.partitions.len()).sum::<usize>() > 0);
        let all = replays_exactly(
            "(duration_ms: 500, faults: (one_way: [(from: [\"tm\"], to: [\"rm1\"], from_ms: 10, to_ms: 20)], random_partitions: (rate_per_s: 6, mean_duration_ms: 50)))",
            1..3,
        );
        assert!(all.iter().any(|s| s.faults.one_way.len() > 1));
    }

    #[test]
    fn a_scripted_loss_loses_that_message_only() {
        let base = "(duration_ms: 100, rms: 2, clients: (load: Closed(sessions: 1, think_ms: 5), max_requests: 1), network: (latency: Constant(ms: 5))";
        let plain = run(&format!("{base})"), 1).report;
        assert_eq!(plain.network.dropped, 0);
        let lossy = run(
            &format!(
                "{base}, faults: (messages: [(from: \"tm\", to: \"rm2\", nth: 1, fate: Lose)]))"
            ),
            1,
        )
        .report;
        assert_eq!(lossy.network.dropped, 1);
        assert_ne!(lossy.digest, plain.digest);
    }

    #[test]
    fn sizes_count_faults_but_not_pinned_latencies() {
        let s = scenario(
            "(faults: (crashes: [(node: \"tm\", at_ms: 10, restart_ms: 30)], messages: [(from: \"tm\", to: \"rm1\", nth: 2, fate: Lose), (from: \"tm\", to: \"rm1\", nth: 3, fate: Latency(delay_ms: 4))]))",
        );
        let z = Sizes::measure(&s, &Report::default());
        assert_eq!(
            (z.faults, z.messages_faulted, z.fault_window_ms),
            (2, 1, 20.0)
        );
        assert!(z.no_larger_than(&z));
    }
}
