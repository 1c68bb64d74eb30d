//! The consumer side of a service: applying a delivered credit, idempotently or not.

use super::{Idempotence, Message, Msg, Service, Stage, C};
use crate::node::{NodeId, Outcome};
use crate::observe::{MessagingEvent, Observation};

impl Service {
    /// Applies the credit of `msg` as the scenario's idempotence method says, in one
    /// local transaction, then acknowledges it to the broker (also a repeat: the
    /// broker must stop redelivering it).
    pub(super) fn consume(&mut self, broker: NodeId, msg: Message, ctx: &mut C<'_>) {
        let txn = msg.txn;
        let ops = msg.ops;
        let seq = msg.seq.expect("a delivered message is numbered");
        let d = ctx.durable();
        let repeat = match self.opts.idempotence {
            Idempotence::UniqueKey => d.credit_rows.contains_key(&txn),
            // By the message's number in its stream: exact however late the copy.
            Idempotence::DedupeTable => {
                d.dedupe.get(&msg.producer).is_some_and(|s| s.contains(seq))
            }
            Idempotence::StateMachine => d.stages.get(&txn) >= Some(&Stage::Credited),
            // No check: the write below is a "set", harmless when repeated.
            Idempotence::NaturallyIdempotent | Idempotence::NoDedupe => false,
        };
        let changed = !repeat
            && ctx.persist(|d| match self.opts.idempotence {
                Idempotence::UniqueKey => {
                    d.credit_rows.insert(txn, msg.amount());
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::DedupeTable => {
                    d.dedupe.entry(msg.producer).or_default().insert(seq);
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::StateMachine => {
                    d.stages.insert(txn, Stage::Credited);
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::NaturallyIdempotent => {
                    // set row[txn] = (key, amount): the balance is ledger + rows.
                    let key = ops.as_slice().first().map_or(0, |o| o.key);
                    let row = (key, msg.amount());
                    let old = d.incoming.insert(txn, row);
                    if old != Some(row) {
                        if let Some((k, a)) = old {
                            *d.incoming_by_key.entry(k).or_insert(0) -= a;
                        }
                        *d.incoming_by_key.entry(key).or_insert(0) += row.1;
                    }
                    old != Some(row)
                }
                Idempotence::NoDedupe => {
                    d.ledger.apply(&ops);
                    true
                }
            });
        if changed {
            ctx.observe(Observation::Messaging {
                txn,
                event: MessagingEvent::Credited {
                    amount: msg.amount(),
                },
            });
            ctx.observe(Observation::applied_at_once(txn, Outcome::Commit, 0));
        } else {
            ctx.observe(Observation::Messaging {
                txn,
                event: MessagingEvent::DuplicateIgnored,
            });
        }
        ctx.send(broker, Msg::Ack { txn });
    }
}
