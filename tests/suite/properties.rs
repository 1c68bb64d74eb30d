//! Property tests: invariants that must hold for *every* seed and fault schedule, and
//! anomalies that the unsafe variants must show for *some* schedule.
//!
//! Swarm testing (as TigerBeetle's VOPR does): each case draws the world's shape
//! (number of RMs, transaction fan-out, sessions, accounts, timeouts) as well as its
//! fault schedule (crash windows, partition windows, one-way cuts, random crash and
//! partition rates, loss, duplication, reordering), all as scenario fields, so a
//! failing case shrinks to a small scenario. The wider swarm over every protocol is
//! tests/suite/swarm.rs.

use crate::common::run;
use acidbase::report::Report;
use acidbase::scenario::{self, LatencySpec, RandomCrashSpec, RandomPartitionSpec, Scenario};
use proptest::prelude::*;

use crate::common;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Fault targets are drawn as indices into this many slots and mapped onto the
/// world's actual nodes (which depend on the number of RMs).
const SLOTS: usize = 8;

/// The world's shape, drawn per case.
#[derive(Clone, Debug)]
struct Shape {
    rms: u32,
    fan_out: u32,
    sessions: u32,
    accounts_per_shard: u32,
    vote_timeout_ms: f64,
    inquiry_interval_ms: f64,
    decision_retry_ms: f64,
}

fn shape() -> impl Strategy<Value = Shape> {
    (2u32..=5)
        .prop_flat_map(|rms| {
            (
                Just(rms),
                1..rms,
                1u32..=8,
                2u32..=16,
                20.0..150.0f64,
                10.0..80.0f64,
                10.0..80.0f64,
            )
        })
        .prop_map(
            |(rms, fan_out, sessions, accounts_per_shard, vote, inquiry, retry)| Shape {
                rms,
                fan_out,
                sessions,
                accounts_per_shard,
                vote_timeout_ms: vote,
                inquiry_interval_ms: inquiry,
                decision_retry_ms: retry,
            },
        )
}

/// The base: three RMs, transfers spanning two or three of them, short timers so that
/// recovery has many rounds within the drain.
fn base() -> Scenario {
    acidbase::run::parse(
        r#"(
            rms: 3,
            duration_ms: 1000,
            drain_ms: 3000,
            workload: Transfer(accounts_per_shard: 8, initial_balance: 500, amount_min: 1, amount_max: 80, fan_out: 2),
            clients: (load: Closed(sessions: 5, think_ms: 2), deadline_ms: 200),
            network: (latency: Uniform(min_ms: 1, max_ms: 8)),
            two_pc: (vote_timeout_ms: 60, decision_retry_ms: 30, inquiry_interval_ms: 30, rm_timeout_ms: 60),
        )"#,
        "base.ron",
    )
    .expect("the base scenario is valid")
    .into_scenario()
}

/// A world and its fault schedule: every window heals before the horizon (1000 ms).
#[derive(Clone, Debug)]
struct Schedule {
    shape: Shape,
    seed: u64,
    faults: common::DrawnFaults,
    loss: f64,
    duplicate: f64,
    /// Share of messages held back, and by how long at most (ms).
    reorder: (f64, f64),
    exponential_latency: bool,
    /// Random crashes of every node (per second) and random partitions (per second).
    random_crash_rate: f64,
    random_partition_rate: f64,
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (shape(), faults()).prop_map(|(shape, f)| Schedule { shape, ..f })
}

fn faults() -> impl Strategy<Value = Schedule> {
    (
        any::<u64>(),
        common::drawn_faults(common::FaultDraw {
            slots: SLOTS,
            start_before_ms: 950.0,
            max_len_ms: 300.0,
            healed_by_ms: 999.0,
            max_crashes: 3,
            max_partitions: 2,
            max_one_way: 2,
        }),
        prop_oneof![Just(0.0), 0.0..0.3f64],
        prop_oneof![Just(0.0), 0.0..0.2f64],
        prop_oneof![Just((0.0, 0.0)), (0.0..0.5f64, 1.0..400.0f64)],
        any::<bool>(),
        prop_oneof![Just(0.0), 0.0..3.0f64],
        prop_oneof![Just(0.0), 0.0..3.0f64],
    )
        .prop_map(
            |(
                seed,
                faults,
                loss,
                duplicate,
                reorder,
                exponential_latency,
                random_crash_rate,
                random_partition_rate,
            )| Schedule {
                shape: Shape {
                    rms: 3,
                    fan_out: 2,
                    sessions: 5,
                    accounts_per_shard: 8,
                    vote_timeout_ms: 60.0,
                    inquiry_interval_ms: 30.0,
                    decision_retry_ms: 30.0,
                },
                seed,
                faults,
                loss,
                duplicate,
                reorder,
                exponential_latency,
                random_crash_rate,
                random_partition_rate,
            },
        )
}

