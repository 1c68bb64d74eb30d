//! Counters of the service-call patterns and the order chain's end-of-run audit.
//!
//! The patterns report what they did ([`CallEvent`]); the services report their
//! records of every order at the end ([`AuditItem::Chain`]), and the business rule of
//! [`order_chain::check`] says which orders the services disagree on at quiescence.

use crate::node::{NodeId, TxnId};
use crate::observe::{AuditItem, CallEvent};
use crate::workload::order_chain::{self, ChainRecord, Inconsistency, OrderView, PaymentState};
use std::collections::BTreeMap;

/// Reconciliation findings kept (with their times) for tests and stories.
const FINDINGS_MAX: usize = 4096;
const EXAMPLES_MAX: usize = 5;

/// What the service-call patterns did during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub timeouts: u64,
    pub queries: u64,
    pub compensations: u64,
    pub retries: u64,
    pub lost_orders: u64,
    pub state_mismatches: u64,
    pub reconciliation_batches: u64,
    pub reconciliation_passes: u64,
    pub reconciliation_pass_us_max: u64,
    /// Requests, calls and answers that came for a request id already settled and
    /// archived, and were answered from the watermark.
    pub late_for_archived: u64,
    /// The first findings of reconciliation: (order, when), in time order.
    pub findings: Vec<(TxnId, u64)>,
}

impl CallCounts {
    pub fn record(&mut self, at_us: u64, txn: TxnId, event: CallEvent) {
        match event {
            CallEvent::Timeout => self.timeouts += 1,
            CallEvent::Query => self.queries += 1,
            CallEvent::Compensation => self.compensations += 1,
            CallEvent::Retry => self.retries += 1,
            CallEvent::LostOrder | CallEvent::StateMismatch => {
                if event == CallEvent::LostOrder {
                    self.lost_orders += 1;
                } else {
                    self.state_mismatches += 1;
                }
                if self.findings.len() < FINDINGS_MAX {
                    self.findings.push((txn, at_us));
                }
            }
            CallEvent::ReconciliationBatch => self.reconciliation_batches += 1,
            CallEvent::LateForArchived => self.late_for_archived += 1,
            CallEvent::ReconciliationPass { took_us } => {
                self.reconciliation_passes += 1;
                self.reconciliation_pass_us_max = self.reconciliation_pass_us_max.max(took_us);
            }
        }
    }

    /// Orders reconciliation found inconsistent (lost or mismatched).
    pub fn found_by_reconciliation(&self) -> u64 {
        self.lost_orders + self.state_mismatches
    }
}

/// The order chain at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainAudit {
    /// Orders the services know of.
    pub orders: u64,
    /// Orders on which they disagree at quiescence.
    pub inconsistent: u64,
    /// Orders the order service had archived (settled) by the end, among `orders`.
    pub archived: u64,
    pub by_kind: BTreeMap<Inconsistency, u64>,
    pub examples: Vec<(TxnId, Inconsistency)>,
}

/// The services' archives (each audited with its watermark) and the callee records
/// below the order service's watermark not archived yet (the callee has not heard of
/// the watermark).
#[derive(Clone, Copy, Debug, Default)]
struct Archives {
    /// The order service's watermark, and what it archived.
    settled_below: TxnId,
    shipped: u64,
    cancelled: u64,
    /// The callees' watermarks.
    payment_below: TxnId,
    shipping_below: TxnId,
    /// The callees' archived records plus their records below the order service's
    /// watermark, by kind.
    charged: u64,
    refunded: u64,
    fenced: u64,
    pending: u64,
    charges: u64,
    charged_twice: u64,
    shipments: u64,
}

impl Archives {
    fn add(&mut self, txn: TxnId, r: ChainRecord) {
        match r {
            ChainRecord::OrdersArchived { shipped, cancelled } => {
                self.settled_below = txn;
                self.shipped += shipped;
                self.cancelled += cancelled;
            }
            ChainRecord::PaymentsArchived {
                charged,
                refunded,
                fenced,
                pending,
                charges,
                charged_twice,
            } => {
                self.payment_below = txn;
                self.charged += charged;
                self.refunded += refunded;
                self.fenced += fenced;
                self.pending += pending;
                self.charges += charges;
                self.charged_twice += charged_twice;
            }
            ChainRecord::ShipmentsArchived { shipments } => {
                self.shipping_below = txn;
                self.shipments += shipments;
            }
            ChainRecord::Order(_) | ChainRecord::Payment { .. } | ChainRecord::Shipping => {}
        }
    }

    /// A callee's record of an archived order it has not archived itself yet.
    fn add_unarchived(&mut self, v: &OrderView) {
        match v.payment {
            Some(PaymentState::Charged) => self.charged += 1,
            Some(PaymentState::Refunded) => self.refunded += 1,
            Some(PaymentState::Fenced) => self.fenced += 1,
            Some(PaymentState::Pending) => self.pending += 1,
            None => {}
        }
        if v.payment.is_some() {
            self.charges += u64::from(v.charges);
            self.charged_twice += u64::from(v.charges > 1);
        }
        self.shipments += u64::from(v.shipped);
    }

    /// How far the callees' records of the archived orders are from what the order
    /// service archived: a charge and a shipment for each shipped order, a refund or
    /// fence for each cancelled one, money taken once by each charge and each refund
    /// (never by a fence), nothing pending, nothing taken twice, and no callee
    /// archiving above the order service's watermark. 0 when they agree.
    fn mismatch(&self) -> u64 {
        let beyond = u64::from(self.payment_below > self.settled_below)
            + u64::from(self.shipping_below > self.settled_below);
        self.charged.abs_diff(self.shipped)
            + (self.refunded + self.fenced).abs_diff(self.cancelled)
            + self.shipments.abs_diff(self.shipped)
            + self.charges.abs_diff(self.charged + self.refunded)
            + self.pending
            + self.charged_twice
            + beyond
    }
}

