//! A 3PC participant (resource manager): one shard of accounts. Its vote and the
//! application of an outcome are the locking participant it shares with 2PC
//! ([`locking_rm`]); the commit path (w, p) and what it tells others are shared by
//! both variants; what its timeouts and its recovery do is
//! [`termination`](super::termination)'s (`Terminate`) or
//! [`decide_alone`](super::decide_alone)'s.

use super::termination::{Asker, Sites, Terminator, Verdict};
use super::{tell, Durable, Msg, PreparedRec, Report, State, ThreePcOptions, Timeouts, Timer, C};
use crate::idmap::{IdMap, Recall};
use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, Observation};
use crate::protocols::locking_rm;
use crate::store::{LockTable, ShardOps};

/// A resource manager: one shard of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rm {
    pub(super) tm: NodeId,
    /// Only with `standby_tm`.
    pub(super) standby: Option<NodeId>,
    pub(super) opts: ThreePcOptions,
    locks: LockTable,
    /// Volatile: the transactions in w or p this RM waits on.
    pub(super) waiting: IdMap<Waiting>,
    /// `Terminate`: the terminations it runs.
    terms: Terminator,
    /// `Terminate`: after a restart, its inquiries.
    asking: Asker,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Waiting {
    /// Known from the log after a restart: ask, never decide alone.
    pub recovered: bool,
    /// `Terminate`: the site it waits on for the outcome (the TM first, then the ones
    /// it elects or that poll it).
    pub coordinator: NodeId,
    /// `DecideAlone`: the first timeout asked the standby; the next one decides alone.
    pub asked_standby: bool,
    /// `DecideAlone`, after a restart: when the TM last answered (or the restart). Only
    /// a TM silent for a wait timeout is presumed down and the standby asked.
    pub tm_heard_at_us: u64,
}

impl Rm {
    pub(super) fn new(
        tm: NodeId,
        standby: Option<NodeId>,
        accounts: u32,
        opts: ThreePcOptions,
    ) -> Self {
        Rm {
            tm,
            standby: standby.filter(|_| opts.standby_tm),
            opts,
            locks: LockTable::new(accounts),
            waiting: IdMap::new(),
            terms: Terminator::default(),
            asking: Asker::default(),
        }
    }

    fn sites(&self) -> Sites {
        Sites {
            tm: self.tm,
            standby: self.standby,
        }
    }

