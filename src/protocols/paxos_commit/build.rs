//! Paxos Commit as a [`Protocol`]: a TM (the leader), one RM per shard, 2F+1
//! acceptors, the client. Its options come from the scenario's `options: (...)`.

use super::{Config, PaxosNode};
use crate::protocols::locking_rm::LockingWorld;
use crate::protocols::world::{standard_node_names, BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::scenario::{ms_to_us, Loaded, Scenario, ScenarioError};
use crate::workload::{AdmittingWorld, Client};
use serde::{Deserialize, Serialize};

/// Paxos Commit (Gray & Lamport, "Consensus on Transaction Commit", 2006).
pub struct PaxosCommit;

/// The most acceptor failures a scenario may ask to tolerate (2F+1 acceptors).
pub const MAX_F: u32 = 10;

/// What `options: (...)` may set for `protocol: "paxos-commit"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaxosCommitOptions {
    /// Acceptor failures tolerated: 2F+1 acceptors `acceptor1..`, quorums of F+1.
    pub f: u32,
    /// Faster Paxos Commit: the acceptors' 2b messages go to the RMs too.
    pub faster: bool,
    /// How long the TM waits for every instance's ballot 0 before it runs phase 1
    /// (and so proposes Aborted for the instances without a value).
    pub vote_timeout_ms: f64,
    /// A leader's retry of its ballot or its decision (doubling with each retry, up
    /// to 256 times).
    pub retry_ms: f64,
    /// How often an RM in doubt re-sends its ballot-0 message.
    pub inquiry_interval_ms: f64,
    /// `acceptor{i}` takes an unfinished transaction over when, for `i` times this,
    /// it has heard of no other leader at work on it (doubling with each takeover,
    /// up to 256 times).
    pub takeover_ms: f64,
}

impl Default for PaxosCommitOptions {
    fn default() -> Self {
        PaxosCommitOptions {
            f: 1,
            faster: false,
            vote_timeout_ms: 100.0,
            retry_ms: 50.0,
            inquiry_interval_ms: 100.0,
            takeover_ms: 100.0,
        }
    }
}

/// The acceptors' node names for `f`.
pub fn acceptor_names(f: u32) -> Vec<String> {
    (1..=2 * f + 1).map(|i| format!("acceptor{i}")).collect()
}

impl Protocol for PaxosCommit {
    type Node = PaxosNode;
    type Options = PaxosCommitOptions;

    fn name(&self) -> &'static str {
        "paxos-commit"
    }

    fn about(&self) -> &'static str {
        "Paxos Commit: each RM's vote chosen by Paxos over 2F+1 acceptors; survives the TM and F acceptors failing"
    }

    fn node_names(&self, s: &Scenario, o: &PaxosCommitOptions) -> Vec<String> {
        let mut names = standard_node_names(s);
        let client = names.pop().expect("standard names end with the client");
        names.extend(acceptor_names(o.f.min(MAX_F)));
        names.push(client);
        names
    }

    fn validate(&self, l: &Loaded, o: &PaxosCommitOptions) -> Result<(), ScenarioError> {
        let at = |field: &str, m: String| l.error_at(&["options", field], format!("options: {m}"));
        if o.f > MAX_F {
            return Err(at("f", format!("f is {}; at most {MAX_F}", o.f)));
        }
        for (name, v) in [
            ("vote_timeout_ms", o.vote_timeout_ms),
            ("retry_ms", o.retry_ms),
            ("inquiry_interval_ms", o.inquiry_interval_ms),
            ("takeover_ms", o.takeover_ms),
        ] {
            if !(v.is_finite() && v >= 0.001) {
                return Err(at(
                    name,
                    format!("{name} must be at least 0.001 ms, not {v}"),
                ));
            }
        }
        Ok(())
    }

    fn build(
        &self,
        o: &PaxosCommitOptions,
        w: &mut WorldBuilder<'_, PaxosNode>,
    ) -> Result<(), BuildError> {
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        let names = acceptor_names(o.f);
        let acceptors = names
            .iter()
            .map(|n| w.id(n))
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = Config {
            tm,
            acceptors,
            f: o.f as usize,
            faster: o.faster,
            vote_timeout_us: ms_to_us(o.vote_timeout_ms).max(1),
            retry_us: ms_to_us(o.retry_ms).max(1),
            inquiry_interval_us: ms_to_us(o.inquiry_interval_ms).max(1),
            takeover_us: ms_to_us(o.takeover_ms).max(1),
        };
        w.host(
            "tm",
            PaxosNode::tm(rms.clone(), cfg.clone()),
            PaxosNode::tm_durable(),
        )?;
        for shard in 0..rms.len() as u32 {
            let ledger = w.shard_ledger(shard);
            let node = PaxosNode::rm(ledger.keys(), cfg.clone());
            w.host(
                &format!("rm{}", shard + 1),
                node,
                PaxosNode::rm_durable(ledger),
            )?;
        }
        for (i, name) in names.iter().enumerate() {
            let node = PaxosNode::acceptor(i as u64 + 1, cfg.clone());
            w.host(name, node, Default::default())?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", PaxosNode::Client(client))?;
        Ok(())
    }

    fn blocking_name(&self) -> Option<&'static str> {
        Some("Paxos Commit blocks only while more than F acceptors are down")
    }
}
