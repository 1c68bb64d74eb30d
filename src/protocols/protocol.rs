//! The one way acidbase knows a protocol. The built-ins implement [`Protocol`] like
//! a user's protocol does and are registered in [`crate::run::Registry::builtin`];
//! a user adds theirs with [`crate::run::Registry::with`] and gets every command
//! ([`crate::cli::main_with`]).

use super::world::{standard_node_names, BuildError, WorldBuilder};
use crate::node::Node;
use crate::property::Property;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{Loaded, OptionsError, Scenario, ScenarioError};
use crate::story::StoryPlace;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// A protocol: its name, its options, the scenarios it fits, how it builds its
/// world, and what it adds to a run's story and report.
///
/// Only [`Protocol::name`], [`Protocol::about`] and [`Protocol::build`] must be
/// written; every other method has a default. The story hooks
/// ([`Protocol::blocking_name`], [`Protocol::story_at`], [`Protocol::story`],
/// [`Protocol::counts_at`]) add nothing by default: the shared story and counts
/// (see [`crate::story`]) already tell what the checkers saw.
pub trait Protocol: Send + Sync + 'static {
    /// An enum of the protocol's roles (TM, RM, client, ...).
    type Node: Node + 'static;
    /// The protocol's options. A user protocol reads them from the scenario's
    /// `options: (...)` field (every field optional: `#[serde(default)]`); the
    /// built-ins keep a section of their own (`two_pc: (...)`, `tcc: (...)`).
    type Options: Serialize + DeserializeOwned + Default + Clone + Debug + Send + Sync;

    /// What `protocol:` names it by: lower case, no spaces (e.g. "2pc").
    fn name(&self) -> &'static str;

    /// One line for `acidbase protocols` and `--help`.
    fn about(&self) -> &'static str;

    /// The options `scenario` asks for. The default parses its `options:` field
    /// (absent: the defaults); an error names what is wrong. A protocol that checks
    /// its options itself says so with [`OptionsError::new`] (or `message.into()`).
    fn options(&self, scenario: &Scenario) -> Result<Self::Options, OptionsError> {
        match &scenario.options {
            None => Ok(Self::Options::default()),
            Some(raw) => crate::scenario::parse_options(raw),
        }
    }

    /// The names of the world's nodes, in node order (faults name nodes; the order
    /// fixes each node's id). Default: `tm`, `rm1..rmN`, `client`.
    fn node_names(&self, scenario: &Scenario, _options: &Self::Options) -> Vec<String> {
        standard_node_names(scenario)
    }

    /// Rejects a scenario this protocol cannot run (a workload it does not model, an
    /// option combination that is unsafe by construction); errors point into the
    /// file ([`Loaded::error_at`]). The scenario's own rules were checked already.
    fn validate(&self, _loaded: &Loaded, _options: &Self::Options) -> Result<(), ScenarioError> {
        Ok(())
    }

    /// Hosts every node [`Protocol::node_names`] lists.
    fn build(
        &self,
        options: &Self::Options,
        world: &mut WorldBuilder<'_, Self::Node>,
    ) -> Result<(), BuildError>;

    /// Properties over node state, checked in every mode (see [`crate::property`]).
    fn properties(&self, _options: &Self::Options) -> Vec<Property<Self::Node>> {
        Vec::new()
    }

    /// Whether `check --exhaustive` may explore this protocol's worlds (a protocol
    /// whose state grows with time, such as one that polls forever, may say no).
    fn explorable(&self) -> bool {
        true
    }

    /// What this protocol calls a participant's wait in doubt, said at the end of
    /// the story's sentence about the longest one (2PC: "2PC's blocking problem").
    /// Default: nothing.
    fn blocking_name(&self) -> Option<&'static str> {
        None
    }

    /// Sentences this protocol tells at `place` in a run's story (say only what the
    /// report shows the run did). Default: none, at every place; a protocol matches
    /// the places it speaks at and gives nothing for the others (`_ => Vec::new()`:
    /// later versions may add places).
    fn story_at(&self, _place: StoryPlace, _report: &Report) -> Vec<String> {
        Vec::new()
    }

    /// Sentences this protocol adds at the end of a run's story, after the shared
    /// ones and the broken properties (say only what the report shows the run did).
    /// Default: none.
    fn story(&self, _report: &Report) -> Vec<String> {
        Vec::new()
    }

    /// Lines of its own for the text report's "Counts" block at `place` (counts of
    /// its own section of the report, say). Default: none, at every place.
    fn counts_at(&self, _place: CountsPlace, _report: &Report) -> Vec<CountsLine> {
        Vec::new()
    }
}
