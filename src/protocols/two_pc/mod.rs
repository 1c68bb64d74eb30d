//! Two-phase commit, as in Gray & Lamport, "Consensus on Transaction Commit" (2006),
//! §3, with the presumed-abort optimisation (Mohan, Lindsay & Obermarck, 1986).
//!
//! - The TM sends Prepare to every RM. An RM that can do its part locks the keys,
//!   **durably records prepared** (with its changes) and votes yes; from then on it is
//!   *in doubt* and holds its locks until it learns the outcome.
//! - With every vote yes the TM **durably records Commit before sending it**, then
//!   resends it until every RM acknowledges, and only then forgets the transaction.
//!   A no vote or a vote timeout makes the TM abort. Aborts are never logged nor
//!   acknowledged: a TM that knows nothing of a transaction answers "abort"
//!   (presumed abort).
//! - In-doubt RMs keep asking the TM. A TM that recovers resends the Commit decisions
//!   its log still holds.
//!
//! The RM's vote, its application of an outcome and its one-shard transactions are
//! the locking participant 2PC shares with 3PC ([`super::locking_rm`], where the
//! rules are spelled out); the TM's resending of Commit is [`super::commit_acks`].
//! This module holds the rest: the TM's votes and decisions, the in-doubt RM's
//! inquiries, the standby and the variants below.
//!
//! Variants that teach (scenario options):
//! - `cooperative_termination`: in-doubt RMs also ask each other; a peer that knows
//!   the outcome tells it, a peer that never voted yes promises never to (a durable
//!   tombstone) and so makes abort safe. If every peer is in doubt too, they block.
//! - `standby_tm`: a standby TM without the old TM's log answers in-doubt RMs by
//!   polling the participants, with the same rule: it can abort only if some RM has
//!   not voted yes, else it blocks — 2PC's single point of failure.
//! - `rm_abort_on_timeout` (unsafe): an RM in doubt for too long aborts on its own.
//! - `no_decision_retry` (unsafe): the TM sends Commit once and forgets it at once, so
//!   an RM that missed it is later told "abort" by presumption: partial commit.
//! - `heuristic` (unsafe: it trades atomicity for availability): X/Open XA's
//!   heuristic decision — an RM in doubt for an operator-set time commits or rolls
//!   back on its own and reports it to the TM ([`heuristic`]).
//!
//! In X/Open DTP's terms (*Distributed Transaction Processing: The XA
//! Specification*, X/Open CAE C193, 1991) the client is the application program
//! (AP), the TM the transaction manager, each RM a resource manager; the messages are
//! the XA verbs: Prepare is `xa_prepare`, a Commit or Abort Decision `xa_commit` or
//! `xa_rollback`, an RM's Inquiry its part of `xa_recover`, Forget `xa_forget`
//! (`book/src/two-phase-commit.md` has the table).

pub mod build;
pub mod heuristic;

use super::commit_acks::CommitAcks;
use super::locking_rm::{self, RmLog};

use crate::idmap::{IdMap, Recall};
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::store::{LockTable, ShardOps};
use crate::workload::{Admission, AdmissionLog};
use crate::workload::{Client, ClientTimer, TxnRequest};

/// Options of the 2PC family (all times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TwoPcOptions {
    pub vote_timeout_us: u64,
    pub decision_retry_us: u64,
    pub inquiry_interval_us: u64,
    pub cooperative_termination: bool,
    pub standby_tm: bool,
    /// `Some(t)`: the unsafe variant in which an RM aborts after `t` in doubt.
    pub rm_abort_timeout_us: Option<u64>,
    pub no_decision_retry: bool,
    /// Answer the client only once every RM acknowledged Commit (the benchmark's
    /// definition of a finished transaction) instead of at the decision.
    pub answer_client_after_acks: bool,
    /// `Some`: XA's heuristic decision ([`heuristic`]), off by default.
    pub heuristic: Option<heuristic::Heuristic>,
}

