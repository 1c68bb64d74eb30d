//! The finished-below watermark: how a TCC coordinator or a saga orchestrator lets
//! its participants forget the records of finished transactions, flat in the number
//! of transactions, without a time bound and without weakening a guard.
//!
//! A participant's per-transaction records (TCC's fence, the saga's step records)
//! answer late messages: a Try after its Cancel is refused (anti-hanging), a repeated
//! Confirm or Cancel is ignored (idempotency), a step after its compensation is
//! refused. The network has no bound on delays, so no age proves that nothing can
//! still arrive for a record: Seata's time-based purge (`TCCFenceConfig`'s clean
//! period, one day by default) trusts that no message is older than that.
//!
//! Instead the coordinator, which knows when a transaction is finished, tells each
//! participant `p` a watermark `W(p)`: **every transaction below `W(p)` is finished
//! for `p`** — `p` will never again be asked to do anything for it, and every message
//! for it that can still reach `p` is a copy of one `p` has already answered. Then a
//! message below `W(p)` for which `p` has no record is answered from the watermark:
//! a Try or a step is refused, a Confirm, Cancel or compensation is a repeat. Every
//! guard keeps its answer; the record is no longer needed, and `p` drops the records
//! below `W(p)` with its next durable write. `W(p)` rides on the messages the
//! coordinator sends `p` anyway (no extra message, no extra write).
//!
//! `W(p)` is the least of
//! - the transactions not yet finished for `p` ([`Unfinished`]), and
//! - the coordinator's **front** ([`front`]): the scenario's `watermark_lag_ids`
//!   ([`DEFAULT_LAG_IDS`] unless set) below the newest id it has begun, or its
//!   admission floor after a restart if that is higher (the saga orchestrator logs
//!   its newest id, `begun_to`, with each saga's record instead). The coordinator
//!   begins nothing below its front: a new request below it is answered stale (the
//!   client hears, `txns.refused`). Without this a transaction could begin below a
//!   watermark already sent — ids are not all begun in order: requests are
//!   reordered, one-shard transactions and refused requests skip ids — and its Try
//!   would be refused as late. The lag only keeps ordinary reordering from being
//!   refused; it is not what makes the purge safe.
//!
//! "Finished for `p`" is per participant: a TCC participant is done with a branch
//! once the coordinator holds its acknowledgement of Confirm or Cancel, even while
//! another participant of the same transaction is down; a participant that never
//! returns holds back only its own watermark.
//!
//! Neither side ever moves a watermark back. A participant keeps the highest it has
//! heard (durably, with its purge). The front is durable: the admission floor, or
//! the saga orchestrator's logged `begun_to`. A restarted TCC coordinator may compute
//! a lower `W(p)` than before (it lost which participants had acknowledged), which is
//! still true and which the participant ignores.

use crate::node::{NodeId, TxnId};
pub use crate::scenario::{DEFAULT_LAG_IDS, MAX_LAG_IDS};
use std::collections::{BTreeMap, BTreeSet};

/// The coordinator's front: nothing below it is begun any more. `begun_to` is one
/// past the newest id begun; `floor` the admission floor (ids below it are refused
/// anyway); `lag_ids` how far the front trails `begun_to`.
pub fn front(begun_to: TxnId, floor: TxnId, lag_ids: u64) -> TxnId {
    floor.max(begun_to.saturating_sub(lag_ids))
}

/// The coordinator's volatile index: per participant, the transactions not yet
/// finished for it. Rebuilt from the durable log at recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Unfinished {
    by_rm: BTreeMap<NodeId, BTreeSet<TxnId>>,
}

impl Unfinished {
    /// `txn` begins at every participant in `rms`.
    pub fn begin(&mut self, txn: TxnId, rms: impl IntoIterator<Item = NodeId>) {
        for rm in rms {
            self.by_rm.entry(rm).or_default().insert(txn);
        }
    }

    /// `txn` is finished for `rm`.
    pub fn finish(&mut self, txn: TxnId, rm: NodeId) {
        if let Some(s) = self.by_rm.get_mut(&rm) {
            s.remove(&txn);
        }
    }

    /// `W(rm)` given the front.
    pub fn below(&self, rm: NodeId, front: TxnId) -> TxnId {
        self.by_rm
            .get(&rm)
            .and_then(|s| s.first())
            .map_or(front, |&t| t.min(front))
    }

    pub fn clear(&mut self) {
        self.by_rm.clear();
    }
}

/// Removes the records whose key is below `below` (for the saga's `(txn, step)`
/// keys, `(w, 0)`: every step of every saga below `w`) that `keep` does not hold on
/// to; returns how many went.
pub fn purge<K: Ord + Copy, V>(
    records: &mut BTreeMap<K, V>,
    below: K,
    keep: impl Fn(&V) -> bool,
) -> usize {
    let gone: Vec<K> = records
        .range(..below)
        .filter(|(_, v)| !keep(v))
        .map(|(k, _)| *k)
        .collect();
    for k in &gone {
        records.remove(k);
    }
    gone.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_is_the_least_unfinished_or_the_front() {
        let (a, b) = (NodeId(1), NodeId(2));
        let mut u = Unfinished::default();
        assert_eq!(u.below(a, 100), 100, "nothing unfinished: the front");
        u.begin(7, [a, b]);
        u.begin(9, [a]);
        assert_eq!((u.below(a, 100), u.below(b, 100)), (7, 7));
        u.finish(7, a);
        assert_eq!(
            (u.below(a, 100), u.below(b, 100)),
            (9, 7),
            "per participant: b still owes its acknowledgement of 7"
        );
        assert_eq!(u.below(a, 5), 5, "never above the front");
    }

    #[test]
    fn the_front_lags_the_newest_id_and_never_falls_below_the_floor() {
        assert_eq!(front(10, 0, 4096), 0);
        assert_eq!(front(4096 + 10, 0, 4096), 10);
        assert_eq!(front(4096 + 10, 500, 4096), 500);
        assert_eq!(front(7, 0, 0), 7, "no lag: right behind the newest");
    }

    #[test]
    fn purge_drops_below_the_watermark_and_keeps_what_is_held() {
        let mut m: BTreeMap<u64, bool> = (0..10).map(|t| (t, t == 2)).collect();
        assert_eq!(purge(&mut m, 5, |held| *held), 4);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [2, 5, 6, 7, 8, 9]);
    }
}
