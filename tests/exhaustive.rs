//! The exhaustive checker finds the known failures on its own, with shortest,
//! replayable paths, and visits every state of the safe configurations (whose counts
//! are golden numbers: update them on purpose, never blindly).

use acidbase::check::scenario::{check, replay_steps, CheckOptions};
use acidbase::check::{parse_steps, CheckReport, Step};
use acidbase::scenario::{self, Scenario};

fn shipped(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    scenario::load(std::path::Path::new(&path))
        .unwrap_or_else(|e| panic!("{e}"))
        .scenario
}

fn opts(crashes: u32, drops: u32) -> CheckOptions {
    CheckOptions {
        max_crashes: crashes,
        max_drops: drops,
        ..CheckOptions::default()
    }
}

/// Checks, expects a violation of `kind`, and replays its path (through RON) to the
/// same violation.
fn finds(s: &Scenario, o: &CheckOptions, kind: &str) -> CheckReport {
    let r = check(s, o).expect("a known protocol");
    let c = r.violation.as_ref().unwrap_or_else(|| {
        panic!(
            "expected {kind}, found none in {} states",
            r.distinct_states
        )
    });
    assert_eq!(c.finding.kind, kind, "{}", c.to_text());
    let steps = parse_steps(&c.steps_ron()).expect("the path reads back");
    assert_eq!(steps, c.steps);
    let again = replay_steps(s, o, &steps).expect("the path replays");
    assert!(
        again.findings.iter().any(|f| f.kind == kind),
        "replay reproduces {kind}: {:?}",
        again.findings
    );
    r
}

#[test]
fn faithful_2pc_with_lost_messages_is_safe_in_every_state() {
    let s = shipped("check-2pc");
    for (drops, states) in [(0, 50), (1, 692), (2, 2294)] {
        let r = check(&s, &opts(0, drops)).unwrap();
        assert!(r.violation.is_none(), "{}", r.to_text());
        assert!(r.complete);
        assert_eq!(r.distinct_states, states, "golden count, {drops} drops");
        assert!(r.sometimes.contains("commit"));
    }
    // A lost Prepare or vote makes the TM time out: abort is reachable too.
    let r = check(&s, &opts(0, 1)).unwrap();
    assert!(r.sometimes.contains("abort"));
}

#[test]
fn participant_crashes_do_not_break_2pc() {
    let s = shipped("check-2pc");
    let o = CheckOptions {
        crash_nodes: Some(vec!["rm1".into(), "rm2".into()]),
        ..opts(1, 1)
    };
    let r = check(&s, &o).unwrap();
    assert!(r.violation.is_none(), "{}", r.to_text());
    assert!(r.complete);
}

#[test]
fn finds_2pc_blocking_when_the_tm_crashes_after_the_votes() {
    let s = shipped("check-2pc");
    let r = finds(&s, &opts(1, 0), "blocking");
    let c = r.violation.unwrap();
    assert!(c.steps.contains(&Step::Crash { node: "tm".into() }));
    assert!(
        c.finding.detail.contains("tm is down"),
        "{}",
        c.finding.detail
    );
    // Both RMs voted yes before the crash: the path delivered both Prepares.
    let prepares = c
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Deliver { msg, .. } if msg.starts_with("Prepare")))
        .count();
    assert_eq!(prepares, 2);
}

#[test]
fn finds_2pc_blocking_with_three_rms() {
    let s = shipped("2pc-coordinator-crash");
    let o = CheckOptions {
        horizon_ms: Some(300.0),
        ..opts(1, 0)
    };
    finds(&s, &o, "blocking");
}

#[test]
fn finds_the_rm_timeout_atomicity_violation() {
    let mut s = shipped("check-2pc");
    s.two_pc.rm_abort_on_timeout = true;
    s.two_pc.rm_timeout_ms = 300.0;
    // Without faults the unsafe variant is still atomic...
    let r = check(&s, &opts(0, 0)).unwrap();
    assert!(r.violation.is_none());
    // ...a lost Commit and a TM crash make an RM abort what the other committed.
    let r = finds(&s, &opts(1, 1), "atomicity");
    let c = r.violation.unwrap();
    assert!(c.steps.iter().any(|s| matches!(s, Step::Drop { .. })));
    assert!(c.steps.contains(&Step::Crash { node: "tm".into() }));
}

