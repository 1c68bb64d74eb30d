//! The locking participant (resource manager) that 2PC and 3PC share: how it votes,
//! how it applies an outcome, a one-shard transaction, and its recovery (and how
//! their TM begins a request on such participants). Each
//! protocol keeps what differs — what a participant does while it waits for the
//! outcome: 2PC's inquiries ([`super::two_pc`]), 3PC's pre-commit and termination
//! ([`super::three_pc`]) — and calls these for the rest.
//!
//! It is the resource manager of Gray & Lamport, "Consensus on Transaction Commit"
//! (2006), §3, under strict two-phase locking (P. A. Bernstein, V. Hadzilacos &
//! N. Goodman, *Concurrency Control and Recovery in Database Systems*, 1987, ch. 3;
//! its part in commitment, ch. 7):
//! - **The vote** ([`vote`]: 2PC's Prepare, 3PC's CanCommit). A participant that has
//!   voted yes votes yes again (the TM may be asking again because the first vote was
//!   lost). One that has finished the transaction ignores the copy. It votes no if it
//!   promised never to vote yes (to a peer or a terminator that asked), if its
//!   balances cannot take the change, or if another transaction holds a key; the
//!   abort is durable first, so that a later copy is ignored too. Otherwise it takes
//!   the locks, **durably records the transaction prepared** and votes yes: from then
//!   on it is *in doubt* and holds the locks until it learns the outcome.
//! - **The outcome** ([`learn`], [`apply`]). A prepared transaction's outcome is
//!   applied in one forced write (commit: its changes reach the ledger) and its locks
//!   released. An Abort for a transaction it has not prepared overtook its Prepare (or
//!   the Prepare was lost): it is remembered, so the late Prepare is ignored instead
//!   of leaving the participant in doubt on an aborted transaction. A Commit is
//!   acknowledged, whether applied now or before, so that the TM can forget it.
//! - **One shard** ([`local`]): no commit protocol; the participant applies the
//!   request if it can and answers the client itself. The TM sends it so when it
//!   begins a request ([`begin`]); a request on several shards it begins by asking
//!   every participant to vote.
//! - **Recovery** ([`relock`]): the locks of the prepared transactions are taken
//!   again; they stay in doubt.
//!
//! Its memory of finished transactions is a window ([`RecentIds`]). The network may
//! deliver a copy of a Prepare after the participant committed and, by presumed
//! abort, the TM forgot the transaction; preparing it again would apply it twice.
//! Real RMs find the commit in their log; the window is that memory, bounded. A
//! promise older than the window is presumed made, so a very late Prepare is
//! refused, never voted for.

use crate::idmap::{IdMap, Recall, RecentIds};
use crate::node::{Ctx, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::store::{Ledger, LockTable, ShardOps};
use crate::workload::{is_new_request, Admission, AdmittingWorld, TxnRequest};

/// A participant's durable record of a transaction it voted yes on, as the shared
/// core reads it (each protocol's record adds its own state).
pub trait Prepared: Clone {
    /// The changes it will apply on Commit.
    fn ops(&self) -> &ShardOps;
    /// When it voted yes (its locks are held since).
    fn prepared_at_us(&self) -> u64;
}

/// What a locking participant keeps durably: its balances, the transactions it is
/// in doubt on, and bounded memory of outcomes and promises.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RmLog<P> {
    pub ledger: Ledger,
    /// Voted yes, outcome not yet applied.
    pub prepared: IdMap<P>,
    /// Recently finished transactions (a window): a copy of a Prepare for one of them
    /// is ignored, and an inquirer is told the truth.
    pub recent_commits: RecentIds,
    pub recent_aborts: RecentIds,
    /// Transactions it promised never to vote yes on (a window, see the module doc).
    pub promised: RecentIds,
}

impl<P> RmLog<P> {
    /// A participant's log as installed: `ledger`, nothing else yet.
    pub fn new(ledger: Ledger) -> Self {
        RmLog {
            ledger,
            prepared: IdMap::new(),
            recent_commits: RecentIds::default(),
            recent_aborts: RecentIds::default(),
            promised: RecentIds::default(),
        }
    }

    /// Whether the outcome of `txn` is in the window.
    pub fn finished(&self, txn: TxnId) -> bool {
        self.recent_commits.contains(txn) || self.recent_aborts.contains(txn)
    }

