//! The registry: the protocols a program knows, built-in and a user's alike, behind
//! one object-safe face ([`AnyProtocol`]) that every tool calls. A scenario names its
//! protocol; the registry checks the scenario against it, runs it, and builds its
//! world for the exhaustive checker.
//!
//! What a registry validates comes back as a [`Validated`] scenario, bound to its
//! protocol: running one cannot fail, and nothing else runs.
//!
//! ```
//! use acidbase::run::Registry;
//! let registry = Registry::builtin();
//! let scenario = registry.parse("(protocol: \"3pc\", duration_ms: 300)", "x.ron").unwrap();
//! let outcome = scenario.run(1, None);
//! assert_eq!(outcome.report.violations.atomicity, 0);
//! assert!(registry.parse("(protocol: \"4pc\")", "x.ron").is_err());
//! ```

use super::{run_built, Outcome, RunOptions, Validated};
use crate::exhaustive::scenario::{model, small, CheckOptions, Explorable};
use crate::exhaustive::CheckError;
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{self, Loaded, OptionsError, Scenario, ScenarioError};
use crate::story::{ProtocolPart, StoryPlace};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// What the tools need of a protocol, whatever its node type.
pub trait AnyProtocol: Send + Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    /// Its options' defaults, as RON.
    fn default_options(&self) -> String;
    /// The scenario's node names under this protocol (an error: its options are bad).
    fn node_names(&self, scenario: &Scenario) -> Result<Vec<String>, OptionsError>;
    /// The protocol's own checks of a scenario (its options, the workloads it fits).
    fn validate(&self, loaded: &Loaded) -> Result<(), ScenarioError>;
    /// Builds and runs the world.
    fn run(&self, scenario: &Scenario, seed: u64, opts: RunOptions) -> Result<Outcome, RunError>;
    /// The world made small, as a model for the exhaustive checker.
    fn model(
        &self,
        scenario: &Scenario,
        opts: &CheckOptions,
    ) -> Result<Box<dyn Explorable>, CheckError>;
    /// Builds the world once, for validation.
    fn try_build(&self, scenario: &Scenario) -> Result<(), RunError>;
}

/// A run that could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// No protocol of that name is registered.
    UnknownProtocol { name: String, known: Vec<String> },
    /// The protocol's options could not be read (a scenario that was not validated).
    Options {
        protocol: String,
        error: OptionsError,
    },
    /// The protocol's builder built a bad world.
    Build(BuildError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownProtocol { name, known } => write!(
                f,
                "unknown protocol {name:?}; this program knows: {}",
                known.join(", ")
            ),
            RunError::Options { protocol, error } => {
                write!(f, "the options of protocol {protocol:?}: {error}")
            }
            RunError::Build(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl<P: Protocol> AnyProtocol for P {
    fn name(&self) -> &'static str {
        Protocol::name(self)
    }

    fn about(&self) -> &'static str {
        Protocol::about(self)
    }

    fn default_options(&self) -> String {
        let config = ron::ser::PrettyConfig::new().struct_names(false);
        ron::ser::to_string_pretty(&P::Options::default(), config)
            .unwrap_or_else(|e| format!("(options cannot be shown: {e})"))
    }

    fn node_names(&self, scenario: &Scenario) -> Result<Vec<String>, OptionsError> {
        let options = self.options(scenario)?;
        Ok(Protocol::node_names(self, scenario, &options))
    }

    fn validate(&self, loaded: &Loaded) -> Result<(), ScenarioError> {
        let options = self
            .options(&loaded.scenario)
            .map_err(|m| loaded.error_at(&["options"], format!("options: {m}")))?;
        Protocol::validate(self, loaded, &options)
    }

    fn run(&self, scenario: &Scenario, seed: u64, opts: RunOptions) -> Result<Outcome, RunError> {
        let (options, world) = build(self, scenario)?;
        let properties = self.properties(&options);
        Ok(run_built(scenario, seed, world, properties, opts, self))
    }

    fn model(
        &self,
        scenario: &Scenario,
        opts: &CheckOptions,
    ) -> Result<Box<dyn Explorable>, CheckError> {
        if !self.explorable() {
            return Err(CheckError::NotExplorable {
                protocol: Protocol::name(self).to_string(),
            });
        }
        let s = small(scenario, opts);
        let (options, world) = build(self, &s).map_err(|e| CheckError::Build(e.to_string()))?;
        let m = model(&s, opts, world.names, world.nodes, world.durables)?
            .with_properties(self.properties(&options));
        Ok(Box::new(m))
    }

    fn try_build(&self, scenario: &Scenario) -> Result<(), RunError> {
        build(self, scenario).map(|_| ())
    }
}

