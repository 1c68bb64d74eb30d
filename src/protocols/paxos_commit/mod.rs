//! Paxos Commit, as in Gray & Lamport, "Consensus on Transaction Commit" (ACM TODS
//! 31(1), 2006), §4, and its TLA+ specification `PaxosCommit.tla`.
//!
//! - The TM (the paper's *leader*) sends Prepare to every RM. Each RM's
//!   Prepared/Aborted is chosen by **its own instance of Paxos** over 2F+1
//!   *acceptors*. Ballot 0 of an RM's instance belongs to the RM itself: an RM that
//!   can do its part locks the keys, **durably records prepared** and sends the
//!   ballot-0 phase 2a message "Prepared" straight to the acceptors (one that cannot
//!   sends "Aborted"); no phase 1 is needed for ballot 0.
//! - An acceptor accepts a 2a message of ballot `b` unless it promised a higher
//!   ballot, **durably records** what it accepted (its stable storage, §4.1) and sends
//!   its phase 2b message to the ballot's leader. A value is *chosen* when F+1
//!   acceptors accepted it in one ballot.
//! - The leader commits iff every instance chose Prepared, aborts as soon as one
//!   chose Aborted, and sends the decision to the RMs. The decision itself needs no
//!   stable storage: the acceptors hold it.
//! - A leader that does not learn every value in time (the TM's vote timeout), or an
//!   acceptor that sees a transaction unfinished and hears no leader for too long
//!   (its takeover timeout, staggered by its index: the paper's election of a new
//!   leader), runs **phase 1
//!   with a higher ballot**, and in phase 2 proposes for each instance the value
//!   accepted in the highest ballot its quorum reports, or **Aborted** where none
//!   did. A leader refused for a higher ballot yields to that one. Ballots are `round · (2F+2) + i`, `i` 0 for the TM and `i` for
//!   `acceptor{i}`, so no two leaders share one; a leader durably records the highest
//!   ballot it used, so a restarted one never uses it again.
//! - **Faster Paxos Commit** (`faster: true`, §4.3 of the paper): the acceptors send
//!   their 2b messages to the RMs too, which learn the outcome one message delay
//!   earlier; the leader sends a decision only to repeat it.
//!
//! What acidbase adds to the paper, because a run must end clean: RMs acknowledge
//! the outcome to the leader that told them (or, in the faster variant, to the
//! ballot's leader), and once every participant has, the leader tells the acceptors
//! to forget the transaction (they keep a window of forgotten ones and ignore late
//! messages about them: nobody can still be in doubt); an RM in doubt re-sends its
//! ballot-0 message every inquiry interval, so acceptors that missed it learn of the
//! transaction; leaders retry with a backoff. The client's request and answer play
//! the part of the paper's BeginCommit (the first RM's request to commit).
//!
//! [`cost`] holds the fault-free message counts, the paper's and acidbase's.
//!
//! The RM's vote rules, its application of an outcome, its one-shard transactions and
//! its recovery are the locking participant 2PC and 3PC share
//! ([`super::locking_rm`]); the TM admits requests as theirs does.

pub mod build;
pub mod cost;

use super::locking_rm::{self, LockingWorld, PrepareVerdict, RmLog};
use crate::idmap::{IdMap, RecentIds};
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::store::{LockTable, ShardOps};
use crate::workload::{Admission, AdmissionLog, Client, ClientTimer, TxnRequest};

/// How often a leader's retry and an acceptor's takeover time double, at most.
const MAX_DOUBLINGS: u32 = 8;

/// An instance's value: what an RM's instance of Paxos chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Value {
    Prepared,
    Aborted,
}

