//! The standby coordinator (`standby_tm`): a site without the TM's log, ranked right
//! after it. It terminates when a participant elects it (`Terminate`) or asks it
//! (`DecideAlone`). Under `Terminate` its decisions are durable: a standby that
//! decided and crashed tells the same outcome when it is back.

use super::decide_alone::SimpleTerminator;
use super::termination::{Sites, Terminator, Verdict};
use super::{tell, Msg, Report, State, ThreePcOptions, Timeouts, Timer, C};
use crate::idmap::IdMap;
use crate::node::{NodeId, Outcome, TxnId};
use crate::observe::Observation;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Standby {
    tm: NodeId,
    pub(super) opts: ThreePcOptions,
    /// `Terminate`.
    terms: Terminator,
    /// `DecideAlone`.
    pub(super) terminator: SimpleTerminator,
    /// `DecideAlone`: what it decided (volatile, as that variant always had it).
    pub(super) decided: IdMap<Outcome>,
}

impl Standby {
    pub(super) fn new(tm: NodeId, opts: ThreePcOptions) -> Self {
        Standby {
            tm,
            opts,
            terms: Terminator::default(),
            terminator: SimpleTerminator::default(),
            decided: IdMap::new(),
        }
    }

    fn sites(&self, ctx: &C<'_>) -> Sites {
        Sites {
            tm: self.tm,
            standby: Some(ctx.me()),
        }
    }

    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        if self.opts.timeouts == Timeouts::DecideAlone {
            return self.decide_alone_message(from, msg, ctx);
        }
        let sites = self.sites(ctx);
        let interval = self.opts.inquiry_interval_us;
        match msg {
            Msg::Elect { txn, participants } => {
                if ctx.durable().standby_decided.contains_key(&txn) {
                    let report = self.report(txn, ctx);
                    ctx.send(from, Msg::Report { txn, report });
                } else {
                    self.terms.start(txn, participants, sites, interval, ctx);
                }
            }
            Msg::StateReq { txn } | Msg::Inquiry { txn, .. } => {
                if matches!(msg, Msg::StateReq { .. }) {
                    // A poll from another terminator (an inquiry is a recovering site's).
                    self.terms.polled_by(from, txn, sites, ctx);
                }
                let report = self.report(txn, ctx);
                ctx.send(from, Msg::Report { txn, report });
            }
            Msg::Report { txn, report } => {
                let v = self.terms.on_report(from, txn, report, sites, ctx);
                self.act(txn, v, ctx);
            }
            Msg::PreAck { txn } => {
                let v = self.terms.on_ack(from, txn, ctx);
                self.act(txn, v, ctx);
            }
            Msg::Decision { txn, .. } => self.terms.stop(txn, ctx),
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        let Timer::Poll(txn) = timer else {
            return;
        };
        if self.opts.timeouts == Timeouts::DecideAlone {
            return self.decide_alone_poll(txn, ctx);
        }
        let (sites, interval) = (self.sites(ctx), self.opts.inquiry_interval_us);
        let v = self.terms.on_window_end(txn, None, sites, interval, ctx);
        self.act(txn, v, ctx);
    }

    /// A standby's state is never evidence: it only knows what it decided.
    fn report(&self, txn: TxnId, ctx: &C<'_>) -> Report {
        match ctx.durable().standby_decided.get(&txn) {
            Some(Outcome::Commit) => Report::final_state(State::Committed),
            Some(Outcome::Abort) => Report::final_state(State::Aborted),
            None => Report {
                state: State::Unknown,
                current: false,
                coordinating: self.terms.is_running(txn),
            },
        }
    }

    fn act(&mut self, txn: TxnId, v: Verdict, ctx: &mut C<'_>) {
        match v {
            Verdict::Decide(outcome, participants) => {
                let to = self.sites(ctx).others(participants, ctx.me());
                ctx.persist(|d| d.standby_decided.insert(txn, outcome));
                ctx.observe(Observation::Decided { txn, outcome });
                tell(to, txn, outcome, ctx);
                ctx.observe(Observation::Finished { txn });
            }
            Verdict::PreCommit(to) => {
                for n in to.iter() {
                    ctx.send(n, Msg::PreCommit { txn });
                }
            }
            Verdict::Yield(_) | Verdict::Wait => {}
        }
    }
}
