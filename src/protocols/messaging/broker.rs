//! The broker: a durable queue that delivers at least once, and the independent
//! message service's half messages with their check-back.
//!
//! It recognises a message it has already delivered by the message's number in its
//! stream ([`super::SeqSet`], exact however late a copy comes), not by a window of
//! recent ids: an id that fell out of a window would be confirmed to its producer as
//! "stored" and never delivered.

use super::{Broker, Message, Msg, Queued, SeqSet, Timer, C};
use crate::node::{NodeId, TxnId};
use crate::observe::{MessagingEvent, Observation, RepairClass};

/// Is `txn` a half message (registered, not confirmed)?
fn half(txn: TxnId, ctx: &C<'_>) -> bool {
    ctx.durable().queue.get(&txn).is_some_and(|q| !q.ready)
}

/// Was message `seq` of the stream `producer → consumer` delivered and acknowledged?
fn done(ctx: &C<'_>, producer: NodeId, consumer: NodeId, seq: u64) -> bool {
    ctx.durable()
        .done
        .get(&(producer, consumer))
        .is_some_and(|s| s.contains(seq))
}

impl Broker {
    pub(super) fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Publish { msg, republish } => {
                let seq = msg.seq.expect("a published message is numbered");
                let known = ctx.durable().queue.contains_key(&msg.txn)
                    || done(ctx, msg.producer, msg.consumer, seq);
                if !known {
                    self.enqueue(msg, true, ctx);
                    self.published(msg.txn, republish, ctx);
                }
                ctx.send(from, Msg::Stored { txn: msg.txn });
            }
            Msg::Register { msg } => {
                // A half message is not numbered yet, so a very late copy of the
                // Register of one already delivered is registered again: the
                // check-back then learns its number and drops it (below).
                if !ctx.durable().queue.contains_key(&msg.txn) {
                    self.enqueue(msg, false, ctx);
                    self.arm_check_back(ctx);
                }
                let done_below = ctx
                    .durable()
                    .done
                    .get(&(msg.producer, msg.consumer))
                    .map_or(0, SeqSet::floor);
                ctx.send(
                    from,
                    Msg::Registered {
                        txn: msg.txn,
                        done_below,
                    },
                );
            }
            Msg::Confirm { txn, seq, checked } if half(txn, ctx) => {
                let msg = ctx.durable().queue[&txn].msg;
                self.checked_at.remove(&txn);
                if done(ctx, msg.producer, msg.consumer, seq) {
                    // Delivered and acknowledged already: this half message came from
                    // a late copy of its Register.
                    ctx.persist(|d| d.queue.remove(&txn));
                    return;
                }
                ctx.persist(|d| {
                    if let Some(q) = d.queue.get_mut(&txn) {
                        q.ready = true;
                        q.msg.seq = Some(seq);
                    }
                });
                // Confirmed by the check-back: the producer's own confirm was lost or
                // it crashed before sending it. Without the check-back this debit
                // would never be credited.
                self.published(txn, checked, ctx);
            }
            Msg::Discard { txn } if half(txn, ctx) => {
                ctx.persist(|d| d.queue.remove(&txn));
                self.checked_at.remove(&txn);
            }
            // Only a delivered (ready) message is acknowledged: a late Ack must not
            // remove a half message registered again by a late Register.
            Msg::Ack { txn } if ctx.durable().queue.get(&txn).is_some_and(|q| q.ready) => {
                ctx.persist(|d| {
                    if let Some(q) = d.queue.remove(&txn) {
                        let seq = q.msg.seq.expect("a ready message is numbered");
                        d.done
                            .entry((q.msg.producer, q.msg.consumer))
                            .or_default()
                            .insert(seq);
                    }
                });
                self.delivered_at.remove(&txn);
            }
            _ => {}
        }
    }

    fn enqueue(&mut self, msg: Message, ready: bool, ctx: &mut C<'_>) {
        let since_us = ctx.now_us();
        ctx.persist(|d| {
            d.queue.insert(
                msg.txn,
                Queued {
                    msg,
                    ready,
                    since_us,
                },
            )
        });
    }

    /// `txn` became deliverable: count it, note a repair, deliver it.
    fn published(&mut self, txn: TxnId, repaired: bool, ctx: &mut C<'_>) {
        let Some(q) = ctx.durable().queue.get(&txn) else {
            return;
        };
        let id = q.msg.numbered();
        ctx.observe(Observation::Messaging {
            txn,
            event: MessagingEvent::Published { id },
        });
        if repaired {
            ctx.observe(Observation::Repair {
                txn,
                class: RepairClass::Automatic,
            });
        }
        self.deliver(txn, ctx);
        self.arm_redeliver(ctx);
    }

    fn deliver(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let Some(q) = ctx.durable().queue.get(&txn) else {
            return;
        };
        let msg = q.msg;
        self.delivered_at.insert(txn, ctx.now_us());
        ctx.observe(Observation::Messaging {
            txn,
            event: MessagingEvent::Delivered { id: msg.numbered() },
        });
        ctx.send(msg.consumer, Msg::Deliver { msg });
    }

    fn arm_redeliver(&mut self, ctx: &mut C<'_>) {
        if !self.redeliver_armed && ctx.durable().queue.values().any(|q| q.ready) {
            self.redeliver_armed = true;
            ctx.set_timer(Timer::Redeliver, self.opts.redeliver_us);
        }
    }

    /// Delivers again every ready message unacknowledged for a redelivery interval
    /// (and, after a restart, every ready message: the broker forgot what it sent).
    pub(super) fn redeliver(&mut self, ctx: &mut C<'_>) {
        self.redeliver_armed = false;
        let now = ctx.now_us();
        let wait = self.opts.redeliver_us;
        let due: Vec<TxnId> = ctx
            .durable()
            .queue
            .iter()
            .filter(|(t, q)| q.ready && self.delivered_at.get(t).is_none_or(|&at| now >= at + wait))
            .map(|(&t, _)| t)
            .collect();
        for txn in due {
            self.deliver(txn, ctx);
        }
        self.arm_redeliver(ctx);
    }

    fn arm_check_back(&mut self, ctx: &mut C<'_>) {
        if self.opts.check_back
            && !self.checkback_armed
            && ctx.durable().queue.values().any(|q| !q.ready)
        {
            self.checkback_armed = true;
            ctx.set_timer(Timer::CheckBack, self.opts.checkback_us);
        }
    }

    /// Asks the producer about every half message pending for a check-back interval
    /// (and not asked about in the last one).
    pub(super) fn check_back(&mut self, ctx: &mut C<'_>) {
        self.checkback_armed = false;
        let now = ctx.now_us();
        let wait = self.opts.checkback_us;
        let due: Vec<(TxnId, NodeId)> = ctx
            .durable()
            .queue
            .iter()
            .filter(|(t, q)| {
                !q.ready
                    && now >= q.since_us + wait
                    && self.checked_at.get(t).is_none_or(|&at| now >= at + wait)
            })
            .map(|(&t, q)| (t, q.msg.producer))
            .collect();
        for (txn, producer) in due {
            self.checked_at.insert(txn, now);
            ctx.observe(Observation::Messaging {
                txn,
                event: MessagingEvent::CheckBack,
            });
            ctx.send(producer, Msg::CheckBack { txn });
        }
        self.arm_check_back(ctx);
    }

    pub(super) fn recover(&mut self, ctx: &mut C<'_>) {
        self.redeliver(ctx);
        self.arm_check_back(ctx);
    }
}
