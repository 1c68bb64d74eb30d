//! What the checkers remember of one transaction: who it spans, who voted yes, who
//! applied which outcome, which outcomes were decided. One record for all three
//! readers — the run checkers ([`super::Checks`]), the exhaustive explorer's state
//! ([`crate::exhaustive::world`]) and the user harness's view of a run
//! ([`crate::testing::Run::txns`]) — so they agree on what an observation means.

use crate::node::{NodeId, NodeSet, Outcome, TxnId};
use crate::observe::Observation;
use std::collections::{BTreeMap, BTreeSet};

/// The facts about one transaction that its observations establish.
///
/// The explorer hashes it into every state's fingerprint: the fields, their order and
/// their types are part of the state counts the tests expect, so keep them as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxnRecord {
    /// As the latest `TxnBegun` named them.
    pub participants: NodeSet,
    /// Voted yes (prepared, pre-committed, tried).
    pub prepared: NodeSet,
    pub applied_commit: NodeSet,
    pub applied_abort: NodeSet,
    /// Some node decided Commit / Abort (a coordinator, a terminator, a participant
    /// deciding alone).
    pub decided_commit: bool,
    pub decided_abort: bool,
}

impl TxnRecord {
    /// The transaction `obs` tells a record about, if it is one a record folds in
    /// (begun, prepared, decided, applied).
    #[inline]
    pub fn about(obs: &Observation) -> Option<TxnId> {
        match *obs {
            Observation::TxnBegun { txn, .. }
            | Observation::Prepared { txn }
            | Observation::Decided { txn, .. }
            | Observation::Applied { txn, .. }
            | Observation::Resolved { txn, .. } => Some(txn),
            _ => None,
        }
    }

    /// Folds what `node` observed into the record. A compensation is not folded in:
    /// only the run checkers, which judge a saga by its end, count it (see
    /// [`TxnRecord::compensate`]); the explorer and the harness judge every outcome
    /// applied as final.
    #[inline]
    pub fn apply(&mut self, node: NodeId, obs: &Observation) {
        match *obs {
            Observation::TxnBegun { participants, .. } => self.begin(participants),
            Observation::Prepared { .. } => self.prepare(node),
            Observation::Decided { outcome, .. } => self.decide(outcome),
            Observation::Applied { outcome, .. } | Observation::Resolved { outcome, .. } => {
                self.applied(node, outcome)
            }
            _ => {}
        }
    }

    // The facts one by one, for a caller that has matched the observation already
    // (the run checkers' hot path): `apply` is made of them.

    /// A coordinator began the transaction over `participants`.
    #[inline]
    pub fn begin(&mut self, participants: NodeSet) {
        self.participants = participants;
    }

    /// `node` voted yes.
    #[inline]
    pub fn prepare(&mut self, node: NodeId) {
        self.prepared.insert(node);
    }

    /// Some node decided `outcome`.
    #[inline]
    pub fn decide(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Commit => self.decided_commit = true,
            Outcome::Abort => self.decided_abort = true,
        }
    }

    /// `node` made `outcome` final for its part.
    #[inline]
    pub fn applied(&mut self, node: NodeId, outcome: Outcome) {
        match outcome {
            Outcome::Commit => self.applied_commit.insert(node),
            Outcome::Abort => self.applied_abort.insert(node),
        }
    }

    /// `node` undid the part it had applied: its part now counts as aborted.
    #[inline]
    pub fn compensate(&mut self, node: NodeId) {
        self.applied_commit.remove(node);
        self.applied_abort.insert(node);
    }

    /// Commit and Abort both happened to this transaction, decided or applied: a
    /// decision counts as an outcome, so a client told Commit while every participant
    /// aborted is split too.
    #[inline]
    pub fn split(&self) -> bool {
        (self.decided_commit || !self.applied_commit.is_empty())
            && (self.decided_abort || !self.applied_abort.is_empty())
    }

    /// Some node applied commit while another applied abort (atomicity broken).
    pub fn applied_both_ways(&self) -> bool {
        !self.applied_commit.is_empty() && !self.applied_abort.is_empty()
    }

    /// Decided both commit and abort (agreement broken).
    pub fn decided_both_ways(&self) -> bool {
        self.decided_commit && self.decided_abort
    }

    /// The outcomes decided, as a set (the harness's `TxnView` had this field).
    pub fn decided(&self) -> BTreeSet<Outcome> {
        let mut s = BTreeSet::new();
        if self.decided_commit {
            s.insert(Outcome::Commit);
        }
        if self.decided_abort {
            s.insert(Outcome::Abort);
        }
        s
    }

    /// The nodes that applied an outcome, either one.
    #[inline]
    pub fn resolved(&self) -> NodeSet {
        self.applied_commit.union(self.applied_abort)
    }

    /// The nodes that voted yes and have applied no outcome yet.
    pub fn in_doubt(&self) -> NodeSet {
        let resolved = self.resolved();
        self.prepared
            .iter()
            .filter(|n| !resolved.contains(*n))
            .collect()
    }

    /// Begun over some participants, and committed at every one of them.
    pub fn committed_everywhere(&self) -> bool {
        !self.participants.is_empty() && self.applied_commit.is_superset(self.participants)
    }

    /// Begun over some participants, and aborted at every one of them.
    pub fn aborted_everywhere(&self) -> bool {
        !self.participants.is_empty() && self.applied_abort.is_superset(self.participants)
    }
}

