//! The 3PC coordinator: CanCommit, PreCommit, DoCommit, resends; after a restart it
//! resends its Commit decisions and, for the transactions it was pre-committing, is a
//! recovering site like any other (`Terminate`: it asks, [`termination`](super::termination))
//! or terminates them (`DecideAlone`).

use super::decide_alone::SimpleTerminator;
use super::termination::{Asker, Sites};
use super::{tell, AckTimeout, Msg, Report, State, ThreePcOptions, Timeouts, Timer, TmRec, C};
use crate::idmap::IdMap;
use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::Observation;
use crate::protocols::commit_acks::CommitAcks;
use crate::protocols::locking_rm;
use crate::workload::{Admission, TxnRequest};

/// The coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tm {
    rms: Vec<NodeId>,
    /// Only with `standby_tm`.
    standby: Option<NodeId>,
    pub(super) opts: ThreePcOptions,
    pub(super) voting: IdMap<Voting>,
    /// PreCommit sent, collecting acks.
    pub(super) precommitting: IdMap<Voting>,
    /// Commit decided, collecting HaveCommitted acks (DoCommit resent until they are in).
    acks: CommitAcks<Timer>,
    /// `DecideAlone`: pre-committing records found in the log at recovery.
    pub(super) terminator: SimpleTerminator,
    /// `Terminate`: pre-committing records found in the log at recovery.
    asking: Asker,
    /// Requests begun in this incarnation (with the durable floor: never begun twice).
    admission: Admission,
}

/// Votes (or PreCommit acks) being collected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Voting {
    participants: NodeSet,
    yes: NodeSet,
    client: NodeId,
}

impl Tm {
    pub(super) fn new(rms: Vec<NodeId>, standby: Option<NodeId>, opts: ThreePcOptions) -> Self {
        Tm {
            rms,
            standby: standby.filter(|_| opts.standby_tm),
            acks: CommitAcks::new(Timer::DecisionRetry, opts.decision_retry_us),
            opts,
            voting: IdMap::new(),
            precommitting: IdMap::new(),
            terminator: SimpleTerminator::default(),
            asking: Asker::default(),
            admission: Admission::default(),
        }
    }

    fn terminate(&self) -> bool {
        self.opts.timeouts == Timeouts::Terminate
    }

