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
//! - **The decision** (`Rm::decide_heuristically`): at the first in-doubt scan
//!   after `after_us` in doubt, the RM applies `decide` as if told it, releases its
//!   locks, and writes the heuristic log entry (`heuristic_log`).
//! - **The report**: when the TM's decision reaches it (a Decision, or the answer to
//!   its inquiries, which it keeps sending), it answers the way XA's `xa_commit` and
//!   `xa_rollback` return `XA_HEURCOM` or `XA_HEURRB`: [`Msg::Heuristic`], resent
//!   at every scan until the TM's [`Msg::Forget`] (`xa_forget`) lets it discard the
//!   entry. The report stands for the Commit's acknowledgement. About a heuristic
//!   outcome it tells an inquiring peer or standby it does not know: its own decision
//!   is not the transaction's.
//! - **The TM** (`Tm::heuristic_outcome`) logs each RM's report once
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
        ctx.observe(Observation::DecidedAlone { txn });
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

#[cfg(test)]
mod tests {
    use super::super::{Durable, Status, Timer, TwoPcNode, TwoPcOptions};
    use super::*;
    use crate::node::{Command, Node};
    use crate::protocols::locking_rm::LockingWorld;
    use crate::store::{KeyDelta, Ledger, ShardOps};
    use crate::workload::AdmittingWorld;

    const TM: NodeId = NodeId(0);
    const RM: NodeId = NodeId(1);
    const PEER: NodeId = NodeId(2);

    fn opts(decide: Outcome) -> TwoPcOptions {
        TwoPcOptions {
            heuristic: Some(Heuristic {
                after_us: 5000,
                decide,
            }),
            ..super::super::tests::opts()
        }
    }

    /// Runs one handler of `node` (as `me`, at `now_us`) and returns what it did.
    fn at(
        node: &mut TwoPcNode,
        d: &mut Durable,
        me: NodeId,
        now_us: u64,
        f: impl FnOnce(&mut TwoPcNode, &mut C<'_>),
    ) -> Vec<Command<TwoPcNode>> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = C::new(now_us, me, d, &mut rng, &mut out);
        f(node, &mut ctx);
        out
    }

    fn sent(out: &[Command<TwoPcNode>]) -> Vec<Msg> {
        out.iter()
            .filter_map(|c| match c {
                Command::Send { msg, .. } => Some(msg.clone()),
                _ => None,
            })
            .collect()
    }

