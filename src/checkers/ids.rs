//! The global-id checks (protocol `ids`), judged from observations only.
//!
//! The checker keeps every id issued with the request it went to, so that it can
//! tell a **duplicate id** (an id issued again, for a different request) from a
//! resend; per generator, the last id it issued (a **non-monotonic** id is lower
//! than or equal to its generator's previous one); and the highest id issued by
//! anyone (an id below it is **out of global order**: block allocation orders ids
//! only per generator). From the sequence database's grants and the generators'
//! uptake of them it counts **gaps**: ids of a block that was given up (a restart,
//! a lost or duplicated grant) and never issued. From the orders table it counts
//! real orders dropped as duplicates, and at the end the orders a generator
//! accepted that the table lacks (**lost orders**), and those reconciliation found.
//!
//! Memory: one map entry per id issued and per order accepted or recorded (as long
//! as the run), one per block granted.

use crate::node::{NodeId, TxnId};
use crate::observe::IdEvent;
use std::collections::{BTreeMap, BTreeSet};

/// A block of ids the sequence database granted.
#[derive(Clone, Debug)]
struct Block {
    to: u64,
    issued: u64,
}

/// The checker's state during a run.
#[derive(Clone, Debug, Default)]
pub struct IdsChecks {
    /// Each id issued: the request it went to first.
    ids: BTreeMap<u64, TxnId>,
    /// Each generator's last id.
    last: BTreeMap<NodeId, u64>,
    highest: Option<u64>,
    /// Blocks granted, by first id.
    blocks: BTreeMap<u64, Block>,
    /// Each generator's block in use (by first id).
    current: BTreeMap<NodeId, u64>,
    accepted: BTreeSet<TxnId>,
    recorded: BTreeSet<TxnId>,
    /// Orders dropped as duplicates (each once, however often it was resent).
    dropped: BTreeSet<TxnId>,
    /// Lost orders reconciliation reported (each once).
    found: BTreeSet<TxnId>,
    counts: IdsCounts,
}

/// The counts, once the run is over ([`IdsChecks::finish`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdsCounts {
    pub issued: u64,
    pub duplicate_ids: u64,
    pub non_monotonic: u64,
    pub out_of_global_order: u64,
    pub blocks: u64,
    pub gaps: u64,
    pub refused: u64,
    pub waited: u64,
    pub waited_us_max: u64,
    pub sequence_waits: u64,
    pub lease_writes: u64,
    pub recorded: u64,
    pub dropped_real: u64,
    pub second_ids: u64,
    pub accepted: u64,
    pub lost_orders: u64,
    pub lost_found: u64,
}

impl IdsChecks {
    /// `node` reported `event` about request `txn`.
    pub fn observe(&mut self, node: NodeId, txn: TxnId, event: IdEvent) {
        let c = &mut self.counts;
        match event {
            IdEvent::Issued { id } => {
                c.issued += 1;
                match self.ids.get(&id) {
                    Some(&first) if first != txn => c.duplicate_ids += 1,
                    Some(_) => {}
                    None => {
                        self.ids.insert(id, txn);
                    }
                }
                if self.last.get(&node).is_some_and(|&l| id <= l) {
                    c.non_monotonic += 1;
                }
                self.last.insert(node, id);
                if self.highest.is_some_and(|h| id < h) {
                    c.out_of_global_order += 1;
                }
                self.highest = Some(self.highest.map_or(id, |h| h.max(id)));
                if let Some((_, b)) = self.blocks.range_mut(..=id).next_back() {
                    if id < b.to {
                        b.issued += 1;
                    }
                }
            }
            IdEvent::BlockGranted { from, to, .. } => {
                c.blocks += 1;
                self.blocks.insert(from, Block { to, issued: 0 });
            }
            IdEvent::BlockTaken { from, .. } => {
                self.current.insert(node, from);
            }
            IdEvent::Refused => c.refused += 1,
            IdEvent::Lease { .. } => c.lease_writes += 1,
            IdEvent::Waited { us, sequence } => {
                if sequence {
                    c.sequence_waits += 1;
                } else {
                    c.waited += 1;
                    c.waited_us_max = c.waited_us_max.max(us);
                }
            }
            IdEvent::Recorded { .. } => {
                c.recorded += 1;
                self.recorded.insert(txn);
            }
            IdEvent::DroppedReal { .. } => {
                if self.dropped.insert(txn) {
                    c.dropped_real += 1;
                }
            }
            IdEvent::SecondId { .. } => {
                c.second_ids += 1;
                self.recorded.insert(txn);
            }
            IdEvent::Accepted { .. } => {
                if self.accepted.insert(txn) {
                    c.accepted += 1;
                }
            }
            IdEvent::LostFound => {
                if self.found.insert(txn) {
                    c.lost_found += 1;
                }
            }
        }
    }

