//! The reliable-messaging checker: counts what happened to messages and, at the end,
//! classifies every transfer's message as applied, in flight, lost or phantom.
//!
//! The ground truth comes from facts only the whole world knows: the producer says
//! when its debit committed, the consumer says each time its state changed for a
//! message, and the end audit says who still holds which message. A consumer without
//! any idempotence method cannot tell a duplicate from a first delivery; the checker
//! can, by counting the credits of each message.

use crate::node::{NodeId, TxnId};
use crate::observe::{AuditItem, MessageId, MessagingEvent};
use crate::seqset::SeqSet;
use crate::stats::Histogram;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
struct Fate {
    id: Option<MessageId>,
    debited_at_us: Option<u64>,
    published_at_us: Option<u64>,
    credits: u32,
    deliveries: u32,
    amount: i64,
}

impl Fate {
    /// Debited and credited: nothing more can change its classification.
    fn settled(&self) -> bool {
        self.debited_at_us.is_some() && self.credits > 0
    }
}

/// Running messaging counts. Memory: one small record per message not yet settled
/// (debited and credited) — in flight, lost or phantom — and, per stream, the numbers
/// of the settled ones as a [`SeqSet`] (exact, one range per gap), so that a late
/// delivery or a second credit of a settled message is still counted as what it is.
#[derive(Clone, Debug, Default)]
pub struct MessagingTally {
    published: u64,
    delivered: u64,
    redelivered: u64,
    duplicates_applied: u64,
    duplicates_ignored: u64,
    credited_before_debit: u64,
    checkbacks: u64,
    fates: BTreeMap<TxnId, Fate>,
    settled: BTreeMap<(NodeId, NodeId), SeqSet>,
    publish_to_apply: Histogram,
    debit_to_credit: Histogram,
}

/// What the messaging checker concluded (all zero for protocols without messages).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessagingResults {
    pub published: u64,
    pub delivered: u64,
    pub redelivered: u64,
    pub duplicates_applied: u64,
    pub duplicates_ignored: u64,
    /// Credits applied before their debit committed: money visible twice for a while
    /// (a transient anomaly; a phantom if the debit never comes).
    pub credited_before_debit: u64,
    /// Messages applied (or still deliverable) whose business change never committed.
    pub phantom_messages: u64,
    /// Business changes committed whose message nobody holds and nobody applied.
    pub lost_messages: u64,
    /// Messages still held for delivery at the end (outbox, broker, retry buffers).
    pub pending_at_end: u64,
    pub checkbacks: u64,
    /// Money debited whose message is still held: in flight, not lost.
    pub in_flight_money: i64,
    pub publish_to_apply_p50_us: u64,
    pub publish_to_apply_p99_us: u64,
    pub debit_to_credit_p50_us: u64,
    pub debit_to_credit_p99_us: u64,
}

fn event_id(event: &MessagingEvent) -> Option<MessageId> {
    match *event {
        MessagingEvent::Debited { id, .. }
        | MessagingEvent::Published { id }
        | MessagingEvent::Delivered { id }
        | MessagingEvent::Credited { id, .. } => Some(id),
        MessagingEvent::DuplicateIgnored | MessagingEvent::CheckBack => None,
    }
}

impl MessagingTally {
    /// Is exactly one side of `txn`'s transfer applied (its money in flight)?
    pub fn half_done(&self, txn: TxnId) -> bool {
        self.fates
            .get(&txn)
            .is_some_and(|f| f.debited_at_us.is_some() != (f.credits > 0))
    }

    fn is_settled(&self, id: MessageId) -> bool {
        self.settled
            .get(&(id.producer, id.consumer))
            .is_some_and(|s| s.contains(id.seq))
    }

