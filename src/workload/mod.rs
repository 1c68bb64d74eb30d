//! Business cases that generate client requests, independent of any protocol.
//!
//! A workload says *what* a transaction changes (ops on shards); the protocol decides
//! *how* the change is made atomic (or not). [`client`] holds the client sessions
//! that issue requests (closed or open loop) and measure answers.

pub mod admission;
pub mod client;
pub mod flash_sale;
pub mod generator;
pub mod order_chain;
pub mod order_inventory;
pub mod transfer;

pub use admission::{
    is_new_request, Admission, AdmissionLog, AdmittingWorld, AnswersStale, Verdict,
};
pub use client::{Answer, Client, ClientConfig, ClientTimer, ClientWorld, HearsAnswers, Load};
pub use flash_sale::FlashSaleGen;
pub use generator::Generator;
pub use order_inventory::OrderGen;
pub use transfer::{KeyChoice, TransferGen};

use crate::node::TxnId;
use crate::store::{KeyDelta, ShardOps};

/// One change on one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Op {
    /// Shard (resource manager) index, 0-based.
    pub shard: u32,
    pub key: u32,
    pub delta: i64,
}

/// A client's request for one global transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TxnRequest {
    pub txn: TxnId,
    pub ops: Vec<Op>,
}

impl TxnRequest {
    /// The ops grouped by shard, in shard order.
    pub fn by_shard(&self) -> Vec<(u32, ShardOps)> {
        let mut out: Vec<(u32, ShardOps)> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let kd = KeyDelta {
                key: op.key,
                delta: op.delta,
            };
            match out.iter_mut().find(|(s, _)| *s == op.shard) {
                Some((_, ops)) => {
                    let fits = ops.push(kd);
                    assert!(
                        fits,
                        "workload produced more than {} ops on one shard",
                        ShardOps::MAX
                    );
                }
                None => {
                    let mut ops = ShardOps::default();
                    ops.push(kd);
                    out.push((op.shard, ops));
                }
            }
        }
        out.sort_by_key(|(s, _)| *s);
        out
    }
}