/// What an acceptor accepted for one RM's instance, and in which ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Accepted {
    pub rm: NodeId,
    pub ballot: u64,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → TM.
    Request(TxnRequest),
    /// TM (or the RM of a local transaction) → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// TM → client: a request it may have begun before a restart; use ids from `floor`.
    Stale { txn: TxnId, floor: TxnId },
    /// TM → RM: prepare your part.
    Prepare {
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
    },
    /// TM → RM: a transaction on this shard only (no commit protocol).
    Local {
        txn: TxnId,
        ops: ShardOps,
        client: NodeId,
    },
    /// Phase 2a of ballot `ballot` for the instances of the RMs in `prepared` (value
    /// Prepared) and `aborted` (value Aborted): from an RM for its own instance in
    /// ballot 0, from a leader for every instance in a higher ballot.
    Phase2a {
        txn: TxnId,
        ballot: u64,
        participants: NodeSet,
        prepared: NodeSet,
        aborted: NodeSet,
    },
    /// Acceptor → the ballot's leader (and, faster, the RMs): accepted these values.
    Phase2b {
        txn: TxnId,
        ballot: u64,
        participants: NodeSet,
        prepared: NodeSet,
        aborted: NodeSet,
    },
    /// Leader → acceptors: phase 1 of `ballot`, for every instance of `txn`.
    Phase1a {
        txn: TxnId,
        ballot: u64,
        participants: NodeSet,
    },
    /// Acceptor → leader: promised `ballot`; what it accepted before.
    Phase1b {
        txn: TxnId,
        ballot: u64,
        accepted: Vec<Accepted>,
    },
    /// Acceptor → leader: refused a lower ballot; it promised `ballot`.
    Nack { txn: TxnId, ballot: u64 },
    /// Acceptor → leader: the transaction is forgotten (every RM applied its outcome).
    Done { txn: TxnId },
    /// Leader → RM: the outcome.
    Decision { txn: TxnId, outcome: Outcome },
    /// RM → leader: outcome applied.
    Ack { txn: TxnId },
    /// Leader → acceptors: every RM applied the outcome; forget the transaction.
    Forget { txn: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        Some(match self {
            Msg::Request(req) => req.txn,
            Msg::Reply { txn, .. }
            | Msg::Stale { txn, .. }
            | Msg::Prepare { txn, .. }
            | Msg::Local { txn, .. }
            | Msg::Phase2a { txn, .. }
            | Msg::Phase2b { txn, .. }
            | Msg::Phase1a { txn, .. }
            | Msg::Phase1b { txn, .. }
            | Msg::Nack { txn, .. }
            | Msg::Done { txn }
            | Msg::Decision { txn, .. }
            | Msg::Ack { txn }
            | Msg::Forget { txn } => *txn,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// A leader's next step on `txn`: the vote timeout of ballot 0, a retry of its
    /// ballot, or a repeat of its decision to the RMs that have not acknowledged it.
    Leader(TxnId),
    /// An acceptor takes over `txn`, unfinished for too long, as its leader.
    Takeover(TxnId),
    /// RM: re-send the ballot-0 message of transactions in doubt for too long.
    InDoubtScan,
}

/// The configuration every node of a Paxos Commit world shares (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub tm: NodeId,
    pub acceptors: Vec<NodeId>,
    /// Acceptor failures tolerated: there are 2F+1 acceptors, a quorum is F+1.
    pub f: usize,
    pub faster: bool,
    pub vote_timeout_us: u64,
    pub retry_us: u64,
    pub inquiry_interval_us: u64,
    pub takeover_us: u64,
}

impl Config {
    fn quorum(&self) -> usize {
        self.f + 1
    }

    /// Leaders that may own a ballot: the TM and every acceptor.
    fn leaders(&self) -> u64 {
        self.acceptors.len() as u64 + 1
    }

    /// The leader that owns `ballot` (ballot 0 is led by the TM; its 2a messages come
    /// from the RMs themselves).
    pub fn owner(&self, ballot: u64) -> NodeId {
        match ballot % self.leaders() {
            0 => self.tm,
            i => self.acceptors[i as usize - 1],
        }
    }

    /// The lowest ballot above `above` that leader `index` owns.
    fn next_ballot(&self, index: u64, above: u64) -> u64 {
        let k = self.leaders();
        let b = above - above % k + index;
        if b > above {
            b
        } else {
            b + k
        }
    }

    fn retry_after_us(&self, attempts: u32) -> u64 {
        self.retry_us << attempts.min(MAX_DOUBLINGS)
    }
}

/// An RM's durable record of a prepared transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreparedRec {
    pub ops: ShardOps,
    pub participants: NodeSet,
    pub prepared_at_us: u64,
}

/// An acceptor's durable record of one transaction: its instances' state (the
/// `aState` of `PaxosCommit.tla`, with one promise for all of a transaction's
/// instances, since every phase 1 covers them all).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AcceptorRec {
    pub participants: NodeSet,
    /// The highest ballot promised or accepted (`mbal`).
    pub promised: u64,
    /// Per instance, the last value accepted and its ballot (`val`, `bal`).
    pub accepted: Vec<Accepted>,
}

