//! Properties over node state, named as stateright names them: *always* (holds in
//! every state a run passes through), *sometimes* (holds in at least one state of
//! at least one run: a property that never does shows the model is vacuous), and
//! *eventually* (every run reaches a state where it holds).
//!
//! A property reads a [`View`] of the world: each node's volatile state (`None`
//! while it is down) and its durable store, by id or by name. The same property is
//! checked in every mode: after every event of a random run (`run`, `explore`,
//! `explore --swarm`, `sweep`), and in every state the exhaustive checker reaches
//! (`check --exhaustive`, [`crate::testing::Harness::exhaustive`]).

use crate::node::{Node, NodeId};
use std::fmt;
use std::sync::Arc;

/// Where a property must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Expectation {
    /// In every state.
    Always,
    /// In some state of some run.
    Sometimes,
    /// In some state of every run (at the latest at its end).
    Eventually,
}

impl Expectation {
    pub fn name(self) -> &'static str {
        match self {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
        }
    }
}

/// Read access to every node of a world at one moment (the simulator and the
/// exhaustive checker each provide one).
pub trait NodeStates<N: Node> {
    /// How many nodes the world has.
    fn count(&self) -> usize;
    /// The node's volatile state; `None` while it is down.
    fn node(&self, id: NodeId) -> Option<&N>;
    fn durable(&self, id: NodeId) -> &N::Durable;
}

/// What a property sees.
pub struct View<'a, N: Node> {
    now_us: u64,
    names: &'a [String],
    states: &'a dyn NodeStates<N>,
}

impl<'a, N: Node> View<'a, N> {
    pub fn new(now_us: u64, names: &'a [String], states: &'a dyn NodeStates<N>) -> Self {
        View {
            now_us,
            names,
            states,
        }
    }

    /// Virtual time (µs).
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The node names, in node order.
    pub fn names(&self) -> &'a [String] {
        self.names
    }

    /// The id of the node called `name`, if the world has one.
    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| NodeId(i as u32))
    }

    /// A node's volatile state (`None` while it is down or if there is no such node).
    pub fn node(&self, id: NodeId) -> Option<&N> {
        (id.index() < self.states.count())
            .then(|| self.states.node(id))
            .flatten()
    }

    /// A node's durable store (`None` if there is no such node).
    pub fn durable(&self, id: NodeId) -> Option<&N::Durable> {
        (id.index() < self.states.count()).then(|| self.states.durable(id))
    }

    /// Every node: id, name, volatile state (if up), durable store.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &'a str, Option<&N>, &N::Durable)> + '_ {
        (0..self.states.count()).map(move |i| {
            let id = NodeId(i as u32);
            (
                id,
                self.names.get(i).map_or("?", String::as_str),
                self.states.node(id),
                self.states.durable(id),
            )
        })
    }
}

type Check<N> = dyn Fn(&View<'_, N>) -> bool + Send + Sync;

/// A named property of a world of `N` nodes.
pub struct Property<N: Node> {
    name: String,
    expectation: Expectation,
    check: Arc<Check<N>>,
}

impl<N: Node> Clone for Property<N> {
    fn clone(&self) -> Self {
        Property {
            name: self.name.clone(),
            expectation: self.expectation,
            check: Arc::clone(&self.check),
        }
    }
}

impl<N: Node> fmt::Debug for Property<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.expectation.name(), self.name)
    }
}

impl<N: Node> Property<N> {
    pub fn new(
        expectation: Expectation,
        name: &str,
        check: impl Fn(&View<'_, N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Property {
            name: name.to_string(),
            expectation,
            check: Arc::new(check),
        }
    }

    /// Must hold in every state.
    pub fn always(
        name: &str,
        check: impl Fn(&View<'_, N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(Expectation::Always, name, check)
    }

    /// Must hold in some state of some run.
    pub fn sometimes(
        name: &str,
        check: impl Fn(&View<'_, N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(Expectation::Sometimes, name, check)
    }

    /// Must hold in some state of every run.
    pub fn eventually(
        name: &str,
        check: impl Fn(&View<'_, N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(Expectation::Eventually, name, check)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn expectation(&self) -> Expectation {
        self.expectation
    }

    pub fn holds(&self, view: &View<'_, N>) -> bool {
        (self.check)(view)
    }
}

/// How a run did against each property: for [`Expectation::Always`] whether it held
/// in every state (and when it first failed), for the others whether it held in some
/// state (and when first). A run is judged by [`PropertyResult::failed`]; whether a
/// `sometimes` property was ever seen is judged over many runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropertyResult {
    pub name: String,
    pub expectation: Expectation,
    /// Always: it failed at this time (first). Sometimes / eventually: it held at
    /// this time (first).
    pub first_us: Option<u64>,
}

impl PropertyResult {
    /// Whether this run broke the property (a `sometimes` property is never broken
    /// by a single run).
    pub fn failed(&self) -> bool {
        match self.expectation {
            Expectation::Always => self.first_us.is_some(),
            Expectation::Eventually => self.first_us.is_none(),
            Expectation::Sometimes => false,
        }
    }

    /// For `sometimes`: whether this run showed it.
    pub fn seen(&self) -> bool {
        self.expectation == Expectation::Sometimes && self.first_us.is_some()
    }

    /// The run's verdict in words.
    pub fn describe(&self) -> String {
        match (self.expectation, self.first_us) {
            (Expectation::Always, Some(t)) => {
                format!(
                    "always {:?}: broken at {:.3} ms",
                    self.name,
                    t as f64 / 1000.0
                )
            }
            (Expectation::Always, None) => format!("always {:?}: held throughout", self.name),
            (e, Some(t)) => format!(
                "{} {:?}: held at {:.3} ms",
                e.name(),
                self.name,
                t as f64 / 1000.0
            ),
            (Expectation::Eventually, None) => {
                format!("eventually {:?}: never held", self.name)
            }
            (_, None) => format!("sometimes {:?}: not seen in this run", self.name),
        }
    }
}

/// Watches properties over one run, state by state.
pub struct Watch<N: Node> {
    properties: Vec<Property<N>>,
    results: Vec<PropertyResult>,
}

impl<N: Node> Watch<N> {
    pub fn new(properties: Vec<Property<N>>) -> Self {
        let results = properties
            .iter()
            .map(|p| PropertyResult {
                name: p.name.clone(),
                expectation: p.expectation,
                first_us: None,
            })
            .collect();
        Watch {
            properties,
            results,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Checks every property not yet settled in the state `view` shows.
    pub fn check(&mut self, view: &View<'_, N>) {
        for (p, r) in self.properties.iter().zip(&mut self.results) {
            if r.first_us.is_some() {
                continue; // settled: broken (always) or seen (the others)
            }
            let holds = p.holds(view);
            if holds != (p.expectation == Expectation::Always) {
                r.first_us = Some(view.now_us());
            }
        }
    }

    pub fn finish(self) -> Vec<PropertyResult> {
        self.results
    }
}
