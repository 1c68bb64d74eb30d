//! The producer side of a service: the debit and getting its message out, by the
//! scenario's mechanism (see the module above for what each one risks).

use super::{funds_ok, take_seq, Durable, Mechanism, Message, Msg, Service, Timer, Working, C};
use crate::idmap::Recall;
use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{MessagingEvent, Observation};
use crate::store::ShardOps;
use crate::workload::TxnRequest;

impl Service {
    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Begin { req, client } => self.begin(req, client, ctx),
            Msg::Stored { txn } => self.stored(txn, ctx),
            Msg::Registered { txn, done_below } => self.registered(txn, done_below, ctx),
            Msg::CheckBack { txn } => self.answer_check_back(txn, ctx),
            Msg::Deliver { msg } => self.consume(from, msg, ctx),
            _ => {}
        }
    }

    fn begin(&mut self, req: TxnRequest, client: NodeId, ctx: &mut C<'_>) {
        let txn = req.txn;
        if self.working.contains_key(&txn) {
            return; // a repeated request, still being worked on
        }
        match ctx.durable().begun.recall(txn) {
            Recall::Seen => return, // a repeated request
            // Older than the window: it may be a copy of one begun long ago. Not begun
            // again, not presumed new: the client hears that it is stale.
            Recall::Forgotten => {
                ctx.send(
                    client,
                    Msg::Stale {
                        txn,
                        floor: txn.saturating_add(1),
                    },
                );
                return;
            }
            Recall::Unseen => {}
        }
        let shards = req.by_shard();
        let me = ctx.me();
        if let [(_, ops)] = shards[..] {
            self.local_transfer(txn, ops, client, ctx);
            return;
        }
        let (Some(&(_, debit)), Some(&(to, credit))) = (
            shards.iter().find(|(s, _)| *s == self.shard),
            shards.iter().find(|(s, _)| *s != self.shard),
        ) else {
            return; // not ours to debit: the gateway routes by the debit's shard
        };
        let consumer = self.rms[to as usize];
        if !funds_ok(ctx.durable(), &debit) {
            let mut only_me = NodeSet::new();
            only_me.insert(me);
            ctx.observe(Observation::TxnBegun {
                txn,
                participants: only_me,
            });
            ctx.persist(|d| d.begun.insert(txn));
            self.finish(txn, client, Outcome::Abort, ctx);
            return;
        }
        let participants: NodeSet = [me, consumer].into_iter().collect();
        ctx.observe(Observation::TxnBegun { txn, participants });
        let mut msg = Message {
            txn,
            producer: me,
            consumer,
            seq: None,
            ops: credit,
        };
        let w = Working {
            client,
            debit,
            msg,
            registering: None,
        };
        match self.opts.mechanism {
            Mechanism::Outbox => {
                // One local transaction: the debit and the message row (numbered).
                let seq = ctx.persist(|d| {
                    let seq = take_seq(d, consumer);
                    d.ledger.apply(&debit);
                    d.outbox.insert(
                        txn,
                        Message {
                            seq: Some(seq),
                            ..msg
                        },
                    );
                    d.begun.insert(txn);
                    seq
                });
                msg.seq = Some(seq);
                self.debited(txn, &msg, client, ctx);
                // The relay picks the row up a step later.
                ctx.set_timer(Timer::Step(txn), self.opts.step_delay_us);
            }
            Mechanism::HalfMessage => {
                ctx.send(self.broker, Msg::Register { msg });
                self.working.insert(
                    txn,
                    Working {
                        registering: Some(ctx.now_us()),
                        ..w
                    },
                );
                self.arm_retry(ctx);
            }
            Mechanism::PublishThenCommit => {
                // The number is taken durably, with the request's record, so that a
                // restarted producer never gives it to another message.
                let seq = ctx.persist(|d| {
                    let seq = take_seq(d, consumer);
                    d.begun.insert(txn);
                    seq
                });
                msg.seq = Some(seq);
                self.publish_from_memory(msg, ctx);
                self.working.insert(txn, Working { msg, ..w });
                ctx.set_timer(Timer::Step(txn), self.opts.step_delay_us);
            }
            Mechanism::CommitThenPublish => {
                let seq = ctx.persist(|d| {
                    let seq = take_seq(d, consumer);
                    d.ledger.apply(&debit);
                    d.begun.insert(txn);
                    seq
                });
                msg.seq = Some(seq);
                self.debited(txn, &msg, client, ctx);
                self.working.insert(txn, Working { msg, ..w });
                ctx.set_timer(Timer::Step(txn), self.opts.step_delay_us);
            }
        }
    }

    /// Both accounts on this shard: one local transaction, no message.
    fn local_transfer(&mut self, txn: TxnId, ops: ShardOps, client: NodeId, ctx: &mut C<'_>) {
        let mut only_me = NodeSet::new();
        only_me.insert(ctx.me());
        ctx.observe(Observation::TxnBegun {
            txn,
            participants: only_me,
        });
        let ok = funds_ok(ctx.durable(), &ops);
        let outcome = if ok { Outcome::Commit } else { Outcome::Abort };
        ctx.persist(|d| {
            if ok {
                d.ledger.apply(&ops);
            }
            d.begun.insert(txn);
        });
        self.finish(txn, client, outcome, ctx);
    }

    /// The producer's part is over: observed and answered.
    fn finish(&mut self, txn: TxnId, client: NodeId, outcome: Outcome, ctx: &mut C<'_>) {
        ctx.observe(Observation::Decided { txn, outcome });
        ctx.observe(Observation::applied_at_once(txn, outcome, 0));
        ctx.observe(Observation::Finished { txn });
        ctx.send(client, Msg::Reply { txn, outcome });
    }

    /// The debit committed: the client hears "done" now; the credit follows.
    fn debited(&mut self, txn: TxnId, msg: &Message, client: NodeId, ctx: &mut C<'_>) {
        ctx.observe(Observation::Messaging {
            txn,
            event: MessagingEvent::Debited {
                amount: msg.amount(),
                id: msg.numbered(),
            },
        });
        self.finish(txn, client, Outcome::Commit, ctx);
    }

    /// The second step of a transaction, `step_delay` after the first.
    pub(super) fn step(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        match self.opts.mechanism {
            Mechanism::Outbox => {
                // The relay publishes the row (unless it is acknowledged already).
                if let Some(&msg) = ctx.durable().outbox.get(&txn) {
                    self.relay_publish(msg, false, ctx);
                }
            }
            Mechanism::HalfMessage => {
                // Committed (and numbered) once `registered` ran; a rollback removed it.
                if let Some(seq) = self.working.remove(&txn).and_then(|w| w.msg.seq) {
                    ctx.send(
                        self.broker,
                        Msg::Confirm {
                            txn,
                            seq,
                            checked: false,
                        },
                    );
                }
            }
            Mechanism::PublishThenCommit => {
                let Some(w) = self.working.remove(&txn) else {
                    return;
                };
                // The message is out already; now the local transaction, which may
                // still fail (funds spent meanwhile) — a phantom either way.
                let ok = funds_ok(ctx.durable(), &w.debit);
                // The local transaction: the debit, or its rollback (recorded, as the
                // request is, in the window of begun ids).
                ctx.persist(|d| {
                    if ok {
                        d.ledger.apply(&w.debit);
                    }
                    d.begun.insert(txn);
                });
                if ok {
                    self.debited(txn, &w.msg, w.client, ctx);
                } else {
                    self.finish(txn, w.client, Outcome::Abort, ctx);
                }
            }
            Mechanism::CommitThenPublish => {
                if let Some(w) = self.working.remove(&txn) {
                    self.publish_from_memory(w.msg, ctx);
                }
            }
        }
    }

    fn relay_publish(&mut self, msg: Message, republish: bool, ctx: &mut C<'_>) {
        self.sent_at.insert(msg.txn, ctx.now_us());
        ctx.send(self.broker, Msg::Publish { msg, republish });
        self.arm_retry(ctx);
    }

    /// The unsafe variants keep what they publish only in memory, retrying until the
    /// broker confirms: a lossy link alone loses nothing, a crash does.
    fn publish_from_memory(&mut self, msg: Message, ctx: &mut C<'_>) {
        self.unsent.insert(msg.txn, (msg, ctx.now_us()));
        ctx.send(
            self.broker,
            Msg::Publish {
                msg,
                republish: false,
            },
        );
        self.arm_retry(ctx);
    }

    /// The broker has the message: mark the outbox row sent (here: delete it).
    fn stored(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        self.unsent.remove(&txn);
        self.sent_at.remove(&txn);
        if ctx.durable().outbox.contains_key(&txn) {
            ctx.persist(|d| d.outbox.remove(&txn));
        }
    }

    /// `HalfMessage`: the half message is registered; run the local transaction.
    /// `done_below`: the broker's watermark of the stream to the message's consumer.
    fn registered(&mut self, txn: TxnId, done_below: u64, ctx: &mut C<'_>) {
        let Some(w) = self.working.get_mut(&txn) else {
            return;
        };
        if w.registering.take().is_none() {
            return; // a repeated acknowledgement
        }
        let mut w = w.clone();
        let ok = funds_ok(ctx.durable(), &w.debit);
        let consumer = w.msg.consumer;
        // Without check-backs nobody ever asks about a half message: no record.
        let keep = self.opts.check_back;
        // The local transaction, which also numbers the message if it commits. The
        // same write drops the records of this stream's messages the broker has had
        // acknowledged: no check-back can need them.
        let seq = ctx.persist(|d| {
            d.begun.insert(txn);
            forget_acknowledged(d, consumer, done_below);
            ok.then(|| {
                d.ledger.apply(&w.debit);
                let seq = take_seq(d, consumer);
                if keep {
                    d.half_committed.insert(txn, (consumer, seq));
                    d.half_by_seq.insert((consumer, seq), txn);
                }
                seq
            })
        });
        if let Some(seq) = seq {
            w.msg.seq = Some(seq);
            if let Some(working) = self.working.get_mut(&txn) {
                working.msg.seq = Some(seq);
            }
            self.debited(txn, &w.msg, w.client, ctx);
            // Confirm a step later: the window a crash (or a lost Confirm) leaves
            // for the check-back to close.
            ctx.set_timer(Timer::Step(txn), self.opts.step_delay_us);
        } else {
            self.working.remove(&txn);
            ctx.send(self.broker, Msg::Discard { txn });
            self.finish(txn, w.client, Outcome::Abort, ctx);
        }
    }

    /// The message service asks about a half message: the local log answers. A
    /// transaction committed and not yet known acknowledged is confirmed with its
    /// number. One recorded otherwise — rolled back, or committed and acknowledged
    /// (the broker's watermark passed it, so this check-back comes from a late copy
    /// of its Register, which the broker must drop) — is answered "roll back". One
    /// it has no record of is rolled back, durably, before answering, so a late
    /// `Registered` cannot commit it afterwards.
    fn answer_check_back(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let reply = match ctx.durable().half_committed.get(&txn) {
            Some(&(_, seq)) => Msg::Confirm {
                txn,
                seq,
                checked: true,
            },
            None => {
                // Still registering: not recorded yet. Committed and waiting for its
                // step: recorded (and acknowledged, or the record would be here).
                let registering = self.working.get(&txn).map(|w| w.registering.is_some());
                let unrecorded = match registering {
                    Some(r) => r,
                    None => ctx.durable().begun.recall(txn) == Recall::Unseen,
                };
                if unrecorded {
                    ctx.persist(|d| d.begun.insert(txn));
                    if let Some(w) = self.working.remove(&txn) {
                        self.finish(txn, w.client, Outcome::Abort, ctx);
                    }
                }
                Msg::Discard { txn }
            }
        };
        ctx.send(self.broker, reply);
    }

    pub(super) fn arm_retry(&mut self, ctx: &mut C<'_>) {
        let busy = !self.sent_at.is_empty()
            || !self.unsent.is_empty()
            || self.working.values().any(|w| w.registering.is_some());
        if !self.retry_armed && busy {
            self.retry_armed = true;
            ctx.set_timer(Timer::Retry, self.opts.retry_us);
        }
    }

    /// Re-publishes (re-registers) whatever has waited a retry interval unacknowledged.
    pub(super) fn retry(&mut self, ctx: &mut C<'_>) {
        self.retry_armed = false;
        let now = ctx.now_us();
        let retry_us = self.opts.retry_us;
        let due = |at: u64| now >= at + retry_us;
        let rows: Vec<TxnId> = self
            .sent_at
            .iter()
            .filter(|(_, &at)| due(at))
            .map(|(&t, _)| t)
            .collect();
        for txn in rows {
            match ctx.durable().outbox.get(&txn) {
                Some(&msg) => self.relay_publish(msg, true, ctx),
                None => {
                    self.sent_at.remove(&txn);
                }
            }
        }
        let broker = self.broker;
        for (msg, at) in self.unsent.values_mut() {
            if due(*at) {
                *at = now;
                ctx.send(
                    broker,
                    Msg::Publish {
                        msg: *msg,
                        republish: true,
                    },
                );
            }
        }
        for w in self.working.values_mut() {
            if let Some(at) = w.registering {
                if due(at) {
                    w.registering = Some(now);
                    ctx.send(broker, Msg::Register { msg: w.msg });
                }
            }
        }
        self.arm_retry(ctx);
    }

    /// After a restart the relay publishes every row of the outbox again: it cannot
    /// know which ones the broker has. (Unsafe variants have nothing to go on.)
    pub(super) fn recover(&mut self, ctx: &mut C<'_>) {
        let rows: Vec<Message> = ctx.durable().outbox.values().copied().collect();
        for msg in rows {
            self.relay_publish(msg, true, ctx);
        }
    }
}

/// Drops the records of committed half messages to `consumer` numbered below the
/// broker's acknowledged watermark `done_below` (inside a `persist`).
fn forget_acknowledged(d: &mut Durable, consumer: NodeId, done_below: u64) {
    while let Some((&(c, seq), &txn)) = d.half_by_seq.range((consumer, 0)..).next() {
        if c != consumer || seq >= done_below {
            break;
        }
        d.half_by_seq.remove(&(c, seq));
        d.half_committed.remove(&txn);
    }
}
