//! Test your own protocol from `cargo test`.
//!
//! You implement TM/RM (or participant) logic against the public [`Node`] API and
//! report what happens with [`Observation`]s (`TxnBegun`, `Prepared`, `Decided`,
//! `Applied`). A [`Harness`] then:
//! - runs your world under many seeds, each with a proptest-generated fault schedule
//!   ([`Schedule`]: crashes and restarts, partitions, message loss and duplication,
//!   in a scenario's own terms; the strategies are exported: [`crashes`],
//!   [`partitions`], [`loss`], [`duplication`], [`schedules`]);
//! - asserts named invariants: [`Harness::always`] must hold in every run, and
//!   [`Harness::sometimes`] in at least one (so a model that never commits fails);
//! - on failure returns a [`Failure`]: the invariant, the seed and the schedule as RON
//!   (replay with [`Harness::replay`]), the schedule shrunk (by proptest, then by
//!   removing faults one at a time while the same invariant still fails, on the
//!   greedy core `acidbase shrink` uses: [`crate::tools::greedy`]), and the story of
//!   the failing run in plain words;
//! - explores your world exhaustively ([`Harness::exhaustive`], the breadth-first
//!   checker of [`crate::exhaustive`]), for a shortest counterexample.
//!
//! ```no_run
//! # use acidbase::testing::{Harness, World, invariants};
//! # fn world() -> World<acidbase::protocols::two_pc::TwoPcNode> { unimplemented!() }
//! let h = Harness::new(world)
//!     .always("atomicity", invariants::atomicity)
//!     .always("nobody in doubt at the end", invariants::nobody_in_doubt_at_end)
//!     .sometimes("a transaction commits", invariants::some_commit)
//!     .runs(64);
//! if let Err(failure) = h.check() {
//!     panic!("{failure}"); // the invariant, seed, schedule (RON), story
//! }
//! ```
//!
//! The walk-through is the book's chapter "Testing your own protocol" and the
//! examples `examples/user_two_pc.rs` and `examples/buggy_two_pc.rs`.

use crate::engine::{Observer, Sim, TraceEvent, TraceSink, WorldSpec};
use crate::exhaustive::world::{Budget, WorldModel};
use crate::exhaustive::{CheckReport, Limits};
use crate::faults::FaultAction;
use crate::network::{Fate, Latency, NetworkConfig};
use crate::node::{Node, NodeId, NodeSet, TxnId};
use crate::observe::Observation;
use crate::property::{Expectation, Property, PropertyResult, View, Watch};
use crate::story::trace::{self as trace_story, Fact, Focus, Happening, Moment, Voice};
use crate::tools::greedy::{Greedy, Verdict};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

/// Your world: node names (in node order), the nodes as built, and each node's
/// durable store at time 0.
pub struct World<N: Node> {
    pub names: Vec<String>,
    pub nodes: Vec<N>,
    pub durables: Vec<N::Durable>,
}

/// The scenario's own entries for crashes and partitions: a harness schedule lists
/// its faults in the same terms as a scenario's `faults`.
pub use crate::scenario::{CrashSpec, PartitionSpec};

/// A concrete fault schedule: replays the same way without any randomness in the
/// faults (loss and duplication are drawn from the seed's network stream).
///
/// It speaks the scenario's language: `crashes` and `partitions` are the entries of a
/// scenario's `faults.crashes` and `faults.partitions` (times in ms; a partition of
/// one group cuts that group off from every other node, as the generated ones do),
/// the probabilities are the scenario's `network` fields of the same names, and
/// [`crate::run::scripted_plan`], which compiles a scenario's scripted faults,
/// compiles these for [`Harness::replay`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub crashes: Vec<CrashSpec>,
    pub partitions: Vec<PartitionSpec>,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
}

