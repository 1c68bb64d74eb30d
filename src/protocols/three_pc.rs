//! Three-phase commit, after D. Skeen, "Nonblocking Commit Protocols" (SIGMOD 1981)
//! and D. Skeen & M. Stonebraker, "A Formal Model of Crash Recovery in a Distributed
//! System" (IEEE TSE 9(3), 1983).
//!
//! 2PC blocks because a participant that voted yes cannot tell whether anyone has
//! committed. 3PC inserts a *pre-commit* state between "voted yes" and "committed":
//! nobody commits before every participant has voted yes **and** been told so. A
//! participant's state is then one of Skeen's q (initial), w (voted yes, uncertain),
//! p (pre-committed), c (committed), a (aborted), and no state is adjacent to both c
//! and a — which is what lets a participant decide alone on a timeout:
//!
//! - **CanCommit.** The TM sends CanCommit (with the shard's changes) to every
//!   participant. A participant that can do its part locks, durably records
//!   "prepared" (state w) and votes yes. The TM aborts on a no vote or a vote timeout.
//! - **PreCommit.** With every yes vote, the TM durably records the transaction as
//!   pre-committing and sends PreCommit. A participant durably records "pre-committed"
//!   (state p) and acknowledges. On a PreCommit-ack timeout the TM commits or aborts,
//!   as the scenario says ([`AckTimeout`]; sources differ).
//! - **DoCommit.** With every ack, the TM durably records Commit, sends DoCommit and
//!   answers the client; participants apply, acknowledge (HaveCommitted), and the TM
//!   forgets the transaction once all have.
//!
//! Timeout rules of the participants: in w (voted yes, no PreCommit yet) a timeout
//! means **abort**; in p (pre-committed) it means **commit**. So nobody blocks while
//! the TM is away. With `standby_tm`, a participant's first timeout asks the standby
//! instead, which runs the termination protocol; only a second timeout decides alone.
//!
//! **Termination protocol** (a TM recovering with pre-committing records, or the
//! standby): ask every participant its state, and act on answers in arrival order:
//! (1) a participant committed or pre-committed → decide **commit**; (2) a participant
//! aborted or never voted yes (asked about a transaction it does not know, it promises
//! never to vote yes on it) → decide **abort**; (3) one polling interval after asking,
//! if every participant that answered is uncertain (w) → decide **abort** (nobody can
//! have committed unless some participant reached p, and none that answered did); (4)
//! nobody answered → ask again. Rule (3) trusts silence to mean "crashed": that is
//! where a partition splits the outcome.
//!
//! A participant that restarts in w or p may not decide alone (Skeen & Stonebraker:
//! these states are not independently recoverable): it asks the TM until told, and
//! the standby too once the TM has been silent for a wait timeout. The TM answers
//! from its log ("pending" while it is still deciding); what it does not know it
//! presumes aborted.
//!
//! The price: the timeout rules assume that silence means a crash. Under a network
//! partition during PreCommit the side holding pre-committed participants commits and
//! the side holding uncertain ones aborts — an atomicity violation the checkers count
//! (`scenarios/3pc-partition.ron`). They also assume bounded delays: a participant's
//! wait timeout must exceed the TM's vote timeout plus a one-way delay (validation
//! demands at least "longer than"), else a slow PreCommit meets an RM that gave up.

use crate::idmap::{IdMap, RecentIds};
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::store::{Ledger, LockTable, ShardOps};
use crate::workload::{Client, ClientTimer, ClientWorld, TxnRequest};
use std::collections::BTreeSet;

/// What the TM does when PreCommit acks are overdue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckTimeout {
    /// Skeen's coordinator: every participant voted yes, so commit; a participant that
    /// missed PreCommit learns Commit from the TM's resends or its own inquiries.
    Commit,
    /// The cautious reading of many textbooks: no ack, no commit. Breaks atomicity if a
    /// silent participant did pre-commit and then commits on its own timeout.
    Abort,
}

/// Options of 3PC (all times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreePcOptions {
    pub vote_timeout_us: u64,
    pub ack_timeout_us: u64,
    pub on_ack_timeout: AckTimeout,
    /// A participant in w (voted yes, no PreCommit) aborts after this long.
    pub wait_timeout_us: u64,
    /// A participant in p (pre-committed, no DoCommit) commits after this long.
    pub precommit_timeout_us: u64,
    pub decision_retry_us: u64,
    /// A restarted participant's inquiry period; a terminator's polling period.
    pub inquiry_interval_us: u64,
    pub standby_tm: bool,
}

