//! A world of [`Node`]s as a [`Model`]: the explorer drives the nodes through the same
//! handlers and [`Ctx`] the simulator uses, and carries out their commands itself.
//!
//! **State.** The global state is: every node's volatile state (`None` while down),
//! every durable store, each node's random stream position, the clock, the multiset
//! of messages in flight (kept sorted, so equal multisets hash equally), the pending
//! timers (one per node and timer name, sorted), the faults used so far, and the
//! checkers' memory (which node prepared, decided or applied what, from the
//! [`Observation`]s the handlers emit). All of it is hashed into the fingerprint.
//!
//! **Actions.** Deliver any message in flight (lost if its receiver is down); fire a
//! timer; and, within the budget, crash an up node, drop a message in flight
//! (a partition is a run of such drops between its two sides), or restart a crashed
//! node (restarts are free, but never forced: a node may stay down for good).
//!
//! **Time.** The clock moves only when a timer fires: to that timer's due time. Timers
//! fire in due order (ties in any order), never beyond the horizon, and a message may
//! be delivered at any moment until `max_latency_us` after it was sent: a timer whose
//! due time is later than some message's delivery deadline waits until that message
//! is delivered or dropped. So every order of deliveries and timer firings that real
//! latencies in `[0, max_latency]` allow is explored, and the state space is finite
//! (the clock is bounded by the horizon). A handler sees the clock of the latest
//! timer event: delivery takes no time in the model. The horizon is the model's end of
//! time, as the simulator's horizon + drain is: a state with no enabled action is
//! *quiescent* (nothing in flight, no timer due before the horizon).
//!
//! **Checks.** In every state: atomicity (a transaction some node applied as commit
//! and some node as abort) and conflicting decisions. In quiescent states: *blocking*
//! (an up node that prepared and never learned the outcome, while another node is
//! down — only its recovery could resolve it — or with no timer of its own left —
//! nothing ever will). A node in doubt with a timer beyond the horizon while every
//! node is up is not reported: the horizon, not the protocol, cut it short.

use super::{Finding, Model, Step};
use crate::checkers::txn::{self, TxnRecord};
use crate::node::{Command, Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::Observation;
use crate::property::{Expectation, Property, View};
use crate::rng::StreamRng;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A part of the state shared between a state and its successors until one of them
/// changes it (copy on write), with its fingerprint kept beside it: a transition
/// copies and rehashes only the parts it touches (typically one node, its durable
/// store and the checkers' memory), not every node of the world.
#[derive(Clone)]
pub(crate) struct Shared<T> {
    hash: u64,
    value: Arc<T>,
}

impl<T: Clone + Hash> Shared<T> {
    fn new(value: T) -> Self {
        Shared {
            hash: super::fingerprint(&value),
            value: Arc::new(value),
        }
    }

    /// The value, to change (copied first if another state shares it); call
    /// [`Shared::rehash`] after.
    fn make_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.value)
    }

    fn rehash(&mut self) {
        self.hash = super::fingerprint(&*self.value);
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The part's fingerprint stands for it (equal values have equal fingerprints).
impl<T> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.hash.hash(h);
    }
}

impl<T: Debug> Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// The fault budget and the time bounds of an exploration.
#[derive(Clone, Debug)]
pub struct Budget {
    pub max_crashes: u32,
    pub max_drops: u32,
    /// Nodes that may crash.
    pub crashable: NodeSet,
    /// No timer fires after this time.
    pub horizon_us: u64,
    /// A message is delivered at most this long after it was sent.
    pub max_latency_us: u64,
}

/// A world to explore: the nodes as built, with their initial durable stores.
pub struct WorldModel<N: Node> {
    pub names: Vec<String>,
    pub nodes: Vec<N>,
    pub durables: Vec<N::Durable>,
    pub rngs: Vec<StreamRng>,
    pub budget: Budget,
    /// Properties over node state (see [`crate::property`]): `always` ones are
    /// checked in every state, `sometimes` ones reported when some state shows them,
    /// `eventually` ones at every terminal state of a path on which none held.
    pub properties: Vec<Property<N>>,
    /// Each node as built, shared by every state (a restart starts from it).
    fresh: Vec<Shared<N>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight<M> {
    from: NodeId,
    to: NodeId,
    deadline_us: u64,
    /// The message's fingerprint: orders the multiset canonically.
    key: u64,
    msg: M,
}

/// The message's fingerprint (`key`) stands for the message.
impl<M> Hash for InFlight<M> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.from, self.to, self.deadline_us, self.key).hash(h);
    }
}