/// A schedule's RON that [`Schedule::from_ron`] cannot read: RON's own error, with
/// the line and column it stopped at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError(pub ron::error::SpannedError);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected a Schedule in RON: {}", self.0)
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    /// Faults in the schedule (loss and duplication count one each when on).
    pub fn size(&self) -> usize {
        self.crashes.len()
            + self.partitions.len()
            + usize::from(self.loss_probability > 0.0)
            + usize::from(self.duplicate_probability > 0.0)
    }

    /// The schedule as RON, a fault a line.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new().depth_limit(2))
            .expect("a schedule serialises")
    }

    /// Reads a schedule as scenario files are read (`Some` may be left out).
    pub fn from_ron(text: &str) -> Result<Schedule, ScheduleError> {
        crate::scenario::ron_options()
            .from_str(text)
            .map_err(ScheduleError)
    }

    /// Every schedule with one fault fewer: the harness's shrink candidates, which
    /// [`Greedy::descend`] tries in this order.
    fn smaller(&self) -> Vec<Schedule> {
        let mut out = Vec::new();
        for i in 0..self.crashes.len() {
            let mut s = self.clone();
            s.crashes.remove(i);
            out.push(s);
        }
        for i in 0..self.partitions.len() {
            let mut s = self.clone();
            s.partitions.remove(i);
            out.push(s);
        }
        if self.loss_probability > 0.0 {
            out.push(Schedule {
                loss_probability: 0.0,
                ..self.clone()
            });
        }
        if self.duplicate_probability > 0.0 {
            out.push(Schedule {
                duplicate_probability: 0.0,
                ..self.clone()
            });
        }
        out
    }
}

/// Up to `max` crashes of the named nodes within `[0, horizon_ms)`, each followed by a
/// restart within the horizon (times in whole ms).
pub fn crashes(
    nodes: Vec<String>,
    max: usize,
    horizon_ms: u32,
) -> impl Strategy<Value = Vec<CrashSpec>> {
    let n = nodes.len().max(1);
    let h = horizon_ms.max(2);
    proptest::collection::vec((0..n, 0..h - 1, 1..h), 0..=max).prop_map(move |v| {
        v.into_iter()
            .filter(|_| !nodes.is_empty())
            .map(|(i, at, down)| CrashSpec {
                node: nodes[i].clone(),
                at_ms: f64::from(at),
                restart_ms: Some(f64::from((at + down).min(h))),
            })
            .collect()
    })
}

/// Up to `max` partitions: a non-empty proper subset of `nodes` (the partition's one
/// group) cut off from every other node of the world for a window within
/// `[0, horizon_ms)` (times in whole ms).
pub fn partitions(
    nodes: Vec<String>,
    max: usize,
    horizon_ms: u32,
) -> impl Strategy<Value = Vec<PartitionSpec>> {
    let n = nodes.len().min(16) as u32;
    let h = horizon_ms.max(2);
    let masks = if n >= 2 { 1..(1u32 << n) - 1 } else { 0..1 };
    proptest::collection::vec((masks, 0..h - 1, 1..h), 0..=max).prop_map(move |v| {
        v.into_iter()
            .filter(|(mask, _, _)| *mask != 0)
            .map(|(mask, from, len)| PartitionSpec {
                groups: vec![(0..n)
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| nodes[b as usize].clone())
                    .collect()],
                from_ms: f64::from(from),
                to_ms: f64::from((from + len).min(h)),
            })
            .collect()
    })
}

/// A message-loss probability in `[0, max]` (shrinks towards 0), in whole percent.
pub fn loss(max: f64) -> impl Strategy<Value = f64> {
    let top = (max.clamp(0.0, 1.0) * 100.0).round() as u32;
    (0..=top).prop_map(|p| f64::from(p) / 100.0)
}

/// A duplication probability in `[0, max]` (shrinks towards 0), in whole percent.
pub fn duplication(max: f64) -> impl Strategy<Value = f64> {
    loss(max)
}

