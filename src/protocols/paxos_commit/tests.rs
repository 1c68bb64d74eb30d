use super::*;

fn cfg(f: usize) -> Config {
    Config {
        tm: NodeId(0),
        acceptors: (1..=2 * f as u32 + 1).map(|i| NodeId(10 + i)).collect(),
        f,
        faster: false,
        vote_timeout_us: 1000,
        retry_us: 1000,
        inquiry_interval_us: 1000,
        takeover_us: 1000,
    }
}

#[test]
fn every_ballot_has_one_owner_and_a_leader_climbs_above_what_it_heard() {
    let c = cfg(1);
    assert_eq!(c.owner(0), NodeId(0), "ballot 0: the TM's");
    assert_eq!(c.owner(1), NodeId(11));
    assert_eq!(c.owner(3), NodeId(13));
    assert_eq!(c.owner(4), NodeId(0));
    assert_eq!(c.next_ballot(0, 0), 4, "the TM's first ballot after 0");
    assert_eq!(c.next_ballot(2, 0), 2);
    assert_eq!(c.next_ballot(2, 2), 6);
    assert_eq!(c.next_ballot(1, 7), 9);
    for above in 0..40 {
        for i in 0..4 {
            let b = c.next_ballot(i, above);
            assert!(b > above && b % 4 == i && b - above <= 4);
        }
    }
}

#[test]
fn a_value_is_chosen_by_f_plus_one_acceptors_in_one_ballot() {
    let (a1, a2, a3) = (NodeId(11), NodeId(12), NodeId(13));
    let (r1, r2) = (NodeId(1), NodeId(2));
    let parts: NodeSet = [r1, r2].into_iter().collect();
    let one = |rm| [rm].into_iter().collect::<NodeSet>();
    let mut t = Tally::default();
    t.add_sets(a1, 0, one(r1), NodeSet::new());
    t.add_sets(a2, 0, one(r1), NodeSet::new());
    t.add_sets(a1, 0, one(r2), NodeSet::new());
    assert_eq!(t.outcome(parts, 2), None, "r2's value has one acceptor");
    // Acceptances in different ballots do not add up.
    t.add_sets(a3, 5, one(r2), NodeSet::new());
    assert_eq!(t.outcome(parts, 2), None);
    t.add_sets(a3, 0, one(r2), NodeSet::new());
    assert_eq!(t.outcome(parts, 2), Some(Outcome::Commit));
    let mut t = Tally::default();
    t.add_sets(a1, 4, NodeSet::new(), one(r2));
    t.add_sets(a2, 4, NodeSet::new(), one(r2));
    assert_eq!(
        t.outcome(parts, 2),
        Some(Outcome::Abort),
        "one instance chose Aborted: abort without waiting for the others"
    );
    assert_eq!(t.aborted(2), one(r2));
}