/// What a node knows of a transaction's fate, as told to an inquirer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Status {
    Committed,
    /// Aborted, or never voted yes and now never will.
    Aborted,
    /// Voted yes, outcome unknown.
    InDoubt,
    /// Too old for this node's window of outcomes: it cannot tell (and will not guess).
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → TM.
    Request(TxnRequest),
    /// TM (or the RM of a local transaction) → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// TM → RM: phase 1.
    Prepare {
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
    },
    /// RM → TM.
    Vote { txn: TxnId, yes: bool },
    /// TM → RM: phase 2.
    Decision { txn: TxnId, outcome: Outcome },
    /// RM → TM: commit applied.
    Ack { txn: TxnId },
    /// TM → RM: a transaction on this shard only (one-phase, no 2PC needed).
    Local {
        txn: TxnId,
        ops: ShardOps,
        client: NodeId,
    },
    /// RM → TM / standby / peer RM: what became of `txn`?
    Inquiry { txn: TxnId, participants: NodeSet },
    /// The answer to an inquiry.
    Status { txn: TxnId, status: Status },
    /// TM → client: a request it may have begun before a restart; use ids from `floor`.
    Stale { txn: TxnId, floor: TxnId },
    /// RM → TM: the branch was completed heuristically — XA's answer `XA_HEURCOM`
    /// or `XA_HEURRB` (`heuristic`) to the TM's `xa_commit` or `xa_rollback`
    /// (`decision`). Stands for the Commit's Ack; resent until forgotten.
    Heuristic {
        txn: TxnId,
        decision: Outcome,
        heuristic: Outcome,
    },
    /// TM → RM: `xa_forget`: the TM logged the heuristic outcome; the RM may discard
    /// its own record of it.
    Forget { txn: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::Prepare { txn, .. } => Some(*txn),
            Msg::Vote { txn, .. } => Some(*txn),
            Msg::Decision { txn, .. } => Some(*txn),
            Msg::Ack { txn, .. } => Some(*txn),
            Msg::Local { txn, .. } => Some(*txn),
            Msg::Inquiry { txn, .. } => Some(*txn),
            Msg::Status { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
            Msg::Heuristic { txn, .. } => Some(*txn),
            Msg::Forget { txn } => Some(*txn),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// TM: armed at the earliest vote deadline; aborts every transaction whose votes
    /// are overdue. (All vote timeouts have the same length, so one timer per TM gives
    /// each transaction its exact deadline.)
    VoteTimeouts,
    /// TM: resend Commit to RMs that have not acknowledged.
    DecisionRetry,
    /// RM: ask about transactions in doubt for too long.
    InDoubtScan,
    /// Standby: poll participants again about `txn`.
    Termination(TxnId),
}

/// An RM's durable record of a prepared transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreparedRec {
    pub ops: ShardOps,
    pub participants: NodeSet,
    pub prepared_at_us: u64,
}

/// Everything any 2PC node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// TM: Commit decisions not yet acknowledged by all participants.
    pub commits: IdMap<NodeSet>,
    /// TM: which request ids it may have begun (so none is begun twice).
    pub admission: AdmissionLog,
    /// RM: balances, prepared (in-doubt) transactions, a window of outcomes and
    /// promises (see [`super::locking_rm`]).
    pub rm: RmLog<PreparedRec>,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
    /// RM: its heuristic decisions the TM has not yet forgotten (XA's heuristic log).
    pub heuristic_log: IdMap<heuristic::HeuristicRec>,
    /// TM: the heuristic outcomes reported to it, by transaction: the RMs that
    /// reported one (the operator's record; a repeated report is not counted again).
    pub heuristic_reports: IdMap<NodeSet>,
}

/// The coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tm {
    rms: Vec<NodeId>,
    opts: TwoPcOptions,
    /// Collecting votes.
    voting: IdMap<Voting>,
    /// Committed, waiting for acknowledgements (Commit resent until they are in).
    acks: CommitAcks<Timer>,
    /// `answer_client_after_acks`: the clients answered once every ack is in.
    answer_after_acks: IdMap<NodeId>,
    /// Requests begun in this incarnation (with the durable floor: never begun twice).
    admission: Admission,
    /// When the vote-timeout timer is set to fire, if it is.
    vote_timer_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Voting {
    participants: NodeSet,
    yes: NodeSet,
    client: NodeId,
    deadline_us: u64,
}

