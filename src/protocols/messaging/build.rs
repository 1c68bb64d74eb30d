//! Reliable messaging as a [`Protocol`]: a gateway at `tm`, one service per shard,
//! the `broker`, the client.

use super::{Idempotence, Mechanism, MessagingNode, MessagingOptions};
use crate::protocols::world::{standard_node_names, BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::Report;
use crate::scenario::{
    ms_to_us, ConsumerSpec, Loaded, MechanismSpec, MessagingSpec, Scenario, ScenarioError,
};
use crate::workload::Client;

/// Reliable messaging: an outbox or a half message, a broker, idempotent consumers.
pub struct Messaging;

/// The messaging options a scenario's `messaging` section asks for.
pub fn messaging_options(m: &MessagingSpec) -> MessagingOptions {
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

impl Protocol for Messaging {
    type Node = MessagingNode;
    type Options = MessagingSpec;

    fn name(&self) -> &'static str {
        "messaging"
    }

    fn about(&self) -> &'static str {
        "reliable messaging: a local commit and a message, delivered at least once, consumed once"
    }

    fn options(&self, s: &Scenario) -> Result<MessagingSpec, String> {
        Ok(s.messaging.clone())
    }

    fn node_names(&self, s: &Scenario, _o: &MessagingSpec) -> Vec<String> {
        let mut names = standard_node_names(s);
        names.insert(names.len() - 1, "broker".into());
        names
    }

    fn validate(&self, l: &Loaded, _o: &MessagingSpec) -> Result<(), ScenarioError> {
        crate::scenario::fit_messaging(l)
    }

    fn explorable(&self) -> bool {
        false
    }

    fn build(
        &self,
        o: &MessagingSpec,
        w: &mut WorldBuilder<'_, MessagingNode>,
    ) -> Result<(), BuildError> {
        let opts = messaging_options(o);
        let gateway = w.id("tm")?;
        let broker = w.id("broker")?;
        let rms = w.rms()?;
        w.host(
            "tm",
            MessagingNode::gateway(rms.clone()),
            Default::default(),
        )?;
        for shard in 0..rms.len() as u32 {
            let node = MessagingNode::service(shard, rms.clone(), broker, opts.clone());
            let durable = MessagingNode::service_durable(w.shard_ledger(shard));
            w.host(&format!("rm{}", shard + 1), node, durable)?;
        }
        w.host("broker", MessagingNode::broker(opts), Default::default())?;
        let client = Client::new(w.client_config(gateway));
        w.host_client("client", MessagingNode::Client(client))?;
        Ok(())
    }

    fn story(&self, report: &Report) -> Vec<String> {
        crate::report::messaging_story(&report.messaging)
    }
}