/// Everything any Paxos Commit node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// TM: which request ids it may have begun.
    pub admission: AdmissionLog,
    /// TM and acceptors as leaders: the highest ballot this node has led.
    pub ballot_floor: u64,
    /// RM: balances, prepared transactions, a window of outcomes.
    pub rm: RmLog<PreparedRec>,
    /// Acceptor: the transactions it has accepted or promised for.
    pub acceptor: IdMap<AcceptorRec>,
    /// Acceptor: transactions it was told to forget (a window).
    pub forgotten: RecentIds,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

/// The 2b messages heard for one transaction: which acceptors accepted which value
/// for which instance in which ballot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Tally {
    votes: Vec<(Accepted, NodeSet)>,
}

impl Tally {
    fn add(&mut self, acceptor: NodeId, a: Accepted) {
        match self.votes.iter_mut().find(|(v, _)| *v == a) {
            Some((_, by)) => by.insert(acceptor),
            None => {
                let mut by = NodeSet::new();
                by.insert(acceptor);
                self.votes.push((a, by));
            }
        }
    }

    fn add_sets(&mut self, acceptor: NodeId, ballot: u64, prepared: NodeSet, aborted: NodeSet) {
        for (set, value) in [(prepared, Value::Prepared), (aborted, Value::Aborted)] {
            for rm in set.iter() {
                self.add(acceptor, Accepted { rm, ballot, value });
            }
        }
    }

    /// The outcome, once it is chosen: Abort as soon as one instance chose Aborted,
    /// Commit once every instance chose Prepared.
    fn outcome(&self, participants: NodeSet, quorum: usize) -> Option<Outcome> {
        let mut all = true;
        for rm in participants.iter() {
            let chosen = self
                .votes
                .iter()
                .find(|(a, by)| a.rm == rm && by.len() >= quorum);
            match chosen.map(|(a, _)| a.value) {
                Some(Value::Aborted) => return Some(Outcome::Abort),
                Some(Value::Prepared) => {}
                None => all = false,
            }
        }
        all.then_some(Outcome::Commit)
    }

    /// The instances chosen Aborted.
    fn aborted(&self, quorum: usize) -> NodeSet {
        self.votes
            .iter()
            .filter(|(a, by)| a.value == Value::Aborted && by.len() >= quorum)
            .map(|(a, _)| a.rm)
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Collecting 2b messages of `ballot`.
    Two,
    /// Collecting 1b messages of `ballot`.
    One {
        promised: NodeSet,
        /// Per instance, the value accepted in the highest ballot reported so far.
        best: Vec<Accepted>,
    },
}

/// A transaction a leader is leading.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Leading {
    participants: NodeSet,
    ballot: u64,
    phase: Phase,
    tally: Tally,
    outcome: Option<Outcome>,
    acked: NodeSet,
    /// The TM's own transactions: the client to answer.
    client: Option<NodeId>,
    /// The highest ballot heard of (from a refusal).
    seen: u64,
    attempts: u32,
}

/// The leader role the TM and the acceptors share (volatile: a restarted leader
/// leads nothing; another takes over).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leader {
    cfg: Config,
    /// 0 for the TM, `i` for `acceptor{i}`.
    index: u64,
    leading: IdMap<Leading>,
}

type C<'a> = Ctx<'a, PaxosNode>;

impl Leader {
    fn new(cfg: Config, index: u64) -> Self {
        Leader {
            cfg,
            index,
            leading: IdMap::new(),
        }
    }

    /// The TM leads ballot 0 of a transaction it began: the RMs send the 2a messages.
    fn lead_ballot_zero(
        &mut self,
        txn: TxnId,
        participants: NodeSet,
        client: NodeId,
        ctx: &mut C<'_>,
    ) {
        self.leading.insert(
            txn,
            Leading {
                participants,
                ballot: 0,
                phase: Phase::Two,
                tally: Tally::default(),
                outcome: None,
                acked: NodeSet::new(),
                client: Some(client),
                seen: 0,
                attempts: 0,
            },
        );
        ctx.set_timer(Timer::Leader(txn), self.cfg.vote_timeout_us);
    }

    /// Takes `txn` over (an acceptor's takeover): phase 1 with a ballot above
    /// `seen`, the highest it knows of.
    fn take_over(&mut self, txn: TxnId, participants: NodeSet, seen: u64, ctx: &mut C<'_>) {
        self.leading.insert(
            txn,
            Leading {
                participants,
                ballot: 0,
                phase: Phase::Two,
                tally: Tally::default(),
                outcome: None,
                acked: NodeSet::new(),
                client: None,
                seen,
                attempts: 0,
            },
        );
        self.phase_one(txn, ctx);
    }

