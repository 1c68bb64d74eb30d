//! TCC — Try / Confirm / Cancel — business-level tentative operations (Pat Helland,
//! "Life beyond Distributed Transactions", CIDR 2007), as popularised by Atomikos
//! (Pardon & Pautasso, "Atomic Distributed Transactions: a RESTful Design", WWW 2014)
//! and built into Seata's TCC mode with its "fence" table.
//!
//! - The coordinator **durably records the global transaction** (its branches and
//!   their changes), then sends Try to every participant.
//! - A participant's Try **reserves**: debits leave the available balance into a
//!   reservation (frozen funds, held stock); credits are only noted (a pending
//!   order). It durably records the branch in its **fence** (tried) and answers yes;
//!   if the balance cannot cover the debit it reserves nothing, records the branch
//!   as refused and answers no. A repeated Try gets the first answer from the fence
//!   (a "no" lost on the network must not turn into a "yes" once funds return). No
//!   lock is taken: other transactions keep using what is not reserved.
//! - Every Try yes: the coordinator durably marks the transaction Confirming and sends
//!   Confirm to all (the reservation is consumed, credits applied). Any no, or a Try
//!   unanswered within `try_timeout`: it marks it Cancelling and sends Cancel to all
//!   (reservations return). It resends Confirm/Cancel every `retry` until every
//!   participant acknowledged, then forgets the transaction. A coordinator that
//!   recovers cancels what was still trying and resumes what was confirming or
//!   cancelling, from its log.
//!
//! The fence (tried / confirmed / cancelled, per branch) gives three guards, each of
//! which a scenario can switch off to show what it prevents:
//! - **idempotency**: a repeated Confirm or Cancel (a duplicate on the network, a
//!   retry after a lost acknowledgement) is applied once;
//! - **empty rollback** (空回滚): a Cancel for a branch that holds no reservation
//!   (its Try was lost, late, or refused) records the fact and changes nothing;
//! - **anti-hanging** (防悬挂): a Try arriving after its Cancel is refused; otherwise
//!   it reserves and nobody will ever confirm or cancel it (a hanging reservation).
//!
//! The coordinator counts a Cancel acknowledged by only some participants at a retry
//! as a partial compensation, and reports it repaired when the retries complete it.

pub mod build;

use super::watermark::{self, Unfinished};
use crate::idmap::RecentIds;
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation, RepairClass, TccEvent};
use crate::store::{Ledger, ShardOps};
use crate::workload::{is_new_request, Admission, AdmissionLog};
use crate::workload::{Client, ClientTimer, TxnRequest};
use std::collections::BTreeMap;

/// TCC's options (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TccOptions {
    pub try_timeout_us: u64,
    pub retry_us: u64,
    pub idempotency: bool,
    pub empty_rollback_guard: bool,
    pub anti_hanging: bool,
    pub fence_purge: FencePurge,
    /// How far the front trails the newest id begun (see [`watermark::front`]).
    pub watermark_lag_ids: u64,
}

/// When a participant drops the fence records of finished branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FencePurge {
    /// Below the coordinator's finished-below watermark (see
    /// [`super::watermark`]): exact, whatever the network's delays.
    Watermark,
    /// Seata's clean task: a record in an end state (confirmed, cancelled) last
    /// changed at least this long ago (µs) is deleted, and the watermark is not
    /// used. Unsafe: a message older than that finds no record.
    AfterUs(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → coordinator.
    Request(TxnRequest),
    /// Coordinator (or the participant of a one-shard transaction) → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// Coordinator → participant: reserve. `finished_below`, here and on Confirm and
    /// Cancel: the participant's watermark — every transaction below it is finished
    /// for this participant (see [`super::watermark`]).
    Try {
        txn: TxnId,
        ops: ShardOps,
        finished_below: TxnId,
    },
    /// Participant → coordinator: reserved (`ok`) or not.
    Tried { txn: TxnId, ok: bool },
    /// Coordinator → participant: consume the reservation, apply the credits. Carries
    /// the branch's changes, as a TCC framework passes the business context to the
    /// confirm method.
    Confirm {
        txn: TxnId,
        ops: ShardOps,
        finished_below: TxnId,
    },
    /// Coordinator → participant: return the reservation.
    Cancel {
        txn: TxnId,
        ops: ShardOps,
        finished_below: TxnId,
    },
    /// Participant → coordinator: Confirm or Cancel done.
    Done { txn: TxnId },
    /// Coordinator → participant: a transaction on this shard only (one phase).
    Local {
        txn: TxnId,
        ops: ShardOps,
        client: NodeId,
    },
    /// Coordinator → client: a request it may have begun before a restart; use ids
    /// from `floor` (see [`crate::workload::admission`]).
    Stale { txn: TxnId, floor: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::Try { txn, .. } => Some(*txn),
            Msg::Tried { txn, .. } => Some(*txn),
            Msg::Confirm { txn, .. } => Some(*txn),
            Msg::Cancel { txn, .. } => Some(*txn),
            Msg::Done { txn, .. } => Some(*txn),
            Msg::Local { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// Coordinator: the Tries of `txn` are overdue.
    TryTimeout(TxnId),
    /// Coordinator: resend Confirm/Cancel to participants that have not answered.
    Retry,
}

/// Where a branch stands, in the participant's fence (Seata's fence states: tried,
/// committed, rollbacked, suspended; plus the refusal, which Seata leaves to the
/// caller's synchronous exception and a simulated network may lose).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchState {
    Tried,
    /// The Try's business check failed (the balance could not cover the debit):
    /// nothing was reserved. Recorded so that the answer is stable: a repeated Try
    /// gets this same no, even after the funds have come back, and the coordinator,
    /// which needs every yes, can never confirm the branch.
    Refused,
    Confirmed,
    /// `empty`: the Cancel came for a branch that held no reservation — it had
    /// never tried, or its Try was refused (Seata's "suspended").
    Cancelled {
        empty: bool,
    },
}

impl BranchState {
    /// A final state: the branch is confirmed or cancelled (Seata's end states, the
    /// ones its clean task may delete).
    pub fn is_end(self) -> bool {
        matches!(self, BranchState::Confirmed | BranchState::Cancelled { .. })
    }
}

/// A participant's durable control record of one branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fence {
    pub state: BranchState,
    pub ops: ShardOps,
    pub tried_at_us: u64,
    /// When the state last changed (Seata's `gmt_modified`, which its clean task reads).
    pub changed_at_us: u64,
    /// Tried after the branch was over (anti-hanging off): a hanging reservation. Its
    /// branch's Confirm, if it had one, was applied before: a copy is a repeat.
    pub late: bool,
}

