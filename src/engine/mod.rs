//! The discrete-event engine: virtual time in integer µs, one event queue ordered by
//! (time, sequence number), and the run loop that hands events to nodes.
//!
//! The engine knows no protocol: it delivers messages, fires timers, crashes and
//! restarts nodes (DESIGN §5) and carries out the commands handlers leave in their
//! [`Ctx`]. Faults are events in the same queue as messages. A run is single-threaded
//! and a pure function of its inputs; it ends with a digest of everything it did.

pub mod digest;
pub mod queue;
pub mod trace;

pub use digest::Digest;

use crate::faults::{Clock, FaultAction, FaultPlan};
use crate::network::{DropReason, Fate, Network, NetworkConfig};
use crate::node::{Command, Ctx, Node, NodeId};
use crate::observe::{AuditItem, Observation};
use crate::rng::StreamRng;
use queue::{EventQueue, Slot};
use std::collections::BTreeMap;
use std::hash::Hasher;

/// Receives what nodes report and what the engine does; never answers back.
pub trait Observer {
    /// A node reported `obs` at `at_us`; `depth` is the length of the causal chain of
    /// messages that led to it (message delays).
    fn observe(&mut self, at_us: u64, node: NodeId, depth: u32, obs: &Observation);
    /// A message left `from` for `to` (whatever its fate).
    fn message_sent(&mut self, _from: NodeId, _to: NodeId) {}
    /// A handler on `node` made `writes` durable writes.
    fn persisted(&mut self, _node: NodeId, _writes: u32) {}
    /// The fault plan acted.
    fn fault(&mut self, _at_us: u64, _action: &FaultAction) {}
}

/// Everything the engine did, for `--trace` and sequence diagrams.
#[derive(Debug)]
pub enum TraceEvent<'a, N: Node> {
    Send {
        from: NodeId,
        to: NodeId,
        msg: &'a N::Msg,
        fate: Fate,
    },
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: &'a N::Msg,
    },
    /// A message that was in flight is lost on arrival.
    Lost {
        from: NodeId,
        to: NodeId,
        msg: &'a N::Msg,
        reason: DropReason,
    },
    Timer {
        node: NodeId,
        timer: &'a N::Timer,
    },
    /// A node crashed or restarted.
    Fault(&'a FaultAction),
    /// A directed cut started (`active`) or ended dropping messages.
    Cut {
        index: usize,
        cut: &'a crate::network::Cut,
        active: bool,
    },
    Observe {
        node: NodeId,
        obs: &'a Observation,
    },
    Persist {
        node: NodeId,
        writes: u32,
    },
}

pub trait TraceSink<N: Node> {
    fn record(&mut self, at_us: u64, event: TraceEvent<'_, N>);

    /// [`TraceSink::record`] with the event's place in the run's call tree. The engine
    /// calls this one; a sink that has no use for spans keeps the default.
    fn record_span(&mut self, at_us: u64, span: SpanRef, event: TraceEvent<'_, N>) {
        let _ = span;
        self.record(at_us, event);
    }
}

/// Which trace (Dapper's word: one request's tree of calls) a span belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceKey {
    /// No span (a fault, or what a node does on start or recovery).
    #[default]
    None,
    /// The trace of a transaction (or request): every span whose message names it
    /// ([`Node::msg_txn`]), and what such spans cause.
    Txn(crate::node::TxnId),
    /// A tree that names no transaction, by its root span.
    Root(u64),
}

/// An event's place in the call tree: its trace, its span and the span that caused
/// it. A message is a span from its send to its delivery (both copies of a
/// duplicated message share it); a timer's firing is a span whose parent is the span
/// that set the timer. Span ids count up from 1 in the order spans begin; 0 is "no
/// span" (`parent == 0`: a root). Only kept while a trace sink is attached, and never
/// part of the digest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanRef {
    pub trace: TraceKey,
    pub span: u64,
    pub parent: u64,
}

/// The spans of a traced run: for each span (id - 1), its trace and parent.
#[derive(Default)]
struct SpanBook {
    spans: Vec<(TraceKey, u64)>,
    /// The first span of each transaction's trace: where a span of that trace whose
    /// cause lies in another trace (a periodic scan's inquiry, a client's next
    /// request) is hung, so that each trace is one tree.
    roots: BTreeMap<crate::node::TxnId, u64>,
}