/// Which faults a harness may generate.
#[derive(Clone, Debug)]
pub struct FaultSpace {
    /// Nodes that may crash.
    pub crashable: Vec<String>,
    pub max_crashes: usize,
    /// Nodes that partitions may separate (all of them by default).
    pub partitionable: Vec<String>,
    pub max_partitions: usize,
    pub max_loss: f64,
    pub max_duplication: f64,
}

/// Whole schedules over `space` within `[0, horizon_ms)`.
pub fn schedules(space: &FaultSpace, horizon_ms: u32) -> BoxedStrategy<Schedule> {
    (
        crashes(space.crashable.clone(), space.max_crashes, horizon_ms),
        partitions(
            space.partitionable.clone(),
            space.max_partitions,
            horizon_ms,
        ),
        loss(space.max_loss),
        duplication(space.max_duplication),
    )
        .prop_map(|(crashes, partitions, l, d)| Schedule {
            crashes,
            partitions,
            loss_probability: l,
            duplicate_probability: d,
        })
        .boxed()
}

/// One thing that happened in a run, for invariants and stories.
#[derive(Clone, Debug)]
pub enum Event {
    Observed {
        node: NodeId,
        obs: Observation,
    },
    Crashed(NodeId),
    Restarted(NodeId),
    /// A message the network dropped (loss, a partition, or a receiver that was down).
    Dropped {
        from: NodeId,
        to: NodeId,
        msg: String,
        why: String,
    },
    /// A directed cut started (`active`) or stopped dropping messages.
    Cut {
        from: NodeSet,
        to: NodeSet,
        active: bool,
    },
}

/// What the checkers remember of one transaction in a run: the record the run
/// checkers and the exhaustive checker keep (`decided()` gives the outcomes decided
/// as a set; `decided_commit` / `decided_abort` each one).
pub type TxnView = crate::checkers::txn::TxnRecord;

/// A finished run: what invariants look at.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    pub schedule: Schedule,
    pub names: Vec<String>,
    /// Everything notable, in time order (µs).
    pub events: Vec<(u64, Event)>,
    /// Nodes up at the end.
    pub up_at_end: NodeSet,
    /// The trace digest: the same seed and schedule give the same digest.
    pub digest: u64,
    /// The event guard stopped the run before its end (nothing reached quiescence).
    pub truncated: bool,
    /// How the run did against the harness's properties over node state.
    pub properties: Vec<PropertyResult>,
}

impl Run {
    /// Per transaction: who prepared, decided and applied what.
    pub fn txns(&self) -> BTreeMap<TxnId, TxnView> {
        let mut m: BTreeMap<TxnId, TxnView> = BTreeMap::new();
        for (_, e) in &self.events {
            if let Event::Observed { node, obs } = e {
                crate::checkers::txn::remember(&mut m, *node, obs);
            }
        }
        m
    }

    pub fn name(&self, n: NodeId) -> &str {
        self.names.get(n.index()).map_or("?", String::as_str)
    }

    pub fn set_names(&self, s: NodeSet) -> String {
        let v: Vec<&str> = s.iter().map(|n| self.name(n)).collect();
        format!("{{{}}}", v.join(", "))
    }

    /// The run in plain words; with `txn`, only the faults and what concerns `txn`
    /// (see [`crate::story::trace`]).
    pub fn story(&self, txn: Option<TxnId>) -> String {
        let moments: Vec<Moment> = self
            .events
            .iter()
            .map(|(at, e)| self.moment(*at, e))
            .collect();
        let focus = Focus {
            txns: txn.into_iter().collect(),
            untagged: true,
        };
        let mut s = String::new();
        for line in trace_story::tell(&moments, &focus, Voice::Harness) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    }