    pub fn observe(&mut self, at_us: u64, txn: TxnId, event: MessagingEvent) {
        let id = event_id(&event);
        if !self.fates.contains_key(&txn) && id.is_some_and(|id| self.is_settled(id)) {
            // A settled message (debited, published, delivered, credited) again.
            match event {
                MessagingEvent::Published { .. } => self.published += 1,
                MessagingEvent::Delivered { .. } => {
                    self.delivered += 1;
                    self.redelivered += 1;
                }
                MessagingEvent::Credited { .. } => self.duplicates_applied += 1,
                // The debit commits once per transfer (the money audit would show a
                // second one).
                _ => {}
            }
            return;
        }
        match event {
            MessagingEvent::Debited { amount, .. } => {
                let f = self.fates.entry(txn).or_default();
                f.debited_at_us.get_or_insert(at_us);
                f.amount = amount;
            }
            MessagingEvent::Published { .. } => {
                self.published += 1;
                self.fates
                    .entry(txn)
                    .or_default()
                    .published_at_us
                    .get_or_insert(at_us);
            }
            MessagingEvent::Delivered { .. } => {
                self.delivered += 1;
                let f = self.fates.entry(txn).or_default();
                f.deliveries += 1;
                if f.deliveries > 1 {
                    self.redelivered += 1;
                }
            }
            MessagingEvent::Credited { amount, .. } => {
                let f = self.fates.entry(txn).or_default();
                f.credits += 1;
                f.amount = amount;
                if f.credits > 1 {
                    self.duplicates_applied += 1;
                } else {
                    if let Some(p) = f.published_at_us {
                        self.publish_to_apply.record(at_us.saturating_sub(p));
                    }
                    match f.debited_at_us {
                        Some(d) => self.debit_to_credit.record(at_us.saturating_sub(d)),
                        None => self.credited_before_debit += 1,
                    }
                }
            }
            MessagingEvent::DuplicateIgnored => self.duplicates_ignored += 1,
            MessagingEvent::CheckBack => self.checkbacks += 1,
        }
        if let Some(f) = self.fates.get_mut(&txn) {
            if f.id.is_none() {
                f.id = id;
            }
            if f.settled() {
                // Final: fold it into its stream's settled numbers.
                let id = f.id.expect("a debited message is numbered");
                self.fates.remove(&txn);
                self.settled
                    .entry((id.producer, id.consumer))
                    .or_default()
                    .insert(id.seq);
            }
        }
    }

    /// Messages not yet settled (the tally's memory, for tests).
    pub fn open(&self) -> usize {
        self.fates.len()
    }