    fn stop(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if self.leading.remove(&txn).is_some() {
            ctx.cancel_timer(Timer::Leader(txn));
        }
    }

    /// Phase 1a of a ballot higher than any this leader used or heard of.
    fn phase_one(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let floor = ctx.durable().ballot_floor;
        let Some(l) = self.leading.get_mut(&txn) else {
            return;
        };
        let ballot = self
            .cfg
            .next_ballot(self.index, floor.max(l.seen).max(l.ballot));
        ctx.persist(|d| d.ballot_floor = ballot);
        l.ballot = ballot;
        l.phase = Phase::One {
            promised: NodeSet::new(),
            best: Vec::new(),
        };
        let participants = l.participants;
        for &a in &self.cfg.acceptors {
            ctx.send(
                a,
                Msg::Phase1a {
                    txn,
                    ballot,
                    participants,
                },
            );
        }
        ctx.set_timer(Timer::Leader(txn), self.cfg.retry_after_us(l.attempts));
        l.attempts += 1;
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Phase1b {
                txn,
                ballot,
                accepted,
            } => self.promise(from, txn, ballot, accepted, ctx),
            Msg::Phase2b {
                txn,
                ballot,
                prepared,
                aborted,
                ..
            } => {
                let Some(l) = self.leading.get_mut(&txn) else {
                    return;
                };
                l.tally.add_sets(from, ballot, prepared, aborted);
                self.check_chosen(txn, ctx);
            }
            Msg::Nack { txn, ballot } => {
                let Some(l) = self.leading.get_mut(&txn) else {
                    return;
                };
                l.seen = l.seen.max(ballot);
                if l.outcome.is_none() && ballot > l.ballot {
                    // Another leader runs a higher ballot: yield to it rather than
                    // duel (the acceptors' takeover watch steps in if it fails too).
                    self.stop(txn, ctx);
                }
            }
            Msg::Ack { txn } => {
                let Some(l) = self.leading.get_mut(&txn) else {
                    return;
                };
                l.acked.insert(from);
                self.check_finished(txn, ctx);
            }
            // Finished by another leader: make sure every acceptor knows.
            Msg::Done { txn } if self.leading.contains_key(&txn) => {
                self.stop(txn, ctx);
                self.forget(txn, ctx);
            }
            _ => {}
        }
    }

    fn promise(
        &mut self,
        from: NodeId,
        txn: TxnId,
        ballot: u64,
        accepted: Vec<Accepted>,
        ctx: &mut C<'_>,
    ) {
        let quorum = self.cfg.quorum();
        let Some(l) = self.leading.get_mut(&txn) else {
            return;
        };
        for &a in &accepted {
            l.tally.add(from, a);
        }
        if l.ballot != ballot || l.outcome.is_some() {
            self.check_chosen(txn, ctx);
            return;
        }
        let Phase::One { promised, best } = &mut l.phase else {
            return;
        };
        promised.insert(from);
        for a in accepted {
            match best.iter_mut().find(|b| b.rm == a.rm) {
                Some(b) if b.ballot >= a.ballot => {}
                Some(b) => *b = a,
                None => best.push(a),
            }
        }
        if promised.len() < quorum {
            self.check_chosen(txn, ctx);
            return;
        }
        // Phase 2a: the value of the highest ballot reported, else Aborted.
        let (mut prepared, mut aborted) = (NodeSet::new(), NodeSet::new());
        for rm in l.participants.iter() {
            match best.iter().find(|b| b.rm == rm).map(|b| b.value) {
                Some(Value::Prepared) => prepared.insert(rm),
                _ => aborted.insert(rm),
            }
        }
        l.phase = Phase::Two;
        let participants = l.participants;
        for &a in &self.cfg.acceptors {
            ctx.send(
                a,
                Msg::Phase2a {
                    txn,
                    ballot,
                    participants,
                    prepared,
                    aborted,
                },
            );
        }
        self.check_chosen(txn, ctx);
    }

    /// Decides once the tally shows the outcome chosen.
    fn check_chosen(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let quorum = self.cfg.quorum();
        let Some(l) = self.leading.get_mut(&txn) else {
            return;
        };
        if l.outcome.is_some() {
            return;
        }
        let Some(outcome) = l.tally.outcome(l.participants, quorum) else {
            return;
        };
        l.outcome = Some(outcome);
        l.attempts = 0;
        ctx.observe(Observation::Decided { txn, outcome });
        if let Some(client) = l.client {
            ctx.send(client, Msg::Reply { txn, outcome });
        }
        // Faster: the RMs learn from the acceptors; those whose own instance chose
        // Aborted never prepared and hear no 2b tally of their own, so they are told.
        let tell = if self.cfg.faster {
            l.tally.aborted(quorum)
        } else {
            l.participants
        };
        for rm in tell.iter().filter(|&rm| !l.acked.contains(rm)) {
            ctx.send(rm, Msg::Decision { txn, outcome });
        }
        ctx.set_timer(Timer::Leader(txn), self.cfg.retry_after_us(0));
        self.check_finished(txn, ctx);
    }

    /// Once every participant applied the outcome: the acceptors forget it.
    fn check_finished(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(l) = self.leading.get(&txn) else {
            return;
        };
        if l.outcome.is_none() || !l.acked.is_superset(l.participants) {
            return;
        }
        self.stop(txn, ctx);
        self.forget(txn, ctx);
        ctx.observe(Observation::Finished { txn });
    }

    fn forget(&self, txn: TxnId, ctx: &mut C<'_>) {
        for &a in &self.cfg.acceptors {
            ctx.send(a, Msg::Forget { txn });
        }
    }

    /// The leader's timer: without an outcome, a new ballot (the TM's vote timeout
    /// included); with one, the decision again to those that have not acknowledged.
    fn on_timer(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(l) = self.leading.get_mut(&txn) else {
            return;
        };
        match l.outcome {
            None => self.phase_one(txn, ctx),
            Some(outcome) => {
                for rm in l.participants.iter().filter(|&rm| !l.acked.contains(rm)) {
                    ctx.send(rm, Msg::Decision { txn, outcome });
                }
                l.attempts += 1;
                ctx.set_timer(Timer::Leader(txn), self.cfg.retry_after_us(l.attempts));
            }
        }
    }
}

