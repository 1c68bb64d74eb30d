//! Client sessions: they issue the workload's requests to a coordinator and measure
//! the answers (availability, latency). A closed loop runs `sessions` concurrent
//! sessions, each issuing its next request after an answer (or its deadline) plus a
//! think time; an open loop issues requests as a Poisson stream at a rate.
//!
//! The client is an ordinary node: it can crash and partition like any other. It
//! allocates transaction ids in durable blocks so a restart never reuses one.

use super::{Generator, TxnRequest};
use crate::idmap::IdMap;
use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::observe::Observation;
use crate::rng;

/// How requests are issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Load {
    Closed {
        sessions: u32,
        think_us: u64,
    },
    /// Poisson arrivals with this mean gap.
    Open {
        mean_gap_us: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientConfig {
    pub coordinator: NodeId,
    pub load: Load,
    /// The client gives up on a request after this long without an answer.
    pub deadline_us: u64,
    /// No request is issued at or after this time (the scenario's horizon).
    pub stop_at_us: u64,
    pub max_requests: Option<u64>,
    /// The workload's request generator (transfer, order + inventory, flash sale).
    pub generator: Generator,
    /// Nodes that share the requests instead of `coordinator`: request `txn` goes to
    /// `spread[txn % len]` (empty: every request to `coordinator`). A pool of
    /// stateless servers behind a round-robin balancer.
    pub spread: Vec<NodeId>,
}

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ClientTimer {
    Think(u32),
    /// Armed at the earliest deadline among outstanding requests. Every request has
    /// the same deadline and requests are issued in time order, so one timer gives
    /// each request its exact deadline without a timer per request.
    Deadlines,
    Arrival,
}

/// How a protocol's world carries client requests and timers.
pub trait ClientWorld: Node {
    fn request_msg(req: TxnRequest) -> Self::Msg;
    fn client_timer(t: ClientTimer) -> Self::Timer;
    /// The client's durable part: the transaction-id high-water mark.
    fn watermark(d: &Self::Durable) -> u64;
    fn set_watermark(d: &mut Self::Durable, to: u64);
}

/// What a coordinator tells the client about one of its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A definite answer.
    Outcome { txn: TxnId, outcome: Outcome },
    /// "Cannot tell; use ids from `floor`" (see [`crate::workload::admission`]).
    Stale { txn: TxnId, floor: TxnId },
}

/// A world whose client reads its answers out of the world's messages, so that
/// [`Client::on_message`] can take them.
pub trait HearsAnswers: ClientWorld {
    /// The answer `msg` carries, if it is one.
    fn answer(msg: Self::Msg) -> Option<Answer>;
}

