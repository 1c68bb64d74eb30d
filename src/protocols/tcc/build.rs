//! TCC as a [`Protocol`]: a coordinator (`tm`), one participant per shard or service
//! (`rm1..rmN`), the client.

use super::{FencePurge, TccNode, TccOptions};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{ms_to_us, FencePurgeSpec, OptionsError, Scenario, TccSpec};
use crate::workload::{AdmittingWorld, Client};

/// Try-Confirm-Cancel with Seata's fence (idempotency, empty rollback, anti-hanging).
pub struct Tcc;

/// The TCC options a scenario's `tcc` section asks for.
pub fn tcc_options(t: &TccSpec) -> TccOptions {
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

impl Protocol for Tcc {
    type Node = TccNode;
    type Options = TccSpec;

    fn name(&self) -> &'static str {
        "tcc"
    }

    fn about(&self) -> &'static str {
        "Try-Confirm-Cancel: business-level reservations, guarded by a durable fence"
    }

    fn options(&self, s: &Scenario) -> Result<TccSpec, OptionsError> {
        Ok(s.tcc.clone())
    }

    fn explorable(&self) -> bool {
        false
    }

    fn build(&self, o: &TccSpec, w: &mut WorldBuilder<'_, TccNode>) -> Result<(), BuildError> {
        let opts = tcc_options(o);
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        w.host(
            "tm",
            TccNode::tm(rms.clone(), opts.clone()),
            TccNode::tm_durable(),
        )?;
        for shard in 0..rms.len() as u32 {
            let durable = TccNode::rm_durable(w.shard_ledger(shard));
            w.host(
                &format!("rm{}", shard + 1),
                TccNode::rm(tm, opts.clone()),
                durable,
            )?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", TccNode::Client(client))?;
        Ok(())
    }

    /// The fence's counts: the anomalies it let through and the guards at work.
    fn counts_at(&self, place: CountsPlace, rep: &Report) -> Vec<CountsLine> {
        if place != CountsPlace::AfterBusiness {
            return Vec::new();
        }
        let t = &rep.tcc;
        vec![
            CountsLine::new(
                "tcc",
                format!(
                    "{} duplicates applied, {} empty rollbacks applied, {} hanging reservations, {} partial compensations ({} unfixed)",
                    t.duplicate_applied,
                    t.empty_rollback_applied,
                    t.hanging_reservations,
                    t.partial_compensation,
                    t.partial_compensation_unfixed
                ),
            ),
            CountsLine::new(
                "",
                format!(
                    "guards at work: {} duplicates ignored, {} empty rollbacks recorded, {} late Tries refused",
                    t.duplicates_ignored, t.empty_rollbacks_recorded, t.late_tries_refused
                ),
            ),
        ]
    }
}
