//! Three-phase commit, after D. Skeen, "Nonblocking Commit Protocols" (SIGMOD 1981);
//! D. Skeen & M. Stonebraker, "A Formal Model of Crash Recovery in a Distributed
//! System" (IEEE TSE 9(3), 1983); and P. A. Bernstein, V. Hadzilacos & N. Goodman,
//! *Concurrency Control and Recovery in Database Systems* (Addison-Wesley, 1987),
//! ch. 7 (§7.4 termination and recovery; §7.5 three-phase commit) — "BHG" below.
//!
//! 2PC blocks because a participant that voted yes cannot tell whether anyone has
//! committed. 3PC inserts a *pre-commit* state between "voted yes" and "committed":
//! nobody commits before every participant that is up has voted yes **and** been
//! told so. A participant's state is one of Skeen's q (initial), w (voted yes,
//! uncertain), p (pre-committed, committable), c (committed), a (aborted).
//!
//! **The commit path** (the same in both variants, in `tm` and `rm`):
//! - *CanCommit.* The TM sends CanCommit (with the shard's changes) to every
//!   participant. A participant that can do its part locks, durably records
//!   "prepared" (w) and votes yes. The TM aborts on a no vote or a vote timeout
//!   (presumed abort: nothing is logged).
//! - *PreCommit.* With every yes vote the TM durably records the transaction as
//!   pre-committing and sends PreCommit; a participant durably records p and acks. On
//!   an ack timeout the TM acts on [`AckTimeout`] (BHG and Skeen: commit, the silent
//!   participants are presumed failed).
//! - *DoCommit.* The TM durably records Commit, sends DoCommit, answers the client,
//!   resends DoCommit until every participant acknowledged, then forgets.
//!
//! The participant's vote, its application of an outcome and its one-shard
//! transactions are the locking participant 3PC shares with 2PC
//! ([`super::locking_rm`]); the resending of DoCommit is [`super::commit_acks`]. What
//! 3PC adds — the pre-commit state p and what a participant does while it waits — is
//! here.
//!
//! **What a participant's timeout does** is the scenario's choice ([`Timeouts`]):
//! - [`Timeouts::Terminate`], the protocol as published (BHG §7.5, Skeen 1981), in
//!   `termination`: a participant that times out in w or p does not decide. It
//!   suspects the site it waits on and elects the next in a total order (TM, standby,
//!   participants by node id), telling it so (BHG's UR-ELECTED); the one whose turn it
//!   is *terminates*: it polls every site and applies TR1 (someone aborted → abort),
//!   TR2 (someone committed → commit), TR4 (some site that is up is committable →
//!   PreCommit the rest, wait for their acks, then commit) or TR3 (every site that is
//!   up is uncertain → abort). Every decision is durable at its decider before it is
//!   sent, and sent to every site. A site that restarts with the transaction in w or
//!   p never decides alone and its w or p is no evidence (a decision may have been
//!   taken while it was down): it asks every site until one knows, and decides only
//!   when *every* site has answered with a state it kept across a crash (total
//!   failure, BHG §7.4: then nobody decided, and it aborts). That is where 3PC has to
//!   block after all: while the only sites that might know the outcome are down.
//! - [`Timeouts::DecideAlone`], the simplified rule of many presentations, in
//!   `decide_alone`: a timeout in w aborts and in p commits, alone. One crash never
//!   splits it; several crashes with restarts can (`scenarios/3pc-decide-alone-crashes.ron`).
//!
//! Both trust silence to mean a crash, so both need bounded delays (validation ties
//! every timeout to the latency model's longest one-way delay) and neither survives
//! a partition or lost messages (`scenarios/3pc-partition.ron`).

mod decide_alone;
mod rm;
mod standby;
mod termination;
mod tm;

pub use rm::Rm;
pub use standby::Standby;
pub use tm::Tm;

pub mod build;

use super::locking_rm::RmLog;

use crate::idmap::IdMap;
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::AuditItem;
use crate::store::ShardOps;
use crate::workload::AdmissionLog;
use crate::workload::{Client, ClientTimer, TxnRequest};

