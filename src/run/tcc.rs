//! Builds a TCC world: a coordinator (`tm`), one participant per shard/service
//! (`rm1..rmN`), the client.

use super::{client_config, ms_to_us, resolve, run_world, shard_ledger, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::tcc::{FencePurge, TccNode, TccOptions};
use crate::scenario::{node_names, FencePurgeSpec, Scenario};
use crate::workload::Client;

/// The TCC options a scenario asks for.
pub fn tcc_options(scenario: &Scenario) -> TccOptions {
    let t = &scenario.tcc;
    TccOptions {
        try_timeout_us: ms_to_us(t.try_timeout_ms).max(1),
        retry_us: ms_to_us(t.retry_ms).max(1),
        idempotency: t.idempotency,
        empty_rollback_guard: t.empty_rollback_guard,
        anti_hanging: t.anti_hanging,
        fence_purge: match t.fence_purge {
            FencePurgeSpec::Watermark => FencePurge::Watermark,
            FencePurgeSpec::AfterMs(ms) => FencePurge::AfterUs(ms_to_us(ms).max(1)),
        },
        watermark_lag_ids: t.watermark_lag_ids,
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let names = node_names(scenario);
    let opts = tcc_options(scenario);
    let tm = resolve(&names, "tm");
    let rms: Vec<NodeId> = (1..=scenario.rms)
        .map(|i| resolve(&names, &format!("rm{i}")))
        .collect();
    let client = resolve(&names, "client");
    let mut nodes = Vec::with_capacity(names.len());
    let mut durables = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = NodeId(i as u32);
        let (node, durable) = if id == tm {
            (
                TccNode::tm(rms.clone(), opts.clone()),
                TccNode::tm_durable(),
            )
        } else if let Some(shard) = rms.iter().position(|&r| r == id) {
            (
                TccNode::rm(tm, opts.clone()),
                TccNode::rm_durable(shard_ledger(scenario, shard as u32)),
            )
        } else {
            // Extra nodes of other protocols (a 2PC standby) are not built: node_names
            // adds them only when their options ask.
            assert_eq!(id, client, "unexpected node {name} in a TCC world");
            (
                TccNode::Client(Client::new(client_config(scenario, tm))),
                Default::default(),
            )
        };
        nodes.push(node);
        durables.push(durable);
    }
    let mut clients = NodeSet::new();
    clients.insert(client);
    run_world(scenario, seed, names, nodes, durables, clients, trace)
}
