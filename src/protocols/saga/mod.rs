//! A saga with persisted soft state (BASE), after Garcia-Molina & Salem, "Sagas"
//! (SIGMOD 1987), and the orchestration style of saga frameworks (Seata's saga mode,
//! Eventuate Tram): no global lock, a sequence of local transactions, each with a
//! compensating one.
//!
//! The transfer runs in stages — prepared, debited A, credited B, finished — driven by
//! an orchestrator at `tm`. Each step is one local transaction on one participant
//! (`rm1..rmN`): the balance change and the participant's step record are written
//! together, durably, in one write, as a status column updated under the row lock
//! with the business change would be. Participants are idempotent per (txn, step):
//! a step or compensation they have done is answered from its record, never applied
//! twice; a compensation for a step never done leaves a tombstone so the late step is
//! refused (the "anti-hanging" guard). A refused step (insufficient funds) makes the
//! orchestrator compensate the steps already done, in reverse order.
//!
//! Between debit and credit the money is *in flight*: a reader summing the balances
//! sees it missing. That is BASE's transient anomaly, reported with
//! [`Observation::AnomalyBegan`] / [`Observation::AnomalyEnded`].
//!
//! Where the orchestrator keeps the saga's state (`StateStore`):
//! - `StatusField`: a transfer row in the orchestrator's own store holds the plan and
//!   a status (prepared → finished); the progress in between lives only in the
//!   participants' status columns, written with the business change. Cheapest in
//!   writes (k + 2 per saga of k steps); after a crash the orchestrator does not know
//!   how far a saga got and re-drives it from the start (participants answer done
//!   steps from their records) or compensates every step.
//! - `WriteAheadLog`: the orchestrator logs each step's intent before sending it and
//!   its completion after (3k + 2 writes); after a crash it resumes exactly where it
//!   stopped.
//!
//! After a crash (or a step that stays unanswered after its retries), a **recovery
//! job** running every `scan_interval` finds unfinished sagas and drives them forward
//! or compensates them backwards (`Policy`). Switched off, such sagas stay half-done:
//! money in flight forever.

pub mod build;

use super::watermark::{self, Unfinished};
use crate::idmap::{IdMap, RecentIds};
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation, RepairClass};
use crate::store::{KeyDelta, Ledger, ShardOps};
use crate::workload::{is_new_request, Client, ClientTimer, TxnRequest};
use std::collections::BTreeMap;

/// Where the orchestrator keeps a saga's soft state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateStore {
    /// A status column in the business stores, written with the business change.
    StatusField,
    /// The orchestrator's own write-ahead log: intent before each step, done after.
    WriteAheadLog,
}

/// What the recovery job does with an unfinished saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Retry the remaining steps (a refused step still turns it backwards).
    Forward,
    /// Compensate every step that may have been done.
    Backward,
}

/// Options of the saga (all times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SagaOptions {
    pub state_store: StateStore,
    pub policy: Policy,
    /// Run the recovery job (off: unfinished sagas stay unfinished).
    pub recovery: bool,
    pub scan_interval_us: u64,
    /// A step (or compensation) unanswered for this long is sent again...
    pub step_timeout_us: u64,
    /// ...up to this many times; then the saga is left to the recovery job.
    pub step_retries: u32,
    /// The recovery job gives up on a saga after this many attempts and flags it for
    /// an operator (`None`: never gives up).
    pub give_up_after_attempts: Option<u32>,
    /// How far the front trails the newest saga begun (see [`watermark::front`]).
    pub watermark_lag_ids: u64,
}

/// What a step does to the money a reader sees in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Visibility {
    None,
    /// Applying it takes money out before it arrives elsewhere (the debit).
    Opens,
    /// Applying it lands the last of the money (the last credit).
    Closes,
}

impl Visibility {
    /// The effect of undoing a step with this effect.
    fn inverse(self) -> Visibility {
        match self {
            Visibility::None => Visibility::None,
            Visibility::Opens => Visibility::Closes,
            Visibility::Closes => Visibility::Opens,
        }
    }
}