/// What the TM does when PreCommit acks are overdue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckTimeout {
    /// Skeen's and BHG's coordinator: every participant voted yes, so commit; the
    /// participants that did not ack are presumed failed and learn Commit later.
    Commit,
    /// The cautious reading of many textbooks: no ack, no commit.
    Abort,
}

/// What a participant's timeout does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timeouts {
    /// Start the termination protocol among the sites that are up (Skeen; BHG §7.5).
    Terminate,
    /// Decide alone: abort in w, commit in p (the simplified textbook rule).
    DecideAlone,
}

/// Options of 3PC (all times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreePcOptions {
    pub vote_timeout_us: u64,
    pub ack_timeout_us: u64,
    pub on_ack_timeout: AckTimeout,
    /// A participant in w (voted yes, no PreCommit) gives up on the TM after this long.
    pub wait_timeout_us: u64,
    /// A participant in p (pre-committed, no DoCommit) gives up on the TM after this long.
    pub precommit_timeout_us: u64,
    pub decision_retry_us: u64,
    /// A recovering site's inquiry period; a terminator's polling (and ack) window.
    pub inquiry_interval_us: u64,
    pub standby_tm: bool,
    pub timeouts: Timeouts,
    /// `Terminate`: how long a participant waits on the site it elected (or that
    /// polled it) before it suspects that one too.
    pub election_timeout_us: u64,
}

/// A site's state of a transaction, as told to a terminator or an inquirer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum State {
    Committed,
    /// Aborted, or never voted yes and now never will.
    Aborted,
    PreCommitted,
    /// Voted yes, not pre-committed (Skeen's w).
    Uncertain,
    /// Knows nothing that decides it (a standby that decided nothing, a TM still
    /// coordinating it).
    Unknown,
}

impl State {
    fn outcome(self) -> Option<Outcome> {
        match self {
            State::Committed => Some(Outcome::Commit),
            State::Aborted => Some(Outcome::Abort),
            _ => None,
        }
    }
}

/// `Terminate`: what a site tells a terminator, an inquirer or whoever elected it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Report {
    pub state: State,
    /// The state is evidence: the site has been up since it entered it. A w or p read
    /// back from the log after a restart is not (it may predate a decision).
    pub current: bool,
    /// The site is coordinating or terminating the transaction right now.
    pub coordinating: bool,
}

impl Report {
    fn final_state(state: State) -> Self {
        Report {
            state,
            current: true,
            coordinating: false,
        }
    }
}

/// Variants are only ever appended: a message's hash feeds the trace digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
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
    /// TM or terminator → RM: phase 2.
    PreCommit { txn: TxnId },
    /// RM → whoever sent PreCommit: pre-committed.
    PreAck { txn: TxnId },
    /// TM or terminator → every site: phase 3 (DoCommit) or Abort.
    Decision { txn: TxnId, outcome: Outcome },
    /// RM → TM: commit applied (HaveCommitted).
    Ack { txn: TxnId },
    /// TM → RM: a transaction on this shard only (no commit protocol needed).
    Local {
        txn: TxnId,
        ops: ShardOps,
        client: NodeId,
    },
    /// A recovering site → the others: what became of `txn`? (`DecideAlone`: RM → TM
    /// or standby, which then terminates it.)
    Inquiry { txn: TxnId, participants: NodeSet },
    /// `DecideAlone`, TM → RM: alive and still deciding `txn`: ask me again.
    Pending { txn: TxnId },
    /// Terminator → every site: your state?
    StateReq { txn: TxnId },
    /// `DecideAlone`: RM → terminator.
    StateRep { txn: TxnId, state: State },
    /// `Terminate`, participant → the site it elects: terminate `txn` (UR-ELECTED).
    Elect { txn: TxnId, participants: NodeSet },
    /// `Terminate`: the answer to StateReq, Inquiry and Elect.
    Report { txn: TxnId, report: Report },
    /// TM → client: a request it may have begun before a restart; use ids from `floor`
    /// (see [`crate::workload::admission`]).
    Stale { txn: TxnId, floor: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::CanCommit { txn, .. } => Some(*txn),
            Msg::Vote { txn, .. } => Some(*txn),
            Msg::PreCommit { txn, .. } => Some(*txn),
            Msg::PreAck { txn, .. } => Some(*txn),
            Msg::Decision { txn, .. } => Some(*txn),
            Msg::Ack { txn, .. } => Some(*txn),
            Msg::Local { txn, .. } => Some(*txn),
            Msg::Inquiry { txn, .. } => Some(*txn),
            Msg::Pending { txn, .. } => Some(*txn),
            Msg::StateReq { txn, .. } => Some(*txn),
            Msg::StateRep { txn, .. } => Some(*txn),
            Msg::Elect { txn, .. } => Some(*txn),
            Msg::Report { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
        }
    }
}

