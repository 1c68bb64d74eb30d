//! The event queue: a min-heap on `(time µs, sequence number)` over a slab of payloads.
//!
//! The heap moves only 16-byte keys; payloads (messages can be large) stay put in the
//! slab. The sequence number makes ties FIFO, so the order of events is a pure function
//! of the order in which they were scheduled. Cancelled entries are left in the heap
//! and skipped when popped (lazy deletion): cheaper than keeping heap positions.

/// An entry's place in the slab; used to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u32);

enum Cell<E> {
    Live(E),
    Cancelled,
    Free,
}

/// Time (µs) in the high bits, sequence number in the low bits of one `u128`
/// compares as fast as a single integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    order: u128,
    slot: u32,
}

pub struct EventQueue<E> {
    heap: Vec<Key>,
    cells: Vec<Cell<E>>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
    /// Cancelled entries still in the heap.
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

    pub fn push(&mut self, at_us: u64, event: E) -> Slot {
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
        self.heap.push(Key {
            order: (u128::from(at_us) << 64) | u128::from(seq),
            slot,
        });
        self.sift_up(self.heap.len() - 1);
        Slot(slot)
    }

    /// Cancels a pending event; returns it if it was still pending.
    pub fn cancel(&mut self, slot: Slot) -> Option<E> {
        let cell = self.cells.get_mut(slot.0 as usize)?;
        match std::mem::replace(cell, Cell::Cancelled) {
            Cell::Live(e) => {
                self.live -= 1;
                self.dead += 1;
                if self.dead > 64 && self.dead > self.heap.len() / 2 {
                    self.compact();
                }
                Some(e)
            }
            other => {
                *cell = other;
                None
            }
        }
    }

    /// Removes and returns the earliest live event with its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        loop {
            let top = *self.heap.first()?;
            let last = self.heap.pop().expect("heap is not empty");
            if !self.heap.is_empty() {
                self.heap[0] = last;
                self.sift_down(0);
            }
            let cell = std::mem::replace(&mut self.cells[top.slot as usize], Cell::Free);
            self.free.push(top.slot);
            match cell {
                Cell::Live(e) => {
                    self.live -= 1;
                    return Some(((top.order >> 64) as u64, e));
                }
                _ => self.dead -= 1,
            }
        }
    }

    /// Time of the earliest live event, discarding cancelled ones on top.
    pub fn peek_time(&mut self) -> Option<u64> {
        while let Some(top) = self.heap.first().copied() {
            if matches!(self.cells[top.slot as usize], Cell::Live(_)) {
                return Some((top.order >> 64) as u64);
            }
            let last = self.heap.pop().expect("heap is not empty");
            if !self.heap.is_empty() {
                self.heap[0] = last;
                self.sift_down(0);
            }
            self.cells[top.slot as usize] = Cell::Free;
            self.free.push(top.slot);
            self.dead -= 1;
        }
        None
    }

    /// Drops cancelled entries from the heap when they outnumber live ones, so long
    /// timers that are set and cancelled over and over cannot grow memory without
    /// bound. Amortised O(1) per cancellation; the order of live events is unchanged
    /// (it depends only on their keys).
    fn compact(&mut self) {
        let cells = &mut self.cells;
        let free = &mut self.free;
        self.heap.retain(|k| {
            if matches!(cells[k.slot as usize], Cell::Live(_)) {
                true
            } else {
                cells[k.slot as usize] = Cell::Free;
                free.push(k.slot);
                false
            }
        });
        self.dead = 0;
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let item = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent] <= item {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = item;
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        let item = self.heap[i];
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.heap[right] < self.heap[left] {
                right
            } else {
                left
            };
            if self.heap[child] >= item {
                break;
            }
            self.heap[i] = self.heap[child];
            i = child;
        }
        self.heap[i] = item;
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
}
