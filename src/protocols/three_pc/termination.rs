//! `Timeouts::Terminate`: the election, the termination protocol and the inquiries of
//! recovering sites (BHG §7.4–7.5; Skeen 1981), shared by the participants, the
//! standby and the TM.
//!
//! **Sites.** The sites of a transaction are the TM, the standby (with `standby_tm`)
//! and the participants, ranked in that order (participants by node id). A site is
//! *current* on a transaction while its state of it is evidence: a participant that
//! has been up since it voted yes, the TM while it coordinates. A site that restarts
//! with the transaction in w or p is *recovering*: a decision may have been taken
//! while it was down, so its w or p proves nothing, and it never terminates.
//!
//! **Election.** A current participant that times out on the site it waits for (first
//! the TM) suspects it and moves to the next rank, telling that site it is elected
//! (`Elect`, BHG's UR-ELECTED: it may not have timed out yet). The elected site
//! terminates; a recovering one answers that it is not a candidate, a site that knows
//! the outcome answers with it, and one that is down says nothing until the elector's
//! `election_timeout` moves it on. When its turn comes a participant terminates
//! itself. A site that polls it is the one it waits for from then on.
//!
//! **One terminator at a time, even when two start.** Two terminators could split:
//! one reads a site's w and aborts, the other moves that site to p and commits. So a
//! terminator that hears from a lower-ranked one that is terminating (its poll, or an
//! answer that says so) yields to it; a decision is sent to every site; and a
//! terminator decides by TR3 or TR4 only a full polling window (`inquiry_interval`)
//! after its poll, a window validation makes longer than three one-way delays d.
//! Then any two terminators hear of each other, or of the other's decision, before
//! either decides by TR3 or TR4. If both start while the other is polling, each poll
//! arrives within d and its answer within 2d. If one, B, is elected late — by an
//! `Elect` its sender sent before the first one's poll reached it, so at most d after
//! that poll — B polls within 2d of the first's poll and reaches it within 3d, while
//! it is still undecided.
//!
//! **The rules** (BHG §7.5), on the answers of one window: TR1 some site aborted →
//! abort; TR2 some site committed → commit (both at once, on the answer); TR4 some
//! current site is committable (p) → PreCommit every current site, wait one window
//! for the acks (the silent are presumed failed), then commit; TR3 every current site
//! that answered, the terminator included, is uncertain (w) → abort. No current site
//! answered: ask again. Only a standby can terminate without being current itself.
//!
//! **Recovery and total failure** (BHG §7.4). A recovering site asks every site each
//! `inquiry_interval` until one answers with the outcome. Only when every other site
//! has answered, none current and none terminating, does it decide, and then abort:
//! every decision is durable at its decider (a participant's c or a, the TM's Commit
//! record, the standby's decision), so if none of them shows one, nobody decided.
//! Until then it waits — after the failure of every site that knew the outcome, 3PC
//! blocks too.

use super::{Msg, Report, State, Timer, C};
use crate::idmap::IdMap;
use crate::node::{NodeId, NodeSet, Outcome, TxnId};

/// Who the sites of a transaction are, and their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Sites {
    pub tm: NodeId,
    /// Only with `standby_tm`.
    pub standby: Option<NodeId>,
}

impl Sites {
    pub fn rank(self, n: NodeId) -> u32 {
        if n == self.tm {
            0
        } else if Some(n) == self.standby {
            1
        } else {
            2 + n.0
        }
    }

    /// Every site of a transaction over `participants`.
    pub fn all(self, participants: NodeSet) -> NodeSet {
        let mut s = participants;
        s.insert(self.tm);
        if let Some(b) = self.standby {
            s.insert(b);
        }
        s
    }

    /// Every site but `me`.
    pub fn others(self, participants: NodeSet, me: NodeId) -> NodeSet {
        let mut s = self.all(participants);
        s.remove(me);
        s
    }

    /// The site ranked right after `after`, if any.
    pub fn next(self, after: NodeId, participants: NodeSet) -> Option<NodeId> {
        let r = self.rank(after);
        self.all(participants)
            .iter()
            .filter(|n| self.rank(*n) > r)
            .min_by_key(|n| self.rank(*n))
    }
}

