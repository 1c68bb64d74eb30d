//! The feature-switch checks (protocol `local_cache`), judged from observations only.
//!
//! The checker follows the config store's committed value of the switch and the copy
//! each holder keeps (a service node's local cache, the distributed cache), as they
//! report them ([`LocalCacheEvent`]); a crash of a holder loses its copy. From these:
//!
//! - a **divergence window** is a time during which some holder's copy says the
//!   switch is on while the store says off, or the reverse (a holder without a copy
//!   diverges from nothing: its next decision reads the store); its length, and the
//!   copies still divergent at the end;
//! - a **stale decision** is an attempt that decided on a view differing from the
//!   store's value at that moment;
//! - per request: a **split view** (two attempts saw the switch differently), a
//!   **split path** (attempts sent it down both paths), **processed twice** (both
//!   paths charged it) and the amount charged twice (the second charge: its cost).
//!
//! Memory: one byte of flags per request decided and the amount of each request
//! charged once (both as long as the run), one entry per holder.

use crate::node::{NodeId, TxnId};
use crate::observe::LocalCacheEvent;
use crate::stats::Histogram;
use std::collections::BTreeMap;

/// A request's flags: views seen, paths taken, paths that charged it (bit 0 for
/// off, bit 1 for on, in each pair).
const VIEWED: u32 = 0;
const TOOK: u32 = 2;
const CHARGED: u32 = 4;

/// The checker's state during a run.
#[derive(Clone, Debug, Default)]
pub struct LocalCacheChecks {
    /// The store's committed value.
    on: bool,
    /// Each holder's copy (`None`: it has none).
    holders: BTreeMap<NodeId, Option<bool>>,
    /// When the current divergence window opened.
    since_us: Option<u64>,
    requests: BTreeMap<TxnId, u8>,
    /// The first charge of each request processed by one path so far, by request.
    amounts: BTreeMap<TxnId, u64>,
    windows: Histogram,
    divergent_us: u64,
    counts: LocalCacheCounts,
}

/// What the checker counted (all zero for protocols other than `local_cache`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalCacheCounts {
    pub flips: u64,
    pub decisions: u64,
    pub requests_decided: u64,
    pub stale_decisions: u64,
    pub split_views: u64,
    pub split_paths: u64,
    pub charges: u64,
    pub processed_twice: u64,
    pub double_charged_amount: u64,
    pub divergence_windows: u64,
    pub divergence_p50_us: u64,
    pub divergence_p99_us: u64,
    pub divergence_max_us: u64,
    pub divergence_total_us: u64,
    pub divergent_at_end: u64,
}

impl LocalCacheChecks {
    /// A fact `node` reported at `at_us` about request `txn` (0: none).
    pub fn observe(&mut self, at_us: u64, node: NodeId, txn: TxnId, event: LocalCacheEvent) {
        match event {
            LocalCacheEvent::SwitchCommitted { on, .. } => {
                self.counts.flips += 1;
                self.on = on;
            }
            LocalCacheEvent::ViewSet { on, .. } => {
                self.holders.insert(node, Some(on));
            }
            LocalCacheEvent::ViewDropped => {
                self.holders.insert(node, None);
            }
            LocalCacheEvent::Viewed { on, .. } => {
                self.counts.decisions += 1;
                if on != self.on {
                    self.counts.stale_decisions += 1;
                }
                if !self.requests.contains_key(&txn) {
                    self.counts.requests_decided += 1;
                }
                if self.flag(txn, VIEWED, on) {
                    self.counts.split_views += 1;
                }
            }
            LocalCacheEvent::Took { on } => {
                if self.flag(txn, TOOK, on) {
                    self.counts.split_paths += 1;
                }
            }
            LocalCacheEvent::Charged { on, amount } => {
                self.counts.charges += 1;
                if self.flag(txn, CHARGED, on) {
                    self.counts.processed_twice += 1;
                    let first = self.amounts.remove(&txn).unwrap_or(amount);
                    self.counts.double_charged_amount += first.min(amount);
                } else {
                    self.amounts.insert(txn, amount);
                }
            }
        }
        self.judge(at_us);
    }

    /// Sets `txn`'s flag for `on` in the pair at `at`; true if this made the pair
    /// hold both (the first time only).
    fn flag(&mut self, txn: TxnId, at: u32, on: bool) -> bool {
        let f = self.requests.entry(txn).or_default();
        let pair = 0b11u8 << at;
        let before = *f & pair;
        *f |= 1u8 << (at + u32::from(on));
        before != pair && *f & pair == pair
    }

    /// A crash of a holder loses its copy.
    pub fn crashed(&mut self, at_us: u64, node: NodeId) {
        if let Some(h) = self.holders.get_mut(&node) {
            *h = None;
            self.judge(at_us);
        }
    }

