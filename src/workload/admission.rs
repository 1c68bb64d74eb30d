//! Request admission: a coordinator begins each client request at most once, across
//! its own crashes.
//!
//! The network may deliver a copy of a request long after the first, and a
//! coordinator that restarts has lost its volatile memory of what it began. Beginning
//! an old request again makes a second instance of a transaction whose first instance
//! may already be decided: a still-prepared participant votes yes again, a stale vote
//! from the first instance counts, and a transaction aborted at one participant
//! commits at another. Gray & Lamport's transaction instance must be unique, so the
//! coordinator must *know* whether it began a request, not guess.
//!
//! The rule is the incarnation check of at-most-once RPC (Birrell & Nelson,
//! "Implementing Remote Procedure Calls", TOCS 1984; Liskov, Shrira & Wroclawski,
//! "Efficient at-most-once messages based on synchronized clocks", TOCS 1991):
//! - The coordinator keeps a durable bound `reserved_to` above every request id it has
//!   begun, advanced in blocks (one forced write per [`BLOCK`] requests, not one per
//!   request, so presumed abort keeps its cheap begin).
//! - When it recovers, everything below that bound becomes the `floor`: a request
//!   below the floor may have been begun by the previous incarnation, so it is not
//!   begun again but answered [`Verdict::Stale`] — "I cannot tell; ask with a newer
//!   id". The client then moves its ids above the floor and carries on; the request
//!   gets no definite answer (an honest "unknown", never a guessed outcome).
//! - Above the floor, a window of recent ids (volatile, [`RecentIds`]) catches the
//!   copies of requests begun in this incarnation. An id older than the window is
//!   *forgotten*, and is answered stale as well rather than presumed new or seen.
//!
//! One client node issues the ids (its own durable blocks keep them unique across
//! its restarts), so one floor serves the whole world.

use crate::idmap::{Recall, RecentIds};
use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::workload::ClientWorld;

/// Request ids reserved per durable write.
pub const BLOCK: u64 = 1024;

/// The durable part: survives the coordinator's crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AdmissionLog {
    /// Requests below this id were possibly begun by an earlier incarnation.
    pub floor: TxnId,
    /// Every request id begun so far is below this.
    pub reserved_to: TxnId,
}

/// The volatile part: the requests begun in this incarnation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Admission {
    recent: RecentIds,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Never begun: begin it. If `persist` is `Some`, write it to the log first (in
    /// the same handler, before anything about the request is sent).
    New { persist: Option<AdmissionLog> },
    /// A copy of a request begun in this incarnation: ignore it.
    Duplicate,
    /// Possibly begun by an earlier incarnation, or too old to tell: do not begin it;
    /// tell the client to use ids from `floor` on.
    Stale { floor: TxnId },
}

impl AdmissionLog {
    /// A coordinator's log as installed: its first block of ids already reserved
    /// (set up with the system, as the participants' balances are), so a run's first
    /// requests cost no forced write.
    pub fn installed() -> Self {
        AdmissionLog {
            floor: 0,
            reserved_to: BLOCK,
        }
    }
}

impl Admission {
    /// The verdict on request `txn`, given the durable log. A `New` verdict records
    /// the request as begun.
    pub fn admit(&mut self, txn: TxnId, log: &AdmissionLog) -> Verdict {
        if txn < log.floor {
            return Verdict::Stale { floor: log.floor };
        }
        match self.recent.recall(txn) {
            Recall::Seen => Verdict::Duplicate,
            Recall::Forgotten => Verdict::Stale {
                floor: log.floor.max(txn.saturating_add(1)),
            },
            Recall::Unseen => {
                self.recent.insert(txn);
                let persist = (txn >= log.reserved_to).then(|| AdmissionLog {
                    reserved_to: txn.saturating_add(1).saturating_add(BLOCK),
                    ..*log
                });
                Verdict::New { persist }
            }
        }
    }

    /// Marks `txn` begun in this incarnation (a recovering coordinator re-enters what
    /// its log shows in progress, so their copies count as duplicates).
    pub fn note_begun(&mut self, txn: TxnId) {
        self.recent.insert(txn);
    }

    /// The log after a restart: everything reserved before becomes the floor. The
    /// caller persists it (one forced write per recovery).
    pub fn recovered(log: &AdmissionLog) -> AdmissionLog {
        AdmissionLog {
            floor: log.reserved_to.max(log.floor),
            reserved_to: log.reserved_to.max(log.floor),
        }
    }
}

/// A world whose nodes can tell a client "cannot tell; use ids from `floor`" (see
/// [`Verdict::Stale`]).
pub trait AnswersStale: Node {
    fn stale_msg(txn: TxnId, floor: TxnId) -> Self::Msg;
}