/// The transaction manager: admits requests, sends Prepare and leads ballot 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tm {
    rms: Vec<NodeId>,
    leader: Leader,
    admission: Admission,
}

/// A resource manager: one shard of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rm {
    cfg: Config,
    locks: LockTable,
    /// In-doubt transactions: when their ballot-0 message was last sent.
    asked_at: IdMap<u64>,
    /// Faster: the 2b messages heard about transactions this RM is in doubt on.
    tallies: IdMap<Tally>,
    scan_armed: bool,
}

/// An acceptor, and a leader when it takes a transaction over.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Acceptor {
    cfg: Config,
    /// 1-based: `acceptor{index}`.
    index: u64,
    leader: Leader,
    /// How often it took each unfinished transaction over: each time it waits twice
    /// as long before the next (timeouts that grow until they outlast the delays,
    /// so that one leader finishes: the timeliness Paxos needs for progress).
    tries: IdMap<u32>,
}

/// Every role of a Paxos Commit world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PaxosNode {
    Client(Client),
    Tm(Tm),
    Rm(Rm),
    Acceptor(Acceptor),
}

impl PaxosNode {
    pub fn tm(rms: Vec<NodeId>, cfg: Config) -> Self {
        PaxosNode::Tm(Tm {
            rms,
            leader: Leader::new(cfg, 0),
            admission: Admission::default(),
        })
    }

    pub fn rm(accounts: u32, cfg: Config) -> Self {
        PaxosNode::Rm(Rm {
            cfg,
            locks: LockTable::new(accounts),
            asked_at: IdMap::new(),
            tallies: IdMap::new(),
            scan_armed: false,
        })
    }

    /// `acceptor{index}` (1-based).
    pub fn acceptor(index: u64, cfg: Config) -> Self {
        PaxosNode::Acceptor(Acceptor {
            leader: Leader::new(cfg.clone(), index),
            cfg,
            index,
            tries: IdMap::new(),
        })
    }
}

// The client, and the TM's admission of its requests (see [`super::coordinated`]).
client_world! { node: PaxosNode, msg: Msg, timer: Timer, durable: Durable }
admitting_world! { node: PaxosNode, msg: Msg, durable: Durable }

impl locking_rm::Prepared for PreparedRec {
    fn ops(&self) -> &ShardOps {
        &self.ops
    }
    fn prepared_at_us(&self) -> u64 {
        self.prepared_at_us
    }
}