    /// An event as a story tells it.
    fn moment(&self, t_us: u64, e: &Event) -> Moment {
        let name = |n: NodeId| self.name(n).to_string();
        let names = |s: NodeSet| s.iter().map(name).collect();
        let (txns, what) = match e {
            Event::Observed { node, obs } => (
                vec![obs.txn()],
                Happening::Observed {
                    node: name(*node),
                    fact: Fact::of(obs, &self.names),
                    obs: format!("{obs:?}"),
                },
            ),
            Event::Crashed(n) => (Vec::new(), Happening::Crashed { node: name(*n) }),
            Event::Restarted(n) => (Vec::new(), Happening::Restarted { node: name(*n) }),
            Event::Dropped { from, to, msg, why } => (
                trace_story::txns_named(msg),
                Happening::Lost {
                    from: name(*from),
                    to: name(*to),
                    msg: msg.clone(),
                    why: why.clone(),
                },
            ),
            Event::Cut { from, to, active } => (
                Vec::new(),
                Happening::Cut {
                    from: names(*from),
                    to: names(*to),
                    active: *active,
                },
            ),
        };
        Moment { t_us, txns, what }
    }
}

/// Ready-made invariants over the shared observation vocabulary.
pub mod invariants {
    use super::Run;

    /// No transaction applied as commit by one node and as abort by another.
    pub fn atomicity(run: &Run) -> Result<(), String> {
        for (txn, t) in run.txns() {
            if t.applied_both_ways() {
                return Err(format!(
                    "txn {txn}: {} applied commit while {} applied abort",
                    run.set_names(t.applied_commit),
                    run.set_names(t.applied_abort)
                ));
            }
        }
        Ok(())
    }

    /// No transaction decided both ways.
    pub fn agreement(run: &Run) -> Result<(), String> {
        for (txn, t) in run.txns() {
            if t.decided_both_ways() {
                return Err(format!("txn {txn} was decided both commit and abort"));
            }
        }
        Ok(())
    }

    /// Every node that voted yes learned the outcome by the end (every fault healed
    /// before the horizon and the drain gave recovery time).
    pub fn nobody_in_doubt_at_end(run: &Run) -> Result<(), String> {
        for (txn, t) in run.txns() {
            let stuck = t.in_doubt();
            if !stuck.is_empty() {
                return Err(format!(
                    "txn {txn}: {} still in doubt at the end",
                    run.set_names(stuck)
                ));
            }
        }
        Ok(())
    }

    /// Some transaction committed at every participant.
    pub fn some_commit(run: &Run) -> bool {
        run.txns()
            .values()
            .any(super::TxnView::committed_everywhere)
    }

    /// Some transaction aborted everywhere.
    pub fn some_abort(run: &Run) -> bool {
        run.txns().values().any(super::TxnView::aborted_everywhere)
    }
}

type Always = Box<dyn Fn(&Run) -> Result<(), String>>;
type Sometimes = Box<dyn Fn(&Run) -> bool>;

/// The event guard of a harness run.
const MAX_EVENTS: u64 = 10_000_000;

/// Runs a user's world under generated fault schedules and checks named invariants.
pub struct Harness<N: Node> {
    world: Box<dyn Fn() -> World<N>>,
    always: Vec<(String, Always)>,
    sometimes: Vec<(String, Sometimes)>,
    /// Properties over node state: checked in random runs and exhaustively.
    properties: Vec<Property<N>>,
    runs: u32,
    /// Faults happen in `[0, horizon_ms)`; the run goes on for `drain_ms` more.
    pub horizon_ms: u32,
    pub drain_ms: u32,
    /// Message delays are uniform in `[latency_ms_min, latency_ms_max]` ms.
    pub latency_ms_min: u32,
    pub latency_ms_max: u32,
    pub faults: FaultSpace,
}

/// The fault budget of [`Harness::exhaustive`].
#[derive(Clone, Debug)]
pub struct Exhaustive {
    /// Nodes that may crash (`None`: the harness's [`FaultSpace::crashable`]).
    pub crashable: Option<Vec<String>>,
    pub max_crashes: u32,
    pub max_drops: u32,
    /// Stop after this many distinct states.
    pub max_states: usize,
}