/// What the checkers remember of one transaction: the run checkers' record, hashed
/// into the state (its derived hash is the one this memory always had).
pub type TxnMemory = TxnRecord;

/// One global state.
#[derive(Clone, Debug)]
pub struct WorldState<N: Node> {
    now_us: u64,
    nodes: Vec<Option<Shared<N>>>,
    durables: Vec<Shared<N::Durable>>,
    /// Each node's position in its random stream (the streams themselves are the
    /// model's: a position is 16 bytes, a stream a few hundred).
    rng_pos: Vec<u128>,
    in_flight: Vec<InFlight<N::Msg>>,
    /// Sorted by (node, timer).
    timers: Vec<(NodeId, N::Timer, u64)>,
    crashes: u32,
    drops: u32,
    txns: Shared<BTreeMap<TxnId, TxnMemory>>,
    /// Bit `i`: the `i`-th `eventually` property held in some state of this path.
    met: u64,
}

impl<N: Node> crate::property::NodeStates<N> for WorldState<N> {
    fn count(&self) -> usize {
        self.nodes.len()
    }
    fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes[id.index()].as_deref()
    }
    fn durable(&self, id: NodeId) -> &N::Durable {
        &self.durables[id.index()]
    }
}

impl<N: Node> Hash for WorldState<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.now_us.hash(h);
        self.nodes.hash(h);
        self.durables.hash(h);
        self.rng_pos.hash(h);
        self.in_flight.hash(h);
        self.timers.hash(h);
        self.crashes.hash(h);
        self.drops.hash(h);
        self.txns.hash(h);
        if self.met != 0 {
            // Only worlds with `eventually` properties have bits: the others hash
            // as before (their state counts and fingerprints stay put).
            self.met.hash(h);
        }
    }
}

