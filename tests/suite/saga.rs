//! The saga (BASE): property tests over generated fault schedules, golden numbers of
//! fault-free runs, and the shipped saga scenarios run through the binary.
//!
//! The property: with the recovery job on, whatever crashes (of the orchestrator, the
//! participants, the client, with restarts), loss, duplication and partitions happen,
//! once they heal and the drain has passed every saga has reached a consistent end —
//! money conserved, nothing unfinished, no anomaly left visible. With the job off,
//! some schedule leaves a saga half-done.

use crate::common;

use crate::common::run;
use crate::common::{acidbase, stdout};
use acidbase::report::Report;
use acidbase::scenario::{self, RandomCrashSpec, SagaPolicySpec, Scenario, StateStoreSpec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

const SLOTS: usize = 6;

/// Three shards, small balances (so steps are refused and compensations run), short
/// timers (so recovery has many rounds within the drain).
fn base() -> Scenario {
    acidbase::run::parse(
        r#"(
            protocol: "saga",
            rms: 3,
            duration_ms: 600,
            drain_ms: 2500,
            workload: Transfer(accounts_per_shard: 6, initial_balance: 100, amount_min: 1, amount_max: 80, fan_out: 1),
            clients: (load: Closed(sessions: 4, think_ms: 2), deadline_ms: 200),
            network: (latency: Uniform(min_ms: 1, max_ms: 8)),
            saga: (scan_interval_ms: 40, step_timeout_ms: 25, step_retries: 2),
        )"#,
        "saga-base.ron",
    )
    .expect("the base scenario is valid")
    .into_scenario()
}

/// A fault schedule in which every fault heals before the horizon (600 ms).
#[derive(Clone, Debug)]
struct Schedule {
    seed: u64,
    fan_out: u32,
    faults: common::DrawnFaults,
    loss: f64,
    duplicate: f64,
    /// Share of messages held back up to 150 ms: a step can arrive after its undo.
    reorder: f64,
    random_crash_rate: f64,
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        any::<u64>(),
        1u32..=2,
        common::drawn_faults(common::FaultDraw {
            slots: SLOTS,
            start_before_ms: 560.0,
            max_len_ms: 250.0,
            healed_by_ms: 599.0,
            max_crashes: 3,
            max_partitions: 1,
            max_one_way: 1,
        }),
        prop_oneof![Just(0.0), 0.0..0.2f64],
        prop_oneof![Just(0.0), 0.0..0.2f64],
        prop_oneof![Just(0.0), 0.0..0.3f64],
        prop_oneof![Just(0.0), 0.0..3.0f64],
    )
        .prop_map(
            |(seed, fan_out, faults, loss, duplicate, reorder, rate)| Schedule {
                seed,
                fan_out,
                faults,
                loss,
                duplicate,
                reorder,
                random_crash_rate: rate,
            },
        )
}

fn apply(mut s: Scenario, sch: &Schedule) -> Scenario {
    s.seed = sch.seed;
    let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
        unreachable!("the base scenario is a transfer")
    };
    t.fan_out = sch.fan_out;
    let names = acidbase::run::Registry::builtin()
        .node_names(&s)
        .expect("known protocol");
    sch.faults.apply(&mut s, &names);
    if sch.random_crash_rate > 0.0 {
        s.faults.random_crashes.push(RandomCrashSpec {
            nodes: vec!["all".into()],
            rate_per_s: sch.random_crash_rate,
            mean_downtime_ms: 60.0,
        });
    }
    s.network.loss_probability = sch.loss;
    s.network.duplicate_probability = sch.duplicate;
    s.network.reorder_probability = sch.reorder;
    s.network.reorder_delay_ms = 150.0;
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

const STORES: [StateStoreSpec; 2] = [StateStoreSpec::StatusField, StateStoreSpec::WriteAheadLog];
const POLICIES: [SagaPolicySpec; 2] = [SagaPolicySpec::Forward, SagaPolicySpec::Backward];