/// A resource manager: one shard of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rm {
    tm: NodeId,
    standby: Option<NodeId>,
    opts: TwoPcOptions,
    locks: LockTable,
    /// Volatile view of the in-doubt transactions: when we last asked about each.
    asked_at: IdMap<u64>,
    scan_armed: bool,
}

/// The standby coordinator (no access to the TM's log).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Standby {
    opts: TwoPcOptions,
    /// Transactions it is trying to terminate: their participants.
    terminating: IdMap<NodeSet>,
}

/// Every role of a 2PC world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TwoPcNode {
    Client(Client),
    Tm(Tm),
    Rm(Rm),
    Standby(Standby),
}

impl TwoPcNode {
    pub fn tm(rms: Vec<NodeId>, opts: TwoPcOptions) -> Self {
        TwoPcNode::Tm(Tm {
            rms,
            acks: CommitAcks::new(Timer::DecisionRetry, opts.decision_retry_us),
            opts,
            voting: IdMap::new(),
            answer_after_acks: IdMap::new(),
            admission: Admission::default(),
            vote_timer_at: None,
        })
    }

    pub fn rm(tm: NodeId, standby: Option<NodeId>, accounts: u32, opts: TwoPcOptions) -> Self {
        TwoPcNode::Rm(Rm {
            tm,
            standby,
            opts,
            locks: LockTable::new(accounts),
            asked_at: IdMap::new(),
            scan_armed: false,
        })
    }

    pub fn standby(opts: TwoPcOptions) -> Self {
        TwoPcNode::Standby(Standby {
            opts,
            terminating: IdMap::new(),
        })
    }
}

type C<'a> = Ctx<'a, TwoPcNode>;

// The client, and the coordinator's admission of its requests (see
// [`super::coordinated`]).
client_world! { node: TwoPcNode, msg: Msg, timer: Timer, durable: Durable }
admitting_world! { node: TwoPcNode, msg: Msg, durable: Durable }
// The participants: locking RMs (see [`super::locking_rm`]).
locking_world! {
    node: TwoPcNode, msg: Msg, phase_one: Prepare, durable: Durable, prepared: PreparedRec
}

impl Node for TwoPcNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let TwoPcNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            TwoPcNode::Client(c) => c.on_message(msg, ctx),
            TwoPcNode::Tm(tm) => tm.on_message(from, msg, ctx),
            TwoPcNode::Rm(rm) => rm.on_message(from, msg, ctx),
            TwoPcNode::Standby(s) => s.on_message(msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (TwoPcNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (TwoPcNode::Tm(tm), Timer::VoteTimeouts) => tm.vote_timeouts(ctx),
            (TwoPcNode::Tm(tm), Timer::DecisionRetry) => tm.acks.resend(ctx),
            (TwoPcNode::Rm(rm), Timer::InDoubtScan) => rm.scan(ctx),
            (TwoPcNode::Standby(s), Timer::Termination(txn)) => s.poll(txn, ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            TwoPcNode::Client(c) => c.on_recover(ctx),
            TwoPcNode::Tm(tm) => tm.recover(ctx),
            TwoPcNode::Rm(rm) => rm.recover(ctx),
            TwoPcNode::Standby(_) => {}
        }
    }

    fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        if let TwoPcNode::Rm(rm) = self {
            locking_rm::audit(&d.rm, &rm.locks, now_us, out);
        }
    }
}

