//! Reliable messaging as a [`Protocol`]: a gateway at `tm`, one service per shard,
//! the `broker`, the client.

use super::{Idempotence, Mechanism, MessagingNode, MessagingOptions};
use crate::protocols::world::{standard_node_names, BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, MessagingCounts, Report};
use crate::scenario::{
    ms_to_us, ConsumerSpec, Loaded, MechanismSpec, MessagingSpec, OptionsError, Scenario,
    ScenarioError,
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

    fn options(&self, s: &Scenario) -> Result<MessagingSpec, OptionsError> {
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
        messaging_story(&report.messaging)
    }

    fn counts_at(&self, place: CountsPlace, report: &Report) -> Vec<CountsLine> {
        if place != CountsPlace::AfterNetwork {
            return Vec::new();
        }
        let m = &report.messaging;
        vec![CountsLine::new(
            "messaging",
            format!(
                "{} published, {} delivered ({} redelivered), {} duplicates applied, {} ignored, {} phantom, {} lost, {} pending at end, {} check-backs; publish→apply p50 {:.1} ms p99 {:.1} ms; debit→credit p50 {:.1} ms p99 {:.1} ms",
                m.published,
                m.delivered,
                m.redelivered,
                m.duplicates_applied,
                m.duplicates_ignored,
                m.phantom_messages,
                m.lost_messages,
                m.pending_at_end,
                m.checkbacks,
                m.publish_to_apply_ms.p50,
                m.publish_to_apply_ms.p99,
                m.debit_to_credit_ms.p50,
                m.debit_to_credit_ms.p99
            ),
        )]
    }
}

/// What the messaging counts mean, in plain words.
fn messaging_story(m: &MessagingCounts) -> Vec<String> {
    let mut out = Vec::new();
    // Only what the counts show: the cause (a crash, a refusal, a forgetful broker) is
    // told by the rest of the story when it happened, not guessed here.
    if m.phantom_messages > 0 {
        out.push(format!("PHANTOM MESSAGES: {} message(s) credited (or still deliverable) whose debit never committed — money created", m.phantom_messages));
    }
    if m.lost_messages > 0 {
        out.push(format!("LOST MESSAGES: {} debit(s) committed whose message nobody holds and nobody applied — money destroyed", m.lost_messages));
    }
    if m.duplicates_applied > 0 {
        out.push(format!("DOUBLE APPLICATION: {} redelivered message(s) were applied again by a consumer without idempotence — at-least-once delivery needs an idempotent consumer", m.duplicates_applied));
    }
    if m.duplicates_ignored > 0 {
        out.push(format!("{} duplicate delivery(ies) reached a consumer and its idempotence method kept them harmless", m.duplicates_ignored));
    }
    if m.pending_at_end > 0 {
        out.push(format!(
            "{} message(s) still pending at the end ({} of money in flight): not yet consistent",
            m.pending_at_end, m.in_flight_money
        ));
    }
    out
}