impl SpanBook {
    fn get(&self, span: u64) -> SpanRef {
        match span.checked_sub(1).and_then(|i| self.spans.get(i as usize)) {
            Some(&(trace, parent)) => SpanRef {
                trace,
                span,
                parent,
            },
            None => SpanRef::default(),
        }
    }

    /// A new span caused by `cause` (0: none), about `txn` if it names one.
    fn open(&mut self, cause: u64, txn: Option<crate::node::TxnId>) -> SpanRef {
        let span = self.spans.len() as u64 + 1;
        let c = self.get(cause);
        let (trace, parent) = match txn {
            Some(t) if c.trace == TraceKey::Txn(t) => (c.trace, cause),
            Some(t) => (TraceKey::Txn(t), self.roots.get(&t).copied().unwrap_or(0)),
            None if cause != 0 => (c.trace, cause),
            None => (TraceKey::Root(span), 0),
        };
        if let TraceKey::Txn(t) = trace {
            self.roots.entry(t).or_insert(span);
        }
        self.spans.push((trace, parent));
        SpanRef {
            trace,
            span,
            parent,
        }
    }
}

enum Event<N: Node> {
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: N::Msg,
        depth: u32,
        /// The message's span (0 when no trace sink is attached).
        span: u64,
    },
    Timer {
        node: NodeId,
        timer: N::Timer,
        depth: u32,
        /// The span that set the timer (0 when no trace sink is attached).
        span: u64,
    },
    Fault(FaultAction),
}

struct NodeSlot<N: Node> {
    /// `None` while the node is down: its volatile state is gone.
    state: Option<N>,
    durable: N::Durable,
    rng: StreamRng,
    timers: BTreeMap<N::Timer, Slot>,
    clock: Clock,
    /// The sum of the wall-clock steps applied so far (kept across crashes: the
    /// machine's clock, not the process's).
    wall_offset_us: i64,
}

impl<N: Node, O: Observer> crate::property::NodeStates<N> for Sim<N, O> {
    fn count(&self) -> usize {
        self.nodes.len()
    }
    fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes[id.index()].state.as_ref()
    }
    fn durable(&self, id: NodeId) -> &N::Durable {
        &self.nodes[id.index()].durable
    }
}

/// Counters kept by the engine itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub events: u64,
    /// Time of the last message delivered.
    pub last_delivery_us: u64,
    pub sends: u64,
    pub deliveries: u64,
    pub dropped_loss: u64,
    pub dropped_partition: u64,
    pub dropped_receiver_down: u64,
    pub duplicated: u64,
    pub timers_fired: u64,
    pub durable_writes: u64,
    pub crashes: u64,
    pub restarts: u64,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnd {
    pub end_us: u64,
    /// Time of the last event processed.
    pub last_event_us: u64,
    pub digest: u64,
    /// The event guard stopped the run before its end time.
    pub stopped_by_guard: bool,
    pub stats: EngineStats,
}

/// One simulated world of nodes of type `N`, observed by `O`.
pub struct Sim<N: Node, O: Observer> {
    now_us: u64,
    queue: EventQueue<Event<N>>,
    nodes: Vec<NodeSlot<N>>,
    /// The nodes as built: a restart starts from a fresh copy.
    initial: Vec<N>,
    network: Network,
    observer: O,
    commands: Vec<Command<N>>,
    digest: Digest,
    stats: EngineStats,
    trace: Option<Box<dyn TraceSink<N>>>,
    /// Kept only while `trace` is set.
    spans: SpanBook,
    /// The span of the handler running now (0: none, or no trace sink).
    current_span: u64,
}

/// The pieces a world is built from.
pub struct WorldSpec<N: Node> {
    pub nodes: Vec<N>,
    /// Each node's durable store at time 0 (e.g. the initial balances).
    pub durables: Vec<N::Durable>,
    /// One random stream per node, in node order.
    pub node_rngs: Vec<StreamRng>,
    pub drift_ppm: Vec<i32>,
    pub network: NetworkConfig,
    pub network_rng: StreamRng,
    pub faults: FaultPlan,
}

