//! Business invariants of the order + inventory and flash-sale workloads, counted at
//! quiescence from the nodes' end audits (DESIGN §6 "business invariant violation").
//!
//! Every protocol reports, per participant, the balances it holds (`Money`) and the
//! change each in-doubt branch would still make (`MoneyInDoubt`); that is all these
//! checks need, so they measure 2PC, 3PC and TCC alike. Where both services also
//! report them key by key (`KeyBalance`, `KeyInDoubt`), the checks are made SKU by
//! SKU and summed; otherwise on the totals. On the order service the balances are
//! units ordered, on the inventory service units in stock. Branches of transactions
//! that committed somewhere are *in flight*: they are counted as done (and reported
//! apart), as money in flight is.

use crate::node::Outcome;
use crate::node::{NodeId, NodeSet, TxnId};
use crate::observe::{AuditItem, Observation};
use serde::Serialize;
use std::collections::BTreeMap;

/// The participants at which each open transaction has applied Commit, at the end.
///
/// A branch still in doubt at a participant holds money (or stock) *in flight* only
/// if its transaction committed somewhere else and this participant has yet to
/// apply it; one nobody committed has moved nothing yet. A branch in doubt at a
/// participant that already applied Commit is a second instance (a TCC Try that
/// arrived after its Confirm and reserved again): what it holds is a stuck
/// reservation, not a transfer under way.
#[derive(Clone, Debug, Default)]
pub struct CommittedAt(BTreeMap<TxnId, NodeSet>);

impl FromIterator<(TxnId, NodeSet)> for CommittedAt {
    fn from_iter<I: IntoIterator<Item = (TxnId, NodeSet)>>(iter: I) -> Self {
        CommittedAt(iter.into_iter().collect())
    }
}

impl CommittedAt {
    /// Whether what `node` holds for `txn` is in flight (see the type).
    pub fn in_flight(&self, node: NodeId, txn: TxnId) -> bool {
        self.0.get(&txn).is_some_and(|at| !at.contains(node))
    }
}

/// Which nodes hold the orders and the stock, and how much stock there was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusinessConfig {
    pub orders: NodeId,
    pub inventory: NodeId,
    pub skus: u32,
    pub stock_per_sku: i64,
    /// The payment service, where the workload charges for each order (flash sale).
    pub payment: Option<NodeId>,
}

/// The report's `business` section (units; `released` counts orders).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Business {
    /// Units in stock over all SKUs before the run.
    pub stock_initial: i64,
    /// Units still for sale at the end: in stock and not held by any branch.
    pub stock_left: i64,
    /// Units in orders at the end (paid orders; in-flight ones included).
    pub sold: i64,
    /// Units sold beyond the stock: stock below zero, or more ordered than stocked.
    pub oversold: i64,
    /// Units deducted from stock with no order for them.
    pub undersold: i64,
    /// Units ordered with no stock deducted for them (the "lost deduction").
    pub orders_without_deduction: i64,
    /// Orders whose stock was held (a TCC reservation, a 2PC prepared lock) and then
    /// given back by an abort or a cancel.
    pub released: u64,
    /// Units held at the end by branches in doubt that nobody committed: a TCC
    /// reservation never confirmed nor cancelled (e.g. a hanging one), a 2PC branch
    /// blocked in doubt. Not for sale, not sold.
    pub stuck_in_reservations: i64,
    /// Units in branches still in doubt of orders committed elsewhere (in flight).
    pub in_flight: i64,
    /// Sales over for good whose order committed while the payment rolled back: goods
    /// given away (flash sale).
    pub unpaid_sales: u64,
    /// Sales over for good whose payment committed while the order rolled back: the
    /// buyer charged for nothing (flash sale).
    pub charged_without_order: u64,
}