/// A participant's state, as told to a terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Committed,
    /// Aborted, or never voted yes and now never will.
    Aborted,
    PreCommitted,
    /// Voted yes, not pre-committed (Skeen's w).
    Uncertain,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Client → TM.
    Request(TxnRequest),
    /// TM (or the RM of a local transaction) → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// TM → RM: phase 1.
    CanCommit {
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
    },
    /// RM → TM.
    Vote { txn: TxnId, yes: bool },
    /// TM → RM: phase 2.
    PreCommit { txn: TxnId },
    /// RM → TM: pre-committed.
    PreAck { txn: TxnId },
    /// TM or terminator → RM: phase 3 (DoCommit) or Abort.
    Decision { txn: TxnId, outcome: Outcome },
    /// RM → TM: commit applied (HaveCommitted).
    Ack { txn: TxnId },
    /// TM → RM: a transaction on this shard only (no commit protocol needed).
    Local {
        txn: TxnId,
        ops: ShardOps,
        client: NodeId,
    },
    /// RM → TM / standby: what became of `txn`? (Asks the standby to terminate it.)
    Inquiry { txn: TxnId, participants: NodeSet },
    /// TM → RM: alive and still deciding `txn` (voting or terminating): ask me again.
    Pending { txn: TxnId },
    /// Terminator → RM: your state?
    StateReq { txn: TxnId },
    /// RM → terminator.
    StateRep { txn: TxnId, state: State },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    Client(ClientTimer),
    /// TM: votes of `txn` overdue.
    Vote(TxnId),
    /// TM: PreCommit acks of `txn` overdue.
    PreAck(TxnId),
    /// TM: resend DoCommit to RMs that have not acknowledged.
    DecisionRetry,
    /// Terminator: one polling interval over for `txn`.
    Poll(TxnId),
    /// RM: the w or p timeout of `txn` (after a restart: its inquiry period).
    Participant(TxnId),
}

/// An RM's durable record of a transaction it voted yes on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreparedRec {
    pub ops: ShardOps,
    pub participants: NodeSet,
    pub prepared_at_us: u64,
    /// State p (else w).
    pub precommitted: bool,
}

/// The TM's durable record of a transaction past the votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TmRec {
    pub participants: NodeSet,
    /// Commit decided (else pre-committing).
    pub committed: bool,
}

/// Everything any 3PC node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// TM: transactions pre-committing or committed and not yet acknowledged by all.
    pub tm_log: IdMap<TmRec>,
    /// RM: balances.
    pub ledger: Ledger,
    /// RM: transactions in w or p.
    pub prepared: IdMap<PreparedRec>,
    /// RM: recently finished transactions (a bounded window, as in 2PC): duplicates
    /// are ignored and terminators are told the truth.
    pub recent_commits: RecentIds,
    pub recent_aborts: RecentIds,
    /// RM: transactions it promised a terminator never to vote yes on.
    pub tombstones: BTreeSet<TxnId>,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

/// One termination in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Term {
    participants: NodeSet,
    /// Participants that answered "uncertain" since the last poll.
    uncertain: NodeSet,
}

/// The termination protocol, shared by the recovering TM and the standby.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Terminator {
    running: IdMap<Term>,
}

impl Terminator {
    fn start(&mut self, txn: TxnId, participants: NodeSet, interval_us: u64, ctx: &mut C<'_>) {
        if self.running.contains_key(&txn) {
            return;
        }
        self.running.insert(
            txn,
            Term {
                participants,
                uncertain: NodeSet::new(),
            },
        );
        Self::ask(txn, participants, interval_us, ctx);
    }

    fn ask(txn: TxnId, participants: NodeSet, interval_us: u64, ctx: &mut C<'_>) {
        for rm in participants.iter() {
            ctx.send(rm, Msg::StateReq { txn });
        }
        ctx.set_timer(Timer::Poll(txn), interval_us);
    }

    /// Rules (1)–(3) on one answer: the decision and the participants to tell.
    fn on_state(
        &mut self,
        from: NodeId,
        txn: TxnId,
        state: State,
        ctx: &mut C<'_>,
    ) -> Option<(Outcome, NodeSet)> {
        let t = self.running.get_mut(&txn)?;
        let outcome = match state {
            State::Committed | State::PreCommitted => Outcome::Commit,
            State::Aborted => Outcome::Abort,
            State::Uncertain => {
                t.uncertain.insert(from);
                if !t.uncertain.is_superset(t.participants) {
                    return None;
                }
                Outcome::Abort
            }
        };
        let t = self.running.remove(&txn).expect("present");
        ctx.cancel_timer(Timer::Poll(txn));
        Some((outcome, t.participants))
    }

    /// Rule (3) or (4) at the end of a polling interval.
    fn on_poll(
        &mut self,
        txn: TxnId,
        interval_us: u64,
        ctx: &mut C<'_>,
    ) -> Option<(Outcome, NodeSet)> {
        let t = self.running.get_mut(&txn)?;
        if !t.uncertain.is_empty() {
            let t = self.running.remove(&txn).expect("present");
            return Some((Outcome::Abort, t.participants));
        }
        let participants = t.participants;
        Self::ask(txn, participants, interval_us, ctx);
        None
    }
}