/// Whether a participant should apply request `txn` from `client`, given what its
/// window of recent ids recalls of it: a copy of one it applied is ignored, and one
/// older than the window ([`Recall::Forgotten`]) is answered stale — the node cannot
/// tell whether it applied it, so it neither applies it again nor drops it without
/// a word (the client moves its ids past it).
pub fn is_new_request<N: AnswersStale>(
    recall: Recall,
    txn: TxnId,
    client: NodeId,
    ctx: &mut Ctx<'_, N>,
) -> bool {
    match recall {
        Recall::Unseen => true,
        Recall::Seen => false,
        Recall::Forgotten => {
            ctx.send(client, N::stale_msg(txn, txn.saturating_add(1)));
            false
        }
    }
}

/// A world whose coordinator admits client requests through [`Admission`]: where
/// its log lives in the durable store, and how it answers the client.
pub trait AdmittingWorld: ClientWorld + AnswersStale {
    fn admission_log(d: &Self::Durable) -> &AdmissionLog;
    fn set_admission_log(d: &mut Self::Durable, log: AdmissionLog);
    /// A definite answer.
    fn reply_msg(txn: TxnId, outcome: Outcome) -> Self::Msg;

    /// The durable store the coordinator starts with: its log as installed
    /// ([`AdmissionLog::installed`]), the rest empty.
    fn tm_durable() -> Self::Durable {
        let mut d = Self::Durable::default();
        Self::set_admission_log(&mut d, AdmissionLog::installed());
        d
    }
}

impl Admission {
    /// Whether the coordinator should begin request `txn` from `client`. When not, it
    /// has been dealt with: a copy of a request begun in this incarnation is ignored;
    /// a stale one is answered with `known` (the outcome the coordinator's log still
    /// holds for it, if any) or told stale. A `true` has made the reservation durable
    /// if it needed to.
    pub fn admit_request<N: AdmittingWorld>(
        &mut self,
        txn: TxnId,
        client: NodeId,
        known: Option<Outcome>,
        ctx: &mut Ctx<'_, N>,
    ) -> bool {
        match self.admit(txn, N::admission_log(ctx.durable())) {
            Verdict::New { persist } => {
                if let Some(log) = persist {
                    ctx.persist(|d| N::set_admission_log(d, log));
                }
                true
            }
            Verdict::Duplicate => false,
            Verdict::Stale { floor } => {
                let answer = match known {
                    Some(outcome) => N::reply_msg(txn, outcome),
                    None => N::stale_msg(txn, floor),
                };
                ctx.send(client, answer);
                false
            }
        }
    }

    /// At a coordinator's recovery: the floor rises above everything reserved (one
    /// forced write, if it moved), and the transactions its log shows in progress
    /// count as begun in this incarnation.
    pub fn recover<N: AdmittingWorld>(
        &mut self,
        in_progress: impl IntoIterator<Item = TxnId>,
        ctx: &mut Ctx<'_, N>,
    ) {
        let log = Admission::recovered(N::admission_log(ctx.durable()));
        if log != *N::admission_log(ctx.durable()) {
            ctx.persist(|d| N::set_admission_log(d, log));
        }
        for txn in in_progress {
            self.note_begun(txn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_begun_once_and_reserved_in_blocks() {
        let mut a = Admission::default();
        let mut log = AdmissionLog::default();
        let Verdict::New { persist: Some(l) } = a.admit(0, &log) else {
            panic!("the first request reserves a block");
        };
        log = l;
        assert_eq!(log.reserved_to, 1 + BLOCK);
        assert_eq!(a.admit(0, &log), Verdict::Duplicate);
        assert_eq!(a.admit(5, &log), Verdict::New { persist: None });
        assert_eq!(
            a.admit(3, &log),
            Verdict::New { persist: None },
            "reordered"
        );
    }

    #[test]
    fn after_a_restart_old_requests_are_stale_and_new_ones_begin() {
        let mut a = Admission::default();
        let mut log = AdmissionLog::default();
        if let Verdict::New { persist: Some(l) } = a.admit(7, &log) {
            log = l;
        }
        // The coordinator crashes: its window is gone, the log is not.
        let mut a = Admission::default();
        log = Admission::recovered(&log);
        assert_eq!(a.admit(7, &log), Verdict::Stale { floor: 8 + BLOCK });
        assert_eq!(a.admit(9, &log), Verdict::Stale { floor: 8 + BLOCK });
        let Verdict::New { persist: Some(l) } = a.admit(8 + BLOCK, &log) else {
            panic!("at the floor: new, and a new block");
        };
        assert_eq!(l.floor, 8 + BLOCK);
        assert_eq!(l.reserved_to, 9 + 2 * BLOCK);
        // A second restart before anything new was begun keeps the floor.
        assert_eq!(Admission::recovered(&log).floor, 8 + BLOCK);
    }

    #[test]
    fn an_id_older_than_the_window_is_stale_not_seen() {
        let mut a = Admission::default();
        let log = AdmissionLog {
            floor: 0,
            reserved_to: u64::MAX,
        };
        a.admit(RecentIds::CAPACITY * 3, &log);
        assert!(matches!(a.admit(2, &log), Verdict::Stale { .. }));
    }
}
