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

use crate::idmap::{Recall, RecentIds};
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation, RepairClass, TccEvent};
use crate::store::{Ledger, ShardOps};
use crate::workload::{Admission, AdmissionLog, AdmittingWorld};
use crate::workload::{Client, ClientTimer, ClientWorld, TxnRequest};
use std::collections::BTreeMap;

/// TCC's options (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TccOptions {
    pub try_timeout_us: u64,
    pub retry_us: u64,
    pub idempotency: bool,
    pub empty_rollback_guard: bool,
    pub anti_hanging: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → coordinator.
    Request(TxnRequest),
    /// Coordinator (or the participant of a one-shard transaction) → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// Coordinator → participant: reserve.
    Try { txn: TxnId, ops: ShardOps },
    /// Participant → coordinator: reserved (`ok`) or not.
    Tried { txn: TxnId, ok: bool },
    /// Coordinator → participant: consume the reservation, apply the credits. Carries
    /// the branch's changes, as a TCC framework passes the business context to the
    /// confirm method.
    Confirm { txn: TxnId, ops: ShardOps },
    /// Coordinator → participant: return the reservation.
    Cancel { txn: TxnId, ops: ShardOps },
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

/// A participant's durable control record of one branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fence {
    pub state: BranchState,
    pub ops: ShardOps,
    pub tried_at_us: u64,
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
    /// Participant: the fence, one record per branch. Kept for the whole run (a real
    /// system purges old records after days).
    pub fences: BTreeMap<TxnId, Fence>,
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
            retry_armed: false,
        })
    }

    pub fn rm(tm: NodeId, opts: TccOptions) -> Self {
        TccNode::Rm(Rm { tm, opts })
    }

    /// The durable store the coordinator starts with.
    pub fn tm_durable() -> Durable {
        Durable {
            admission: AdmissionLog::installed(),
            ..Durable::default()
        }
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

impl ClientWorld for TccNode {
    fn request_msg(req: TxnRequest) -> Msg {
        Msg::Request(req)
    }
    fn client_timer(t: ClientTimer) -> Timer {
        Timer::Client(t)
    }
    fn watermark(d: &Durable) -> u64 {
        d.txn_watermark
    }
    fn set_watermark(d: &mut Durable, to: u64) {
        d.txn_watermark = to;
    }
}

impl AdmittingWorld for TccNode {
    fn admission_log(d: &Durable) -> &AdmissionLog {
        &d.admission
    }
    fn set_admission_log(d: &mut Durable, log: AdmissionLog) {
        d.admission = log;
    }
    fn reply_msg(txn: TxnId, outcome: Outcome) -> Msg {
        Msg::Reply { txn, outcome }
    }
    fn stale_msg(txn: TxnId, floor: TxnId) -> Msg {
        Msg::Stale { txn, floor }
    }
}

impl Node for TccNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let TccNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            TccNode::Client(c) => match msg {
                Msg::Reply { txn, outcome } => c.on_reply(txn, outcome, ctx),
                Msg::Stale { txn, floor } => c.on_stale(txn, floor, ctx),
                _ => {}
            },
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
        for (rm, ops) in branches {
            ctx.send(rm, Msg::Try { txn, ops });
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
            ctx.send(rm, phase_two_msg(txn, confirm, ops));
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
                    ctx.send(rm, phase_two_msg(txn, confirm, ops));
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

fn phase_two_msg(txn: TxnId, confirm: bool, ops: ShardOps) -> Msg {
    if confirm {
        Msg::Confirm { txn, ops }
    } else {
        Msg::Cancel { txn, ops }
    }
}

impl Rm {
    fn on_message(&mut self, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Try { txn, ops } => self.try_(txn, ops, ctx),
            Msg::Confirm { txn, ops } => self.confirm(txn, ops, ctx),
            Msg::Cancel { txn, ops } => self.cancel(txn, ops, ctx),
            Msg::Local { txn, ops, client } => self.local(txn, ops, client, ctx),
            _ => {}
        }
    }

    fn try_(&mut self, txn: TxnId, ops: ShardOps, ctx: &mut C<'_>) {
        let tm = self.tm;
        let hanging = match ctx.durable().fences.get(&txn).map(|f| f.state) {
            // A repeated Try gets the first answer, whatever the balance is now.
            Some(BranchState::Tried | BranchState::Confirmed) => {
                ctx.send(tm, Msg::Tried { txn, ok: true });
                return;
            }
            Some(BranchState::Refused) => {
                ctx.send(tm, Msg::Tried { txn, ok: false });
                return;
            }
            Some(BranchState::Cancelled { .. }) if self.opts.anti_hanging => {
                ctx.observe(Observation::Tcc {
                    txn,
                    event: TccEvent::LateTryRefused,
                });
                ctx.send(tm, Msg::Tried { txn, ok: false });
                return;
            }
            Some(BranchState::Cancelled { .. }) => true,
            None => false,
        };
        let reserve = debit_ops(&ops);
        let now = ctx.now_us();
        if !ctx.durable().ledger.can_apply(&reserve) {
            // Refused: the local transaction reserves nothing. Its answer is recorded
            // (the no may be lost, and a repeated Try must not say yes once funds
            // come back). The branch is final here: aborted, never to be confirmed.
            // A Try arriving after its Cancel (anti-hanging off) leaves the Cancel's
            // record in place: that branch was aborted already.
            if !hanging {
                ctx.persist(|d| {
                    d.fences.insert(
                        txn,
                        Fence {
                            state: BranchState::Refused,
                            ops,
                            tried_at_us: now,
                        },
                    )
                });
                ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
            }
            ctx.send(tm, Msg::Tried { txn, ok: false });
            return;
        }
        ctx.persist(|d| {
            d.ledger.apply(&reserve);
            d.fences.insert(
                txn,
                Fence {
                    state: BranchState::Tried,
                    ops,
                    tried_at_us: now,
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

    fn confirm(&mut self, txn: TxnId, ops: ShardOps, ctx: &mut C<'_>) {
        let fence = ctx.durable().fences.get(&txn).cloned();
        match fence.map(|f| (f.state, f)) {
            Some((BranchState::Tried, f)) => {
                // The reservation is consumed; the credits are applied.
                ctx.persist(|d| {
                    for o in f.ops.as_slice().iter().filter(|o| o.delta > 0) {
                        d.ledger.add(o.key, o.delta);
                    }
                    if let Some(r) = d.fences.get_mut(&txn) {
                        r.state = BranchState::Confirmed;
                    }
                });
                self.applied(txn, &f, Outcome::Commit, ctx);
            }
            Some((BranchState::Confirmed, _)) => self.repeated(txn, &ops, ctx),
            // Never tried, or cancelled: the coordinator never confirms such a branch.
            _ => {}
        }
        ctx.send(self.tm, Msg::Done { txn });
    }

    fn cancel(&mut self, txn: TxnId, ops: ShardOps, ctx: &mut C<'_>) {
        let fence = ctx.durable().fences.get(&txn).cloned();
        let refused = fence.as_ref().map(|f| f.state) == Some(BranchState::Refused);
        match fence.map(|f| (f.state, f)) {
            Some((BranchState::Tried, f)) => {
                ctx.persist(|d| {
                    release(&mut d.ledger, &f.ops);
                    if let Some(r) = d.fences.get_mut(&txn) {
                        r.state = BranchState::Cancelled { empty: false };
                    }
                });
                self.applied(txn, &f, Outcome::Abort, ctx);
            }
            Some((BranchState::Cancelled { .. }, _)) => self.repeated(txn, &ops, ctx),
            Some((BranchState::Confirmed, _)) => {} // never happens: decided once
            Some((BranchState::Refused, _)) | None => {
                // An empty rollback: the Try never arrived (lost, late), or it was
                // refused and reserved nothing (Seata: a failed Try left no
                // reservation, so its Cancel has nothing to return).
                let guard = self.opts.empty_rollback_guard;
                let now = ctx.now_us();
                ctx.persist(|d| {
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

    /// A Confirm or Cancel the fence says was done already.
    fn repeated(&mut self, txn: TxnId, ops: &ShardOps, ctx: &mut C<'_>) {
        if self.opts.idempotency {
            ctx.observe(Observation::Tcc {
                txn,
                event: TccEvent::DuplicateIgnored,
            });
            return;
        }
        // Without the guard the business method runs again: a Confirm deducts (and
        // credits) once more, a Cancel returns the reservation once more.
        let confirmed = ctx
            .durable()
            .fences
            .get(&txn)
            .is_some_and(|f| f.state == BranchState::Confirmed);
        ctx.persist(|d| {
            if confirmed {
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
        match ctx.durable().local_done.recall(txn) {
            Recall::Seen => return, // a duplicated message
            Recall::Forgotten => {
                // Too old to tell whether it was applied: never twice, never silently.
                ctx.send(
                    client,
                    Msg::Stale {
                        txn,
                        floor: txn + 1,
                    },
                );
                return;
            }
            Recall::Unseen => {}
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

    const TM: NodeId = NodeId(0);

    fn opts(idempotency: bool, empty_rollback_guard: bool, anti_hanging: bool) -> TccOptions {
        TccOptions {
            try_timeout_us: 1000,
            retry_us: 1000,
            idempotency,
            empty_rollback_guard,
            anti_hanging,
        }
    }

    /// A participant holding two accounts of 100, and what it sends and observes.
    struct Harness {
        node: TccNode,
        durable: Durable,
        rng: crate::rng::StreamRng,
    }

    impl Harness {
        fn new(o: TccOptions) -> Self {
            Harness {
                node: TccNode::rm(TM, o),
                durable: TccNode::rm_durable(Ledger::new(2, 100)),
                rng: crate::rng::stream(1, "test"),
            }
        }

        fn deliver(&mut self, msg: Msg) -> Vec<Command<TccNode>> {
            let mut out = Vec::new();
            let mut ctx = Ctx::new(10, NodeId(1), &mut self.durable, &mut self.rng, &mut out);
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
                    ops: debit()
                })),
                Some(true)
            );
            assert_eq!(h.balance(0), 70, "reserved out of the available balance");
            assert_eq!(h.durable.reserved(), 30);
            h.deliver(Msg::Confirm {
                txn: 1,
                ops: debit(),
            });
            assert_eq!((h.balance(0), h.durable.reserved()), (70, 0));
            let again = h.deliver(Msg::Confirm {
                txn: 1,
                ops: debit(),
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
        });
        assert!(saw(&out, TccEvent::EmptyRollbackRecorded));
        assert_eq!(h.balance(0), 100, "nothing was reserved, nothing returns");
        let late = h.deliver(Msg::Try {
            txn: 1,
            ops: debit(),
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
        });
        let late = h.deliver(Msg::Try {
            txn: 1,
            ops: debit(),
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
            let out = h.deliver(Msg::Try { txn: 1, ops: big });
            assert_eq!(tried_ok(&out), Some(false));
            assert_eq!(h.durable.fences[&1].state, BranchState::Refused);
            assert_eq!((h.balance(0), h.durable.reserved()), (100, 0));
            // The funds come back (another transaction credits account 0)...
            h.durable.ledger.add(0, 100);
            // ...and a copy of the same Try arrives: it gets the first answer.
            let again = h.deliver(Msg::Try { txn: 1, ops: big });
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
            let cancel = h.deliver(Msg::Cancel { txn: 1, ops: big });
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
}
