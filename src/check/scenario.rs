//! `acidbase check SCENARIO --exhaustive`: the world a scenario describes, made small
//! (one transaction by default, no random faults: the explorer places the faults),
//! explored by [`super::explore`].

use super::world::{Budget, WorldModel};
use super::{explore, replay, CheckReport, Limits, Replayed, Step};
use crate::node::{Node, NodeSet};
use crate::run::ms_to_us;
use crate::scenario::{LatencySpec, Scenario};

/// What to explore (the resolved `check` flags).
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub max_depth: Option<u32>,
    pub max_states: usize,
    pub max_crashes: u32,
    pub max_drops: u32,
    /// Nodes that may crash (`None`: every node but the client).
    pub crash_nodes: Option<Vec<String>>,
    /// The model's end of time (`None`: the scenario's duration + drain).
    pub horizon_ms: Option<f64>,
    /// Longest message delay (`None`: the largest the scenario's latency can draw).
    pub max_latency_ms: Option<f64>,
    /// Transactions the client issues.
    pub txns: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_depth: None,
            max_states: 1_000_000,
            max_crashes: 1,
            max_drops: 1,
            crash_nodes: None,
            horizon_ms: None,
            max_latency_ms: None,
            txns: 1,
        }
    }
}

/// The scenario as the explorer sees it: `txns` requests, no scripted or random
/// faults, no loss or duplication (the explorer's budget places the faults).
pub fn small(scenario: &Scenario, opts: &CheckOptions) -> Scenario {
    let mut s = scenario.clone();
    s.clients.max_requests = Some(opts.txns);
    s.faults = Default::default();
    s.network.loss_probability = 0.0;
    s.network.duplicate_probability = 0.0;
    s.network.reorder_probability = 0.0;
    s
}

fn max_latency_ms(s: &Scenario) -> f64 {
    match s.network.latency {
        LatencySpec::Constant { ms } => ms,
        LatencySpec::Uniform { max_ms, .. } => max_ms,
        // Unbounded in the simulator: the model takes floor + 5 means (a 1-in-150 tail).
        LatencySpec::Exponential { floor_ms, mean_ms } => floor_ms + 5.0 * mean_ms,
    }
}

/// The world model of any protocol's world built from `scenario`.
pub fn model<N: Node>(
    scenario: &Scenario,
    opts: &CheckOptions,
    names: Vec<String>,
    nodes: Vec<N>,
    durables: Vec<N::Durable>,
) -> Result<WorldModel<N>, String> {
    let crashable: NodeSet = match &opts.crash_nodes {
        None => names
            .iter()
            .enumerate()
            .filter(|(_, n)| *n != "client")
            .map(|(i, _)| crate::node::NodeId(i as u32))
            .collect(),
        Some(list) => {
            let mut set = NodeSet::new();
            for n in list {
                let i = names.iter().position(|m| m == n).ok_or_else(|| {
                    format!(
                        "--crash {n}: no such node; this world has {}",
                        names.join(", ")
                    )
                })?;
                set.insert(crate::node::NodeId(i as u32));
            }
            set
        }
    };
    let budget = Budget {
        max_crashes: opts.max_crashes,
        max_drops: opts.max_drops,
        crashable,
        horizon_us: ms_to_us(
            opts.horizon_ms
                .unwrap_or(scenario.duration_ms + scenario.drain_ms),
        ),
        max_latency_us: ms_to_us(opts.max_latency_ms.unwrap_or(max_latency_ms(scenario))),
    };
    Ok(WorldModel::new(
        names,
        nodes,
        durables,
        scenario.seed,
        budget,
    ))
}

/// The protocols the checker can build a world for. A new protocol adds one arm,
/// calling the same builder its `run` uses (e.g. `"3pc"` → `run::build_three_pc`).
fn with_model<R>(
    scenario: &Scenario,
    opts: &CheckOptions,
    f: impl FnOnce(&dyn Explorable) -> R,
) -> Result<R, String> {
    let s = small(scenario, opts);
    match s.protocol.as_str() {
        "2pc" => {
            let (names, nodes, durables, _) = crate::run::build_two_pc(&s);
            Ok(f(&model(&s, opts, names, nodes, durables)?))
        }
        "3pc" => {
            let (names, nodes, durables, _) = crate::run::build_three_pc(&s);
            Ok(f(&model(&s, opts, names, nodes, durables)?))
        }
        other => Err(format!(
            "the exhaustive checker has no world builder for protocol {other:?} yet"
        )),
    }
}

/// Object-safe view of a world model, so one `match` picks the protocol.
pub trait Explorable {
    fn explore(&self, limits: &Limits) -> CheckReport;
    fn replay(&self, steps: &[Step]) -> Result<Replayed, String>;
}

impl<N: Node> Explorable for WorldModel<N> {
    fn explore(&self, limits: &Limits) -> CheckReport {
        explore(self, limits)
    }
    fn replay(&self, steps: &[Step]) -> Result<Replayed, String> {
        replay(self, steps)
    }
}

fn limits(opts: &CheckOptions) -> Limits {
    Limits {
        max_depth: opts.max_depth,
        max_states: opts.max_states,
    }
}

/// Explores the scenario's world exhaustively.
pub fn check(scenario: &Scenario, opts: &CheckOptions) -> Result<CheckReport, String> {
    with_model(scenario, opts, |m| m.explore(&limits(opts)))
}

/// Re-executes a path (a RON list of steps) in the scenario's world.
pub fn replay_steps(
    scenario: &Scenario,
    opts: &CheckOptions,
    steps: &[Step],
) -> Result<Replayed, String> {
    with_model(scenario, opts, |m| m.replay(steps))?
}
