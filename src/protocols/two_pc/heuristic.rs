//! X/Open XA's heuristic decision, 2PC's option `heuristic` (off by default).
//!
//! A resource manager in doubt cannot finish a transaction without the TM: 2PC's
//! blocking problem. Real RMs offer an operator's way out (*Distributed Transaction
//! Processing: The XA Specification*, X/Open CAE C193, 1991, §2.3.3 "Heuristic
//! Branch Completion", and `xa_forget`): after an operator-set time an in-doubt RM
//! commits or rolls back on its own, and **remembers** it durably until the TM has
//! heard of it. Its locks are free again — at the price of atomicity whenever the TM
//! decided otherwise.
//!
//! - **The decision** ([`Rm::decide_heuristically`]): at the first in-doubt scan
//!   after `after_us` in doubt, the RM applies `decide` as if told it, releases its
//!   locks, and writes the heuristic log entry (`heuristic_log`).
//! - **The report**: when the TM's decision reaches it (a Decision, or the answer to
//!   its inquiries, which it keeps sending), it answers the way XA's `xa_commit` and
//!   `xa_rollback` return `XA_HEURCOM` or `XA_HEURRB`: [`Msg::Heuristic`], resent
//!   at every scan until the TM's [`Msg::Forget`] (`xa_forget`) lets it discard the
//!   entry. The report stands for the Commit's acknowledgement. About a heuristic
//!   outcome it tells an inquiring peer or standby it does not know: its own decision
//!   is not the transaction's.
//! - **The TM** ([`Tm::heuristic_outcome`]) logs each RM's report once
//!   (`heuristic_reports`), flags it for an operator (`repair.operator`), counts it as
//!   the fact `heuristic_commit` or `heuristic_rollback`, and — when the heuristic
//!   outcome is contrary to its decision, the **heuristic damage** — as
//!   `heuristic_mixed` when it knows another participant applied its decision (a
//!   Commit acknowledged: the transaction is partly committed, partly rolled back:
//!   TX's `TX_MIXED`) or `heuristic_hazard` when it cannot tell (aborts are never
//!   acknowledged under presumed abort: it *may* be partly committed: `TX_HAZARD`).
//!   A decision that presumed abort left implicit is observed then, so the checkers
//!   see the contradiction as the atomicity violation it is.
//!
//! An RM of one shard applies its branch whole, so it never answers XA's
//! `XA_HEURMIX` (one branch partly committed) nor `XA_HEURHAZ` (an RM unsure what it
//! did): its heuristic log is durable. Mixed and hazard are the TM's view of the
//! transaction.

use super::{Msg, Rm, Tm, C};
use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{Observation, RepairClass};

/// The option: after `after_us` in doubt, an RM decides `decide` on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Heuristic {
    pub after_us: u64,
    pub decide: Outcome,
}

/// An RM's heuristic log entry, kept until the TM forgets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeuristicRec {
    /// What it decided on its own.
    pub taken: Outcome,
    /// The TM's decision, once it reached the RM.
    pub decision: Option<Outcome>,
}

impl Rm {
    /// Applies `outcome` to the in-doubt `txn` without the TM, remembers it, and asks
    /// the TM for its decision at once (called from the in-doubt scan, which goes on
    /// asking).
    pub(super) fn decide_heuristically(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        self.finish(txn, outcome, ctx);
        let rec = HeuristicRec {
            taken: outcome,
            decision: None,
        };
        ctx.persist(|d| d.heuristic_log.insert(txn, rec));
        ctx.observe(Observation::Fact {
            txn,
            name: "heuristic_decisions",
            value: 1,
        });
        self.report_heuristic(txn, None, ctx);
    }