/// The coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tm {
    rms: Vec<NodeId>,
    opts: ThreePcOptions,
    voting: IdMap<Voting>,
    /// PreCommit sent, collecting acks.
    precommitting: IdMap<Voting>,
    /// Commit decided, collecting HaveCommitted acks.
    acking: IdMap<Acking>,
    /// Pre-committing records found in the log at recovery.
    terminator: Terminator,
    /// Recently begun transactions, so a duplicated request is not run twice.
    recent: RecentIds,
    retry_armed: bool,
}

/// Votes (or PreCommit acks) being collected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Voting {
    participants: NodeSet,
    yes: NodeSet,
    client: NodeId,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Acking {
    participants: NodeSet,
    acked: NodeSet,
    sent_at_us: u64,
}

/// A resource manager: one shard of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rm {
    tm: NodeId,
    standby: Option<NodeId>,
    opts: ThreePcOptions,
    locks: LockTable,
    /// Volatile: the transactions in w or p this RM has a timer for.
    waiting: IdMap<Waiting>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Waiting {
    /// The first timeout asked the standby; the next one decides alone.
    asked_standby: bool,
    /// Known from the log after a restart: ask, never decide alone.
    recovered: bool,
    /// After a restart: when the TM last answered (or the restart). Only a TM silent
    /// for a wait timeout is presumed down and the standby asked: two coordinators
    /// deciding at once could disagree.
    tm_heard_at_us: u64,
}

/// The standby coordinator (no access to the TM's log): runs the termination protocol
/// when a participant times out and asks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Standby {
    opts: ThreePcOptions,
    terminator: Terminator,
    decided: IdMap<Outcome>,
}

/// Every role of a 3PC world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThreePcNode {
    Client(Client),
    /// Boxed: the TM's tables make it several times larger than the other roles.
    Tm(Box<Tm>),
    Rm(Rm),
    Standby(Standby),
}

impl ThreePcNode {
    pub fn tm(rms: Vec<NodeId>, opts: ThreePcOptions) -> Self {
        ThreePcNode::Tm(Box::new(Tm {
            rms,
            opts,
            voting: IdMap::new(),
            precommitting: IdMap::new(),
            acking: IdMap::new(),
            terminator: Terminator::default(),
            recent: RecentIds::default(),
            retry_armed: false,
        }))
    }

    pub fn rm(tm: NodeId, standby: Option<NodeId>, accounts: u32, opts: ThreePcOptions) -> Self {
        ThreePcNode::Rm(Rm {
            tm,
            standby: standby.filter(|_| opts.standby_tm),
            opts,
            locks: LockTable::new(accounts),
            waiting: IdMap::new(),
        })
    }

    pub fn standby(opts: ThreePcOptions) -> Self {
        ThreePcNode::Standby(Standby {
            opts,
            terminator: Terminator::default(),
            decided: IdMap::new(),
        })
    }

    /// The durable store an RM starts with.
    pub fn rm_durable(ledger: Ledger) -> Durable {
        Durable {
            ledger,
            ..Durable::default()
        }
    }
}

type C<'a> = Ctx<'a, ThreePcNode>;

impl ClientWorld for ThreePcNode {
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

impl Node for ThreePcNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let ThreePcNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            ThreePcNode::Client(c) => {
                if let Msg::Reply { txn, outcome } = msg {
                    c.on_reply(txn, outcome, ctx);
                }
            }
            ThreePcNode::Tm(tm) => tm.on_message(from, msg, ctx),
            ThreePcNode::Rm(rm) => rm.on_message(from, msg, ctx),
            ThreePcNode::Standby(s) => s.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (ThreePcNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (ThreePcNode::Tm(tm), Timer::Vote(txn)) => tm.abort_voting(txn, ctx),
            (ThreePcNode::Tm(tm), Timer::PreAck(txn)) => tm.ack_timeout(txn, ctx),
            (ThreePcNode::Tm(tm), Timer::DecisionRetry) => tm.resend(ctx),
            (ThreePcNode::Tm(tm), Timer::Poll(txn)) => {
                let interval = tm.opts.inquiry_interval_us;
                if let Some((outcome, participants)) = tm.terminator.on_poll(txn, interval, ctx) {
                    tm.terminated(txn, outcome, participants, ctx);
                }
            }
            (ThreePcNode::Standby(s), Timer::Poll(txn)) => {
                let interval = s.opts.inquiry_interval_us;
                if let Some((outcome, participants)) = s.terminator.on_poll(txn, interval, ctx) {
                    s.decide(txn, outcome, participants, ctx);
                }
            }
            (ThreePcNode::Rm(rm), Timer::Participant(txn)) => rm.timeout(txn, ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            ThreePcNode::Client(c) => c.on_recover(ctx),
            ThreePcNode::Tm(tm) => tm.recover(ctx),
            ThreePcNode::Rm(rm) => rm.recover(ctx),
            ThreePcNode::Standby(_) => {}
        }
    }

    fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        if let ThreePcNode::Rm(rm) = self {
            let in_doubt = d
                .prepared
                .iter()
                .map(|(txn, rec)| (txn, rec.prepared_at_us, &rec.ops));
            crate::observe::audit_resource_manager(&d.ledger, in_doubt, &rm.locks, now_us, out);
        }
    }
}

fn tell(participants: NodeSet, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
    for rm in participants.iter() {
        ctx.send(rm, Msg::Decision { txn, outcome });
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
                    self.abort_voting(txn, ctx);
                    return;
                }
                v.yes.insert(from);
                if v.yes.is_superset(v.participants) {
                    self.precommit(txn, ctx);
                }
            }
            Msg::PreAck { txn } => {
                let Some(p) = self.precommitting.get_mut(&txn) else {
                    return;
                };
                p.yes.insert(from);
                if p.yes.is_superset(p.participants) {
                    self.commit(txn, ctx);
                }
            }
            Msg::Ack { txn } => {
                let Some(a) = self.acking.get_mut(&txn) else {
                    return;
                };
                a.acked.insert(from);
                if a.acked.is_superset(a.participants) {
                    self.acking.remove(&txn);
                    ctx.persist(|d| d.tm_log.remove(&txn));
                    ctx.observe(Observation::Finished { txn });
                }
            }
            Msg::Inquiry { txn, .. } => {
                if ctx.durable().tm_log.get(&txn).is_some_and(|r| r.committed) {
                    let decision = Msg::Decision {
                        txn,
                        outcome: Outcome::Commit,
                    };
                    ctx.send(from, decision);
                } else if self.precommitting.contains_key(&txn) {
                    ctx.send(from, Msg::PreCommit { txn });
                } else if self.voting.contains_key(&txn) || ctx.durable().tm_log.contains_key(&txn)
                {
                    // Still voting, or terminating: the RM will be told.
                    ctx.send(from, Msg::Pending { txn });
                } else {
                    let decision = Msg::Decision {
                        txn,
                        outcome: Outcome::Abort, // presumed abort
                    };
                    ctx.send(from, decision);
                }
            }
            Msg::StateRep { txn, state } => {
                if let Some((outcome, participants)) =
                    self.terminator.on_state(from, txn, state, ctx)
                {
                    self.terminated(txn, outcome, participants, ctx);
                }
            }
            _ => {}
        }
    }

    fn begin(&mut self, client: NodeId, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        if !self.recent.insert(txn) {
            return; // duplicate request
        }
        let shards = req.by_shard();
        if let [(shard, ops)] = shards[..] {
            // One shard: the RM commits locally, as in 2PC.
            ctx.send(self.rms[shard as usize], Msg::Local { txn, ops, client });
            return;
        }
        let participants: NodeSet = shards.iter().map(|(s, _)| self.rms[*s as usize]).collect();
        ctx.observe(Observation::TxnBegun { txn, participants });
        for (shard, ops) in shards {
            ctx.send(
                self.rms[shard as usize],
                Msg::CanCommit {
                    txn,
                    ops,
                    participants,
                },
            );
        }
        self.voting.insert(
            txn,
            Voting {
                participants,
                yes: NodeSet::new(),
                client,
            },
        );
        ctx.set_timer(Timer::Vote(txn), self.opts.vote_timeout_us);
    }

    /// Every vote is yes: log the transaction, then send PreCommit.
    fn precommit(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.voting.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::Vote(txn));
        let participants = v.participants;
        ctx.persist(|d| {
            d.tm_log.insert(
                txn,
                TmRec {
                    participants,
                    committed: false,
                },
            )
        });
        for rm in participants.iter() {
            ctx.send(rm, Msg::PreCommit { txn });
        }
        self.precommitting.insert(
            txn,
            Voting {
                yes: NodeSet::new(),
                ..v
            },
        );
        ctx.set_timer(Timer::PreAck(txn), self.opts.ack_timeout_us);
    }

    /// A no vote or the vote timeout: abort (not logged: presumed abort).
    fn abort_voting(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.voting.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::Vote(txn));
        self.abort(txn, v, ctx);
    }

    fn abort(&mut self, txn: TxnId, v: Voting, ctx: &mut C<'_>) {
        ctx.observe(Observation::Decided {
            txn,
            outcome: Outcome::Abort,
        });
        tell(v.participants, txn, Outcome::Abort, ctx);
        ctx.send(
            v.client,
            Msg::Reply {
                txn,
                outcome: Outcome::Abort,
            },
        );
        ctx.observe(Observation::Finished { txn });
    }

    fn ack_timeout(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if !self.precommitting.contains_key(&txn) {
            return;
        }
        match self.opts.on_ack_timeout {
            AckTimeout::Commit => self.commit(txn, ctx),
            AckTimeout::Abort => {
                let v = self.precommitting.remove(&txn).expect("checked above");
                ctx.persist(|d| d.tm_log.remove(&txn));
                self.abort(txn, v, ctx);
            }
        }
    }

    /// Every PreCommit ack (or the ack timeout with `AckTimeout::Commit`): log Commit,
    /// send DoCommit, answer the client.
    fn commit(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.precommitting.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::PreAck(txn));
        self.decide_commit(txn, v.participants, ctx);
        ctx.send(
            v.client,
            Msg::Reply {
                txn,
                outcome: Outcome::Commit,
            },
        );
    }

    fn decide_commit(&mut self, txn: TxnId, participants: NodeSet, ctx: &mut C<'_>) {
        ctx.persist(|d| {
            d.tm_log.insert(
                txn,
                TmRec {
                    participants,
                    committed: true,
                },
            )
        });
        ctx.observe(Observation::Decided {
            txn,
            outcome: Outcome::Commit,
        });
        tell(participants, txn, Outcome::Commit, ctx);
        self.acking.insert(
            txn,
            Acking {
                participants,
                acked: NodeSet::new(),
                sent_at_us: ctx.now_us(),
            },
        );
        self.arm_retry(ctx);
    }

    /// The termination protocol decided a transaction found in the log at recovery.
    fn terminated(&mut self, txn: TxnId, outcome: Outcome, participants: NodeSet, ctx: &mut C<'_>) {
        match outcome {
            Outcome::Commit => self.decide_commit(txn, participants, ctx),
            Outcome::Abort => {
                ctx.persist(|d| d.tm_log.remove(&txn));
                ctx.observe(Observation::Decided { txn, outcome });
                tell(participants, txn, outcome, ctx);
                ctx.observe(Observation::Finished { txn });
            }
        }
    }

    fn arm_retry(&mut self, ctx: &mut C<'_>) {
        if !self.retry_armed && !self.acking.is_empty() {
            self.retry_armed = true;
            ctx.set_timer(Timer::DecisionRetry, self.opts.decision_retry_us);
        }
    }

    /// Resends DoCommit for decisions unacknowledged for a retry interval.
    fn resend(&mut self, ctx: &mut C<'_>) {
        self.retry_armed = false;
        let now = ctx.now_us();
        let retry = self.opts.decision_retry_us;
        self.acking.for_each_mut(|txn, a| {
            if now < a.sent_at_us + retry {
                return;
            }
            a.sent_at_us = now;
            for rm in a.participants.iter().filter(|r| !a.acked.contains(*r)) {
                ctx.send(
                    rm,
                    Msg::Decision {
                        txn,
                        outcome: Outcome::Commit,
                    },
                );
            }
        });
        self.arm_retry(ctx);
    }

    /// Committed records: resend DoCommit. Pre-committing records: run the termination
    /// protocol. Transactions still voting were not logged: aborted by presumption
    /// (their participants time out in w and abort).
    fn recover(&mut self, ctx: &mut C<'_>) {
        let log: Vec<(TxnId, TmRec)> = ctx.durable().tm_log.iter().map(|(t, r)| (t, *r)).collect();
        for (txn, rec) in log {
            if rec.committed {
                self.acking.insert(
                    txn,
                    Acking {
                        participants: rec.participants,
                        acked: NodeSet::new(),
                        sent_at_us: 0,
                    },
                );
            } else {
                self.terminator
                    .start(txn, rec.participants, self.opts.inquiry_interval_us, ctx);
            }
        }
        self.resend(ctx);
    }
}