impl Tm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Request(req) => self.begin(from, req, ctx),
            Msg::Vote { txn, yes } => {
                let Some(v) = self.voting.get_mut(&txn) else {
                    return; // late vote: already decided
                };
                if !yes {
                    self.abort(txn, ctx);
                    return;
                }
                v.yes.insert(from);
                if v.yes == v.participants {
                    self.commit(txn, ctx);
                }
            }
            Msg::Ack { txn } => self.acknowledged(txn, from, ctx),
            Msg::Heuristic {
                txn,
                decision,
                heuristic,
            } => self.heuristic_outcome(from, txn, decision, heuristic, ctx),
            Msg::Inquiry { txn, .. } => {
                let status = if ctx.durable().commits.contains_key(&txn) {
                    Status::Committed
                } else if self.voting.contains_key(&txn) {
                    return; // still collecting votes: the RM will ask again
                } else {
                    Status::Aborted // presumed abort
                };
                ctx.send(from, Msg::Status { txn, status });
            }
            _ => {}
        }
    }

    /// `from` applied Commit of `txn`: the last acknowledgement ends it.
    fn acknowledged(&mut self, txn: TxnId, from: NodeId, ctx: &mut C<'_>) {
        if !self.acks.ack(txn, from) {
            return; // others still owe theirs
        }
        if let Some(client) = self.answer_after_acks.remove(&txn) {
            ctx.send(
                client,
                Msg::Reply {
                    txn,
                    outcome: Outcome::Commit,
                },
            );
        }
        ctx.persist(|d| d.commits.remove(&txn));
        ctx.observe(Observation::Finished { txn });
    }

    fn begin(&mut self, client: NodeId, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        // A stale copy is answered from what the log knows: a Commit still being
        // acknowledged is definite; anything else is unknown to this incarnation.
        let known = ctx
            .durable()
            .commits
            .contains_key(&txn)
            .then_some(Outcome::Commit);
        // Admitted once; one shard: the RM commits at once, no 2PC needed.
        let (admission, rms) = (&mut self.admission, &self.rms);
        let Some(participants) = locking_rm::begin(admission, rms, client, req, known, ctx) else {
            return;
        };
        let deadline_us = ctx.now_us() + self.opts.vote_timeout_us;
        self.voting.insert(
            txn,
            Voting {
                participants,
                yes: NodeSet::new(),
                client,
                deadline_us,
            },
        );
        if self.vote_timer_at.is_none() {
            self.arm_vote_timer(deadline_us, ctx);
        }
    }

    fn arm_vote_timer(&mut self, at_us: u64, ctx: &mut C<'_>) {
        self.vote_timer_at = Some(at_us);
        ctx.set_timer(Timer::VoteTimeouts, at_us.saturating_sub(ctx.now_us()));
    }

    fn disarm_vote_timer_if_idle(&mut self, ctx: &mut C<'_>) {
        if self.voting.is_empty() && self.vote_timer_at.take().is_some() {
            ctx.cancel_timer(Timer::VoteTimeouts);
        }
    }

    /// Aborts every transaction whose votes are overdue; re-arms for the next.
    fn vote_timeouts(&mut self, ctx: &mut C<'_>) {
        self.vote_timer_at = None;
        let now = ctx.now_us();
        let overdue: Vec<TxnId> = self
            .voting
            .iter()
            .filter(|(_, v)| v.deadline_us <= now)
            .map(|(t, _)| t)
            .collect();
        for txn in overdue {
            self.abort(txn, ctx);
        }
        if let Some(next) = self.voting.iter().map(|(_, v)| v.deadline_us).min() {
            self.arm_vote_timer(next, ctx);
        }
    }

    fn commit(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.voting.remove(&txn) else {
            return;
        };
        self.disarm_vote_timer_if_idle(ctx);
        // The decision is durable before anyone hears of it.
        ctx.persist(|d| d.commits.insert(txn, v.participants));
        ctx.observe(Observation::Decided {
            txn,
            outcome: Outcome::Commit,
        });
        for rm in v.participants.iter() {
            ctx.send(
                rm,
                Msg::Decision {
                    txn,
                    outcome: Outcome::Commit,
                },
            );
        }
        let wait_for_acks = self.opts.answer_client_after_acks && !self.opts.no_decision_retry;
        if !wait_for_acks {
            ctx.send(
                v.client,
                Msg::Reply {
                    txn,
                    outcome: Outcome::Commit,
                },
            );
        }
        if self.opts.no_decision_retry {
            // Unsafe: forget at once; a later inquiry is answered "abort".
            ctx.persist(|d| d.commits.remove(&txn));
            ctx.observe(Observation::Finished { txn });
            return;
        }
        if wait_for_acks {
            self.answer_after_acks.insert(txn, v.client);
        }
        self.acks.sent(txn, v.participants, ctx);
    }

    /// Presumed abort: nothing is logged and nobody acknowledges.
    fn abort(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.voting.remove(&txn) else {
            return;
        };
        self.disarm_vote_timer_if_idle(ctx);
        ctx.observe(Observation::Decided {
            txn,
            outcome: Outcome::Abort,
        });
        for rm in v.participants.iter() {
            ctx.send(
                rm,
                Msg::Decision {
                    txn,
                    outcome: Outcome::Abort,
                },
            );
        }
        ctx.send(
            v.client,
            Msg::Reply {
                txn,
                outcome: Outcome::Abort,
            },
        );
        ctx.observe(Observation::Finished { txn });
    }

    /// Resend every Commit the log still holds; undecided transactions are forgotten
    /// and thereby aborted by presumption — and never begun again: requests this
    /// incarnation cannot place are answered stale.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let logged: Vec<TxnId> = ctx.durable().commits.keys().collect();
        self.admission.recover(logged, ctx);
        for (txn, &participants) in ctx.durable().commits.iter() {
            self.acks.recovered(txn, participants);
        }
        self.acks.resend(ctx);
    }
}

