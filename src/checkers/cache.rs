//! The cache-and-database checks (protocol `cache`), judged from observations only.
//!
//! The checker follows, key by key, the database's committed value (and how many
//! writes it has committed: their order) and what the cache holds, as the nodes
//! report them ([`CacheEvent`]); a crash of the cache node empties it. From these:
//!
//! - a **stale read** returned a value older than the one the database had committed
//!   when the read began (a read that overlaps a write may return either value, as a
//!   read of the database itself may: that is not stale); a **dirty read** returned a
//!   value the database had not committed (yet, or ever) when it returned;
//! - a **stale episode** is a time during which the cache holds a value for a key
//!   that differs from the database's committed value; its length is the staleness
//!   duration, and the entries still stale at the end are stale at quiescence;
//! - hits, misses, and the database's reads (its read load);
//! - composite entries (`sources > 1`): partial entries the cache installed, reads
//!   that returned one (partial entries served), the consumer errors they caused
//!   (the client received one), parts asked again, and reads that failed because
//!   their entry could not be filled completely (`fill: AllOrNothing`'s cost). A
//!   partial entry's staleness is its database part's, when it has one.
//!
//! Memory: per key, a few words; per committed write, its place in its key's order
//! (one map entry, as long as the run); per read in flight, the order its key had
//! when it began (removed when it returns).

use crate::node::{NodeId, TxnId};
use crate::observe::{CacheEvent, CACHE_INITIAL};
use crate::stats::Histogram;
use std::collections::BTreeMap;

/// One key, as the database and the cache hold it.
#[derive(Clone, Debug)]
struct KeyState {
    /// The database's committed value, and how many writes it has committed.
    db_value: u64,
    db_writes: u64,
    /// The cache's entry, if it has one.
    cached: Option<u64>,
    /// When the current stale episode began, if the entry is stale.
    stale_since_us: Option<u64>,
}

impl Default for KeyState {
    fn default() -> Self {
        KeyState {
            db_value: CACHE_INITIAL,
            db_writes: 0,
            cached: None,
            stale_since_us: None,
        }
    }
}

/// The checker's state during a run.
#[derive(Clone, Debug, Default)]
pub struct CacheChecks {
    keys: BTreeMap<u32, KeyState>,
    /// Each committed value (by key and value): its place in its key's order (1 for
    /// the first write; the initial value is 0).
    order: BTreeMap<(u32, u64), u64>,
    /// Reads in flight: their key's committed order when they began.
    reads: BTreeMap<TxnId, u64>,
    /// The node that reports what the cache holds (learned from its first report).
    cache_node: Option<NodeId>,
    counts: CacheCounts,
    episodes: Histogram,
}

/// What the checker counted (all zero for protocols other than `cache`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheCounts {
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    pub db_reads: u64,
    pub db_writes: u64,
    pub stale_reads: u64,
    pub dirty_reads: u64,
    pub stale_episodes: u64,
    pub stale_at_end: u64,
    pub staleness_p50_us: u64,
    pub staleness_p99_us: u64,
    pub staleness_max_us: u64,
    pub partial_cached: u64,
    pub partial_served: u64,
    pub consumer_errors: u64,
    pub part_retries: u64,
    pub reads_failed: u64,
}

impl CacheChecks {
    /// A fact `node` reported at `at_us` about `key`, for request `txn`.
    pub fn observe(&mut self, at_us: u64, node: NodeId, txn: TxnId, key: u32, event: CacheEvent) {
        match event {
            CacheEvent::DbCommitted { value } => {
                let k = self.keys.entry(key).or_default();
                k.db_writes += 1;
                k.db_value = value;
                self.order.insert((key, value), k.db_writes);
                self.counts.db_writes += 1;
            }
            CacheEvent::DbRead => self.counts.db_reads += 1,
            CacheEvent::Installed { value } => {
                self.cache_node = Some(node);
                self.keys.entry(key).or_default().cached = Some(value);
            }
            CacheEvent::Deleted | CacheEvent::Expired => {
                self.cache_node = Some(node);
                self.keys.entry(key).or_default().cached = None;
            }
            CacheEvent::ReadBegan => {
                let writes = self.keys.get(&key).map_or(0, |k| k.db_writes);
                self.reads.insert(txn, writes);
            }
            CacheEvent::ReadReturned { value, hit } => self.returned(txn, key, Some(value), hit),
            CacheEvent::InstalledPartial { value, .. } => {
                self.cache_node = Some(node);
                self.counts.partial_cached += 1;
                // Without its database part, nothing in it can be stale.
                self.keys.entry(key).or_default().cached = value;
            }
            CacheEvent::ReadReturnedPartial { value, hit } => {
                self.counts.partial_served += 1;
                self.returned(txn, key, value, hit);
            }
            CacheEvent::ReadFailed => {
                self.counts.reads_failed += 1;
                self.reads.remove(&txn);
            }
            CacheEvent::PartRetried => self.counts.part_retries += 1,
            CacheEvent::ConsumerError => self.counts.consumer_errors += 1,
        }
        self.judge(at_us, key);
    }