/// Folds `obs` into its transaction's record in `txns`, creating the record only for an
/// observation a record folds in: a transaction seen only in others (requested,
/// answered, finished) gets no entry — the explorer hashes the map, so an empty entry
/// would tell apart states that are the same.
pub fn remember(txns: &mut BTreeMap<TxnId, TxnRecord>, node: NodeId, obs: &Observation) {
    if let Some(txn) = TxnRecord::about(obs) {
        txns.entry(txn).or_default().apply(node, obs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{Hash, Hasher};

    fn set(ids: &[u32]) -> NodeSet {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    /// The record hashes as the explorer's memory always did (that struct, with these
    /// fields in this order, deriving `Hash`), so state fingerprints and counts stay put.
    #[test]
    fn hashes_as_the_explorers_memory_did() {
        #[derive(Hash)]
        struct TxnMemory {
            participants: NodeSet,
            prepared: NodeSet,
            applied_commit: NodeSet,
            applied_abort: NodeSet,
            decided_commit: bool,
            decided_abort: bool,
        }
        fn digest(t: &impl Hash) -> u64 {
            let mut h = crate::engine::digest::Digest::default();
            t.hash(&mut h);
            h.finish()
        }
        let r = TxnRecord {
            participants: set(&[1, 2]),
            prepared: set(&[1]),
            applied_commit: set(&[2]),
            applied_abort: set(&[]),
            decided_commit: true,
            decided_abort: false,
        };
        let old = TxnMemory {
            participants: r.participants,
            prepared: r.prepared,
            applied_commit: r.applied_commit,
            applied_abort: r.applied_abort,
            decided_commit: r.decided_commit,
            decided_abort: r.decided_abort,
        };
        assert_eq!(digest(&r), digest(&old));
        assert_ne!(digest(&r), digest(&TxnRecord::default()));
    }

    #[test]
    fn folds_only_its_observations_and_judges_a_decision_as_an_outcome() {
        let mut m = BTreeMap::new();
        remember(&mut m, NodeId(0), &Observation::Requested { txn: 1 });
        remember(&mut m, NodeId(0), &Observation::Finished { txn: 1 });
        assert!(m.is_empty(), "no record for requests and ends");
        let begun = Observation::TxnBegun {
            txn: 1,
            participants: set(&[1, 2]),
        };
        remember(&mut m, NodeId(0), &begun);
        remember(&mut m, NodeId(1), &Observation::Prepared { txn: 1 });
        remember(&mut m, NodeId(2), &Observation::Prepared { txn: 1 });
        let decided = Observation::Decided {
            txn: 1,
            outcome: Outcome::Commit,
        };
        remember(&mut m, NodeId(0), &decided);
        let r = m[&1];
        assert!(!r.split());
        assert_eq!(r.in_doubt(), set(&[1, 2]));
        let abort = Observation::applied_at_once(1, Outcome::Abort, 0);
        remember(&mut m, NodeId(1), &abort);
        let r = m[&1];
        assert!(r.split() && !r.applied_both_ways() && !r.decided_both_ways());
        assert_eq!(r.in_doubt(), set(&[2]));
        assert_eq!(r.decided(), [Outcome::Commit].into_iter().collect());
    }

    #[test]
    fn a_compensation_moves_a_part_from_commit_to_abort() {
        let mut r = TxnRecord::default();
        r.apply(
            NodeId(1),
            &Observation::applied_at_once(1, Outcome::Commit, 0),
        );
        r.compensate(NodeId(1));
        assert_eq!((r.applied_commit, r.applied_abort), (set(&[]), set(&[1])));
        assert!(!r.split(), "undone is not split");
    }
}
