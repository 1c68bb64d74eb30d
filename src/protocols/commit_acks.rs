//! The Commit decisions a coordinator resends until every participant has
//! acknowledged them, shared by 2PC's phase 2 (Gray & Lamport, "Consensus on
//! Transaction Commit", 2006, §3: the TM forgets a committed transaction only once
//! every RM has acknowledged it; under presumed abort an Abort needs no
//! acknowledgement) and 3PC's DoCommit (Skeen, "Nonblocking Commit Protocols", 1981;
//! Bernstein, Hadzilacos & Goodman, 1987, ch. 7).
//!
//! One retry timer serves every pending decision: each time it fires, a decision last
//! sent at least a retry interval ago goes again to the participants that have not
//! acknowledged it, and the timer is set again while any decision is pending.

use super::locking_rm::LockingWorld;
use crate::idmap::IdMap;
use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};

/// The Commit decisions not yet acknowledged by all their participants (volatile:
/// a recovering coordinator rebuilds it from its log), and the retry timer `T`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommitAcks<T> {
    timer: T,
    retry_us: u64,
    pending: IdMap<Pending>,
    /// The retry timer is set.
    armed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pending {
    participants: NodeSet,
    acked: NodeSet,
    /// When Commit was last sent to the participants that have not acknowledged.
    sent_at_us: u64,
}

impl<T: Clone> CommitAcks<T> {
    /// Resends with `timer`, every `retry_us`.
    pub fn new(timer: T, retry_us: u64) -> Self {
        CommitAcks {
            timer,
            retry_us,
            pending: IdMap::new(),
            armed: false,
        }
    }

    /// Commit of `txn` has just been sent to `participants`.
    pub fn sent<N: Node<Timer = T>>(
        &mut self,
        txn: TxnId,
        participants: NodeSet,
        ctx: &mut Ctx<'_, N>,
    ) {
        self.insert(txn, participants, ctx.now_us());
        self.arm(ctx);
    }

    /// At recovery: Commit of `txn`, found in the log, is due to `participants` again
    /// (at the next [`CommitAcks::resend`]).
    pub fn recovered(&mut self, txn: TxnId, participants: NodeSet) {
        self.insert(txn, participants, 0);
    }

    fn insert(&mut self, txn: TxnId, participants: NodeSet, sent_at_us: u64) {
        self.pending.insert(
            txn,
            Pending {
                participants,
                acked: NodeSet::new(),
                sent_at_us,
            },
        );
    }

    /// `from` acknowledged Commit of `txn`. Whether that was the last
    /// acknowledgement (the decision is then no longer pending).
    pub fn ack(&mut self, txn: TxnId, from: NodeId) -> bool {
        let Some(p) = self.pending.get_mut(&txn) else {
            return false; // finished already, or never pending here
        };
        p.acked.insert(from);
        if !p.acked.is_superset(p.participants) {
            return false;
        }
        self.pending.remove(&txn);
        true
    }

    /// Who acknowledged Commit of `txn` so far, while it is pending.
    pub fn acked(&self, txn: TxnId) -> Option<NodeSet> {
        self.pending.get(&txn).map(|p| p.acked)
    }

    fn arm<N: Node<Timer = T>>(&mut self, ctx: &mut Ctx<'_, N>) {
        if !self.armed && !self.pending.is_empty() {
            self.armed = true;
            ctx.set_timer(self.timer.clone(), self.retry_us);
        }
    }

    /// The retry timer fired (or the coordinator recovered): resends Commit for the
    /// decisions unacknowledged for a retry interval, then sets the timer again.
    pub fn resend<N: LockingWorld<Timer = T>>(&mut self, ctx: &mut Ctx<'_, N>) {
        self.armed = false;
        let now = ctx.now_us();
        let retry = self.retry_us;
        self.pending.for_each_mut(|txn, p| {
            if now < p.sent_at_us + retry {
                return;
            }
            p.sent_at_us = now;
            for rm in p.participants.iter().filter(|r| !p.acked.contains(*r)) {
                ctx.send(rm, N::decision_msg(txn, Outcome::Commit));
            }
        });
        self.arm(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;
    use crate::protocols::two_pc::{Msg, Timer, TwoPcNode};

    fn at(
        now_us: u64,
        acks: &mut CommitAcks<Timer>,
        f: impl FnOnce(&mut CommitAcks<Timer>, &mut Ctx<'_, TwoPcNode>),
    ) -> Vec<Command<TwoPcNode>> {
        let mut d = Default::default();
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(now_us, NodeId(0), &mut d, &mut rng, &mut out);
        f(acks, &mut ctx);
        out
    }

    fn sent_to(out: &[Command<TwoPcNode>]) -> Vec<NodeId> {
        out.iter()
            .filter_map(|c| match c {
                Command::Send {
                    to,
                    msg: Msg::Decision { .. },
                } => Some(*to),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn commit_goes_again_to_the_silent_participants_until_all_acknowledged() {
        let mut acks = CommitAcks::new(Timer::DecisionRetry, 100);
        let both: NodeSet = [NodeId(1), NodeId(2)].into_iter().collect();
        let out = at(10, &mut acks, |a, ctx| a.sent(5, both, ctx));
        assert!(matches!(out[..], [Command::SetTimer { after_us: 100, .. }]));
        assert!(!acks.ack(5, NodeId(1)), "node 2 still owes its ack");
        let early = at(50, &mut acks, |a, ctx| a.resend(ctx));
        assert!(sent_to(&early).is_empty(), "sent 40 µs ago: not yet");
        let out = at(110, &mut acks, |a, ctx| a.resend(ctx));
        assert_eq!(sent_to(&out), vec![NodeId(2)]);
        assert!(acks.ack(5, NodeId(2)));
        assert!(!acks.ack(5, NodeId(2)), "finished: a late copy is nothing");
        let out = at(210, &mut acks, |a, ctx| a.resend(ctx));
        assert!(out.is_empty(), "nothing pending, no timer: {out:?}");
    }
}