/// Variants are only ever appended (timers feed the trace digest too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// TM: votes of `txn` overdue.
    Vote(TxnId),
    /// TM: PreCommit acks of `txn` overdue.
    PreAck(TxnId),
    /// TM: resend DoCommit to RMs that have not acknowledged.
    DecisionRetry,
    /// A terminator's polling (or ack) window, a recovering TM's inquiry period.
    Poll(TxnId),
    /// RM: its wait on the TM or on the site it elected; after a restart, its
    /// inquiry period.
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
    /// TM: which request ids it may have begun (so none is begun twice).
    pub admission: AdmissionLog,
    /// RM: balances, transactions in w or p, a window of outcomes and of promises to
    /// terminators (see [`super::locking_rm`]).
    pub rm: RmLog<PreparedRec>,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
    /// Standby (`Terminate`): what it decided as a terminator.
    pub standby_decided: IdMap<Outcome>,
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
    pub fn tm(rms: Vec<NodeId>, standby: Option<NodeId>, opts: ThreePcOptions) -> Self {
        ThreePcNode::Tm(Box::new(Tm::new(rms, standby, opts)))
    }

    pub fn rm(tm: NodeId, standby: Option<NodeId>, accounts: u32, opts: ThreePcOptions) -> Self {
        ThreePcNode::Rm(Rm::new(tm, standby, accounts, opts))
    }

    pub fn standby(tm: NodeId, opts: ThreePcOptions) -> Self {
        ThreePcNode::Standby(Standby::new(tm, opts))
    }
}

type C<'a> = Ctx<'a, ThreePcNode>;

// The client, and the coordinator's admission of its requests (see
// [`super::coordinated`]).
client_world! { node: ThreePcNode, msg: Msg, timer: Timer, durable: Durable }
admitting_world! { node: ThreePcNode, msg: Msg, durable: Durable }
// The participants: locking RMs (see [`super::locking_rm`]).
locking_world! {
    node: ThreePcNode, msg: Msg, phase_one: CanCommit, durable: Durable, prepared: PreparedRec
}

impl Node for ThreePcNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let ThreePcNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            ThreePcNode::Client(c) => c.on_message(msg, ctx),
            ThreePcNode::Tm(tm) => tm.on_message(from, msg, ctx),
            ThreePcNode::Rm(rm) => rm.on_message(from, msg, ctx),
            ThreePcNode::Standby(s) => s.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match self {
            ThreePcNode::Client(c) => {
                if let Timer::Client(t) = timer {
                    c.on_timer(t, ctx);
                }
            }
            ThreePcNode::Tm(tm) => tm.on_timer(timer, ctx),
            ThreePcNode::Rm(rm) => rm.on_timer(timer, ctx),
            ThreePcNode::Standby(s) => s.on_timer(timer, ctx),
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
            rm.audit(d, now_us, out);
        }
    }
}

/// Sends `outcome` to every node of `to`.
fn tell(to: NodeSet, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
    for n in to.iter() {
        ctx.send(n, Msg::Decision { txn, outcome });
    }
}

#[cfg(test)]
mod tests;