/// A protocol's story hooks, as the story asks for them.
impl<P: Protocol> ProtocolPart for P {
    fn blocking_name(&self) -> Option<&'static str> {
        Protocol::blocking_name(self)
    }

    fn story_at(&self, place: StoryPlace, report: &Report) -> Vec<String> {
        Protocol::story_at(self, place, report)
    }

    fn story_end(&self, report: &Report) -> Vec<String> {
        Protocol::story(self, report)
    }

    fn counts_at(&self, place: CountsPlace, report: &Report) -> Vec<CountsLine> {
        Protocol::counts_at(self, place, report)
    }
}

type Built<P> = (
    <P as Protocol>::Options,
    crate::protocols::world::BuiltWorld<<P as Protocol>::Node>,
);

fn build<P: Protocol>(p: &P, scenario: &Scenario) -> Result<Built<P>, RunError> {
    let options = p.options(scenario).map_err(|error| RunError::Options {
        protocol: p.name().to_string(),
        error,
    })?;
    let names = p.node_names(scenario, &options);
    let mut world = WorldBuilder::new(p.name(), scenario, names);
    p.build(&options, &mut world).map_err(RunError::Build)?;
    let world = world.finish().map_err(RunError::Build)?;
    Ok((options, world))
}

/// `protocol`'s world for `scenario`, typed (tests and tools that drive a world
/// directly: the exhaustive checker's own tests, a harness).
pub fn build_world<P: Protocol>(
    protocol: &P,
    scenario: &Scenario,
) -> Result<crate::protocols::world::BuiltWorld<P::Node>, RunError> {
    build(protocol, scenario).map(|(_, w)| w)
}

