//! The fault-free cost of a committed transaction on N RMs, tolerating F acceptor
//! failures: as Gray & Lamport count it (§3.2, §4.3 and §5 of "Consensus on
//! Transaction Commit") and as acidbase's report counts it (`per_commit`).
//!
//! **The paper's accounting** counts the messages and message delays until every RM
//! has learned the outcome, starting with the first RM's request to commit
//! (BeginCommit; in 2PC, that RM's Prepared). It leaves out: the RMs'
//! acknowledgements and any message after the outcome is learned, the client, and
//! what happens in recovery; it assumes that in the normal case each RM sends its
//! phase 2a message to F+1 acceptors only and that each acceptor bundles its 2b
//! messages for all instances into one. *Co-located* puts the TM (leader) on the
//! first RM's node and the F+1 active acceptors on RMs' nodes, so that a message
//! between processes of one node is free. It gives for 5 RMs and F = 1, co-located:
//! 12 messages for 2PC, 17 for Paxos Commit, 20 for Faster Paxos Commit (§5).
//!
//! **acidbase's accounting** counts every protocol message a run sends (between
//! non-client nodes, acknowledgements and garbage collection included) per committed
//! transaction, and the message delays from the TM's `TxnBegun` to the last
//! observation (the leader's `Finished`, after the acknowledgements): see the counts
//! page of the book. The client's request and answer (2 messages) are left out. Its
//! RMs send their 2a messages to all 2F+1 acceptors and each acceptor sends one 2b
//! message per 2a message received (no bundling), so that no fault-free run depends
//! on which acceptors are up.

/// A commit protocol of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    TwoPc,
    PaxosCommit,
    FasterPaxosCommit,
}

/// Messages and message delays of one fault-free committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub messages: u64,
    pub message_delays: u64,
}

/// The paper's figures for `n` RMs and `f` tolerated faults (2PC: `f` ignored).
pub fn paper(protocol: Commit, n: u64, f: u64, colocated: bool) -> Cost {
    let (messages, message_delays) = match (protocol, colocated) {
        // BeginCommit/Prepared 1, Prepare N−1, Prepared N−1, Commit N.
        (Commit::TwoPc, false) => (3 * n - 1, 4),
        (Commit::TwoPc, true) => (3 * n - 3, 3),
        // BeginCommit 1, Prepare N−1, 2a N(F+1), 2b F+1 (bundled), Commit N.
        (Commit::PaxosCommit, false) => ((n + 1) * (f + 3) - 2, 5),
        (Commit::PaxosCommit, true) => (n * (f + 3) - 3, 4),
        // BeginCommit 1, Prepare N−1, 2a N(F+1), 2b (F+1)N (bundled, to every RM).
        (Commit::FasterPaxosCommit, false) => (n * (2 * f + 3), 4),
        (Commit::FasterPaxosCommit, true) => ((n - 1) * (2 * f + 3), 3),
    };
    Cost {
        messages,
        message_delays,
    }
}

/// acidbase's `per_commit` for `n` RMs and `f` tolerated faults, fault-free, every
/// transaction on all `n` RMs (2PC answering the client after the acknowledgements).
pub fn acidbase(protocol: Commit, n: u64, f: u64) -> Cost {
    let acceptors = 2 * f + 1;
    let (messages, message_delays) = match protocol {
        // Prepare, Vote, Commit, Ack: N each.
        Commit::TwoPc => (4 * n, 4),
        // Prepare N, 2a N(2F+1), 2b N(2F+1), Decision N, Ack N, Forget 2F+1.
        Commit::PaxosCommit => (3 * n + 2 * n * acceptors + acceptors, 5),
        // Prepare N, 2a N(2F+1), 2b N(2F+1) to the leader and the N RMs, Ack N,
        // Forget 2F+1.
        Commit::FasterPaxosCommit => (2 * n + acceptors * (n + 1) * (n + 1), 4),
    };
    Cost {
        messages,
        message_delays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_own_figures() {
        // §5: "for a transaction with 5 RMs, the Two-Phase Commit uses 12 messages,
        // regular Paxos Commit uses 17, and Faster Paxos Commit uses 20 (with
        // co-location)", for F = 1.
        let co = |p| paper(p, 5, 1, true).messages;
        assert_eq!(co(Commit::TwoPc), 12);
        assert_eq!(co(Commit::PaxosCommit), 17);
        assert_eq!(co(Commit::FasterPaxosCommit), 20);
        // §3.2: 2PC takes 3N − 1 messages and four message delays, 3N − 3 and three
        // with the TM on the first RM's node.
        for n in 2..=9 {
            assert_eq!(
                paper(Commit::TwoPc, n, 0, false),
                Cost {
                    messages: 3 * n - 1,
                    message_delays: 4
                }
            );
            assert_eq!(
                paper(Commit::TwoPc, n, 0, true),
                Cost {
                    messages: 3 * n - 3,
                    message_delays: 3
                }
            );
        }
        // §5: 2PC is Paxos Commit with one acceptor (F = 0): the same steps but for
        // the first RM's 2a apart from its BeginCommit and the acceptor's one 2b,
        // which is one more delay.
        for n in 2..=9 {
            let pc = paper(Commit::PaxosCommit, n, 0, false);
            assert_eq!(pc.messages, paper(Commit::TwoPc, n, 0, false).messages + 2);
            assert_eq!(pc.message_delays, 5);
        }
    }

    #[test]
    fn faster_saves_a_delay() {
        for n in 2..=9 {
            for f in 0..=3 {
                for colocated in [false, true] {
                    let pc = paper(Commit::PaxosCommit, n, f, colocated);
                    let fpc = paper(Commit::FasterPaxosCommit, n, f, colocated);
                    assert_eq!(fpc.message_delays + 1, pc.message_delays);
                }
                let (pc, fpc) = (
                    acidbase(Commit::PaxosCommit, n, f),
                    acidbase(Commit::FasterPaxosCommit, n, f),
                );
                assert_eq!(fpc.message_delays + 1, pc.message_delays);
            }
        }
    }
}
