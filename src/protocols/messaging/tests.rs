//! Unit tests: one node's handlers driven directly through a `Ctx`.

use super::*;
use crate::node::Command;
use crate::observe::{MessagingEvent, Observation};
use crate::rng;
use crate::store::KeyDelta;

fn opts(mechanism: Mechanism, idempotence: Idempotence) -> MessagingOptions {
    MessagingOptions {
        mechanism,
        idempotence,
        step_delay_us: 2_000,
        retry_us: 50_000,
        redeliver_us: 100_000,
        checkback_us: 100_000,
        check_back: true,
    }
}

/// The message of transfer `txn`, numbered `txn` in the stream rm1 → rm2.
fn credit(txn: TxnId, amount: i64) -> Message {
    let mut ops = ShardOps::default();
    ops.push(KeyDelta {
        key: 0,
        delta: amount,
    });
    Message {
        txn,
        producer: NodeId(1),
        consumer: NodeId(2),
        seq: Some(txn),
        ops,
    }
}

/// Runs one handler on `node` and returns the commands it issued.
fn handle(
    node: &mut MessagingNode,
    durable: &mut Durable,
    now_us: u64,
    f: impl FnOnce(&mut MessagingNode, &mut C<'_>),
) -> Vec<Command<MessagingNode>> {
    let mut rng = rng::stream(1, "test");
    let mut out = Vec::new();
    let mut ctx = Ctx::new(now_us, NodeId(2), durable, &mut rng, &mut out);
    f(node, &mut ctx);
    out
}

fn events(cmds: &[Command<MessagingNode>]) -> Vec<MessagingEvent> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Observe(Observation::Messaging { event, .. }) => Some(*event),
            _ => None,
        })
        .collect()
}

fn money(node: &MessagingNode, d: &Durable) -> i64 {
    let mut items = Vec::new();
    node.audit(d, 0, &mut items);
    items
        .iter()
        .map(|i| match i {
            AuditItem::Money { amount } => *amount,
            _ => 0,
        })
        .sum()
}

#[test]
fn idempotent_consumers_apply_a_repeat_once_and_no_dedupe_twice() {
    for (method, expected) in [
        (Idempotence::UniqueKey, 1005),
        (Idempotence::DedupeTable, 1005),
        (Idempotence::StateMachine, 1005),
        (Idempotence::NaturallyIdempotent, 1005),
        (Idempotence::NoDedupe, 1010),
    ] {
        let o = opts(Mechanism::Outbox, method);
        let mut node = MessagingNode::service(1, vec![NodeId(1), NodeId(2)], NodeId(3), o);
        let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 1000));
        let mut seen = Vec::new();
        for at in [10, 20] {
            let cmds = handle(&mut node, &mut d, at, |n, ctx| {
                n.on_message(NodeId(3), Msg::Deliver { msg: credit(7, 5) }, ctx)
            });
            // Every delivery is acknowledged, a repeat too.
            assert!(cmds.iter().any(|c| matches!(
                c,
                Command::Send {
                    msg: Msg::Ack { txn: 7 },
                    ..
                }
            )));
            seen.extend(events(&cmds));
        }
        assert_eq!(money(&node, &d), expected, "{method:?}");
        let repeat = seen[1];
        if method == Idempotence::NoDedupe {
            assert_eq!(repeat, MessagingEvent::Credited { amount: 5 });
        } else {
            assert_eq!(repeat, MessagingEvent::DuplicateIgnored, "{method:?}");
        }
    }
}

#[test]
fn broker_queues_a_message_once_and_forgets_it_when_acknowledged() {
    let o = opts(Mechanism::Outbox, Idempotence::UniqueKey);
    let mut b = MessagingNode::broker(o);
    let mut d = Durable::default();
    let publish = |republish| Msg::Publish {
        msg: credit(9, 3),
        republish,
    };
    let first = handle(&mut b, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(1), publish(false), ctx)
    });
    assert_eq!(
        events(&first),
        vec![MessagingEvent::Published, MessagingEvent::Delivered]
    );
    // A re-publish of a queued message is only confirmed again.
    let again = handle(&mut b, &mut d, 5, |n, ctx| {
        n.on_message(NodeId(1), publish(true), ctx)
    });
    assert!(events(&again).is_empty());
    assert_eq!(d.queue.len(), 1);
    handle(&mut b, &mut d, 9, |n, ctx| {
        n.on_message(NodeId(2), Msg::Ack { txn: 9 }, ctx)
    });
    assert!(d.queue.is_empty());
    // After the acknowledgement a late re-publish is not queued again.
    let late = handle(&mut b, &mut d, 20, |n, ctx| {
        n.on_message(NodeId(1), publish(true), ctx)
    });
    assert!(events(&late).is_empty());
    assert!(d.queue.is_empty());
}