impl<N: Node, O: Observer> Sim<N, O> {
    pub fn new(spec: WorldSpec<N>, observer: O) -> Self {
        let WorldSpec {
            nodes,
            durables,
            node_rngs,
            drift_ppm,
            network,
            network_rng,
            faults,
        } = spec;
        assert_eq!(nodes.len(), node_rngs.len(), "one rng per node");
        assert_eq!(nodes.len(), drift_ppm.len(), "one drift per node");
        assert_eq!(nodes.len(), durables.len(), "one durable store per node");
        let (cuts, actions) = faults.actions();
        let mut queue = EventQueue::new();
        for (at, action) in actions {
            queue.push(at, Event::Fault(action));
        }
        let network = Network::new(network, cuts, network_rng);
        let slots = nodes
            .iter()
            .cloned()
            .zip(node_rngs)
            .zip(drift_ppm)
            .zip(durables)
            .map(|(((n, rng), drift_ppm), durable)| NodeSlot {
                state: Some(n),
                durable,
                rng,
                timers: BTreeMap::new(),
                clock: Clock { ppm: drift_ppm },
                wall_offset_us: 0,
            })
            .collect();
        Sim {
            now_us: 0,
            queue,
            nodes: slots,
            initial: nodes,
            network,
            observer,
            commands: Vec::new(),
            digest: Digest::default(),
            stats: EngineStats::default(),
            trace: None,
            spans: SpanBook::default(),
            current_span: 0,
        }
    }

    pub fn set_trace(&mut self, sink: Box<dyn TraceSink<N>>) {
        self.trace = Some(sink);
    }

    /// Scripted message fates (see [`crate::network::Network::set_script`]).
    pub fn set_message_script(
        &mut self,
        script: impl IntoIterator<Item = (crate::network::LinkMessage, crate::network::ScriptedFate)>,
    ) {
        self.network.set_script(script);
    }

    /// Records each message's drawn fate, for export as a script.
    pub fn record_message_fates(&mut self, pin_latencies: bool) {
        self.network.record_fates(pin_latencies);
    }

    /// The recorded message fates (empty unless recording was asked for).
    pub fn take_message_fates(&mut self) -> Vec<crate::network::RecordedFate> {
        self.network.take_record()
    }

