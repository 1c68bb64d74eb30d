//! The scenario's message faults given to the network: its scripted fates
//! (`faults.messages`) and, when a tool asks (`RunOptions::record_fates`), the recording of drawn ones
//! that [`crate::tools::schedule::export`] turns back into a script.
//!
//! It lives in the run, not in [`crate::tools::schedule`], because every run needs it and
//! the schedule tools are built on runs.

use super::ms_to_us;
use crate::engine::{Observer, Sim};
use crate::network::{LinkMessage, ScriptedFate};
use crate::node::{Node, NodeId};
use crate::scenario::{LatencySpec, MessageFateSpec, Scenario};

/// Does the latency model draw from the network stream?
fn latency_is_random(s: &Scenario) -> bool {
    match s.network.latency {
        LatencySpec::Constant { .. } => false,
        LatencySpec::Uniform { min_ms, max_ms } => ms_to_us(max_ms) > ms_to_us(min_ms),
        LatencySpec::Exponential { .. } => true,
    }
}

fn draws_message_faults(s: &Scenario) -> bool {
    let n = &s.network;
    n.loss_probability > 0.0 || n.duplicate_probability > 0.0 || n.reorder_probability > 0.0
}

/// Must an export pin plain latencies to replay exactly? (See [`crate::tools::schedule`].)
pub fn needs_pinned_latencies(s: &Scenario) -> bool {
    latency_is_random(s) && draws_message_faults(s)
}

/// The scenario's scripted message fates, by node index.
pub fn message_script(s: &Scenario, names: &[String]) -> Vec<(LinkMessage, ScriptedFate)> {
    let id = |n: &str| {
        NodeId(
            names
                .iter()
                .position(|m| m == n)
                .expect("node names were validated") as u32,
        )
    };
    s.faults
        .messages
        .iter()
        .map(|m| {
            let fate = match m.fate {
                MessageFateSpec::Lose => ScriptedFate::Lose,
                MessageFateSpec::Latency { delay_ms } => ScriptedFate::Latency {
                    delay_us: ms_to_us(delay_ms),
                },
                MessageFateSpec::Delay { delay_ms } => ScriptedFate::Delay {
                    delay_us: ms_to_us(delay_ms),
                },
                MessageFateSpec::Duplicate { delay_ms, again_ms } => ScriptedFate::Duplicate {
                    delay_us: ms_to_us(delay_ms),
                    again_us: ms_to_us(again_ms),
                },
            };
            let message = LinkMessage {
                from: id(&m.from),
                to: id(&m.to),
                nth: m.nth,
            };
            (message, fate)
        })
        .collect()
}

/// Gives the network the scenario's scripted fates and, with `record_fates`, starts
/// recording drawn ones. Called by `run_built` for every protocol.
pub fn prepare_network<N: Node, O: Observer>(
    s: &Scenario,
    names: &[String],
    sim: &mut Sim<N, O>,
    record_fates: bool,
) {
    if !s.faults.messages.is_empty() {
        sim.set_message_script(message_script(s, names));
    }
    if record_fates {
        sim.record_message_fates(needs_pinned_latencies(s));
    }
}
