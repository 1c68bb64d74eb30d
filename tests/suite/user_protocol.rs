//! The user-protocol testing API on the shipped examples: the harness passes the
//! correct user 2PC, catches the buggy one within a bounded number of runs with a
//! shrunk, replayable schedule and a story, and the exhaustive checker catches it too.

#[allow(dead_code)]
#[path = "../../examples/buggy_two_pc.rs"]
mod buggy;

use acidbase::testing::{self, invariants, Exhaustive, FaultSpace, Harness, Schedule};
use buggy::user_two_pc::{harness, world, Bugs};
use buggy::BUG;
use proptest::prelude::*;

#[test]
fn the_correct_user_2pc_passes_every_run() {
    let h = harness(Bugs::default());
    if let Err(f) = h.check() {
        panic!("{f}");
    }
}

#[test]
fn the_harness_catches_the_buggy_2pc_within_64_runs() {
    let f = harness(BUG).check().expect_err("the bug is caught");
    assert_eq!(f.invariant, "always \"atomicity\"", "{f}");
    assert!(f.runs_until_found <= 64, "{f}");
    assert!(
        f.shrunk.size() >= 1 && f.shrunk.size() <= f.original.size(),
        "{f}"
    );
    // The shrunk schedule, through RON, reproduces the violation deterministically.
    let again = Schedule::from_ron(&f.shrunk.to_ron()).unwrap();
    assert_eq!(again, f.shrunk);
    let h = harness(BUG);
    let run = h.replay(f.seed, &again);
    assert!(invariants::atomicity(&run).is_err());
    assert_eq!(h.replay(f.seed, &again).events.len(), run.events.len());
    // The story names the disagreement.
    assert!(f.story.contains("applies Commit"), "{}", f.story);
    assert!(f.story.contains("applies Abort"), "{}", f.story);
    let text = f.to_string();
    assert!(text.contains("reproduce: harness.replay("), "{text}");
}

#[test]
fn the_exhaustive_checker_catches_the_buggy_2pc_with_a_shortest_path() {
    let h = Harness::new(|| world(1, BUG));
    let r = h.exhaustive(&Exhaustive {
        crashable: Some(vec!["tm".into()]),
        ..Exhaustive::default()
    });
    let c = r.violation.expect("a violation");
    assert_eq!(c.finding.kind, "atomicity");
    assert_eq!(c.steps.len(), 8, "{}", c.to_text());
    // The correct one, with the same budget, only blocks (2PC's limit), never
    // breaks atomicity; without a TM crash it is safe in every state.
    let ok = Harness::new(|| world(1, Bugs::default()));
    let r = ok.exhaustive(&Exhaustive {
        crashable: Some(vec!["rm1".into(), "rm2".into()]),
        max_drops: 2,
        ..Exhaustive::default()
    });
    assert!(r.violation.is_none(), "{}", r.to_text());
    assert!(r.complete);
}

#[test]
fn a_model_that_never_commits_fails_its_sometimes() {
    // With one transaction, rm1 always votes no: nothing ever commits.
    let h = Harness::new(|| world(1, Bugs::default()))
        .always("atomicity", invariants::atomicity)
        .sometimes("a transaction commits", invariants::some_commit)
        .runs(8);
    let f = h.check().expect_err("vacuous");
    assert_eq!(f.invariant, "sometimes \"a transaction commits\"");
}

#[test]
fn fault_free_runs_commit_and_abort() {
    let h = harness(Bugs::default());
    let run = h.replay(7, &Schedule::default());
    assert!(invariants::some_commit(&run));
    assert!(invariants::some_abort(&run));
    assert!(invariants::nobody_in_doubt_at_end(&run).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The exported strategies stay within what they promise.
    #[test]
    fn generated_schedules_stay_in_bounds(s in testing::schedules(&FaultSpace {
        crashable: vec!["tm".into(), "rm1".into()],
        max_crashes: 2,
        partitionable: vec!["tm".into(), "rm1".into(), "rm2".into()],
        max_partitions: 2,
        max_loss: 0.2,
        max_duplication: 0.1,
    }, 500)) {
        prop_assert!(s.crashes.len() <= 2 && s.partitions.len() <= 2);
        for c in &s.crashes {
            prop_assert!(c.node == "tm" || c.node == "rm1");
            prop_assert!(c.restart_ms.is_some_and(|r| c.at_ms < r && r <= 500.0));
        }
        for p in &s.partitions {
            prop_assert!(matches!(&p.groups[..], [side] if !side.is_empty() && side.len() < 3));
            prop_assert!(p.from_ms < p.to_ms && p.to_ms <= 500.0);
        }
        prop_assert!((0.0..=0.2).contains(&s.loss_probability));
        prop_assert!((0.0..=0.1).contains(&s.duplicate_probability));
        prop_assert_eq!(Schedule::from_ron(&s.to_ron()).unwrap(), s);
    }
}

/// No transaction applied commit at one RM and abort at another, read from the RMs'
/// durable logs: a property over node state.
fn rms_agree() -> acidbase::property::Property<buggy::user_two_pc::UserNode> {
    acidbase::property::Property::<buggy::user_two_pc::UserNode>::always("RMs agree", |v| {
        let mut seen = std::collections::BTreeMap::new();
        v.nodes().all(|(_, _, _, log)| {
            log.applied
                .iter()
                .all(|(txn, o)| *seen.entry(*txn).or_insert(*o) == *o)
        })
    })
}

#[test]
fn node_state_properties_are_honoured_in_random_and_exhaustive_runs() {
    // Random runs: the property alone catches the bug (no run-level invariant).
    let f = Harness::new(|| world(2, BUG))
        .property(rms_agree())
        .runs(64)
        .check()
        .expect_err("the bug is caught");
    assert_eq!(f.invariant, "always \"RMs agree\"", "{f}");
    let run = harness(BUG).property(rms_agree()).replay(f.seed, &f.shrunk);
    assert!(
        run.properties.iter().any(|p| p.failed()),
        "{:?}",
        run.properties
    );
    assert_eq!(run.digest, harness(BUG).replay(f.seed, &f.shrunk).digest);
    assert!(!run.truncated);
    // Exhaustively: the same property, with a shortest path; the run-level
    // invariants it cannot check are named, not skipped in silence.
    let r = Harness::new(|| world(1, BUG))
        .always("atomicity", invariants::atomicity)
        .property(rms_agree())
        .exhaustive(&Exhaustive {
            crashable: Some(vec!["tm".into()]),
            ..Exhaustive::default()
        });
    let v = r.violation.as_ref().expect("found");
    assert_eq!(v.finding.kind, "property: RMs agree", "{}", r.to_text());
    assert!(
        r.not_checked.iter().any(|n| n == "always \"atomicity\""),
        "{:?}",
        r.not_checked
    );
    // The correct protocol keeps it in every state.
    let ok = Harness::new(|| world(1, Bugs::default()))
        .property(rms_agree())
        .exhaustive(&Exhaustive {
            crashable: Some(vec!["rm1".into(), "rm2".into()]),
            max_drops: 2,
            ..Exhaustive::default()
        });
    assert!(ok.violation.is_none() && ok.complete, "{}", ok.to_text());
}