const ID_BLOCK: u64 = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pending {
    issued_us: u64,
    session: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Client {
    cfg: ClientConfig,
    next_txn: TxnId,
    /// Ids below this are reserved durably.
    reserved_to: TxnId,
    issued: u64,
    outstanding: IdMap<Pending>,
    deadlines_armed: bool,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Self {
        Client {
            cfg,
            next_txn: 0,
            reserved_to: 0,
            issued: 0,
            outstanding: IdMap::new(),
            deadlines_armed: false,
        }
    }

    pub fn on_start<N: ClientWorld>(&mut self, ctx: &mut Ctx<'_, N>) {
        match self.cfg.load {
            Load::Closed { sessions, .. } => {
                for s in 0..sessions {
                    self.issue(Some(s), ctx);
                }
            }
            Load::Open { .. } => self.schedule_arrival(ctx),
        }
    }

    /// After a restart: continue above the durable watermark; sessions start afresh.
    pub fn on_recover<N: ClientWorld>(&mut self, ctx: &mut Ctx<'_, N>) {
        let mark = N::watermark(ctx.durable());
        self.next_txn = mark;
        self.reserved_to = mark;
        self.on_start(ctx);
    }

    /// Does the client still wait for the answer to `txn` (issued, not answered,
    /// deadline not passed)?
    pub fn awaits(&self, txn: TxnId) -> bool {
        self.outstanding.contains_key(&txn)
    }

    /// A message to the client: it takes answers and ignores anything else.
    pub fn on_message<N: HearsAnswers>(&mut self, msg: N::Msg, ctx: &mut Ctx<'_, N>) {
        match N::answer(msg) {
            Some(Answer::Outcome { txn, outcome }) => self.on_reply(txn, outcome, ctx),
            Some(Answer::Stale { txn, floor }) => self.on_stale(txn, floor, ctx),
            None => {}
        }
    }

    pub fn on_reply<N: ClientWorld>(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut Ctx<'_, N>) {
        let Some(p) = self.outstanding.remove(&txn) else {
            return; // a late or duplicate answer: the client already moved on
        };
        ctx.observe(Observation::Answered {
            txn,
            outcome,
            latency_us: ctx.now_us() - p.issued_us,
        });
        self.next_in_session(p.session, ctx);
        if self.outstanding.is_empty() && self.deadlines_armed {
            // Nothing to time out: do not leave a timer behind.
            ctx.cancel_timer(N::client_timer(ClientTimer::Deadlines));
            self.deadlines_armed = false;
        }
    }

    /// The coordinator cannot tell whether it began `txn` (it restarted since, and
    /// the request may be a copy of one from before): no definite answer will come.
    /// Ids from `floor` on are new to it, so the client moves its ids there.
    pub fn on_stale<N: ClientWorld>(&mut self, txn: TxnId, floor: TxnId, ctx: &mut Ctx<'_, N>) {
        if floor > self.next_txn {
            self.next_txn = floor;
        }
        let Some(p) = self.outstanding.remove(&txn) else {
            return; // it had its answer, or its deadline passed
        };
        ctx.observe(Observation::Refused { txn });
        self.next_in_session(p.session, ctx);
        if self.outstanding.is_empty() && self.deadlines_armed {
            ctx.cancel_timer(N::client_timer(ClientTimer::Deadlines));
            self.deadlines_armed = false;
        }
    }

    pub fn on_timer<N: ClientWorld>(&mut self, timer: ClientTimer, ctx: &mut Ctx<'_, N>) {
        match timer {
            ClientTimer::Think(s) => self.issue(Some(s), ctx),
            ClientTimer::Deadlines => {
                self.deadlines_armed = false;
                let now = ctx.now_us();
                let expired: Vec<TxnId> = self
                    .outstanding
                    .iter()
                    .take_while(|(_, p)| p.issued_us + self.cfg.deadline_us <= now)
                    .map(|(t, _)| t)
                    .collect();
                for txn in expired {
                    if let Some(p) = self.outstanding.remove(&txn) {
                        self.next_in_session(p.session, ctx);
                    }
                }
                self.arm_deadlines(ctx);
            }
            ClientTimer::Arrival => {
                self.issue(None, ctx);
                self.schedule_arrival(ctx);
            }
        }
    }

    fn next_in_session<N: ClientWorld>(&mut self, session: Option<u32>, ctx: &mut Ctx<'_, N>) {
        if let (Some(s), Load::Closed { think_us, .. }) = (session, self.cfg.load) {
            if think_us == 0 {
                self.issue(Some(s), ctx);
            } else {
                ctx.set_timer(N::client_timer(ClientTimer::Think(s)), think_us);
            }
        }
    }

    fn schedule_arrival<N: ClientWorld>(&mut self, ctx: &mut Ctx<'_, N>) {
        if let Load::Open { mean_gap_us } = self.cfg.load {
            let gap = rng::exponential_us(ctx.rng(), mean_gap_us as f64).max(1);
            if ctx.now_us() + gap < self.cfg.stop_at_us {
                ctx.set_timer(N::client_timer(ClientTimer::Arrival), gap);
            }
        }
    }

    fn issue<N: ClientWorld>(&mut self, session: Option<u32>, ctx: &mut Ctx<'_, N>) {
        if ctx.now_us() >= self.cfg.stop_at_us
            || self.cfg.max_requests.is_some_and(|m| self.issued >= m)
        {
            return;
        }
        if self.next_txn >= self.reserved_to {
            let to = self.next_txn + ID_BLOCK;
            ctx.persist(|d| N::set_watermark(d, to));
            self.reserved_to = to;
        }
        let txn = self.next_txn;
        self.next_txn += 1;
        self.issued += 1;
        let ops = self.cfg.generator.generate(txn, session, ctx.rng());
        ctx.observe(Observation::Requested { txn });
        let to = match self.cfg.spread.len() as u64 {
            0 => self.cfg.coordinator,
            n => self.cfg.spread[(txn % n) as usize],
        };
        ctx.send(to, N::request_msg(TxnRequest { txn, ops }));
        self.outstanding.insert(
            txn,
            Pending {
                issued_us: ctx.now_us(),
                session,
            },
        );
        self.arm_deadlines(ctx);
    }

    /// Outstanding requests are in id order, which is issue order: the first one has
    /// the earliest deadline.
    fn arm_deadlines<N: ClientWorld>(&mut self, ctx: &mut Ctx<'_, N>) {
        if self.deadlines_armed {
            return;
        }
        if let Some((_, p)) = self.outstanding.iter().next() {
            let at = p.issued_us + self.cfg.deadline_us;
            ctx.set_timer(
                N::client_timer(ClientTimer::Deadlines),
                at.saturating_sub(ctx.now_us()),
            );
            self.deadlines_armed = true;
        }
    }
}