    /// A read of `key` for request `txn` returned, from the cache (`hit`) or not;
    /// `value`: the database part it returned, if any (judged stale or dirty).
    fn returned(&mut self, txn: TxnId, key: u32, value: Option<u64>, hit: bool) {
        self.counts.reads += 1;
        if hit {
            self.counts.hits += 1;
        } else {
            self.counts.misses += 1;
        }
        let began = self.reads.remove(&txn).unwrap_or(0);
        let Some(value) = value else {
            return;
        };
        match self.place(key, value) {
            None => self.counts.dirty_reads += 1,
            Some(place) if place < began => self.counts.stale_reads += 1,
            Some(_) => {}
        }
    }

    /// A crash of the cache node empties the cache (its entries are volatile).
    pub fn crashed(&mut self, at_us: u64, node: NodeId) {
        if self.cache_node != Some(node) {
            return;
        }
        let keys: Vec<u32> = self.keys.keys().copied().collect();
        for key in keys {
            if let Some(k) = self.keys.get_mut(&key) {
                k.cached = None;
            }
            self.judge(at_us, key);
        }
    }

    /// `value`'s place in `key`'s committed order; `None`: never committed (so far).
    fn place(&self, key: u32, value: u64) -> Option<u64> {
        if value == CACHE_INITIAL {
            return Some(0);
        }
        self.order.get(&(key, value)).copied()
    }

    /// Opens or closes `key`'s stale episode after a change.
    fn judge(&mut self, at_us: u64, key: u32) {
        let Some(k) = self.keys.get_mut(&key) else {
            return;
        };
        let stale = k.cached.is_some_and(|v| v != k.db_value);
        match (stale, k.stale_since_us) {
            (true, None) => {
                k.stale_since_us = Some(at_us);
                self.counts.stale_episodes += 1;
            }
            (false, Some(since)) => {
                k.stale_since_us = None;
                self.episodes.record(at_us - since);
            }
            _ => {}
        }
    }

