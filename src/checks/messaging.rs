//! The reliable-messaging checker: counts what happened to messages and, at the end,
//! classifies every transfer's message as applied, in flight, lost or phantom.
//!
//! The ground truth comes from facts only the whole world knows: the producer says
//! when its debit committed, the consumer says each time its state changed for a
//! message, and the end audit says who still holds which message. A consumer without
//! any idempotence method cannot tell a duplicate from a first delivery; the checker
//! can, by counting the credits of each message.

use crate::node::{NodeId, TxnId};
use crate::observe::{AuditItem, MessagingEvent};
use crate::stats::Histogram;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
struct Fate {
    debited_at_us: Option<u64>,
    published_at_us: Option<u64>,
    credits: u32,
    deliveries: u32,
    amount: i64,
}

/// Running messaging counts (memory: one small record per message).
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

impl MessagingTally {
    /// Is exactly one side of `txn`'s transfer applied (its money in flight)?
    pub fn half_done(&self, txn: TxnId) -> bool {
        self.fates
            .get(&txn)
            .is_some_and(|f| f.debited_at_us.is_some() != (f.credits > 0))
    }

    pub fn observe(&mut self, at_us: u64, txn: TxnId, event: MessagingEvent) {
        match event {
            MessagingEvent::Debited { amount } => {
                let f = self.fates.entry(txn).or_default();
                f.debited_at_us.get_or_insert(at_us);
                f.amount = amount;
            }
            MessagingEvent::Published => {
                self.published += 1;
                self.fates
                    .entry(txn)
                    .or_default()
                    .published_at_us
                    .get_or_insert(at_us);
            }
            MessagingEvent::Delivered => {
                self.delivered += 1;
                let f = self.fates.entry(txn).or_default();
                f.deliveries += 1;
                if f.deliveries > 1 {
                    self.redelivered += 1;
                }
            }
            MessagingEvent::Credited { amount } => {
                let f = self.fates.entry(txn).or_default();
                f.credits += 1;
                f.amount = amount;
                if f.credits > 1 {
                    self.duplicates_applied += 1;
                    return;
                }
                if let Some(p) = f.published_at_us {
                    self.publish_to_apply.record(at_us.saturating_sub(p));
                }
                match f.debited_at_us {
                    Some(d) => self.debit_to_credit.record(at_us.saturating_sub(d)),
                    None => self.credited_before_debit += 1,
                }
            }
            MessagingEvent::DuplicateIgnored => self.duplicates_ignored += 1,
            MessagingEvent::CheckBack => self.checkbacks += 1,
        }
    }

    /// Classifies every message against what the nodes still hold at the end.
    pub fn finish(&self, end_audit: &[(NodeId, Vec<AuditItem>)]) -> MessagingResults {
        // Txn → (amount, ready): a message may be held twice at once (an outbox row
        // whose broker acknowledgement is on its way); it counts once.
        let mut held: BTreeMap<TxnId, (i64, bool)> = BTreeMap::new();
        for item in end_audit.iter().flat_map(|(_, items)| items) {
            if let AuditItem::MessageHeld { txn, amount, ready } = *item {
                let e = held.entry(txn).or_insert((amount, false));
                e.1 |= ready;
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
        let txns: std::collections::BTreeSet<TxnId> =
            self.fates.keys().chain(held.keys()).copied().collect();
        for txn in txns {
            let f = self.fates.get(&txn).unwrap_or(&none);
            let holding = held.get(&txn);
            let debited = f.debited_at_us.is_some();
            let credited = f.credits > 0;
            if debited && !credited {
                match holding {
                    Some(&(amount, _)) => r.in_flight_money += amount,
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

    fn held(txn: TxnId, amount: i64, ready: bool) -> (NodeId, Vec<AuditItem>) {
        (
            NodeId(0),
            vec![AuditItem::MessageHeld { txn, amount, ready }],
        )
    }

    #[test]
    fn classifies_applied_in_flight_lost_and_phantom() {
        let mut t = MessagingTally::default();
        // 1: debited, published, credited once: fine.
        t.observe(0, 1, MessagingEvent::Debited { amount: 5 });
        t.observe(10, 1, MessagingEvent::Published);
        t.observe(30, 1, MessagingEvent::Credited { amount: 5 });
        // 2: debited, still in the broker: in flight.
        t.observe(0, 2, MessagingEvent::Debited { amount: 7 });
        // 3: debited, held by nobody: lost.
        t.observe(0, 3, MessagingEvent::Debited { amount: 9 });
        // 4: credited without a debit: phantom; 5: ready in the broker, no debit.
        t.observe(5, 4, MessagingEvent::Credited { amount: 4 });
        // 6: a half message not confirmed and not debited: neither.
        // 1 again: a duplicate applied.
        t.observe(40, 1, MessagingEvent::Credited { amount: 5 });
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
}
