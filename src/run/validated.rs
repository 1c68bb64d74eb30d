//! A scenario that passed validation, bound to the protocol that validated it.
//!
//! Only [`Registry::validate`](super::Registry::validate) (and `parse`, `load`,
//! `with_protocol`, which call it) makes one, so a [`Validated`] always names a
//! protocol that knows it, with options that parse and a world that builds: running
//! it cannot fail. It reads as the [`Loaded`] it wraps (scenario, file, source); a
//! tool that varies a scenario edits a copy of the [`Scenario`] and has it validated
//! again.

use super::registry::AnyProtocol;
use super::{Outcome, RunOptions, TraceOut};
use crate::exhaustive::scenario::{limits, CheckOptions};
use crate::exhaustive::{CheckError, CheckReport, Replayed, Step};
use crate::scenario::{self, Loaded, Scenario, ScenarioError};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct Validated {
    loaded: Loaded,
    runner: Arc<dyn AnyProtocol>,
}

impl Validated {
    /// Checks `l` for protocol `p`: the scenario's own rules for that protocol's
    /// nodes, then the protocol's; a user's builder is also run once, so that running
    /// what passed cannot fail (the built-ins' builders are tested instead).
    pub(super) fn new(l: Loaded, p: Arc<dyn AnyProtocol>) -> Result<Validated, ScenarioError> {
        let s = &l.scenario;
        let names = p
            .node_names(s)
            .map_err(|m| l.error_at(&["options"], format!("options: {m}")))?;
        let has = |n: &str| names.iter().any(|m| m == n);
        if s.clients.colocated_with_tm && !(has("tm") && has("client")) {
            return Err(l.error_at(
                &["colocated_with_tm"],
                format!(
                    "protocol {:?} has no tm to colocate the client with; remove colocated_with_tm",
                    s.protocol
                ),
            ));
        }
        scenario::validate(&l, &names)?;
        p.validate(&l)?;
        if !crate::protocols::builtin::is_builtin(p.name()) {
            p.try_build(s)
                .map_err(|e| l.error_at(&["protocol"], e.to_string()))?;
        }
        Ok(Validated {
            loaded: l,
            runner: p,
        })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.loaded.scenario
    }

    /// The protocol that validated it, and runs it.
    pub fn protocol(&self) -> &dyn AnyProtocol {
        self.runner.as_ref()
    }

    /// The text and scenario, to edit and validate again.
    pub fn into_loaded(self) -> Loaded {
        self.loaded
    }

    /// The scenario, to edit and validate again.
    pub fn into_scenario(self) -> Scenario {
        self.loaded.scenario
    }

    /// Runs the scenario with `seed`, optionally writing the event trace.
    pub fn run(&self, seed: u64, trace: Option<TraceOut>) -> Outcome {
        self.run_with(seed, RunOptions::traced(trace))
    }

    /// [`Validated::run`] with what a tool wants recorded.
    pub fn run_with(&self, seed: u64, opts: RunOptions) -> Outcome {
        self.runner
            .run(self.scenario(), seed, opts)
            .unwrap_or_else(|e| panic!("a validated scenario failed to run (a bug): {e}"))
    }

    /// Explores the scenario's world, made small, exhaustively (`check
    /// --exhaustive`), with its protocol's properties.
    pub fn check(&self, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
        Ok(self
            .runner
            .model(self.scenario(), opts)?
            .explore(&limits(opts)))
    }

    /// Re-executes a path (a list of steps, as `check` writes them) in the world
    /// [`Validated::check`] explores.
    pub fn replay_steps(
        &self,
        opts: &CheckOptions,
        steps: &[Step],
    ) -> Result<Replayed, CheckError> {
        self.runner.model(self.scenario(), opts)?.replay(steps)
    }
}

impl Deref for Validated {
    type Target = Loaded;

    fn deref(&self) -> &Loaded {
        &self.loaded
    }
}

impl fmt::Debug for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validated")
            .field("protocol", &self.runner.name())
            .field("loaded", &self.loaded)
            .finish()
    }
}
