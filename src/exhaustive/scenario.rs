//! `acidbase check SCENARIO --exhaustive`: the world a scenario describes, made small
//! (one transaction by default, no random faults: the explorer places the faults),
//! explored by [`super::explore`].

use super::world::{Budget, WorldModel};
use super::{explore, replay, CheckError, CheckReport, Limits, Replayed, Step};
use crate::node::{Node, NodeSet};
use crate::scenario::ms_to_us;
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
    /// Told how the exploration goes ([`super::Limits::progress`]).
    pub progress: Option<super::ProgressHook>,
    /// Threads that expand each level ([`super::Limits::threads`]; the report is the
    /// same at any count).
    pub threads: usize,
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
            progress: None,
            threads: 1,
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
) -> Result<WorldModel<N>, CheckError> {
    let crashable: NodeSet =
        match &opts.crash_nodes {
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
                        CheckError::UnknownNode {
                            node: n.clone(),
                            nodes: names.clone(),
                        }
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

/// Object-safe view of a world model, whatever its node type (the registry builds
/// one for the protocol a scenario names: `run::Registry::check`).
pub trait Explorable {
    fn explore(&self, limits: &Limits) -> CheckReport;
    fn replay(&self, steps: &[Step]) -> Result<Replayed, CheckError>;
}

impl<N: Node> Explorable for WorldModel<N> {
    fn explore(&self, limits: &Limits) -> CheckReport {
        explore(self, limits)
    }
    fn replay(&self, steps: &[Step]) -> Result<Replayed, CheckError> {
        replay(self, steps)
    }
}

/// The explorer's limits the options set.
pub fn limits(opts: &CheckOptions) -> Limits {
    Limits {
        max_depth: opts.max_depth,
        max_states: opts.max_states,
        progress: opts.progress,
        threads: opts.threads,
    }
}