#[test]
fn finds_the_rm_timeout_violation_with_three_rms() {
    let s = shipped("2pc-unsafe-timeout");
    let o = CheckOptions {
        horizon_ms: Some(400.0),
        ..opts(1, 1)
    };
    finds(&s, &o, "atomicity");
}

#[test]
fn finds_the_partial_commit_of_no_decision_retry() {
    let mut s = shipped("check-2pc");
    s.two_pc.no_decision_retry = true;
    let r = finds(&s, &opts(0, 1), "atomicity");
    let c = r.violation.unwrap();
    assert!(matches!(
        c.steps.iter().find(|s| matches!(s, Step::Drop { .. })),
        Some(Step::Drop { msg, .. }) if msg.contains("Commit")
    ));
    // And with three RMs, from the shipped scenario.
    finds(&shipped("2pc-no-decision-retry"), &opts(0, 1), "atomicity");
}

/// Longer: three RMs, any RM may crash once, two messages may be lost.
#[test]
#[ignore = "257,419 states: about 3 s in release; run with --ignored"]
fn three_rm_2pc_survives_an_rm_crash_and_two_drops() {
    let s = shipped("2pc-coordinator-crash");
    let o = CheckOptions {
        crash_nodes: Some(vec!["rm1".into(), "rm2".into(), "rm3".into()]),
        ..opts(1, 2)
    };
    let r = check(&s, &o).unwrap();
    assert!(r.violation.is_none(), "{}", r.to_text());
    assert!(r.complete);
}

#[test]
fn a_depth_bound_is_reported_as_incomplete() {
    let s = shipped("check-2pc");
    let o = CheckOptions {
        max_depth: Some(5),
        ..opts(0, 1)
    };
    let r = check(&s, &o).unwrap();
    assert!(!r.complete);
    assert_eq!(r.depth, 5);
}

/// 3PC's partition inconsistency (Skeen): a partition after some participants
/// pre-committed — one side's termination commits, the other side's aborts. In the
/// exhaustive model a partition is drops of the messages between the two sides.
/// 3PC is built on another branch: until it is merged (protocol "3pc" known and its
/// world registered in `check::scenario`), this test says so and passes.
#[test]
fn finds_the_3pc_partition_inconsistency() {
    let src = r#"(
        protocol: "3pc",
        seed: 1,
        rms: 3,
        duration_ms: 300,
        drain_ms: 700,
        workload: Transfer(accounts_per_shard: 2, initial_balance: 100, amount_min: 10, amount_max: 10, fan_out: 2, keys: PerSession),
        clients: (load: Closed(sessions: 1, think_ms: 5), deadline_ms: 300, max_requests: 1),
        network: (latency: Constant(ms: 5)),
    )"#;
    let s = scenario::parse(src, "3pc-check.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .scenario;
    // Cheapest budgets first: the first one that finds it gives the shortest path.
    let budgets = [(0, 1), (0, 2), (1, 1), (0, 3), (1, 2)];
    for (crashes, drops) in budgets {
        let o = CheckOptions {
            max_states: 200_000,
            ..opts(crashes, drops)
        };
        let r = check(&s, &o).unwrap_or_else(|e| panic!("{e}"));
        if let Some(c) = &r.violation {
            // The split: one side decides commit, the other abort (reported as soon
            // as the second decision is taken, with its application in the same step).
            let kind = c.finding.kind.as_str();
            if kind == "atomicity" || kind == "agreement" {
                finds(&s, &o, kind);
                eprintln!("3pc: {}", c.to_text());
                return;
            }
        }
    }
    panic!("no atomicity violation within budgets {budgets:?}");
}