/// The answers of one polling window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Round {
    /// Current sites in w.
    uncertain: NodeSet,
    /// Current sites in p.
    committable: NodeSet,
    /// Sites whose answer is no evidence and that coordinate nothing (a recovering
    /// site, a TM without a record, a standby that decided nothing).
    quiet: NodeSet,
}

impl Round {
    /// Records `r`; the outcome if it settles the transaction (TR1, TR2).
    fn add(&mut self, from: NodeId, r: Report) -> Option<Outcome> {
        if let Some(outcome) = r.state.outcome() {
            return Some(outcome);
        }
        match (r.current, r.state) {
            (true, State::Uncertain) => self.uncertain.insert(from),
            (true, State::PreCommitted) => self.committable.insert(from),
            _ => {}
        }
        if !r.current && !r.coordinating {
            self.quiet.insert(from);
        }
        None
    }
}

/// Sends `msg` to every site of `to` and ends the window after `interval_us`.
fn poll(to: NodeSet, msg: Msg, timer: Timer, interval_us: u64, ctx: &mut C<'_>) {
    for n in to.iter() {
        ctx.send(n, msg.clone());
    }
    ctx.set_timer(timer, interval_us);
}

/// What a terminator's step asks its node to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Make the outcome durable, then tell every site of the transaction (over these
    /// participants).
    Decide(Outcome, NodeSet),
    /// TR4: move to p (if not there yet) and send PreCommit to these sites.
    PreCommit(NodeSet),
    /// A lower-ranked site terminates: wait for it.
    Yield(NodeId),
    Wait,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Term {
    participants: NodeSet,
    round: Round,
    /// TR4 under way: the sites sent PreCommit, and those that acked.
    precommit: Option<(NodeSet, NodeSet)>,
}

/// The terminations a node runs (a participant's or the standby's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Terminator {
    running: IdMap<Term>,
}

impl Terminator {
    pub fn is_running(&self, txn: TxnId) -> bool {
        self.running.contains_key(&txn)
    }

    /// Starts terminating `txn` (unless it already is): polls every other site.
    pub fn start(
        &mut self,
        txn: TxnId,
        participants: NodeSet,
        sites: Sites,
        interval_us: u64,
        ctx: &mut C<'_>,
    ) {
        if self.is_running(txn) {
            return;
        }
        self.running.insert(
            txn,
            Term {
                participants,
                round: Round::default(),
                precommit: None,
            },
        );
        let to = sites.others(participants, ctx.me());
        poll(
            to,
            Msg::StateReq { txn },
            Timer::Poll(txn),
            interval_us,
            ctx,
        );
    }

    pub fn stop(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if self.running.remove(&txn).is_some() {
            ctx.cancel_timer(Timer::Poll(txn));
        }
    }

    /// Ends the termination of `txn` with `outcome`.
    fn decide(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) -> Verdict {
        let t = self
            .running
            .remove(&txn)
            .expect("a termination in progress");
        ctx.cancel_timer(Timer::Poll(txn));
        Verdict::Decide(outcome, t.participants)
    }

    /// A poll from `from`: a lower-ranked terminator wins. Whether this node yielded.
    pub fn polled_by(&mut self, from: NodeId, txn: TxnId, sites: Sites, ctx: &mut C<'_>) -> bool {
        if self.is_running(txn) && sites.rank(from) < sites.rank(ctx.me()) {
            self.stop(txn, ctx);
            return true;
        }
        false
    }

    /// An answer to this node's poll.
    pub fn on_report(
        &mut self,
        from: NodeId,
        txn: TxnId,
        r: Report,
        sites: Sites,
        ctx: &mut C<'_>,
    ) -> Verdict {
        let Some(t) = self.running.get_mut(&txn) else {
            return Verdict::Wait;
        };
        if let Some(outcome) = t.round.add(from, r) {
            return self.decide(txn, outcome, ctx);
        }
        if r.coordinating && sites.rank(from) < sites.rank(ctx.me()) {
            self.stop(txn, ctx);
            return Verdict::Yield(from);
        }
        Verdict::Wait
    }

    /// A PreCommit ack (TR4): with every ack in, commit.
    pub fn on_ack(&mut self, from: NodeId, txn: TxnId, ctx: &mut C<'_>) -> Verdict {
        let Some((sent, acked)) = self
            .running
            .get_mut(&txn)
            .and_then(|t| t.precommit.as_mut())
        else {
            return Verdict::Wait;
        };
        acked.insert(from);
        if !acked.is_superset(*sent) {
            return Verdict::Wait;
        }
        self.decide(txn, Outcome::Commit, ctx)
    }