    /// If `txn` is in the heuristic log: records the TM's `decision` if this is the
    /// first to arrive, and reports the heuristic outcome to the TM — or, while the
    /// decision is unknown, asks for it. Whether `txn` is in the log.
    pub(super) fn report_heuristic(
        &mut self,
        txn: TxnId,
        decision: Option<Outcome>,
        ctx: &mut C<'_>,
    ) -> bool {
        let Some(&rec) = ctx.durable().heuristic_log.get(&txn) else {
            return false;
        };
        let rec = match (rec.decision, decision) {
            (None, Some(_)) => {
                let rec = HeuristicRec { decision, ..rec };
                ctx.persist(|d| d.heuristic_log.insert(txn, rec));
                rec
            }
            _ => rec,
        };
        self.asked_at.insert(txn, ctx.now_us());
        let msg = match rec.decision {
            Some(decision) => Msg::Heuristic {
                txn,
                decision,
                heuristic: rec.taken,
            },
            // The TM answers an inquiry with its decision (the participants are the
            // standby's concern, which a heuristic outcome does not ask).
            None => Msg::Inquiry {
                txn,
                participants: NodeSet::new(),
            },
        };
        ctx.send(self.tm, msg);
        true
    }

    /// `xa_forget`: the TM logged the heuristic outcome. The entry goes; where the
    /// TM had decided otherwise, its decision joins the heuristic one in the outcome
    /// windows, so that an inquirer is told "unknown" rather than either.
    pub(super) fn forget(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(&rec) = ctx.durable().heuristic_log.get(&txn) else {
            return; // a copy: forgotten already
        };
        self.asked_at.remove(&txn);
        ctx.persist(|d| {
            d.heuristic_log.remove(&txn);
            match rec.decision {
                Some(Outcome::Commit) if rec.taken == Outcome::Abort => {
                    d.rm.recent_commits.insert(txn);
                }
                Some(Outcome::Abort) if rec.taken == Outcome::Commit => {
                    d.rm.recent_aborts.insert(txn);
                }
                _ => {}
            }
        });
    }
}

impl Tm {
    /// `from` completed `txn` heuristically (`heuristic`) against this TM's
    /// `decision`: logged and counted once, flagged for an operator, acknowledged
    /// (a Commit's report is its Ack) and forgotten.
    pub(super) fn heuristic_outcome(
        &mut self,
        from: NodeId,
        txn: TxnId,
        decision: Outcome,
        heuristic: Outcome,
        ctx: &mut C<'_>,
    ) {
        let reported = ctx.durable().heuristic_reports.get(&txn).copied();
        if !reported.is_some_and(|rms| rms.contains(from)) {
            let mut rms = reported.unwrap_or_default();
            rms.insert(from);
            ctx.persist(|d| d.heuristic_reports.insert(txn, rms));
            self.count_heuristic(from, txn, decision, heuristic, ctx);
        }
        if decision == Outcome::Commit {
            self.acknowledged(txn, from, ctx);
        }
        ctx.send(from, Msg::Forget { txn });
    }

    /// The facts and the operator's flag of one RM's heuristic outcome.
    fn count_heuristic(
        &mut self,
        from: NodeId,
        txn: TxnId,
        decision: Outcome,
        heuristic: Outcome,
        ctx: &mut C<'_>,
    ) {
        let fact = |name| Observation::Fact {
            txn,
            name,
            value: 1,
        };
        ctx.observe(fact(match heuristic {
            Outcome::Commit => "heuristic_commit",
            Outcome::Abort => "heuristic_rollback",
        }));
        if heuristic != decision {
            // Another participant's acknowledged Commit: the transaction is split.
            let split = self
                .acks
                .acked(txn)
                .is_some_and(|acked| acked.iter().any(|rm| rm != from));
            if decision == Outcome::Abort {
                // Presumed abort decides without a word; the contradiction needs it.
                ctx.observe(Observation::Decided {
                    txn,
                    outcome: decision,
                });
            }
            ctx.observe(fact(if split {
                "heuristic_mixed"
            } else {
                "heuristic_hazard"
            }));
        }
        ctx.observe(Observation::Repair {
            txn,
            class: RepairClass::Operator,
        });
    }
}