    /// The counts at the end: gaps are the unissued ids of every block no generator
    /// still has in use; lost orders, the accepted ones the table lacks.
    pub fn finish(&self) -> IdsCounts {
        let mut c = self.counts.clone();
        let in_use: BTreeSet<u64> = self.current.values().copied().collect();
        c.gaps = self
            .blocks
            .iter()
            .filter(|(from, _)| !in_use.contains(from))
            .map(|(from, b)| (b.to - from).saturating_sub(b.issued))
            .sum();
        c.lost_orders = self.accepted.difference(&self.recorded).count() as u64;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_order_and_gaps_are_told_apart() {
        let (g0, g1, seq) = (NodeId(2), NodeId(3), NodeId(0));
        let mut k = IdsChecks::default();
        let issued = |k: &mut IdsChecks, n, txn, id| k.observe(n, txn, IdEvent::Issued { id });
        // Blocks [1, 11) to g0 and [11, 21) to g1.
        for (gen, from) in [(g0, 1), (g1, 11)] {
            let to = from + 10;
            k.observe(seq, 0, IdEvent::BlockGranted { gen, from, to });
            k.observe(gen, 0, IdEvent::BlockTaken { from, to });
        }
        issued(&mut k, g0, 1, 1);
        issued(&mut k, g1, 2, 11);
        issued(&mut k, g0, 3, 2); // below 11: out of global order, fine per node
                                  // g0 restarts and takes [21, 31): 8 ids of [1, 11) are a gap.
        k.observe(
            seq,
            0,
            IdEvent::BlockGranted {
                gen: g0,
                from: 21,
                to: 31,
            },
        );
        k.observe(g0, 0, IdEvent::BlockTaken { from: 21, to: 31 });
        issued(&mut k, g0, 4, 21);
        issued(&mut k, g1, 5, 11); // a duplicate, and g1 went backwards
        let c = k.finish();
        assert_eq!((c.issued, c.duplicate_ids, c.non_monotonic), (5, 1, 1));
        assert_eq!(c.out_of_global_order, 2);
        assert_eq!(c.gaps, 8);
        assert_eq!(c.blocks, 3);
    }

    #[test]
    fn an_accepted_order_the_table_lacks_is_lost() {
        let mut k = IdsChecks::default();
        let (g, o) = (NodeId(1), NodeId(2));
        k.observe(o, 7, IdEvent::Recorded { id: 100 });
        k.observe(o, 8, IdEvent::DroppedReal { id: 100, holder: 7 });
        k.observe(o, 8, IdEvent::DroppedReal { id: 100, holder: 7 }); // resent
        k.observe(g, 7, IdEvent::Accepted { id: 100 });
        k.observe(g, 8, IdEvent::Accepted { id: 100 });
        k.observe(o, 8, IdEvent::LostFound);
        let c = k.finish();
        assert_eq!((c.accepted, c.recorded, c.dropped_real), (2, 1, 1));
        assert_eq!((c.lost_orders, c.lost_found), (1, 1));
    }
}