/// One step of a saga: a local transaction on one participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    pub rm: NodeId,
    pub ops: ShardOps,
    pub visibility: Visibility,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → orchestrator.
    Request(TxnRequest),
    /// Orchestrator → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// Orchestrator → participant: do step `step`. `finished_below`, here and on
    /// Undo: the participant's watermark — every saga below it is finished for this
    /// participant (see [`super::watermark`]).
    Do {
        txn: TxnId,
        step: u32,
        ops: ShardOps,
        visibility: Visibility,
        finished_below: TxnId,
    },
    /// Participant → orchestrator: step done (`ok`) or refused.
    Done { txn: TxnId, step: u32, ok: bool },
    /// Orchestrator → participant: undo step `step` (or make sure it never happens).
    Undo {
        txn: TxnId,
        step: u32,
        ops: ShardOps,
        visibility: Visibility,
        finished_below: TxnId,
    },
    /// Participant → orchestrator: step undone (or never done and now never will be).
    Undone { txn: TxnId, step: u32 },
    /// Orchestrator → client: a request too old for its memory to tell whether it ran
    /// (see [`crate::workload::admission`]); use ids from `floor`.
    Stale { txn: TxnId, floor: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::Do { txn, .. } => Some(*txn),
            Msg::Done { txn, .. } => Some(*txn),
            Msg::Undo { txn, .. } => Some(*txn),
            Msg::Undone { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// Orchestrator: resend steps unanswered for a step timeout.
    StepRetry,
    /// Orchestrator: the recovery job.
    RecoveryScan,
}

/// A participant's record of one step of one saga (its status column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepRecord {
    Done,
    Refused,
    Undone,
    /// Undo arrived before the step (or the step was never done): a late step is
    /// refused.
    Tombstone,
}

/// Which way a saga is going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// The write-ahead log's view of a saga's progress (`WriteAheadLog` only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Logged {
    pub direction: Direction,
    /// Forward: steps confirmed done. Backward: the step being undone is `pos`.
    pub pos: u32,
    /// An intent for step `pos` was logged and its completion was not.
    pub intent: bool,
}

/// The orchestrator's durable record of an unfinished saga.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SagaRecord {
    pub steps: Vec<Step>,
    pub client: NodeId,
    pub began_us: u64,
    pub logged: Logged,
    /// Flagged for an operator: the recovery job gave up on it.
    pub flagged: bool,
}

/// Everything any saga node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Orchestrator: unfinished sagas.
    pub sagas: IdMap<SagaRecord>,
    /// Orchestrator: finished sagas (a bounded window), so a duplicated request is
    /// not run again.
    pub finished: RecentIds,
    /// Orchestrator: one past the newest saga id begun (the watermark's front lags
    /// it; logged with each saga's record, so it never moves back).
    pub begun_to: TxnId,
    /// Participant: balances.
    pub ledger: Ledger,
    /// Participant: step records by (txn, step), kept until the saga is finished and
    /// below the watermark.
    pub steps: BTreeMap<(TxnId, u32), StepRecord>,
    /// Participant: the highest watermark heard: every saga below it is finished
    /// here, and its step records are gone.
    pub finished_below: TxnId,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

/// A saga the orchestrator is driving right now (volatile).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Running {
    direction: Direction,
    /// The step awaited (done forward, or undone backward).
    pos: u32,
    sent_at_us: u64,
    retries: u32,
    /// Picked up by the recovery job: finishing it is an automatic repair.
    by_recovery: bool,
}

/// The orchestrator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orchestrator {
    rms: Vec<NodeId>,
    opts: SagaOptions,
    running: IdMap<Running>,
    /// Recovery attempts per unfinished saga.
    attempts: BTreeMap<TxnId, u32>,
    /// Per participant, the sagas not finished (their watermarks); rebuilt from the
    /// log at recovery.
    unfinished: Unfinished,
    retry_armed: bool,
}

/// A participant: one shard of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Participant;

/// Every role of a saga world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SagaNode {
    Client(Client),
    Orchestrator(Orchestrator),
    Participant(Participant),
}

impl SagaNode {
    pub fn orchestrator(rms: Vec<NodeId>, opts: SagaOptions) -> Self {
        SagaNode::Orchestrator(Orchestrator {
            rms,
            opts,
            running: IdMap::new(),
            attempts: BTreeMap::new(),
            unfinished: Unfinished::default(),
            retry_armed: false,
        })
    }

    pub fn participant() -> Self {
        SagaNode::Participant(Participant)
    }

    /// The durable store a participant starts with.
    pub fn participant_durable(ledger: Ledger) -> Durable {
        Durable {
            ledger,
            ..Durable::default()
        }
    }
}

/// The steps of a transfer: debits first, then credits, one per shard. The first step
/// of a multi-step saga opens the money-in-flight window, the last closes it.
pub fn plan(req: &TxnRequest, rms: &[NodeId]) -> Vec<Step> {
    let mut shards = req.by_shard();
    let sum = |o: &ShardOps| o.as_slice().iter().map(|d| d.delta).sum::<i64>();
    shards.sort_by_key(|(s, o)| (sum(o), *s));
    let n = shards.len();
    shards
        .into_iter()
        .enumerate()
        .map(|(i, (shard, ops))| Step {
            rm: rms[shard as usize],
            ops,
            visibility: match (n, i) {
                (1, _) => Visibility::None,
                (_, 0) => Visibility::Opens,
                (_, i) if i + 1 == n => Visibility::Closes,
                _ => Visibility::None,
            },
        })
        .collect()
}