/// Where a global transaction stands, in the coordinator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Trying,
    Confirming,
    Cancelling,
}

/// The coordinator's durable record of a global transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalRec {
    pub branches: Vec<(NodeId, ShardOps)>,
    pub phase: Phase,
    /// A partial compensation was seen (so its completion is reported as a repair).
    pub partial: bool,
}

/// Everything any TCC node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Coordinator: unfinished global transactions.
    pub globals: BTreeMap<TxnId, GlobalRec>,
    /// Coordinator: which request ids it may have begun (so none is begun twice).
    pub admission: AdmissionLog,
    /// Participant: available balances (reservations already taken out).
    pub ledger: Ledger,
    /// Participant: the fence, one record per branch, kept until the branch is
    /// finished and below the watermark (or, with [`FencePurge::AfterUs`], too old).
    pub fences: BTreeMap<TxnId, Fence>,
    /// Participant: the highest watermark heard: every transaction below it is
    /// finished here, and its fence record is gone (except a reservation still held).
    pub finished_below: TxnId,
    /// Participant: one-shard transactions done (drops duplicates).
    pub local_done: RecentIds,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

impl Durable {
    /// Funds or stock held by tried branches, per their debits.
    fn reserved(&self) -> i64 {
        self.fences
            .values()
            .filter(|f| f.state == BranchState::Tried)
            .map(|f| debits(&f.ops).map(|o| -o.delta).sum::<i64>())
            .sum()
    }
}

fn debits(ops: &ShardOps) -> impl Iterator<Item = &crate::store::KeyDelta> {
    ops.as_slice().iter().filter(|o| o.delta < 0)
}

fn debit_ops(ops: &ShardOps) -> ShardOps {
    let mut d = ShardOps::default();
    for o in debits(ops) {
        d.push(*o);
    }
    d
}

/// The coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tm {
    rms: Vec<NodeId>,
    opts: TccOptions,
    trying: BTreeMap<TxnId, Trying>,
    finishing: BTreeMap<TxnId, Finishing>,
    /// Requests begun in this incarnation (with the durable floor: never begun twice).
    admission: Admission,
    /// One past the newest request id begun in this incarnation (the front lags it).
    begun_to: TxnId,
    /// Per participant, the transactions not finished for it (its watermark).
    unfinished: Unfinished,
    retry_armed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Trying {
    participants: NodeSet,
    ok: NodeSet,
    client: NodeId,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Finishing {
    participants: NodeSet,
    acked: NodeSet,
    confirm: bool,
    sent_at_us: u64,
}

/// A participant: one service (accounts, stock, orders).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rm {
    tm: NodeId,
    opts: TccOptions,
}

/// Every role of a TCC world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TccNode {
    Client(Client),
    Tm(Tm),
    Rm(Rm),
}

impl TccNode {
    pub fn tm(rms: Vec<NodeId>, opts: TccOptions) -> Self {
        TccNode::Tm(Tm {
            rms,
            opts,
            trying: BTreeMap::new(),
            finishing: BTreeMap::new(),
            admission: Admission::default(),
            begun_to: 0,
            unfinished: Unfinished::default(),
            retry_armed: false,
        })
    }

    pub fn rm(tm: NodeId, opts: TccOptions) -> Self {
        TccNode::Rm(Rm { tm, opts })
    }

    /// The durable store a participant starts with.
    pub fn rm_durable(ledger: Ledger) -> Durable {
        Durable {
            ledger,
            ..Durable::default()
        }
    }
}

type C<'a> = Ctx<'a, TccNode>;

// The client, and the coordinator's admission of its requests (see
// [`super::coordinated`]).
client_world! { node: TccNode, msg: Msg, timer: Timer, durable: Durable }
admitting_world! { node: TccNode, msg: Msg, durable: Durable }

impl Node for TccNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let TccNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            TccNode::Client(c) => c.on_message(msg, ctx),
            TccNode::Tm(tm) => tm.on_message(from, msg, ctx),
            TccNode::Rm(rm) => rm.on_message(msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (TccNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (TccNode::Tm(tm), Timer::TryTimeout(txn)) => tm.decide(txn, false, ctx),
            (TccNode::Tm(tm), Timer::Retry) => tm.resend(ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            TccNode::Client(c) => c.on_recover(ctx),
            TccNode::Tm(tm) => tm.recover(ctx),
            TccNode::Rm(_) => {} // the fence and the ledger are all it needs
        }
    }

    fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        if !matches!(self, TccNode::Rm(_)) {
            return;
        }
        // Reserved funds and stock still belong to their owner until Confirm.
        out.push(AuditItem::Money {
            amount: d.ledger.total() + d.reserved(),
        });
        if d.ledger.keys() <= crate::observe::KEY_AUDIT_MAX {
            // Per key, too: available plus reserved.
            let mut held = vec![0i64; d.ledger.keys() as usize];
            for f in d.fences.values().filter(|f| f.state == BranchState::Tried) {
                for o in debits(&f.ops) {
                    if let Some(h) = held.get_mut(o.key as usize) {
                        *h -= o.delta;
                    }
                }
            }
            let per_key: Vec<i64> = d.ledger.balances().zip(held).map(|(b, h)| b + h).collect();
            crate::observe::audit_keys(per_key.into_iter(), out);
        }
        for (&txn, f) in &d.fences {
            if f.state != BranchState::Tried {
                continue;
            }
            let for_us = now_us.saturating_sub(f.tried_at_us);
            out.push(AuditItem::InDoubt { txn, for_us });
            out.push(AuditItem::MoneyInDoubt {
                txn,
                amount: f.ops.as_slice().iter().map(|o| o.delta).sum(),
            });
            for o in f.ops.as_slice() {
                out.push(AuditItem::KeyInDoubt {
                    txn,
                    key: o.key,
                    amount: o.delta,
                });
            }
            for o in debits(&f.ops) {
                out.push(AuditItem::LockHeld {
                    txn,
                    key: u64::from(o.key),
                    for_us,
                    in_doubt: true,
                });
            }
        }
    }
}