/// The protocols a program knows. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    protocols: Vec<Arc<dyn AnyProtocol>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// A registry that knows no protocol.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// The built-in protocols: 2PC, 3PC, TCC, saga, reliable messaging, service calls,
    /// Paxos Commit, a cache in front of a database, a feature switch in local caches,
    /// global id generators.
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                use crate::protocols::builtin::*;
                Registry::empty()
                    .with(TwoPc)
                    .with(ThreePc)
                    .with(Tcc)
                    .with(Saga)
                    .with(Messaging)
                    .with(Calls)
                    .with(PaxosCommit)
                    .with(Cache)
                    .with(LocalCache)
                    .with(Ids)
            })
            .clone()
    }

    /// This registry and `protocol` (which replaces one of the same name).
    pub fn with<P: Protocol>(mut self, protocol: P) -> Self {
        let name = Protocol::name(&protocol);
        self.protocols.retain(|p| p.name() != name);
        self.protocols.push(Arc::new(protocol));
        self
    }

    /// The protocol called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn AnyProtocol> {
        self.protocols
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p.as_ref())
    }

    fn get_arc(&self, name: &str) -> Option<Arc<dyn AnyProtocol>> {
        self.protocols.iter().find(|p| p.name() == name).cloned()
    }

    /// Every protocol, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn AnyProtocol> {
        self.protocols.iter().map(|p| p.as_ref())
    }

    /// The protocols' names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(|p| p.name()).collect()
    }

    fn lookup(&self, name: &str) -> Result<&dyn AnyProtocol, RunError> {
        self.get(name).ok_or_else(|| RunError::UnknownProtocol {
            name: name.to_string(),
            known: self.names().iter().map(|n| n.to_string()).collect(),
        })
    }

    /// The node names of `scenario`'s world under its protocol.
    pub fn node_names(&self, scenario: &Scenario) -> Result<Vec<String>, RunError> {
        let p = self.lookup(&scenario.protocol)?;
        p.node_names(scenario).map_err(|error| RunError::Options {
            protocol: scenario.protocol.clone(),
            error,
        })
    }

    /// Checks a scenario read by [`scenario::read`]: its protocol is known, the
    /// scenario's own rules hold for that protocol's nodes, and the protocol accepts
    /// it. What passes comes back bound to its protocol, ready to run.
    pub fn validate(&self, l: Loaded) -> Result<Validated, ScenarioError> {
        let p = self.get_arc(&l.scenario.protocol).ok_or_else(|| {
            l.error_at(
                &["protocol"],
                format!(
                    "unknown protocol {:?}; expected one of: {}",
                    l.scenario.protocol,
                    self.names().join(", ")
                ),
            )
        })?;
        Validated::new(l, p)
    }

    /// Reads and validates a scenario from text (`file` names it in errors).
    pub fn parse(&self, source: &str, file: &str) -> Result<Validated, ScenarioError> {
        self.validate(scenario::read(source, file)?)
    }

    /// Reads and validates a scenario file.
    pub fn load(&self, path: &Path) -> Result<Validated, ScenarioError> {
        self.validate(scenario::read_file(path)?)
    }

    /// Validates a scenario built or edited in code: written out as RON and read
    /// back, so an error points at a line of that text (`file` names it).
    pub fn validate_scenario(&self, s: &Scenario, file: &str) -> Result<Validated, ScenarioError> {
        self.parse(&scenario::to_ron(s, ""), file)
    }

    /// The same scenario under another protocol (`acidbase compare`), validated
    /// again: a protocol may not support every workload or option.
    pub fn with_protocol(&self, l: &Loaded, protocol: &str) -> Result<Validated, ScenarioError> {
        let mut other = l.clone();
        other.scenario.protocol = protocol.to_string();
        self.validate(other).map_err(|e| ScenarioError {
            message: format!("under protocol {protocol:?}: {}", e.message),
            ..e
        })
    }
}

/// Reads and validates a scenario of a built-in protocol (see [`Registry::parse`]).
pub fn parse(source: &str, file: &str) -> Result<Validated, ScenarioError> {
    Registry::builtin().parse(source, file)
}

/// Reads and validates a scenario file of a built-in protocol.
pub fn load(path: &Path) -> Result<Validated, ScenarioError> {
    Registry::builtin().load(path)
}

/// The built-in default scenario (`acidbase run` with no file).
pub fn default_scenario() -> Validated {
    parse(scenario::DEFAULT_SCENARIO, scenario::DEFAULT_SCENARIO_NAME)
        .expect("the built-in scenario is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::builtin::TwoPc;
    use crate::protocols::two_pc::TwoPcNode;
    use crate::scenario::TwoPcSpec;

    /// 2PC whose options are always refused, as a user's `options` may refuse them.
    struct Picky;

    impl Protocol for Picky {
        type Node = TwoPcNode;
        type Options = TwoPcSpec;

        fn name(&self) -> &'static str {
            "picky"
        }

        fn about(&self) -> &'static str {
            "refuses its options"
        }

        fn options(&self, _s: &Scenario) -> Result<TwoPcSpec, OptionsError> {
            Err(OptionsError::new("retry_ms must be positive"))
        }

        fn build(
            &self,
            o: &TwoPcSpec,
            w: &mut WorldBuilder<'_, TwoPcNode>,
        ) -> Result<(), BuildError> {
            TwoPc.build(o, w)
        }
    }

    #[test]
    fn a_protocols_own_options_error_is_placed_at_the_options_field() {
        let registry = Registry::builtin().with(Picky);
        let source = "(protocol: \"picky\", options: (retry_ms: 0))";
        let e = registry.parse(source, "p.ron").expect_err("refused");
        assert_eq!(
            e.to_string(),
            "p.ron:1:21: options: retry_ms must be positive"
        );
        let s = scenario::read(source, "p.ron").expect("reads").scenario;
        let e = registry.node_names(&s).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "the options of protocol \"picky\": retry_ms must be positive"
        );
    }
}
