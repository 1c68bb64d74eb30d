//! Counters of the service-call patterns and the order chain's end-of-run audit.
//!
//! The patterns report what they did ([`CallEvent`]); the services report their
//! records of every order at the end ([`AuditItem::Chain`]), and the business rule of
//! [`order_chain::check`] says which orders the services disagree on at quiescence.

use crate::node::{NodeId, TxnId};
use crate::observe::{AuditItem, CallEvent};
use crate::workload::order_chain::{self, Inconsistency, OrderView};
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
    pub by_kind: BTreeMap<Inconsistency, u64>,
    pub examples: Vec<(TxnId, Inconsistency)>,
}

/// Applies the business rule to every order the end audit mentions.
pub fn audit_chain(end_audit: &[(NodeId, Vec<AuditItem>)]) -> ChainAudit {
    let mut views: BTreeMap<TxnId, OrderView> = BTreeMap::new();
    for (_, items) in end_audit {
        for item in items {
            if let AuditItem::Chain { txn, record } = *item {
                views.entry(txn).or_default().add(record);
            }
        }
    }
    let mut out = ChainAudit {
        orders: views.len() as u64,
        ..ChainAudit::default()
    };
    for (txn, v) in &views {
        if let Some(kind) = order_chain::check(v) {
            out.inconsistent += 1;
            *out.by_kind.entry(kind).or_default() += 1;
            if out.examples.len() < EXAMPLES_MAX {
                out.examples.push((*txn, kind));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::order_chain::{ChainRecord, OrderState, PaymentState};

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
}