impl Business {
    /// The sum of two counts (of two SKUs).
    fn plus(&self, o: &Business) -> Business {
        Business {
            stock_initial: self.stock_initial + o.stock_initial,
            stock_left: self.stock_left + o.stock_left,
            sold: self.sold + o.sold,
            oversold: self.oversold + o.oversold,
            undersold: self.undersold + o.undersold,
            orders_without_deduction: self.orders_without_deduction + o.orders_without_deduction,
            released: self.released + o.released,
            stuck_in_reservations: self.stuck_in_reservations + o.stuck_in_reservations,
            in_flight: self.in_flight + o.in_flight,
            unpaid_sales: self.unpaid_sales + o.unpaid_sales,
            charged_without_order: self.charged_without_order + o.charged_without_order,
        }
    }

    /// How many of the business invariants are broken (each counts once): no
    /// oversell, no undersell, no order without deduction, and — where orders are
    /// paid — no order without its payment and no payment without its order.
    pub fn violations(&self) -> u64 {
        u64::from(self.oversold > 0)
            + u64::from(self.undersold > 0)
            + u64::from(self.orders_without_deduction > 0)
            + u64::from(self.unpaid_sales > 0)
            + u64::from(self.charged_without_order > 0)
    }
}

/// The business checker's running state: it counts releases as they happen.
#[derive(Clone, Debug)]
pub struct BusinessChecks {
    cfg: BusinessConfig,
    released: u64,
    unpaid_sales: u64,
    charged_without_order: u64,
}

impl BusinessChecks {
    pub fn new(cfg: BusinessConfig) -> Self {
        BusinessChecks {
            cfg,
            released: 0,
            unpaid_sales: 0,
            charged_without_order: 0,
        }
    }

    /// A transaction is over for good with these participants committed and these
    /// rolled back: an order whose payment rolled back (or the reverse) is a broken
    /// sale, whatever the balances say (a wallet's refund hides it in the totals).
    pub fn over(&mut self, committed: NodeSet, aborted: NodeSet) {
        let Some(payment) = self.cfg.payment else {
            return;
        };
        let orders = self.cfg.orders;
        if committed.contains(orders) && aborted.contains(payment) {
            self.unpaid_sales += 1;
        } else if committed.contains(payment) && aborted.contains(orders) {
            self.charged_without_order += 1;
        }
    }

    /// Sees every observation: an abort on the inventory that released a held branch
    /// gave its stock back.
    pub fn observe(&mut self, node: NodeId, obs: &Observation) {
        if let Observation::Applied {
            outcome: Outcome::Abort,
            locks,
            ..
        }
        | Observation::Resolved {
            outcome: Outcome::Abort,
            locks,
            ..
        } = *obs
        {
            if node == self.cfg.inventory && locks > 0 {
                self.released += 1;
            }
        }
    }

    /// The counts at the end, from the end audit and where each open transaction
    /// committed.
    pub fn finish(
        &self,
        end_audit: &[(NodeId, Vec<AuditItem>)],
        committed: &CommittedAt,
    ) -> Business {
        let items = |node: NodeId| {
            end_audit
                .iter()
                .filter(move |(n, _)| *n == node)
                .flat_map(|(_, i)| i)
        };
        let in_doubt = |s: &mut Side, node: NodeId, txn: TxnId, amount: i64| {
            if committed.in_flight(node, txn) {
                s.in_flight += amount;
            } else {
                s.held += amount;
            }
        };
        let total = |node: NodeId| {
            let mut s = Side::default();
            for item in items(node) {
                match *item {
                    AuditItem::Money { amount } => s.money += amount,
                    AuditItem::MoneyInDoubt { txn, amount } => in_doubt(&mut s, node, txn, amount),
                    _ => {}
                }
            }
            s
        };
        let per_key = |node: NodeId| {
            let mut keys: BTreeMap<u32, Side> = BTreeMap::new();
            let mut reported = false;
            for item in items(node) {
                match *item {
                    AuditItem::KeyBalance { key, amount } => {
                        reported = true;
                        keys.entry(key).or_default().money += amount;
                    }
                    AuditItem::KeyInDoubt { txn, key, amount } => {
                        in_doubt(keys.entry(key).or_default(), node, txn, amount)
                    }
                    _ => {}
                }
            }
            reported.then_some(keys)
        };
        let c = &self.cfg;
        let stock_initial = i64::from(c.skus) * c.stock_per_sku;
        let mut b = match (per_key(c.orders), per_key(c.inventory)) {
            (Some(orders), Some(inventory)) => (0..c.skus).fold(Business::default(), |acc, k| {
                let side = |m: &BTreeMap<u32, Side>| m.get(&k).copied().unwrap_or_default();
                acc.plus(&count(c.stock_per_sku, side(&orders), side(&inventory), 0))
            }),
            _ => count(stock_initial, total(c.orders), total(c.inventory), 0),
        };
        b.stock_initial = stock_initial;
        b.released = self.released;
        b.unpaid_sales = self.unpaid_sales;
        b.charged_without_order = self.charged_without_order;
        b
    }
}