impl Default for Exhaustive {
    fn default() -> Self {
        Exhaustive {
            crashable: None,
            max_crashes: 1,
            max_drops: 1,
            max_states: 1_000_000,
        }
    }
}

/// Why a harness failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// `always "name"` broken in a run, or `sometimes "name"` never held.
    pub invariant: String,
    pub message: String,
    /// Runs made until the first failing one (1-based).
    pub runs_until_found: u32,
    pub seed: u64,
    /// The failing schedule as first found, and shrunk.
    pub original: Schedule,
    pub shrunk: Schedule,
    /// The shrunk run in plain words (faults and the failing transaction).
    pub story: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} failed: {}", self.invariant, self.message)?;
        if self.invariant.starts_with("sometimes") {
            return Ok(());
        }
        writeln!(
            f,
            "found in run {}; seed {}; schedule shrunk from {} to {} fault(s):",
            self.runs_until_found,
            self.seed,
            self.original.size(),
            self.shrunk.size()
        )?;
        writeln!(f, "{}", self.shrunk.to_ron())?;
        writeln!(f, "the shrunk run:\n{}", self.story)?;
        write!(
            f,
            "reproduce: harness.replay({}, &Schedule::from_ron(SCHEDULE_ABOVE)?)",
            self.seed
        )
    }
}

struct Sink {
    events: Rc<RefCell<Vec<(u64, Event)>>>,
}

impl<N: Node> TraceSink<N> for Sink {
    fn record(&mut self, at_us: u64, event: TraceEvent<'_, N>) {
        let e = match event {
            TraceEvent::Observe { node, obs } => Event::Observed {
                node,
                obs: obs.clone(),
            },
            TraceEvent::Fault(FaultAction::Crash(n)) => Event::Crashed(*n),
            TraceEvent::Fault(FaultAction::Restart(n)) => Event::Restarted(*n),
            TraceEvent::Send {
                from,
                to,
                msg,
                fate: Fate::Dropped(reason),
            } => Event::Dropped {
                from,
                to,
                msg: format!("{msg:?}"),
                why: format!("{reason:?}"),
            },
            TraceEvent::Lost {
                from,
                to,
                msg,
                reason,
            } => Event::Dropped {
                from,
                to,
                msg: format!("{msg:?}"),
                why: format!("{reason:?}"),
            },
            TraceEvent::Cut { cut, active, .. } => Event::Cut {
                from: cut.from,
                to: cut.to,
                active,
            },
            _ => return,
        };
        self.events.borrow_mut().push((at_us, e));
    }
}

struct Quiet;

impl Observer for Quiet {
    fn observe(&mut self, _at_us: u64, _node: NodeId, _depth: u32, _obs: &Observation) {}
}

