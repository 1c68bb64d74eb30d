//! `Timeouts::DecideAlone`: the simplified timeout rules of many presentations of 3PC,
//! kept as a variant that teaches (and as the protocol this crate ran before it
//! followed Skeen and BHG; its runs are unchanged, to the digest).
//!
//! - A participant that times out in w aborts, in p commits — alone. With
//!   `standby_tm`, its first timeout asks the standby, which terminates; only a second
//!   timeout decides alone.
//! - A participant that restarts in w or p asks the TM until told (and the standby
//!   once the TM has been silent for a wait timeout). The TM answers from its log
//!   ("pending" while it is still deciding); what it does not know it presumes aborted.
//! - The terminator (a TM recovering with pre-committing records, or the standby)
//!   asks every participant its state and acts on the answers in arrival order:
//!   committed or pre-committed → commit at once; aborted or never voted yes → abort;
//!   one polling interval after asking, if every participant that answered is
//!   uncertain → abort; nobody answered → ask again.
//!
//! Why it is not 3PC: w and p are safe to decide from only while the site has been up
//! and every other site is either up or failed *for good*. A participant that decides
//! alone while another restarts, or a terminator that takes a restarted site's w as
//! evidence, or commits at once on a p that a later terminator does not see, can
//! split the outcome with crashes alone (`scenarios/3pc-decide-alone-crashes.ron`):
//! rm1 is down when PreCommit comes and stays in w, rm2 commits on its own timeout and
//! crashes, the TM restarts, hears only rm1's w, and aborts.

use super::rm::{Rm, Waiting};
use super::standby::Standby;
use super::tm::Tm;
use super::{tell, Msg, State, Timer, C};
use crate::idmap::IdMap;
use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::Observation;

/// One termination in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Term {
    participants: NodeSet,
    /// Participants that answered "uncertain" since the last poll.
    uncertain: NodeSet,
}

/// The simple termination protocol, shared by the recovering TM and the standby.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct SimpleTerminator {
    running: IdMap<Term>,
}

impl SimpleTerminator {
    pub fn start(&mut self, txn: TxnId, participants: NodeSet, interval_us: u64, ctx: &mut C<'_>) {
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

    /// The rules on one answer: the decision and the participants to tell.
    pub fn on_state(
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
            State::Uncertain | State::Unknown => {
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

    /// The end of a polling interval: abort if some answer came and all were
    /// uncertain, else ask again.
    pub fn on_poll(
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

impl Rm {
    /// The w or p timeout: ask the standby first (if any), then decide alone — abort
    /// in w, commit in p. After a restart: ask the TM (and standby) again.
    pub(super) fn decide_alone_timeout(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(rec) = ctx.durable().rm.prepared.get(&txn).cloned() else {
            self.waiting.remove(&txn);
            return;
        };
        let w = self.waiting.get(&txn).copied().unwrap_or(Waiting {
            recovered: false,
            coordinator: self.tm,
            asked_standby: false,
            tm_heard_at_us: 0,
        });
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
        ctx.observe(Observation::DecidedAlone { txn });
        self.finish(txn, outcome, ctx);
        if outcome == Outcome::Commit {
            ctx.send(self.tm, Msg::Ack { txn });
        }
    }
}

impl Tm {
    /// A restarted participant asks: answer from the log ("pending" while voting or
    /// terminating; what the TM does not know it presumes aborted).
    pub(super) fn decide_alone_inquiry(&mut self, from: NodeId, txn: TxnId, ctx: &mut C<'_>) {
        let msg = if ctx.durable().tm_log.get(&txn).is_some_and(|r| r.committed) {
            Msg::Decision {
                txn,
                outcome: Outcome::Commit,
            }
        } else if self.precommitting.contains_key(&txn) {
            Msg::PreCommit { txn }
        } else if self.voting.contains_key(&txn) || ctx.durable().tm_log.contains_key(&txn) {
            Msg::Pending { txn } // still voting, or terminating: the RM will be told
        } else {
            Msg::Decision {
                txn,
                outcome: Outcome::Abort, // presumed abort
            }
        };
        ctx.send(from, msg);
    }

    pub(super) fn decide_alone_state(
        &mut self,
        from: NodeId,
        txn: TxnId,
        s: State,
        ctx: &mut C<'_>,
    ) {
        if let Some((outcome, participants)) = self.terminator.on_state(from, txn, s, ctx) {
            self.terminated(txn, outcome, participants, ctx);
        }
    }

    pub(super) fn decide_alone_poll(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let interval = self.opts.inquiry_interval_us;
        if let Some((outcome, participants)) = self.terminator.on_poll(txn, interval, ctx) {
            self.terminated(txn, outcome, participants, ctx);
        }
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
}

impl Standby {
    /// Terminates what a participant asks about; remembers (in volatile memory) what
    /// it decided, so that later inquiries get the same answer.
    pub(super) fn decide_alone_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Inquiry { txn, participants } => {
                if let Some(&outcome) = self.decided.get(&txn) {
                    ctx.send(from, Msg::Decision { txn, outcome });
                } else {
                    let interval = self.opts.inquiry_interval_us;
                    self.terminator.start(txn, participants, interval, ctx);
                }
            }
            Msg::StateRep { txn, state } => {
                if let Some((outcome, participants)) =
                    self.terminator.on_state(from, txn, state, ctx)
                {
                    self.decide_alone(txn, outcome, participants, ctx);
                }
            }
            _ => {}
        }
    }

    pub(super) fn decide_alone_poll(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let interval = self.opts.inquiry_interval_us;
        if let Some((outcome, participants)) = self.terminator.on_poll(txn, interval, ctx) {
            self.decide_alone(txn, outcome, participants, ctx);
        }
    }

    fn decide_alone(
        &mut self,
        txn: TxnId,
        outcome: Outcome,
        participants: NodeSet,
        ctx: &mut C<'_>,
    ) {
        self.decided.insert(txn, outcome);
        ctx.observe(Observation::Decided { txn, outcome });
        tell(participants, txn, outcome, ctx);
    }
}