/// The participants are locking RMs ([`super::locking_rm`]) whose vote is their
/// ballot-0 phase 2a message to the acceptors (`Rm::prepare`), not a message to the
/// TM: the shared `vote` and `learn` are not used (nor [`super::locking_rm::VotesToTm`]).
impl LockingWorld for PaxosNode {
    type Prepared = PreparedRec;
    fn rm_log(d: &Durable) -> &RmLog<PreparedRec> {
        &d.rm
    }
    fn rm_log_mut(d: &mut Durable) -> &mut RmLog<PreparedRec> {
        &mut d.rm
    }
    fn decision_msg(txn: TxnId, outcome: Outcome) -> Msg {
        Msg::Decision { txn, outcome }
    }
    fn ack_msg(txn: TxnId) -> Msg {
        Msg::Ack { txn }
    }
    fn phase_one_msg(txn: TxnId, ops: ShardOps, participants: NodeSet) -> Msg {
        Msg::Prepare {
            txn,
            ops,
            participants,
        }
    }
    fn local_msg(txn: TxnId, ops: ShardOps, client: NodeId) -> Msg {
        Msg::Local { txn, ops, client }
    }
}

impl Node for PaxosNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let PaxosNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            PaxosNode::Client(c) => c.on_message(msg, ctx),
            PaxosNode::Tm(tm) => tm.on_message(from, msg, ctx),
            PaxosNode::Rm(rm) => rm.on_message(from, msg, ctx),
            PaxosNode::Acceptor(a) => a.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (PaxosNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (PaxosNode::Tm(tm), Timer::Leader(txn)) => tm.leader.on_timer(txn, ctx),
            (PaxosNode::Acceptor(a), Timer::Leader(txn)) => a.leader.on_timer(txn, ctx),
            (PaxosNode::Acceptor(a), Timer::Takeover(txn)) => a.takeover(txn, ctx),
            (PaxosNode::Rm(rm), Timer::InDoubtScan) => rm.scan(ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            PaxosNode::Client(c) => c.on_recover(ctx),
            PaxosNode::Tm(tm) => tm.admission.recover(std::iter::empty(), ctx),
            PaxosNode::Rm(rm) => rm.recover(ctx),
            PaxosNode::Acceptor(a) => a.recover(ctx),
        }
    }

    fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        if let PaxosNode::Rm(rm) = self {
            locking_rm::audit(&d.rm, &rm.locks, now_us, out);
        }
    }
}

impl Tm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Request(req) => {
                let txn = req.txn;
                // The TM keeps no outcomes (the acceptors do): a stale copy is told so.
                let (admission, rms) = (&mut self.admission, &self.rms);
                if let Some(participants) = locking_rm::begin(admission, rms, from, req, None, ctx)
                {
                    self.leader.lead_ballot_zero(txn, participants, from, ctx);
                }
            }
            other => self.leader.on_message(from, other, ctx),
        }
    }
}

