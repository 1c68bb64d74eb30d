//! Counters of TCC's fence events (DESIGN §6 "TCC anomalies"), fed by the checkers
//! with every [`Observation::Tcc`] and [`Observation::Repair`]. Observe only.

use crate::node::TxnId;
use crate::observe::{Observation, RepairClass, TccEvent};
use serde::Serialize;
use std::collections::BTreeSet;

/// The report's `tcc` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TccCounts {
    /// Repeated Confirms or Cancels applied again (idempotency guard off).
    pub duplicate_applied: u64,
    /// Cancels of branches that never tried that released something (empty-rollback
    /// guard off).
    pub empty_rollback_applied: u64,
    /// Tries that reserved after their Cancel (anti-hanging guard off).
    pub hanging_reservations: u64,
    /// Transactions whose Cancel reached only some participants at a retry.
    pub partial_compensation: u64,
    /// Of those, the ones still not compensated everywhere at the end: an operator
    /// must finish them.
    pub partial_compensation_unfixed: u64,
    /// The guards at work: repeated Confirms/Cancels recognised and ignored...
    pub duplicates_ignored: u64,
    /// ...empty rollbacks recorded without effect...
    pub empty_rollbacks_recorded: u64,
    /// ...and Tries refused because their Cancel came first.
    pub late_tries_refused: u64,
}

/// Running state: the counts and the partial compensations not yet repaired.
#[derive(Clone, Debug, Default)]
pub struct TccChecks {
    counts: TccCounts,
    open_partial: BTreeSet<TxnId>,
}

impl TccChecks {
    pub fn observe(&mut self, obs: &Observation) {
        match *obs {
            Observation::Tcc { txn, event } => {
                let c = &mut self.counts;
                match event {
                    TccEvent::DuplicateApplied => c.duplicate_applied += 1,
                    TccEvent::EmptyRollbackApplied => c.empty_rollback_applied += 1,
                    TccEvent::EmptyRollbackRecorded => c.empty_rollbacks_recorded += 1,
                    TccEvent::HangingReservation => c.hanging_reservations += 1,
                    TccEvent::LateTryRefused => c.late_tries_refused += 1,
                    TccEvent::DuplicateIgnored => c.duplicates_ignored += 1,
                    TccEvent::PartialCompensation => {
                        if self.open_partial.insert(txn) {
                            c.partial_compensation += 1;
                        }
                    }
                }
            }
            Observation::Repair {
                txn,
                class: RepairClass::Automatic,
            } => {
                self.open_partial.remove(&txn);
            }
            _ => {}
        }
    }

    pub fn finish(&self) -> TccCounts {
        TccCounts {
            partial_compensation_unfixed: self.open_partial.len() as u64,
            ..self.counts.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_compensation_is_unfixed_until_repaired() {
        let mut t = TccChecks::default();
        let partial = |txn| Observation::Tcc {
            txn,
            event: TccEvent::PartialCompensation,
        };
        t.observe(&partial(1));
        t.observe(&partial(1)); // seen again at a later retry: still one
        t.observe(&partial(2));
        t.observe(&Observation::Repair {
            txn: 1,
            class: RepairClass::Automatic,
        });
        let c = t.finish();
        assert_eq!(c.partial_compensation, 2);
        assert_eq!(c.partial_compensation_unfixed, 1);
    }
}