impl Tm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Request(req) => self.begin(from, req, ctx),
            Msg::Tried { txn, ok } => {
                let Some(t) = self.trying.get_mut(&txn) else {
                    return; // late answer: already decided
                };
                if !ok {
                    self.decide(txn, false, ctx);
                    return;
                }
                t.ok.insert(from);
                if t.ok == t.participants {
                    self.decide(txn, true, ctx);
                }
            }
            Msg::Done { txn } => {
                let Some(f) = self.finishing.get_mut(&txn) else {
                    return;
                };
                f.acked.insert(from);
                // Finished for this participant: its watermark may pass `txn`.
                self.unfinished.finish(txn, from);
                if f.acked.is_superset(f.participants) {
                    self.finishing.remove(&txn);
                    let rec = ctx.persist(|d| d.globals.remove(&txn));
                    if rec.is_some_and(|r| r.partial) {
                        ctx.observe(Observation::Repair {
                            txn,
                            class: RepairClass::Automatic,
                        });
                    }
                    ctx.observe(Observation::Finished { txn });
                }
            }
            _ => {}
        }
    }

    fn begin(&mut self, client: NodeId, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        // A stale copy is answered from the log when it holds the decision.
        let known = ctx.durable().globals.get(&txn).and_then(|g| match g.phase {
            Phase::Trying => None,
            Phase::Confirming => Some(Outcome::Commit),
            Phase::Cancelling => Some(Outcome::Abort),
        });
        if !self.admission.admit_request(txn, client, known, ctx) {
            return;
        }
        // Nothing begins below the front: a watermark already sent may have passed
        // this id (it fell more than `watermark_lag_ids` behind the newest one begun).
        let front = self.front(ctx);
        if txn < front {
            ctx.send(client, Msg::Stale { txn, floor: front });
            return;
        }
        self.begun_to = self.begun_to.max(txn.saturating_add(1));
        let shards = req.by_shard();
        if let [(shard, ops)] = shards[..] {
            ctx.send(self.rms[shard as usize], Msg::Local { txn, ops, client });
            return;
        }
        let branches: Vec<(NodeId, ShardOps)> = shards
            .iter()
            .map(|(s, ops)| (self.rms[*s as usize], *ops))
            .collect();
        let participants: NodeSet = branches.iter().map(|(n, _)| *n).collect();
        // The global transaction is durable before any participant hears of it.
        ctx.persist(|d| {
            d.globals.insert(
                txn,
                GlobalRec {
                    branches: branches.clone(),
                    phase: Phase::Trying,
                    partial: false,
                },
            )
        });
        ctx.observe(Observation::TxnBegun { txn, participants });
        self.unfinished.begin(txn, participants.iter());
        for (rm, ops) in branches {
            let finished_below = self.finished_below(rm, ctx);
            ctx.send(
                rm,
                Msg::Try {
                    txn,
                    ops,
                    finished_below,
                },
            );
        }
        self.trying.insert(
            txn,
            Trying {
                participants,
                ok: NodeSet::new(),
                client,
            },
        );
        ctx.set_timer(Timer::TryTimeout(txn), self.opts.try_timeout_us);
    }

    /// Nothing is begun below this any more (see [`watermark::front`]).
    fn front(&self, ctx: &C<'_>) -> TxnId {
        watermark::front(
            self.begun_to,
            ctx.durable().admission.floor,
            self.opts.watermark_lag_ids,
        )
    }

    /// The watermark of `rm`: every transaction below it is finished for `rm`.
    fn finished_below(&self, rm: NodeId, ctx: &C<'_>) -> TxnId {
        self.unfinished.below(rm, self.front(ctx))
    }

    fn phase_two_msg(
        &self,
        txn: TxnId,
        confirm: bool,
        rm: NodeId,
        ops: ShardOps,
        ctx: &C<'_>,
    ) -> Msg {
        let finished_below = self.finished_below(rm, ctx);
        if confirm {
            Msg::Confirm {
                txn,
                ops,
                finished_below,
            }
        } else {
            Msg::Cancel {
                txn,
                ops,
                finished_below,
            }
        }
    }

    /// Confirm (every Try said yes) or Cancel (a no, or the Try timeout).
    fn decide(&mut self, txn: TxnId, confirm: bool, ctx: &mut C<'_>) {
        let Some(t) = self.trying.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::TryTimeout(txn));
        let outcome = if confirm {
            Outcome::Commit
        } else {
            Outcome::Abort
        };
        self.start_phase_two(txn, confirm, t.participants, ctx);
        ctx.send(t.client, Msg::Reply { txn, outcome });
    }

    /// Logs the decision, then sends it to every branch and waits for the answers.
    fn start_phase_two(
        &mut self,
        txn: TxnId,
        confirm: bool,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let phase = if confirm {
            Phase::Confirming
        } else {
            Phase::Cancelling
        };
        let branches = ctx.persist(|d| {
            let rec = d
                .globals
                .get_mut(&txn)
                .expect("begun transactions are logged");
            rec.phase = phase;
            rec.branches.clone()
        });
        ctx.observe(Observation::Decided {
            txn,
            outcome: if confirm {
                Outcome::Commit
            } else {
                Outcome::Abort
            },
        });
        for (rm, ops) in branches {
            let msg = self.phase_two_msg(txn, confirm, rm, ops, ctx);
            ctx.send(rm, msg);
        }
        self.finishing.insert(
            txn,
            Finishing {
                participants,
                acked: NodeSet::new(),
                confirm,
                sent_at_us: ctx.now_us(),
            },
        );
        self.arm_retry(ctx);
    }

    fn arm_retry(&mut self, ctx: &mut C<'_>) {
        if !self.retry_armed && !self.finishing.is_empty() {
            self.retry_armed = true;
            ctx.set_timer(Timer::Retry, self.opts.retry_us);
        }
    }

    /// Resends Confirm/Cancel unanswered for a retry period. A Cancel that some
    /// participants acknowledged and others not is a partial compensation.
    fn resend(&mut self, ctx: &mut C<'_>) {
        self.retry_armed = false;
        let now = ctx.now_us();
        let retry = self.opts.retry_us;
        let due: Vec<TxnId> = self
            .finishing
            .iter()
            .filter(|(_, f)| now >= f.sent_at_us + retry)
            .map(|(t, _)| *t)
            .collect();
        for txn in due {
            let f = self.finishing.get_mut(&txn).expect("listed above");
            f.sent_at_us = now;
            let (confirm, acked) = (f.confirm, f.acked);
            let Some(rec) = ctx.durable().globals.get(&txn).cloned() else {
                continue;
            };
            if !confirm && !acked.is_empty() && !rec.partial {
                ctx.persist(|d| {
                    if let Some(r) = d.globals.get_mut(&txn) {
                        r.partial = true;
                    }
                });
                ctx.observe(Observation::Tcc {
                    txn,
                    event: TccEvent::PartialCompensation,
                });
            }
            for (rm, ops) in rec.branches {
                if !acked.contains(rm) {
                    let msg = self.phase_two_msg(txn, confirm, rm, ops, ctx);
                    ctx.send(rm, msg);
                }
            }
        }
        self.arm_retry(ctx);
    }

    /// From the log: what was still trying is cancelled (its Tries' answers are
    /// lost); what was confirming or cancelling is sent again.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let globals: Vec<(TxnId, GlobalRec)> = ctx
            .durable()
            .globals
            .iter()
            .map(|(t, r)| (*t, r.clone()))
            .collect();
        self.admission.recover(globals.iter().map(|(t, _)| *t), ctx);
        // Which participants had acknowledged is lost: every logged transaction is
        // unfinished for all of its participants again. The watermarks this gives may
        // be lower than those sent before the crash (still true; a participant keeps
        // the highest it heard); the front is the new floor, above every id begun.
        for (txn, rec) in &globals {
            self.unfinished
                .begin(*txn, rec.branches.iter().map(|(n, _)| *n));
        }
        for (txn, rec) in globals {
            let participants: NodeSet = rec.branches.iter().map(|(n, _)| *n).collect();
            match rec.phase {
                Phase::Trying => self.start_phase_two(txn, false, participants, ctx),
                Phase::Confirming | Phase::Cancelling => {
                    self.finishing.insert(
                        txn,
                        Finishing {
                            participants,
                            acked: NodeSet::new(),
                            confirm: rec.phase == Phase::Confirming,
                            sent_at_us: 0,
                        },
                    );
                }
            }
        }
        self.resend(ctx);
    }
}