fn inverse(ops: &ShardOps) -> ShardOps {
    let mut out = ShardOps::default();
    for o in ops.as_slice() {
        out.push(KeyDelta {
            key: o.key,
            delta: -o.delta,
        });
    }
    out
}

type C<'a> = Ctx<'a, SagaNode>;

// The client (see [`super::coordinated`]).
client_world! { node: SagaNode, msg: Msg, timer: Timer, durable: Durable }

impl Node for SagaNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        match self {
            SagaNode::Client(c) => c.on_start(ctx),
            SagaNode::Orchestrator(o) => o.arm_scan(ctx),
            SagaNode::Participant(_) => {}
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            SagaNode::Client(c) => c.on_message(msg, ctx),
            SagaNode::Orchestrator(o) => o.on_message(from, msg, ctx),
            SagaNode::Participant(p) => p.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (SagaNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (SagaNode::Orchestrator(o), Timer::StepRetry) => o.retry(ctx),
            (SagaNode::Orchestrator(o), Timer::RecoveryScan) => o.scan(ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            SagaNode::Client(c) => c.on_recover(ctx),
            // Nothing is resumed here: picking up unfinished sagas is the recovery
            // job's work, so switching it off shows what it fixes.
            SagaNode::Orchestrator(o) => {
                o.rebuild_unfinished(ctx);
                o.arm_scan(ctx);
            }
            SagaNode::Participant(_) => {}
        }
    }

    fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        match self {
            SagaNode::Participant(_) => out.push(AuditItem::Money {
                amount: d.ledger.total(),
            }),
            SagaNode::Orchestrator(_) => {
                for (txn, rec) in d.sagas.iter() {
                    out.push(AuditItem::Unfinished {
                        txn,
                        for_us: now_us.saturating_sub(rec.began_us),
                    });
                }
            }
            SagaNode::Client(_) => {}
        }
    }
}