/// Applies the business rule to every order the end audit mentions. Orders the
/// services have archived are summed from their archives, which must agree (see
/// [`Inconsistency::ArchiveMismatch`]).
pub fn audit_chain(end_audit: &[(NodeId, Vec<AuditItem>)]) -> ChainAudit {
    let mut views: BTreeMap<TxnId, OrderView> = BTreeMap::new();
    let mut archives = Archives::default();
    for (_, items) in end_audit {
        for item in items {
            if let AuditItem::Chain { txn, record } = *item {
                match record {
                    ChainRecord::Order(_) | ChainRecord::Payment { .. } | ChainRecord::Shipping => {
                        views.entry(txn).or_default().add(record)
                    }
                    _ => archives.add(txn, record),
                }
            }
        }
    }
    let mut out = ChainAudit::default();
    for (txn, v) in &views {
        if *txn < archives.settled_below && v.order.is_none() {
            // A callee's record of an order the order service has archived.
            archives.add_unarchived(v);
            continue;
        }
        out.orders += 1;
        if let Some(kind) = order_chain::check(v) {
            out.inconsistent += 1;
            *out.by_kind.entry(kind).or_default() += 1;
            if out.examples.len() < EXAMPLES_MAX {
                out.examples.push((*txn, kind));
            }
        }
    }
    out.archived = archives.shipped + archives.cancelled;
    out.orders += out.archived;
    let mismatch = archives.mismatch();
    if mismatch > 0 {
        out.inconsistent += mismatch;
        *out.by_kind
            .entry(Inconsistency::ArchiveMismatch)
            .or_default() += mismatch;
        if out.examples.len() < EXAMPLES_MAX {
            out.examples
                .push((archives.settled_below, Inconsistency::ArchiveMismatch));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::order_chain::OrderState;

    #[test]
    fn the_audit_joins_the_services_by_request_id() {
        let order = |txn, s| AuditItem::Chain {
            txn,
            record: ChainRecord::Order(s),
        };
        let pay = |txn| AuditItem::Chain {
            txn,
            record: ChainRecord::Payment {
                state: PaymentState::Charged,
                charges: 1,
            },
        };
        let ship = |txn| AuditItem::Chain {
            txn,
            record: ChainRecord::Shipping,
        };
        let audit = vec![
            (
                NodeId(0),
                vec![order(1, OrderState::Shipped), order(2, OrderState::Paid)],
            ),
            (NodeId(1), vec![pay(1), pay(2), pay(3)]),
            (NodeId(2), vec![ship(1)]),
        ];
        let a = audit_chain(&audit);
        assert_eq!(a.orders, 3);
        assert_eq!(a.inconsistent, 2);
        assert_eq!(
            a.examples,
            vec![
                (2, Inconsistency::PaidNotShipped),
                (3, Inconsistency::UnknownOrder)
            ]
        );
    }

    #[test]
    fn findings_are_counted_by_kind_and_timed() {
        let mut c = CallCounts::default();
        c.record(10, 4, CallEvent::LostOrder);
        c.record(20, 5, CallEvent::StateMismatch);
        c.record(30, 0, CallEvent::ReconciliationPass { took_us: 7 });
        c.record(40, 0, CallEvent::ReconciliationPass { took_us: 3 });
        assert_eq!(c.found_by_reconciliation(), 2);
        assert_eq!(c.findings, vec![(4, 10), (5, 20)]);
        assert_eq!(c.reconciliation_pass_us_max, 7);
        assert_eq!(c.reconciliation_passes, 2);
    }

    /// Archived orders count among the orders; a callee's record below the order
    /// service's watermark that the callee has not archived yet joins the archive
    /// sums, not the unknown orders; and archives that disagree are an
    /// inconsistency.
    #[test]
    fn archives_are_summed_and_must_agree() {
        let chain = |txn, record| AuditItem::Chain { txn, record };
        let orders =
            |shipped, cancelled| chain(10, ChainRecord::OrdersArchived { shipped, cancelled });
        let payments = |charged| {
            chain(
                8,
                ChainRecord::PaymentsArchived {
                    charged,
                    refunded: 0,
                    fenced: 1,
                    pending: 0,
                    charges: charged,
                    charged_twice: 0,
                },
            )
        };
        let lagging = chain(
            9,
            ChainRecord::Payment {
                state: PaymentState::Charged,
                charges: 1,
            },
        );
        let ships = |shipments| chain(10, ChainRecord::ShipmentsArchived { shipments });
        let live = chain(12, ChainRecord::Order(OrderState::Paying));
        let audit = |charged| {
            vec![
                (NodeId(0), vec![orders(5, 1), live.clone()]),
                (NodeId(1), vec![payments(charged), lagging.clone()]),
                (NodeId(2), vec![ships(5)]),
            ]
        };
        let a = audit_chain(&audit(4));
        assert_eq!((a.orders, a.archived), (7, 6));
        assert_eq!(a.inconsistent, 1, "only the live order, still paying");
        assert_eq!(a.by_kind.get(&Inconsistency::Unfinished), Some(&1));
        // One charge too many among the archived orders.
        let a = audit_chain(&audit(5));
        assert_eq!(a.by_kind.get(&Inconsistency::ArchiveMismatch), Some(&1));
    }
}