#[test]
fn a_half_message_waits_for_its_confirm_and_a_checked_confirm_is_a_repair() {
    let o = opts(Mechanism::HalfMessage, Idempotence::UniqueKey);
    let mut b = MessagingNode::broker(o);
    let mut d = Durable::default();
    let reg = handle(&mut b, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(1), Msg::Register { msg: credit(4, 2) }, ctx)
    });
    assert!(events(&reg).is_empty(), "a half message is not delivered");
    let check = handle(&mut b, &mut d, 100_000, |n, ctx| {
        n.on_timer(Timer::CheckBack, ctx)
    });
    assert_eq!(events(&check), vec![MessagingEvent::CheckBack]);
    let confirm = handle(&mut b, &mut d, 100_010, |n, ctx| {
        n.on_message(
            NodeId(1),
            Msg::Confirm {
                txn: 4,
                seq: 0,
                checked: true,
            },
            ctx,
        )
    });
    assert!(confirm
        .iter()
        .any(|c| matches!(c, Command::Observe(Observation::Repair { txn: 4, .. }))));
    assert!(d.queue.get(&4).is_some_and(|q| q.ready));
}

#[test]
fn a_producer_without_a_record_answers_a_check_back_with_rollback_durably() {
    let o = opts(Mechanism::HalfMessage, Idempotence::UniqueKey);
    let mut p = MessagingNode::service(0, vec![NodeId(1), NodeId(2)], NodeId(3), o);
    let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 1000));
    let cmds = handle(&mut p, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(3), Msg::CheckBack { txn: 11 }, ctx)
    });
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::Send {
            msg: Msg::Discard { txn: 11 },
            ..
        }
    )));
    assert_eq!(d.local.get(&11), Some(&LocalTxn::Aborted));
}

#[test]
fn naturally_idempotent_credits_are_spendable() {
    let o = opts(Mechanism::Outbox, Idempotence::NaturallyIdempotent);
    let mut node = MessagingNode::service(1, vec![NodeId(1), NodeId(2)], NodeId(3), o);
    let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 0));
    handle(&mut node, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(3), Msg::Deliver { msg: credit(7, 5) }, ctx)
    });
    let mut debit = ShardOps::default();
    debit.push(KeyDelta { key: 0, delta: -5 });
    assert!(
        funds_ok(&d, &debit),
        "the credit row counts into the balance"
    );
    debit.push(KeyDelta { key: 0, delta: -1 });
    assert!(!funds_ok(&d, &debit));
}

fn delivers(cmds: &[Command<MessagingNode>]) -> usize {
    cmds.iter()
        .filter(|c| {
            matches!(
                c,
                Command::Send {
                    msg: Msg::Deliver { .. },
                    ..
                }
            )
        })
        .count()
}