impl Rm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::CanCommit {
                txn,
                ops,
                participants,
            } => self.can_commit(from, txn, ops, participants, ctx),
            Msg::PreCommit { txn } => {
                self.heard_from_tm(txn, ctx);
                self.precommit(from, txn, ctx);
            }
            Msg::Pending { txn } => self.heard_from_tm(txn, ctx),
            Msg::Decision { txn, outcome } => self.learn(txn, outcome, ctx),
            Msg::StateReq { txn } => {
                let state = self.state_for_terminator(txn, ctx);
                ctx.send(from, Msg::StateRep { txn, state });
            }
            Msg::Local { txn, ops, client } => self.local(txn, ops, client, ctx),
            _ => {}
        }
    }

    fn can_commit(
        &mut self,
        tm: NodeId,
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let d = ctx.durable();
        if d.prepared.contains_key(&txn) {
            ctx.send(tm, Msg::Vote { txn, yes: true }); // duplicate CanCommit
            return;
        }
        if d.recent_commits.contains(txn) || d.recent_aborts.contains(txn) {
            return; // a duplicate CanCommit for a finished transaction
        }
        let refuse = d.tombstones.contains(&txn)
            || !d.ledger.can_apply(&ops)
            || !self.locks.try_lock(txn, &ops, ctx.now_us());
        if refuse {
            ctx.persist(|d| d.recent_aborts.insert(txn));
            ctx.send(tm, Msg::Vote { txn, yes: false });
            ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
            return;
        }
        let now = ctx.now_us();
        ctx.persist(|d| {
            d.prepared.insert(
                txn,
                PreparedRec {
                    ops,
                    participants,
                    prepared_at_us: now,
                    precommitted: false,
                },
            )
        });
        ctx.observe(Observation::Prepared { txn });
        ctx.send(tm, Msg::Vote { txn, yes: true });
        self.waiting.insert(txn, Waiting::default());
        ctx.set_timer(Timer::Participant(txn), self.opts.wait_timeout_us);
    }

    fn heard_from_tm(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        if let Some(w) = self.waiting.get_mut(&txn) {
            w.tm_heard_at_us = now;
        }
    }

    fn precommit(&mut self, tm: NodeId, txn: TxnId, ctx: &mut C<'_>) {
        let Some(rec) = ctx.durable().prepared.get(&txn) else {
            return; // finished already (a duplicate, or it gave up in w)
        };
        if !rec.precommitted {
            ctx.persist(|d| {
                if let Some(r) = d.prepared.get_mut(&txn) {
                    r.precommitted = true;
                }
            });
            let w = self.waiting.get_mut(&txn);
            if let Some(w) = w.filter(|w| !w.recovered) {
                // A new state, a new timeout (and a new chance to ask the standby).
                w.asked_standby = false;
                ctx.set_timer(Timer::Participant(txn), self.opts.precommit_timeout_us);
            }
        }
        ctx.send(tm, Msg::PreAck { txn });
    }

    /// Applies the outcome of `txn` (idempotent).
    fn learn(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        if !ctx.durable().prepared.contains_key(&txn) {
            if outcome == Outcome::Commit {
                // Already applied (or aborted on a timeout): acknowledge so the TM can
                // forget.
                ctx.send(self.tm, Msg::Ack { txn });
            } else if !ctx.durable().recent_commits.contains(txn)
                && !ctx.durable().recent_aborts.contains(txn)
            {
                // An Abort that overtook its CanCommit: refuse the late CanCommit.
                ctx.persist(|d| d.recent_aborts.insert(txn));
                ctx.observe(Observation::applied_at_once(txn, outcome, 0));
            }
            return;
        }
        self.finish(txn, outcome, ctx);
        if outcome == Outcome::Commit {
            ctx.send(self.tm, Msg::Ack { txn });
        }
    }

    fn finish(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        let rec = ctx.persist(|d| {
            let rec = d.prepared.remove(&txn).expect("the caller checked");
            if outcome == Outcome::Commit {
                d.recent_commits.insert(txn);
                d.ledger.apply(&rec.ops);
            } else {
                d.recent_aborts.insert(txn);
            }
            rec
        });
        let now = ctx.now_us();
        let released = self.locks.release(txn, &rec.ops, now);
        if self.waiting.remove(&txn).is_some() {
            ctx.cancel_timer(Timer::Participant(txn));
        }
        ctx.observe(Observation::Applied {
            txn,
            outcome,
            in_doubt_us: now.saturating_sub(rec.prepared_at_us),
            locks: released.locks,
            lock_hold_us: released.longest_hold_us,
        });
    }

    /// The w or p timeout: ask the standby first (if any), then decide alone — abort
    /// in w, commit in p. After a restart: ask the TM (and standby) again.
    fn timeout(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(rec) = ctx.durable().prepared.get(&txn).cloned() else {
            self.waiting.remove(&txn);
            return;
        };
        let w = *self.waiting.get(&txn).unwrap_or(&Waiting::default());
        let inquiry = Msg::Inquiry {
            txn,
            participants: rec.participants,
        };
        if w.recovered {
            ctx.send(self.tm, inquiry.clone());
            let tm_silent = ctx.now_us() >= w.tm_heard_at_us + self.opts.wait_timeout_us;
            if let (Some(s), true) = (self.standby, tm_silent) {
                ctx.send(s, inquiry);
            }
            ctx.set_timer(Timer::Participant(txn), self.opts.inquiry_interval_us);
            return;
        }
        let period = if rec.precommitted {
            self.opts.precommit_timeout_us
        } else {
            self.opts.wait_timeout_us
        };
        if let (Some(s), false) = (self.standby, w.asked_standby) {
            ctx.send(s, inquiry);
            self.waiting.insert(
                txn,
                Waiting {
                    asked_standby: true,
                    ..w
                },
            );
            ctx.set_timer(Timer::Participant(txn), period);
            return;
        }
        let outcome = if rec.precommitted {
            Outcome::Commit
        } else {
            Outcome::Abort
        };
        ctx.observe(Observation::Decided { txn, outcome });
        self.finish(txn, outcome, ctx);
        if outcome == Outcome::Commit {
            ctx.send(self.tm, Msg::Ack { txn });
        }
    }

    /// What this RM tells a terminator. "Aborted" about a transaction it never voted
    /// yes on is a promise, so it is made durable first.
    fn state_for_terminator(&mut self, txn: TxnId, ctx: &mut C<'_>) -> State {
        let d = ctx.durable();
        if let Some(rec) = d.prepared.get(&txn) {
            if rec.precommitted {
                State::PreCommitted
            } else {
                State::Uncertain
            }
        } else if d.recent_commits.contains(txn) && !d.recent_aborts.contains(txn) {
            State::Committed
        } else {
            if !d.recent_aborts.contains(txn) && !d.tombstones.contains(&txn) {
                ctx.persist(|d| d.tombstones.insert(txn));
            }
            State::Aborted
        }
    }

    fn local(&mut self, txn: TxnId, ops: ShardOps, client: NodeId, ctx: &mut C<'_>) {
        let d = ctx.durable();
        if d.recent_commits.contains(txn) || d.recent_aborts.contains(txn) {
            return; // a duplicated message
        }
        let mut participants = NodeSet::new();
        participants.insert(ctx.me());
        ctx.observe(Observation::TxnBegun { txn, participants });
        let now = ctx.now_us();
        let ok = ctx.durable().ledger.can_apply(&ops) && self.locks.try_lock(txn, &ops, now);
        let outcome = if ok { Outcome::Commit } else { Outcome::Abort };
        ctx.persist(|d| {
            if ok {
                d.ledger.apply(&ops);
                d.recent_commits.insert(txn);
            } else {
                d.recent_aborts.insert(txn);
            }
        });
        let released = self.locks.release(txn, &ops, now);
        ctx.observe(Observation::Decided { txn, outcome });
        ctx.observe(Observation::applied_at_once(txn, outcome, released.locks));
        ctx.observe(Observation::Finished { txn });
        ctx.send(client, Msg::Reply { txn, outcome });
    }

    /// Locks of transactions in w or p are taken again; the RM asks until told.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        let prepared: Vec<(TxnId, PreparedRec)> = ctx
            .durable()
            .prepared
            .iter()
            .map(|(t, r)| (t, r.clone()))
            .collect();
        for (txn, rec) in prepared {
            let locked = self.locks.try_lock(txn, &rec.ops, rec.prepared_at_us);
            assert!(locked, "prepared transactions never share keys");
            self.waiting.insert(
                txn,
                Waiting {
                    asked_standby: false,
                    recovered: true,
                    tm_heard_at_us: now,
                },
            );
            self.timeout(txn, ctx);
        }
    }
}