impl Orchestrator {
    fn wal(&self) -> bool {
        self.opts.state_store == StateStore::WriteAheadLog
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Request(req) => self.begin(from, req, ctx),
            Msg::Done { txn, step, ok } => {
                let matches = self.running.get(&txn).is_some_and(|r| {
                    r.direction == Direction::Forward
                        && r.pos == step
                        && ctx.durable().sagas.contains_key(&txn)
                });
                if !matches {
                    return; // late or duplicate answer
                }
                if ok {
                    self.step_done(txn, step, ctx);
                } else {
                    self.turn_back(txn, step, ctx);
                }
            }
            Msg::Undone { txn, step } => {
                let matches = self.running.get(&txn).is_some_and(|r| {
                    r.direction == Direction::Backward
                        && r.pos == step
                        && ctx.durable().sagas.contains_key(&txn)
                });
                if matches {
                    self.step_undone(txn, step, ctx);
                }
            }
            _ => {}
        }
    }

    fn begin(&mut self, client: NodeId, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        let d = ctx.durable();
        if d.sagas.contains_key(&txn) {
            return; // a duplicated request, under way
        }
        let recall = d.finished.recall(txn);
        if !is_new_request(recall, txn, client, ctx) {
            return; // a copy, or too old to tell
        }
        // Nothing begins below the front: a watermark already sent may have passed
        // this id (it fell more than `watermark_lag_ids` behind the newest saga begun).
        let front = self.front(ctx);
        if txn < front {
            ctx.send(client, Msg::Stale { txn, floor: front });
            return;
        }
        let steps = plan(&req, &self.rms);
        let participants: NodeSet = steps.iter().map(|s| s.rm).collect();
        let began_us = ctx.now_us();
        // Stage "prepared": the saga's record is durable before its first step.
        ctx.persist(|d| {
            d.begun_to = d.begun_to.max(txn.saturating_add(1));
            d.sagas.insert(
                txn,
                SagaRecord {
                    steps,
                    client,
                    began_us,
                    logged: Logged::default(),
                    flagged: false,
                },
            )
        });
        ctx.observe(Observation::TxnBegun { txn, participants });
        self.unfinished.begin(txn, participants.iter());
        self.start(txn, Direction::Forward, 0, false, ctx);
    }

    /// Starts (or resumes) driving `txn` from step `pos` in `direction`.
    fn start(
        &mut self,
        txn: TxnId,
        direction: Direction,
        pos: u32,
        by_recovery: bool,
        ctx: &mut C<'_>,
    ) {
        self.running.insert(
            txn,
            Running {
                direction,
                pos,
                sent_at_us: ctx.now_us(),
                retries: 0,
                by_recovery,
            },
        );
        self.send_current(txn, true, ctx);
        self.arm_retry(ctx);
    }

    /// Sends the awaited step (or undo) of `txn`; `log_intent`: write-ahead first.
    fn send_current(&mut self, txn: TxnId, log_intent: bool, ctx: &mut C<'_>) {
        let Some(r) = self.running.get(&txn).cloned() else {
            return;
        };
        let Some(rec) = ctx.durable().sagas.get(&txn) else {
            return;
        };
        let step = rec.steps[r.pos as usize];
        let logged = rec.logged;
        let want = Logged {
            direction: r.direction,
            pos: r.pos,
            intent: true,
        };
        if log_intent && self.wal() && logged != want {
            ctx.persist(|d| {
                if let Some(rec) = d.sagas.get_mut(&txn) {
                    rec.logged = want;
                }
            });
        }
        let finished_below = self.unfinished.below(step.rm, self.front(ctx));
        let msg = match r.direction {
            Direction::Forward => Msg::Do {
                txn,
                step: r.pos,
                ops: step.ops,
                visibility: step.visibility,
                finished_below,
            },
            Direction::Backward => Msg::Undo {
                txn,
                step: r.pos,
                ops: step.ops,
                visibility: step.visibility,
                finished_below,
            },
        };
        ctx.send(step.rm, msg);
    }

    /// Nothing is begun below this any more (see [`watermark::front`]).
    fn front(&self, ctx: &C<'_>) -> TxnId {
        watermark::front(ctx.durable().begun_to, 0, self.opts.watermark_lag_ids)
    }

    /// After a restart: every logged saga is unfinished for its participants (the
    /// log is exact: a saga leaves it only when it reaches its end).
    fn rebuild_unfinished(&mut self, ctx: &C<'_>) {
        self.unfinished.clear();
        for (txn, rec) in ctx.durable().sagas.iter() {
            self.unfinished.begin(txn, rec.steps.iter().map(|s| s.rm));
        }
    }

    fn log(&self, txn: TxnId, logged: Logged, ctx: &mut C<'_>) {
        if self.wal() {
            ctx.persist(|d| {
                if let Some(rec) = d.sagas.get_mut(&txn) {
                    rec.logged = logged;
                }
            });
        }
    }

    fn step_done(&mut self, txn: TxnId, step: u32, ctx: &mut C<'_>) {
        let n = ctx
            .durable()
            .sagas
            .get(&txn)
            .map_or(0, |r| r.steps.len() as u32);
        // Stage "step done" (debited A, credited B): logged before the next step.
        self.log(
            txn,
            Logged {
                direction: Direction::Forward,
                pos: step + 1,
                intent: false,
            },
            ctx,
        );
        if step + 1 >= n {
            self.finish(txn, Outcome::Commit, ctx);
            return;
        }
        self.advance(txn, Direction::Forward, step + 1, ctx);
    }

    /// A refused step: undo the steps before it, last first.
    fn turn_back(&mut self, txn: TxnId, step: u32, ctx: &mut C<'_>) {
        self.log(
            txn,
            Logged {
                direction: Direction::Backward,
                pos: step,
                intent: false,
            },
            ctx,
        );
        if step == 0 {
            self.finish(txn, Outcome::Abort, ctx);
        } else {
            self.advance(txn, Direction::Backward, step - 1, ctx);
        }
    }

    fn step_undone(&mut self, txn: TxnId, step: u32, ctx: &mut C<'_>) {
        self.log(
            txn,
            Logged {
                direction: Direction::Backward,
                pos: step,
                intent: false,
            },
            ctx,
        );
        if step == 0 {
            self.finish(txn, Outcome::Abort, ctx);
        } else {
            self.advance(txn, Direction::Backward, step - 1, ctx);
        }
    }

    fn advance(&mut self, txn: TxnId, direction: Direction, pos: u32, ctx: &mut C<'_>) {
        if let Some(r) = self.running.get_mut(&txn) {
            r.direction = direction;
            r.pos = pos;
            r.sent_at_us = ctx.now_us();
            r.retries = 0;
        }
        self.send_current(txn, true, ctx);
    }

    /// Stage "finished": the saga reached a consistent end.
    fn finish(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        let by_recovery = self.running.remove(&txn).is_some_and(|r| r.by_recovery);
        self.close(txn, outcome, by_recovery, ctx);
    }

    fn close(&mut self, txn: TxnId, outcome: Outcome, by_recovery: bool, ctx: &mut C<'_>) {
        self.attempts.remove(&txn);
        let rec = ctx.persist(|d| {
            d.finished.insert(txn);
            d.sagas.remove(&txn)
        });
        let Some(rec) = rec else {
            return;
        };
        // Finished for every participant: their watermarks may pass it.
        for s in &rec.steps {
            self.unfinished.finish(txn, s.rm);
        }
        ctx.observe(Observation::Decided { txn, outcome });
        ctx.observe(Observation::Consistent {
            txn,
            age_us: ctx.now_us().saturating_sub(rec.began_us),
        });
        if by_recovery {
            ctx.observe(Observation::Repair {
                txn,
                class: RepairClass::Automatic,
            });
        }
        ctx.observe(Observation::Finished { txn });
        ctx.send(rec.client, Msg::Reply { txn, outcome });
    }

    fn arm_retry(&mut self, ctx: &mut C<'_>) {
        if !self.retry_armed && !self.running.is_empty() {
            self.retry_armed = true;
            ctx.set_timer(Timer::StepRetry, self.opts.step_timeout_us);
        }
    }

    /// Resends steps unanswered for a step timeout; a saga out of retries is left to
    /// the recovery job (or, without one, stays where it is).
    fn retry(&mut self, ctx: &mut C<'_>) {
        self.retry_armed = false;
        let now = ctx.now_us();
        let timeout = self.opts.step_timeout_us;
        let due: Vec<TxnId> = self
            .running
            .iter()
            .filter(|(_, r)| now >= r.sent_at_us + timeout)
            .map(|(t, _)| t)
            .collect();
        for txn in due {
            let Some(r) = self.running.get_mut(&txn) else {
                continue;
            };
            if r.retries >= self.opts.step_retries {
                self.running.remove(&txn);
                continue;
            }
            r.retries += 1;
            r.sent_at_us = now;
            self.send_current(txn, false, ctx);
        }
        self.arm_retry(ctx);
    }

    fn arm_scan(&mut self, ctx: &mut C<'_>) {
        if self.opts.recovery {
            ctx.set_timer(Timer::RecoveryScan, self.opts.scan_interval_us);
        }
    }

    /// The recovery job: every unfinished saga nobody is driving is driven to an end
    /// by the policy, or, after too many attempts, flagged for an operator.
    fn scan(&mut self, ctx: &mut C<'_>) {
        self.arm_scan(ctx);
        let stalled: Vec<(TxnId, SagaRecord)> = ctx
            .durable()
            .sagas
            .iter()
            .filter(|(t, r)| !r.flagged && !self.running.contains_key(t))
            .map(|(t, r)| (t, r.clone()))
            .collect();
        for (txn, rec) in stalled {
            let attempts = self.attempts.entry(txn).or_insert(0);
            *attempts += 1;
            if self
                .opts
                .give_up_after_attempts
                .is_some_and(|max| *attempts > max)
            {
                ctx.persist(|d| {
                    if let Some(r) = d.sagas.get_mut(&txn) {
                        r.flagged = true;
                    }
                });
                ctx.observe(Observation::Repair {
                    txn,
                    class: RepairClass::Operator,
                });
                continue;
            }
            let n = rec.steps.len() as u32;
            match self.resume_point(&rec, n) {
                (direction, Some(pos)) => self.start(txn, direction, pos, true, ctx),
                (Direction::Forward, None) => self.close(txn, Outcome::Commit, true, ctx),
                (Direction::Backward, None) => self.close(txn, Outcome::Abort, true, ctx),
            }
        }
    }

    /// Where to pick up an unfinished saga: the step to send next, or `None` when
    /// nothing is left to send in that direction.
    fn resume_point(&self, rec: &SagaRecord, n: u32) -> (Direction, Option<u32>) {
        if !self.wal() {
            // The status lives with the participants: re-drive from the first step
            // (they answer done steps from their records), or undo every step (those
            // never done leave a tombstone).
            return match self.opts.policy {
                Policy::Forward => (Direction::Forward, Some(0)),
                Policy::Backward => (Direction::Backward, Some(n - 1)),
            };
        }
        let l = rec.logged;
        match (l.direction, self.opts.policy) {
            (Direction::Forward, Policy::Forward) => {
                if l.pos >= n {
                    (Direction::Forward, None)
                } else {
                    (Direction::Forward, Some(l.pos))
                }
            }
            (Direction::Forward, Policy::Backward) => {
                // Steps below `pos` are done; step `pos` may be, if its intent was logged.
                let maybe_done = if l.intent { l.pos + 1 } else { l.pos }.min(n);
                match maybe_done.checked_sub(1) {
                    Some(last) => (Direction::Backward, Some(last)),
                    None => (Direction::Backward, None),
                }
            }
            (Direction::Backward, _) => {
                // Undoing step `pos`: with its intent logged it is still to confirm;
                // without, it is confirmed (or it is the refused step) and the next
                // one down is due.
                if l.intent {
                    (Direction::Backward, Some(l.pos))
                } else {
                    match l.pos.checked_sub(1) {
                        Some(p) => (Direction::Backward, Some(p)),
                        None => (Direction::Backward, None),
                    }
                }
            }
        }
    }
}