    fn terminate(&self) -> bool {
        self.opts.timeouts == Timeouts::Terminate
    }

    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::CanCommit {
                txn,
                ops,
                participants,
            } => self.can_commit(from, txn, ops, participants, ctx),
            Msg::PreCommit { txn } => {
                if !self.terminate() {
                    self.heard_from_tm(txn, ctx);
                }
                self.precommit(from, txn, ctx);
            }
            Msg::Pending { txn } => self.heard_from_tm(txn, ctx),
            Msg::Decision { txn, outcome } => self.learn(txn, outcome, ctx),
            Msg::StateReq { txn } if self.terminate() => self.polled(from, txn, ctx),
            Msg::StateReq { txn } => {
                let state = self.state_for_terminator(txn, ctx);
                ctx.send(from, Msg::StateRep { txn, state });
            }
            Msg::Local { txn, ops, client } => {
                locking_rm::local(&mut self.locks, txn, ops, client, ctx)
            }
            Msg::Elect { txn, participants } => self.elected(from, txn, participants, ctx),
            Msg::Inquiry { txn, .. } if self.terminate() => {
                let report = self.report(txn, ctx);
                ctx.send(from, Msg::Report { txn, report });
            }
            Msg::Report { txn, report } => self.reported(from, txn, report, ctx),
            Msg::PreAck { txn } => {
                let v = self.terms.on_ack(from, txn, ctx);
                self.act(txn, v, ctx);
            }
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (timer, self.opts.timeouts) {
            (Timer::Participant(txn), Timeouts::DecideAlone) => self.decide_alone_timeout(txn, ctx),
            (Timer::Participant(txn), Timeouts::Terminate) => self.timeout(txn, ctx),
            (Timer::Poll(txn), _) => {
                let mine = self.own_state(txn, ctx);
                let (sites, interval) = (self.sites(), self.opts.inquiry_interval_us);
                let v = self.terms.on_window_end(txn, mine, sites, interval, ctx);
                self.act(txn, v, ctx);
            }
            _ => {}
        }
    }

    pub(super) fn can_commit(
        &mut self,
        tm: NodeId,
        txn: TxnId,
        ops: ShardOps,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        let rec = PreparedRec {
            ops,
            participants,
            prepared_at_us: ctx.now_us(),
            precommitted: false,
        };
        if !locking_rm::vote(&mut self.locks, tm, txn, rec, ctx) {
            return;
        }
        // In w: wait on the TM for PreCommit.
        self.waiting.insert(
            txn,
            Waiting {
                recovered: false,
                coordinator: tm,
                asked_standby: false,
                tm_heard_at_us: 0,
            },
        );
        ctx.set_timer(Timer::Participant(txn), self.opts.wait_timeout_us);
    }

    fn heard_from_tm(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        if let Some(w) = self.waiting.get_mut(&txn) {
            w.tm_heard_at_us = now;
        }
    }

    /// PreCommit from the TM or a terminator: record p, acknowledge to the sender.
    pub(super) fn precommit(&mut self, from: NodeId, txn: TxnId, ctx: &mut C<'_>) {
        let Some(rec) = ctx.durable().rm.prepared.get(&txn) else {
            return; // finished already (a duplicate, or it gave up in w)
        };
        let newly = !rec.precommitted;
        if newly {
            ctx.persist(|d| {
                if let Some(r) = d.rm.prepared.get_mut(&txn) {
                    r.precommitted = true;
                }
            });
        }
        match self.opts.timeouts {
            Timeouts::DecideAlone if newly => {
                if let Some(w) = self.waiting.get_mut(&txn).filter(|w| !w.recovered) {
                    // A new state, a new timeout (and a new chance to ask the standby).
                    w.asked_standby = false;
                    ctx.set_timer(Timer::Participant(txn), self.opts.precommit_timeout_us);
                }
            }
            Timeouts::Terminate if from != self.tm => self.follow(txn, from, ctx),
            Timeouts::Terminate if newly => {
                let waits_on_tm = self
                    .waiting
                    .get(&txn)
                    .is_some_and(|w| !w.recovered && w.coordinator == self.tm);
                if waits_on_tm && !self.terms.is_running(txn) {
                    ctx.set_timer(Timer::Participant(txn), self.opts.precommit_timeout_us);
                }
            }
            _ => {}
        }
        ctx.send(from, Msg::PreAck { txn });
    }

    /// Applies the outcome of `txn` (idempotent; [`locking_rm::learn`]). A Commit for
    /// a transaction no longer in w or p here was applied already (or aborted on a
    /// timeout): it is acknowledged all the same.
    pub(super) fn learn(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        locking_rm::learn(self.tm, txn, outcome, ctx, |ctx| {
            self.finish(txn, outcome, ctx)
        });
    }

    /// `txn` (in w or p) is decided: the RM stops waiting on anyone for it (its
    /// timer, a termination it runs, its inquiries), then applies `outcome`.
    pub(super) fn finish(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        if self.waiting.remove(&txn).is_some() {
            ctx.cancel_timer(Timer::Participant(txn));
        }
        self.terms.stop(txn, ctx);
        self.asking.stop(txn, ctx);
        locking_rm::apply(&mut self.locks, txn, outcome, ctx);
    }

    /// What this RM tells a terminator about a transaction it is not in doubt on.
    /// "Aborted" about one it never voted yes on is a promise, so it is made durable
    /// first.
    pub(super) fn state_for_terminator(&mut self, txn: TxnId, ctx: &mut C<'_>) -> State {
        let d = ctx.durable();
        if let Some(rec) = d.rm.prepared.get(&txn) {
            if rec.precommitted {
                State::PreCommitted
            } else {
                State::Uncertain
            }
        } else if d.rm.recent_commits.recall(txn) == Recall::Forgotten {
            // Older than the windows: it may have committed. Never promise abort on
            // a guess (nor tombstone it): that would be evidence for a split.
            State::Unknown
        } else if d.rm.recent_commits.contains(txn) && !d.rm.recent_aborts.contains(txn) {
            State::Committed
        } else {
            if !d.rm.recent_aborts.contains(txn) && !d.rm.promised.contains(txn) {
                ctx.persist(|d| d.rm.promised.insert(txn));
            }
            State::Aborted
        }
    }

    /// Locks of transactions in w or p are taken again; the RM asks until told.
    pub(super) fn recover(&mut self, ctx: &mut C<'_>) {
        for (txn, rec) in locking_rm::relock(&mut self.locks, ctx) {
            self.waiting.insert(
                txn,
                Waiting {
                    recovered: true,
                    coordinator: self.tm,
                    asked_standby: false,
                    tm_heard_at_us: if self.terminate() { 0 } else { ctx.now_us() },
                },
            );
            match self.opts.timeouts {
                Timeouts::DecideAlone => self.decide_alone_timeout(txn, ctx),
                Timeouts::Terminate => {
                    let (sites, interval) = (self.sites(), self.opts.inquiry_interval_us);
                    let timer = Timer::Participant(txn);
                    self.asking
                        .start(txn, rec.participants, sites, timer, interval, ctx);
                }
            }
        }
    }

    pub(super) fn audit(&self, d: &Durable, now_us: u64, out: &mut Vec<AuditItem>) {
        locking_rm::audit(&d.rm, &self.locks, now_us, out);
    }

    // ---- `Timeouts::Terminate`: election, termination, inquiries ----

    /// Current on `txn`: in w or p, and up since it voted.
    fn current(&self, txn: TxnId) -> bool {
        self.waiting.get(&txn).is_some_and(|w| !w.recovered)
    }

    /// Its own state while it is current on `txn`.
    fn own_state(&self, txn: TxnId, ctx: &C<'_>) -> Option<State> {
        let rec = ctx.durable().rm.prepared.get(&txn)?;
        self.current(txn).then_some(if rec.precommitted {
            State::PreCommitted
        } else {
            State::Uncertain
        })
    }

    fn report(&mut self, txn: TxnId, ctx: &mut C<'_>) -> Report {
        if ctx.durable().rm.prepared.contains_key(&txn) {
            Report {
                state: self.state_for_terminator(txn, ctx),
                current: self.current(txn),
                coordinating: self.terms.is_running(txn),
            }
        } else {
            Report::final_state(self.state_for_terminator(txn, ctx))
        }
    }

    /// Its wait timed out: suspect the site it waits on. After a restart: one
    /// inquiry window is over.
    fn timeout(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(participants) = ctx.durable().rm.prepared.get(&txn).map(|r| r.participants) else {
            self.waiting.remove(&txn);
            return;
        };
        if self.asking.is_running(txn) {
            let (sites, interval) = (self.sites(), self.opts.inquiry_interval_us);
            if let Some(outcome) = self.asking.on_window_end(txn, sites, interval, ctx) {
                self.decide(txn, outcome, participants, ctx);
            }
        } else if self.current(txn) && !self.terms.is_running(txn) {
            self.suspect(txn, participants, ctx);
        }
    }

    /// Elects the site ranked after the one it waits on — itself, when its turn comes.
    fn suspect(&mut self, txn: TxnId, participants: NodeSet, ctx: &mut C<'_>) {
        let me = ctx.me();
        let sites = self.sites();
        let Some(w) = self.waiting.get_mut(&txn) else {
            return;
        };
        match sites.next(w.coordinator, participants) {
            Some(next) if sites.rank(next) < sites.rank(me) => {
                w.coordinator = next;
                ctx.send(next, Msg::Elect { txn, participants });
                ctx.set_timer(Timer::Participant(txn), self.opts.election_timeout_us);
            }
            _ => {
                ctx.cancel_timer(Timer::Participant(txn));
                let interval = self.opts.inquiry_interval_us;
                self.terms.start(txn, participants, sites, interval, ctx);
            }
        }
    }

    /// From now on it waits on `site` (a terminator that polled it or sent PreCommit).
    fn follow(&mut self, txn: TxnId, site: NodeId, ctx: &mut C<'_>) {
        if self.terms.is_running(txn) {
            return;
        }
        if let Some(w) = self.waiting.get_mut(&txn).filter(|w| !w.recovered) {
            w.coordinator = site;
            ctx.set_timer(Timer::Participant(txn), self.opts.election_timeout_us);
        }
    }

    /// A terminator's poll: answer (a lower-ranked terminator wins), and wait on it.
    fn polled(&mut self, from: NodeId, txn: TxnId, ctx: &mut C<'_>) {
        self.terms.polled_by(from, txn, self.sites(), ctx);
        self.follow(txn, from, ctx);
        let report = self.report(txn, ctx);
        ctx.send(from, Msg::Report { txn, report });
    }

    fn elected(&mut self, from: NodeId, txn: TxnId, participants: NodeSet, ctx: &mut C<'_>) {
        if self.current(txn) && self.terminate() {
            if !self.terms.is_running(txn) {
                ctx.cancel_timer(Timer::Participant(txn));
                let (sites, interval) = (self.sites(), self.opts.inquiry_interval_us);
                self.terms.start(txn, participants, sites, interval, ctx);
            }
            return;
        }
        // Not a candidate (recovering), or it knows the outcome: say so.
        let report = self.report(txn, ctx);
        ctx.send(from, Msg::Report { txn, report });
    }

    fn reported(&mut self, from: NodeId, txn: TxnId, r: Report, ctx: &mut C<'_>) {
        if self.terms.is_running(txn) {
            let v = self.terms.on_report(from, txn, r, self.sites(), ctx);
            self.act(txn, v, ctx);
        } else if let Some(outcome) = r.state.outcome() {
            // An answer to its inquiry or its election: decided, and durably so.
            self.learn(txn, outcome, ctx);
        } else if self.asking.is_running(txn) {
            self.asking.on_report(from, txn, r, ctx);
        } else if !r.current && !r.coordinating {
            // The site it elected is not a candidate (it recovered from a crash).
            let waits_on_it = self
                .waiting
                .get(&txn)
                .is_some_and(|w| !w.recovered && w.coordinator == from);
            if waits_on_it {
                self.timeout(txn, ctx);
            }
        }
    }

    fn act(&mut self, txn: TxnId, v: Verdict, ctx: &mut C<'_>) {
        let Some((participants, precommitted)) = ctx
            .durable()
            .rm
            .prepared
            .get(&txn)
            .map(|r| (r.participants, r.precommitted))
        else {
            return;
        };
        match v {
            Verdict::Decide(outcome, _) => self.decide(txn, outcome, participants, ctx),
            Verdict::PreCommit(to) => {
                if !precommitted {
                    ctx.persist(|d| {
                        if let Some(r) = d.rm.prepared.get_mut(&txn) {
                            r.precommitted = true;
                        }
                    });
                }
                for n in to.iter() {
                    ctx.send(n, Msg::PreCommit { txn });
                }
            }
            Verdict::Yield(to) => self.follow(txn, to, ctx),
            Verdict::Wait => {}
        }
    }

    /// As a terminator, or a recovering site after total failure: decide, durably
    /// (by applying it), then tell every site.
    fn decide(&mut self, txn: TxnId, outcome: Outcome, participants: NodeSet, ctx: &mut C<'_>) {
        ctx.observe(Observation::Decided { txn, outcome });
        self.finish(txn, outcome, ctx);
        let to = self.sites().others(participants, ctx.me());
        tell(to, txn, outcome, ctx);
        ctx.observe(Observation::Finished { txn });
    }
}
