//! Builds a reliable-messaging world: the gateway `tm`, one service per shard
//! (`rm1..rmN`), the `broker`, the client.

use super::{client_config, ms_to_us, resolve, run_world, shard_ledger, Outcome, TraceOut};
use crate::node::{NodeId, NodeSet};
use crate::protocols::messaging::{Idempotence, Mechanism, MessagingNode, MessagingOptions};
use crate::scenario::{node_names, ConsumerSpec, MechanismSpec, Scenario};
use crate::workload::Client;

/// The messaging options a scenario asks for.
pub fn messaging_options(scenario: &Scenario) -> MessagingOptions {
    let m = &scenario.messaging;
    MessagingOptions {
        mechanism: match m.mechanism {
            MechanismSpec::Outbox => Mechanism::Outbox,
            MechanismSpec::HalfMessage => Mechanism::HalfMessage,
            MechanismSpec::PublishThenCommit => Mechanism::PublishThenCommit,
            MechanismSpec::CommitThenPublish => Mechanism::CommitThenPublish,
        },
        idempotence: match m.consumer {
            ConsumerSpec::UniqueKey => Idempotence::UniqueKey,
            ConsumerSpec::DedupeTable => Idempotence::DedupeTable,
            ConsumerSpec::StateMachine => Idempotence::StateMachine,
            ConsumerSpec::NaturallyIdempotent => Idempotence::NaturallyIdempotent,
            ConsumerSpec::NoDedupe => Idempotence::NoDedupe,
        },
        step_delay_us: ms_to_us(m.step_delay_ms),
        retry_us: ms_to_us(m.retry_ms).max(1),
        redeliver_us: ms_to_us(m.redeliver_ms).max(1),
        checkback_us: ms_to_us(m.checkback_ms).max(1),
        check_back: m.check_back,
    }
}

pub(super) fn run(scenario: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    let names = node_names(scenario);
    let opts = messaging_options(scenario);
    let gateway = resolve(&names, "tm");
    let broker = resolve(&names, "broker");
    let client = resolve(&names, "client");
    let rms: Vec<NodeId> = (1..=scenario.rms)
        .map(|i| resolve(&names, &format!("rm{i}")))
        .collect();
    let mut nodes = Vec::with_capacity(names.len());
    let mut durables = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = NodeId(i as u32);
        let (node, durable) = if id == gateway {
            (MessagingNode::gateway(rms.clone()), Default::default())
        } else if let Some(shard) = rms.iter().position(|&r| r == id) {
            (
                MessagingNode::service(shard as u32, rms.clone(), broker, opts.clone()),
                MessagingNode::service_durable(shard_ledger(scenario, shard as u32)),
            )
        } else if id == broker {
            (MessagingNode::broker(opts.clone()), Default::default())
        } else {
            assert_eq!(id, client, "unexpected node {name}");
            (
                MessagingNode::Client(Client::new(client_config(scenario, gateway))),
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
