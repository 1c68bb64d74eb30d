//! The consumer side of a service: applying a delivered credit, idempotently or not.
//!
//! Each idempotence method keeps its records (credit rows, stages, incoming rows) in
//! a table of at most [`LIVE_RECORDS`]; past that, the write that adds a record also
//! moves the oldest to the archive ([`Durable::archived`]), whose index — the
//! records' message numbers by producer, a [`SeqSet`](super::SeqSet) — is exact. A
//! repeat is checked against the table and the archive alike, so however late it
//! comes it is recognised: memory stays flat in the number of transfers and nothing
//! is forgotten.

use super::{Durable, Idempotence, Message, Msg, Received, Service, Stage, C, LIVE_RECORDS};
use crate::node::{NodeId, Outcome, TxnId};
use crate::observe::{MessagingEvent, Observation};
use std::collections::BTreeMap;

/// Was the record of `msg` moved to the archive?
fn archived(d: &Durable, msg: &Message, seq: u64) -> bool {
    d.archived
        .get(&msg.producer)
        .is_some_and(|s| s.contains(seq))
}

fn received<T>(msg: &Message, seq: u64, value: T) -> Received<T> {
    Received {
        producer: msg.producer,
        seq,
        value,
    }
}

/// Moves the oldest records of `table` past [`LIVE_RECORDS`] to the archive; `fold`
/// says what else archiving one does (inside a `persist`).
fn archive_oldest<T>(
    table: &mut BTreeMap<TxnId, Received<T>>,
    archive: &mut BTreeMap<NodeId, super::SeqSet>,
    mut fold: impl FnMut(&Received<T>),
) {
    while table.len() > LIVE_RECORDS {
        let (_, r) = table.pop_first().expect("the table is over its size");
        let fresh = archive.entry(r.producer).or_default().insert(r.seq);
        assert!(fresh, "a record is archived once");
        fold(&r);
    }
}

impl Service {
    /// Applies the credit of `msg` as the scenario's idempotence method says, in one
    /// local transaction, then acknowledges it to the broker (also a repeat: the
    /// broker must stop redelivering it).
    pub(super) fn consume(&mut self, broker: NodeId, msg: Message, ctx: &mut C<'_>) {
        let txn = msg.txn;
        let ops = msg.ops;
        let id = msg.numbered();
        let seq = id.seq;
        let d = ctx.durable();
        let repeat = match self.opts.idempotence {
            // The unique key, over the table and the archive.
            Idempotence::UniqueKey => d.credit_rows.contains_key(&txn) || archived(d, &msg, seq),
            // By the message's number in its stream: exact however late the copy.
            Idempotence::DedupeTable => {
                d.dedupe.get(&msg.producer).is_some_and(|s| s.contains(seq))
            }
            // Every archived transfer is at its final stage.
            Idempotence::StateMachine => {
                d.stages
                    .get(&txn)
                    .is_some_and(|r| r.value >= Stage::Credited)
                    || archived(d, &msg, seq)
            }
            // No check: the write below is a "set", harmless when repeated.
            Idempotence::NaturallyIdempotent | Idempotence::NoDedupe => false,
        };
        let changed = !repeat
            && ctx.persist(|d| match self.opts.idempotence {
                Idempotence::UniqueKey => {
                    d.credit_rows.insert(txn, received(&msg, seq, msg.amount()));
                    archive_oldest(&mut d.credit_rows, &mut d.archived, |_| {});
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::DedupeTable => {
                    d.dedupe.entry(msg.producer).or_default().insert(seq);
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::StateMachine => {
                    d.stages.insert(txn, received(&msg, seq, Stage::Credited));
                    archive_oldest(&mut d.stages, &mut d.archived, |_| {});
                    d.ledger.apply(&ops);
                    true
                }
                Idempotence::NaturallyIdempotent => {
                    // set row[txn] = (key, amount): the balance is ledger + rows. An
                    // archived row was folded into the ledger: setting it again to the
                    // value it has changes nothing (the write is still made).
                    if archived(d, &msg, seq) {
                        return false;
                    }
                    let key = ops.as_slice().first().map_or(0, |o| o.key);
                    let row = (key, msg.amount());
                    let old = d
                        .incoming
                        .insert(txn, received(&msg, seq, row))
                        .map(|r| r.value);
                    if old != Some(row) {
                        if let Some((k, a)) = old {
                            *d.incoming_by_key.entry(k).or_insert(0) -= a;
                        }
                        *d.incoming_by_key.entry(key).or_insert(0) += row.1;
                    }
                    // An archived row leaves the view for the ledger: the balance,
                    // ledger + rows, is the same.
                    let (ledger, by_key) = (&mut d.ledger, &mut d.incoming_by_key);
                    archive_oldest(&mut d.incoming, &mut d.archived, |r| {
                        let (k, a) = r.value;
                        *by_key.entry(k).or_insert(0) -= a;
                        ledger.add(k, a);
                    });
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
                    id,
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