    pub fn observer(&self) -> &O {
        &self.observer
    }

    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    pub fn into_observer(self) -> O {
        self.observer
    }

    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes[node.index()].state.is_some()
    }

    /// Starts every node (at time 0, in node order).
    pub fn start(&mut self) {
        for i in 0..self.nodes.len() {
            self.handle(NodeId(i as u32), 0, |n, ctx| n.on_start(ctx));
        }
    }

    /// Runs until `end_us` (inclusive), the queue is empty, or `max_events` events.
    pub fn run_until(&mut self, end_us: u64, max_events: u64) -> RunEnd {
        self.run_until_each(end_us, max_events, |_| {})
    }

    /// [`Sim::run_until`], calling `after_event` with the world after every event
    /// (properties over node state read it: [`crate::property`]).
    pub fn run_until_each(
        &mut self,
        end_us: u64,
        max_events: u64,
        mut after_event: impl FnMut(&Self),
    ) -> RunEnd {
        let mut stopped_by_guard = false;
        loop {
            if self.stats.events >= max_events {
                stopped_by_guard = self.queue.peek_time().is_some_and(|at| at <= end_us);
                break;
            }
            let Some((at, event)) = self.queue.pop_until(end_us) else {
                break;
            };
            self.now_us = at;
            self.stats.events += 1;
            self.dispatch(event);
            after_event(self);
        }
        let last_event_us = self.now_us;
        if !stopped_by_guard {
            self.now_us = self.now_us.max(end_us);
        }
        RunEnd {
            end_us: self.now_us,
            last_event_us,
            digest: self.digest.value(),
            stopped_by_guard,
            stats: self.stats.clone(),
        }
    }

    /// Audits every node. A node that is down is audited as it would recover: a fresh
    /// copy replays its durable store (commands from that replay are discarded).
    pub fn audit(&mut self) -> Vec<(NodeId, Vec<AuditItem>)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for (i, slot) in self.nodes.iter_mut().enumerate() {
            let mut items = Vec::new();
            match &slot.state {
                Some(n) => n.audit(&slot.durable, slot.clock.local(self.now_us), &mut items),
                None => {
                    let mut fresh = self.initial[i].clone();
                    let mut durable = slot.durable.clone();
                    let mut rng = slot.rng.clone();
                    let mut scratch = Vec::new();
                    let local_now = slot.clock.local(self.now_us);
                    let mut ctx = Ctx::new(
                        local_now,
                        NodeId(i as u32),
                        &mut durable,
                        &mut rng,
                        &mut scratch,
                    );
                    fresh.on_recover(&mut ctx);
                    fresh.audit(&durable, local_now, &mut items);
                }
            }
            out.push((NodeId(i as u32), items));
        }
        out
    }

    fn dispatch(&mut self, event: Event<N>) {
        match event {
            Event::Deliver {
                from,
                to,
                msg,
                depth,
                span,
            } => {
                let lost = if self.nodes[to.index()].state.is_none() {
                    Some(DropReason::ReceiverDown)
                } else if self.network.is_cut(from, to) {
                    Some(DropReason::Partition)
                } else {
                    None
                };
                self.digest.write_u8(if lost.is_some() { 2 } else { 1 });
                self.digest.write_u64(self.now_us);
                self.digest.write_u32(from.0);
                self.digest.write_u32(to.0);
                digest::encode(&msg, &mut self.digest);
                if let Some(reason) = lost {
                    match reason {
                        DropReason::ReceiverDown => self.stats.dropped_receiver_down += 1,
                        _ => self.stats.dropped_partition += 1,
                    }
                    if let Some(t) = self.trace.as_mut() {
                        t.record_span(
                            self.now_us,
                            self.spans.get(span),
                            TraceEvent::Lost {
                                from,
                                to,
                                msg: &msg,
                                reason,
                            },
                        );
                    }
                    return;
                }
                self.stats.deliveries += 1;
                self.stats.last_delivery_us = self.now_us;
                if let Some(t) = self.trace.as_mut() {
                    t.record_span(
                        self.now_us,
                        self.spans.get(span),
                        TraceEvent::Deliver {
                            from,
                            to,
                            msg: &msg,
                        },
                    );
                }
                self.current_span = span;
                self.handle(to, depth, |n, ctx| n.on_message(from, msg, ctx));
                self.current_span = 0;
            }
            Event::Timer {
                node,
                timer,
                depth,
                span,
            } => {
                let slot = &mut self.nodes[node.index()];
                slot.timers.remove(&timer);
                self.stats.timers_fired += 1;
                self.digest.write_u8(3);
                self.digest.write_u64(self.now_us);
                self.digest.write_u32(node.0);
                digest::encode(&timer, &mut self.digest);
                if let Some(t) = self.trace.as_mut() {
                    let fired = self.spans.open(span, None);
                    t.record_span(
                        self.now_us,
                        fired,
                        TraceEvent::Timer {
                            node,
                            timer: &timer,
                        },
                    );
                    self.current_span = fired.span;
                }
                self.handle(node, depth, |n, ctx| n.on_timer(timer, ctx));
                self.current_span = 0;
            }
            Event::Fault(action) => {
                self.digest.write_u8(4);
                self.digest.write_u64(self.now_us);
                digest::encode(&action, &mut self.digest);
                self.observer.fault(self.now_us, &action);
                if let Some(t) = self.trace.as_mut() {
                    let event = match action {
                        FaultAction::CutStart(index) | FaultAction::CutEnd(index) => {
                            TraceEvent::Cut {
                                index,
                                cut: self.network.cut(index),
                                active: matches!(action, FaultAction::CutStart(_)),
                            }
                        }
                        _ => TraceEvent::Fault(&action),
                    };
                    t.record_span(self.now_us, SpanRef::default(), event);
                }
                match action {
                    FaultAction::Crash(node) => self.crash(node),
                    FaultAction::Restart(node) => self.restart(node),
                    FaultAction::CutStart(c) => self.network.set_cut(c, true),
                    FaultAction::CutEnd(c) => self.network.set_cut(c, false),
                    FaultAction::ClockStep { node, step_us } => {
                        let slot = &mut self.nodes[node.index()];
                        slot.wall_offset_us = slot.wall_offset_us.saturating_add(step_us);
                    }
                }
            }
        }
    }

    fn crash(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.state.take().is_none() {
            return;
        }
        self.stats.crashes += 1;
        for (_, s) in std::mem::take(&mut slot.timers) {
            self.queue.cancel(s);
        }
    }

    fn restart(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.state.is_some() {
            return;
        }
        self.stats.restarts += 1;
        slot.state = Some(self.initial[node.index()].clone());
        self.handle(node, 0, |n, ctx| n.on_recover(ctx));
    }

    /// Runs one handler on `node` (if it is up) and carries out its commands.
    fn handle(&mut self, node: NodeId, depth: u32, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let mut commands = std::mem::take(&mut self.commands);
        let slot = &mut self.nodes[node.index()];
        let Some(state) = slot.state.as_mut() else {
            self.commands = commands;
            return;
        };
        let writes = {
            let local = slot.clock.local(self.now_us);
            let mut ctx = Ctx::new(local, node, &mut slot.durable, &mut slot.rng, &mut commands)
                .with_wall_us(crate::faults::wall_us(local, slot.wall_offset_us));
            f(state, &mut ctx);
            ctx.durable_writes()
        };
        if writes > 0 {
            self.stats.durable_writes += u64::from(writes);
            self.observer.persisted(node, writes);
            if let Some(t) = self.trace.as_mut() {
                t.record_span(
                    self.now_us,
                    self.spans.get(self.current_span),
                    TraceEvent::Persist { node, writes },
                );
            }
        }
        for command in commands.drain(..) {
            match command {
                Command::Send { to, msg } => self.send(node, to, msg, depth + 1),
                Command::SetTimer { timer, after_us } => {
                    let slot = &mut self.nodes[node.index()];
                    let at = slot.clock.fire_at(self.now_us, after_us);
                    let s = self.queue.push_timer(
                        at,
                        after_us,
                        Event::Timer {
                            node,
                            timer: timer.clone(),
                            depth,
                            span: self.current_span,
                        },
                    );
                    if let Some(old) = slot.timers.insert(timer, s) {
                        self.queue.cancel(old);
                    }
                }
                Command::CancelTimer { timer } => {
                    if let Some(s) = self.nodes[node.index()].timers.remove(&timer) {
                        self.queue.cancel(s);
                    }
                }
                Command::Observe(obs) => {
                    if let Some(t) = self.trace.as_mut() {
                        t.record_span(
                            self.now_us,
                            self.spans.get(self.current_span),
                            TraceEvent::Observe { node, obs: &obs },
                        );
                    }
                    self.observer.observe(self.now_us, node, depth, &obs);
                }
            }
        }
        self.commands = commands;
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg, depth: u32) {
        assert!(
            to.index() < self.nodes.len(),
            "node {} sent to unknown node {}",
            from.0,
            to.0
        );
        self.stats.sends += 1;
        self.observer.message_sent(from, to);
        let fate = self.network.route(from, to, self.now_us);
        let mut span = 0;
        if let Some(t) = self.trace.as_mut() {
            let opened = self.spans.open(self.current_span, N::msg_txn(&msg));
            span = opened.span;
            t.record_span(
                self.now_us,
                opened,
                TraceEvent::Send {
                    from,
                    to,
                    msg: &msg,
                    fate,
                },
            );
        }
        match fate {
            Fate::Dropped(reason) => match reason {
                DropReason::Loss => self.stats.dropped_loss += 1,
                _ => self.stats.dropped_partition += 1,
            },
            Fate::Delivered {
                delay_us,
                duplicate_delay_us,
            } => {
                if let Some(d) = duplicate_delay_us {
                    self.stats.duplicated += 1;
                    self.queue.push(
                        self.now_us + d,
                        Event::Deliver {
                            from,
                            to,
                            msg: msg.clone(),
                            depth,
                            span,
                        },
                    );
                }
                self.queue.push(
                    self.now_us + delay_us,
                    Event::Deliver {
                        from,
                        to,
                        msg,
                        depth,
                        span,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{ClockStep, CrashWindow};
    use crate::network::Latency;

    /// Reads both clocks every 100 ms of its own timers, until 500 ms.
    #[derive(Clone, Debug, Hash)]
    struct Reader;

    impl Node for Reader {
        type Msg = ();
        type Timer = u8;
        type Durable = ();
        fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
            ctx.set_timer(0, 100_000);
        }
        fn on_message(&mut self, _: NodeId, _: (), _: &mut Ctx<'_, Self>) {}
        fn on_timer(&mut self, _: u8, ctx: &mut Ctx<'_, Self>) {
            let (txn, value) = (ctx.now_us(), ctx.wall_us() as i64);
            ctx.observe(Observation::Fact {
                txn,
                name: "wall",
                value,
            });
            if ctx.now_us() < 500_000 {
                ctx.set_timer(0, 100_000);
            }
        }
    }

    /// (monotonic, wall) readings.
    #[derive(Default)]
    struct Readings(Vec<(u64, i64)>);

    impl Observer for Readings {
        fn observe(&mut self, _: u64, _: NodeId, _: u32, obs: &Observation) {
            if let Observation::Fact { txn, value, .. } = *obs {
                self.0.push((txn, value));
            }
        }
    }

    #[test]
    fn a_clock_step_moves_the_wall_clock_not_the_timers_and_survives_a_crash() {
        let faults = FaultPlan {
            crashes: vec![CrashWindow {
                node: NodeId(0),
                at_us: 250_000,
                restart_us: Some(260_000),
            }],
            clock_steps: vec![ClockStep {
                node: NodeId(0),
                at_us: 150_000,
                step_us: -70_000,
            }],
            ..FaultPlan::default()
        };
        let spec = WorldSpec {
            nodes: vec![Reader],
            durables: vec![()],
            node_rngs: vec![crate::rng::stream(1, "node/r")],
            drift_ppm: vec![0],
            network: NetworkConfig {
                latency: Latency::Constant { us: 1000 },
                loss_probability: 0.0,
                duplicate_probability: 0.0,
                reorder_probability: 0.0,
                reorder_delay_max_us: 0,
                message_faults_until_us: None,
                site_of: vec![0],
            },
            network_rng: crate::rng::stream(1, "network"),
            faults,
        };
        let mut sim = Sim::new(spec, Readings::default());
        sim.start();
        sim.run_until(1_000_000, 1000);
        // Timers every 100 ms of the monotonic clock, restarted by the recovery at
        // 260 ms; the wall clock 70 ms behind from 150 ms on, after the crash too.
        assert_eq!(
            sim.observer().0,
            vec![
                (100_000, 100_000),
                (200_000, 130_000),
                (360_000, 290_000),
                (460_000, 390_000),
                (560_000, 490_000)
            ]
        );
    }

    /// The span rules: a span naming its cause's transaction is its child; one naming
    /// another transaction hangs from that transaction's first span (or is its
    /// root); one naming none inherits its cause's trace, or starts a tree of its own.
    #[test]
    fn spans_hang_in_their_transactions_tree() {
        let mut b = SpanBook::default();
        let request = b.open(0, Some(7));
        assert_eq!(
            request,
            SpanRef {
                trace: TraceKey::Txn(7),
                span: 1,
                parent: 0
            }
        );
        let prepare = b.open(request.span, Some(7));
        assert_eq!((prepare.trace, prepare.parent), (TraceKey::Txn(7), 1));
        // A timer set while handling the Prepare: the same trace, under the Prepare.
        let scan = b.open(prepare.span, None);
        assert_eq!((scan.trace, scan.parent), (TraceKey::Txn(7), prepare.span));
        // The scan asks about txn 8, whose request came first: it hangs from it.
        let other = b.open(0, Some(8));
        let inquiry = b.open(scan.span, Some(8));
        assert_eq!(
            (inquiry.trace, inquiry.parent),
            (TraceKey::Txn(8), other.span)
        );
        // ... and about txn 9, never seen: it is txn 9's root.
        let first = b.open(scan.span, Some(9));
        assert_eq!((first.trace, first.parent), (TraceKey::Txn(9), 0));
        // A start-up timer names nothing: a tree of its own, by its root span.
        let tick = b.open(0, None);
        assert_eq!((tick.trace, tick.parent), (TraceKey::Root(tick.span), 0));
        let next = b.open(tick.span, None);
        assert_eq!(
            (next.trace, next.parent),
            (TraceKey::Root(tick.span), tick.span)
        );
        // Looking a span up gives what opening it gave; 0 is no span.
        assert_eq!(b.get(inquiry.span), inquiry);
        assert_eq!(b.get(0), SpanRef::default());
    }
}