impl Participant {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Do {
                txn,
                step,
                ops,
                visibility,
                finished_below,
            } => {
                let w = ctx.durable().finished_below.max(finished_below);
                let ok = match ctx.durable().steps.get(&(txn, step)) {
                    Some(StepRecord::Done) => true,
                    Some(_) => false,
                    // Below the watermark without a record: the saga is finished
                    // (its records purged), and a late copy of a step must not run.
                    None if txn < w => false,
                    None => {
                        // One local transaction: the balance and the step's status
                        // column change together, in one durable write.
                        let ok = ctx.durable().ledger.can_apply(&ops);
                        write(w, ctx, |d| {
                            if ok {
                                d.ledger.apply(&ops);
                            }
                            let rec = if ok {
                                StepRecord::Done
                            } else {
                                StepRecord::Refused
                            };
                            d.steps.insert((txn, step), rec);
                        });
                        if ok {
                            ctx.observe(Observation::applied_at_once(txn, Outcome::Commit, 0));
                            visible(txn, visibility, ctx);
                        }
                        ok
                    }
                };
                ctx.send(from, Msg::Done { txn, step, ok });
            }
            Msg::Undo {
                txn,
                step,
                ops,
                visibility,
                finished_below,
            } => {
                let w = ctx.durable().finished_below.max(finished_below);
                match ctx.durable().steps.get(&(txn, step)) {
                    Some(StepRecord::Done) => {
                        write(w, ctx, |d| {
                            d.ledger.apply(&inverse(&ops));
                            d.steps.insert((txn, step), StepRecord::Undone);
                        });
                        ctx.observe(Observation::Compensated { txn });
                        visible(txn, visibility.inverse(), ctx);
                    }
                    // Below the watermark: a copy of a compensation for a finished
                    // saga, done or made unnecessary already.
                    None if txn < w => {}
                    None => {
                        write(w, ctx, |d| {
                            d.steps.insert((txn, step), StepRecord::Tombstone)
                        });
                    }
                    Some(_) => {} // refused, undone or tombstoned already
                }
                ctx.send(from, Msg::Undone { txn, step });
            }
            _ => {}
        }
    }
}