impl Acceptor {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Phase2a {
                txn,
                ballot,
                participants,
                prepared,
                aborted,
            } => self.accept(from, txn, ballot, participants, prepared, aborted, ctx),
            Msg::Phase1a {
                txn,
                ballot,
                participants,
            } => self.prepare(from, txn, ballot, participants, ctx),
            Msg::Forget { txn } => {
                if ctx.durable().acceptor.contains_key(&txn)
                    || !ctx.durable().forgotten.contains(txn)
                {
                    ctx.persist(|d| {
                        d.acceptor.remove(&txn);
                        d.forgotten.insert(txn);
                    });
                }
                ctx.cancel_timer(Timer::Takeover(txn));
                self.tries.remove(&txn);
                self.leader.stop(txn, ctx);
            }
            other => self.leader.on_message(from, other, ctx),
        }
    }

    /// This acceptor's record of `txn`: the durable one, or a fresh one (with a
    /// takeover timer armed) if this is the first news of it; `None` if it was
    /// forgotten. A fresh record is written with the first thing it records.
    fn record(&self, txn: TxnId, participants: NodeSet, ctx: &mut C<'_>) -> Option<AcceptorRec> {
        if let Some(rec) = ctx.durable().acceptor.get(&txn) {
            return Some(rec.clone());
        }
        if ctx.durable().forgotten.contains(txn) {
            return None;
        }
        self.arm_takeover(txn, ctx);
        Some(AcceptorRec {
            participants,
            promised: 0,
            accepted: Vec::new(),
        })
    }

    /// Writes `rec` if it differs from the durable record.
    fn save(txn: TxnId, rec: &AcceptorRec, ctx: &mut C<'_>) {
        if ctx.durable().acceptor.get(&txn) != Some(rec) {
            ctx.persist(|d| d.acceptor.insert(txn, rec.clone()));
        }
    }

    /// Tells `from`, whose ballot is below the one `rec` promised, which ballot that
    /// is (so that it can start above it, or yield).
    fn refuse(from: NodeId, txn: TxnId, rec: &AcceptorRec, ctx: &mut C<'_>) {
        let ballot = rec.promised;
        ctx.send(from, Msg::Nack { txn, ballot });
    }

    fn arm_takeover(&self, txn: TxnId, ctx: &mut C<'_>) {
        let tries = self.tries.get(&txn).copied().unwrap_or(0);
        let after = (self.cfg.takeover_us * self.index) << tries.min(MAX_DOUBLINGS);
        ctx.set_timer(Timer::Takeover(txn), after);
    }

    /// Phase 2b: accepts unless it promised a higher ballot; durable before the 2b.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &mut self,
        from: NodeId,
        txn: TxnId,
        ballot: u64,
        participants: NodeSet,
        prepared: NodeSet,
        aborted: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let Some(mut rec) = self.record(txn, participants, ctx) else {
            return; // every RM applied its outcome: a late copy
        };
        self.heard_leader(from, txn, ballot, ctx);
        if ballot < rec.promised {
            if ballot > 0 {
                Self::refuse(from, txn, &rec, ctx);
            }
            return;
        }
        rec.promised = ballot;
        for (set, value) in [(prepared, Value::Prepared), (aborted, Value::Aborted)] {
            for rm in set.iter() {
                let a = Accepted { rm, ballot, value };
                match rec.accepted.iter_mut().find(|b| b.rm == rm) {
                    Some(b) => *b = a,
                    None => rec.accepted.push(a),
                }
            }
        }
        Self::save(txn, &rec, ctx);
        let b2 = Msg::Phase2b {
            txn,
            ballot,
            participants: rec.participants,
            prepared,
            aborted,
        };
        ctx.send(self.cfg.owner(ballot), b2.clone());
        if self.cfg.faster {
            for rm in rec.participants.iter() {
                ctx.send(rm, b2.clone());
            }
        }
    }

    /// Phase 1b: promises `ballot` unless it promised a higher one.
    fn prepare(
        &mut self,
        from: NodeId,
        txn: TxnId,
        ballot: u64,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let Some(mut rec) = self.record(txn, participants, ctx) else {
            ctx.send(from, Msg::Done { txn });
            return;
        };
        self.heard_leader(from, txn, ballot, ctx);
        if ballot < rec.promised {
            Self::refuse(from, txn, &rec, ctx);
            return;
        }
        rec.promised = ballot;
        Self::save(txn, &rec, ctx);
        ctx.send(
            from,
            Msg::Phase1b {
                txn,
                ballot,
                accepted: rec.accepted,
            },
        );
    }

    /// The takeover watch of an unfinished transaction: with no other leader heard
    /// of for its takeover time, this acceptor leads it; the watch goes on while the
    /// transaction is unfinished.
    fn takeover(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(rec) = ctx.durable().acceptor.get(&txn) else {
            return;
        };
        let (participants, promised) = (rec.participants, rec.promised);
        if !self.leader.leading.contains_key(&txn) {
            let tries = self.tries.get(&txn).copied().unwrap_or(0);
            self.tries.insert(txn, tries + 1);
            self.leader.take_over(txn, participants, promised, ctx);
        }
        self.arm_takeover(txn, ctx);
    }

    /// Another leader is at work on `txn` (a ballot above 0): the watch waits again.
    fn heard_leader(&self, from: NodeId, txn: TxnId, ballot: u64, ctx: &mut C<'_>) {
        if ballot > 0 && from != ctx.me() && !self.leader.leading.contains_key(&txn) {
            self.arm_takeover(txn, ctx);
        }
    }

    /// Its records are durable; every unfinished one gets a takeover timer again.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let txns: Vec<TxnId> = ctx.durable().acceptor.keys().collect();
        for txn in txns {
            self.arm_takeover(txn, ctx);
        }
    }
}

