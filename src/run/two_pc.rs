//! Builds a 2PC world: a TM, one RM per shard, an optional standby TM, the client.

use super::{client_config, ms_to_us, resolve, run_world, shard_ledger, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::two_pc::{Durable, TwoPcNode, TwoPcOptions};
use crate::scenario::{node_names, Scenario};
use crate::workload::Client;

/// The 2PC options a scenario asks for.
pub fn two_pc_options(scenario: &Scenario) -> TwoPcOptions {
    let p = &scenario.two_pc;
    TwoPcOptions {
        vote_timeout_us: ms_to_us(p.vote_timeout_ms).max(1),
        decision_retry_us: ms_to_us(p.decision_retry_ms).max(1),
        inquiry_interval_us: ms_to_us(p.inquiry_interval_ms).max(1),
        cooperative_termination: p.cooperative_termination,
        standby_tm: p.standby_tm,
        rm_abort_timeout_us: p.rm_abort_on_timeout.then(|| ms_to_us(p.rm_timeout_ms)),
        no_decision_retry: p.no_decision_retry,
        answer_client_after_acks: p.answer_client_after_acks,
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let (names, nodes, durables, clients) = build(scenario);
    run_world(scenario, seed, names, nodes, durables, clients, trace)
}

/// The 2PC world a scenario describes: node names, nodes, their initial durable
/// stores, and the client nodes (shared by the simulator and the exhaustive checker).
pub fn build(scenario: &Scenario) -> (Vec<String>, Vec<TwoPcNode>, Vec<Durable>, NodeSet) {
    let names = node_names(scenario);
    let opts = two_pc_options(scenario);
    let tm = resolve(&names, "tm");
    let rms: Vec<NodeId> = (1..=scenario.rms)
        .map(|i| resolve(&names, &format!("rm{i}")))
        .collect();
    let standby = scenario
        .two_pc
        .standby_tm
        .then(|| resolve(&names, "standby"));
    let client = resolve(&names, "client");
    let mut nodes = Vec::with_capacity(names.len());
    let mut durables = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = NodeId(i as u32);
        let (node, durable) = if id == tm {
            (
                TwoPcNode::tm(rms.clone(), opts.clone()),
                TwoPcNode::tm_durable(),
            )
        } else if let Some(shard) = rms.iter().position(|&r| r == id) {
            let ledger = shard_ledger(scenario, shard as u32);
            (
                TwoPcNode::rm(tm, standby, ledger.keys(), opts.clone()),
                TwoPcNode::rm_durable(ledger),
            )
        } else if Some(id) == standby {
            (TwoPcNode::standby(opts.clone()), Default::default())
        } else {
            assert_eq!(id, client, "unexpected node {name}");
            (
                TwoPcNode::Client(Client::new(client_config(scenario, tm))),
                Default::default(),
            )
        };
        nodes.push(node);
        durables.push(durable);
    }
    let mut clients = NodeSet::new();
    clients.insert(client);
    (names, nodes, durables, clients)
}
