//! Flash sale (秒杀, the survey's TCC example): many buyers race for a few SKUs.
//!
//! Each request buys one unit: it creates an order, takes one unit of stock and
//! charges the buyer. Three services, as plain shard ops so every protocol runs it:
//! - shard 0 (`rm1`), **orders**: key = SKU, +1 (under TCC, Try creates the order
//!   pending payment; Confirm makes it paid);
//! - shard 1 (`rm2`), **inventory**: key = SKU, -1 (under TCC, Try reserves the unit);
//! - shard 2 (`rm3`), **payment**: the buyer's wallet pays `price` to the merchant.
//!
//! Payment is a participant, so its three outcomes come from the run itself:
//! it **succeeds** when the wallet has the money; it **fails** (declined) for a
//! seeded share of requests (`decline_probability`), which charge an unfunded
//! wallet that the payment service refuses; it **times out** when the payment
//! service is slow or unreachable (a crash or partition in the fault schedule, or
//! network delay beyond the coordinator's timeout). On failure or timeout the
//! coordinator aborts (TCC: cancels) and the reserved stock returns.

use super::Op;
use crate::node::TxnId;
use crate::rng::{self, StreamRng};

/// The payment service's shard index (orders and inventory are as in
/// [`super::order_inventory`]).
pub const PAYMENT: u32 = 2;

#[derive(Clone, Debug, PartialEq)]
pub struct FlashSaleGen {
    pub skus: u32,
    pub buyers: u32,
    pub price: i64,
    pub decline_probability: f64,
}

impl std::hash::Hash for FlashSaleGen {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.skus.hash(state);
        self.buyers.hash(state);
        self.price.hash(state);
        self.decline_probability.to_bits().hash(state);
    }
}

impl Eq for FlashSaleGen {}

impl FlashSaleGen {
    /// The declined card: a wallet that holds nothing, so payment is refused.
    pub fn declined_wallet(&self) -> u32 {
        self.buyers
    }

    /// Where the money goes.
    pub fn merchant_wallet(&self) -> u32 {
        self.buyers + 1
    }

    /// Wallets on the payment shard: buyers, the declined card, the merchant.
    pub fn wallets(&self) -> u32 {
        self.buyers + 2
    }

    /// One purchase of one unit.
    pub fn generate(&self, _txn: TxnId, _session: Option<u32>, rng: &mut StreamRng) -> Vec<Op> {
        let sku = rng::uniform_us(rng, 0, u64::from(self.skus) - 1) as u32;
        let buyer = rng::uniform_us(rng, 0, u64::from(self.buyers) - 1) as u32;
        let declined = rng::chance(rng, self.decline_probability);
        let wallet = if declined {
            self.declined_wallet()
        } else {
            buyer
        };
        let mut ops = super::order_inventory::order_ops(sku, 1);
        ops.push(Op {
            shard: PAYMENT,
            key: wallet,
            delta: -self.price,
        });
        ops.push(Op {
            shard: PAYMENT,
            key: self.merchant_wallet(),
            delta: self.price,
        });
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_is_one_unit_paid_to_the_merchant_and_some_are_declined() {
        let g = FlashSaleGen {
            skus: 2,
            buyers: 50,
            price: 10,
            decline_probability: 0.25,
        };
        let mut r = rng::stream(4, "workload");
        let mut declined = 0;
        for t in 0..1000 {
            let ops = g.generate(t, None, &mut r);
            assert_eq!(ops.len(), 4);
            assert_eq!(ops[0].delta, 1);
            assert_eq!(ops[1].delta, -1);
            assert!(ops[0].key < 2);
            assert_eq!(ops[2].shard, PAYMENT);
            assert_eq!(ops[2].delta + ops[3].delta, 0);
            assert_eq!(ops[3].key, g.merchant_wallet());
            if ops[2].key == g.declined_wallet() {
                declined += 1;
            } else {
                assert!(ops[2].key < 50);
            }
        }
        assert!((180..320).contains(&declined), "{declined}");
    }
}
