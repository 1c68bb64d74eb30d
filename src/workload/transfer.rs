//! Bank transfer across shards (the survey's case 2). Accounts are spread over the
//! shards round-robin; a transfer between accounts on two shards is a distributed
//! transaction, on one shard a local one. Every transfer moves money, never makes it,
//! so the total is conserved whatever the protocol — unless atomicity breaks.

use super::Op;
use crate::node::TxnId;
use crate::rng::{self, StreamRng};

/// How accounts are picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyChoice {
    /// Uniformly at random: contention and lock conflicts happen.
    Random,
    /// Session `s` always uses account `s` of each shard: no two sessions conflict
    /// (the benchmark's setting).
    PerSession,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransferGen {
    pub shards: u32,
    pub accounts_per_shard: u32,
    pub amount_min: i64,
    pub amount_max: i64,
    /// Number of credited accounts; 1 is a plain transfer A → B. With `k > 1` one
    /// account is debited `k × amount` and one account on each of `k` other shards is
    /// credited `amount` (a transaction spanning `k + 1` shards).
    pub fan_out: u32,
    pub keys: KeyChoice,
}

impl TransferGen {
    /// The ops of transaction `txn`, issued by `session` (closed loop) or none (open).
    pub fn generate(&self, txn: TxnId, session: Option<u32>, rng: &mut StreamRng) -> Vec<Op> {
        let amount = rng::uniform_us(rng, self.amount_min as u64, self.amount_max as u64) as i64;
        let shards = self.shards;
        let per = self.accounts_per_shard;
        if self.fan_out <= 1 {
            let (from, to) = match (self.keys, session) {
                (KeyChoice::PerSession, Some(s)) => {
                    // Alternate direction so balances do not drain one way.
                    let key = s % per;
                    let a = (txn % u64::from(shards)) as u32;
                    let b = (a + 1) % shards;
                    ((a, key), (b, key))
                }
                _ => {
                    let total = u64::from(shards) * u64::from(per);
                    let from = rng::uniform_us(rng, 0, total - 1);
                    let mut to = rng::uniform_us(rng, 0, total - 2);
                    if to >= from {
                        to += 1;
                    }
                    let place = |a: u64| {
                        (
                            (a % u64::from(shards)) as u32,
                            (a / u64::from(shards)) as u32,
                        )
                    };
                    (place(from), place(to))
                }
            };
            return vec![
                Op {
                    shard: from.0,
                    key: from.1,
                    delta: -amount,
                },
                Op {
                    shard: to.0,
                    key: to.1,
                    delta: amount,
                },
            ];
        }
        let k = self.fan_out.min(shards - 1);
        let session_key = match (self.keys, session) {
            (KeyChoice::PerSession, Some(s)) => Some(s % per),
            _ => None,
        };
        let first = match session_key {
            Some(_) => (txn % u64::from(shards)) as u32,
            None => rng::uniform_us(rng, 0, u64::from(shards) - 1) as u32,
        };
        let key_of = |r: &mut StreamRng| {
            session_key.unwrap_or_else(|| rng::uniform_us(r, 0, u64::from(per) - 1) as u32)
        };
        let mut ops = Vec::with_capacity(k as usize + 1);
        ops.push(Op {
            shard: first,
            key: key_of(rng),
            delta: -amount * i64::from(k),
        });
        for i in 1..=k {
            ops.push(Op {
                shard: (first + i) % shards,
                key: key_of(rng),
                delta: amount,
            });
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(fan_out: u32, keys: KeyChoice) -> TransferGen {
        TransferGen {
            shards: 4,
            accounts_per_shard: 10,
            amount_min: 1,
            amount_max: 9,
            fan_out,
            keys,
        }
    }

    #[test]
    fn transfers_conserve_money_and_stay_in_range() {
        let mut rng = rng::stream(1, "workload");
        for (fan_out, keys) in [
            (1, KeyChoice::Random),
            (3, KeyChoice::Random),
            (3, KeyChoice::PerSession),
            (1, KeyChoice::PerSession),
        ] {
            let g = gen(fan_out, keys);
            for txn in 0..500 {
                let ops = g.generate(txn, Some(2), &mut rng);
                assert_eq!(ops.iter().map(|o| o.delta).sum::<i64>(), 0);
                assert!(ops.iter().all(|o| o.shard < 4 && o.key < 10));
                assert_eq!(ops.len() as u32, fan_out + 1);
            }
        }
    }

    #[test]
    fn plain_transfers_are_sometimes_local() {
        let mut rng = rng::stream(2, "workload");
        let g = gen(1, KeyChoice::Random);
        let local = (0..4000)
            .filter(|&t| {
                let ops = g.generate(t, None, &mut rng);
                ops[0].shard == ops[1].shard
            })
            .count();
        // Same shard with probability (10 - 1) / 39 ≈ 0.23.
        assert!((700..1150).contains(&local), "local {local}");
    }

    #[test]
    fn fan_out_touches_distinct_shards() {
        let mut rng = rng::stream(3, "workload");
        let ops = gen(3, KeyChoice::Random).generate(0, None, &mut rng);
        let mut shards: Vec<_> = ops.iter().map(|o| o.shard).collect();
        shards.sort();
        shards.dedup();
        assert_eq!(shards.len(), 4);
    }
}