    fn divergent(&self) -> u64 {
        self.holders
            .values()
            .filter(|h| h.is_some_and(|on| on != self.on))
            .count() as u64
    }

    /// Opens or closes the divergence window after a change.
    fn judge(&mut self, at_us: u64) {
        match (self.divergent() > 0, self.since_us) {
            (true, None) => {
                self.since_us = Some(at_us);
                self.counts.divergence_windows += 1;
            }
            (false, Some(since)) => {
                self.since_us = None;
                self.windows.record(at_us - since);
                self.divergent_us += at_us - since;
            }
            _ => {}
        }
    }

    /// The counts at the end of the run (`end_us`): a window still open is measured
    /// to the end, and its divergent copies are counted.
    pub fn finish(&self, end_us: u64) -> LocalCacheCounts {
        let mut c = self.counts.clone();
        let mut windows = self.windows.clone();
        let mut total = self.divergent_us;
        if let Some(since) = self.since_us {
            let open = end_us.saturating_sub(since);
            windows.record(open);
            total += open;
            c.divergent_at_end = self.divergent();
        }
        c.divergence_p50_us = windows.quantile(0.50);
        c.divergence_p99_us = windows.quantile(0.99);
        c.divergence_max_us = windows.quantile(1.0);
        c.divergence_total_us = total;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: NodeId = NodeId(0);
    const SVC0: NodeId = NodeId(1);
    const SVC1: NodeId = NodeId(2);

    fn set(c: &mut LocalCacheChecks, at: u64, node: NodeId, on: bool) {
        c.observe(at, node, 0, LocalCacheEvent::ViewSet { on, version: 0 });
    }

    /// The switch case: svc1 misses the flip's broadcast; request 7 times out on
    /// svc0 (new path, charge lost) and fails over to svc1 (old path): both paths
    /// charge it.
    #[test]
    fn a_missed_broadcast_splits_a_failed_over_request_across_both_paths() {
        let mut c = LocalCacheChecks::default();
        set(&mut c, 1, SVC0, false);
        set(&mut c, 2, SVC1, false);
        let flip = LocalCacheEvent::SwitchCommitted {
            on: true,
            version: 1,
        };
        c.observe(10, CONFIG, 3, flip);
        set(&mut c, 12, SVC0, true);
        let viewed = |on| LocalCacheEvent::Viewed { on, version: 0 };
        c.observe(20, SVC0, 7, viewed(true));
        c.observe(20, SVC0, 7, LocalCacheEvent::Took { on: true });
        c.observe(
            22,
            NodeId(5),
            7,
            LocalCacheEvent::Charged {
                on: true,
                amount: 40,
            },
        );
        c.observe(50, SVC1, 7, viewed(false));
        c.observe(50, SVC1, 7, LocalCacheEvent::Took { on: false });
        c.observe(
            52,
            NodeId(4),
            7,
            LocalCacheEvent::Charged {
                on: false,
                amount: 40,
            },
        );
        // A third attempt on the old path adds nothing: the path deduplicates.
        c.observe(60, SVC1, 7, viewed(false));
        let r = c.finish(100);
        assert_eq!((r.flips, r.decisions, r.requests_decided), (1, 3, 1));
        assert_eq!((r.stale_decisions, r.split_views, r.split_paths), (2, 1, 1));
        assert_eq!(
            (r.charges, r.processed_twice, r.double_charged_amount),
            (2, 1, 40)
        );
        // svc1 diverges from 10 to the end; nothing else.
        assert_eq!((r.divergence_windows, r.divergent_at_end), (1, 1));
        assert_eq!((r.divergence_max_us, r.divergence_total_us), (90, 90));
    }

    /// A crash of a holder ends its divergence; a TTL expiry too; a copy that
    /// agrees is no window.
    #[test]
    fn a_crash_or_an_expiry_ends_a_window_and_agreement_opens_none() {
        let mut c = LocalCacheChecks::default();
        set(&mut c, 1, SVC0, false);
        let flip = |on, version| LocalCacheEvent::SwitchCommitted { on, version };
        c.observe(10, CONFIG, 1, flip(true, 1));
        c.crashed(30, SVC0);
        c.crashed(31, CONFIG);
        set(&mut c, 40, SVC1, true);
        c.observe(50, CONFIG, 2, flip(false, 2));
        c.observe(55, SVC1, 0, LocalCacheEvent::ViewDropped);
        let r = c.finish(100);
        assert_eq!((r.divergence_windows, r.divergent_at_end), (2, 0));
        assert_eq!((r.divergence_max_us, r.divergence_total_us), (20, 25));
        assert_eq!((r.split_views, r.processed_twice), (0, 0));
    }
}