impl<N: Node> WorldState<N> {
    pub fn now_us(&self) -> u64 {
        self.now_us
    }
    pub fn is_up(&self, n: NodeId) -> bool {
        self.nodes[n.index()].is_some()
    }
    pub fn txns(&self) -> &BTreeMap<TxnId, TxnMemory> {
        &self.txns
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldAction {
    Deliver(usize),
    Fire(usize),
    Crash(NodeId),
    Restart(NodeId),
    Drop(usize),
}

impl<N: Node> WorldModel<N> {
    pub fn new(
        names: Vec<String>,
        nodes: Vec<N>,
        durables: Vec<N::Durable>,
        seed: u64,
        budget: Budget,
    ) -> Self {
        assert_eq!(names.len(), nodes.len(), "one name per node");
        assert_eq!(durables.len(), nodes.len(), "one durable store per node");
        let rngs = names
            .iter()
            .map(|n| crate::rng::stream(seed, &format!("node/{n}")))
            .collect();
        let fresh = nodes.iter().cloned().map(Shared::new).collect();
        WorldModel {
            fresh,
            names,
            nodes,
            durables,
            rngs,
            budget,
            properties: Vec::new(),
        }
    }

    /// The model with `properties` over node state checked too.
    pub fn with_properties(mut self, properties: Vec<Property<N>>) -> Self {
        assert!(
            properties
                .iter()
                .filter(|p| p.expectation() == Expectation::Eventually)
                .count()
                <= 64,
            "at most 64 eventually-properties per world"
        );
        self.properties = properties;
        self
    }

    fn view<'a>(&'a self, s: &'a WorldState<N>) -> View<'a, N> {
        View::new(s.now_us, &self.names, s)
    }

    /// The `eventually` properties, numbered as the state's `met` bits.
    fn eventually(&self) -> impl Iterator<Item = (usize, &Property<N>)> {
        self.properties
            .iter()
            .filter(|p| p.expectation() == Expectation::Eventually)
            .enumerate()
    }

    /// Marks the `eventually` properties that hold in `s`.
    fn mark_met(&self, s: &mut WorldState<N>) {
        let mut met = s.met;
        for (i, p) in self.eventually() {
            if met & (1 << i) == 0 && p.holds(&self.view(s)) {
                met |= 1 << i;
            }
        }
        s.met = met;
    }

    fn name(&self, n: NodeId) -> &str {
        &self.names[n.index()]
    }

    /// Runs one handler on `node` and carries out its commands; returns what it
    /// observed.
    fn handle(
        &self,
        s: &mut WorldState<N>,
        node: NodeId,
        f: impl FnOnce(&mut N, &mut Ctx<'_, N>),
    ) -> Vec<Observation> {
        let i = node.index();
        let Some(shared) = s.nodes[i].as_mut() else {
            return Vec::new();
        };
        let mut commands = Vec::new();
        let mut rng = self.rngs[i].clone();
        // Repositioning a ChaCha stream computes a block: skipped while the node has
        // drawn nothing yet (most protocols never draw).
        if rng.get_word_pos() != s.rng_pos[i] {
            rng.set_word_pos(s.rng_pos[i]);
        }
        {
            let durable = s.durables[i].make_mut();
            let mut ctx = Ctx::new(s.now_us, node, durable, &mut rng, &mut commands);
            f(shared.make_mut(), &mut ctx);
        }
        shared.rehash();
        s.durables[i].rehash();
        s.rng_pos[i] = rng.get_word_pos();
        let mut remembered = false;
        let mut seen = Vec::new();
        for c in commands {
            match c {
                Command::Send { to, msg } => {
                    assert!(
                        to.index() < self.nodes.len(),
                        "{} sent to unknown node {}",
                        self.name(node),
                        to.0
                    );
                    let m = InFlight {
                        from: node,
                        to,
                        deadline_us: s.now_us.saturating_add(self.budget.max_latency_us),
                        key: super::fingerprint(&msg),
                        msg,
                    };
                    let at = s.in_flight.partition_point(|x| {
                        (x.from, x.to, x.deadline_us, x.key) <= (m.from, m.to, m.deadline_us, m.key)
                    });
                    s.in_flight.insert(at, m);
                }
                Command::SetTimer { timer, after_us } => {
                    let due = s.now_us.saturating_add(after_us);
                    match s
                        .timers
                        .binary_search_by(|(n, t, _)| (n, t).cmp(&(&node, &timer)))
                    {
                        Ok(k) => s.timers[k].2 = due,
                        Err(k) => s.timers.insert(k, (node, timer, due)),
                    }
                }
                Command::CancelTimer { timer } => {
                    if let Ok(k) = s
                        .timers
                        .binary_search_by(|(n, t, _)| (n, t).cmp(&(&node, &timer)))
                    {
                        s.timers.remove(k);
                    }
                }
                Command::Observe(obs) => {
                    if TxnRecord::about(&obs).is_some() {
                        txn::remember(s.txns.make_mut(), node, &obs);
                        remembered = true;
                    }
                    seen.push(obs);
                }
            }
        }
        if remembered {
            s.txns.rehash();
        }
        seen
    }

    /// Applies `a`; returns the observations made (for stories).
    fn apply(&self, s: &mut WorldState<N>, a: &WorldAction) -> Vec<Observation> {
        match *a {
            WorldAction::Deliver(k) => {
                let m = s.in_flight.remove(k);
                let from = m.from;
                let msg = m.msg;
                self.handle(s, m.to, |n, ctx| n.on_message(from, msg, ctx))
            }
            WorldAction::Fire(k) => {
                let (node, timer, due) = s.timers.remove(k);
                s.now_us = s.now_us.max(due);
                self.handle(s, node, |n, ctx| n.on_timer(timer, ctx))
            }
            WorldAction::Crash(node) => {
                s.crashes += 1;
                s.nodes[node.index()] = None;
                s.timers.retain(|(n, _, _)| *n != node);
                Vec::new()
            }
            WorldAction::Restart(node) => {
                s.nodes[node.index()] = Some(self.fresh[node.index()].clone());
                self.handle(s, node, |n, ctx| n.on_recover(ctx))
            }
            WorldAction::Drop(k) => {
                s.drops += 1;
                s.in_flight.remove(k);
                Vec::new()
            }
        }
    }

    fn describe_obs(&self, node: NodeId, obs: &Observation) -> Option<String> {
        let who = self.name(node);
        Some(match obs {
            Observation::TxnBegun { txn, participants } => format!(
                "{who} begins txn {txn} over {}",
                self.set_names(*participants)
            ),
            Observation::Prepared { txn } => {
                format!("{who} votes yes on txn {txn} and is now in doubt")
            }
            Observation::Decided { txn, outcome } => {
                format!("{who} decides {} for txn {txn}", word(*outcome))
            }
            Observation::Applied { txn, outcome, .. }
            | Observation::Resolved { txn, outcome, .. } => {
                format!("{who} applies {} for txn {txn}", word(*outcome))
            }
            Observation::Answered { txn, outcome, .. } => {
                format!("{who} is told {} for txn {txn}", word(*outcome))
            }
            _ => return None,
        })
    }

    fn set_names(&self, s: NodeSet) -> String {
        let v: Vec<&str> = s.iter().map(|n| self.name(n)).collect();
        format!("{{{}}}", v.join(", "))
    }
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Commit => "commit",
        Outcome::Abort => "abort",
    }
}

impl<N: Node> Model for WorldModel<N> {
    type State = WorldState<N>;
    type Action = WorldAction;

    fn init_states(&self) -> Vec<WorldState<N>> {
        let mut s = WorldState {
            now_us: 0,
            nodes: self.fresh.iter().cloned().map(Some).collect(),
            durables: self.durables.iter().cloned().map(Shared::new).collect(),
            rng_pos: self.rngs.iter().map(StreamRng::get_word_pos).collect(),
            in_flight: Vec::new(),
            timers: Vec::new(),
            crashes: 0,
            drops: 0,
            txns: Shared::new(BTreeMap::new()),
            met: 0,
        };
        for i in 0..self.nodes.len() {
            self.handle(&mut s, NodeId(i as u32), |n, ctx| n.on_start(ctx));
        }
        self.mark_met(&mut s);
        vec![s]
    }

    fn actions(&self, s: &WorldState<N>, out: &mut Vec<WorldAction>) {
        for k in 0..s.in_flight.len() {
            out.push(WorldAction::Deliver(k));
        }
        // Timers fire in due order, within the horizon, and not past the delivery
        // deadline of a message still in flight.
        let next_due = s.timers.iter().map(|t| t.2).min();
        let deadline = s.in_flight.iter().map(|m| m.deadline_us).min();
        if let Some(due) = next_due {
            if due <= self.budget.horizon_us && deadline.is_none_or(|d| due <= d) {
                for (k, t) in s.timers.iter().enumerate() {
                    if t.2 == due {
                        out.push(WorldAction::Fire(k));
                    }
                }
            }
        }
        if s.drops < self.budget.max_drops {
            for k in 0..s.in_flight.len() {
                out.push(WorldAction::Drop(k));
            }
        }
        let quiet = out.is_empty();
        for i in 0..s.nodes.len() {
            let n = NodeId(i as u32);
            if s.nodes[i].is_some() {
                // A crash in a quiescent state changes nothing anybody could see.
                if !quiet
                    && s.crashes < self.budget.max_crashes
                    && self.budget.crashable.contains(n)
                {
                    out.push(WorldAction::Crash(n));
                }
            } else {
                out.push(WorldAction::Restart(n));
            }
        }
    }

    fn next_state(&self, s: &WorldState<N>, a: &WorldAction) -> Option<WorldState<N>> {
        let mut n = s.clone();
        self.apply(&mut n, a);
        if !self.properties.is_empty() {
            self.mark_met(&mut n);
        }
        Some(n)
    }

    fn check_terminal(&self, s: &WorldState<N>, out: &mut Vec<Finding>) {
        for (i, p) in self.eventually() {
            if s.met & (1 << i) == 0 {
                out.push(Finding {
                    kind: format!("property: {}", p.name()),
                    detail: format!("eventually {:?} never held on this path", p.name()),
                });
            }
        }
    }

    fn check_state(&self, s: &WorldState<N>, out: &mut Vec<Finding>) {
        if self.is_quiescent(s) {
            self.check_blocking(s, out);
        }
        for (txn, t) in s.txns.iter() {
            if t.applied_both_ways() {
                out.push(Finding {
                    kind: "atomicity".into(),
                    detail: format!(
                        "txn {txn}: {} applied commit while {} applied abort",
                        self.set_names(t.applied_commit),
                        self.set_names(t.applied_abort)
                    ),
                });
            }
            if t.decided_both_ways() {
                out.push(Finding {
                    kind: "agreement".into(),
                    detail: format!("txn {txn} was decided both commit and abort"),
                });
            }
        }
        // Last, so that the explorer (which reports the last finding of a state)
        // names the user's own property when a built-in rule breaks with it.
        for p in &self.properties {
            if p.expectation() == Expectation::Always && !p.holds(&self.view(s)) {
                out.push(Finding {
                    kind: format!("property: {}", p.name()),
                    detail: format!("always {:?} is broken in this state", p.name()),
                });
            }
        }
    }

    fn sometimes(&self, s: &WorldState<N>, out: &mut Vec<String>) {
        for p in &self.properties {
            if p.expectation() == Expectation::Sometimes && p.holds(&self.view(s)) {
                out.push(p.name().to_string());
            }
        }
        if s.txns.values().any(TxnRecord::committed_everywhere) {
            out.push("commit".into());
        }
        if s.txns.values().any(TxnRecord::aborted_everywhere) {
            out.push("abort".into());
        }
    }

    fn step(&self, s: &WorldState<N>, a: &WorldAction) -> Step {
        match *a {
            WorldAction::Deliver(k) | WorldAction::Drop(k) => {
                let m = &s.in_flight[k];
                let (from, to, msg) = (
                    self.name(m.from).to_string(),
                    self.name(m.to).to_string(),
                    format!("{:?}", m.msg),
                );
                if matches!(a, WorldAction::Deliver(_)) {
                    Step::Deliver { from, to, msg }
                } else {
                    Step::Drop { from, to, msg }
                }
            }
            WorldAction::Fire(k) => Step::Timer {
                node: self.name(s.timers[k].0).to_string(),
                timer: format!("{:?}", s.timers[k].1),
            },
            WorldAction::Crash(n) => Step::Crash {
                node: self.name(n).to_string(),
            },
            WorldAction::Restart(n) => Step::Restart {
                node: self.name(n).to_string(),
            },
        }
    }

    fn notable(&self, s: &WorldState<N>, a: &WorldAction) -> bool {
        match a {
            WorldAction::Crash(_) | WorldAction::Restart(_) | WorldAction::Drop(_) => true,
            _ => {
                let mut n = s.clone();
                self.apply(&mut n, a)
                    .iter()
                    .any(|o| self.describe_obs(NodeId(0), o).is_some())
            }
        }
    }

    fn describe(&self, s: &WorldState<N>, a: &WorldAction) -> String {
        let mut n = s.clone();
        let obs = self.apply(&mut n, a);
        let ms = |us: u64| us as f64 / 1000.0;
        let mut line = match *a {
            WorldAction::Deliver(k) => {
                let m = &s.in_flight[k];
                let lost = if s.nodes[m.to.index()].is_none() {
                    " — lost: the receiver is down"
                } else {
                    ""
                };
                format!(
                    "[{} ms] {} → {}: {:?} delivered{lost}",
                    ms(s.now_us),
                    self.name(m.from),
                    self.name(m.to),
                    m.msg
                )
            }
            WorldAction::Drop(k) => {
                let m = &s.in_flight[k];
                format!(
                    "[{} ms] the network drops {} → {}: {:?}",
                    ms(s.now_us),
                    self.name(m.from),
                    self.name(m.to),
                    m.msg
                )
            }
            WorldAction::Fire(k) => {
                let (node, ref timer, due) = s.timers[k];
                format!(
                    "[{} ms] {}'s timer {timer:?} fires",
                    ms(s.now_us.max(due)),
                    self.name(node)
                )
            }
            WorldAction::Crash(node) => format!(
                "[{} ms] {} crashes (its volatile state and timers are lost)",
                ms(s.now_us),
                self.name(node)
            ),
            WorldAction::Restart(node) => format!(
                "[{} ms] {} restarts and recovers from its durable log",
                ms(s.now_us),
                self.name(node)
            ),
        };
        let node = match *a {
            WorldAction::Deliver(k) => Some(s.in_flight[k].to),
            WorldAction::Fire(k) => Some(s.timers[k].0),
            WorldAction::Restart(x) => Some(x),
            _ => None,
        };
        if let Some(node) = node {
            let words: Vec<String> = obs
                .iter()
                .filter_map(|o| self.describe_obs(node, o))
                .collect();
            if !words.is_empty() {
                line.push_str(" — ");
                line.push_str(&words.join("; "));
            }
        }
        line
    }
}

impl<N: Node> WorldModel<N> {
    /// Quiescent: nothing in flight and no timer left before the horizon. Restarts of
    /// crashed nodes may still be enabled: staying down for good is a possible future,
    /// and blocking is exactly what happens until then.
    pub fn is_quiescent(&self, s: &WorldState<N>) -> bool {
        s.in_flight.is_empty() && s.timers.iter().all(|t| t.2 > self.budget.horizon_us)
    }

    fn check_blocking(&self, s: &WorldState<N>, out: &mut Vec<Finding>) {
        for (txn, t) in s.txns.iter() {
            let some_down = s.nodes.iter().any(Option::is_none);
            // In doubt for good: up, and either waiting on a node that is down, or
            // with no timer left at all (nothing will ever happen to it). A node with
            // a timer beyond the horizon and nobody down may still resolve: the
            // horizon cut it short, which is not blocking.
            let stuck: NodeSet = t
                .in_doubt()
                .iter()
                .filter(|n| {
                    s.nodes[n.index()].is_some()
                        && (some_down || !s.timers.iter().any(|(m, _, _)| m == n))
                })
                .collect();
            if stuck.is_empty() {
                continue;
            }
            let down: Vec<&str> = (0..s.nodes.len())
                .filter(|i| s.nodes[*i].is_none())
                .map(|i| self.names[i].as_str())
                .collect();
            let why = if down.is_empty() {
                "although every node is up".to_string()
            } else {
                format!(
                    "while {} {} down: only a recovery could resolve it",
                    down.join(", "),
                    if down.len() == 1 { "is" } else { "are" }
                )
            };
            out.push(Finding {
                kind: "blocking".into(),
                detail: format!(
                    "txn {txn}: {} voted yes and stay in doubt with nothing left in flight and no timer due, {why}",
                    self.set_names(stuck)
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exhaustive::fingerprint;
    use crate::exhaustive::scenario::{model, small, CheckOptions};

    fn two_rms() -> WorldModel<crate::protocols::two_pc::TwoPcNode> {
        let src = "(rms: 2, workload: Transfer(fan_out: 1, keys: PerSession), \
                   clients: (load: Closed(sessions: 1, think_ms: 5)), \
                   network: (latency: Constant(ms: 5)))";
        let s = crate::run::parse(src, "t.ron").unwrap().into_scenario();
        let o = CheckOptions::default();
        let s = small(&s, &o);
        let w = crate::run::build_world(&crate::protocols::builtin::TwoPc, &s).unwrap();
        model(&s, &o, w.names, w.nodes, w.durables).unwrap()
    }

    fn deliver_to<N: Node>(m: &WorldModel<N>, s: &WorldState<N>, to: &str) -> WorldState<N> {
        let k = s
            .in_flight
            .iter()
            .position(|x| m.name(x.to) == to)
            .expect("a message to that node");
        m.next_state(s, &WorldAction::Deliver(k)).unwrap()
    }

    #[test]
    fn the_same_events_in_another_order_reach_the_same_state() {
        let m = two_rms();
        let s0 = m.init_states().remove(0);
        let s1 = deliver_to(&m, &s0, "tm"); // the request: Prepare to rm1 and rm2
        assert_eq!(s1.in_flight.len(), 2);
        let a = deliver_to(&m, &deliver_to(&m, &s1, "rm1"), "rm2");
        let b = deliver_to(&m, &deliver_to(&m, &s1, "rm2"), "rm1");
        // Both votes are in flight, sent in different orders: the same multiset.
        assert_eq!(a.in_flight.len(), 2);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&s1));
    }

    #[test]
    fn a_crash_loses_volatile_state_and_timers_and_a_restart_recovers() {
        let m = two_rms();
        let s0 = m.init_states().remove(0);
        let s1 = deliver_to(&m, &deliver_to(&m, &s0, "tm"), "rm1"); // rm1 prepared
        let rm1 = NodeId(1);
        assert!(s1.timers.iter().any(|t| t.0 == rm1), "rm1 asks later");
        let down = m.next_state(&s1, &WorldAction::Crash(rm1)).unwrap();
        assert!(!down.is_up(rm1));
        assert!(!down.timers.iter().any(|t| t.0 == rm1));
        let mut acts = Vec::new();
        m.actions(&down, &mut acts);
        assert!(acts.contains(&WorldAction::Restart(rm1)));
        let up = m.next_state(&down, &WorldAction::Restart(rm1)).unwrap();
        assert!(up.is_up(rm1));
        // Recovery from the durable log: still prepared, asking again.
        assert!(up.timers.iter().any(|t| t.0 == rm1));
        assert!(up.txns()[&0].prepared.contains(rm1));
    }

    #[test]
    fn timers_wait_for_messages_due_earlier() {
        let m = two_rms();
        let s0 = m.init_states().remove(0);
        // The request is in flight (deadline 5 ms); the client's deadline timer is due
        // at 1 s: it may not fire before the request is delivered or dropped.
        let mut acts = Vec::new();
        m.actions(&s0, &mut acts);
        assert!(!acts.iter().any(|a| matches!(a, WorldAction::Fire(_))));
        assert!(acts.contains(&WorldAction::Deliver(0)));
    }
}