    fn sites(&self, ctx: &C<'_>) -> Sites {
        Sites {
            tm: ctx.me(),
            standby: self.standby,
        }
    }

    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
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
                if !self.acks.ack(txn, from) {
                    return; // others still owe theirs
                }
                ctx.persist(|d| d.tm_log.remove(&txn));
                ctx.observe(Observation::Finished { txn });
            }
            Msg::Inquiry { txn, .. } if self.terminate() => {
                // A recovering site in w or p: had the TM committed and forgotten, that
                // site would have acknowledged, so what the TM does not know aborted.
                let report = self
                    .report(txn, ctx)
                    .unwrap_or(Report::final_state(State::Aborted));
                ctx.send(from, Msg::Report { txn, report });
            }
            Msg::Inquiry { txn, .. } => self.decide_alone_inquiry(from, txn, ctx),
            Msg::StateReq { txn } if self.terminate() => {
                // A terminator: it may be polling after every participant committed and
                // the TM forgot, so no record is no evidence here.
                let report = self.report(txn, ctx).unwrap_or(Report {
                    state: State::Unknown,
                    current: false,
                    coordinating: false,
                });
                ctx.send(from, Msg::Report { txn, report });
            }
            Msg::StateRep { txn, state } => self.decide_alone_state(from, txn, state, ctx),
            Msg::Report { txn, report } => {
                if let Some(outcome) = self.asking.on_report(from, txn, report, ctx) {
                    self.adopt(txn, outcome, ctx);
                }
            }
            Msg::Decision { txn, outcome } if self.terminate() => self.adopt(txn, outcome, ctx),
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match timer {
            Timer::Vote(txn) => self.abort_voting(txn, ctx),
            Timer::PreAck(txn) => self.ack_timeout(txn, ctx),
            Timer::DecisionRetry => self.acks.resend(ctx),
            Timer::Poll(txn) if self.terminate() => {
                let (sites, interval) = (self.sites(ctx), self.opts.inquiry_interval_us);
                if let Some(outcome) = self.asking.on_window_end(txn, sites, interval, ctx) {
                    self.adopt(txn, outcome, ctx);
                }
            }
            Timer::Poll(txn) => self.decide_alone_poll(txn, ctx),
            _ => {}
        }
    }

    /// What the TM knows of `txn` (`None`: no record of it).
    fn report(&self, txn: TxnId, ctx: &C<'_>) -> Option<Report> {
        if self.voting.contains_key(&txn) || self.precommitting.contains_key(&txn) {
            return Some(Report {
                state: State::Unknown,
                current: true,
                coordinating: true,
            });
        }
        let rec = ctx.durable().tm_log.get(&txn)?;
        Some(if rec.committed {
            Report::final_state(State::Committed)
        } else {
            // Pre-committing, found in the log at recovery: no evidence.
            Report {
                state: State::PreCommitted,
                current: false,
                coordinating: false,
            }
        })
    }

    pub(super) fn begin(&mut self, client: NodeId, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        // A stale copy is answered from the log when it holds the Commit decision.
        let known = ctx
            .durable()
            .tm_log
            .get(&txn)
            .is_some_and(|r| r.committed)
            .then_some(Outcome::Commit);
        // Admitted once; one shard: the RM commits at once, as in 2PC.
        let (admission, rms) = (&mut self.admission, &self.rms);
        let Some(participants) = locking_rm::begin(admission, rms, client, req, known, ctx) else {
            return;
        };
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
            AckTimeout::Abort => self.abort_precommitting(txn, ctx),
        }
    }

    fn abort_precommitting(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(v) = self.precommitting.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::PreAck(txn));
        ctx.persist(|d| d.tm_log.remove(&txn));
        self.abort(txn, v, ctx);
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

    pub(super) fn decide_commit(&mut self, txn: TxnId, participants: NodeSet, ctx: &mut C<'_>) {
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
        self.acks.sent(txn, participants, ctx);
    }

    /// `Terminate`: a terminator decided (or, after total failure, every site said
    /// nobody did). A TM still coordinating `txn` takes the decision too: it is
    /// durable at its decider.
    fn adopt(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        self.asking.stop(txn, ctx);
        match outcome {
            Outcome::Abort if self.voting.contains_key(&txn) => self.abort_voting(txn, ctx),
            Outcome::Abort if self.precommitting.contains_key(&txn) => {
                self.abort_precommitting(txn, ctx)
            }
            Outcome::Commit if self.precommitting.contains_key(&txn) => self.commit(txn, ctx),
            _ => {
                let Some(rec) = ctx.durable().tm_log.get(&txn).copied() else {
                    return;
                };
                if rec.committed {
                    return;
                }
                let participants = rec.participants;
                match outcome {
                    Outcome::Commit => self.decide_commit(txn, participants, ctx),
                    Outcome::Abort => {
                        ctx.persist(|d| d.tm_log.remove(&txn));
                        ctx.observe(Observation::Decided { txn, outcome });
                        let to = self.sites(ctx).others(participants, ctx.me());
                        tell(to, txn, outcome, ctx);
                        ctx.observe(Observation::Finished { txn });
                    }
                }
            }
        }
    }

    /// Committed records: resend DoCommit. Pre-committing records: ask the others
    /// (`Terminate`) or terminate (`DecideAlone`). Transactions still voting were not
    /// logged: aborted by presumption.
    pub(super) fn recover(&mut self, ctx: &mut C<'_>) {
        let log: Vec<(TxnId, TmRec)> = ctx.durable().tm_log.iter().map(|(t, r)| (t, *r)).collect();
        self.admission.recover(log.iter().map(|(t, _)| *t), ctx);
        let (sites, interval) = (self.sites(ctx), self.opts.inquiry_interval_us);
        for (txn, rec) in log {
            if rec.committed {
                self.acks.recovered(txn, rec.participants);
            } else if self.terminate() {
                let timer = Timer::Poll(txn);
                self.asking
                    .start(txn, rec.participants, sites, timer, interval, ctx);
            } else {
                self.terminator.start(txn, rec.participants, interval, ctx);
            }
        }
        self.acks.resend(ctx);
    }
}
