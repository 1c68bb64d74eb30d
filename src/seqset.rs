//! `SeqSet`: an exact set of the sequence numbers of one message stream (one producer
//! to one consumer), kept as a watermark and ranges, so that it stays small without
//! forgetting anything. The messaging protocol keeps its dedupe and archive state in
//! them (and re-exports the type); the messaging checker its settled messages.
//!
//! Every message a producer sends to a consumer gets the next number of that stream,
//! in the durable write that commits the producer to sending it (the outbox row, the
//! local commit). The numbers are dense: 0, 1, 2, ... with none skipped on purpose.
//! A broker or a consumer that records which numbers it has finished can then say
//! *exactly* whether a copy arriving now is one it has finished, however late the
//! copy is: every number below the watermark is finished, and above it the finished
//! numbers form a few ranges. This is how Kafka's idempotent producer (producer id and
//! sequence number per partition) and TCP's receive window tell an old segment from a
//! new one, without a time bound on the network.
//!
//! **Size.** One range per run of finished numbers above the watermark, so at most one
//! per gap; a gap holds a number not finished yet — a message still in an outbox, in
//! the queue or on its way — or one an unsafe variant lost in a crash and will never
//! send. So the set is never larger than the messages in flight plus those losses,
//! however many messages the stream carried: flat in the number of transactions. A
//! number is never dropped from the set, so nothing "older than the window" exists.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqSet {
    /// Every number below this is in the set.
    floor: u64,
    /// Ranges `[start, end)` of numbers in the set, all above `floor`, disjoint and
    /// not adjacent (adjacent ranges are merged), keyed by start.
    ranges: BTreeMap<u64, u64>,
}

impl SeqSet {
    pub fn contains(&self, n: u64) -> bool {
        n < self.floor
            || self
                .ranges
                .range(..=n)
                .next_back()
                .is_some_and(|(_, &end)| n < end)
    }

    /// Adds `n`; `false` if it was in the set already.
    pub fn insert(&mut self, n: u64) -> bool {
        if self.contains(n) {
            return false;
        }
        // Merge with a range ending just below `n` and one starting just above.
        let mut start = n;
        let mut end = n + 1;
        if let Some((&s, &e)) = self.ranges.range(..n).next_back() {
            if e == n {
                start = s;
                self.ranges.remove(&s);
            }
        }
        if let Some(e) = self.ranges.remove(&end) {
            end = e;
        }
        if start == self.floor {
            self.floor = end;
        } else {
            self.ranges.insert(start, end);
        }
        true
    }

    /// The watermark: every number below it is in the set.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The ranges kept above the watermark: the set's size in memory.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        /// Behaves like a set, whatever the order of the numbers, and keeps one range
        /// per gap at most.
        #[test]
        fn behaves_like_a_btreeset(ops in prop::collection::vec(0u64..400, 1..600)) {
            let mut s = SeqSet::default();
            let mut reference = BTreeSet::new();
            for n in ops {
                prop_assert_eq!(s.insert(n), reference.insert(n));
                prop_assert!(s.contains(n));
                let top = reference.iter().next_back().copied().unwrap_or(0);
                let missing = (0..top).filter(|k| !reference.contains(k)).count();
                prop_assert!(s.ranges() <= missing, "{} ranges, {} gaps", s.ranges(), missing);
            }
            for n in 0..420 {
                prop_assert_eq!(s.contains(n), reference.contains(&n), "{}", n);
            }
        }
    }

    #[test]
    fn a_stream_finished_in_order_is_one_number() {
        let mut s = SeqSet::default();
        for n in 0..100_000 {
            assert!(s.insert(n));
        }
        assert!(!s.insert(5), "an old copy is recognised, however old");
        assert_eq!(s.ranges(), 0);
        assert!(s.contains(99_999) && !s.contains(100_000));
    }

    #[test]
    fn one_stuck_message_costs_one_range() {
        let mut s = SeqSet::default();
        s.insert(0);
        // Number 1 is stuck (its outbox row cannot reach the broker); 2.. finish.
        for n in 2..50_000 {
            s.insert(n);
        }
        assert_eq!(s.ranges(), 1);
        assert!(!s.contains(1));
        assert!(
            s.insert(1),
            "the stuck one arrives at last: new, not a repeat"
        );
        assert_eq!(s.ranges(), 0);
        assert!(s.contains(49_999));
    }
}
