//! The client's request generator: one of the workloads. Each keeps its own draws, so
//! adding a workload never changes what an existing one generates.

use super::{FlashSaleGen, Op, OrderGen, TransferGen};
use crate::node::TxnId;
use crate::rng::StreamRng;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Generator {
    Transfer(TransferGen),
    OrderInventory(OrderGen),
    FlashSale(FlashSaleGen),
}

impl Generator {
    /// The ops of transaction `txn`, issued by `session` (closed loop) or none (open).
    pub fn generate(&self, txn: TxnId, session: Option<u32>, rng: &mut StreamRng) -> Vec<Op> {
        match self {
            Generator::Transfer(g) => g.generate(txn, session, rng),
            Generator::OrderInventory(g) => g.generate(txn, session, rng),
            Generator::FlashSale(g) => g.generate(txn, session, rng),
        }
    }
}

impl From<TransferGen> for Generator {
    fn from(g: TransferGen) -> Self {
        Generator::Transfer(g)
    }
}