impl Standby {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Inquiry { txn, participants } => {
                if let Some(&outcome) = self.decided.get(&txn) {
                    ctx.send(from, Msg::Decision { txn, outcome });
                } else {
                    self.terminator
                        .start(txn, participants, self.opts.inquiry_interval_us, ctx);
                }
            }
            Msg::StateRep { txn, state } => {
                if let Some((outcome, participants)) =
                    self.terminator.on_state(from, txn, state, ctx)
                {
                    self.decide(txn, outcome, participants, ctx);
                }
            }
            _ => {}
        }
    }

    fn decide(&mut self, txn: TxnId, outcome: Outcome, participants: NodeSet, ctx: &mut C<'_>) {
        self.decided.insert(txn, outcome);
        ctx.observe(Observation::Decided { txn, outcome });
        tell(participants, txn, outcome, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;
    use crate::store::KeyDelta;

    fn opts(standby_tm: bool) -> ThreePcOptions {
        ThreePcOptions {
            vote_timeout_us: 40_000,
            ack_timeout_us: 40_000,
            on_ack_timeout: AckTimeout::Commit,
            wait_timeout_us: 80_000,
            precommit_timeout_us: 80_000,
            decision_retry_us: 50_000,
            inquiry_interval_us: 50_000,
            standby_tm,
        }
    }

    /// Runs `f` as a handler of node `me` at `now_us`; returns what it asked for.
    fn handle(
        me: u32,
        now_us: u64,
        durable: &mut Durable,
        f: impl FnOnce(&mut C<'_>),
    ) -> Vec<Command<ThreePcNode>> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(now_us, NodeId(me), durable, &mut rng, &mut out);
        f(&mut ctx);
        out
    }

    fn sends(out: &[Command<ThreePcNode>]) -> Vec<(u32, Msg)> {
        out.iter()
            .filter_map(|c| match c {
                Command::Send { to, msg } => Some((to.0, msg.clone())),
                _ => None,
            })
            .collect()
    }

    fn applied(out: &[Command<ThreePcNode>]) -> Option<Outcome> {
        out.iter().find_map(|c| match c {
            Command::Observe(Observation::Applied { outcome, .. }) => Some(*outcome),
            _ => None,
        })
    }

    fn set(ids: &[u32]) -> NodeSet {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn termination_commits_on_a_precommitted_participant() {
        let mut t = Terminator::default();
        let mut d = Durable::default();
        let out = handle(9, 0, &mut d, |ctx| t.start(7, set(&[1, 2, 3]), 50_000, ctx));
        assert_eq!(sends(&out).len(), 3, "asks every participant");
        handle(9, 1, &mut d, |ctx| {
            assert_eq!(t.on_state(NodeId(1), 7, State::Uncertain, ctx), None);
            assert_eq!(
                t.on_state(NodeId(2), 7, State::PreCommitted, ctx),
                Some((Outcome::Commit, set(&[1, 2, 3])))
            );
            assert_eq!(t.on_state(NodeId(3), 7, State::Aborted, ctx), None, "done");
        });
    }

    #[test]
    fn termination_aborts_when_every_answer_is_uncertain() {
        let mut t = Terminator::default();
        let mut d = Durable::default();
        handle(9, 0, &mut d, |ctx| t.start(7, set(&[1, 2]), 50_000, ctx));
        handle(9, 1, &mut d, |ctx| {
            assert_eq!(t.on_state(NodeId(1), 7, State::Uncertain, ctx), None);
            assert_eq!(
                t.on_state(NodeId(2), 7, State::Uncertain, ctx),
                Some((Outcome::Abort, set(&[1, 2])))
            );
        });
        // Some answer, all uncertain, the others silent: abort at the end of the round.
        handle(9, 0, &mut d, |ctx| t.start(8, set(&[1, 2]), 50_000, ctx));
        handle(9, 1, &mut d, |ctx| {
            assert_eq!(t.on_state(NodeId(1), 8, State::Uncertain, ctx), None);
            assert_eq!(
                t.on_poll(8, 50_000, ctx),
                Some((Outcome::Abort, set(&[1, 2])))
            );
        });
        // Nobody answered: ask again, decide nothing.
        handle(9, 0, &mut d, |ctx| t.start(9, set(&[1, 2]), 50_000, ctx));
        let out = handle(9, 1, &mut d, |ctx| {
            assert_eq!(t.on_poll(9, 50_000, ctx), None)
        });
        assert_eq!(sends(&out).len(), 2);
    }

    fn prepared_rm(standby: Option<NodeId>, precommitted: bool) -> (Rm, Durable) {
        let o = opts(standby.is_some());
        let ThreePcNode::Rm(mut rm) = ThreePcNode::rm(NodeId(0), standby, 4, o) else {
            unreachable!()
        };
        let mut d = ThreePcNode::rm_durable(crate::store::Ledger::new(4, 100));
        let mut ops = ShardOps::default();
        ops.push(KeyDelta { key: 1, delta: 10 });
        handle(1, 0, &mut d, |ctx| {
            rm.can_commit(NodeId(0), 7, ops, set(&[1, 2]), ctx);
            if precommitted {
                rm.precommit(NodeId(0), 7, ctx);
            }
        });
        (rm, d)
    }

    #[test]
    fn an_uncertain_participant_aborts_and_a_precommitted_one_commits_on_timeout() {
        let (mut rm, mut d) = prepared_rm(None, false);
        let out = handle(1, 80_000, &mut d, |ctx| rm.timeout(7, ctx));
        assert_eq!(applied(&out), Some(Outcome::Abort));
        assert_eq!(d.ledger.total(), 400);

        let (mut rm, mut d) = prepared_rm(None, true);
        let out = handle(1, 80_000, &mut d, |ctx| rm.timeout(7, ctx));
        assert_eq!(applied(&out), Some(Outcome::Commit));
        assert_eq!(d.ledger.total(), 410);
        assert!(matches!(sends(&out)[..], [(0, Msg::Ack { txn: 7 })]));
    }

    #[test]
    fn with_a_standby_the_first_timeout_asks_it_and_the_second_decides() {
        let (mut rm, mut d) = prepared_rm(Some(NodeId(5)), true);
        let out = handle(1, 80_000, &mut d, |ctx| rm.timeout(7, ctx));
        assert_eq!(applied(&out), None);
        assert!(matches!(
            sends(&out)[..],
            [(5, Msg::Inquiry { txn: 7, .. })]
        ));
        let out = handle(1, 160_000, &mut d, |ctx| rm.timeout(7, ctx));
        assert_eq!(applied(&out), Some(Outcome::Commit));
    }

    #[test]
    fn a_participant_that_never_voted_promises_abort() {
        let (mut rm, mut d) = prepared_rm(None, false);
        handle(1, 1, &mut d, |ctx| {
            assert_eq!(rm.state_for_terminator(7, ctx), State::Uncertain);
            assert_eq!(rm.state_for_terminator(99, ctx), State::Aborted);
        });
        assert!(d.tombstones.contains(&99), "the promise is durable");
        let mut ops = ShardOps::default();
        ops.push(KeyDelta { key: 2, delta: 1 });
        let out = handle(1, 2, &mut d, |ctx| {
            rm.can_commit(NodeId(0), 99, ops, set(&[1, 2]), ctx)
        });
        assert!(matches!(
            sends(&out)[..],
            [(
                0,
                Msg::Vote {
                    txn: 99,
                    yes: false
                }
            )]
        ));
    }
}
