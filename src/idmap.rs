//! `IdMap`: a map from dense, mostly increasing ids (transaction ids) to values.
//!
//! Protocols keep per-transaction state keyed by id, and ids arrive roughly in order.
//! A sliding window indexed by `id - base` makes every operation O(1); the rare id
//! that falls outside the window (a transaction blocked while thousands of later ones
//! finished) spills into an ordered map, so memory stays bounded by the number of
//! live entries plus the window. Iteration is always in id order (deterministic), and
//! equality and hashing depend only on the (id, value) pairs, not on the layout, so
//! an explorer deduplicating states sees equal maps as equal.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};

const WINDOW_MAX: u64 = 4096;

#[derive(Clone)]
pub struct IdMap<V> {
    base: u64,
    window: VecDeque<Option<V>>,
    in_window: usize,
    spill: BTreeMap<u64, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            base: 0,
            window: VecDeque::new(),
            in_window: 0,
            spill: BTreeMap::new(),
        }
    }
}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.in_window + self.spill.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, id: u64) -> Option<usize> {
        (id >= self.base && id - self.base < self.window.len() as u64)
            .then(|| (id - self.base) as usize)
    }

    // An id can live in the spill map while the window later grows over it, so an
    // empty window slot always falls through to the spill map.

    pub fn get(&self, id: &u64) -> Option<&V> {
        match self.slot(*id) {
            Some(i) if self.window[i].is_some() => self.window[i].as_ref(),
            _ => self.spill.get(id),
        }
    }

    pub fn get_mut(&mut self, id: &u64) -> Option<&mut V> {
        match self.slot(*id) {
            Some(i) if self.window[i].is_some() => self.window[i].as_mut(),
            _ => self.spill.get_mut(id),
        }
    }

    pub fn contains_key(&self, id: &u64) -> bool {
        self.get(id).is_some()
    }

    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        if let Some(v) = self.spill.get_mut(&id) {
            return Some(std::mem::replace(v, value));
        }
        if let Some(i) = self.slot(id) {
            let old = self.window[i].replace(value);
            if old.is_none() {
                self.in_window += 1;
            }
            return old;
        }
        if self.window.is_empty() {
            self.base = id;
        }
        if id < self.base {
            return self.spill.insert(id, value);
        }
        if id - self.base >= 2 * WINDOW_MAX {
            // A jump far ahead: everything in the window becomes a straggler.
            self.spill_all();
            self.base = id;
        }
        while id - self.base >= WINDOW_MAX {
            if self.window.is_empty() {
                self.base = id;
                break;
            }
            self.spill_front();
        }
        let offset = id - self.base;
        while self.window.len() as u64 <= offset {
            self.window.push_back(None);
        }
        self.window[offset as usize] = Some(value);
        self.in_window += 1;
        None
    }

    pub fn remove(&mut self, id: &u64) -> Option<V> {
        let i = match self.slot(*id) {
            Some(i) if self.window[i].is_some() => i,
            _ => return self.spill.remove(id),
        };
        let old = self.window[i].take();
        if old.is_some() {
            self.in_window -= 1;
            while matches!(self.window.front(), Some(None)) {
                self.window.pop_front();
                self.base += 1;
            }
            while matches!(self.window.back(), Some(None)) {
                self.window.pop_back();
            }
        }
        old
    }

    fn spill_front(&mut self) {
        if let Some(front) = self.window.pop_front() {
            if let Some(v) = front {
                self.in_window -= 1;
                self.spill.insert(self.base, v);
            }
            self.base += 1;
        }
    }

    fn spill_all(&mut self) {
        while !self.window.is_empty() {
            self.spill_front();
        }
    }

    /// Entries in ascending id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        let base = self.base;
        let window = self
            .window
            .iter()
            .enumerate()
            .filter_map(move |(i, v)| v.as_ref().map(|v| (base + i as u64, v)));
        Merge {
            a: self.spill.iter().map(|(k, v)| (*k, v)).peekable(),
            b: window.peekable(),
        }
    }

    /// Ids in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Mutable access to every value, in ascending id order.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(u64, &mut V)) {
        let ids: Vec<u64> = self.keys().collect();
        for id in ids {
            if let Some(v) = self.get_mut(&id) {
                f(id, v);
            }
        }
    }
}