impl Rm {
    fn on_message(&mut self, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Try {
                txn,
                ops,
                finished_below,
            } => {
                let w = self.watermark(finished_below, ctx);
                self.try_(txn, ops, w, ctx)
            }
            Msg::Confirm {
                txn,
                ops,
                finished_below,
            } => {
                let w = self.watermark(finished_below, ctx);
                self.confirm(txn, ops, w, ctx)
            }
            Msg::Cancel {
                txn,
                ops,
                finished_below,
            } => {
                let w = self.watermark(finished_below, ctx);
                self.cancel(txn, ops, w, ctx)
            }
            Msg::Local { txn, ops, client } => self.local(txn, ops, client, ctx),
            _ => {}
        }
    }

    /// The watermark this participant may rely on: the highest it has heard (a
    /// lower one on a reordered or restarted coordinator's message is still true,
    /// and says less). `0` when fences are purged by age instead: nothing is then
    /// known about a transaction without a record.
    fn watermark(&self, heard: TxnId, ctx: &C<'_>) -> TxnId {
        match self.opts.fence_purge {
            FencePurge::Watermark => ctx.durable().finished_below.max(heard),
            FencePurge::AfterUs(_) => 0,
        }
    }

    /// One forced write: `f`, and with it the purge of finished fence records (below
    /// the watermark `w`, or older than the retention), so purging costs no write of
    /// its own.
    fn write<R>(&self, w: TxnId, ctx: &mut C<'_>, f: impl FnOnce(&mut Durable) -> R) -> R {
        let purge = self.opts.fence_purge;
        let now = ctx.now_us();
        ctx.persist(|d| {
            let r = f(d);
            match purge {
                FencePurge::Watermark => {
                    if w > d.finished_below {
                        d.finished_below = w;
                        // A reservation still held (a hanging one, guard off) stays:
                        // it is money, not a control record.
                        watermark::purge(&mut d.fences, w, |f| !f.state.is_end());
                    }
                }
                FencePurge::AfterUs(after) => purge_older(&mut d.fences, now, after),
            }
            r
        })
    }

    fn try_(&mut self, txn: TxnId, ops: ShardOps, w: TxnId, ctx: &mut C<'_>) {
        let tm = self.tm;
        let late = match ctx.durable().fences.get(&txn).map(|f| f.state) {
            // A repeated Try gets the first answer, whatever the balance is now.
            Some(BranchState::Tried | BranchState::Confirmed) => {
                ctx.send(tm, Msg::Tried { txn, ok: true });
                return;
            }
            Some(BranchState::Refused) => {
                ctx.send(tm, Msg::Tried { txn, ok: false });
                return;
            }
            // After its Cancel: recorded, or known from the watermark (the branch is
            // finished here — confirmed or cancelled — and nobody waits for this
            // Try's answer).
            Some(BranchState::Cancelled { .. }) => true,
            None => txn < w,
        };
        if late && self.opts.anti_hanging {
            ctx.observe(Observation::Tcc {
                txn,
                event: TccEvent::LateTryRefused,
            });
            ctx.send(tm, Msg::Tried { txn, ok: false });
            return;
        }
        // Without the guard a late Try reserves, for a transaction that is over.
        let hanging = late;
        let reserve = debit_ops(&ops);
        let now = ctx.now_us();
        if !ctx.durable().ledger.can_apply(&reserve) {
            // Refused: the local transaction reserves nothing. Its answer is recorded
            // (the no may be lost, and a repeated Try must not say yes once funds
            // come back). The branch is final here: aborted, never to be confirmed.
            // A Try arriving after its Cancel (anti-hanging off) leaves the Cancel's
            // record in place: that branch was aborted already.
            if !hanging {
                self.write(w, ctx, |d| {
                    d.fences.insert(
                        txn,
                        Fence {
                            state: BranchState::Refused,
                            ops,
                            tried_at_us: now,
                            changed_at_us: now,
                            late: false,
                        },
                    )
                });
                ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
            }
            ctx.send(tm, Msg::Tried { txn, ok: false });
            return;
        }
        self.write(w, ctx, |d| {
            d.ledger.apply(&reserve);
            d.fences.insert(
                txn,
                Fence {
                    state: BranchState::Tried,
                    ops,
                    tried_at_us: now,
                    changed_at_us: now,
                    late: hanging,
                },
            );
        });
        if hanging {
            ctx.observe(Observation::Tcc {
                txn,
                event: TccEvent::HangingReservation,
            });
        }
        ctx.observe(Observation::Prepared { txn });
        ctx.send(tm, Msg::Tried { txn, ok: true });
    }

    fn confirm(&mut self, txn: TxnId, ops: ShardOps, w: TxnId, ctx: &mut C<'_>) {
        let fence = ctx.durable().fences.get(&txn).cloned();
        let now = ctx.now_us();
        match fence.map(|f| (f.state, f)) {
            // A hanging reservation made below the watermark by a Try that came after
            // its branch was confirmed and forgotten: this is a copy of that Confirm.
            // The reservation stays (hanging: the anomaly without anti-hanging).
            Some((BranchState::Tried, f)) if f.late => self.repeated(txn, &ops, true, w, ctx),
            Some((BranchState::Tried, f)) => {
                // The reservation is consumed; the credits are applied.
                self.write(w, ctx, |d| {
                    for o in f.ops.as_slice().iter().filter(|o| o.delta > 0) {
                        d.ledger.add(o.key, o.delta);
                    }
                    if let Some(r) = d.fences.get_mut(&txn) {
                        r.state = BranchState::Confirmed;
                        r.changed_at_us = now;
                    }
                });
                self.applied(txn, &f, Outcome::Commit, ctx);
            }
            Some((BranchState::Confirmed, _)) => self.repeated(txn, &ops, true, w, ctx),
            // Below the watermark without a record: a copy of a Confirm done (the
            // coordinator confirms only what every participant tried) and forgotten.
            None if txn < w => self.repeated(txn, &ops, true, w, ctx),
            // Never tried, or cancelled: the coordinator never confirms such a branch.
            _ => {}
        }
        ctx.send(self.tm, Msg::Done { txn });
    }

    fn cancel(&mut self, txn: TxnId, ops: ShardOps, w: TxnId, ctx: &mut C<'_>) {
        let fence = ctx.durable().fences.get(&txn).cloned();
        let refused = fence.as_ref().map(|f| f.state) == Some(BranchState::Refused);
        let now = ctx.now_us();
        match fence.map(|f| (f.state, f)) {
            Some((BranchState::Tried, f)) => {
                self.write(w, ctx, |d| {
                    release(&mut d.ledger, &f.ops);
                    if let Some(r) = d.fences.get_mut(&txn) {
                        r.state = BranchState::Cancelled { empty: false };
                        r.changed_at_us = now;
                    }
                });
                self.applied(txn, &f, Outcome::Abort, ctx);
            }
            Some((BranchState::Cancelled { .. }, _)) => self.repeated(txn, &ops, false, w, ctx),
            Some((BranchState::Confirmed, _)) => {} // never happens: decided once
            // Below the watermark without a record: a copy of a Cancel done (the
            // branch's first Cancel found its record: a branch is finished for this
            // participant only once it acknowledged one) and forgotten.
            None if txn < w => self.repeated(txn, &ops, false, w, ctx),
            Some((BranchState::Refused, _)) | None => {
                // An empty rollback: the Try never arrived (lost, late), or it was
                // refused and reserved nothing (Seata: a failed Try left no
                // reservation, so its Cancel has nothing to return).
                let guard = self.opts.empty_rollback_guard;
                self.write(w, ctx, |d| {
                    if !guard {
                        release(&mut d.ledger, &ops);
                    }
                    // Recorded either way: the anti-hanging guard reads it.
                    d.fences.insert(
                        txn,
                        Fence {
                            state: BranchState::Cancelled { empty: true },
                            ops,
                            tried_at_us: now,
                            changed_at_us: now,
                            late: false,
                        },
                    );
                });
                ctx.observe(Observation::Tcc {
                    txn,
                    event: if guard {
                        TccEvent::EmptyRollbackRecorded
                    } else {
                        TccEvent::EmptyRollbackApplied
                    },
                });
                if !refused {
                    // A refused branch reported its abort when it refused.
                    ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
                }
            }
        }
        ctx.send(self.tm, Msg::Done { txn });
    }

    /// A Confirm (`confirm`) or Cancel done already, by the fence's record or by the
    /// watermark.
    fn repeated(&mut self, txn: TxnId, ops: &ShardOps, confirm: bool, w: TxnId, ctx: &mut C<'_>) {
        if self.opts.idempotency {
            ctx.observe(Observation::Tcc {
                txn,
                event: TccEvent::DuplicateIgnored,
            });
            return;
        }
        // Without the guard the business method runs again: a Confirm deducts (and
        // credits) once more, a Cancel returns the reservation once more — whether
        // the record is still there or was purged below the watermark.
        self.write(w, ctx, |d| {
            if confirm {
                for o in ops.as_slice() {
                    d.ledger.add(o.key, o.delta);
                }
            } else {
                release(&mut d.ledger, ops);
            }
        });
        ctx.observe(Observation::Tcc {
            txn,
            event: TccEvent::DuplicateApplied,
        });
    }

    fn applied(&mut self, txn: TxnId, f: &Fence, outcome: Outcome, ctx: &mut C<'_>) {
        let held_us = ctx.now_us().saturating_sub(f.tried_at_us);
        ctx.observe(Observation::Applied {
            txn,
            outcome,
            in_doubt_us: held_us,
            locks: debits(&f.ops).count() as u32,
            lock_hold_us: held_us,
        });
    }

    fn local(&mut self, txn: TxnId, ops: ShardOps, client: NodeId, ctx: &mut C<'_>) {
        let recall = ctx.durable().local_done.recall(txn);
        if !is_new_request(recall, txn, client, ctx) {
            return; // a copy, or too old to tell
        }
        let mut participants = NodeSet::new();
        participants.insert(ctx.me());
        ctx.observe(Observation::TxnBegun { txn, participants });
        let ok = ctx.durable().ledger.can_apply(&ops);
        let outcome = if ok { Outcome::Commit } else { Outcome::Abort };
        ctx.persist(|d| {
            if ok {
                d.ledger.apply(&ops);
            }
            d.local_done.insert(txn);
        });
        ctx.observe(Observation::Decided { txn, outcome });
        ctx.observe(Observation::applied_at_once(txn, outcome, 0));
        ctx.observe(Observation::Finished { txn });
        ctx.send(client, Msg::Reply { txn, outcome });
    }
}

