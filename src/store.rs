//! What a resource manager guards: account balances and a lock table.
//!
//! Protocol-agnostic: 2PC, 3PC and TCC participants all use it. Locks are volatile
//! (a crash drops them); a participant that recovers re-acquires the locks of the
//! transactions its durable log says it is still in doubt about.

use crate::ids::TxnId;
use serde::{Deserialize, Serialize};

/// One change to one key on one shard: add `delta` to the balance (or stock) at `key`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct KeyDelta {
    pub key: u32,
    pub delta: i64,
}

/// The (at most two) changes a transaction makes on one shard, inline so that
/// messages carrying them need no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShardOps {
    len: u8,
    ops: [KeyDelta; 2],
}

/// The changes in use, as a sequence (the digest's and the trace's view).
impl serde::Serialize for ShardOps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.as_slice())
    }
}

impl ShardOps {
    pub const MAX: usize = 2;

    pub fn push(&mut self, op: KeyDelta) -> bool {
        if let Some(existing) = self.ops[..self.len as usize]
            .iter_mut()
            .find(|o| o.key == op.key)
        {
            existing.delta += op.delta;
            return true;
        }
        if (self.len as usize) < Self::MAX {
            self.ops[self.len as usize] = op;
            self.len += 1;
            true
        } else {
            false
        }
    }

    pub fn as_slice(&self) -> &[KeyDelta] {
        &self.ops[..self.len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Balances of one shard's accounts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ledger {
    balances: Vec<i64>,
}

impl Ledger {
    pub fn new(accounts: u32, initial_balance: i64) -> Self {
        Ledger {
            balances: vec![initial_balance; accounts as usize],
        }
    }

    /// A ledger with these balances, key by key (workloads whose keys differ: stock
    /// per SKU, funded and unfunded wallets).
    pub fn from_balances(balances: Vec<i64>) -> Self {
        Ledger { balances }
    }

    /// Every balance, in key order.
    pub fn balances(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.balances.iter().copied()
    }

    /// Number of keys (accounts, SKUs).
    pub fn keys(&self) -> u32 {
        self.balances.len() as u32
    }

    /// Adds `delta` to `key` without the non-negative check: a protocol that applies a
    /// reservation's release or a duplicate (an anomaly on purpose) uses it. Unknown
    /// keys are ignored.
    pub fn add(&mut self, key: u32, delta: i64) {
        if let Some(b) = self.balances.get_mut(key as usize) {
            *b = b.saturating_add(delta);
        }
    }

    pub fn total(&self) -> i64 {
        self.balances.iter().sum()
    }

    pub fn balance(&self, key: u32) -> Option<i64> {
        self.balances.get(key as usize).copied()
    }

    /// Would applying `ops` keep every balance non-negative (and every key valid)?
    pub fn can_apply(&self, ops: &ShardOps) -> bool {
        ops.as_slice().iter().all(|o| {
            self.balance(o.key)
                .is_some_and(|b| b.checked_add(o.delta).is_some_and(|n| n >= 0))
        })
    }

    pub fn apply(&mut self, ops: &ShardOps) {
        for o in ops.as_slice() {
            let b = self
                .balances
                .get_mut(o.key as usize)
                .expect("ops were checked against the ledger");
            *b += o.delta;
        }
    }
}

/// Exclusive locks by key with a no-wait policy: a transaction that finds a key locked
/// fails at once (and votes no) instead of waiting, so there are no deadlocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LockTable {
    holders: Vec<Option<(TxnId, u64)>>,
    held: u32,
}

/// What releasing a transaction's locks freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    pub locks: u32,
    pub longest_hold_us: u64,
}

impl LockTable {
    pub fn new(keys: u32) -> Self {
        LockTable {
            holders: vec![None; keys as usize],
            held: 0,
        }
    }

    pub fn held(&self) -> u32 {
        self.held
    }

    /// Locks every key of `ops` for `txn`, or none of them.
    pub fn try_lock(&mut self, txn: TxnId, ops: &ShardOps, now_us: u64) -> bool {
        let free = ops.as_slice().iter().all(|o| {
            matches!(self.holders.get(o.key as usize), Some(None))
                || matches!(self.holders.get(o.key as usize), Some(Some((t, _))) if *t == txn)
        });
        if !free {
            return false;
        }
        for o in ops.as_slice() {
            let h = &mut self.holders[o.key as usize];
            if h.is_none() {
                *h = Some((txn, now_us));
                self.held += 1;
            }
        }
        true
    }

    /// Releases `txn`'s locks on the keys of `ops`.
    pub fn release(&mut self, txn: TxnId, ops: &ShardOps, now_us: u64) -> Released {
        let mut r = Released::default();
        for o in ops.as_slice() {
            if let Some(h) = self.holders.get_mut(o.key as usize) {
                if let Some((t, since)) = *h {
                    if t == txn {
                        *h = None;
                        self.held -= 1;
                        r.locks += 1;
                        r.longest_hold_us = r.longest_hold_us.max(now_us.saturating_sub(since));
                    }
                }
            }
        }
        r
    }

    /// Every held lock: (key, txn, since µs), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, TxnId, u64)> + '_ {
        self.holders
            .iter()
            .enumerate()
            .filter_map(|(k, h)| h.map(|(t, s)| (k as u32, t, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(pairs: &[(u32, i64)]) -> ShardOps {
        let mut o = ShardOps::default();
        for &(key, delta) in pairs {
            assert!(o.push(KeyDelta { key, delta }));
        }
        o
    }

    #[test]
    fn ledger_refuses_overdraft_and_bad_keys() {
        let mut l = Ledger::new(2, 10);
        assert!(l.can_apply(&ops(&[(0, -10), (1, 10)])));
        assert!(!l.can_apply(&ops(&[(0, -11)])));
        assert!(!l.can_apply(&ops(&[(5, 1)])));
        l.apply(&ops(&[(0, -3), (1, 3)]));
        assert_eq!(l.total(), 20);
        assert_eq!(l.balance(0), Some(7));
    }

    #[test]
    fn locks_are_all_or_nothing_and_report_hold_time() {
        let mut t = LockTable::new(4);
        assert!(t.try_lock(1, &ops(&[(0, 1), (1, 1)]), 100));
        assert!(!t.try_lock(2, &ops(&[(1, 1), (2, 1)]), 150));
        assert_eq!(t.held(), 2, "a refused lock request takes nothing");
        assert!(
            t.try_lock(1, &ops(&[(0, 1)]), 160),
            "re-entrant for the same txn"
        );
        let r = t.release(1, &ops(&[(0, 1), (1, 1)]), 400);
        assert_eq!(
            r,
            Released {
                locks: 2,
                longest_hold_us: 300
            }
        );
        assert_eq!(t.held(), 0);
    }

    #[test]
    fn shard_ops_merge_same_key() {
        let o = ops(&[(3, 5), (3, -2)]);
        assert_eq!(o.as_slice(), &[KeyDelta { key: 3, delta: 3 }]);
    }
}
