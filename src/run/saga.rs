//! Builds a saga world: the orchestrator at `tm`, one participant per shard, the client.

use super::{client_config, ms_to_us, resolve, run_world, shard_ledger, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::saga::{Policy, SagaNode, SagaOptions, StateStore};
use crate::scenario::{node_names, SagaPolicySpec, Scenario, StateStoreSpec};
use crate::workload::Client;

/// The saga options a scenario asks for.
pub fn saga_options(scenario: &Scenario) -> SagaOptions {
    let g = &scenario.saga;
    SagaOptions {
        state_store: match g.state_store {
            StateStoreSpec::StatusField => StateStore::StatusField,
            StateStoreSpec::WriteAheadLog => StateStore::WriteAheadLog,
        },
        policy: match g.policy {
            SagaPolicySpec::Forward => Policy::Forward,
            SagaPolicySpec::Backward => Policy::Backward,
        },
        recovery: g.recovery,
        scan_interval_us: ms_to_us(g.scan_interval_ms).max(1),
        step_timeout_us: ms_to_us(g.step_timeout_ms).max(1),
        step_retries: g.step_retries,
        give_up_after_attempts: g.give_up_after_attempts,
        watermark_lag_ids: g.watermark_lag_ids,
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let names = node_names(scenario);
    let opts = saga_options(scenario);
    let tm = resolve(&names, "tm");
    let rms: Vec<NodeId> = (1..=scenario.rms)
        .map(|i| resolve(&names, &format!("rm{i}")))
        .collect();
    let client = resolve(&names, "client");
    let mut nodes = Vec::with_capacity(names.len());
    let mut durables = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let id = NodeId(i as u32);
        let (node, durable) = if id == tm {
            (
                SagaNode::orchestrator(rms.clone(), opts.clone()),
                Default::default(),
            )
        } else if let Some(shard) = rms.iter().position(|&r| r == id) {
            (
                SagaNode::participant(),
                SagaNode::participant_durable(shard_ledger(scenario, shard as u32)),
            )
        } else if id == client {
            (
                SagaNode::Client(Client::new(client_config(scenario, tm))),
                Default::default(),
            )
        } else {
            // A node another protocol's options add (a 2PC standby): idle here.
            (SagaNode::participant(), Default::default())
        };
        nodes.push(node);
        durables.push(durable);
    }
    let mut clients = NodeSet::new();
    clients.insert(client);
    run_world(scenario, seed, names, nodes, durables, clients, trace)
}