    /// How to answer a Prepare (CanCommit) of `txn` for `ops`. [`PrepareVerdict::Accept`]
    /// has taken the locks, at `now_us`.
    pub fn verdict(
        &self,
        txn: TxnId,
        ops: &ShardOps,
        locks: &mut LockTable,
        now_us: u64,
    ) -> PrepareVerdict {
        if self.prepared.contains_key(&txn) {
            PrepareVerdict::AlreadyPrepared
        } else if self.finished(txn) {
            PrepareVerdict::AlreadyFinished
        } else if self.promised.contains(txn)
            || !self.ledger.can_apply(ops)
            || !locks.try_lock(txn, ops, now_us)
        {
            PrepareVerdict::Refuse
        } else {
            PrepareVerdict::Accept
        }
    }
}

impl<P> Default for RmLog<P> {
    fn default() -> Self {
        RmLog::new(Ledger::default())
    }
}

/// The answer to a Prepare (CanCommit), by the rules of the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrepareVerdict {
    /// Voted yes before: yes again.
    AlreadyPrepared,
    /// A copy of a Prepare for a finished transaction: ignored.
    AlreadyFinished,
    /// Promised never to, the balances cannot take it, or a key is locked: no.
    Refuse,
    /// Locked: record prepared and vote yes.
    Accept,
}

/// A locking world whose participants answer phase one with a vote message to the
/// TM ([`vote`]: 2PC's and 3PC's). Paxos Commit's vote through their own Paxos
/// instance instead, and do not implement it.
pub trait VotesToTm: LockingWorld {
    fn vote_msg(txn: TxnId, yes: bool) -> Self::Msg;
}

/// A world of a TM and locking participants: where a participant's [`RmLog`] lives
/// in the durable store, and the messages of the commit core (phase one, decision,
/// acknowledgement, one-shard transaction; the vote is [`VotesToTm`]'s). Written for
/// a world by [`locking_world!`](crate::locking_world), with [`VotesToTm`].
pub trait LockingWorld: AdmittingWorld {
    type Prepared: Prepared;
    fn rm_log(d: &Self::Durable) -> &RmLog<Self::Prepared>;
    fn rm_log_mut(d: &mut Self::Durable) -> &mut RmLog<Self::Prepared>;
    /// The TM's decision, to a participant.
    fn decision_msg(txn: TxnId, outcome: Outcome) -> Self::Msg;
    /// To the TM: Commit applied.
    fn ack_msg(txn: TxnId) -> Self::Msg;
    /// TM → participant: phase 1, asking for its vote on its part `ops`.
    fn phase_one_msg(txn: TxnId, ops: ShardOps, participants: NodeSet) -> Self::Msg;
    /// TM → participant: a transaction on its shard only, from `client`.
    fn local_msg(txn: TxnId, ops: ShardOps, client: NodeId) -> Self::Msg;

    /// The durable store a participant starts with: its balances, the rest empty.
    fn rm_durable(ledger: Ledger) -> Self::Durable {
        let mut d = Self::Durable::default();
        Self::rm_log_mut(&mut d).ledger = ledger;
        d
    }
}

