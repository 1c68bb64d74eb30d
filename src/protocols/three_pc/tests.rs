//! Unit tests of the 3PC roles, handler by handler.

use super::decide_alone::SimpleTerminator;
use super::rm::Rm;
use super::termination::{Sites, Terminator, Verdict};
use super::*;
use crate::node::Command;
use crate::observe::Observation;
use crate::protocols::locking_rm::LockingWorld;
use crate::store::KeyDelta;

fn opts(standby_tm: bool) -> ThreePcOptions {
    ThreePcOptions {
        timeouts: Timeouts::DecideAlone,
        election_timeout_us: 100_000,
        vote_timeout_us: 40_000,
        ack_timeout_us: 40_000,
        on_ack_timeout: AckTimeout::Commit,
        wait_timeout_us: 80_000,
        precommit_timeout_us: 80_000,
        decision_retry_us: 50_000,
        inquiry_interval_us: 50_000,
        standby_tm,
    }
}

/// Runs `f` as a handler of node `me` at `now_us`; returns what it asked for.
fn handle(
    me: u32,
    now_us: u64,
    durable: &mut Durable,
    f: impl FnOnce(&mut C<'_>),
) -> Vec<Command<ThreePcNode>> {
    let mut rng = crate::rng::stream(1, "test");
    let mut out = Vec::new();
    let mut ctx = Ctx::new(now_us, NodeId(me), durable, &mut rng, &mut out);
    f(&mut ctx);
    out
}

fn sends(out: &[Command<ThreePcNode>]) -> Vec<(u32, Msg)> {
    out.iter()
        .filter_map(|c| match c {
            Command::Send { to, msg } => Some((to.0, msg.clone())),
            _ => None,
        })
        .collect()
}

fn applied(out: &[Command<ThreePcNode>]) -> Option<Outcome> {
    out.iter().find_map(|c| match c {
        Command::Observe(Observation::Applied { outcome, .. }) => Some(*outcome),
        _ => None,
    })
}

fn set(ids: &[u32]) -> NodeSet {
    ids.iter().map(|&i| NodeId(i)).collect()
}

#[test]
fn termination_commits_on_a_precommitted_participant() {
    let mut t = SimpleTerminator::default();
    let mut d = Durable::default();
    let out = handle(9, 0, &mut d, |ctx| t.start(7, set(&[1, 2, 3]), 50_000, ctx));
    assert_eq!(sends(&out).len(), 3, "asks every participant");
    handle(9, 1, &mut d, |ctx| {
        assert_eq!(t.on_state(NodeId(1), 7, State::Uncertain, ctx), None);
        assert_eq!(
            t.on_state(NodeId(2), 7, State::PreCommitted, ctx),
            Some((Outcome::Commit, set(&[1, 2, 3])))
        );
        assert_eq!(t.on_state(NodeId(3), 7, State::Aborted, ctx), None, "done");
    });
}

#[test]
fn termination_aborts_when_every_answer_is_uncertain() {
    let mut t = SimpleTerminator::default();
    let mut d = Durable::default();
    handle(9, 0, &mut d, |ctx| t.start(7, set(&[1, 2]), 50_000, ctx));
    handle(9, 1, &mut d, |ctx| {
        assert_eq!(t.on_state(NodeId(1), 7, State::Uncertain, ctx), None);
        assert_eq!(
            t.on_state(NodeId(2), 7, State::Uncertain, ctx),
            Some((Outcome::Abort, set(&[1, 2])))
        );
    });
    // Some answer, all uncertain, the others silent: abort at the end of the round.
    handle(9, 0, &mut d, |ctx| t.start(8, set(&[1, 2]), 50_000, ctx));
    handle(9, 1, &mut d, |ctx| {
        assert_eq!(t.on_state(NodeId(1), 8, State::Uncertain, ctx), None);
        assert_eq!(
            t.on_poll(8, 50_000, ctx),
            Some((Outcome::Abort, set(&[1, 2])))
        );
    });
    // Nobody answered: ask again, decide nothing.
    handle(9, 0, &mut d, |ctx| t.start(9, set(&[1, 2]), 50_000, ctx));
    let out = handle(9, 1, &mut d, |ctx| {
        assert_eq!(t.on_poll(9, 50_000, ctx), None)
    });
    assert_eq!(sends(&out).len(), 2);
}

fn prepared_rm(standby: Option<NodeId>, precommitted: bool) -> (Rm, Durable) {
    prepared_rm_with(opts(standby.is_some()), standby, precommitted)
}

/// rm1 (node 1) in w (or p) on txn 7 over {rm1, rm2}; the TM is node 0.
fn prepared_rm_with(
    o: ThreePcOptions,
    standby: Option<NodeId>,
    precommitted: bool,
) -> (Rm, Durable) {
    let mut rm = Rm::new(NodeId(0), standby, 4, o);
    let mut d = ThreePcNode::rm_durable(crate::store::Ledger::new(4, 100));
    let mut ops = ShardOps::default();
    ops.push(KeyDelta { key: 1, delta: 10 });
    handle(1, 0, &mut d, |ctx| {
        rm.can_commit(NodeId(0), 7, ops, set(&[1, 2]), ctx);
        if precommitted {
            rm.precommit(NodeId(0), 7, ctx);
        }
    });
    (rm, d)
}

#[test]
fn an_uncertain_participant_aborts_and_a_precommitted_one_commits_on_timeout() {
    let (mut rm, mut d) = prepared_rm(None, false);
    let out = handle(1, 80_000, &mut d, |ctx| rm.decide_alone_timeout(7, ctx));
    assert_eq!(applied(&out), Some(Outcome::Abort));
    assert_eq!(d.rm.ledger.total(), 400);

    let (mut rm, mut d) = prepared_rm(None, true);
    let out = handle(1, 80_000, &mut d, |ctx| rm.decide_alone_timeout(7, ctx));
    assert_eq!(applied(&out), Some(Outcome::Commit));
    assert_eq!(d.rm.ledger.total(), 410);
    assert!(matches!(sends(&out)[..], [(0, Msg::Ack { txn: 7 })]));
}

#[test]
fn with_a_standby_the_first_timeout_asks_it_and_the_second_decides() {
    let (mut rm, mut d) = prepared_rm(Some(NodeId(5)), true);
    let out = handle(1, 80_000, &mut d, |ctx| rm.decide_alone_timeout(7, ctx));
    assert_eq!(applied(&out), None);
    assert!(matches!(
        sends(&out)[..],
        [(5, Msg::Inquiry { txn: 7, .. })]
    ));
    let out = handle(1, 160_000, &mut d, |ctx| rm.decide_alone_timeout(7, ctx));
    assert_eq!(applied(&out), Some(Outcome::Commit));
}

#[test]
fn a_participant_that_never_voted_promises_abort() {
    let (mut rm, mut d) = prepared_rm(None, false);
    handle(1, 1, &mut d, |ctx| {
        assert_eq!(rm.state_for_terminator(7, ctx), State::Uncertain);
        assert_eq!(rm.state_for_terminator(99, ctx), State::Aborted);
    });
    assert!(d.rm.promised.contains(99), "the promise is durable");
    let mut ops = ShardOps::default();
    ops.push(KeyDelta { key: 2, delta: 1 });
    let out = handle(1, 2, &mut d, |ctx| {
        rm.can_commit(NodeId(0), 99, ops, set(&[1, 2]), ctx)
    });
    assert!(matches!(
        sends(&out)[..],
        [(
            0,
            Msg::Vote {
                txn: 99,
                yes: false
            }
        )]
    ));
}

// ---- `Timeouts::Terminate` ----

fn faithful(standby_tm: bool) -> ThreePcOptions {
    ThreePcOptions {
        timeouts: Timeouts::Terminate,
        ..opts(standby_tm)
    }
}

fn report(state: State, current: bool) -> Report {
    Report {
        state,
        current,
        coordinating: false,
    }
}

const SITES: Sites = Sites {
    tm: NodeId(0),
    standby: Some(NodeId(5)),
};

#[test]
fn sites_are_ranked_tm_standby_then_participants() {
    let p = set(&[1, 3, 2]);
    assert_eq!(SITES.next(NodeId(0), p), Some(NodeId(5)));
    assert_eq!(SITES.next(NodeId(5), p), Some(NodeId(1)));
    assert_eq!(SITES.next(NodeId(2), p), Some(NodeId(3)));
    assert_eq!(SITES.next(NodeId(3), p), None);
    assert_eq!(SITES.others(p, NodeId(2)), set(&[0, 1, 3, 5]));
}

#[test]
fn tr4_precommits_the_uncertain_and_commits_on_their_acks() {
    let mut t = Terminator::default();
    let mut d = Durable::default();
    let out = handle(1, 0, &mut d, |ctx| {
        t.start(7, set(&[1, 2, 3]), SITES, 50_000, ctx)
    });
    assert_eq!(
        sends(&out).len(),
        4,
        "polls the TM, the standby and the others"
    );
    handle(1, 1, &mut d, |ctx| {
        let r = t.on_report(NodeId(2), 7, report(State::PreCommitted, true), SITES, ctx);
        assert_eq!(r, Verdict::Wait, "no decision before the window ends");
        t.on_report(NodeId(3), 7, report(State::Uncertain, true), SITES, ctx);
        // The terminator itself is uncertain: it moves to p too (its caller does).
        let v = t.on_window_end(7, Some(State::Uncertain), SITES, 50_000, ctx);
        assert_eq!(v, Verdict::PreCommit(set(&[2, 3])));
        assert_eq!(t.on_ack(NodeId(2), 7, ctx), Verdict::Wait);
        assert_eq!(
            t.on_ack(NodeId(3), 7, ctx),
            Verdict::Decide(Outcome::Commit, set(&[1, 2, 3]))
        );
    });
}

#[test]
fn tr3_aborts_on_current_uncertain_sites_and_a_restarted_sites_p_proves_nothing() {
    let mut t = Terminator::default();
    let mut d = Durable::default();
    handle(1, 0, &mut d, |ctx| {
        t.start(7, set(&[1, 2, 3]), SITES, 50_000, ctx)
    });
    handle(1, 1, &mut d, |ctx| {
        // rm2 restarted in p: it may have missed an abort decided while it was down.
        t.on_report(NodeId(2), 7, report(State::PreCommitted, false), SITES, ctx);
        let v = t.on_window_end(7, Some(State::Uncertain), SITES, 50_000, ctx);
        assert_eq!(v, Verdict::Decide(Outcome::Abort, set(&[1, 2, 3])));
    });
}

#[test]
fn a_standby_with_no_current_site_to_hear_asks_again() {
    let mut t = Terminator::default();
    let mut d = Durable::default();
    handle(5, 0, &mut d, |ctx| {
        t.start(7, set(&[1, 2]), SITES, 50_000, ctx)
    });
    let out = handle(5, 1, &mut d, |ctx| {
        t.on_report(NodeId(1), 7, report(State::Uncertain, false), SITES, ctx);
        assert_eq!(t.on_window_end(7, None, SITES, 50_000, ctx), Verdict::Wait);
    });
    assert_eq!(sends(&out).len(), 3, "a new poll");
    // Every site answered and none has evidence or coordinates: total failure, and
    // nobody decided.
    handle(5, 2, &mut d, |ctx| {
        for n in [0, 1, 2] {
            t.on_report(NodeId(n), 7, report(State::Uncertain, false), SITES, ctx);
        }
        let v = t.on_window_end(7, None, SITES, 50_000, ctx);
        assert_eq!(v, Verdict::Decide(Outcome::Abort, set(&[1, 2])));
    });
}

#[test]
fn a_lower_ranked_terminator_wins_and_a_final_answer_decides_at_once() {
    let mut t = Terminator::default();
    let mut d = Durable::default();
    handle(2, 0, &mut d, |ctx| {
        t.start(7, set(&[1, 2]), SITES, 50_000, ctx)
    });
    handle(2, 1, &mut d, |ctx| {
        assert!(
            !t.polled_by(NodeId(3), 7, SITES, ctx),
            "rm3 ranks lower than rm2"
        );
        let busy = Report {
            coordinating: true,
            ..report(State::Unknown, false)
        };
        assert_eq!(
            t.on_report(NodeId(5), 7, busy, SITES, ctx),
            Verdict::Yield(NodeId(5))
        );
        assert!(!t.is_running(7));
    });
    handle(2, 2, &mut d, |ctx| {
        t.start(7, set(&[1, 2]), SITES, 50_000, ctx)
    });
    handle(2, 3, &mut d, |ctx| {
        assert!(t.polled_by(NodeId(1), 7, SITES, ctx), "rm1 ranks higher");
        t.start(7, set(&[1, 2]), SITES, 50_000, ctx);
        let done = report(State::Committed, true);
        assert_eq!(
            t.on_report(NodeId(0), 7, done, SITES, ctx),
            Verdict::Decide(Outcome::Commit, set(&[1, 2]))
        );
    });
}

#[test]
fn a_timeout_elects_the_next_site_and_does_not_decide() {
    let (mut rm, mut d) = prepared_rm_with(faithful(true), Some(NodeId(5)), true);
    let out = handle(1, 80_000, &mut d, |ctx| {
        rm.on_timer(Timer::Participant(7), ctx)
    });
    assert_eq!(applied(&out), None);
    assert!(matches!(sends(&out)[..], [(5, Msg::Elect { txn: 7, .. })]));
    // The standby is down: after the election timeout rm1 terminates itself.
    let out = handle(1, 180_000, &mut d, |ctx| {
        rm.on_timer(Timer::Participant(7), ctx)
    });
    assert_eq!(applied(&out), None);
    let polled: Vec<u32> = sends(&out).iter().map(|(to, _)| *to).collect();
    assert_eq!(polled, [0, 2, 5]);
}

#[test]
fn a_restarted_participant_asks_everyone_and_never_decides_alone() {
    let (_, mut d) = prepared_rm_with(faithful(false), None, true);
    let mut rm = Rm::new(NodeId(0), None, 4, faithful(false));
    let out = handle(1, 1_000, &mut d, |ctx| rm.recover(ctx));
    let asked: Vec<u32> = sends(&out).iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, [0, 2]);
    // Elected, it says it is no candidate; polled, that its p is no evidence.
    let out = handle(1, 2_000, &mut d, |ctx| {
        rm.on_message(
            NodeId(2),
            Msg::Elect {
                txn: 7,
                participants: set(&[1, 2]),
            },
            ctx,
        )
    });
    assert!(matches!(
        sends(&out)[..],
        [(
            2,
            Msg::Report {
                txn: 7,
                report: Report {
                    state: State::PreCommitted,
                    current: false,
                    ..
                }
            }
        )]
    ));
    // Only the TM answered: ask again, decide nothing.
    let out = handle(1, 3_000, &mut d, |ctx| {
        rm.on_message(
            NodeId(0),
            Msg::Report {
                txn: 7,
                report: report(State::PreCommitted, false),
            },
            ctx,
        );
        rm.on_timer(Timer::Participant(7), ctx);
    });
    assert_eq!(applied(&out), None);
    assert_eq!(sends(&out).len(), 2);
    // Someone knows: apply it.
    let out = handle(1, 4_000, &mut d, |ctx| {
        rm.on_message(
            NodeId(2),
            Msg::Report {
                txn: 7,
                report: report(State::Committed, true),
            },
            ctx,
        )
    });
    assert_eq!(applied(&out), Some(Outcome::Commit));
}

/// An id older than an RM's windows may have committed there: it tells a terminator
/// it does not know, and promises nothing (no tombstone).
#[test]
fn a_forgotten_transaction_is_unknown_to_a_terminator_not_aborted() {
    let (mut rm, mut d) = prepared_rm(None, false);
    d.rm.recent_commits
        .insert(crate::idmap::RecentIds::CAPACITY * 3);
    handle(1, 1, &mut d, |ctx| {
        assert_eq!(rm.state_for_terminator(3, ctx), State::Unknown);
    });
    assert!(d.rm.promised.recall(3) != crate::idmap::Recall::Seen);
}