impl Rm {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Prepare {
                txn,
                ops,
                participants,
            } => self.prepare(txn, ops, participants, ctx),
            Msg::Decision { txn, outcome } => {
                self.learn(txn, outcome, ctx);
                ctx.send(from, Msg::Ack { txn });
            }
            Msg::Phase2b {
                txn,
                ballot,
                participants,
                prepared,
                aborted,
            } => {
                if !ctx.durable().rm.prepared.contains_key(&txn) {
                    return; // not in doubt: a Decision tells it, if it must learn
                }
                let quorum = self.cfg.quorum();
                if !self.tallies.contains_key(&txn) {
                    self.tallies.insert(txn, Tally::default());
                }
                let tally = self.tallies.get_mut(&txn).expect("inserted");
                tally.add_sets(from, ballot, prepared, aborted);
                if let Some(outcome) = tally.outcome(participants, quorum) {
                    self.learn(txn, outcome, ctx);
                    ctx.send(self.cfg.owner(ballot), Msg::Ack { txn });
                }
            }
            Msg::Local { txn, ops, client } => {
                locking_rm::local(&mut self.locks, txn, ops, client, ctx)
            }
            _ => {}
        }
    }

    /// The vote of the locking participant ([`RmLog::verdict`]), sent as the ballot-0
    /// phase 2a message of its own instance to every acceptor.
    fn prepare(&mut self, txn: TxnId, ops: ShardOps, participants: NodeSet, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        match ctx.durable().rm.verdict(txn, &ops, &mut self.locks, now) {
            PrepareVerdict::AlreadyPrepared => {
                self.send_2a(txn, participants, Value::Prepared, ctx)
            }
            PrepareVerdict::AlreadyFinished => {}
            PrepareVerdict::Refuse => {
                ctx.persist(|d| d.rm.recent_aborts.insert(txn));
                ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
                self.send_2a(txn, participants, Value::Aborted, ctx);
            }
            PrepareVerdict::Accept => {
                let rec = PreparedRec {
                    ops,
                    participants,
                    prepared_at_us: now,
                };
                ctx.persist(|d| d.rm.prepared.insert(txn, rec));
                ctx.observe(Observation::Prepared { txn });
                self.send_2a(txn, participants, Value::Prepared, ctx);
                self.asked_at.insert(txn, now);
                self.arm_scan(ctx);
            }
        }
    }

    fn send_2a(&self, txn: TxnId, participants: NodeSet, value: Value, ctx: &mut C<'_>) {
        let (mut prepared, mut aborted) = (NodeSet::new(), NodeSet::new());
        match value {
            Value::Prepared => prepared.insert(ctx.me()),
            Value::Aborted => aborted.insert(ctx.me()),
        }
        for &a in &self.cfg.acceptors {
            ctx.send(
                a,
                Msg::Phase2a {
                    txn,
                    ballot: 0,
                    participants,
                    prepared,
                    aborted,
                },
            );
        }
    }

    /// Applies the outcome of `txn` (idempotent). An Abort for a transaction it never
    /// prepared is remembered, so that a late Prepare is ignored.
    fn learn(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        if ctx.durable().rm.prepared.contains_key(&txn) {
            self.asked_at.remove(&txn);
            self.tallies.remove(&txn);
            locking_rm::apply(&mut self.locks, txn, outcome, ctx);
        } else if outcome == Outcome::Abort && !ctx.durable().rm.finished(txn) {
            ctx.persist(|d| d.rm.recent_aborts.insert(txn));
            ctx.observe(Observation::applied_at_once(txn, outcome, 0));
        }
    }

    fn arm_scan(&mut self, ctx: &mut C<'_>) {
        if !self.scan_armed && !self.asked_at.is_empty() {
            self.scan_armed = true;
            ctx.set_timer(Timer::InDoubtScan, self.cfg.inquiry_interval_us);
        }
    }

    /// Re-sends the ballot-0 message of every transaction in doubt for an inquiry
    /// interval, so that acceptors that missed it hear of the transaction.
    fn scan(&mut self, ctx: &mut C<'_>) {
        self.scan_armed = false;
        let now = ctx.now_us();
        let due: Vec<TxnId> = self
            .asked_at
            .iter()
            .filter(|(_, &at)| now >= at + self.cfg.inquiry_interval_us)
            .map(|(t, _)| t)
            .collect();
        for txn in due {
            let Some(rec) = ctx.durable().rm.prepared.get(&txn) else {
                self.asked_at.remove(&txn);
                continue;
            };
            let participants = rec.participants;
            self.asked_at.insert(txn, now);
            self.send_2a(txn, participants, Value::Prepared, ctx);
        }
        self.arm_scan(ctx);
    }

    /// Locks of prepared transactions are taken again; they stay in doubt and send
    /// their ballot-0 message again at once.
    fn recover(&mut self, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        for (txn, rec) in locking_rm::relock(&mut self.locks, ctx) {
            self.asked_at.insert(txn, now);
            self.send_2a(txn, rec.participants, Value::Prepared, ctx);
        }
        self.arm_scan(ctx);
    }
}

#[cfg(test)]
mod tests;
