//! The saga as a [`Protocol`]: the orchestrator at `tm`, one participant per shard,
//! the client.

use super::{Policy, SagaNode, SagaOptions, StateStore};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::Report;
use crate::scenario::{ms_to_us, OptionsError, SagaPolicySpec, SagaSpec, Scenario, StateStoreSpec};
use crate::story::StoryPlace;
use crate::workload::Client;

/// An orchestrated saga (Garcia-Molina & Salem 1987).
pub struct Saga;

/// The saga options a scenario's `saga` section asks for.
pub fn saga_options(g: &SagaSpec) -> SagaOptions {
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

impl Protocol for Saga {
    type Node = SagaNode;
    type Options = SagaSpec;

    fn name(&self) -> &'static str {
        "saga"
    }

    fn about(&self) -> &'static str {
        "saga: local commits and compensations, driven forward or back by a recovery job"
    }

    fn options(&self, s: &Scenario) -> Result<SagaSpec, OptionsError> {
        Ok(s.saga.clone())
    }

    fn explorable(&self) -> bool {
        false
    }

    fn build(&self, o: &SagaSpec, w: &mut WorldBuilder<'_, SagaNode>) -> Result<(), BuildError> {
        let opts = saga_options(o);
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        w.host(
            "tm",
            SagaNode::orchestrator(rms.clone(), opts),
            Default::default(),
        )?;
        for shard in 0..rms.len() as u32 {
            let durable = SagaNode::participant_durable(w.shard_ledger(shard));
            w.host(
                &format!("rm{}", shard + 1),
                SagaNode::participant(),
                durable,
            )?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", SagaNode::Client(client))?;
        Ok(())
    }

    /// The recovery job's part of BASE's story: what it finished and what it gave up.
    fn story_at(&self, place: StoryPlace, rep: &Report) -> Vec<String> {
        if place != StoryPlace::SoftState {
            return Vec::new();
        }
        let mut out = Vec::new();
        if rep.repair.automatic > 0 {
            out.push(format!(
                "The recovery job drove {} transaction(s) that a fault left unfinished to a consistent end (forward or compensated); the slowest became consistent {:.1} ms after the fault healed",
                rep.repair.automatic, rep.consistency.time_to_consistent_ms.max
            ));
        }
        if rep.repair.operator > 0 {
            out.push(format!(
                "The recovery job gave up on {} transaction(s) and flagged them for an operator",
                rep.repair.operator
            ));
        }
        out
    }
}
