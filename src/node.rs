//! The public `Node` API: what every protocol — built-in or a user's — is written against.
//!
//! A node is a state machine. The engine calls its handlers (start, message, timer,
//! recovery); the handlers do no I/O and read no clock but their own, through the
//! [`Ctx`] (which may drift, if the scenario says so); they act only through the
//! [`Ctx`], which buffers *commands* (send, set/cancel timer, observe) that the caller
//! carries out. The same handler code can therefore be simulated with random faults or
//! explored exhaustively (as stateright's actors are).
//!
//! State is split the way a crash splits it: the node value itself is volatile and is
//! lost on a crash; `Node::Durable` is the node's durable store (its forced log and the
//! data it guards), kept by the engine across crashes and written only through
//! [`Ctx::persist`], which counts one durable write (one forced log append) per call.
//! Both are `Clone + Hash` so an explorer can snapshot and deduplicate states.

pub use crate::ids::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::rng::StreamRng;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;

/// A protocol role's state machine. `Send + Sync` (as plain data is) so that the
/// exhaustive checker can expand states on several threads.
pub trait Node: Clone + Debug + Hash + Send + Sync {
    /// Messages between nodes of this world. `Serialize` gives the trace digest a
    /// fixed encoding of every delivery (see [`crate::engine::digest`]): derive it.
    type Msg: Clone + Debug + Hash + Serialize + Send + Sync;
    /// Timer names. Setting a timer that is already set replaces it.
    type Timer: Clone + Debug + Hash + Ord + Serialize + Send + Sync;
    /// What survives a crash: the forced log and the data the node guards.
    type Durable: Clone + Debug + Hash + Default + Send + Sync;

    /// The transaction `msg` is about, if any: traces, sequence diagrams and stories
    /// group messages by it. Default: none.
    fn msg_txn(_msg: &Self::Msg) -> Option<TxnId> {
        None
    }
    /// Called once at time 0.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    /// A message arrived.
    fn on_message(&mut self, from: NodeId, msg: Self::Msg, ctx: &mut Ctx<'_, Self>);
    /// A timer set earlier fired. Default: nothing (a protocol without timers).
    fn on_timer(&mut self, _timer: Self::Timer, _ctx: &mut Ctx<'_, Self>) {}
    /// Called on a fresh copy of the node (its volatile state as built) after a
    /// restart: rebuild what is needed from `ctx.durable()`. Default: start again as
    /// at time 0 ([`Node::on_start`]), with the durable store kept.
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.on_start(ctx);
    }
    /// Reports what the checkers audit (money held, in-doubt transactions, locks held)
    /// from the node's state, at `now_us` on the node's clock; called at the start and
    /// at the end of a run.
    fn audit(&self, _durable: &Self::Durable, _now_us: u64, _out: &mut Vec<AuditItem>) {}
}

/// What a handler asked for; carried out by the engine (or an explorer) in order.
#[derive(Clone, Debug)]
pub enum Command<N: Node> {
    Send { to: NodeId, msg: N::Msg },
    SetTimer { timer: N::Timer, after_us: u64 },
    CancelTimer { timer: N::Timer },
    Observe(Observation),
}

/// A handler's window on the world.
pub struct Ctx<'a, N: Node> {
    now_us: u64,
    wall_us: u64,
    me: NodeId,
    durable: &'a mut N::Durable,
    rng: &'a mut StreamRng,
    out: &'a mut Vec<Command<N>>,
    durable_writes: u32,
}

impl<'a, N: Node> Ctx<'a, N> {
    /// Built by whoever runs the handlers (the simulator, an explorer, a test).
    pub fn new(
        now_us: u64,
        me: NodeId,
        durable: &'a mut N::Durable,
        rng: &'a mut StreamRng,
        out: &'a mut Vec<Command<N>>,
    ) -> Self {
        Ctx {
            now_us,
            wall_us: now_us,
            me,
            durable,
            rng,
            out,
            durable_writes: 0,
        }
    }

    /// This node's clock now, in µs. It is virtual time unless the scenario gives the
    /// node clock drift; nodes never see any other clock.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The same context, with a wall clock that reads `wall_us` (by default it reads
    /// what [`Ctx::now_us`] does: a world without clock steps).
    pub fn with_wall_us(mut self, wall_us: u64) -> Self {
        self.wall_us = wall_us;
        self
    }

    /// This node's wall clock now, in µs: what a program reads as the time of day
    /// (`CLOCK_REALTIME`). It runs with the node's drifting clock but also jumps when
    /// the scenario steps it (`faults.clock_steps`, as NTP does), backward or
    /// forward. Timers run on [`Ctx::now_us`]'s clock, which never steps: use this
    /// one only for what needs the time of day (a time-based id, say).
    pub fn wall_us(&self) -> u64 {
        self.wall_us
    }

    /// [`Ctx::wall_us`] in whole milliseconds.
    pub fn wall_ms(&self) -> u64 {
        self.wall_us / 1000
    }

    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.out.push(Command::Send { to, msg });
    }

    /// Sets (or re-sets) `timer` to fire after `after_us` of this node's clock.
    pub fn set_timer(&mut self, timer: N::Timer, after_us: u64) {
        self.out.push(Command::SetTimer { timer, after_us });
    }

    pub fn cancel_timer(&mut self, timer: N::Timer) {
        self.out.push(Command::CancelTimer { timer });
    }

    /// Reports a fact to the checkers. Checkers never answer back.
    pub fn observe(&mut self, obs: Observation) {
        self.out.push(Command::Observe(obs));
    }

    /// Reads the durable store.
    pub fn durable(&self) -> &N::Durable {
        self.durable
    }

    /// Changes the durable store: one forced write, durable once the handler returns.
    pub fn persist<R>(&mut self, f: impl FnOnce(&mut N::Durable) -> R) -> R {
        self.durable_writes += 1;
        f(self.durable)
    }

    /// This node's own random stream (seeded from the run's seed and the node's name).
    pub fn rng(&mut self) -> &mut StreamRng {
        self.rng
    }

    /// Durable writes made through this context so far.
    pub fn durable_writes(&self) -> u32 {
        self.durable_writes
    }
}
