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
    assert_eq!(d.local.get(&11), Some(&Outcome::Abort));
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