    fn facts(out: &[Command<TwoPcNode>]) -> Vec<&'static str> {
        out.iter()
            .filter_map(|c| match c {
                Command::Observe(Observation::Fact { name, .. }) => Some(*name),
                _ => None,
            })
            .collect()
    }

    /// An RM of two accounts of 10 that voted yes on txn 3 (key 0, -4) at 0 µs.
    fn prepared_rm(decide: Outcome) -> (TwoPcNode, Durable) {
        let mut rm = TwoPcNode::rm(TM, None, 2, opts(decide));
        let mut d = TwoPcNode::rm_durable(Ledger::new(2, 10));
        let mut ops = ShardOps::default();
        ops.push(KeyDelta { key: 0, delta: -4 });
        let prepare = Msg::Prepare {
            txn: 3,
            ops,
            participants: [RM, PEER].into_iter().collect(),
        };
        at(&mut rm, &mut d, RM, 0, |n, ctx| {
            n.on_message(TM, prepare, ctx)
        });
        assert!(d.rm.prepared.contains_key(&3));
        (rm, d)
    }

    /// In doubt past `after_us`, the RM commits alone, frees its lock, logs it and
    /// asks the TM; the TM's Abort is answered with XA_HEURCOM (no Ack), as often as
    /// it comes; `xa_forget` clears the log, and a peer then hears "unknown".
    #[test]
    fn an_rm_decides_alone_remembers_reports_and_forgets() {
        let (mut rm, mut d) = prepared_rm(Outcome::Commit);
        let scan = |rm: &mut TwoPcNode, d: &mut Durable, now| {
            at(rm, d, RM, now, |n, ctx| n.on_timer(Timer::InDoubtScan, ctx))
        };
        let early = scan(&mut rm, &mut d, 1000);
        assert!(matches!(sent(&early)[..], [Msg::Inquiry { txn: 3, .. }]));
        assert!(d.heuristic_log.is_empty(), "not yet: in doubt 1 ms of 5");
        let out = scan(&mut rm, &mut d, 5000);
        assert_eq!(facts(&out), ["heuristic_decisions"]);
        assert_eq!(d.rm.ledger.balance(0), Some(6), "committed alone");
        assert!(d.rm.prepared.is_empty());
        let TwoPcNode::Rm(r) = &rm else { panic!() };
        assert_eq!(r.locks.held(), 0, "its lock is free");
        assert_eq!(
            d.heuristic_log.get(&3),
            Some(&HeuristicRec {
                taken: Outcome::Commit,
                decision: None
            })
        );
        assert!(matches!(sent(&out)[..], [Msg::Inquiry { txn: 3, .. }]));
        let abort = Msg::Decision {
            txn: 3,
            outcome: Outcome::Abort,
        };
        for _ in 0..2 {
            let out = at(&mut rm, &mut d, RM, 6000, |n, ctx| {
                n.on_message(TM, abort.clone(), ctx)
            });
            assert_eq!(
                sent(&out),
                [Msg::Heuristic {
                    txn: 3,
                    decision: Outcome::Abort,
                    heuristic: Outcome::Commit
                }]
            );
        }
        // Resent at the next round until forgotten.
        let out = scan(&mut rm, &mut d, 7000);
        assert!(matches!(sent(&out)[..], [Msg::Heuristic { txn: 3, .. }]));
        let inquiry = Msg::Inquiry {
            txn: 3,
            participants: NodeSet::new(),
        };
        let ask = |rm: &mut TwoPcNode, d: &mut Durable| {
            let out = at(rm, d, RM, 7500, |n, ctx| {
                n.on_message(PEER, inquiry.clone(), ctx)
            });
            sent(&out)
        };
        let unknown = [Msg::Status {
            txn: 3,
            status: Status::Unknown,
        }];
        assert_eq!(
            ask(&mut rm, &mut d),
            unknown,
            "its guess is not the outcome"
        );
        at(&mut rm, &mut d, RM, 8000, |n, ctx| {
            n.on_message(TM, Msg::Forget { txn: 3 }, ctx)
        });
        assert!(d.heuristic_log.is_empty());
        assert_eq!(ask(&mut rm, &mut d), unknown, "committed and told abort");
        assert!(sent(&scan(&mut rm, &mut d, 9000)).is_empty(), "done");
    }

    /// A restarted RM goes on reporting what its heuristic log holds.
    #[test]
    fn a_restarted_rm_reports_its_heuristic_log_again() {
        let (mut rm, mut d) = prepared_rm(Outcome::Abort);
        at(&mut rm, &mut d, RM, 5000, |n, ctx| {
            n.on_timer(Timer::InDoubtScan, ctx)
        });
        assert_eq!(d.rm.ledger.balance(0), Some(10), "rolled back alone");
        let mut rm = TwoPcNode::rm(TM, None, 2, opts(Outcome::Abort));
        at(&mut rm, &mut d, RM, 6000, |n, ctx| n.on_recover(ctx));
        let out = at(&mut rm, &mut d, RM, 7000, |n, ctx| {
            n.on_timer(Timer::InDoubtScan, ctx)
        });
        assert!(matches!(sent(&out)[..], [Msg::Inquiry { txn: 3, .. }]));
    }

    fn report(decision: Outcome, heuristic: Outcome) -> Msg {
        Msg::Heuristic {
            txn: 3,
            decision,
            heuristic,
        }
    }

    /// A report contrary to a presumed abort: hazard, flagged once however often it
    /// comes, the abort made explicit for the checkers, and always forgotten.
    #[test]
    fn the_tm_counts_a_report_once_and_forgets_it_every_time() {
        let mut tm = TwoPcNode::tm(vec![RM, PEER], opts(Outcome::Commit));
        let mut d = TwoPcNode::tm_durable();
        let msg = report(Outcome::Abort, Outcome::Commit);
        let first = at(&mut tm, &mut d, TM, 10, |n, ctx| {
            n.on_message(RM, msg.clone(), ctx)
        });
        assert_eq!(facts(&first), ["heuristic_commit", "heuristic_hazard"]);
        assert!(first.iter().any(|c| matches!(
            c,
            Command::Observe(Observation::Decided {
                txn: 3,
                outcome: Outcome::Abort
            })
        )));
        assert!(first.iter().any(|c| matches!(
            c,
            Command::Observe(Observation::Repair {
                class: RepairClass::Operator,
                ..
            })
        )));
        let again = at(&mut tm, &mut d, TM, 20, |n, ctx| {
            n.on_message(RM, msg.clone(), ctx)
        });
        assert!(
            matches!(
                &again[..],
                [Command::Send {
                    to: RM,
                    msg: Msg::Forget { txn: 3 }
                }]
            ),
            "{again:?}"
        );
        assert!(matches!(sent(&first)[..], [Msg::Forget { txn: 3 }]));
    }

    /// Against a Commit another participant acknowledged: mixed; and the report is
    /// the last acknowledgement, so the TM forgets its Commit.
    #[test]
    fn a_heuristic_rollback_against_an_acknowledged_commit_is_mixed() {
        let mut tm = TwoPcNode::tm(vec![RM, PEER], opts(Outcome::Abort));
        let mut d = TwoPcNode::tm_durable();
        let participants: NodeSet = [RM, PEER].into_iter().collect();
        d.commits.insert(3, participants);
        at(&mut tm, &mut d, TM, 0, |n, ctx| n.on_recover(ctx));
        at(&mut tm, &mut d, TM, 10, |n, ctx| {
            n.on_message(PEER, Msg::Ack { txn: 3 }, ctx)
        });
        let out = at(&mut tm, &mut d, TM, 20, |n, ctx| {
            n.on_message(RM, report(Outcome::Commit, Outcome::Abort), ctx)
        });
        assert_eq!(facts(&out), ["heuristic_rollback", "heuristic_mixed"]);
        assert!(!d.commits.contains_key(&3), "every participant answered");
        assert!(out
            .iter()
            .any(|c| matches!(c, Command::Observe(Observation::Finished { txn: 3 }))));
    }

    /// Agreeing with the decision: reported and flagged, no damage.
    #[test]
    fn a_heuristic_commit_matching_the_commit_is_no_damage() {
        let mut tm = TwoPcNode::tm(vec![RM, PEER], opts(Outcome::Commit));
        let mut d = TwoPcNode::tm_durable();
        let out = at(&mut tm, &mut d, TM, 10, |n, ctx| {
            n.on_message(RM, report(Outcome::Commit, Outcome::Commit), ctx)
        });
        assert_eq!(facts(&out), ["heuristic_commit"]);
        assert!(!out
            .iter()
            .any(|c| matches!(c, Command::Observe(Observation::Decided { .. }))));
    }
}