/// A consistent end at quiescence, for every state store and policy.
fn check_consistent_end(sch: &Schedule) -> Result<(), TestCaseError> {
    for store in STORES {
        for policy in POLICIES {
            let mut s = apply(base(), sch);
            s.saga.state_store = store;
            s.saga.policy = policy;
            let r = report(&s);
            let why = || format!("{store:?} {policy:?}: {}", r.to_text());
            let c = &r.consistency;
            prop_assert_eq!(r.violations.atomicity, 0, "{}", why());
            prop_assert_eq!(r.violations.invariant, 0, "{}", why());
            prop_assert_eq!(r.money.final_, r.money.initial, "{}", why());
            prop_assert_eq!(r.txns.unresolved, 0, "{}", why());
            prop_assert_eq!(c.unfinished_at_end, 0, "{}", why());
            prop_assert_eq!(c.anomalies_open_at_end, 0, "{}", why());
            prop_assert_eq!(r.repair.operator + r.repair.silent, 0, "{}", why());
            // Every saga begun reached its end and said so.
            prop_assert_eq!(c.consistent, r.txns.begun, "{}", why());
            prop_assert!(!r.stopped_by_event_guard);
            prop_assert!(r.txns.requests > 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn with_recovery_every_saga_reaches_a_consistent_end(sch in schedule()) {
        check_consistent_end(&sch)?;
    }
}

/// The same property over 2,000 schedules:
/// `cargo test --release --test suite saga:: -- --ignored`.
#[test]
#[ignore]
fn with_recovery_every_saga_reaches_a_consistent_end_long() {
    let mut runner = TestRunner::new(config(2000));
    if let Err(e) = runner.run(&schedule(), |sch| check_consistent_end(&sch)) {
        panic!("{e}");
    }
}

#[test]
fn without_recovery_some_schedule_leaves_a_saga_half_done() {
    let mut runner = TestRunner::new(config(256));
    let result = runner.run(&schedule(), |sch| {
        let mut s = apply(base(), &sch);
        s.saga.recovery = false;
        let r = report(&s);
        prop_assert_eq!(r.consistency.unfinished_at_end, 0);
        Ok(())
    });
    let Err(TestError::Fail(_, sch)) = result else {
        panic!("some schedule should leave a saga unfinished without the recovery job");
    };
    // The shrunk schedule: half-done without recovery, consistent with it.
    let mut s = apply(base(), &sch);
    s.saga.recovery = false;
    let off = report(&s);
    assert!(off.consistency.unfinished_at_end >= 1, "{}", off.to_text());
    s.saga.recovery = true;
    let on = report(&s);
    assert_eq!(on.consistency.unfinished_at_end, 0, "{}", on.to_text());
    assert_eq!(on.violations.invariant, 0, "{}", on.to_text());
}

/// Fault-free sagas over N participants (one debit, N - 1 credits): 2N messages and
/// 2N message delays per committed saga (a step and its answer, one after another),
/// and N + 2 durable writes with the status field (the saga's row at its start and
/// end; each step's balance and status together) against 3N + 2 with the
/// write-ahead log (an intent and a completion record around every step as well).
#[test]
fn golden_numbers_per_committed_saga() {
    for n in 2..=6u32 {
        for (store, writes) in [
            (StateStoreSpec::StatusField, n + 2),
            (StateStoreSpec::WriteAheadLog, 3 * n + 2),
        ] {
            let mut s = acidbase::run::parse(
                "(protocol: \"saga\", duration_ms: 800, drain_ms: 300, workload: Transfer(accounts_per_shard: 16, initial_balance: 100000, keys: PerSession), clients: (load: Closed(sessions: 4, think_ms: 1)))",
                "golden.ron",
            )
            .expect("valid")
            .into_scenario();
            s.rms = n;
            s.saga.state_store = store;
            let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
                unreachable!("the base scenario is a transfer")
            };
            t.fan_out = n - 1;
            let r = report(&s);
            let why = format!("N = {n}, {store:?}: {}", r.to_text());
            assert!(r.txns.committed > 20, "{why}");
            assert_eq!(r.txns.aborted, 0, "{why}");
            assert_eq!(r.per_commit.messages, f64::from(2 * n), "{why}");
            assert_eq!(r.per_commit.message_delays, f64::from(2 * n), "{why}");
            assert_eq!(r.per_commit.durable_writes, f64::from(writes), "{why}");
            // Every saga shows money in flight once, between its debit and last credit.
            assert_eq!(r.consistency.transient_anomalies, r.txns.committed, "{why}");
            assert_eq!(r.consistency.anomalies_open_at_end, 0, "{why}");
        }
    }
}

// ---------------------------------------------------------------------------------
// The shipped saga scenarios, run through the binary as a user would.

fn exit_code(o: &std::process::Output) -> i32 {
    o.status.code().expect("the binary exited normally")
}

/// `acidbase run FILE --format json`: the exit code and the JSON report.
fn run_json(file: &str) -> (i32, serde_json::Value) {
    let o = acidbase(&["run", file, "--format", "json"]);
    let json = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{file}: not a JSON report ({e}): {}", stdout(&o)));
    (exit_code(&o), json)
}

fn num(v: &serde_json::Value, path: &str) -> f64 {
    acidbase::report::lookup(v, path).unwrap_or_else(|| panic!("no metric {path}"))
}

/// A copy of a shipped scenario with one text replaced (the documented flip).
fn flipped(dir: &common::TempDir, file: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect("the shipped scenario is readable");
    assert!(text.contains(from), "{file} says {from:?}");
    let p = dir.write("flipped.ron", &text.replace(from, to));
    common::path_str(&p).to_string()
}

#[test]
fn saga_transfer_crash_recovers_and_without_recovery_leaves_money_in_flight() {
    let (code, on) = run_json("scenarios/saga-transfer-crash.ron");
    assert_eq!(code, 0, "{on}");
    assert!(num(&on, "repair.automatic") >= 1.0);
    assert_eq!(num(&on, "consistency.unfinished_at_end"), 0.0);
    assert_eq!(num(&on, "money.final"), num(&on, "money.initial"));
    assert!(num(&on, "consistency.transient_anomaly_ms_max") >= 150.0);
    let text = stdout(&acidbase(&["run", "scenarios/saga-transfer-crash.ron"]));
    assert!(text.contains("The recovery job drove"), "{text}");

    let dir = common::TempDir::new("saga-recovery-off");
    let off = flipped(
        &dir,
        "scenarios/saga-transfer-crash.ron",
        "recovery: true",
        "recovery: false",
    );
    let (code, r) = run_json(&off);
    assert_eq!(code, 1, "the flip breaks the lesson's expectations: {r}");
    assert!(num(&r, "consistency.unfinished_at_end") >= 1.0);
    assert!(num(&r, "consistency.anomalies_open_at_end") >= 1.0);
    assert_eq!(num(&r, "violations.invariant"), 1.0);
    assert_eq!(num(&r, "repair.silent"), 1.0);
    assert_eq!(num(&r, "repair.automatic"), 0.0);
    assert!(
        num(&r, "money.final") < num(&r, "money.initial"),
        "a debit was never credited"
    );
    let text = stdout(&acidbase(&["run", &off]));
    assert!(text.contains("UNFINISHED at the end"), "{text}");
    assert!(text.contains("money in flight forever"), "{text}");
}

#[test]
fn saga_wal_vs_status_counts_the_writes_of_each_store() {
    let (code, wal) = run_json("scenarios/saga-wal-vs-status.ron");
    assert_eq!(code, 0, "{wal}");
    assert_eq!(num(&wal, "per_commit.durable_writes"), 8.0);

    let dir = common::TempDir::new("saga-status-field");
    let status = flipped(
        &dir,
        "scenarios/saga-wal-vs-status.ron",
        "state_store: WriteAheadLog",
        "state_store: StatusField",
    );
    let (code, st) = run_json(&status);
    assert_eq!(code, 1, "the flip fails the durable-writes expectation");
    assert_eq!(num(&st, "per_commit.durable_writes"), 4.0);
    // Same outcome, same repairs...
    for m in [
        "txns.committed",
        "repair.automatic",
        "consistency.unfinished_at_end",
    ] {
        assert_eq!(num(&st, m), num(&wal, m), "{m}");
    }
    // ...but the status field re-drives recovered sagas from their first step.
    assert!(num(&st, "network.sent") > num(&wal, "network.sent"));
}

#[test]
fn bad_saga_fields_are_located_and_explained() {
    let dir = common::TempDir::new("saga-bad-input");
    let p = dir.write(
        "bad.ron",
        "(\n  protocol: \"saga\",\n  saga: (\n    scan_interval_ms: 0,\n  ),\n)",
    );
    let o = acidbase(&["run", common::path_str(&p)]);
    assert_eq!(exit_code(&o), 2);
    let err = common::stderr(&o);
    assert!(err.contains("bad.ron:4:5"), "{err}");
    assert!(err.contains("saga.scan_interval_ms"), "{err}");

    let p = dir.write(
        "bad2.ron",
        "(\n  protocol: \"saga\",\n  saga: (state_store: Journal),\n)",
    );
    let o = acidbase(&["run", common::path_str(&p)]);
    assert_eq!(exit_code(&o), 2);
    let err = common::stderr(&o);
    assert!(err.contains("bad2.ron:3:"), "{err}");
    assert!(
        err.contains("StatusField") || err.contains("Journal"),
        "{err}"
    );
}

/// Golden digests of the shipped saga scenarios: a change that alters either run
/// changes these. Update them on purpose, never blindly.
#[test]
fn golden_digests_of_the_saga_scenarios() {
    for (file, digest) in [
        ("scenarios/saga-transfer-crash.ron", "67a52d1030810b64"),
        ("scenarios/saga-wal-vs-status.ron", "510e8935598eedab"),
    ] {
        let l = acidbase::run::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .unwrap_or_else(|e| panic!("{e}"));
        let r = report(&l.scenario);
        assert_eq!(r.digest, digest, "{file}: the run changed");
    }
}

/// A participant that never comes back: the recovery job cannot finish the sagas
/// waiting on it. With `give_up_after_attempts` it flags them for an operator, so
/// the money they hold in flight is a known problem, not a silent one.
#[test]
fn a_saga_the_recovery_job_gives_up_on_is_flagged_for_an_operator() {
    let src = |give_up: &str| {
        format!(
            "(protocol: \"saga\", rms: 2, duration_ms: 400, drain_ms: 1000,
              workload: Transfer(accounts_per_shard: 4, initial_balance: 1000, keys: PerSession),
              clients: (load: Closed(sessions: 2, think_ms: 5)),
              network: (latency: Constant(ms: 5)),
              saga: (scan_interval_ms: 50, step_timeout_ms: 20, step_retries: 1{give_up}),
              faults: (crashes: [(node: \"rm2\", at_ms: 200)]))"
        )
    };
    let parse = |s: &str| {
        acidbase::run::parse(s, "gone.ron")
            .expect("valid")
            .into_scenario()
    };
    let flagged = report(&parse(&src(", give_up_after_attempts: 3")));
    let why = flagged.to_text();
    assert!(flagged.repair.operator >= 1, "{why}");
    assert_eq!(flagged.repair.silent, 0, "{why}");
    assert!(flagged.consistency.unfinished_at_end >= 1, "{why}");
    assert!(why.contains("flagged them for an operator"), "{why}");
    // Without giving up, the job keeps trying to the end: unfinished, and unflagged.
    let forever = report(&parse(&src("")));
    assert_eq!(forever.repair.operator, 0);
    assert!(forever.consistency.unfinished_at_end >= 1);
}

/// The swarm's worlds (every fault kind at once, every timer and load drawn per
/// seed) with the orchestrator's front right behind the newest saga, so that
/// participants purge their step records all the time — the shipped lag (4,096 ids)
/// is longer than most swarm runs. Every safe configuration stays clean; without
/// the recovery job sagas are still left half-done. `ACIDBASE_WATERMARK_SEEDS` runs
/// more seeds (the default, 100 per lag, keeps the test short).
#[test]
fn the_swarm_with_a_tight_watermark_lag() {
    common::swarm_at_lags(
        &[
            "saga-forward-status",
            "saga-forward-wal",
            "saga-backward-status",
            "saga-backward-wal",
            "saga-no-recovery",
        ],
        &[0, 3, 40],
        100,
        |s, lag| s.saga.watermark_lag_ids = lag,
    );
}
