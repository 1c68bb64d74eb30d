//! The event queue: a 4-ary min-heap on `(time µs, sequence number)` over a slab of
//! payloads, plus FIFO lanes for events that arrive in order anyway.
//!
//! The heap moves only 24-byte keys; payloads (messages can be large) stay put in the
//! slab. The sequence number makes ties FIFO, so the order of events is a pure function
//! of the order in which they were scheduled, whichever structure holds them:
//! - **the zero-delay lane**: events due at the current time, in FIFO order; they
//!   would sit at the top of the heap anyway;
//! - **timer lanes**: timers set with the same duration fire in the order they were
//!   set (their keys only grow), so each duration gets a FIFO lane and only the lane's
//!   head sits in the heap (the merge of sorted lists by a heap). A timer that is set
//!   and cancelled over and over (a deadline re-armed for each request) then costs
//!   two deque operations, and its cancelled copies never fill the heap;
//! - **the heap**: everything else (messages with drawn delays).
//!
//! Cancelled entries are skipped when they come to the front (lazy deletion), except a
//! cancelled entry at the back of a timer lane, which is dropped at once; compaction
//! drops the rest when they outnumber live ones.

use std::collections::VecDeque;

/// An entry's place in the slab; used to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u32);

enum Cell<E> {
    Live(E),
    Cancelled,
    Free,
}

/// No timer lane: a key of the heap or of the zero-delay lane.
const NO_LANE: u8 = u8::MAX;

/// How many timer durations get a lane of their own at once (an empty lane is given
/// to a new duration); timers of other durations go to the heap.
const LANES: usize = 8;

/// 24 bytes: time and sequence number compared as one 128-bit integer. The
/// sequence number is unique, so neither slot nor lane takes part in the order.
#[derive(Clone, Copy)]
struct Key {
    time: u64,
    seq: u64,
    slot: u32,
    /// The timer lane this key heads, if it is in the heap ([`NO_LANE`]: none).
    lane: u8,
}

impl Key {
    #[inline(always)]
    fn order(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }

    #[inline(always)]
    fn before(&self, other: &Key) -> bool {
        self.order() < other.order()
    }
}

/// Timers of one duration, in the order they fire; the head is also in the heap.
struct Lane {
    after_us: u64,
    keys: VecDeque<Key>,
}

/// A 4-ary heap: half the levels of a binary heap, and a node's children share cache
/// lines; measured faster than binary on the bench workload.
const ARITY: usize = 4;

/// Span of the timing wheel, in µs: an event due within this span of the current time
/// (a message's one-way delay, typically) takes a wheel slot instead of a heap place.
const WHEEL_BITS: u32 = 14;
const WHEEL: usize = 1 << WHEEL_BITS;
const WHEEL_MASK: usize = WHEEL - 1;
const WORDS: usize = WHEEL / 64;
const NIL: u32 = u32::MAX;
/// With this many events pending or fewer, a small heap is cheaper than the wheel's
/// bitmap search over sparse slots (measured on the bench at C = 1 and 64).
const WHEEL_FROM: usize = 16;

/// A timing wheel of one-µs slots over the next [`WHEEL`] µs, allocated on first use.
/// Every key it holds is due in `[now, now + WHEEL)`, so a slot holds keys of one time
/// only, and they were appended in sequence order: each slot is a FIFO list (linked
/// through the slab's slots). A two-level bitmap finds the next non-empty slot.
struct Wheel {
    head: Vec<u32>,
    tail: Vec<u32>,
    /// Per slab slot: the key's sequence number and the next slot in its list.
    link: Vec<(u64, u32)>,
    bits: Vec<u64>,
    summary: [u64; WORDS / 64],
    /// Keys held (live or cancelled).
    len: usize,
    /// The earliest key held.
    front: Option<Key>,
}

impl Wheel {
    fn new() -> Self {
        Wheel {
            head: vec![NIL; WHEEL],
            tail: vec![NIL; WHEEL],
            link: Vec::new(),
            bits: vec![0; WORDS],
            summary: [0; WORDS / 64],
            len: 0,
            front: None,
        }
    }