    /// Classifies every message against what the nodes still hold at the end.
    pub fn finish(&self, end_audit: &[(NodeId, Vec<AuditItem>)]) -> MessagingResults {
        // Txn → (amount, ready): a message may be held twice at once (an outbox row
        // whose broker acknowledgement is on its way); it counts once. A settled
        // message still held (its acknowledgement on the way) is neither lost nor a
        // phantom.
        let mut held: BTreeMap<TxnId, (i64, bool, bool)> = BTreeMap::new();
        for item in end_audit.iter().flat_map(|(_, items)| items) {
            if let AuditItem::MessageHeld {
                txn,
                amount,
                ready,
                id,
            } = *item
            {
                let settled =
                    !self.fates.contains_key(&txn) && id.is_some_and(|id| self.is_settled(id));
                let e = held.entry(txn).or_insert((amount, false, false));
                e.1 |= ready;
                e.2 |= settled;
            }
        }
        let mut r = MessagingResults {
            published: self.published,
            delivered: self.delivered,
            redelivered: self.redelivered,
            duplicates_applied: self.duplicates_applied,
            duplicates_ignored: self.duplicates_ignored,
            credited_before_debit: self.credited_before_debit,
            pending_at_end: held.len() as u64,
            checkbacks: self.checkbacks,
            publish_to_apply_p50_us: self.publish_to_apply.quantile(0.50),
            publish_to_apply_p99_us: self.publish_to_apply.quantile(0.99),
            debit_to_credit_p50_us: self.debit_to_credit.quantile(0.50),
            debit_to_credit_p99_us: self.debit_to_credit.quantile(0.99),
            ..MessagingResults::default()
        };
        let none = Fate::default();
        let txns: std::collections::BTreeSet<TxnId> = self
            .fates
            .keys()
            .copied()
            .chain(held.iter().filter(|(_, h)| !h.2).map(|(&t, _)| t))
            .collect();
        for txn in txns {
            let f = self.fates.get(&txn).unwrap_or(&none);
            let holding = held.get(&txn);
            let debited = f.debited_at_us.is_some();
            let credited = f.credits > 0;
            if debited && !credited {
                match holding {
                    Some(&(amount, _, _)) => r.in_flight_money += amount,
                    None => r.lost_messages += 1,
                }
            }
            if !debited && (credited || holding.is_some_and(|h| h.1)) {
                r.phantom_messages += 1;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message `txn` of the stream node 1 → node 2 is numbered `txn`.
    fn id(txn: TxnId) -> MessageId {
        MessageId {
            producer: NodeId(1),
            consumer: NodeId(2),
            seq: txn,
        }
    }

    fn held(txn: TxnId, amount: i64, ready: bool) -> (NodeId, Vec<AuditItem>) {
        (
            NodeId(0),
            vec![AuditItem::MessageHeld {
                txn,
                amount,
                ready,
                id: ready.then(|| id(txn)),
            }],
        )
    }

    fn debited(amount: i64, txn: TxnId) -> MessagingEvent {
        MessagingEvent::Debited {
            amount,
            id: id(txn),
        }
    }

    fn credited(amount: i64, txn: TxnId) -> MessagingEvent {
        MessagingEvent::Credited {
            amount,
            id: id(txn),
        }
    }

    #[test]
    fn classifies_applied_in_flight_lost_and_phantom() {
        let mut t = MessagingTally::default();
        // 1: debited, published, credited once: fine.
        t.observe(0, 1, debited(5, 1));
        t.observe(10, 1, MessagingEvent::Published { id: id(1) });
        t.observe(30, 1, credited(5, 1));
        // 2: debited, still in the broker: in flight.
        t.observe(0, 2, debited(7, 2));
        // 3: debited, held by nobody: lost.
        t.observe(0, 3, debited(9, 3));
        // 4: credited without a debit: phantom; 5: ready in the broker, no debit.
        t.observe(5, 4, credited(4, 4));
        // 6: a half message not confirmed and not debited: neither.
        // 1 again: a duplicate applied.
        t.observe(40, 1, credited(5, 1));
        let r = t.finish(&[
            held(2, 7, true),
            held(2, 7, true),
            held(5, 3, true),
            held(6, 2, false),
        ]);
        assert_eq!(r.in_flight_money, 7);
        assert_eq!(r.lost_messages, 1);
        assert_eq!(r.phantom_messages, 2);
        assert_eq!(r.pending_at_end, 3);
        assert_eq!(r.duplicates_applied, 1);
        assert_eq!(r.credited_before_debit, 1);
        assert_eq!(r.publish_to_apply_p50_us, 20);
        assert_eq!(r.debit_to_credit_p99_us, 30);
    }

    /// A settled message leaves only its number behind, and whatever comes for it
    /// later is still counted as what it is: a redelivery, a double credit, a message
    /// held while its acknowledgement is on its way (neither lost nor a phantom).
    #[test]
    fn settled_messages_fold_into_numbers_and_stay_counted() {
        let mut t = MessagingTally::default();
        for txn in 0..100_000u64 {
            t.observe(txn, txn, debited(1, txn));
            t.observe(txn, txn, MessagingEvent::Delivered { id: id(txn) });
            t.observe(txn + 5, txn, credited(1, txn));
        }
        assert_eq!(t.open(), 0, "nothing open once every message settled");
        assert_eq!(t.settled[&(NodeId(1), NodeId(2))].ranges(), 0);
        // Message 7, 100,000 messages later: delivered and credited again.
        t.observe(200_000, 7, MessagingEvent::Delivered { id: id(7) });
        t.observe(200_001, 7, credited(1, 7));
        assert!(!t.half_done(7));
        let r = t.finish(&[held(99_999, 1, true)]);
        assert_eq!(r.delivered, 100_001);
        assert_eq!(r.redelivered, 1);
        assert_eq!(r.duplicates_applied, 1);
        assert_eq!((r.lost_messages, r.phantom_messages), (0, 0));
        assert_eq!(r.pending_at_end, 1);
        assert_eq!(r.in_flight_money, 0);
    }
}