    /// The counts at the end of the run (`end_us`): episodes still open are entries
    /// stale at the end, measured to the end.
    pub fn finish(&self, end_us: u64) -> CacheCounts {
        let mut c = self.counts.clone();
        let mut episodes = self.episodes.clone();
        for k in self.keys.values() {
            if let Some(since) = k.stale_since_us {
                c.stale_at_end += 1;
                episodes.record(end_us.saturating_sub(since));
            }
        }
        c.staleness_p50_us = episodes.quantile(0.50);
        c.staleness_p99_us = episodes.quantile(0.99);
        c.staleness_max_us = episodes.quantile(1.0);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: NodeId = NodeId(0);
    const CACHE: NodeId = NodeId(1);
    const APP: NodeId = NodeId(2);

    fn commit(c: &mut CacheChecks, at: u64, value: u64) {
        c.observe(at, DB, value, 3, CacheEvent::DbCommitted { value });
    }

    /// The classic race: a reader misses and reads the old value, a writer commits
    /// and deletes, the reader's fill lands after the delete. The fill makes the
    /// entry stale until the end; the read itself began before the commit, so it is
    /// not stale, but the next read (a hit) is.
    #[test]
    fn a_late_fill_after_the_delete_leaves_a_stale_entry_and_stale_hits() {
        let mut c = CacheChecks::default();
        c.observe(10, APP, 1, 3, CacheEvent::ReadBegan);
        c.observe(12, DB, 1, 3, CacheEvent::DbRead);
        commit(&mut c, 20, 7);
        c.observe(25, CACHE, 7, 3, CacheEvent::Deleted);
        c.observe(
            30,
            CACHE,
            1,
            3,
            CacheEvent::Installed {
                value: CACHE_INITIAL,
            },
        );
        c.observe(
            31,
            APP,
            1,
            3,
            CacheEvent::ReadReturned {
                value: CACHE_INITIAL,
                hit: false,
            },
        );
        c.observe(40, APP, 2, 3, CacheEvent::ReadBegan);
        c.observe(
            42,
            APP,
            2,
            3,
            CacheEvent::ReadReturned {
                value: CACHE_INITIAL,
                hit: true,
            },
        );
        let r = c.finish(100);
        assert_eq!((r.reads, r.hits, r.misses, r.db_reads), (2, 1, 1, 1));
        assert_eq!((r.stale_reads, r.dirty_reads), (1, 0));
        assert_eq!((r.stale_episodes, r.stale_at_end), (1, 1));
        assert_eq!(r.staleness_max_us, 70);
    }

    /// Cache first, then the database: a reader sees a value not committed yet
    /// (dirty); the entry is stale until the commit, and a crash of the cache ends
    /// an episode.
    #[test]
    fn an_uncommitted_value_is_a_dirty_read_and_a_cache_crash_ends_staleness() {
        let mut c = CacheChecks::default();
        c.observe(5, CACHE, 9, 1, CacheEvent::Installed { value: 9 });
        c.observe(6, APP, 2, 1, CacheEvent::ReadBegan);
        c.observe(
            8,
            APP,
            2,
            1,
            CacheEvent::ReadReturned {
                value: 9,
                hit: true,
            },
        );
        c.observe(10, DB, 9, 1, CacheEvent::DbCommitted { value: 9 });
        c.observe(20, CACHE, 11, 1, CacheEvent::Installed { value: 11 });
        c.crashed(50, APP);
        c.crashed(60, CACHE);
        let r = c.finish(100);
        assert_eq!((r.dirty_reads, r.stale_reads), (1, 0));
        assert_eq!((r.stale_episodes, r.stale_at_end), (2, 0));
        assert_eq!(r.staleness_max_us, 40);
    }

    /// A partial entry without its database part is not stale; one with it is judged
    /// by it. Every read of a partial entry counts as one served; a failed read is no
    /// read and leaves nothing in flight.
    #[test]
    fn partial_entries_are_counted_and_judged_by_their_database_part() {
        let mut c = CacheChecks::default();
        commit(&mut c, 1, 5);
        let (value, missing) = (None, 1);
        c.observe(
            2,
            CACHE,
            6,
            3,
            CacheEvent::InstalledPartial { value, missing },
        );
        c.observe(3, APP, 7, 3, CacheEvent::ReadBegan);
        let hit = true;
        c.observe(4, APP, 7, 3, CacheEvent::ReadReturnedPartial { value, hit });
        c.observe(5, CACHE, 0, 3, CacheEvent::ConsumerError);
        let value = Some(CACHE_INITIAL);
        c.observe(
            6,
            CACHE,
            8,
            3,
            CacheEvent::InstalledPartial { value, missing: 2 },
        );
        c.observe(7, APP, 9, 3, CacheEvent::ReadBegan);
        c.observe(8, APP, 9, 3, CacheEvent::PartRetried);
        c.observe(9, APP, 9, 3, CacheEvent::ReadFailed);
        let r = c.finish(10);
        assert_eq!(
            (r.partial_cached, r.partial_served, r.consumer_errors),
            (2, 1, 1)
        );
        assert_eq!(
            (r.reads, r.hits, r.reads_failed, r.part_retries),
            (1, 1, 1, 1)
        );
        assert_eq!(r.stale_reads, 0);
        // The second partial entry holds the value before the commit: stale from 6.
        assert_eq!(
            (r.stale_episodes, r.stale_at_end, r.staleness_max_us),
            (1, 1, 4)
        );
        assert!(c.reads.is_empty());
    }
}
