//! What a workload needs from the world builders, whatever the protocol: the client's
//! generator, each shard's starting balances, and the business checker's setup.
//! Builders call [`shard_ledger`] rather than reading a workload's fields, so every
//! protocol runs every workload.

use super::resolve;
use crate::node::NodeId;
use crate::scenario::{KeysSpec, Scenario, WorkloadSpec};
use crate::store::Ledger;
use crate::workload::business::BusinessConfig;
use crate::workload::flash_sale::PAYMENT;
use crate::workload::order_inventory::{INVENTORY, ORDERS};
use crate::workload::{FlashSaleGen, Generator, KeyChoice, OrderGen, TransferGen};

/// The client's request generator for the scenario's workload.
pub(crate) fn generator(scenario: &Scenario) -> Generator {
    match &scenario.workload {
        WorkloadSpec::Transfer(t) => Generator::Transfer(TransferGen {
            shards: scenario.rms,
            accounts_per_shard: t.accounts_per_shard,
            amount_min: t.amount_min,
            amount_max: t.amount_max,
            fan_out: t.fan_out,
            keys: match t.keys {
                KeysSpec::Random => KeyChoice::Random,
                KeysSpec::PerSession => KeyChoice::PerSession,
            },
        }),
        WorkloadSpec::OrderInventory(o) => Generator::OrderInventory(OrderGen {
            skus: o.skus,
            qty_min: o.qty_min,
            qty_max: o.qty_max,
        }),
        WorkloadSpec::FlashSale(f) => Generator::FlashSale(flash_sale_gen(f)),
    }
}

fn flash_sale_gen(f: &crate::scenario::FlashSaleSpec) -> FlashSaleGen {
    FlashSaleGen {
        skus: f.skus,
        buyers: f.buyers,
        price: f.price,
        decline_probability: f.decline_probability,
    }
}

/// The balances shard `shard` (0-based: `rm1` is shard 0) starts with.
pub fn shard_ledger(scenario: &Scenario, shard: u32) -> Ledger {
    match &scenario.workload {
        WorkloadSpec::Transfer(t) => Ledger::new(t.accounts_per_shard, t.initial_balance),
        WorkloadSpec::OrderInventory(o) => stock_ledger(shard, o.skus, o.stock_per_sku),
        WorkloadSpec::FlashSale(f) if shard == PAYMENT => {
            let g = flash_sale_gen(f);
            let mut wallets = vec![f.wallet; f.buyers as usize];
            wallets.push(0); // the declined card
            wallets.push(0); // the merchant
            debug_assert_eq!(wallets.len() as u32, g.wallets());
            Ledger::from_balances(wallets)
        }
        WorkloadSpec::FlashSale(f) => stock_ledger(shard, f.skus, f.stock_per_sku),
    }
}

fn stock_ledger(shard: u32, skus: u32, stock_per_sku: i64) -> Ledger {
    match shard {
        INVENTORY => Ledger::new(skus, stock_per_sku),
        ORDERS => Ledger::new(skus, 0),
        _ => Ledger::new(skus, 0),
    }
}

/// Which nodes the business checker reads, for the workloads that have one.
pub(crate) fn business_config(scenario: &Scenario, names: &[String]) -> Option<BusinessConfig> {
    let (skus, stock, paid) = match &scenario.workload {
        WorkloadSpec::Transfer(_) => return None,
        WorkloadSpec::OrderInventory(o) => (o.skus, o.stock_per_sku, false),
        WorkloadSpec::FlashSale(f) => (f.skus, f.stock_per_sku, true),
    };
    let node = |shard: u32| -> NodeId { resolve(names, &format!("rm{}", shard + 1)) };
    Some(BusinessConfig {
        orders: node(ORDERS),
        inventory: node(INVENTORY),
        skus,
        stock_per_sku: stock,
        payment: paid.then(|| node(PAYMENT)),
    })
}
