//! The BASE checkers (DESIGN §6): how long transactions take to reach a consistent end
//! after a fault heals, and the transient anomalies a reader could see meanwhile.
//!
//! Fed by [`crate::checkers::Checks`] from the generic observations
//! [`Observation::Consistent`](crate::observe::Observation::Consistent),
//! [`AnomalyBegan`](crate::observe::Observation::AnomalyBegan) /
//! [`AnomalyEnded`](crate::observe::Observation::AnomalyEnded) and the
//! [`Unfinished`](crate::observe::AuditItem::Unfinished) audit, so any protocol that
//! reports them (saga, reliable messaging, ...) is measured the same way. Memory is
//! bounded by the anomalies open at once, not by the run's length.

use crate::faults::FaultAction;
use crate::node::TxnId;
use crate::stats::Histogram;
use std::collections::BTreeMap;

/// The running state.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// Virtual time of the latest healing fault action (a restart or the end of a cut).
    last_heal_us: Option<u64>,
    time_to_consistent: Histogram,
    time_to_consistent_max_us: u64,
    consistent: u64,
    /// Anomalies visible now: since when.
    open: BTreeMap<TxnId, u64>,
    anomalies: u64,
    anomaly_us_total: u64,
    anomaly_us_max: u64,
}

/// What the tracker concluded (µs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Transactions that reported reaching a consistent end.
    pub consistent: u64,
    pub time_to_consistent_p50_us: u64,
    pub time_to_consistent_p90_us: u64,
    pub time_to_consistent_p99_us: u64,
    pub time_to_consistent_max_us: u64,
    /// Anomaly episodes that began (ended or not).
    pub anomalies: u64,
    /// Total and longest duration of the episodes that ended.
    pub anomaly_us_total: u64,
    pub anomaly_us_max: u64,
    /// Episodes still visible at the end of the run.
    pub anomalies_open_at_end: u64,
    /// Transactions a coordinator still holds unfinished at the end.
    pub unfinished_at_end: u64,
}

impl Tracker {
    pub fn fault(&mut self, at_us: u64, action: &FaultAction) {
        if matches!(action, FaultAction::Restart(_) | FaultAction::CutEnd(_)) {
            self.last_heal_us = Some(at_us);
        }
    }

    /// `txn` became consistent at `at_us`, `age_us` after it began: the time to
    /// consistency counts from the later of its start and the last fault healing.
    pub fn consistent(&mut self, at_us: u64, age_us: u64) {
        let began = at_us.saturating_sub(age_us);
        let from = self.last_heal_us.map_or(began, |h| h.max(began));
        let d = at_us.saturating_sub(from);
        self.time_to_consistent.record(d);
        self.time_to_consistent_max_us = self.time_to_consistent_max_us.max(d);
        self.consistent += 1;
    }

    pub fn anomaly_began(&mut self, at_us: u64, txn: TxnId) {
        if let std::collections::btree_map::Entry::Vacant(e) = self.open.entry(txn) {
            e.insert(at_us);
            self.anomalies += 1;
        }
    }

    /// Closes `txn`'s visible anomaly; returns how long it was visible.
    pub fn anomaly_ended(&mut self, at_us: u64, txn: TxnId) -> Option<u64> {
        let since = self.open.remove(&txn)?;
        let d = at_us.saturating_sub(since);
        self.anomaly_us_total += d;
        self.anomaly_us_max = self.anomaly_us_max.max(d);
        Some(d)
    }

    pub fn finish(&self, unfinished_at_end: u64) -> Summary {
        let h = &self.time_to_consistent;
        Summary {
            consistent: self.consistent,
            time_to_consistent_p50_us: h.quantile(0.50),
            time_to_consistent_p90_us: h.quantile(0.90),
            time_to_consistent_p99_us: h.quantile(0.99),
            time_to_consistent_max_us: self.time_to_consistent_max_us,
            anomalies: self.anomalies,
            anomaly_us_total: self.anomaly_us_total,
            anomaly_us_max: self.anomaly_us_max,
            anomalies_open_at_end: self.open.len() as u64,
            unfinished_at_end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeId;

    #[test]
    fn time_to_consistency_counts_from_the_later_of_start_and_heal() {
        let mut t = Tracker::default();
        t.consistent(100, 30); // began at 70, no fault: 30
        t.fault(150, &FaultAction::Crash(NodeId(0)));
        t.fault(200, &FaultAction::Restart(NodeId(0)));
        t.consistent(260, 200); // began at 60, healed at 200: 60
        t.consistent(300, 50); // began at 250, after the heal: 50
        let s = t.finish(0);
        assert_eq!(s.consistent, 3);
        assert_eq!(s.time_to_consistent_p50_us, 50);
        assert_eq!(s.time_to_consistent_max_us, 60);
    }

    #[test]
    fn anomalies_are_episodes_with_durations() {
        let mut t = Tracker::default();
        t.anomaly_began(10, 1);
        t.anomaly_began(12, 1); // already open: the first beginning counts
        t.anomaly_ended(30, 1);
        t.anomaly_ended(31, 1); // not open: ignored
        t.anomaly_began(40, 2);
        t.anomaly_ended(45, 2);
        t.anomaly_began(50, 3);
        let s = t.finish(1);
        assert_eq!(s.anomalies, 3);
        assert_eq!(s.anomaly_us_total, 25);
        assert_eq!(s.anomaly_us_max, 20);
        assert_eq!(s.anomalies_open_at_end, 1);
        assert_eq!(s.unfinished_at_end, 1);
    }
}
