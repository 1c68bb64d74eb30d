//! A user's own two-phase commit, written against acidbase's public `Node` API only,
//! and tested with `acidbase::testing` (book: "Testing your own protocol").
//!
//! One TM runs `txns` transactions over two RMs, all begun at time 0. An RM votes no
//! on some transactions (txn % 3 == its number), so both outcomes happen. The rules
//! that make it correct:
//! - an RM durably records "prepared" before voting yes, and from then on waits for
//!   the outcome, asking the TM every 100 ms;
//! - the TM durably records its decision before sending it, resends it every 100 ms
//!   until every RM acknowledged, and after a crash aborts what it had not decided.
//!
//! `cargo run --example user_two_pc` runs the harness and prints what it checked.
//! `examples/buggy_two_pc.rs` flips one rule and is caught.

use acidbase::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use acidbase::observe::Observation;
use acidbase::testing::{invariants, Exhaustive, Harness, World};
use std::collections::{BTreeMap, BTreeSet};

const TM: NodeId = NodeId(0);
const RETRY_US: u64 = 100_000;
const VOTE_TIMEOUT_US: u64 = 50_000;

/// The switch `buggy_two_pc.rs` turns on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// An RM in doubt for this long gives up waiting and commits ("presumed commit").
    pub rm_commits_after_us: Option<u64>,
}

/// `Serialize` gives the trace digest a fixed encoding of every message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    Prepare { txn: TxnId },
    Vote { txn: TxnId, yes: bool },
    Decision { txn: TxnId, outcome: Outcome },
    Ack { txn: TxnId },
    Inquiry { txn: TxnId },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    VoteTimeout(TxnId),
    Resend,
    Ask(TxnId),
}

/// What survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Log {
    /// TM: decisions.
    pub decided: BTreeMap<TxnId, Outcome>,
    /// RM: prepared, outcome unknown (with when).
    pub prepared: BTreeMap<TxnId, u64>,
    /// RM: outcomes applied.
    pub applied: BTreeMap<TxnId, Outcome>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserNode {
    Tm {
        txns: u64,
        rms: NodeSet,
        yes: BTreeMap<TxnId, NodeSet>,
        acked: BTreeMap<TxnId, NodeSet>,
    },
    Rm {
        number: u64,
        bugs: Bugs,
    },
}

impl UserNode {
    fn decide(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut Ctx<'_, Self>) {
        let UserNode::Tm { rms, yes, .. } = self else {
            return;
        };
        if ctx.durable().decided.contains_key(&txn) {
            return;
        }
        yes.remove(&txn);
        // Log first, then tell: a crash after this line still knows the outcome.
        ctx.persist(|d| d.decided.insert(txn, outcome));
        ctx.observe(Observation::Decided { txn, outcome });
        for rm in rms.iter() {
            ctx.send(rm, Msg::Decision { txn, outcome });
        }
        ctx.set_timer(Timer::Resend, RETRY_US);
    }

    fn apply(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut Ctx<'_, Self>) {
        if ctx.durable().prepared.contains_key(&txn) {
            ctx.persist(|d| {
                d.prepared.remove(&txn);
                d.applied.insert(txn, outcome);
            });
            ctx.cancel_timer(Timer::Ask(txn));
            // The checkers measure the time in doubt from this node's `Prepared`.
            ctx.observe(Observation::Resolved {
                txn,
                outcome,
                locks: 0,
            });
        } else if !ctx.durable().applied.contains_key(&txn) {
            // An outcome before any Prepare: only Abort can come first.
            ctx.persist(|d| d.applied.insert(txn, outcome));
            ctx.observe(Observation::applied_at_once(txn, outcome, 0));
        }
        ctx.send(TM, Msg::Ack { txn });
    }
}