/// Seata's clean task, run with every fence write: deletes the records in an end
/// state last changed at least `after_us` ago, oldest ids first, stopping at the
/// first end-state record still young (ids are begun roughly in time order).
fn purge_older(fences: &mut BTreeMap<TxnId, Fence>, now_us: u64, after_us: u64) {
    let mut gone = Vec::new();
    for (&txn, f) in fences.iter() {
        if !f.state.is_end() {
            continue;
        }
        if f.changed_at_us.saturating_add(after_us) > now_us {
            break;
        }
        gone.push(txn);
    }
    for txn in gone {
        fences.remove(&txn);
    }
}

/// Returns the debits of `ops` to the available balances.
fn release(ledger: &mut Ledger, ops: &ShardOps) {
    for o in debits(ops) {
        ledger.add(o.key, -o.delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;
    use crate::store::KeyDelta;
    use crate::workload::AdmittingWorld;

    const TM: NodeId = NodeId(0);

    fn opts(idempotency: bool, empty_rollback_guard: bool, anti_hanging: bool) -> TccOptions {
        TccOptions {
            try_timeout_us: 1000,
            retry_us: 1000,
            idempotency,
            empty_rollback_guard,
            anti_hanging,
            fence_purge: FencePurge::Watermark,
            watermark_lag_ids: watermark::DEFAULT_LAG_IDS,
        }
    }

    /// A participant holding two accounts of 100, and what it sends and observes.
    struct Harness {
        node: TccNode,
        durable: Durable,
        rng: crate::rng::StreamRng,
        now_us: u64,
    }

    impl Harness {
        fn new(o: TccOptions) -> Self {
            Harness {
                node: TccNode::rm(TM, o),
                durable: TccNode::rm_durable(Ledger::new(2, 100)),
                rng: crate::rng::stream(1, "test"),
                now_us: 10,
            }
        }

        fn deliver(&mut self, msg: Msg) -> Vec<Command<TccNode>> {
            let mut out = Vec::new();
            let mut ctx = Ctx::new(
                self.now_us,
                NodeId(1),
                &mut self.durable,
                &mut self.rng,
                &mut out,
            );
            self.node.on_message(TM, msg, &mut ctx);
            out
        }

        fn balance(&self, key: u32) -> i64 {
            self.durable.ledger.balance(key).expect("key exists")
        }
    }

    /// Account 0 pays 30.
    fn debit() -> ShardOps {
        let mut o = ShardOps::default();
        o.push(KeyDelta { key: 0, delta: -30 });
        o
    }

    fn tried_ok(out: &[Command<TccNode>]) -> Option<bool> {
        out.iter().find_map(|c| match c {
            Command::Send {
                msg: Msg::Tried { ok, .. },
                ..
            } => Some(*ok),
            _ => None,
        })
    }

    fn saw(out: &[Command<TccNode>], event: TccEvent) -> bool {
        out.iter().any(
            |c| matches!(c, Command::Observe(Observation::Tcc { event: e, .. }) if *e == event),
        )
    }

    #[test]
    fn try_reserves_and_confirm_consumes_once() {
        for guard in [true, false] {
            let mut h = Harness::new(opts(guard, true, true));
            assert_eq!(
                tried_ok(&h.deliver(Msg::Try {
                    txn: 1,
                    ops: debit(),
                    finished_below: 0,
                })),
                Some(true)
            );
            assert_eq!(h.balance(0), 70, "reserved out of the available balance");
            assert_eq!(h.durable.reserved(), 30);
            h.deliver(Msg::Confirm {
                txn: 1,
                ops: debit(),
                finished_below: 0,
            });
            assert_eq!((h.balance(0), h.durable.reserved()), (70, 0));
            let again = h.deliver(Msg::Confirm {
                txn: 1,
                ops: debit(),
                finished_below: 0,
            });
            if guard {
                assert!(saw(&again, TccEvent::DuplicateIgnored));
                assert_eq!(h.balance(0), 70);
            } else {
                assert!(saw(&again, TccEvent::DuplicateApplied));
                assert_eq!(h.balance(0), 40, "deducted twice");
            }
        }
    }

    #[test]
    fn a_cancel_before_its_try_is_an_empty_rollback() {
        let mut h = Harness::new(opts(true, true, true));
        let out = h.deliver(Msg::Cancel {
            txn: 1,
            ops: debit(),
            finished_below: 0,
        });
        assert!(saw(&out, TccEvent::EmptyRollbackRecorded));
        assert_eq!(h.balance(0), 100, "nothing was reserved, nothing returns");
        let late = h.deliver(Msg::Try {
            txn: 1,
            ops: debit(),
            finished_below: 0,
        });
        assert_eq!(
            tried_ok(&late),
            Some(false),
            "anti-hanging refuses the late Try"
        );
        assert!(saw(&late, TccEvent::LateTryRefused));
        assert_eq!((h.balance(0), h.durable.reserved()), (100, 0));

        let mut h = Harness::new(opts(true, false, true));
        let out = h.deliver(Msg::Cancel {
            txn: 1,
            ops: debit(),
            finished_below: 0,
        });
        assert!(saw(&out, TccEvent::EmptyRollbackApplied));
        assert_eq!(h.balance(0), 130, "money appeared");
    }

    #[test]
    fn without_anti_hanging_a_late_try_hangs() {
        let mut h = Harness::new(opts(true, true, false));
        h.deliver(Msg::Cancel {
            txn: 1,
            ops: debit(),
            finished_below: 0,
        });
        let late = h.deliver(Msg::Try {
            txn: 1,
            ops: debit(),
            finished_below: 0,
        });
        assert_eq!(tried_ok(&late), Some(true));
        assert!(saw(&late, TccEvent::HangingReservation));
        assert_eq!((h.balance(0), h.durable.reserved()), (70, 30));
        let mut audit = Vec::new();
        h.node.audit(&h.durable, 500, &mut audit);
        assert!(
            audit.contains(&AuditItem::Money { amount: 200 }),
            "conserved, but held"
        );
        assert!(audit.contains(&AuditItem::InDoubt {
            txn: 1,
            for_us: 490
        }));
    }

    #[test]
    fn a_refused_try_is_recorded_and_its_answer_is_stable() {
        for guard in [true, false] {
            let mut h = Harness::new(opts(true, guard, true));
            let mut big = ShardOps::default();
            big.push(KeyDelta {
                key: 0,
                delta: -130,
            });
            let out = h.deliver(Msg::Try {
                txn: 1,
                ops: big,
                finished_below: 0,
            });
            assert_eq!(tried_ok(&out), Some(false));
            assert_eq!(h.durable.fences[&1].state, BranchState::Refused);
            assert_eq!((h.balance(0), h.durable.reserved()), (100, 0));
            // The funds come back (another transaction credits account 0)...
            h.durable.ledger.add(0, 100);
            // ...and a copy of the same Try arrives: it gets the first answer.
            let again = h.deliver(Msg::Try {
                txn: 1,
                ops: big,
                finished_below: 0,
            });
            assert_eq!(
                tried_ok(&again),
                Some(false),
                "a repeated Try says no again"
            );
            assert!(!again
                .iter()
                .any(|c| matches!(c, Command::Observe(Observation::Prepared { .. }))));
            assert_eq!((h.balance(0), h.durable.reserved()), (200, 0));
            // Its Cancel is an empty rollback: nothing was reserved.
            let cancel = h.deliver(Msg::Cancel {
                txn: 1,
                ops: big,
                finished_below: 0,
            });
            if guard {
                assert!(saw(&cancel, TccEvent::EmptyRollbackRecorded));
                assert_eq!(h.balance(0), 200);
            } else {
                assert!(saw(&cancel, TccEvent::EmptyRollbackApplied));
                assert_eq!(h.balance(0), 330, "returned what was never reserved");
            }
            // The abort was reported once, at the refusal.
            assert!(!cancel
                .iter()
                .any(|c| matches!(c, Command::Observe(Observation::Applied { .. }))));
            assert_eq!(
                h.durable.fences[&1].state,
                BranchState::Cancelled { empty: true }
            );
        }
    }

    fn try_msg(txn: TxnId, finished_below: TxnId) -> Msg {
        Msg::Try {
            txn,
            ops: debit(),
            finished_below,
        }
    }

    fn confirm_msg(txn: TxnId, finished_below: TxnId) -> Msg {
        Msg::Confirm {
            txn,
            ops: debit(),
            finished_below,
        }
    }

    fn cancel_msg(txn: TxnId, finished_below: TxnId) -> Msg {
        Msg::Cancel {
            txn,
            ops: debit(),
            finished_below,
        }
    }

    #[test]
    fn below_the_watermark_a_late_try_is_refused_without_its_record() {
        for anti_hanging in [true, false] {
            let mut h = Harness::new(opts(true, true, anti_hanging));
            h.deliver(cancel_msg(1, 0)); // an empty rollback: the Try is late
            assert!(h.durable.fences.contains_key(&1));
            // The next fence write carries the watermark: txn 1 is finished here.
            h.deliver(try_msg(5, 2));
            assert_eq!(h.durable.finished_below, 2);
            assert!(!h.durable.fences.contains_key(&1), "purged with the write");
            assert_eq!((h.balance(0), h.durable.reserved()), (70, 30));
            // The late Try carries the watermark of its own time (0).
            let late = h.deliver(try_msg(1, 0));
            if anti_hanging {
                assert_eq!(tried_ok(&late), Some(false));
                assert!(saw(&late, TccEvent::LateTryRefused));
                assert_eq!((h.balance(0), h.durable.reserved()), (70, 30));
            } else {
                assert_eq!(tried_ok(&late), Some(true));
                assert!(saw(&late, TccEvent::HangingReservation));
                assert_eq!((h.balance(0), h.durable.reserved()), (40, 60));
            }
        }
    }

    #[test]
    fn below_the_watermark_a_repeat_is_ignored_or_without_idempotency_applied_again() {
        for idempotency in [true, false] {
            let mut h = Harness::new(opts(idempotency, true, true));
            h.deliver(try_msg(1, 0));
            h.deliver(confirm_msg(1, 0));
            h.deliver(try_msg(2, 0));
            h.deliver(cancel_msg(2, 0));
            assert_eq!(h.balance(0), 70);
            h.deliver(try_msg(5, 3)); // purges 1 and 2
            assert!(h.durable.fences.keys().eq([5].iter()));
            assert_eq!(h.balance(0), 40);
            let confirm = h.deliver(confirm_msg(1, 0));
            let cancel = h.deliver(cancel_msg(2, 0));
            if idempotency {
                assert!(saw(&confirm, TccEvent::DuplicateIgnored));
                assert!(saw(&cancel, TccEvent::DuplicateIgnored));
                assert_eq!(h.balance(0), 40);
            } else {
                // As with the record: the Confirm deducts again, the Cancel returns
                // a reservation again.
                assert!(saw(&confirm, TccEvent::DuplicateApplied));
                assert!(saw(&cancel, TccEvent::DuplicateApplied));
                assert_eq!(h.balance(0), 40);
                assert_eq!(h.durable.ledger.total(), 200 - 30 - 30 + 30 - 30);
            }
            assert!(
                !saw(&cancel, TccEvent::EmptyRollbackRecorded),
                "not mistaken for a first Cancel"
            );
            assert!(!h.durable.fences.contains_key(&2), "no record comes back");
        }
    }

    #[test]
    fn a_participant_keeps_its_highest_watermark_and_every_reservation() {
        let mut h = Harness::new(opts(true, true, false));
        h.deliver(cancel_msg(1, 0));
        h.deliver(try_msg(1, 0)); // guard off: txn 1 hangs, tried after its Cancel
        h.deliver(try_msg(2, 0));
        h.deliver(confirm_msg(2, 0));
        h.deliver(try_msg(7, 5));
        assert_eq!(h.durable.finished_below, 5);
        assert_eq!(
            h.durable.fences.keys().copied().collect::<Vec<_>>(),
            [1, 7],
            "a reservation still held is money, not a control record"
        );
        // A restarted coordinator sends a lower watermark: it changes nothing.
        h.deliver(try_msg(8, 1));
        assert_eq!(h.durable.finished_below, 5);
        let late = h.deliver(confirm_msg(2, 1));
        assert!(
            saw(&late, TccEvent::DuplicateIgnored),
            "still known finished"
        );
        // The hanging reservation can still be released by a copy of its Cancel.
        h.deliver(cancel_msg(1, 1));
        assert_eq!(
            h.durable.fences[&1].state,
            BranchState::Cancelled { empty: false }
        );
    }

    #[test]
    fn a_time_based_purge_forgets_and_a_later_try_hangs_unnoticed() {
        let mut o = opts(true, true, true);
        o.fence_purge = FencePurge::AfterUs(100);
        let mut h = Harness::new(o);
        h.deliver(cancel_msg(1, 0));
        h.now_us = 200;
        h.deliver(try_msg(2, 0)); // a write: the clean task deletes txn 1's record
        assert!(!h.durable.fences.contains_key(&1));
        let late = h.deliver(try_msg(1, 0));
        assert_eq!(tried_ok(&late), Some(true), "nothing says it is over");
        assert!(!saw(&late, TccEvent::LateTryRefused));
        assert!(
            !saw(&late, TccEvent::HangingReservation),
            "and nobody counts it"
        );
        assert_eq!(h.durable.reserved(), 60);
    }

    /// A coordinator and what it sends.
    fn tm_deliver(
        node: &mut TccNode,
        d: &mut Durable,
        from: NodeId,
        msg: Msg,
    ) -> Vec<Command<TccNode>> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(0, TM, d, &mut rng, &mut out);
        node.on_message(from, msg, &mut ctx);
        out
    }

    fn request(txn: TxnId) -> Msg {
        use crate::workload::Op;
        Msg::Request(TxnRequest {
            txn,
            ops: vec![
                Op {
                    shard: 0,
                    key: 0,
                    delta: -5,
                },
                Op {
                    shard: 1,
                    key: 0,
                    delta: 5,
                },
            ],
        })
    }

    fn sent(out: &[Command<TccNode>]) -> Vec<(NodeId, Msg)> {
        out.iter()
            .filter_map(|c| match c {
                Command::Send { to, msg, .. } => Some((*to, msg.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_coordinator_begins_nothing_below_its_front_and_sends_each_participant_its_watermark() {
        let (rm1, rm2, client) = (NodeId(1), NodeId(2), NodeId(9));
        let mut tm = TccNode::tm(vec![rm1, rm2], opts(true, true, true));
        let mut d = TccNode::tm_durable();
        d.admission.reserved_to = 10_000;
        let tries = |out: &[Command<TccNode>]| -> Vec<TxnId> {
            sent(out)
                .iter()
                .filter_map(|(_, m)| match m {
                    Msg::Try { finished_below, .. } => Some(*finished_below),
                    _ => None,
                })
                .collect()
        };
        let out = tm_deliver(&mut tm, &mut d, client, request(100));
        assert_eq!(tries(&out), [0, 0]);
        // Far ahead: the front moves to 151; txn 100, still trying, holds the
        // watermarks at 100.
        let top = 100 + watermark::DEFAULT_LAG_IDS + 50;
        let out = tm_deliver(&mut tm, &mut d, client, request(top));
        assert_eq!(tries(&out), [100, 100]);
        let out = tm_deliver(&mut tm, &mut d, client, request(3));
        assert_eq!(
            sent(&out),
            [(client, Msg::Stale { txn: 3, floor: 151 })],
            "below the front: refused, not begun"
        );
        assert!(!d.globals.contains_key(&3));
        // Txn 100 times out and is cancelled; rm1 acknowledges, rm2 not yet: it is
        // finished for rm1 only, whose watermark moves on to the front.
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(0, TM, &mut d, &mut rng, &mut out);
        tm.on_timer(Timer::TryTimeout(100), &mut ctx);
        tm_deliver(&mut tm, &mut d, rm1, Msg::Done { txn: 100 });
        let TccNode::Tm(t) = &tm else {
            unreachable!("built as a coordinator")
        };
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let ctx = Ctx::new(0, TM, &mut d, &mut rng, &mut out);
        assert_eq!(t.finished_below(rm1, &ctx), 151);
        assert_eq!(t.finished_below(rm2, &ctx), 100);
        // A restart: the acknowledgement is forgotten (rm1 keeps its own, higher
        // watermark), and the front becomes the admission floor.
        let mut tm = TccNode::tm(vec![rm1, rm2], opts(true, true, true));
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(0, TM, &mut d, &mut rng, &mut out);
        tm.on_recover(&mut ctx);
        let TccNode::Tm(t) = &tm else {
            unreachable!("built as a coordinator")
        };
        assert_eq!(
            t.front(&ctx),
            10_000,
            "the floor: above everything reserved"
        );
        assert_eq!(t.finished_below(rm1, &ctx), 100);
    }
}