    /// The end of a window. `mine`: the terminator's own state if it is a participant
    /// (current: a participant terminates only while it is).
    pub fn on_window_end(
        &mut self,
        txn: TxnId,
        mine: Option<State>,
        sites: Sites,
        interval_us: u64,
        ctx: &mut C<'_>,
    ) -> Verdict {
        let me = ctx.me();
        let Some(t) = self.running.get_mut(&txn) else {
            return Verdict::Wait;
        };
        if t.precommit.is_some() {
            // TR4, second half: the sites that did not ack are presumed failed.
            return self.decide(txn, Outcome::Commit, ctx);
        }
        let (mut uncertain, mut committable) = (t.round.uncertain, t.round.committable);
        match mine {
            Some(State::Uncertain) => uncertain.insert(me),
            Some(State::PreCommitted) => committable.insert(me),
            _ => {}
        }
        if !committable.is_empty() {
            // TR4: first move every current site to p.
            let mut to = uncertain.union(committable);
            to.remove(me);
            if to.is_empty() {
                return self.decide(txn, Outcome::Commit, ctx);
            }
            t.precommit = Some((to, NodeSet::new()));
            ctx.set_timer(Timer::Poll(txn), interval_us);
            return Verdict::PreCommit(to);
        }
        if !uncertain.is_empty() {
            return self.decide(txn, Outcome::Abort, ctx); // TR3
        }
        let others = sites.others(t.participants, me);
        if t.round.quiet.is_superset(others) {
            // Total failure, and every site heard: nobody decided.
            return self.decide(txn, Outcome::Abort, ctx);
        }
        // No current site answered: ask again.
        t.round = Round::default();
        poll(
            others,
            Msg::StateReq { txn },
            Timer::Poll(txn),
            interval_us,
            ctx,
        );
        Verdict::Wait
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Asking {
    participants: NodeSet,
    round: Round,
    timer: Timer,
}

/// The inquiries of a recovering site (a participant, or the TM): it never decides
/// alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Asker {
    running: IdMap<Asking>,
}

impl Asker {
    pub fn is_running(&self, txn: TxnId) -> bool {
        self.running.contains_key(&txn)
    }

    /// Asks every other site what became of `txn`, again at the end of each window
    /// (`timer`).
    pub fn start(
        &mut self,
        txn: TxnId,
        participants: NodeSet,
        sites: Sites,
        timer: Timer,
        interval_us: u64,
        ctx: &mut C<'_>,
    ) {
        self.running.insert(
            txn,
            Asking {
                participants,
                round: Round::default(),
                timer,
            },
        );
        let to = sites.others(participants, ctx.me());
        let msg = Msg::Inquiry { txn, participants };
        poll(to, msg, timer, interval_us, ctx);
    }

    pub fn stop(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if let Some(a) = self.running.remove(&txn) {
            ctx.cancel_timer(a.timer);
        }
    }

    /// An answer: the outcome, if it tells one.
    pub fn on_report(
        &mut self,
        from: NodeId,
        txn: TxnId,
        r: Report,
        ctx: &mut C<'_>,
    ) -> Option<Outcome> {
        let a = self.running.get_mut(&txn)?;
        let outcome = a.round.add(from, r)?;
        self.stop(txn, ctx);
        Some(outcome)
    }

    /// The end of a window: abort if every other site answered and none is current
    /// or terminating (total failure, nobody decided); else ask again.
    pub fn on_window_end(
        &mut self,
        txn: TxnId,
        sites: Sites,
        interval_us: u64,
        ctx: &mut C<'_>,
    ) -> Option<Outcome> {
        let me = ctx.me();
        let a = self.running.get_mut(&txn)?;
        let others = sites.others(a.participants, me);
        if a.round.quiet.is_superset(others) {
            self.stop(txn, ctx);
            return Some(Outcome::Abort);
        }
        a.round = Round::default();
        let msg = Msg::Inquiry {
            txn,
            participants: a.participants,
        };
        poll(others, msg, a.timer, interval_us, ctx);
        None
    }
}