fn apply(mut s: Scenario, sch: &Schedule) -> Scenario {
    s.seed = sch.seed;
    let sh = &sch.shape;
    s.rms = sh.rms;
    let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
        unreachable!("the base scenario is a transfer")
    };
    t.fan_out = sh.fan_out;
    t.accounts_per_shard = sh.accounts_per_shard;
    s.clients.load = scenario::LoadSpec::Closed {
        sessions: sh.sessions,
        think_ms: 2.0,
    };
    s.two_pc.vote_timeout_ms = sh.vote_timeout_ms;
    s.two_pc.inquiry_interval_ms = sh.inquiry_interval_ms;
    s.two_pc.decision_retry_ms = sh.decision_retry_ms;
    let names = acidbase::run::Registry::builtin()
        .node_names(&s)
        .expect("known protocol");
    sch.faults.apply(&mut s, &names);
    if sch.random_crash_rate > 0.0 {
        s.faults.random_crashes.push(RandomCrashSpec {
            nodes: vec!["all".into()],
            rate_per_s: sch.random_crash_rate,
            mean_downtime_ms: 80.0,
        });
    }
    if sch.random_partition_rate > 0.0 {
        s.faults.random_partitions = Some(RandomPartitionSpec {
            rate_per_s: sch.random_partition_rate,
            mean_duration_ms: 100.0,
            nodes: vec![],
        });
    }
    s.network.loss_probability = sch.loss;
    s.network.duplicate_probability = sch.duplicate;
    (s.network.reorder_probability, s.network.reorder_delay_ms) = sch.reorder;
    // Message faults heal at the horizon, as crashes and cuts do: then the drain
    // must resolve everything.
    s.network.message_faults_until_ms = Some(s.duration_ms);
    if sch.exponential_latency {
        s.network.latency = LatencySpec::Exponential {
            floor_ms: 1.0,
            mean_ms: 4.0,
        };
    }
    s
}

fn report(s: &Scenario) -> Report {
    run(s, s.seed, None).report
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Faithful 2PC: whatever crashes, partitions, loss and duplication, no participant
/// commits what another aborted, money is never created or destroyed, and once every
/// node is back and the drain has passed, nothing is left in doubt.
fn check_faithful(sch: &Schedule) -> Result<(), TestCaseError> {
    for (coop, standby) in [(false, false), (true, false), (false, true)] {
        let mut s = apply(base(), sch);
        s.two_pc.cooperative_termination = coop;
        s.two_pc.standby_tm = standby;
        let r = report(&s);
        let why = || format!("coop {coop} standby {standby}: {}", r.to_text());
        prop_assert_eq!(r.violations.atomicity, 0, "{}", why());
        prop_assert_eq!(r.violations.invariant, 0, "{}", why());
        prop_assert_eq!(r.txns.unresolved, 0, "{}", why());
        prop_assert_eq!(r.txns.in_doubt, 0, "{}", why());
        prop_assert_eq!(
            r.txns.committed + r.txns.aborted + r.txns.unresolved,
            r.txns.begun,
            "counts add up: {}",
            why()
        );
        prop_assert_eq!(r.locks.held_at_end, 0, "{}", why());
        prop_assert_eq!(r.money.in_doubt, 0, "{}", why());
        prop_assert!(!r.stopped_by_event_guard);
        prop_assert!(r.txns.requests > 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn faithful_2pc_is_atomic_conserves_money_and_resolves(sch in schedule()) {
        check_faithful(&sch)?;
    }

    /// The same run twice gives the same digest (and the same report).
    #[test]
    fn runs_are_deterministic(sch in schedule()) {
        let s = apply(base(), &sch);
        let a = report(&s);
        let b = report(&s);
        prop_assert_eq!(a, b);
    }
}

/// The same property over 20,000 schedules (about a minute):
/// `cargo test --release --test suite properties:: -- --ignored`.
#[test]
#[ignore]
fn faithful_2pc_long() {
    let mut runner = TestRunner::new(config(20_000));
    if let Err(e) = runner.run(&schedule(), |sch| check_faithful(&sch)) {
        panic!("{e}");
    }
}

/// Searches generated schedules for one that breaks atomicity under `variant`, and
/// returns the (shrunk) schedule that does.
fn find_violation(variant: fn(&mut Scenario)) -> Option<Schedule> {
    let mut runner = TestRunner::new(config(512));
    let result = runner.run(&schedule(), |sch| {
        let mut s = apply(base(), &sch);
        variant(&mut s);
        let r = report(&s);
        prop_assert_eq!(r.violations.atomicity, 0);
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, sch)) => Some(sch),
        _ => None,
    }
}

#[test]
fn rm_abort_on_timeout_violates_atomicity_for_some_schedule() {
    let found = find_violation(|s| s.two_pc.rm_abort_on_timeout = true);
    let sch = found.expect("some schedule should break atomicity when RMs abort on their own");
    // The shrunk counterexample still violates.
    let mut s = apply(base(), &sch);
    s.two_pc.rm_abort_on_timeout = true;
    assert!(report(&s).violations.atomicity >= 1);
}

#[test]
fn no_decision_retry_violates_atomicity_for_some_schedule() {
    let found = find_violation(|s| s.two_pc.no_decision_retry = true);
    let sch = found.expect("some schedule should break atomicity when the TM forgets Commit early");
    let mut s = apply(base(), &sch);
    s.two_pc.no_decision_retry = true;
    assert!(report(&s).violations.atomicity >= 1);
}

#[test]
fn different_seeds_give_different_digests() {
    let mut s = base();
    let digests: std::collections::BTreeSet<String> = (0..8)
        .map(|seed| {
            s.seed = seed;
            report(&s).digest
        })
        .collect();
    assert_eq!(digests.len(), 8);
}