struct Merge<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'v, V: 'v, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = (u64, &'v V)>,
    B: Iterator<Item = (u64, &'v V)>,
{
    type Item = (u64, &'v V);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some((x, _)), Some((y, _))) => {
                if x < y {
                    self.a.next()
                } else {
                    self.b.next()
                }
            }
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

impl<V: PartialEq> PartialEq for IdMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Eq> Eq for IdMap<V> {}

impl<V: Hash> Hash for IdMap<V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The most recent ids seen: a bitmap over a window of [`RecentIds::CAPACITY`] ids
/// below the highest one, in a ring of `u64` words. O(1), at most 8 KiB. An id older than the
/// window counts as seen: it is a duplicate from thousands of transactions ago, and
/// treating it as new could apply it twice. The window is far wider than the ids that
/// can be in flight at once (scenarios allow at most [`MAX_SESSIONS`] sessions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecentIds {
    /// One past the highest id seen.
    top: u64,
    bits: Vec<u64>,
}

/// What a [`RecentIds`] window knows of an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recall {
    Seen,
    Unseen,
    /// Older than the window: it may or may not have been seen.
    Forgotten,
}

impl Recall {
    /// What two windows together know of an id (say, of commits and of aborts):
    /// seen by either, else forgotten by either, else unseen.
    pub fn either(a: &RecentIds, b: &RecentIds, id: u64) -> Recall {
        match (a.recall(id), b.recall(id)) {
            (Recall::Seen, _) | (_, Recall::Seen) => Recall::Seen,
            (Recall::Forgotten, _) | (_, Recall::Forgotten) => Recall::Forgotten,
            _ => Recall::Unseen,
        }
    }
}

/// The most concurrent client sessions a scenario may have (see [`RecentIds`]).
pub const MAX_SESSIONS: u32 = 10_000;

impl Default for RecentIds {
    /// Empty: the ring's words are allocated as ids reach them (at most 8 KiB), so a
    /// node that has seen a few ids stays small to clone and hash (the exhaustive
    /// checker copies whole worlds).
    fn default() -> Self {
        RecentIds {
            top: 0,
            bits: Vec::new(),
        }
    }
}

impl RecentIds {
    pub const CAPACITY: u64 = 1 << 16;

    fn bit(id: u64) -> (usize, u64) {
        let i = id % Self::CAPACITY;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// What the window knows of `id`: seen, not seen, or forgotten (older than the
    /// window). Callers for whom a forgotten id must not pass as seen (an
    /// at-least-once sender, an admission check that answers the client) use this.
    pub fn recall(&self, id: u64) -> Recall {
        if id < self.top && self.top - id > Self::CAPACITY {
            Recall::Forgotten
        } else if self.contains(id) {
            Recall::Seen
        } else {
            Recall::Unseen
        }
    }

    /// Was `id` recorded (or is it older than the window, so presumed recorded)?
    pub fn contains(&self, id: u64) -> bool {
        if id >= self.top {
            return false;
        }
        if self.top - id > Self::CAPACITY {
            return true;
        }
        let (w, m) = Self::bit(id);
        self.bits.get(w).is_some_and(|b| b & m != 0)
    }

    /// Records `id`; `false` if it was seen already (or is older than the window).
    pub fn insert(&mut self, id: u64) -> bool {
        if id >= self.top {
            // Ids entering the window forget whatever the ring held for them.
            if id - self.top >= Self::CAPACITY {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                for old in self.top..=id {
                    let (w, m) = Self::bit(old);
                    if let Some(b) = self.bits.get_mut(w) {
                        *b &= !m;
                    }
                }
            }
            self.top = id + 1;
        }
        if self.contains(id) {
            return false;
        }
        let (w, m) = Self::bit(id);
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= m;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        Remove(u64),
        Get(u64),
    }

    /// Ids as protocols produce them: a moving front with jitter, plus far jumps
    /// and very old ids.
    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let id = prop_oneof![
            8 => (0u64..64).prop_map(|j| j),
            1 => 0u64..20_000,
            1 => 0u64..200_000,
        ];
        prop::collection::vec(
            (0u8..3, id, 0u64..12).prop_map(|(k, id, step)| (k, id, step)),
            1..3000,
        )
        .prop_map(|raw| {
            let mut front = 0u64;
            raw.into_iter()
                .map(|(k, id, step)| {
                    front += step;
                    let id = if id < 64 { front + id } else { id };
                    match k {
                        0 => Op::Insert(id),
                        1 => Op::Remove(id),
                        _ => Op::Get(id),
                    }
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn idmap_behaves_like_a_btreemap(ops in ops()) {
            let mut m = IdMap::new();
            let mut reference = BTreeMap::new();
            for (i, op) in ops.iter().enumerate() {
                match *op {
                    Op::Insert(id) => prop_assert_eq!(m.insert(id, i), reference.insert(id, i)),
                    Op::Remove(id) => prop_assert_eq!(m.remove(&id), reference.remove(&id)),
                    Op::Get(id) => prop_assert_eq!(m.get(&id), reference.get(&id)),
                }
                prop_assert_eq!(m.len(), reference.len());
            }
            prop_assert!(m.iter().map(|(k, v)| (k, *v)).eq(reference.iter().map(|(k, v)| (*k, *v))));
        }
    }

    #[test]
    fn behaves_like_a_btreemap_under_random_operations() {
        let mut m = IdMap::new();
        let mut reference = BTreeMap::new();
        let mut x = 7u64;
        for step in 0..50_000u64 {
            x = crate::rng::mix64(x);
            // Mostly increasing ids with occasional far jumps and old ids.
            let id = match x % 10 {
                0 => x % 50,
                1 => step + 10_000 * (x % 3),
                _ => step / 2 + x % 64,
            };
            if x % 3 == 0 {
                assert_eq!(m.remove(&id), reference.remove(&id));
            } else {
                assert_eq!(m.insert(id, step), reference.insert(id, step));
            }
            if step % 997 == 0 {
                let a: Vec<_> = m.iter().map(|(k, v)| (k, *v)).collect();
                let b: Vec<_> = reference.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(a, b);
            }
            assert_eq!(m.len(), reference.len());
        }
    }

    #[test]
    fn an_id_far_ahead_of_a_short_window_is_stored_under_its_own_id() {
        let mut m = IdMap::new();
        for id in 0..10 {
            m.insert(id, id);
        }
        m.insert(5000, 5000); // beyond the window: the ten spill, the window restarts
        assert_eq!(m.get(&5000), Some(&5000));
        assert_eq!(m.get(&9), Some(&9));
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            (0..10).chain([5000]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn shuffled_inserts_over_a_wide_range_all_stay_findable() {
        let mut ids: Vec<u64> = (0..10_000).collect();
        let mut x = 3u64;
        for i in (1..ids.len()).rev() {
            x = crate::rng::mix64(x);
            ids.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut m = IdMap::new();
        for &id in &ids {
            m.insert(id, id * 2);
        }
        for id in 0..10_000u64 {
            assert_eq!(m.get(&id), Some(&(id * 2)), "id {id}");
        }
        assert_eq!(m.len(), 10_000);
    }

    #[test]
    fn an_id_in_the_spill_map_stays_visible_when_the_window_grows_over_it() {
        let mut m = IdMap::new();
        m.insert(17, 'a');
        m.insert(16, 'b'); // below the window: spilled
        m.remove(&17); // window empty
        m.insert(14, 'c'); // window restarts lower, at 14
        m.insert(18, 'd'); // window now spans 14..=18, over 16
        assert_eq!(m.get(&16), Some(&'b'));
        assert!(m.contains_key(&16));
        assert_eq!(m.insert(16, 'e'), Some('b'));
        assert_eq!(m.remove(&16), Some('e'));
        assert_eq!(m.len(), 2);
        assert_eq!(m.keys().collect::<Vec<_>>(), vec![14, 18]);
    }

    #[test]
    fn behaves_like_a_btreemap_when_ids_arrive_out_of_order() {
        // Ids from several sessions arrive shuffled within a small spread, as
        // requests racing through the network do.
        let mut m = IdMap::new();
        let mut reference = BTreeMap::new();
        let mut x = 99u64;
        for step in 0..50_000u64 {
            x = crate::rng::mix64(x);
            let id = step / 3 + x % 8;
            if x % 2 == 0 {
                assert_eq!(m.get(&id), reference.get(&id), "step {step}");
                assert_eq!(m.remove(&id), reference.remove(&id), "step {step}");
            } else {
                assert_eq!(
                    m.insert(id, step),
                    reference.insert(id, step),
                    "step {step}"
                );
            }
        }
        assert!(m
            .iter()
            .map(|(k, v)| (k, *v))
            .eq(reference.iter().map(|(k, v)| (*k, *v))));
    }

    #[test]
    fn behaves_like_a_btreemap_with_many_live_ids_beyond_the_window() {
        // 10,000 sessions: ten thousand live ids spread wider than the window.
        let mut m = IdMap::new();
        let mut reference = BTreeMap::new();
        let mut x = 5u64;
        let mut next = 0u64;
        for step in 0..200_000u64 {
            x = crate::rng::mix64(x);
            if reference.len() < 10_000 || x % 2 == 0 {
                let id = next + x % 16;
                next += 1;
                assert_eq!(
                    m.insert(id, step),
                    reference.insert(id, step),
                    "step {step}"
                );
            } else {
                // Remove a live id chosen at random.
                let k = *reference
                    .keys()
                    .nth((x % reference.len() as u64) as usize)
                    .expect("non-empty");
                assert_eq!(m.get(&k), reference.get(&k), "step {step}");
                assert_eq!(m.remove(&k), reference.remove(&k), "step {step}");
            }
            assert_eq!(m.len(), reference.len(), "step {step}");
        }
        assert!(m
            .iter()
            .map(|(k, v)| (k, *v))
            .eq(reference.iter().map(|(k, v)| (*k, *v))));
    }

    #[test]
    fn equal_contents_hash_equal_whatever_the_layout() {
        use crate::engine::Digest as DefaultHasher;
        let mut a = IdMap::new();
        a.insert(5, 'x');
        a.insert(9000, 'y');
        let mut b = IdMap::new();
        b.insert(9000, 'y');
        b.insert(5, 'x');
        assert_eq!(a, b);
        let h = |m: &IdMap<char>| {
            let mut s = DefaultHasher::default();
            m.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(&a), h(&b));
    }

    #[test]
    fn recent_ids_catch_duplicates_and_forget_only_beyond_the_window() {
        let mut r = RecentIds::default();
        assert!(r.insert(3));
        assert!(r.insert(1));
        assert!(!r.insert(3));
        assert!(!r.contains(2));
        assert!(r.insert(2));
        assert!(r.insert(100_000));
        assert!(!r.insert(3), "too old counts as seen");
        assert!(r.insert(99_999));
        assert!(!r.insert(99_999));
        assert!(r.contains(99_999) && r.contains(5) && !r.contains(99_998) && !r.contains(100_001));
        // Within the window, a wrapped ring slot does not leak an old id's bit.
        let mut r = RecentIds::default();
        assert!(r.insert(7));
        assert!(r.insert(7 + RecentIds::CAPACITY));
        assert!(r.contains(7 + RecentIds::CAPACITY));
        assert!(!r.contains(6 + RecentIds::CAPACITY));
        assert!(r.insert(6 + RecentIds::CAPACITY));
    }

    #[test]
    fn recall_tells_forgotten_from_seen() {
        let mut r = RecentIds::default();
        r.insert(10);
        assert_eq!(r.recall(10), Recall::Seen);
        assert_eq!(r.recall(9), Recall::Unseen);
        assert_eq!(r.recall(11), Recall::Unseen);
        r.insert(10 + RecentIds::CAPACITY + 1);
        assert_eq!(r.recall(10), Recall::Forgotten);
        assert!(r.contains(10), "contains presumes a forgotten id seen");
        assert_eq!(r.recall(11), Recall::Forgotten);
        assert_eq!(
            r.recall(12),
            Recall::Unseen,
            "at the window's edge: still known"
        );
    }
}