    #[inline]
    fn push(&mut self, key: Key) {
        let s = key.time as usize & WHEEL_MASK;
        let slot = key.slot as usize;
        if self.link.len() <= slot {
            self.link.resize(slot + 1, (0, NIL));
        }
        self.link[slot] = (key.seq, NIL);
        let t = self.tail[s];
        if t == NIL {
            self.head[s] = key.slot;
            self.bits[s >> 6] |= 1 << (s & 63);
            self.summary[s >> 12] |= 1 << ((s >> 6) & 63);
        } else {
            self.link[t as usize].1 = key.slot;
        }
        self.tail[s] = key.slot;
        self.len += 1;
        // A key earlier than the front lands in an empty slot (a slot holds one time).
        if self.front.is_none_or(|f| key.time < f.time) {
            self.front = Some(key);
        }
    }

    /// Removes the front key (the caller has read it from `front`).
    #[inline]
    fn pop_front(&mut self) {
        let Some(f) = self.front else { return };
        let s = f.time as usize & WHEEL_MASK;
        let next = self.link[f.slot as usize].1;
        self.len -= 1;
        if next != NIL {
            self.head[s] = next;
            self.front = Some(Key {
                time: f.time,
                seq: self.link[next as usize].0,
                slot: next,
                lane: NO_LANE,
            });
            return;
        }
        self.head[s] = NIL;
        self.tail[s] = NIL;
        self.bits[s >> 6] &= !(1 << (s & 63));
        if self.bits[s >> 6] == 0 {
            self.summary[s >> 12] &= !(1 << ((s >> 6) & 63));
        }
        self.front = self.first_from(f.time);
    }

    /// The head of the first non-empty slot at or after time `t` (every key held is
    /// due in `[t, t + WHEEL)`).
    fn first_from(&self, t: u64) -> Option<Key> {
        if self.len == 0 {
            return None;
        }
        let p = t as usize & WHEEL_MASK;
        let s = self
            .set_at_or_after(p)
            .or_else(|| self.set_at_or_after(0))?;
        let slot = self.head[s];
        Some(Key {
            time: t + ((s.wrapping_sub(p)) & WHEEL_MASK) as u64,
            seq: self.link[slot as usize].0,
            slot,
            lane: NO_LANE,
        })
    }

    /// The first non-empty slot at or after `p` (no wrapping).
    fn set_at_or_after(&self, p: usize) -> Option<usize> {
        let w = p >> 6;
        let m = self.bits[w] & (!0u64 << (p & 63));
        if m != 0 {
            return Some((w << 6) | m.trailing_zeros() as usize);
        }
        let q = w + 1;
        if q >= WORDS {
            return None;
        }
        let mut i = q >> 6;
        let mut m = self.summary[i] & (!0u64 << (q & 63));
        loop {
            if m != 0 {
                let word = (i << 6) | m.trailing_zeros() as usize;
                return Some((word << 6) | self.bits[word].trailing_zeros() as usize);
            }
            i += 1;
            if i >= self.summary.len() {
                return None;
            }
            m = self.summary[i];
        }
    }

    /// Drops the keys for which `keep` says no (keeping each slot's order); `t` is
    /// the current time.
    fn retain(&mut self, t: u64, mut keep: impl FnMut(&Key) -> bool) {
        for w in 0..WORDS {
            let mut word = self.bits[w];
            while word != 0 {
                let s = (w << 6) | word.trailing_zeros() as usize;
                word &= word - 1;
                let mut cur = self.head[s];
                let (mut head, mut tail) = (NIL, NIL);
                while cur != NIL {
                    let (seq, next) = self.link[cur as usize];
                    let k = Key {
                        time: 0,
                        seq,
                        slot: cur,
                        lane: NO_LANE,
                    };
                    if keep(&k) {
                        if tail == NIL {
                            head = cur;
                        } else {
                            self.link[tail as usize].1 = cur;
                        }
                        tail = cur;
                        self.link[cur as usize].1 = NIL;
                    } else {
                        self.len -= 1;
                    }
                    cur = next;
                }
                self.head[s] = head;
                self.tail[s] = tail;
                if head == NIL {
                    self.bits[w] &= !(1 << (s & 63));
                    if self.bits[w] == 0 {
                        self.summary[w >> 6] &= !(1 << (w & 63));
                    }
                }
            }
        }
        self.front = self.first_from(t);
    }
}

/// Where the earliest key is.
#[derive(Clone, Copy)]
enum Source {
    Immediate,
    Heap,
    Wheel,
}

