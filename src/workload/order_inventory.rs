//! Order + inventory (the survey's case 3): placing an order creates the order on the
//! order service and deducts the stock on the inventory service, atomically.
//!
//! Written as plain shard ops so that every protocol runs it unchanged:
//! - shard 0 (`rm1`) is the **order service**: key = SKU, balance = units ordered
//!   (starts at 0); an order adds `+qty`;
//! - shard 1 (`rm2`) is the **inventory service**: key = SKU, balance = stock left
//!   (starts at `stock_per_sku`); an order deducts `-qty`. The ledger's non-negative
//!   rule makes the inventory refuse an order that would oversell.
//!
//! Units ordered plus units in stock stay equal to the initial stock as long as the
//! protocol keeps the two services atomic; [`crate::checkers::business`] counts what breaks.

use super::Op;
use crate::node::TxnId;
use crate::rng::{self, StreamRng};

/// The order service's shard index.
pub const ORDERS: u32 = 0;
/// The inventory service's shard index.
pub const INVENTORY: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderGen {
    pub skus: u32,
    pub qty_min: i64,
    pub qty_max: i64,
}

impl OrderGen {
    /// One order: a uniformly drawn SKU and quantity.
    pub fn generate(&self, _txn: TxnId, _session: Option<u32>, rng: &mut StreamRng) -> Vec<Op> {
        let sku = rng::uniform_us(rng, 0, u64::from(self.skus) - 1) as u32;
        let qty = rng::uniform_us(rng, self.qty_min as u64, self.qty_max as u64) as i64;
        order_ops(sku, qty)
    }
}

/// The ops of an order for `qty` units of `sku`.
pub fn order_ops(sku: u32, qty: i64) -> Vec<Op> {
    vec![
        Op {
            shard: ORDERS,
            key: sku,
            delta: qty,
        },
        Op {
            shard: INVENTORY,
            key: sku,
            delta: -qty,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_adds_what_it_deducts_on_the_same_sku() {
        let g = OrderGen {
            skus: 5,
            qty_min: 1,
            qty_max: 3,
        };
        let mut r = rng::stream(1, "workload");
        for t in 0..200 {
            let ops = g.generate(t, None, &mut r);
            assert_eq!(ops.len(), 2);
            assert_eq!((ops[0].shard, ops[1].shard), (ORDERS, INVENTORY));
            assert_eq!(ops[0].key, ops[1].key);
            assert!(ops[0].key < 5);
            assert!((1..=3).contains(&ops[0].delta));
            assert_eq!(ops[0].delta, -ops[1].delta);
        }
    }
}
