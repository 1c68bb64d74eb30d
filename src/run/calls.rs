//! Builds a service-call world: the order service (`rm1`, the caller), the payment
//! service (`rm2`), the shipping service (`rm3`) and the client, which places its
//! orders at the order service. No coordinator: the services call each other.

use super::{client_config, ms_to_us, resolve, run_world, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::service_calls::{CallMode, CallsNode, CallsOptions};
use crate::scenario::{node_names, CallModeSpec, Scenario};
use crate::workload::Client;

/// The service-call options a scenario asks for.
pub fn calls_options(scenario: &Scenario) -> CallsOptions {
    let c = &scenario.calls;
    CallsOptions {
        mode: match c.mode {
            CallModeSpec::Sync => CallMode::Sync,
            CallModeSpec::Async => CallMode::Async,
        },
        call_timeout_us: ms_to_us(c.call_timeout_ms).max(1),
        callback_timeout_us: ms_to_us(c.callback_timeout_ms).max(1),
        processing_us: ms_to_us(c.processing_ms),
        query: c.query,
        compensation: c.compensation,
        async_assurance: c.async_assurance,
        retry_us: ms_to_us(c.retry_ms).max(1),
        reconciliation: c.reconciliation,
        period_us: ms_to_us(c.period_ms).max(1),
        page_size: c.page_size.max(1),
        grace_us: ms_to_us(c.grace_ms),
        archive_after_us: ms_to_us(scenario.clients.deadline_ms),
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let names = node_names(scenario);
    let opts = calls_options(scenario);
    let order = resolve(&names, "rm1");
    let payment = resolve(&names, "rm2");
    let shipping = resolve(&names, "rm3");
    let client = resolve(&names, "client");
    let mut nodes = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = NodeId(i as u32);
        nodes.push(if id == order {
            CallsNode::order(opts.clone(), payment, shipping, client)
        } else if id == payment {
            CallsNode::payment(opts.clone(), order)
        } else if id == shipping {
            CallsNode::Shipping
        } else {
            assert_eq!(id, client, "unexpected node {name}");
            CallsNode::Client(Client::new(client_config(scenario, order)))
        });
    }
    let durables = vec![Default::default(); names.len()];
    let mut clients = NodeSet::new();
    clients.insert(client);
    run_world(scenario, seed, names, nodes, durables, clients, trace)
}