impl Rm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Prepare {
                txn,
                ops,
                participants,
            } => self.prepare(from, txn, ops, participants, ctx),
            Msg::Decision { txn, outcome } => self.learn(txn, outcome, ctx),
            Msg::Status { txn, status } => match status {
                Status::Committed => self.learn(txn, Outcome::Commit, ctx),
                Status::Aborted => self.learn(txn, Outcome::Abort, ctx),
                Status::InDoubt | Status::Unknown => {}
            },
            Msg::Inquiry { txn, .. } => {
                let status = self.status_for_inquirer(txn, ctx);
                ctx.send(from, Msg::Status { txn, status });
            }
            Msg::Local { txn, ops, client } => {
                locking_rm::local(&mut self.locks, txn, ops, client, ctx)
            }
            Msg::Forget { txn } => self.forget(txn, ctx),
            _ => {}
        }
    }

    /// Phase 1: the vote of the locking participant ([`locking_rm::vote`]); a yes
    /// leaves it in doubt, asking about the outcome every inquiry interval.
    fn prepare(
        &mut self,
        tm: NodeId,
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let now = ctx.now_us();
        let rec = PreparedRec {
            ops,
            participants,
            prepared_at_us: now,
        };
        if locking_rm::vote(&mut self.locks, tm, txn, rec, ctx) {
            self.asked_at.insert(txn, now);
            self.arm_scan(ctx);
        }
    }

    /// Applies the outcome of `txn` (idempotent; [`locking_rm::learn`]). A Commit for
    /// a transaction no longer prepared here was applied already (or, in an unsafe
    /// variant, aborted on its own): it is acknowledged all the same. One this RM
    /// completed heuristically is answered with its heuristic outcome instead.
    fn learn(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        // (Only an RM with the option has a heuristic log: skip the lookup otherwise.)
        if self.opts.heuristic.is_some() && self.report_heuristic(txn, Some(outcome), ctx) {
            return;
        }
        locking_rm::learn(self.tm, txn, outcome, ctx, |ctx| {
            self.finish(txn, outcome, ctx)
        });
    }

    /// No more inquiries about `txn`: its outcome is applied.
    fn finish(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        self.asked_at.remove(&txn);
        locking_rm::apply(&mut self.locks, txn, outcome, ctx);
    }

    /// What this RM tells a peer or the standby. Saying "aborted" about a transaction
    /// it never voted yes on is a promise, so it is made durable first. Its memory of
    /// outcomes is a window (flat in transactions): about a transaction older than it,
    /// the RM says it does not know — the TM's log does, until every Ack is in, and
    /// nobody is in doubt after that — rather than guess.
    ///
    /// A heuristic outcome is this RM's own, not the transaction's: about it (and
    /// about one the TM contradicted, which is in both windows) it does not know.
    fn status_for_inquirer(&mut self, txn: TxnId, ctx: &mut C<'_>) -> Status {
        let d = ctx.durable();
        if d.rm.prepared.contains_key(&txn) {
            return Status::InDoubt;
        }
        if d.heuristic_log.contains_key(&txn) {
            return Status::Unknown;
        }
        match (
            d.rm.recent_commits.recall(txn),
            d.rm.recent_aborts.recall(txn),
        ) {
            (Recall::Seen, Recall::Seen) => Status::Unknown,
            (Recall::Seen, _) => Status::Committed,
            (_, Recall::Seen) => Status::Aborted,
            (Recall::Forgotten, _) | (_, Recall::Forgotten) => Status::Unknown,
            (Recall::Unseen, Recall::Unseen) => {
                if !d.rm.promised.contains(txn) {
                    ctx.persist(|d| d.rm.promised.insert(txn));
                }
                Status::Aborted
            }
        }
    }

    fn arm_scan(&mut self, ctx: &mut C<'_>) {
        if !self.scan_armed && !self.asked_at.is_empty() {
            self.scan_armed = true;
            ctx.set_timer(Timer::InDoubtScan, self.opts.inquiry_interval_us);
        }
    }

    /// Asks about every transaction in doubt for an inquiry interval; in the unsafe
    /// variants, aborts those in doubt for longer than the RM timeout, or decides
    /// heuristically those in doubt for the heuristic time. A heuristic outcome the
    /// TM has not forgotten is asked about, or reported, again.
    fn scan(&mut self, ctx: &mut C<'_>) {
        self.scan_armed = false;
        let now = ctx.now_us();
        let due: Vec<TxnId> = self
            .asked_at
            .iter()
            .filter(|(_, &at)| now >= at + self.opts.inquiry_interval_us)
            .map(|(t, _)| t)
            .collect();
        for txn in due {
            let Some(rec) = ctx.durable().rm.prepared.get(&txn).cloned() else {
                if !self.report_heuristic(txn, None, ctx) {
                    self.asked_at.remove(&txn);
                }
                continue;
            };
            if let Some(limit) = self.opts.rm_abort_timeout_us {
                if now >= rec.prepared_at_us + limit {
                    // Unsafe: deciding alone while the TM may have decided commit.
                    // Said, so that the story does not tell it as a wait that ended
                    // with the TM's outcome.
                    ctx.observe(Observation::DecidedAlone { txn });
                    self.finish(txn, Outcome::Abort, ctx);
                    continue;
                }
            }
            if let Some(h) = self.opts.heuristic {
                if now >= rec.prepared_at_us + h.after_us {
                    self.decide_heuristically(txn, h.decide, ctx);
                    continue;
                }
            }
            self.asked_at.insert(txn, now);
            let inquiry = Msg::Inquiry {
                txn,
                participants: rec.participants,
            };
            ctx.send(self.tm, inquiry.clone());
            if let Some(s) = self.standby {
                ctx.send(s, inquiry.clone());
            }
            if self.opts.cooperative_termination {
                let me = ctx.me();
                for peer in rec.participants.iter().filter(|&p| p != me) {
                    ctx.send(peer, inquiry.clone());
                }
            }
        }
        self.arm_scan(ctx);
    }

    /// Locks of prepared transactions are taken again; they stay in doubt and ask
    /// about their outcome at once, as do heuristic outcomes not yet forgotten.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        let heuristic: Vec<TxnId> = ctx.durable().heuristic_log.keys().collect();
        let prepared = locking_rm::relock(&mut self.locks, ctx);
        for txn in prepared.into_iter().map(|(t, _)| t).chain(heuristic) {
            self.asked_at
                .insert(txn, now.saturating_sub(self.opts.inquiry_interval_us));
        }
        self.arm_scan(ctx);
    }
}