/// The loss: a re-publish whose id had fallen out of the broker's window of
/// 65,536 recent ids was confirmed and never delivered. Numbers are exact however
/// many messages came in between, and ids do not matter.
#[test]
fn broker_recognises_a_republish_by_its_number_however_late_and_queues_an_old_new_one() {
    let o = opts(Mechanism::Outbox, Idempotence::UniqueKey);
    let mut b = MessagingNode::broker(o);
    let mut d = Durable::default();
    // Message 0 of the stream is held back (its producer is cut off); 1..200,000 are
    // published, delivered and acknowledged, their ids far above.
    for n in 1..200_000u64 {
        let msg = Message {
            txn: 1_000_000 + n,
            seq: Some(n),
            ..credit(0, 1)
        };
        handle(&mut b, &mut d, n, |node, ctx| {
            node.on_message(
                NodeId(1),
                Msg::Publish {
                    msg,
                    republish: false,
                },
                ctx,
            );
            node.on_message(NodeId(2), Msg::Ack { txn: msg.txn }, ctx);
        });
    }
    assert!(d.queue.is_empty());
    let ranges: usize = d.done.values().map(SeqSet::ranges).sum();
    assert_eq!(ranges, 1, "one gap (message 0), one range: flat memory");
    // Message 0 arrives at last, with the oldest id of all: new, so delivered.
    let late = handle(&mut b, &mut d, 300_000, |n, ctx| {
        n.on_message(
            NodeId(1),
            Msg::Publish {
                msg: credit(0, 1),
                republish: true,
            },
            ctx,
        )
    });
    assert_eq!(delivers(&late), 1, "an old id is not a delivered message");
    // A copy of message 7's publish, 200,000 messages later: recognised.
    let copy = Message {
        txn: 1_000_007,
        seq: Some(7),
        ..credit(0, 1)
    };
    let again = handle(&mut b, &mut d, 300_010, |n, ctx| {
        n.on_message(
            NodeId(1),
            Msg::Publish {
                msg: copy,
                republish: true,
            },
            ctx,
        )
    });
    assert_eq!(delivers(&again), 0);
    assert!(again.iter().any(|c| matches!(
        c,
        Command::Send {
            msg: Msg::Stored { txn: 1_000_007 },
            ..
        }
    )));
}

#[test]
fn a_dedupe_table_applies_an_old_first_delivery_and_ignores_an_old_repeat() {
    let o = opts(Mechanism::Outbox, Idempotence::DedupeTable);
    let mut node = MessagingNode::service(1, vec![NodeId(1), NodeId(2)], NodeId(3), o);
    let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 0));
    for n in 1..100_000u64 {
        handle(&mut node, &mut d, n, |s, ctx| {
            s.on_message(NodeId(3), Msg::Deliver { msg: credit(n, 1) }, ctx)
        });
    }
    let first = handle(&mut node, &mut d, 200_000, |s, ctx| {
        s.on_message(NodeId(3), Msg::Deliver { msg: credit(0, 1) }, ctx)
    });
    assert_eq!(events(&first), vec![MessagingEvent::Credited { amount: 1 }]);
    let repeat = handle(&mut node, &mut d, 200_001, |s, ctx| {
        s.on_message(NodeId(3), Msg::Deliver { msg: credit(5, 1) }, ctx)
    });
    assert_eq!(events(&repeat), vec![MessagingEvent::DuplicateIgnored]);
    assert_eq!(money(&node, &d), 100_000);
    assert_eq!(
        d.dedupe[&NodeId(1)].ranges(),
        0,
        "every number below 100,000"
    );
}

/// A copy of a Register that arrives after its message was delivered registers a half
/// message again; the check-back learns its number, which the broker has delivered:
/// dropped, not delivered twice.
#[test]
fn a_late_register_of_a_delivered_message_is_dropped_at_its_check_back() {
    let o = opts(Mechanism::HalfMessage, Idempotence::NoDedupe);
    let mut b = MessagingNode::broker(o);
    let mut d = Durable::default();
    let half = Message {
        seq: None,
        ..credit(4, 2)
    };
    let confirm = |checked| Msg::Confirm {
        txn: 4,
        seq: 0,
        checked,
    };
    let cmds = handle(&mut b, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(1), Msg::Register { msg: half }, ctx);
        n.on_message(NodeId(1), confirm(false), ctx);
        n.on_message(NodeId(2), Msg::Ack { txn: 4 }, ctx);
    });
    assert_eq!(delivers(&cmds), 1);
    assert!(d.queue.is_empty());
    let late = handle(&mut b, &mut d, 50, |n, ctx| {
        n.on_message(NodeId(1), Msg::Register { msg: half }, ctx);
        // A late Ack of the first delivery does not remove the half message...
        n.on_message(NodeId(2), Msg::Ack { txn: 4 }, ctx);
    });
    assert_eq!(delivers(&late), 0);
    assert!(d.queue.get(&4).is_some_and(|q| !q.ready));
    // ...the check-back's answer, with the number, does.
    let checked = handle(&mut b, &mut d, 200_000, |n, ctx| {
        n.on_timer(Timer::CheckBack, ctx);
        n.on_message(NodeId(1), confirm(true), ctx);
    });
    assert_eq!(delivers(&checked), 0, "not delivered twice");
    assert!(d.queue.is_empty());
}
