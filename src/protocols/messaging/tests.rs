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
            assert!(matches!(repeat, MessagingEvent::Credited { amount: 5, .. }));
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
    let id = credit(9, 3).numbered();
    assert_eq!(
        events(&first),
        vec![
            MessagingEvent::Published { id },
            MessagingEvent::Delivered { id }
        ]
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
    assert_eq!(
        d.begun.recall(11),
        crate::idmap::Recall::Seen,
        "the rollback is recorded"
    );
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
    assert_eq!(
        events(&first),
        vec![MessagingEvent::Credited {
            amount: 1,
            id: credit(0, 1).numbered()
        }]
    );
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

/// A redelivery after its record left the table for the archive: every method that
/// keeps records still recognises it, however many transfers came in between, and
/// the table stays at its size.
#[test]
fn a_redelivery_after_its_record_was_archived_is_still_a_repeat() {
    for method in [
        Idempotence::UniqueKey,
        Idempotence::StateMachine,
        Idempotence::NaturallyIdempotent,
    ] {
        let o = opts(Mechanism::Outbox, method);
        let mut node = MessagingNode::service(1, vec![NodeId(1), NodeId(2)], NodeId(3), o);
        let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 0));
        // Message 3 is stuck on its way; 0..20,000 but 3 are applied.
        let n = 20 * LIVE_RECORDS as u64;
        for txn in (0..n).filter(|&t| t != 3) {
            handle(&mut node, &mut d, txn, |s, ctx| {
                s.on_message(
                    NodeId(3),
                    Msg::Deliver {
                        msg: credit(txn, 1),
                    },
                    ctx,
                )
            });
        }
        let live = d.credit_rows.len() + d.stages.len() + d.incoming.len();
        assert_eq!(
            live, LIVE_RECORDS,
            "{method:?}: the table stays at its size"
        );
        assert_eq!(
            d.archived[&NodeId(1)].ranges(),
            1,
            "{method:?}: the archive is a watermark and one range (message 3 missing)"
        );
        // Message 5's copy, thousands of transfers after its record was archived.
        let repeat = handle(&mut node, &mut d, n, |s, ctx| {
            s.on_message(NodeId(3), Msg::Deliver { msg: credit(5, 1) }, ctx)
        });
        assert_eq!(
            events(&repeat),
            vec![MessagingEvent::DuplicateIgnored],
            "{method:?}"
        );
        // Message 3 arrives at last: new, applied.
        let first = handle(&mut node, &mut d, n + 1, |s, ctx| {
            s.on_message(NodeId(3), Msg::Deliver { msg: credit(3, 1) }, ctx)
        });
        assert!(
            matches!(events(&first)[..], [MessagingEvent::Credited { .. }]),
            "{method:?}"
        );
        assert_eq!(money(&node, &d), n as i64, "{method:?}: each credited once");
        let mut one = ShardOps::default();
        one.push(KeyDelta {
            key: 0,
            delta: -(n as i64),
        });
        assert!(
            funds_ok(&d, &one),
            "{method:?}: archived credits are spendable"
        );
    }
}

fn sends(cmds: &[Command<MessagingNode>]) -> Vec<Msg> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn begin(txn: TxnId) -> Msg {
    use crate::workload::{Op, TxnRequest};
    Msg::Begin {
        req: TxnRequest {
            txn,
            ops: vec![
                Op {
                    shard: 0,
                    key: 0,
                    delta: -1,
                },
                Op {
                    shard: 1,
                    key: 0,
                    delta: 1,
                },
            ],
        },
        client: NodeId(4),
    }
}

/// `HalfMessage`: the producer keeps the record a check-back reads until the
/// broker's watermark (sent with every `Registered`) says the message is delivered
/// and acknowledged; a check-back after that (from a late copy of the Register) is
/// answered "roll back", which drops the re-registered copy, and the committed
/// transfer is not touched.
#[test]
fn a_half_message_record_goes_with_the_brokers_watermark() {
    let o = opts(Mechanism::HalfMessage, Idempotence::UniqueKey);
    let mut p = MessagingNode::service(0, vec![NodeId(1), NodeId(2)], NodeId(3), o);
    let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 1000));
    let registered = |txn, done_below| Msg::Registered { txn, done_below };
    for txn in 0..3 {
        handle(&mut p, &mut d, txn, |n, ctx| {
            n.on_message(NodeId(4), begin(txn), ctx);
            n.on_message(NodeId(3), registered(txn, 0), ctx);
        });
    }
    assert_eq!(d.half_committed.len(), 3);
    // A check-back about 1 (its confirm was lost): confirmed with its number.
    let c = handle(&mut p, &mut d, 10, |n, ctx| {
        n.on_message(NodeId(3), Msg::CheckBack { txn: 1 }, ctx)
    });
    assert_eq!(
        sends(&c),
        vec![Msg::Confirm {
            txn: 1,
            seq: 1,
            checked: true
        }]
    );
    // The broker has had 0 and 1 acknowledged: their records go with the next write.
    handle(&mut p, &mut d, 20, |n, ctx| {
        n.on_message(NodeId(4), begin(3), ctx);
        n.on_message(NodeId(3), registered(3, 2), ctx);
    });
    assert_eq!(
        d.half_committed.keys().copied().collect::<Vec<_>>(),
        vec![2, 3]
    );
    // A late copy of 1's Register was registered again: its check-back is answered
    // "roll back", without touching the committed transfer.
    let late = handle(&mut p, &mut d, 30, |n, ctx| {
        n.on_message(NodeId(3), Msg::CheckBack { txn: 1 }, ctx)
    });
    assert_eq!(sends(&late), vec![Msg::Discard { txn: 1 }]);
    assert!(
        !late
            .iter()
            .any(|c| matches!(c, Command::Observe(Observation::Decided { .. }))),
        "no second outcome for a committed transfer"
    );
    assert_eq!(money(&p, &d), 1000 - 4);
}

/// A request whose id is older than the producer's window of begun ids is refused
/// as stale (the client hears), not begun and not presumed a repeat.
#[test]
fn a_request_older_than_the_window_is_refused_as_stale() {
    let o = opts(Mechanism::Outbox, Idempotence::UniqueKey);
    let mut p = MessagingNode::service(0, vec![NodeId(1), NodeId(2)], NodeId(3), o);
    let mut d = MessagingNode::service_durable(crate::store::Ledger::new(1, 1000));
    let top = 3 * crate::idmap::RecentIds::CAPACITY;
    handle(&mut p, &mut d, 0, |n, ctx| {
        n.on_message(NodeId(4), begin(top), ctx)
    });
    let old = handle(&mut p, &mut d, 1, |n, ctx| {
        n.on_message(NodeId(4), begin(5), ctx)
    });
    assert_eq!(sends(&old), vec![Msg::Stale { txn: 5, floor: 6 }]);
    assert_eq!(money(&p, &d), 999, "not begun");
    let again = handle(&mut p, &mut d, 2, |n, ctx| {
        n.on_message(NodeId(4), begin(top), ctx)
    });
    assert!(
        sends(&again).is_empty(),
        "a repeat within the window is ignored"
    );
}
