//! 2PC as a [`Protocol`]: a TM, one RM per shard, an optional standby TM, the client.

use super::{TwoPcNode, TwoPcOptions};
use crate::node::Outcome;
use crate::protocols::locking_rm::LockingWorld;
use crate::protocols::world::{standard_node_names, BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::Report;
use crate::scenario::{
    ms_to_us, HeuristicDecision, Loaded, OptionsError, Scenario, ScenarioError, TwoPcSpec, MAX_MS,
};
use crate::workload::{AdmittingWorld, Client};

/// Two-phase commit (Gray 1978; Bernstein, Hadzilacos & Goodman 1987, ch. 7).
pub struct TwoPc;

/// The 2PC options a scenario's `two_pc` section asks for.
pub fn two_pc_options(p: &TwoPcSpec) -> TwoPcOptions {
    TwoPcOptions {
        vote_timeout_us: ms_to_us(p.vote_timeout_ms).max(1),
        decision_retry_us: ms_to_us(p.decision_retry_ms).max(1),
        inquiry_interval_us: ms_to_us(p.inquiry_interval_ms).max(1),
        cooperative_termination: p.cooperative_termination,
        standby_tm: p.standby_tm,
        rm_abort_timeout_us: p.rm_abort_on_timeout.then(|| ms_to_us(p.rm_timeout_ms)),
        no_decision_retry: p.no_decision_retry,
        answer_client_after_acks: p.answer_client_after_acks,
        heuristic: p.heuristic.map(|h| super::heuristic::Heuristic {
            after_us: ms_to_us(h.after_ms),
            decide: match h.decide {
                HeuristicDecision::Commit => Outcome::Commit,
                HeuristicDecision::Rollback => Outcome::Abort,
            },
        }),
    }
}

impl Protocol for TwoPc {
    type Node = TwoPcNode;
    type Options = TwoPcSpec;

    fn name(&self) -> &'static str {
        "2pc"
    }

    fn about(&self) -> &'static str {
        "two-phase commit: atomic, and blocks while the coordinator is down"
    }

    fn options(&self, s: &Scenario) -> Result<TwoPcSpec, OptionsError> {
        Ok(s.two_pc.clone())
    }

    fn validate(&self, l: &Loaded, o: &TwoPcSpec) -> Result<(), ScenarioError> {
        match o.heuristic {
            Some(h) if !(h.after_ms.is_finite() && (0.001..=MAX_MS).contains(&h.after_ms)) => {
                Err(l.error_at(
                    &["two_pc", "heuristic", "after_ms"],
                    format!(
                        "two_pc.heuristic.after_ms = {:?}: must be between 0.001 and {MAX_MS:?} ms (how long an RM stays in doubt before it decides alone)",
                        h.after_ms
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    fn node_names(&self, s: &Scenario, o: &TwoPcSpec) -> Vec<String> {
        let mut names = standard_node_names(s);
        if o.standby_tm {
            names.insert(names.len() - 1, "standby".into());
        }
        names
    }

    fn build(&self, o: &TwoPcSpec, w: &mut WorldBuilder<'_, TwoPcNode>) -> Result<(), BuildError> {
        let opts = two_pc_options(o);
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        let standby = if o.standby_tm {
            Some(w.id("standby")?)
        } else {
            None
        };
        w.host(
            "tm",
            TwoPcNode::tm(rms.clone(), opts.clone()),
            TwoPcNode::tm_durable(),
        )?;
        for shard in 0..rms.len() as u32 {
            let ledger = w.shard_ledger(shard);
            let node = TwoPcNode::rm(tm, standby, ledger.keys(), opts.clone());
            w.host(
                &format!("rm{}", shard + 1),
                node,
                TwoPcNode::rm_durable(ledger),
            )?;
        }
        if standby.is_some() {
            w.host("standby", TwoPcNode::standby(opts), Default::default())?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", TwoPcNode::Client(client))?;
        Ok(())
    }

    fn blocking_name(&self) -> Option<&'static str> {
        Some("2PC's blocking problem")
    }

    /// What the heuristic decisions did, when there were any.
    fn story(&self, rep: &Report) -> Vec<String> {
        let fact = |name: &str| rep.facts.get(name).map_or(0, |f| f.count);
        let decided = fact("heuristic_decisions");
        if decided == 0 {
            return Vec::new();
        }
        let (commits, rollbacks) = (fact("heuristic_commit"), fact("heuristic_rollback"));
        let (mixed, hazard) = (fact("heuristic_mixed"), fact("heuristic_hazard"));
        let damage = if mixed + hazard == 0 {
            "none contrary to its decision: no damage".to_string()
        } else {
            format!(
                "{} contrary to its decision — heuristic damage ({mixed} mixed, {hazard} hazard), counted as atomicity violations",
                mixed + hazard
            )
        };
        vec![format!(
            "{decided} in-doubt RM branch(es) decided heuristically (two_pc.heuristic) and freed their locks without the TM; the TM heard of {} ({commits} heuristic commit, {rollbacks} heuristic rollback), each flagged for an operator; {damage}.",
            commits + rollbacks,
        )]
    }
}