impl<N: Node + 'static> Harness<N> {
    /// A harness for the world `build` makes (called afresh for every run). Every
    /// node may crash and be partitioned; defaults: 100 runs, a 1 s horizon and 1 s
    /// drain, delays of 1–10 ms, up to 2 crashes, 2 partitions, 10 % loss and
    /// duplication.
    pub fn new(build: impl Fn() -> World<N> + 'static) -> Self {
        let names = build().names;
        Harness {
            world: Box::new(build),
            always: Vec::new(),
            sometimes: Vec::new(),
            properties: Vec::new(),
            runs: 100,
            horizon_ms: 1000,
            drain_ms: 1000,
            latency_ms_min: 1,
            latency_ms_max: 10,
            faults: FaultSpace {
                crashable: names.clone(),
                max_crashes: 2,
                partitionable: names,
                max_partitions: 2,
                max_loss: 0.1,
                max_duplication: 0.1,
            },
        }
    }

    /// An invariant that must hold in every run.
    pub fn always(
        mut self,
        name: &str,
        check: impl Fn(&Run) -> Result<(), String> + 'static,
    ) -> Self {
        self.always.push((name.to_string(), Box::new(check)));
        self
    }

    /// A property that must hold in at least one run.
    pub fn sometimes(mut self, name: &str, check: impl Fn(&Run) -> bool + 'static) -> Self {
        self.sometimes.push((name.to_string(), Box::new(check)));
        self
    }

    /// A property over node state ([`Property::always`], [`Property::sometimes`],
    /// [`Property::eventually`]): checked after every event of every run, and in
    /// every state [`Harness::exhaustive`] reaches (which cannot check the
    /// [`Harness::always`] and [`Harness::sometimes`] invariants over a whole run's
    /// observations, and says so in its report).
    pub fn property(mut self, property: Property<N>) -> Self {
        self.properties.push(property);
        self
    }

    /// How many runs (seeds × schedules) [`Harness::check`] makes.
    pub fn runs(mut self, n: u32) -> Self {
        self.runs = n;
        self
    }

    /// Which faults to generate.
    pub fn faults(mut self, f: FaultSpace) -> Self {
        self.faults = f;
        self
    }

    /// Runs the world once with `seed` and `schedule`: the same seed and schedule
    /// give the same run.
    ///
    /// # Panics
    /// If the schedule names a node the world does not have (a test's own mistake).
    pub fn replay(&self, seed: u64, schedule: &Schedule) -> Run {
        let World {
            names,
            nodes,
            durables,
        } = (self.world)();
        let plan = crate::run::scripted_plan(&names, &schedule.crashes, &schedule.partitions, &[]);
        let n = names.len();
        let spec = WorldSpec {
            node_rngs: names
                .iter()
                .map(|x| crate::rng::stream(seed, &format!("node/{x}")))
                .collect(),
            drift_ppm: vec![0; n],
            network: NetworkConfig {
                latency: Latency::Uniform {
                    min_us: u64::from(self.latency_ms_min) * 1000,
                    max_us: u64::from(self.latency_ms_max.max(self.latency_ms_min)) * 1000,
                },
                loss_probability: schedule.loss_probability,
                duplicate_probability: schedule.duplicate_probability,
                reorder_probability: 0.0,
                reorder_delay_max_us: 0,
                message_faults_until_us: None,
                site_of: (0..n as u32).collect(),
            },
            network_rng: crate::rng::stream(seed, "network"),
            faults: plan,
            nodes,
            durables,
        };
        let events = Rc::new(RefCell::new(Vec::new()));
        let mut sim = Sim::new(spec, Quiet);
        sim.set_trace(Box::new(Sink {
            events: Rc::clone(&events),
        }));
        sim.start();
        let end_us = u64::from(self.horizon_ms + self.drain_ms) * 1000;
        let mut watch = Watch::new(self.properties.clone());
        let end = if watch.is_empty() {
            sim.run_until(end_us, MAX_EVENTS)
        } else {
            watch.check(&View::new(sim.now_us(), &names, &sim));
            sim.run_until_each(end_us, MAX_EVENTS, |sim| {
                watch.check(&View::new(sim.now_us(), &names, sim))
            })
        };
        let up_at_end = (0..n as u32)
            .map(NodeId)
            .filter(|x| sim.is_up(*x))
            .collect();
        drop(sim);
        let events = std::mem::take(&mut *events.borrow_mut());
        Run {
            seed,
            schedule: schedule.clone(),
            names,
            events,
            up_at_end,
            digest: end.digest,
            truncated: end.stopped_by_guard,
            properties: watch.finish(),
        }
    }

    /// The first `always` invariant (or property over node state) the run breaks:
    /// its label (`always "name"`) and what is wrong.
    fn first_broken(&self, run: &Run) -> Option<(String, String)> {
        self.always
            .iter()
            .find_map(|(name, f)| f(run).err().map(|m| (format!("always \"{name}\""), m)))
            .or_else(|| {
                run.properties.iter().find(|p| p.failed()).map(|p| {
                    (
                        format!("{} \"{}\"", p.expectation.name(), p.name),
                        p.describe(),
                    )
                })
            })
    }

    /// Runs the world under generated schedules; `Err` on the first broken `always`
    /// (shrunk), or a `sometimes` that never held.
    pub fn check(&self) -> Result<(), Box<Failure>> {
        let config = Config {
            cases: self.runs,
            failure_persistence: None,
            max_shrink_iters: 256,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let strategy = (any::<u64>(), schedules(&self.faults, self.horizon_ms));
        let held: RefCell<BTreeSet<String>> = RefCell::new(BTreeSet::new());
        let made = RefCell::new(0u32);
        let first: RefCell<Option<(u32, Schedule)>> = RefCell::new(None);
        let result = runner.run(&strategy, |(seed, schedule)| {
            let run = self.replay(seed, &schedule);
            for (name, f) in &self.sometimes {
                if f(&run) {
                    held.borrow_mut().insert(name.clone());
                }
            }
            for p in run.properties.iter().filter(|p| p.seen()) {
                held.borrow_mut().insert(p.name.clone());
            }
            let mut n = made.borrow_mut();
            if first.borrow().is_none() {
                *n += 1;
            }
            match self.first_broken(&run) {
                Some((name, msg)) => {
                    first
                        .borrow_mut()
                        .get_or_insert_with(|| (*n, schedule.clone()));
                    Err(TestCaseError::fail(format!("{name}: {msg}")))
                }
                None => Ok(()),
            }
        });
        match result {
            Ok(()) => {
                let held = held.borrow();
                let sometimes = self.sometimes.iter().map(|(n, _)| n.as_str()).chain(
                    self.properties
                        .iter()
                        .filter(|p| p.expectation() == Expectation::Sometimes)
                        .map(|p| p.name()),
                );
                for name in sometimes {
                    if !held.contains(name) {
                        return Err(Box::new(Failure {
                            invariant: format!("sometimes \"{name}\""),
                            message: format!(
                                "never held in {} runs: the model may be vacuous",
                                self.runs
                            ),
                            runs_until_found: self.runs,
                            seed: 0,
                            original: Schedule::default(),
                            shrunk: Schedule::default(),
                            story: String::new(),
                        }));
                    }
                }
                Ok(())
            }
            Err(TestError::Fail(_, (seed, schedule))) => {
                let (runs_until_found, original) =
                    first.borrow().clone().unwrap_or((0, schedule.clone()));
                Err(Box::new(self.failure(
                    seed,
                    schedule,
                    original,
                    runs_until_found,
                )))
            }
            Err(TestError::Abort(why)) => Err(Box::new(Failure {
                invariant: "harness".into(),
                message: format!("proptest aborted: {why}"),
                runs_until_found: *made.borrow(),
                seed: 0,
                original: Schedule::default(),
                shrunk: Schedule::default(),
                story: String::new(),
            })),
        }
    }

    /// Shrinks further by removing one fault at a time while the same invariant
    /// still breaks, and tells the story of the result.
    fn failure(&self, seed: u64, schedule: Schedule, original: Schedule, runs: u32) -> Failure {
        let run = self.replay(seed, &schedule);
        let (name, _) = self
            .first_broken(&run)
            .expect("proptest's minimal case fails");
        let still_fails = |s: &Schedule| {
            let r = self.replay(seed, s);
            if self.first_broken(&r).is_some_and(|(n, _)| n == name) {
                Verdict::StillFails(s.clone())
            } else {
                Verdict::Rejected
            }
        };
        let mut shrink = Greedy::new(schedule, still_fails, u32::MAX);
        shrink.descend(Schedule::smaller);
        let best = shrink.into_current();
        let run = self.replay(seed, &best);
        let (name, message) = self.first_broken(&run).expect("still fails");
        let txn = message
            .strip_prefix("txn ")
            .and_then(|r| r.split(':').next())
            .and_then(|t| t.parse().ok());
        Failure {
            invariant: name,
            message,
            runs_until_found: runs,
            seed,
            original,
            shrunk: best,
            story: run.story(txn),
        }
    }

    /// Explores the world exhaustively (see [`crate::exhaustive::world`]): every order of
    /// deliveries and timers, and every placement of the faults `opts` allows, until
    /// the harness's horizon + drain. The first violation has a shortest path.
    pub fn exhaustive(&self, opts: &Exhaustive) -> CheckReport {
        let World {
            names,
            nodes,
            durables,
        } = (self.world)();
        let crashable = opts
            .crashable
            .as_ref()
            .unwrap_or(&self.faults.crashable)
            .iter()
            .filter_map(|c| names.iter().position(|n| n == c))
            .map(|i| NodeId(i as u32))
            .collect();
        let not_checked: Vec<String> = self
            .always
            .iter()
            .map(|(n, _)| format!("always \"{n}\""))
            .chain(
                self.sometimes
                    .iter()
                    .map(|(n, _)| format!("sometimes \"{n}\"")),
            )
            .collect();
        let model = WorldModel::new(
            names,
            nodes,
            durables,
            0,
            Budget {
                max_crashes: opts.max_crashes,
                max_drops: opts.max_drops,
                crashable,
                horizon_us: u64::from(self.horizon_ms + self.drain_ms) * 1000,
                max_latency_us: u64::from(self.latency_ms_max) * 1000,
            },
        )
        .with_properties(self.properties.clone());
        let mut report = crate::exhaustive::explore(
            &model,
            &Limits {
                max_depth: None,
                max_states: opts.max_states,
                progress: None,
                threads: 1,
            },
        );
        // They judge a whole run's observation log, which a state does not keep; the
        // report names them rather than pass over them in silence.
        report.not_checked = not_checked;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            crashes: vec![CrashSpec {
                node: "tm".into(),
                at_ms: 40.0,
                restart_ms: Some(900.0),
            }],
            partitions: vec![PartitionSpec {
                groups: vec![vec!["rm1".into()]],
                from_ms: 2.0,
                to_ms: 151.0,
            }],
            loss_probability: 0.05,
            duplicate_probability: 0.0,
        }
    }

    #[test]
    fn a_schedule_reads_back_from_its_ron_and_as_a_scenario_writes_its_faults() {
        let s = schedule();
        let text = s.to_ron();
        assert!(
            text.contains("(node: \"tm\", at_ms: 40.0, restart_ms: Some(900.0)),"),
            "{text}"
        );
        assert_eq!(Schedule::from_ron(&text), Ok(s.clone()));
        // Whole ms and a left-out `Some`, as a scenario's `faults` may be written.
        let hand = "(crashes: [(node: \"tm\", at_ms: 40, restart_ms: 900)], \
                    partitions: [(groups: [[\"rm1\"]], from_ms: 2, to_ms: 151)], \
                    loss_probability: 0.05, duplicate_probability: 0)";
        assert_eq!(Schedule::from_ron(hand), Ok(s));
        assert!(Schedule::from_ron("(crashes: [])")
            .is_err_and(|e| e.to_string().starts_with("expected a Schedule in RON")));
    }

    #[test]
    fn smaller_schedules_have_one_fault_fewer_each() {
        let s = schedule();
        assert_eq!(s.size(), 3);
        let smaller = s.smaller();
        assert_eq!(smaller.len(), 3);
        assert!(smaller.iter().all(|t| t.size() == 2));
        assert!(smaller[0].crashes.is_empty() && smaller[1].partitions.is_empty());
        assert_eq!(smaller[2].loss_probability, 0.0);
    }
}
