//! Builds a 3PC world: a TM, one RM per shard, an optional standby TM, the client.

use super::{client_config, ms_to_us, resolve, run_world, shard_ledger, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::three_pc::{AckTimeout, Durable, ThreePcNode, ThreePcOptions, Timeouts};
use crate::scenario::{node_names, AckTimeoutSpec, Scenario, TimeoutsSpec};
use crate::workload::Client;

/// The 3PC options a scenario asks for.
pub fn three_pc_options(scenario: &Scenario) -> ThreePcOptions {
    let p = &scenario.three_pc;
    ThreePcOptions {
        vote_timeout_us: ms_to_us(p.vote_timeout_ms).max(1),
        ack_timeout_us: ms_to_us(p.precommit_ack_timeout_ms).max(1),
        on_ack_timeout: match p.on_precommit_ack_timeout {
            AckTimeoutSpec::Commit => AckTimeout::Commit,
            AckTimeoutSpec::Abort => AckTimeout::Abort,
        },
        wait_timeout_us: ms_to_us(p.rm_wait_timeout_ms).max(1),
        precommit_timeout_us: ms_to_us(p.rm_precommit_timeout_ms).max(1),
        decision_retry_us: ms_to_us(p.decision_retry_ms).max(1),
        inquiry_interval_us: ms_to_us(p.inquiry_interval_ms).max(1),
        standby_tm: p.standby_tm,
        timeouts: match p.timeouts {
            TimeoutsSpec::Terminate => Timeouts::Terminate,
            TimeoutsSpec::DecideAlone => Timeouts::DecideAlone,
        },
        election_timeout_us: ms_to_us(p.election_timeout_ms).max(1),
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let (names, nodes, durables, clients) = build(scenario);
    run_world(scenario, seed, names, nodes, durables, clients, trace)
}

/// The 3PC world a scenario describes: node names, nodes, their initial durable
/// stores, and the client nodes (shared by the simulator and the exhaustive checker).
pub fn build(scenario: &Scenario) -> (Vec<String>, Vec<ThreePcNode>, Vec<Durable>, NodeSet) {
    let names = node_names(scenario);
    let opts = three_pc_options(scenario);
    let tm = resolve(&names, "tm");
    let rms: Vec<NodeId> = (1..=scenario.rms)
        .map(|i| resolve(&names, &format!("rm{i}")))
        .collect();
    // The node exists whenever the names list it (so one fault schedule fits every
    // protocol); RMs turn to it only with `three_pc.standby_tm`.
    let standby = names
        .iter()
        .any(|n| n == "standby")
        .then(|| resolve(&names, "standby"));
    let client = resolve(&names, "client");
    let mut nodes = Vec::with_capacity(names.len());
    let mut durables = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = NodeId(i as u32);
        let (node, durable) = if id == tm {
            (
                ThreePcNode::tm(rms.clone(), standby, opts.clone()),
                ThreePcNode::tm_durable(),
            )
        } else if let Some(shard) = rms.iter().position(|&r| r == id) {
            let ledger = shard_ledger(scenario, shard as u32);
            (
                ThreePcNode::rm(tm, standby, ledger.keys(), opts.clone()),
                ThreePcNode::rm_durable(ledger),
            )
        } else if Some(id) == standby {
            (ThreePcNode::standby(tm, opts.clone()), Default::default())
        } else {
            assert_eq!(id, client, "unexpected node {name}");
            (
                ThreePcNode::Client(Client::new(client_config(scenario, tm))),
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