impl Standby {
    fn on_message(&mut self, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Inquiry { txn, participants } if !self.terminating.contains_key(&txn) => {
                self.terminating.insert(txn, participants);
                self.poll(txn, ctx);
            }
            Msg::Status { txn, status } => {
                let Some(&participants) = self.terminating.get(&txn) else {
                    return;
                };
                let outcome = match status {
                    Status::Committed => Outcome::Commit,
                    Status::Aborted => Outcome::Abort,
                    // All in doubt (or too old to tell) so far: blocked.
                    Status::InDoubt | Status::Unknown => return,
                };
                self.terminating.remove(&txn);
                ctx.cancel_timer(Timer::Termination(txn));
                ctx.observe(Observation::Decided { txn, outcome });
                for rm in participants.iter() {
                    ctx.send(rm, Msg::Decision { txn, outcome });
                }
            }
            _ => {}
        }
    }

    /// Asks every participant for its status (again, until one knows or refuses).
    fn poll(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(&participants) = self.terminating.get(&txn) else {
            return;
        };
        for rm in participants.iter() {
            ctx.send(rm, Msg::Inquiry { txn, participants });
        }
        ctx.set_timer(Timer::Termination(txn), self.opts.inquiry_interval_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;
    use crate::workload::{AdmittingWorld, Op};

    /// Every time 1 ms, every variant off.
    pub(super) fn opts() -> TwoPcOptions {
        TwoPcOptions {
            vote_timeout_us: 1000,
            decision_retry_us: 1000,
            inquiry_interval_us: 1000,
            cooperative_termination: false,
            standby_tm: false,
            rm_abort_timeout_us: None,
            no_decision_retry: false,
            answer_client_after_acks: false,
            heuristic: None,
        }
    }

    const CLIENT: NodeId = NodeId(9);

    fn request(txn: TxnId) -> Msg {
        Msg::Request(TxnRequest {
            txn,
            ops: vec![
                Op {
                    shard: 0,
                    key: 0,
                    delta: -1,
                },
                Op {
                    shard: 1,
                    key: 0,
                    delta: 1,
                },
            ],
        })
    }

    /// Delivers `msg` to `node` (node 0) and returns what it sent.
    fn deliver(node: &mut TwoPcNode, d: &mut Durable, msg: Msg) -> Vec<(NodeId, Msg)> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(10, NodeId(0), d, &mut rng, &mut out);
        node.on_message(CLIENT, msg, &mut ctx);
        sends(out)
    }

    fn recover(node: &mut TwoPcNode, d: &mut Durable) {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(20, NodeId(0), d, &mut rng, &mut out);
        node.on_recover(&mut ctx);
    }

    fn sends(out: Vec<Command<TwoPcNode>>) -> Vec<(NodeId, Msg)> {
        out.into_iter()
            .filter_map(|c| match c {
                Command::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect()
    }

    fn fresh_tm() -> TwoPcNode {
        TwoPcNode::tm(vec![NodeId(1), NodeId(2)], opts())
    }

    #[test]
    fn a_restarted_tm_never_begins_an_old_request_again() {
        let mut tm = fresh_tm();
        let mut d = TwoPcNode::tm_durable();
        let first = deliver(&mut tm, &mut d, request(3));
        assert!(matches!(
            first[..],
            [(_, Msg::Prepare { .. }), (_, Msg::Prepare { .. })]
        ));
        assert!(
            deliver(&mut tm, &mut d, request(3)).is_empty(),
            "a copy: ignored"
        );
        // The TM crashes before deciding: a fresh node on the same durable store.
        let mut tm = fresh_tm();
        recover(&mut tm, &mut d);
        let again = deliver(&mut tm, &mut d, request(3));
        assert!(
            matches!(again[..], [(CLIENT, Msg::Stale { txn: 3, floor }) ] if floor > 3),
            "{again:?}"
        );
        // So is a request it never saw, below the floor; the client moves above it.
        assert!(matches!(
            deliver(&mut tm, &mut d, request(4))[..],
            [(CLIENT, Msg::Stale { .. })]
        ));
        let floor = d.admission.floor;
        assert!(matches!(
            deliver(&mut tm, &mut d, request(floor))[..],
            [(_, Msg::Prepare { .. }), (_, Msg::Prepare { .. })]
        ));
    }

    #[test]
    fn a_copy_of_a_committed_request_is_answered_from_the_log() {
        let mut tm = fresh_tm();
        let mut d = TwoPcNode::tm_durable();
        deliver(&mut tm, &mut d, request(5));
        let vote = |tm: &mut TwoPcNode, d: &mut Durable, rm: u32| {
            let mut rng = crate::rng::stream(1, "test");
            let mut out = Vec::new();
            let mut ctx = Ctx::new(10, NodeId(0), d, &mut rng, &mut out);
            tm.on_message(NodeId(rm), Msg::Vote { txn: 5, yes: true }, &mut ctx);
        };
        vote(&mut tm, &mut d, 1);
        vote(&mut tm, &mut d, 2);
        assert!(d.commits.contains_key(&5), "Commit logged, acks pending");
        let mut tm = fresh_tm();
        recover(&mut tm, &mut d);
        let answer = deliver(&mut tm, &mut d, request(5));
        assert!(
            matches!(
                answer[..],
                [(
                    CLIENT,
                    Msg::Reply {
                        txn: 5,
                        outcome: Outcome::Commit
                    }
                )]
            ),
            "{answer:?}"
        );
    }
}

#[cfg(test)]
mod window_tests {
    use super::locking_rm::LockingWorld;
    use super::*;
    use crate::idmap::RecentIds;
    use crate::node::Command;
    use crate::store::{KeyDelta, Ledger};

    /// A one-shard request older than the RM's windows cannot be told from one it
    /// applied: it is refused as stale (the client hears), never applied twice and
    /// never dropped without a word.
    #[test]
    fn a_local_request_older_than_the_windows_is_refused_not_dropped() {
        let opts = TwoPcOptions {
            vote_timeout_us: 1000,
            decision_retry_us: 1000,
            inquiry_interval_us: 1000,
            cooperative_termination: false,
            standby_tm: false,
            rm_abort_timeout_us: None,
            no_decision_retry: false,
            answer_client_after_acks: false,
            heuristic: None,
        };
        let mut rm = TwoPcNode::rm(NodeId(0), None, 2, opts);
        let mut d = TwoPcNode::rm_durable(Ledger::new(2, 100));
        d.rm.recent_commits.insert(RecentIds::CAPACITY * 3);
        let mut ops = ShardOps::default();
        ops.push(KeyDelta { key: 0, delta: -5 });
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(10, NodeId(1), &mut d, &mut rng, &mut out);
        rm.on_message(
            NodeId(0),
            Msg::Local {
                txn: 7,
                ops,
                client: NodeId(9),
            },
            &mut ctx,
        );
        assert!(
            matches!(
                out[..],
                [Command::Send {
                    to: NodeId(9),
                    msg: Msg::Stale { txn: 7, .. }
                }]
            ),
            "{out:?}"
        );
        assert_eq!(d.rm.ledger.total(), 200, "not applied");
    }

    /// An RM's memory of outcomes is a window: about a transaction older than it, it
    /// tells a peer or the standby it does not know — never "aborted" on a guess,
    /// which could make a peer abort what committed.
    #[test]
    fn an_inquiry_about_a_forgotten_transaction_is_answered_unknown() {
        let opts = TwoPcOptions {
            vote_timeout_us: 1000,
            decision_retry_us: 1000,
            inquiry_interval_us: 1000,
            cooperative_termination: true,
            standby_tm: false,
            rm_abort_timeout_us: None,
            no_decision_retry: false,
            answer_client_after_acks: false,
            heuristic: None,
        };
        let mut rm = TwoPcNode::rm(NodeId(0), None, 2, opts);
        let mut d = TwoPcNode::rm_durable(Ledger::new(2, 100));
        d.rm.recent_commits.insert(5);
        d.rm.recent_commits.insert(RecentIds::CAPACITY * 3);
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(10, NodeId(1), &mut d, &mut rng, &mut out);
        let peer = NodeId(2);
        for txn in [5, RecentIds::CAPACITY * 3, RecentIds::CAPACITY * 3 - 1] {
            rm.on_message(
                peer,
                Msg::Inquiry {
                    txn,
                    participants: NodeSet::new(),
                },
                &mut ctx,
            );
        }
        let answers: Vec<Status> = out
            .iter()
            .filter_map(|c| match c {
                Command::Send {
                    msg: Msg::Status { status, .. },
                    ..
                } => Some(*status),
                _ => None,
            })
            .collect();
        assert_eq!(
            answers,
            vec![Status::Unknown, Status::Committed, Status::Aborted],
            "forgotten; remembered; never voted (now promised)"
        );
        assert!(d.rm.promised.contains(RecentIds::CAPACITY * 3 - 1));
    }
}