impl Node for UserNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Log;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let UserNode::Tm { txns, rms, .. } = self {
            for txn in 1..=*txns {
                ctx.observe(Observation::TxnBegun {
                    txn,
                    participants: *rms,
                });
                for rm in rms.iter() {
                    ctx.send(rm, Msg::Prepare { txn });
                }
                ctx.set_timer(Timer::VoteTimeout(txn), VOTE_TIMEOUT_US);
            }
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, Self>) {
        match (&mut *self, msg) {
            (UserNode::Tm { rms, yes, .. }, Msg::Vote { txn, yes: true }) => {
                let all = *rms;
                let v = yes.entry(txn).or_default();
                v.insert(from);
                if *v == all {
                    self.decide(txn, Outcome::Commit, ctx);
                }
            }
            (UserNode::Tm { .. }, Msg::Vote { txn, yes: false }) => {
                self.decide(txn, Outcome::Abort, ctx)
            }
            (UserNode::Tm { acked, .. }, Msg::Ack { txn }) => {
                acked.entry(txn).or_default().insert(from);
            }
            (UserNode::Tm { .. }, Msg::Inquiry { txn }) => {
                if let Some(&outcome) = ctx.durable().decided.get(&txn) {
                    ctx.send(from, Msg::Decision { txn, outcome });
                }
            }
            (UserNode::Rm { number, .. }, Msg::Prepare { txn }) => {
                let d = ctx.durable();
                if d.prepared.contains_key(&txn) {
                    ctx.send(TM, Msg::Vote { txn, yes: true }); // a resent Prepare
                } else if d.applied.contains_key(&txn) {
                    // finished already: nothing to vote on
                } else if txn % 3 == *number {
                    ctx.persist(|d| d.applied.insert(txn, Outcome::Abort));
                    ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
                    ctx.send(TM, Msg::Vote { txn, yes: false });
                } else {
                    let now = ctx.now_us();
                    ctx.persist(|d| d.prepared.insert(txn, now));
                    ctx.observe(Observation::Prepared { txn });
                    ctx.send(TM, Msg::Vote { txn, yes: true });
                    ctx.set_timer(Timer::Ask(txn), RETRY_US);
                }
            }
            (UserNode::Rm { .. }, Msg::Decision { txn, outcome }) => self.apply(txn, outcome, ctx),
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<'_, Self>) {
        match (&mut *self, timer) {
            (UserNode::Tm { .. }, Timer::VoteTimeout(txn)) => self.decide(txn, Outcome::Abort, ctx),
            (UserNode::Tm { rms, acked, .. }, Timer::Resend) => {
                let mut pending = false;
                for (&txn, &outcome) in &ctx.durable().decided.clone() {
                    let done = acked.get(&txn).copied().unwrap_or_default();
                    for rm in rms.iter().filter(|r| !done.contains(*r)) {
                        ctx.send(rm, Msg::Decision { txn, outcome });
                        pending = true;
                    }
                }
                if pending {
                    ctx.set_timer(Timer::Resend, RETRY_US);
                }
            }
            (UserNode::Rm { bugs, .. }, Timer::Ask(txn)) => {
                let Some(&since) = ctx.durable().prepared.get(&txn) else {
                    return;
                };
                if let Some(limit) = bugs.rm_commits_after_us {
                    if ctx.now_us() >= since + limit {
                        // THE BUG: deciding alone. The TM may have decided abort.
                        self.apply(txn, Outcome::Commit, ctx);
                        return;
                    }
                }
                ctx.send(TM, Msg::Inquiry { txn });
                ctx.set_timer(Timer::Ask(txn), RETRY_US);
            }
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            UserNode::Tm { txns, .. } => {
                // Undecided transactions are aborted; decided ones are resent.
                for txn in 1..=*txns {
                    self.decide(txn, Outcome::Abort, ctx);
                }
                ctx.set_timer(Timer::Resend, 0);
            }
            UserNode::Rm { .. } => {
                let waiting: BTreeSet<TxnId> = ctx.durable().prepared.keys().copied().collect();
                for txn in waiting {
                    ctx.set_timer(Timer::Ask(txn), 0);
                }
            }
        }
    }
}

/// The world: `tm`, `rm1`, `rm2`, running `txns` transactions.
pub fn world(txns: u64, bugs: Bugs) -> World<UserNode> {
    let rms: NodeSet = [NodeId(1), NodeId(2)].into_iter().collect();
    World {
        names: vec!["tm".into(), "rm1".into(), "rm2".into()],
        nodes: vec![
            UserNode::Tm {
                txns,
                rms,
                yes: BTreeMap::new(),
                acked: BTreeMap::new(),
            },
            UserNode::Rm { number: 1, bugs },
            UserNode::Rm { number: 2, bugs },
        ],
        durables: vec![Log::default(); 3],
    }
}

/// The harness both examples (and `tests/suite/user_protocol.rs`) use.
pub fn harness(bugs: Bugs) -> Harness<UserNode> {
    Harness::new(move || world(3, bugs))
        .always("atomicity", invariants::atomicity)
        .always("agreement", invariants::agreement)
        .always(
            "nobody in doubt at the end",
            invariants::nobody_in_doubt_at_end,
        )
        .sometimes("a transaction commits", invariants::some_commit)
        .sometimes("a transaction aborts", invariants::some_abort)
        .runs(64)
}

#[allow(dead_code)] // when included by buggy_two_pc.rs or the tests
fn main() {
    let h = harness(Bugs::default());
    match h.check() {
        Ok(()) => println!(
            "user_two_pc: 64 runs under generated crashes, partitions, loss and duplication; \
             atomicity, agreement and \"nobody in doubt at the end\" always held; \
             commit and abort both happened"
        ),
        Err(f) => {
            eprintln!("{f}");
            std::process::exit(1);
        }
    }
    // Exhaustively, one transaction (the state space of three is far larger).
    let one = Harness::new(|| world(1, Bugs::default()));
    let rms_crash = Exhaustive {
        crashable: Some(vec!["rm1".into(), "rm2".into()]),
        max_crashes: 1,
        max_drops: 2,
        ..Exhaustive::default()
    };
    let r = one.exhaustive(&rms_crash);
    println!(
        "exhaustive, 1 transaction, an RM crash and 2 drops: {} distinct states, {}",
        r.distinct_states,
        match &r.violation {
            None => "no violation".to_string(),
            Some(c) => format!("{}: {}", c.finding.kind, c.finding.detail),
        }
    );
    // A TM crash blocks any 2PC: the checker shows it, as it should.
    let r = one.exhaustive(&Exhaustive {
        crashable: Some(vec!["tm".into()]),
        max_drops: 0,
        ..Exhaustive::default()
    });
    if let Some(c) = &r.violation {
        println!(
            "exhaustive, a TM crash: {} (2PC's known limit)",
            c.finding.kind
        );
    }
}