pub struct EventQueue<E> {
    heap: Vec<Key>,
    /// Events scheduled for the current time (zero delay), in FIFO order.
    /// Invariant: every entry here has time `now` and the heap holds nothing earlier.
    immediate: VecDeque<Key>,
    /// Invariant: each lane's keys are in increasing order, and a non-empty lane's
    /// first key is in the heap (with the lane's index), its others are not.
    lanes: Vec<Lane>,
    /// Keys held by the lanes, heads included.
    in_lanes: usize,
    /// Events due within [`WHEEL`] µs (allocated on first use).
    wheel: Option<Box<Wheel>>,
    /// Time of the last event popped.
    now: u64,
    cells: Vec<Cell<E>>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
    /// Cancelled entries still held (heap, zero-delay lane or timer lanes).
    dead: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::new(),
            immediate: VecDeque::new(),
            lanes: Vec::new(),
            in_lanes: 0,
            wheel: None,
            now: 0,
            cells: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            live: 0,
            dead: 0,
        }
    }

    /// Number of live (not cancelled) events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    #[inline]
    fn new_key(&mut self, at_us: u64, event: E) -> Key {
        let slot = match self.free.pop() {
            Some(s) => {
                self.cells[s as usize] = Cell::Live(event);
                s
            }
            None => {
                self.cells.push(Cell::Live(event));
                (self.cells.len() - 1) as u32
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.live += 1;
        Key {
            time: at_us,
            seq,
            slot,
            lane: NO_LANE,
        }
    }

    #[inline]
    fn push_heap(&mut self, key: Key) {
        self.heap.push(key);
        self.sift_up(self.heap.len() - 1);
    }

    pub fn push(&mut self, at_us: u64, event: E) -> Slot {
        let key = self.new_key(at_us, event);
        self.place(key);
        Slot(key.slot)
    }

    /// Puts a new key (not a lane's) where it belongs: the zero-delay lane, the wheel
    /// or the heap.
    #[inline]
    fn place(&mut self, key: Key) {
        if key.time == self.now {
            self.immediate.push_back(key);
        } else if self.live > WHEEL_FROM
            && key.time > self.now
            && key.time - self.now < WHEEL as u64
        {
            self.wheel
                .get_or_insert_with(|| Box::new(Wheel::new()))
                .push(key);
        } else {
            self.push_heap(key);
        }
    }

    /// [`EventQueue::push`] for a timer set for `after_us`: timers of one duration
    /// share a FIFO lane while their times do not go down. The order of events is
    /// the same as with `push`.
    pub fn push_timer(&mut self, at_us: u64, after_us: u64, event: E) -> Slot {
        let key = self.new_key(at_us, event);
        if at_us == self.now {
            self.immediate.push_back(key);
            return Slot(key.slot);
        }
        let lane = match self.lanes.iter().position(|l| l.after_us == after_us) {
            Some(i) => Some(i),
            None if self.lanes.len() < LANES => {
                self.lanes.push(Lane {
                    after_us,
                    keys: VecDeque::new(),
                });
                Some(self.lanes.len() - 1)
            }
            None => self
                .lanes
                .iter()
                .position(|l| l.keys.is_empty())
                .inspect(|&i| {
                    self.lanes[i].after_us = after_us;
                }),
        };
        let Some(i) = lane else {
            self.place(key);
            return Slot(key.slot);
        };
        let l = &mut self.lanes[i];
        match l.keys.back() {
            // Out of order for the lane (a clock with drift): the wheel or the heap.
            Some(b) if key.before(b) => {
                self.place(key);
            }
            Some(_) => {
                l.keys.push_back(key);
                self.in_lanes += 1;
            }
            None => {
                l.keys.push_back(key);
                self.in_lanes += 1;
                self.push_heap(Key {
                    lane: i as u8,
                    ..key
                });
            }
        }
        Slot(key.slot)
    }

    /// Cancels a pending event; returns it if it was still pending.
    pub fn cancel(&mut self, slot: Slot) -> Option<E> {
        let cell = self.cells.get_mut(slot.0 as usize)?;
        match std::mem::replace(cell, Cell::Cancelled) {
            Cell::Live(e) => {
                self.live -= 1;
                if !self.drop_lane_tail(slot.0) {
                    self.dead += 1;
                    if self.dead > 64 && self.dead > self.held() / 2 {
                        self.compact();
                    }
                }
                Some(e)
            }
            other => {
                *cell = other;
                None
            }
        }
    }

    /// If the just-cancelled `slot` is the last key of a timer lane and not its head,
    /// drops it (and any cancelled keys before it, down to the head): nothing else
    /// refers to them. Says whether it dropped `slot`.
    fn drop_lane_tail(&mut self, slot: u32) -> bool {
        let Some(l) = self
            .lanes
            .iter_mut()
            .find(|l| l.keys.len() > 1 && l.keys.back().is_some_and(|k| k.slot == slot))
        else {
            return false;
        };
        while l.keys.len() > 1 {
            let Some(&back) = l.keys.back() else { break };
            let cell = &mut self.cells[back.slot as usize];
            if !matches!(cell, Cell::Cancelled) {
                break;
            }
            *cell = Cell::Free;
            self.free.push(back.slot);
            l.keys.pop_back();
            self.in_lanes -= 1;
            if back.slot != slot {
                self.dead -= 1;
            }
        }
        true
    }

    /// Keys held anywhere, live or cancelled (a lane's head counted once).
    fn held(&self) -> usize {
        let in_heap_only =
            self.heap.len() - self.lanes.iter().filter(|l| !l.keys.is_empty()).count();
        in_heap_only
            + self.immediate.len()
            + self.in_lanes
            + self.wheel.as_ref().map_or(0, |w| w.len)
    }

    /// The earliest key (live or cancelled) and where it is.
    #[inline]
    fn first_at(&self) -> Option<(Key, Source)> {
        let mut best = self.heap.first().map(|k| (*k, Source::Heap));
        if let Some(w) = self.wheel.as_ref().and_then(|w| w.front) {
            if best.is_none_or(|(b, _)| w.before(&b)) {
                best = Some((w, Source::Wheel));
            }
        }
        if let Some(a) = self.immediate.front() {
            if best.is_none_or(|(b, _)| a.before(&b)) {
                best = Some((*a, Source::Immediate));
            }
        }
        best
    }

    /// Takes the earliest key, found by [`EventQueue::first_at`], off its structure.
    #[inline]
    fn take(&mut self, top: Key, source: Source) {
        match source {
            Source::Immediate => {
                self.immediate.pop_front();
            }
            Source::Wheel => {
                if let Some(w) = self.wheel.as_mut() {
                    w.pop_front();
                }
            }
            Source::Heap => {
                if top.lane != NO_LANE {
                    let l = &mut self.lanes[usize::from(top.lane)];
                    l.keys.pop_front();
                    self.in_lanes -= 1;
                    if let Some(&next) = l.keys.front() {
                        // The lane's next key takes the head's place: one sift, not two.
                        self.heap[0] = Key {
                            lane: top.lane,
                            ..next
                        };
                        self.sift_down(0);
                        return;
                    }
                }
                let last = self.heap.pop().expect("heap is not empty");
                if !self.heap.is_empty() {
                    self.heap[0] = last;
                    self.sift_down(0);
                }
            }
        }
    }

    /// Removes and returns the earliest live event with its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pop_until(u64::MAX)
    }

    /// Removes and returns the earliest live event with its time if that time is at
    /// most `end_us` (cancelled entries in front are discarded either way).
    #[inline]
    pub fn pop_until(&mut self, end_us: u64) -> Option<(u64, E)> {
        loop {
            let (top, source) = self.first_at()?;
            let cell = &mut self.cells[top.slot as usize];
            let live = matches!(cell, Cell::Live(_));
            if live && top.time > end_us {
                return None;
            }
            let cell = std::mem::replace(cell, Cell::Free);
            self.take(top, source);
            self.free.push(top.slot);
            match cell {
                Cell::Live(e) => {
                    self.live -= 1;
                    self.now = top.time;
                    return Some((top.time, e));
                }
                _ => self.dead -= 1,
            }
        }
    }

    /// Time of the earliest live event, discarding cancelled ones on top.
    pub fn peek_time(&mut self) -> Option<u64> {
        loop {
            let (top, source) = self.first_at()?;
            if matches!(self.cells[top.slot as usize], Cell::Live(_)) {
                return Some(top.time);
            }
            self.take(top, source);
            self.cells[top.slot as usize] = Cell::Free;
            self.free.push(top.slot);
            self.dead -= 1;
        }
    }

    /// Drops cancelled entries when they outnumber live ones, so long timers that are
    /// set and cancelled over and over cannot grow memory without bound. Amortised
    /// O(1) per cancellation; the order of live events is unchanged (it depends only
    /// on their keys).
    fn compact(&mut self) {
        let cells = &mut self.cells;
        let free = &mut self.free;
        let mut keep = |k: &Key| {
            if matches!(cells[k.slot as usize], Cell::Live(_)) {
                true
            } else {
                cells[k.slot as usize] = Cell::Free;
                free.push(k.slot);
                false
            }
        };
        // A lane's head is in the heap and in its lane: the lane decides for it.
        self.heap.retain(|k| k.lane == NO_LANE && keep(k));
        self.immediate.retain(&mut keep);
        if let Some(w) = self.wheel.as_mut() {
            w.retain(self.now, &mut keep);
        }
        self.in_lanes = 0;
        for (i, l) in self.lanes.iter_mut().enumerate() {
            l.keys.retain(&mut keep);
            self.in_lanes += l.keys.len();
            if let Some(&head) = l.keys.front() {
                self.heap.push(Key {
                    lane: i as u8,
                    ..head
                });
            }
        }
        self.dead = 0;
        for i in (0..self.heap.len().div_ceil(ARITY)).rev() {
            self.sift_down(i);
        }
    }

    #[inline]
    fn sift_up(&mut self, mut i: usize) {
        let heap = &mut self.heap[..];
        let item = heap[i];
        let order = item.order();
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if order >= heap[parent].order() {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = item;
    }

    fn sift_down(&mut self, mut i: usize) {
        let heap = &mut self.heap[..];
        let n = heap.len();
        let item = heap[i];
        let order = item.order();
        loop {
            let first = ARITY * i + 1;
            // The smallest child: the four compared as two pairs when all are there.
            let (child, child_order) = if let Some(&[a, b, c, d]) = heap.get(first..first + 4) {
                let (ab, oab) = if b.order() < a.order() {
                    (first + 1, b.order())
                } else {
                    (first, a.order())
                };
                let (cd, ocd) = if d.order() < c.order() {
                    (first + 3, d.order())
                } else {
                    (first + 2, c.order())
                };
                if ocd < oab {
                    (cd, ocd)
                } else {
                    (ab, oab)
                }
            } else if first < n {
                let mut child = first;
                let mut best = heap[first].order();
                for (c, k) in heap.iter().enumerate().take(n).skip(first + 1) {
                    if k.order() < best {
                        child = c;
                        best = k.order();
                    }
                }
                (child, best)
            } else {
                break;
            };
            if child_order >= order {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = item;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_fifo_order() {
        let mut q = EventQueue::new();
        q.push(5, "b");
        q.push(1, "a");
        q.push(5, "c");
        q.push(3, "x");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (3, "x"), (5, "b"), (5, "c")]);
        assert!(q.is_empty());
    }

    #[test]
    fn cancelled_events_are_skipped_and_slots_reused() {
        let mut q = EventQueue::new();
        let a = q.push(1, 'a');
        q.push(2, 'b');
        assert_eq!(q.cancel(a), Some('a'));
        assert_eq!(q.cancel(a), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.peek_time(), Some(2));
        assert_eq!(q.pop(), Some((2, 'b')));
        assert_eq!(q.pop(), None);
        q.push(9, 'c');
        assert!(q.cells.len() <= 2, "slots are reused");
    }

    #[test]
    fn heavy_cancellation_keeps_the_heap_small_and_the_order_right() {
        let mut q = EventQueue::new();
        let mut expected = Vec::new();
        for i in 0..10_000u64 {
            let s = q.push(1_000_000 + i, i);
            if i % 10 != 0 {
                q.cancel(s);
            } else {
                expected.push((1_000_000 + i, i));
            }
        }
        assert!(
            q.heap.len() <= 2 * q.len() + 65,
            "heap {} live {}",
            q.heap.len(),
            q.len()
        );
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn zero_delay_events_keep_time_then_fifo_order() {
        let mut q = EventQueue::new();
        q.push(0, "now-a");
        q.push(5, "later");
        q.push(0, "now-b");
        assert_eq!(q.pop(), Some((0, "now-a")));
        q.push(0, "now-c"); // scheduled while handling time 0
        assert_eq!(q.pop(), Some((0, "now-b")));
        assert_eq!(q.pop(), Some((0, "now-c")));
        assert_eq!(q.pop(), Some((5, "later")));
        q.push(5, "same-time");
        q.push(7, "after");
        assert_eq!(q.peek_time(), Some(5));
        assert_eq!(q.pop(), Some((5, "same-time")));
        assert_eq!(q.pop(), Some((7, "after")));
    }

    #[test]
    fn matches_a_sorted_reference() {
        let mut q = EventQueue::new();
        let mut reference = Vec::new();
        let mut x: u64 = 12345;
        for i in 0..2000u64 {
            x = crate::rng::mix64(x);
            let t = x % 97;
            q.push(t, i);
            reference.push((t, i));
        }
        reference.sort();
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, reference);
    }
    /// Timers in lanes, messages in the heap, cancellations (of heads, tails and
    /// middles), zero delays and compaction, against a sorted reference: the queue
    /// pops exactly the live events in (time, order of scheduling) order.
    #[test]
    fn timer_lanes_keep_the_order_of_a_sorted_reference() {
        use std::collections::BTreeMap;
        for round in 0..20u64 {
            let mut q = EventQueue::new();
            // (time, seq) -> (slot, value): what should still pop.
            let mut reference: BTreeMap<(u64, u64), (Slot, u64)> = BTreeMap::new();
            let mut seq = 0u64;
            let mut x: u64 = 99 + round;
            let mut now = 0u64;
            let mut popped = Vec::new();
            let mut expected = Vec::new();
            for i in 0..5000u64 {
                x = crate::rng::mix64(x);
                // Odd rounds cancel more than they schedule: compaction runs.
                let op = if round % 2 == 1 && x % 10 >= 3 && x % 10 <= 5 {
                    7
                } else {
                    x % 10
                };
                match op {
                    0..=3 => {
                        // Within the wheel, at its edge, and beyond it.
                        let w = WHEEL as u64;
                        let at = now
                            + [(x >> 8) % 50, w - 1, w, w + 1, (x >> 8) % (3 * w)]
                                [((x >> 20) % 5) as usize];
                        let s = q.push(at, i);
                        reference.insert((at, seq), (s, i));
                        seq += 1;
                    }
                    4..=6 => {
                        // A dozen durations: more than there are lanes.
                        let after = [0, 5, 30, 200, 7, 11, 13, 17, 19, 23, 29, 31]
                            [((x >> 8) % 12) as usize];
                        let at = now + after;
                        let s = q.push_timer(at, after, i);
                        reference.insert((at, seq), (s, i));
                        seq += 1;
                    }
                    7 | 8 => {
                        // Cancel a pending one (the latest or an early one).
                        let key = if x % 3 == 0 {
                            reference.keys().next_back().copied()
                        } else {
                            reference.keys().nth(((x >> 8) % 7) as usize).copied()
                        };
                        if let Some(k) = key {
                            let (s, v) = reference.remove(&k).expect("present");
                            assert_eq!(q.cancel(s), Some(v));
                            assert_eq!(q.cancel(s), None);
                        }
                    }
                    _ => {
                        let got = q.pop();
                        let want = reference.pop_first().map(|((t, _), (_, v))| (t, v));
                        assert_eq!(got, want, "round {round} step {i}");
                        if let Some((t, _)) = got {
                            now = t;
                        }
                    }
                }
                assert_eq!(q.len(), reference.len());
            }
            while let Some(e) = q.pop() {
                popped.push(e);
            }
            for ((t, _), (_, v)) in reference {
                expected.push((t, v));
            }
            assert_eq!(popped, expected, "round {round}");
            assert!(q.is_empty());
        }
    }

    /// A deadline set and cancelled for every request, with other timers set in
    /// between: the lanes drop the cancelled copies, the heap never fills with them.
    #[test]
    fn a_timer_set_and_cancelled_over_and_over_leaves_nothing_behind() {
        let mut q = EventQueue::new();
        let mut now = 0;
        for i in 0..10_000u64 {
            let deadline = q.push_timer(now + 60_000_000, 60_000_000, i);
            let vote = q.push_timer(now + 1_000_000, 1_000_000, i);
            q.push(now + 3, i);
            q.cancel(vote);
            q.cancel(deadline);
            now = q.pop().expect("the message").0;
        }
        assert!(q.is_empty());
        assert!(q.heap.len() <= 2, "heap {}", q.heap.len());
        assert!(q.cells.len() <= 8, "slab {}", q.cells.len());
    }
}