/// Implements [`LockingWorld`](crate::protocols::locking_rm::LockingWorld) for a
/// world that names its parts the built-ins' way:
///
/// - `$msg::$phase_one { txn, ops, participants }` asks for a vote (2PC's Prepare,
///   3PC's CanCommit), `$msg::Vote { txn, yes }` is the vote,
///   `$msg::Decision { txn, outcome }` the TM's decision, `$msg::Ack { txn }` the
///   acknowledgement of a Commit, `$msg::Local { txn, ops, client }` a one-shard
///   transaction;
/// - `$durable` keeps the participant's
///   [`RmLog`](crate::protocols::locking_rm::RmLog) in `rm: RmLog<$prepared>`;
/// - `$prepared` has the fields `ops: ShardOps` and `prepared_at_us: u64`.
///
/// Written as
///
/// ```text
/// acidbase::locking_world! {
///     node: TwoPcNode, msg: Msg, phase_one: Prepare, durable: Durable, prepared: PreparedRec
/// }
/// ```
#[macro_export]
macro_rules! locking_world {
    (
        node: $node:ty,
        msg: $msg:ident,
        phase_one: $phase_one:ident,
        durable: $durable:ty,
        prepared: $prepared:ty $(,)?
    ) => {
        impl $crate::protocols::locking_rm::Prepared for $prepared {
            fn ops(&self) -> &$crate::store::ShardOps {
                &self.ops
            }
            fn prepared_at_us(&self) -> u64 {
                self.prepared_at_us
            }
        }

        impl $crate::protocols::locking_rm::LockingWorld for $node {
            type Prepared = $prepared;
            fn rm_log(d: &$durable) -> &$crate::protocols::locking_rm::RmLog<$prepared> {
                &d.rm
            }
            fn rm_log_mut(
                d: &mut $durable,
            ) -> &mut $crate::protocols::locking_rm::RmLog<$prepared> {
                &mut d.rm
            }
            fn decision_msg(txn: $crate::node::TxnId, outcome: $crate::node::Outcome) -> $msg {
                $msg::Decision { txn, outcome }
            }
            fn ack_msg(txn: $crate::node::TxnId) -> $msg {
                $msg::Ack { txn }
            }
            fn phase_one_msg(
                txn: $crate::node::TxnId,
                ops: $crate::store::ShardOps,
                participants: $crate::node::NodeSet,
            ) -> $msg {
                $msg::$phase_one {
                    txn,
                    ops,
                    participants,
                }
            }
            fn local_msg(
                txn: $crate::node::TxnId,
                ops: $crate::store::ShardOps,
                client: $crate::node::NodeId,
            ) -> $msg {
                $msg::Local { txn, ops, client }
            }
        }

        impl $crate::protocols::locking_rm::VotesToTm for $node {
            fn vote_msg(txn: $crate::node::TxnId, yes: bool) -> $msg {
                $msg::Vote { txn, yes }
            }
        }
    };
}

/// At the TM: begins `req` from `client` on the participants `rms` (one per shard,
/// in shard order). The request is admitted once ([`Admission::admit_request`]: a
/// stale copy is answered from `known`, the outcome the TM's log holds for it). On
/// one shard it goes to that participant as a one-phase transaction ([`local`]);
/// else every participant is asked for its vote on its part
/// ([`LockingWorld::phase_one_msg`]). Returns the participants when the vote began.
pub fn begin<N: LockingWorld>(
    admission: &mut Admission,
    rms: &[NodeId],
    client: NodeId,
    req: TxnRequest,
    known: Option<Outcome>,
    ctx: &mut Ctx<'_, N>,
) -> Option<NodeSet> {
    let txn = req.txn;
    if !admission.admit_request(txn, client, known, ctx) {
        return None;
    }
    let shards = req.by_shard();
    if let [(shard, ops)] = shards[..] {
        ctx.send(rms[shard as usize], N::local_msg(txn, ops, client));
        return None;
    }
    let participants: NodeSet = shards.iter().map(|(s, _)| rms[*s as usize]).collect();
    ctx.observe(Observation::TxnBegun { txn, participants });
    for (shard, ops) in shards {
        ctx.send(
            rms[shard as usize],
            N::phase_one_msg(txn, ops, participants),
        );
    }
    Some(participants)
}

/// The vote on `rec`'s transaction `txn`, asked by `tm`. Returns whether it voted
/// yes just now (then `rec` is durable, and the caller waits for the outcome).
pub fn vote<N: VotesToTm>(
    locks: &mut LockTable,
    tm: NodeId,
    txn: TxnId,
    rec: N::Prepared,
    ctx: &mut Ctx<'_, N>,
) -> bool {
    let now = ctx.now_us();
    match N::rm_log(ctx.durable()).verdict(txn, rec.ops(), locks, now) {
        PrepareVerdict::AlreadyPrepared => ctx.send(tm, N::vote_msg(txn, true)),
        PrepareVerdict::AlreadyFinished => {}
        PrepareVerdict::Refuse => {
            ctx.persist(|d| N::rm_log_mut(d).recent_aborts.insert(txn));
            ctx.send(tm, N::vote_msg(txn, false));
            ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
        }
        PrepareVerdict::Accept => {
            ctx.persist(|d| N::rm_log_mut(d).prepared.insert(txn, rec));
            ctx.observe(Observation::Prepared { txn });
            ctx.send(tm, N::vote_msg(txn, true));
            return true;
        }
    }
    false
}