/// A participant's forced write: `f`, and with it the purge of the step records
/// below the watermark `w` (no write of its own).
fn write<R>(w: TxnId, ctx: &mut C<'_>, f: impl FnOnce(&mut Durable) -> R) -> R {
    ctx.persist(|d| {
        let r = f(d);
        if w > d.finished_below {
            d.finished_below = w;
            watermark::purge(&mut d.steps, (w, 0), |_| false);
        }
        r
    })
}

fn visible(txn: TxnId, v: Visibility, ctx: &mut C<'_>) {
    match v {
        Visibility::None => {}
        Visibility::Opens => ctx.observe(Observation::AnomalyBegan { txn }),
        Visibility::Closes => ctx.observe(Observation::AnomalyEnded { txn }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Op;

    fn transfer(ops: &[(u32, u32, i64)]) -> TxnRequest {
        TxnRequest {
            txn: 7,
            ops: ops
                .iter()
                .map(|&(shard, key, delta)| Op { shard, key, delta })
                .collect(),
        }
    }

    #[test]
    fn the_plan_debits_first_and_marks_the_in_flight_window() {
        let rms = [NodeId(1), NodeId(2), NodeId(3)];
        let p = plan(&transfer(&[(2, 0, 5), (0, 1, 5), (1, 3, -10)]), &rms);
        assert_eq!(
            p.iter().map(|s| s.rm).collect::<Vec<_>>(),
            [NodeId(2), NodeId(1), NodeId(3)]
        );
        assert_eq!(
            p.iter().map(|s| s.visibility).collect::<Vec<_>>(),
            [Visibility::Opens, Visibility::None, Visibility::Closes]
        );
        let local = plan(&transfer(&[(1, 0, -5), (1, 1, 5)]), &rms);
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].visibility, Visibility::None);
    }

    /// Delivers `msg` to a participant holding `d`; returns what it sent and observed.
    fn deliver(d: &mut Durable, msg: Msg) -> (Vec<Msg>, Vec<Observation>) {
        let mut node = SagaNode::participant();
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(0, NodeId(1), d, &mut rng, &mut out);
        node.on_message(NodeId(0), msg, &mut ctx);
        let mut sent = Vec::new();
        let mut seen = Vec::new();
        for c in out {
            match c {
                crate::node::Command::Send { msg, .. } => sent.push(msg),
                crate::node::Command::Observe(o) => seen.push(o),
                _ => {}
            }
        }
        (sent, seen)
    }

    fn debit(amount: i64) -> ShardOps {
        let mut o = ShardOps::default();
        o.push(KeyDelta {
            key: 0,
            delta: -amount,
        });
        o
    }

    #[test]
    fn a_participant_applies_a_step_once_and_answers_copies_from_its_record() {
        let mut d = SagaNode::participant_durable(crate::store::Ledger::new(2, 100));
        let step = Msg::Do {
            txn: 3,
            step: 0,
            ops: debit(30),
            visibility: Visibility::Opens,
            finished_below: 0,
        };
        let (sent, seen) = deliver(&mut d, step.clone());
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 3,
                step: 0,
                ok: true
            }]
        );
        assert!(seen.contains(&Observation::AnomalyBegan { txn: 3 }));
        let (sent, seen) = deliver(&mut d, step);
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 3,
                step: 0,
                ok: true
            }]
        );
        assert!(seen.is_empty(), "a copy changes nothing");
        assert_eq!(d.ledger.balance(0), Some(70));
        // Undo once; a copy of the undo changes nothing either.
        let undo = Msg::Undo {
            txn: 3,
            step: 0,
            ops: debit(30),
            visibility: Visibility::Opens,
            finished_below: 0,
        };
        let (_, seen) = deliver(&mut d, undo.clone());
        assert!(seen.contains(&Observation::Compensated { txn: 3 }));
        assert!(seen.contains(&Observation::AnomalyEnded { txn: 3 }));
        deliver(&mut d, undo);
        assert_eq!(d.ledger.balance(0), Some(100));
    }

    #[test]
    fn an_undo_before_its_step_leaves_a_tombstone_and_the_late_step_is_refused() {
        let mut d = SagaNode::participant_durable(crate::store::Ledger::new(2, 100));
        let (sent, _) = deliver(
            &mut d,
            Msg::Undo {
                txn: 4,
                step: 1,
                ops: debit(10),
                visibility: Visibility::None,
                finished_below: 0,
            },
        );
        assert_eq!(sent, [Msg::Undone { txn: 4, step: 1 }]);
        assert_eq!(d.steps.get(&(4, 1)), Some(&StepRecord::Tombstone));
        let (sent, _) = deliver(
            &mut d,
            Msg::Do {
                txn: 4,
                step: 1,
                ops: debit(10),
                visibility: Visibility::None,
                finished_below: 0,
            },
        );
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 4,
                step: 1,
                ok: false
            }]
        );
        assert_eq!(d.ledger.balance(0), Some(100));
    }

    fn step(txn: TxnId, undo: bool, finished_below: TxnId) -> Msg {
        let (ops, visibility) = (debit(30), Visibility::None);
        if undo {
            Msg::Undo {
                txn,
                step: 0,
                ops,
                visibility,
                finished_below,
            }
        } else {
            Msg::Do {
                txn,
                step: 0,
                ops,
                visibility,
                finished_below,
            }
        }
    }

    #[test]
    fn below_the_watermark_a_late_step_is_refused_and_a_late_undo_changes_nothing() {
        let mut d = SagaNode::participant_durable(crate::store::Ledger::new(2, 100));
        deliver(&mut d, step(3, false, 0));
        deliver(&mut d, step(4, true, 0)); // a tombstone
        assert_eq!(d.steps.len(), 2);
        // The next write carries the watermark: sagas 3 and 4 have reached their end.
        deliver(&mut d, step(9, false, 5));
        assert_eq!(d.finished_below, 5);
        assert!(d.steps.keys().eq([(9, 0)].iter()), "purged with the write");
        assert_eq!(d.ledger.balance(0), Some(40));
        // Late copies: the step is refused (not applied again), the undo changes
        // nothing, the tombstoned step stays refused — and no record comes back.
        let (sent, seen) = deliver(&mut d, step(3, false, 0));
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 3,
                step: 0,
                ok: false
            }]
        );
        assert!(seen.is_empty());
        let (sent, _) = deliver(&mut d, step(3, true, 0));
        assert_eq!(sent, [Msg::Undone { txn: 3, step: 0 }]);
        let (sent, _) = deliver(&mut d, step(4, false, 1));
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 4,
                step: 0,
                ok: false
            }]
        );
        assert_eq!(d.ledger.balance(0), Some(40));
        assert_eq!(d.steps.len(), 1);
        assert_eq!(d.finished_below, 5, "a lower watermark changes nothing");
    }

    #[test]
    fn an_overdraft_is_refused_and_the_refusal_is_remembered() {
        let mut d = SagaNode::participant_durable(crate::store::Ledger::new(2, 100));
        let step = Msg::Do {
            txn: 5,
            step: 0,
            ops: debit(101),
            visibility: Visibility::Opens,
            finished_below: 0,
        };
        let (sent, seen) = deliver(&mut d, step.clone());
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 5,
                step: 0,
                ok: false
            }]
        );
        assert!(seen.is_empty());
        assert_eq!(d.steps.get(&(5, 0)), Some(&StepRecord::Refused));
        d.ledger.apply(&debit(-50)); // the account is richer now...
        let (sent, _) = deliver(&mut d, step);
        assert_eq!(
            sent,
            [Msg::Done {
                txn: 5,
                step: 0,
                ok: false
            }],
            "...the answer stays"
        );
    }

    #[test]
    fn undo_inverts_every_delta() {
        let mut o = ShardOps::default();
        o.push(KeyDelta { key: 1, delta: -4 });
        o.push(KeyDelta { key: 2, delta: 9 });
        let i = inverse(&o);
        assert_eq!(
            i.as_slice(),
            &[
                KeyDelta { key: 1, delta: 4 },
                KeyDelta { key: 2, delta: -9 }
            ]
        );
        assert_eq!(Visibility::Opens.inverse(), Visibility::Closes);
    }

    fn opts(state_store: StateStore, policy: Policy) -> SagaOptions {
        SagaOptions {
            state_store,
            policy,
            recovery: true,
            scan_interval_us: 1000,
            step_timeout_us: 100,
            step_retries: 1,
            give_up_after_attempts: None,
            watermark_lag_ids: watermark::DEFAULT_LAG_IDS,
        }
    }

    fn record(logged: Logged, n: usize) -> SagaRecord {
        SagaRecord {
            steps: vec![
                Step {
                    rm: NodeId(1),
                    ops: ShardOps::default(),
                    visibility: Visibility::None
                };
                n
            ],
            client: NodeId(0),
            began_us: 0,
            logged,
            flagged: false,
        }
    }

    fn orchestrator(o: SagaOptions) -> Orchestrator {
        match SagaNode::orchestrator(vec![NodeId(1), NodeId(2)], o) {
            SagaNode::Orchestrator(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_status_field_orchestrator_re_drives_from_the_start_or_undoes_everything() {
        let any = Logged {
            direction: Direction::Forward,
            pos: 1,
            intent: true,
        };
        let f = orchestrator(opts(StateStore::StatusField, Policy::Forward));
        assert_eq!(
            f.resume_point(&record(any, 2), 2),
            (Direction::Forward, Some(0))
        );
        let b = orchestrator(opts(StateStore::StatusField, Policy::Backward));
        assert_eq!(
            b.resume_point(&record(any, 2), 2),
            (Direction::Backward, Some(1))
        );
    }

    #[test]
    fn a_wal_orchestrator_resumes_where_its_log_stops() {
        let f = orchestrator(opts(StateStore::WriteAheadLog, Policy::Forward));
        let b = orchestrator(opts(StateStore::WriteAheadLog, Policy::Backward));
        let at = |direction, pos, intent| {
            record(
                Logged {
                    direction,
                    pos,
                    intent,
                },
                2,
            )
        };
        // Debited A (step 0 done), credit B's intent logged.
        let mid = at(Direction::Forward, 1, true);
        assert_eq!(f.resume_point(&mid, 2), (Direction::Forward, Some(1)));
        assert_eq!(
            b.resume_point(&mid, 2),
            (Direction::Backward, Some(1)),
            "B may be credited: undo it too"
        );
        // Debited A, nothing logged for B: only A to undo.
        let done_a = at(Direction::Forward, 1, false);
        assert_eq!(b.resume_point(&done_a, 2), (Direction::Backward, Some(0)));
        // Prepared only: nothing to undo.
        let prepared = at(Direction::Forward, 0, false);
        assert_eq!(b.resume_point(&prepared, 2), (Direction::Backward, None));
        // Every step done: finish.
        assert_eq!(
            f.resume_point(&at(Direction::Forward, 2, false), 2),
            (Direction::Forward, None)
        );
        // Undoing A, intent logged: undo A again (idempotent) whatever the policy.
        assert_eq!(
            f.resume_point(&at(Direction::Backward, 0, true), 2),
            (Direction::Backward, Some(0))
        );
        // B refused (or undone) without intent: A is next.
        assert_eq!(
            f.resume_point(&at(Direction::Backward, 1, false), 2),
            (Direction::Backward, Some(0))
        );
    }
}
