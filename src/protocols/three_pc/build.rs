//! 3PC as a [`Protocol`]: a TM, one RM per shard, an optional standby TM, the client.

use super::{AckTimeout, ThreePcNode, ThreePcOptions, Timeouts};
use crate::protocols::locking_rm::LockingWorld;
use crate::protocols::world::{standard_node_names, BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::scenario::{
    ms_to_us, AckTimeoutSpec, Loaded, OptionsError, Scenario, ScenarioError, ThreePcSpec,
    TimeoutsSpec,
};
use crate::workload::{AdmittingWorld, Client};

/// Three-phase commit (Skeen 1981; Bernstein, Hadzilacos & Goodman 1987, §7.5).
pub struct ThreePc;

/// The 3PC options a scenario's `three_pc` section asks for.
pub fn three_pc_options(p: &ThreePcSpec) -> ThreePcOptions {
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

impl Protocol for ThreePc {
    type Node = ThreePcNode;
    type Options = ThreePcSpec;

    fn name(&self) -> &'static str {
        "3pc"
    }

    fn about(&self) -> &'static str {
        "three-phase commit: non-blocking under crashes in a synchronous network; splits under partitions"
    }

    fn options(&self, s: &Scenario) -> Result<ThreePcSpec, OptionsError> {
        Ok(s.three_pc.clone())
    }

    fn node_names(&self, s: &Scenario, o: &ThreePcSpec) -> Vec<String> {
        let mut names = standard_node_names(s);
        if o.standby_tm {
            names.insert(names.len() - 1, "standby".into());
        }
        names
    }

    fn validate(&self, l: &Loaded, _o: &ThreePcSpec) -> Result<(), ScenarioError> {
        crate::scenario::fit_three_pc(l)
    }

    fn build(
        &self,
        o: &ThreePcSpec,
        w: &mut WorldBuilder<'_, ThreePcNode>,
    ) -> Result<(), BuildError> {
        let opts = three_pc_options(o);
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        let standby = if w.has("standby") {
            Some(w.id("standby")?)
        } else {
            None
        };
        let node = ThreePcNode::tm(rms.clone(), standby, opts.clone());
        w.host("tm", node, ThreePcNode::tm_durable())?;
        for shard in 0..rms.len() as u32 {
            let ledger = w.shard_ledger(shard);
            let node = ThreePcNode::rm(tm, standby, ledger.keys(), opts.clone());
            w.host(
                &format!("rm{}", shard + 1),
                node,
                ThreePcNode::rm_durable(ledger),
            )?;
        }
        if standby.is_some() {
            w.host(
                "standby",
                ThreePcNode::standby(tm, opts),
                Default::default(),
            )?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", ThreePcNode::Client(client))?;
        Ok(())
    }
}