/// The outcome of `txn` arrived (idempotent). A prepared transaction is finished by
/// `finish` — the protocol drops what it keeps while in doubt, then calls [`apply`];
/// an Abort for one not prepared here is remembered; a Commit is acknowledged to `tm`.
pub fn learn<N: LockingWorld>(
    tm: NodeId,
    txn: TxnId,
    outcome: Outcome,
    ctx: &mut Ctx<'_, N>,
    finish: impl FnOnce(&mut Ctx<'_, N>),
) {
    let log = N::rm_log(ctx.durable());
    if log.prepared.contains_key(&txn) {
        finish(ctx);
    } else if outcome == Outcome::Abort && !log.finished(txn) {
        // It overtook its Prepare: refuse the late Prepare.
        ctx.persist(|d| N::rm_log_mut(d).recent_aborts.insert(txn));
        ctx.observe(Observation::applied_at_once(txn, outcome, 0));
    }
    if outcome == Outcome::Commit {
        ctx.send(tm, N::ack_msg(txn));
    }
}

/// Applies `outcome` to the prepared transaction `txn`: one forced write (commit: the
/// ledger takes its changes), then its locks are released and the application
/// reported.
pub fn apply<N: LockingWorld>(
    locks: &mut LockTable,
    txn: TxnId,
    outcome: Outcome,
    ctx: &mut Ctx<'_, N>,
) {
    let rec = ctx.persist(|d| {
        let log = N::rm_log_mut(d);
        let rec = log
            .prepared
            .remove(&txn)
            .expect("applied once, when prepared");
        if outcome == Outcome::Commit {
            log.recent_commits.insert(txn);
            log.ledger.apply(rec.ops());
        } else {
            log.recent_aborts.insert(txn);
        }
        rec
    });
    let now = ctx.now_us();
    let released = locks.release(txn, rec.ops(), now);
    ctx.observe(Observation::Applied {
        txn,
        outcome,
        in_doubt_us: now.saturating_sub(rec.prepared_at_us()),
        locks: released.locks,
        lock_hold_us: released.longest_hold_us,
    });
}

/// A transaction on this shard only, from `client`: applied at once if the balances
/// and the locks allow, else aborted; the participant answers the client. A copy is
/// ignored, and one too old to tell from one applied is answered stale.
pub fn local<N: LockingWorld>(
    locks: &mut LockTable,
    txn: TxnId,
    ops: ShardOps,
    client: NodeId,
    ctx: &mut Ctx<'_, N>,
) {
    let log = N::rm_log(ctx.durable());
    let recall = Recall::either(&log.recent_commits, &log.recent_aborts, txn);
    if !is_new_request(recall, txn, client, ctx) {
        return;
    }
    let mut participants = NodeSet::new();
    participants.insert(ctx.me());
    ctx.observe(Observation::TxnBegun { txn, participants });
    let now = ctx.now_us();
    let ok = N::rm_log(ctx.durable()).ledger.can_apply(&ops) && locks.try_lock(txn, &ops, now);
    let outcome = if ok { Outcome::Commit } else { Outcome::Abort };
    ctx.persist(|d| {
        let log = N::rm_log_mut(d);
        if ok {
            log.ledger.apply(&ops);
            log.recent_commits.insert(txn);
        } else {
            log.recent_aborts.insert(txn);
        }
    });
    let released = locks.release(txn, &ops, now);
    ctx.observe(Observation::Decided { txn, outcome });
    ctx.observe(Observation::applied_at_once(txn, outcome, released.locks));
    ctx.observe(Observation::Finished { txn });
    ctx.send(client, N::reply_msg(txn, outcome));
}

/// After a restart: takes the locks of the prepared transactions again (they stay in
/// doubt) and returns them, in id order.
pub fn relock<N: LockingWorld>(
    locks: &mut LockTable,
    ctx: &Ctx<'_, N>,
) -> Vec<(TxnId, N::Prepared)> {
    let prepared: Vec<(TxnId, N::Prepared)> = N::rm_log(ctx.durable())
        .prepared
        .iter()
        .map(|(t, r)| (t, r.clone()))
        .collect();
    for (txn, rec) in &prepared {
        let locked = locks.try_lock(*txn, rec.ops(), rec.prepared_at_us());
        assert!(locked, "prepared transactions never share keys");
    }
    prepared
}

/// What the checkers audit at a participant: its money, the transactions in doubt
/// and the locks held.
pub fn audit<P: Prepared>(
    log: &RmLog<P>,
    locks: &LockTable,
    now_us: u64,
    out: &mut Vec<AuditItem>,
) {
    let in_doubt = log
        .prepared
        .iter()
        .map(|(txn, rec)| (txn, rec.prepared_at_us(), rec.ops()));
    crate::observe::audit_resource_manager(&log.ledger, in_doubt, locks, now_us, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;
    use crate::protocols::two_pc::{Msg, PreparedRec, TwoPcNode};
    use crate::store::KeyDelta;

    fn ops(key: u32, delta: i64) -> ShardOps {
        let mut o = ShardOps::default();
        o.push(KeyDelta { key, delta });
        o
    }

    fn rec(ops: ShardOps) -> PreparedRec {
        PreparedRec {
            ops,
            participants: NodeSet::new(),
            prepared_at_us: 0,
        }
    }

    #[test]
    fn the_vote_follows_the_rules_in_order() {
        let mut log: RmLog<PreparedRec> = RmLog::new(Ledger::new(2, 10));
        let mut locks = LockTable::new(2);
        let v = |log: &RmLog<PreparedRec>, locks: &mut LockTable, txn, o| {
            log.verdict(txn, &o, locks, 0)
        };
        assert_eq!(v(&log, &mut locks, 1, ops(0, -5)), PrepareVerdict::Accept);
        log.prepared.insert(1, rec(ops(0, -5)));
        assert_eq!(
            v(&log, &mut locks, 1, ops(0, -5)),
            PrepareVerdict::AlreadyPrepared
        );
        assert_eq!(
            v(&log, &mut locks, 2, ops(0, 1)),
            PrepareVerdict::Refuse,
            "key 0 is locked by 1"
        );
        assert_eq!(
            v(&log, &mut locks, 3, ops(1, -11)),
            PrepareVerdict::Refuse,
            "the balance cannot take it"
        );
        log.promised.insert(4);
        assert_eq!(v(&log, &mut locks, 4, ops(1, 1)), PrepareVerdict::Refuse);
        log.recent_aborts.insert(5);
        assert_eq!(
            v(&log, &mut locks, 5, ops(1, 1)),
            PrepareVerdict::AlreadyFinished
        );
        assert_eq!(locks.held(), 1, "only the accepted vote locked");
    }

    /// Runs `f` as one handler of the participant node 1 (its TM is node 0).
    fn handle(
        d: &mut <TwoPcNode as crate::node::Node>::Durable,
        f: impl FnOnce(&mut Ctx<'_, TwoPcNode>),
    ) -> Vec<Command<TwoPcNode>> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(10, NodeId(1), d, &mut rng, &mut out);
        f(&mut ctx);
        out
    }

    #[test]
    fn an_abort_that_overtook_its_prepare_is_remembered_and_the_prepare_ignored() {
        let mut d = TwoPcNode::rm_durable(Ledger::new(2, 10));
        let mut locks = LockTable::new(2);
        let tm = NodeId(0);
        let out = handle(&mut d, |ctx| {
            learn(tm, 7, Outcome::Abort, ctx, |_| panic!("not prepared"))
        });
        assert!(matches!(out[..], [Command::Observe(_)]), "{out:?}");
        assert!(d.rm.recent_aborts.contains(7));
        let out = handle(&mut d, |ctx| {
            assert!(!vote(&mut locks, tm, 7, rec(ops(0, -1)), ctx));
        });
        assert!(out.is_empty(), "no vote, no lock: {out:?}");
        assert_eq!(locks.held(), 0);
    }

    #[test]
    fn a_commit_is_applied_once_and_acknowledged_every_time() {
        let mut d = TwoPcNode::rm_durable(Ledger::new(2, 10));
        let mut locks = LockTable::new(2);
        let tm = NodeId(0);
        handle(&mut d, |ctx| {
            assert!(vote(&mut locks, tm, 3, rec(ops(0, -4)), ctx));
        });
        assert_eq!(locks.held(), 1);
        for _ in 0..2 {
            let out = handle(&mut d, |ctx| {
                learn(tm, 3, Outcome::Commit, ctx, |ctx| {
                    apply(&mut locks, 3, Outcome::Commit, ctx)
                })
            });
            assert!(
                matches!(
                    out.last(),
                    Some(Command::Send {
                        to: NodeId(0),
                        msg: Msg::Ack { txn: 3 }
                    })
                ),
                "{out:?}"
            );
        }
        assert_eq!(d.rm.ledger.balance(0), Some(6), "applied once");
        assert_eq!(locks.held(), 0);
    }
}