/// One service's audit, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// Its balances (under TCC including its reservations).
    pub money: i64,
    /// Changes of in-doubt branches of transactions committed elsewhere.
    pub in_flight: i64,
    /// Changes of in-doubt branches that nobody committed.
    pub held: i64,
}

/// The business counts from the two services' audits.
pub fn count(stock_initial: i64, orders: Side, inventory: Side, released: u64) -> Business {
    let ordered = orders.money + orders.in_flight;
    let stock = inventory.money + inventory.in_flight;
    let deducted = stock_initial - stock;
    Business {
        stock_initial,
        stock_left: inventory.money + inventory.in_flight + inventory.held,
        sold: ordered,
        oversold: (ordered.max(deducted) - stock_initial).max(0),
        undersold: (deducted - ordered).max(0),
        orders_without_deduction: (ordered - deducted).max(0),
        released,
        stuck_in_reservations: -inventory.held,
        in_flight: -inventory.in_flight,
        unpaid_sales: 0,
        charged_without_order: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(money: i64, in_flight: i64, held: i64) -> Side {
        Side {
            money,
            in_flight,
            held,
        }
    }

    #[test]
    fn a_sale_whose_payment_rolled_back_is_unpaid_and_the_reverse_is_a_charge_without_order() {
        let (orders, inventory, payment) = (NodeId(1), NodeId(2), NodeId(3));
        let mut c = BusinessChecks::new(BusinessConfig {
            orders,
            inventory,
            skus: 1,
            stock_per_sku: 10,
            payment: Some(payment),
        });
        let set = |ids: &[NodeId]| {
            let mut s = NodeSet::new();
            for &n in ids {
                s.insert(n);
            }
            s
        };
        c.over(set(&[orders, inventory, payment]), set(&[]));
        c.over(set(&[orders, inventory]), set(&[payment]));
        c.over(set(&[payment]), set(&[orders, inventory]));
        c.over(set(&[]), set(&[orders, inventory, payment]));
        assert_eq!((c.unpaid_sales, c.charged_without_order), (1, 1));
        // Without a payment service there is nothing to pay for.
        let mut plain = BusinessChecks::new(BusinessConfig {
            payment: None,
            ..c.cfg.clone()
        });
        plain.over(set(&[orders]), set(&[inventory]));
        assert_eq!((plain.unpaid_sales, plain.charged_without_order), (0, 0));
    }

    #[test]
    fn a_consistent_sale_breaks_nothing() {
        let b = count(100, side(30, 0, 0), side(70, 0, 0), 4);
        assert_eq!((b.sold, b.stock_left, b.released), (30, 70, 4));
        assert_eq!(b.violations(), 0);
    }

    #[test]
    fn stock_deducted_twice_is_undersold_and_below_zero_is_oversold() {
        // 10 ordered, 20 deducted: 10 units gone with no order.
        let b = count(100, side(10, 0, 0), side(80, 0, 0), 0);
        assert_eq!(
            (b.undersold, b.orders_without_deduction, b.oversold),
            (10, 0, 0)
        );
        // Stock at -5 after 105 orders: 5 oversold.
        let b = count(100, side(105, 0, 0), side(-5, 0, 0), 0);
        assert_eq!(
            (b.oversold, b.undersold, b.orders_without_deduction),
            (5, 0, 0)
        );
        assert_eq!(b.violations(), 1);
    }

    #[test]
    fn an_order_without_deduction_is_counted_and_in_flight_is_not() {
        let b = count(100, side(12, 0, 0), side(90, 0, 0), 0);
        assert_eq!(b.orders_without_deduction, 2);
        // An order committed on the order service and in doubt on the inventory: in
        // flight, not lost.
        let b = count(100, side(12, 0, 0), side(90, -2, 0), 0);
        assert_eq!((b.orders_without_deduction, b.in_flight), (0, 2));
    }

    #[test]
    fn held_branches_are_stuck_not_sold() {
        // TCC: 3 units reserved (still in the inventory's balance) by branches nobody
        // committed.
        let b = count(100, side(10, 0, 0), side(90, 0, -3), 0);
        assert_eq!((b.stuck_in_reservations, b.stock_left), (3, 87));
        assert_eq!(b.violations(), 0);
    }
}

#[cfg(test)]
mod per_key_tests {
    use super::*;

    fn audit(node: u32, items: Vec<AuditItem>) -> (NodeId, Vec<AuditItem>) {
        (NodeId(node), items)
    }

    fn checks() -> BusinessChecks {
        BusinessChecks::new(BusinessConfig {
            orders: NodeId(1),
            inventory: NodeId(2),
            skus: 2,
            stock_per_sku: 10,
            payment: None,
        })
    }

    /// SKU 0 lost a deduction's order, SKU 1 has an order without deduction: the
    /// totals agree, the SKUs do not.
    #[test]
    fn opposite_errors_on_two_skus_do_not_cancel_out() {
        let kb = |key, amount| AuditItem::KeyBalance { key, amount };
        let end = vec![
            audit(1, vec![AuditItem::Money { amount: 5 }, kb(0, 2), kb(1, 3)]),
            audit(2, vec![AuditItem::Money { amount: 15 }, kb(0, 7), kb(1, 8)]),
        ];
        let b = checks().finish(&end, &CommittedAt::default());
        assert_eq!((b.undersold, b.orders_without_deduction), (1, 1));
        assert_eq!((b.sold, b.stock_initial, b.violations()), (5, 20, 2));
        // The same audit without the per-key items: totals only, nothing seen.
        let end: Vec<_> = end
            .into_iter()
            .map(|(n, i)| {
                (
                    n,
                    i.into_iter()
                        .filter(|x| matches!(x, AuditItem::Money { .. }))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            checks().finish(&end, &CommittedAt::default()).violations(),
            0
        );
    }

    #[test]
    fn per_key_in_doubt_is_held_or_in_flight() {
        let kb = |key, amount| AuditItem::KeyBalance { key, amount };
        let end = vec![
            audit(1, vec![kb(0, 1), kb(1, 0)]),
            audit(
                2,
                vec![
                    kb(0, 10),
                    kb(1, 10),
                    AuditItem::KeyInDoubt {
                        txn: 7,
                        key: 0,
                        amount: -1,
                    },
                    AuditItem::KeyInDoubt {
                        txn: 8,
                        key: 1,
                        amount: -2,
                    },
                    // A second reservation for a transaction this node already
                    // committed (a late Try after its Confirm): stuck, not in flight.
                    AuditItem::KeyInDoubt {
                        txn: 9,
                        key: 1,
                        amount: -3,
                    },
                ],
            ),
        ];
        let at = |n: u32| {
            let mut s = NodeSet::new();
            s.insert(NodeId(n));
            s
        };
        // 7 committed at the orders (1), still in doubt at the inventory (2).
        let committed: CommittedAt = [(7, at(1)), (9, at(2))].into_iter().collect();
        let b = checks().finish(&end, &committed);
        assert_eq!(
            (b.in_flight, b.stuck_in_reservations, b.stock_left),
            (1, 5, 14)
        );
        assert_eq!(b.violations(), 0);
    }
}
