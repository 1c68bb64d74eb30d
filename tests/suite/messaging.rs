//! Reliable messaging: properties over generated fault schedules, and the shipped
//! messaging scenarios run through the binary as a user would.
//!
//! - With a safe mechanism (outbox, half message with check-back) and any of the four
//!   idempotent consumers, at-least-once delivery never applies a message twice,
//!   loses none, makes no phantom, and at quiescence money is conserved with nothing
//!   in flight — for every schedule whose faults heal, with every fault at once
//!   (crashes of every node, the broker included, scripted and random; partitions;
//!   one-way cuts; loss, duplication, long reordering; drift; a client restarting so
//!   often that transaction ids jump by hundreds of thousands).
//! - Each unsafe variant (no dedupe, publish-then-commit, commit-then-publish) shows
//!   its anomaly for some schedule (a seed search over random crash schedules).

use crate::common;

use crate::common::run;
use crate::common::{acidbase, stdout, TempDir};
use acidbase::report::Report;
use acidbase::scenario::{self, ConsumerSpec, CrashSpec, MechanismSpec, RandomCrashSpec, Scenario};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Two services, every transfer crossing them, short timers so recovery has many
/// rounds within the drain.
fn base() -> Scenario {
    acidbase::run::parse(
        r#"(
            protocol: "messaging",
            rms: 2,
            duration_ms: 1000,
            drain_ms: 3000,
            workload: Transfer(accounts_per_shard: 6, initial_balance: 500, amount_min: 1, amount_max: 80, keys: PerSession),
            clients: (load: Closed(sessions: 4, think_ms: 2), deadline_ms: 200),
            network: (latency: Uniform(min_ms: 1, max_ms: 8)),
            messaging: (step_delay_ms: 10, retry_ms: 30, redeliver_ms: 40, checkback_ms: 40),
        )"#,
        "base.ron",
    )
    .expect("the base scenario is valid")
    .into_scenario()
}

/// Nodes a fault may hit (the client too: it only stops issuing requests).
const NODES: [&str; 5] = ["tm", "rm1", "rm2", "broker", "client"];

/// A fault schedule whose every fault heals before the horizon (1000 ms).
#[derive(Clone, Debug)]
struct Schedule {
    seed: u64,
    crashes: Vec<(usize, f64, f64)>,
    partitions: Vec<(Vec<bool>, f64, f64)>,
    one_way: Vec<(usize, usize, f64, f64)>,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    reorder_delay_ms: f64,
    /// Random crashes of every node (per node and second) and their mean downtime.
    crash_rate_per_s: f64,
    downtime_ms: f64,
    /// Extra client restarts per second: each skips up to 1,024 transaction ids.
    client_restarts_per_s: f64,
    drift_ppm: u32,
}

fn window() -> impl Strategy<Value = (f64, f64)> {
    (0.0..900.0f64, 1.0..250.0f64).prop_map(|(from, len)| (from, (from + len).min(999.0)))
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        (
            any::<u64>(),
            prop::collection::vec((0..NODES.len(), window()), 0..5),
            prop::collection::vec(
                (prop::collection::vec(any::<bool>(), NODES.len()), window()),
                0..2,
            ),
            prop::collection::vec((0..NODES.len(), 0..NODES.len(), window()), 0..3),
        ),
        (
            prop_oneof![Just(0.0), 0.0..0.3f64],
            prop_oneof![Just(0.0), 0.0..0.5f64],
            prop_oneof![Just(0.0), 0.0..0.5f64],
            prop_oneof![Just(20.0), 1.0..500.0f64],
        ),
        (
            prop_oneof![Just(0.0), 0.0..4.0f64],
            1.0..80.0f64,
            prop_oneof![Just(0.0), 50.0..400.0f64],
            prop_oneof![Just(0u32), 0u32..100_000],
        ),
    )
        .prop_map(
            |(
                (seed, crashes, partitions, one_way),
                (loss, duplicate, reorder, reorder_delay_ms),
                (crash_rate_per_s, downtime_ms, client_restarts_per_s, drift_ppm),
            )| Schedule {
                seed,
                crashes: crashes.into_iter().map(|(n, (a, b))| (n, a, b)).collect(),
                partitions: partitions
                    .into_iter()
                    .map(|(sides, (a, b))| (sides, a, b))
                    .collect(),
                one_way: one_way
                    .into_iter()
                    .map(|(f, t, (a, b))| (f, t, a, b))
                    .collect(),
                loss,
                duplicate,
                reorder,
                reorder_delay_ms,
                crash_rate_per_s,
                downtime_ms,
                client_restarts_per_s,
                drift_ppm,
            },
        )
}

fn apply(mut s: Scenario, sch: &Schedule) -> Scenario {
    s.seed = sch.seed;
    let names: Vec<String> = NODES.iter().map(|n| n.to_string()).collect();
    common::add_scripted_faults(&mut s, &names, &sch.crashes, &sch.partitions, &sch.one_way);
    s.network.loss_probability = sch.loss;
    s.network.duplicate_probability = sch.duplicate;
    s.network.reorder_probability = sch.reorder;
    s.network.reorder_delay_ms = sch.reorder_delay_ms;
    if sch.crash_rate_per_s > 0.0 {
        s.faults.random_crashes.push(RandomCrashSpec {
            nodes: vec!["all".into()],
            rate_per_s: sch.crash_rate_per_s,
            mean_downtime_ms: sch.downtime_ms,
        });
    }
    if sch.client_restarts_per_s > 0.0 {
        s.faults.random_crashes.push(RandomCrashSpec {
            nodes: vec!["client".into()],
            rate_per_s: sch.client_restarts_per_s,
            mean_downtime_ms: 0.5,
        });
    }
    s.faults.max_drift_ppm = sch.drift_ppm;
    s
}

fn report(s: &Scenario) -> Report {
    run(s, s.seed, None).report
}

const IDEMPOTENT: [ConsumerSpec; 4] = [
    ConsumerSpec::UniqueKey,
    ConsumerSpec::DedupeTable,
    ConsumerSpec::StateMachine,
    ConsumerSpec::NaturallyIdempotent,
];

fn check_safe(sch: &Schedule) -> Result<(), TestCaseError> {
    for mechanism in [MechanismSpec::Outbox, MechanismSpec::HalfMessage] {
        for consumer in IDEMPOTENT {
            let mut s = apply(base(), sch);
            s.messaging.mechanism = mechanism;
            s.messaging.consumer = consumer;
            let r = report(&s);
            let m = &r.messaging;
            let why = || format!("{mechanism:?} + {consumer:?}: {}", r.to_text());
            prop_assert_eq!(m.duplicates_applied, 0, "{}", why());
            prop_assert_eq!(m.lost_messages, 0, "{}", why());
            prop_assert_eq!(m.phantom_messages, 0, "{}", why());
            prop_assert_eq!(m.pending_at_end, 0, "{}", why());
            prop_assert_eq!(r.violations.invariant, 0, "{}", why());
            prop_assert_eq!(r.violations.atomicity, 0, "{}", why());
            prop_assert_eq!(r.txns.unresolved, 0, "{}", why());
            prop_assert_eq!(r.money.in_doubt, 0, "{}", why());
            prop_assert!(r.txns.requests > 0);
            prop_assert!(!r.stopped_by_event_guard);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 48, failure_persistence: None, ..Config::default() })]

    #[test]
    fn safe_mechanisms_with_idempotent_consumers_never_double_apply_and_conserve_money(
        sch in schedule()
    ) {
        check_safe(&sch)?;
    }
}

/// The same property over many more schedules:
/// `cargo test --release --test suite messaging:: -- --ignored`.
#[test]
#[ignore]
fn safe_mechanisms_long() {
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&schedule(), |sch| check_safe(&sch)) {
        panic!("{e}");
    }
}

/// Random crash schedules drawn from the seed: the producer and consumer services
/// crash about twice a second each and come back after ~60 ms; the link loses and
/// duplicates a little.
fn unsafe_base(seed: u64) -> Scenario {
    let mut s = base();
    s.seed = seed;
    s.faults.random_crashes.push(RandomCrashSpec {
        nodes: vec!["rms".into()],
        rate_per_s: 2.0,
        mean_downtime_ms: 60.0,
    });
    s.network.loss_probability = 0.05;
    s.network.duplicate_probability = 0.05;
    s
}

/// The first seed (of 64) whose run shows the anomaly `shows`, with that run.
fn seed_search(variant: impl Fn(&mut Scenario), shows: impl Fn(&Report) -> bool) -> (u64, Report) {
    (1..=64)
        .map(|seed| {
            let mut s = unsafe_base(seed);
            variant(&mut s);
            (seed, report(&s))
        })
        .find(|(_, r)| shows(r))
        .expect("some schedule shows the anomaly")
}

#[test]
fn a_consumer_without_dedupe_double_applies_for_some_schedule() {
    let (seed, r) = seed_search(
        |s| s.messaging.consumer = ConsumerSpec::NoDedupe,
        |r| r.messaging.duplicates_applied > 0,
    );
    assert_eq!(r.violations.invariant, 1, "seed {seed}: money created");
    assert!(r.money.final_ > r.money.initial, "seed {seed}");
    // The same schedule with a dedupe method: no double application.
    let mut s = unsafe_base(seed);
    s.messaging.consumer = ConsumerSpec::DedupeTable;
    let fixed = report(&s);
    assert_eq!(fixed.messaging.duplicates_applied, 0);
    assert_eq!(fixed.violations.invariant, 0);
}

#[test]
fn publish_then_commit_makes_a_phantom_message_for_some_schedule() {
    let (seed, r) = seed_search(
        |s| s.messaging.mechanism = MechanismSpec::PublishThenCommit,
        |r| r.messaging.phantom_messages > 0,
    );
    assert_eq!(r.violations.invariant, 1, "seed {seed}");
    assert!(
        r.money.final_ > r.money.initial,
        "seed {seed}: money created"
    );
}

#[test]
fn commit_then_publish_loses_a_message_for_some_schedule() {
    let (seed, r) = seed_search(
        |s| s.messaging.mechanism = MechanismSpec::CommitThenPublish,
        |r| r.messaging.lost_messages > 0,
    );
    assert_eq!(r.violations.invariant, 1, "seed {seed}");
    assert!(
        r.money.final_ + r.money.in_doubt < r.money.initial,
        "seed {seed}: money destroyed"
    );
    // The same schedule with the outbox: nothing lost.
    let s = unsafe_base(seed);
    let fixed = report(&s);
    assert_eq!(fixed.messaging.lost_messages, 0);
    assert_eq!(fixed.violations.invariant, 0);
}

#[test]
fn money_still_in_the_broker_is_in_flight_not_lost() {
    // The consumer goes down for good before the horizon: its credits wait in the
    // broker. Money is not conserved in the balances, but it is all in flight.
    let mut s = base();
    s.drain_ms = 100.0;
    s.faults.crashes.push(CrashSpec {
        node: "rm2".into(),
        at_ms: 500.0,
        restart_ms: None,
    });
    let r = report(&s);
    assert!(r.messaging.pending_at_end > 0);
    assert!(r.messaging.in_flight_money > 0);
    assert_eq!(r.money.in_doubt, r.messaging.in_flight_money);
    assert_eq!(r.messaging.lost_messages, 0);
    assert_eq!(r.violations.invariant, 0, "{}", r.to_text());
    assert!(r.txns.unresolved > 0, "not consistent yet");
}

// --- The shipped scenarios through the binary -----------------------------------

/// The issue's loss, twice: outbox rows re-published after more than 65,536 newer
/// transaction ids (a long partition at 100,000 transfers a second; a client
/// restarting 106 times) were confirmed by a broker that remembered only a window of
/// recent ids, and never delivered. Each scenario holds as shipped, and the cheap one
/// (a few hundred transfers) under every safe mechanism and idempotent consumer; the
/// 70,000-transfer one also with a half message and a dedupe table (the consumer kept
/// a window of recent ids too).
#[test]
fn republished_messages_are_delivered_however_far_the_ids_moved_on() {
    let all: Vec<(MechanismSpec, ConsumerSpec)> =
        [MechanismSpec::Outbox, MechanismSpec::HalfMessage]
            .into_iter()
            .flat_map(|m| IDEMPOTENT.into_iter().map(move |c| (m, c)))
            .collect();
    for (file, combos) in [
        (
            "scenarios/outbox-republish-after-partition.ron",
            vec![(MechanismSpec::HalfMessage, ConsumerSpec::DedupeTable)],
        ),
        ("scenarios/outbox-republish-after-client-restarts.ron", all),
    ] {
        let (code, r) = json(&["run", file, "--format", "json"]);
        assert_eq!(code, 0, "{file} meets its expectations");
        assert_eq!(num(&r, "messaging.lost_messages"), 0.0, "{file}");
        assert_eq!(num(&r, "money.final"), num(&r, "money.initial"), "{file}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let shipped = acidbase::run::load(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_scenario();
        for (mechanism, consumer) in combos {
            let mut s = shipped.clone();
            s.messaging.mechanism = mechanism;
            s.messaging.consumer = consumer;
            let r = report(&s);
            let why = || format!("{file}, {mechanism:?} + {consumer:?}: {}", r.to_text());
            assert_eq!(r.messaging.lost_messages, 0, "{}", why());
            assert_eq!(r.messaging.duplicates_applied, 0, "{}", why());
            assert_eq!(r.messaging.pending_at_end, 0, "{}", why());
            assert_eq!(r.violations.invariant, 0, "{}", why());
        }
    }
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = acidbase(args);
    let code = out.status.code().expect("exited");
    let v = serde_json::from_str(&stdout(&out)).expect("a JSON report");
    (code, v)
}

fn num(v: &serde_json::Value, path: &str) -> f64 {
    acidbase::report::lookup(v, path).unwrap_or_else(|| panic!("{path} in the report"))
}

/// Runs `scenario` through the binary as shipped (it must pass, exit 0) and with
/// `from` replaced by `to` (its lesson flips, so its expectations fail: exit 1).
fn shipped_and_flipped(
    scenario: &str,
    from: &str,
    to: &str,
) -> (serde_json::Value, serde_json::Value) {
    let (code, shipped) = json(&["run", scenario, "--format", "json"]);
    assert_eq!(code, 0, "{scenario} meets its expectations");
    let source =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario))
            .expect("readable");
    assert!(source.contains(from), "{scenario} says {from}");
    // Named by scenario and flip: two tests flip different files the same way, and
    // run in parallel.
    let stem = std::path::Path::new(scenario)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    let dir = TempDir::new(&format!("flip-{stem}-{}", to.replace([':', ' '], "-")));
    let flipped_path = dir.write("flipped.ron", &source.replace(from, to));
    let (code, flipped) = json(&["run", common::path_str(&flipped_path), "--format", "json"]);
    assert_eq!(code, 1, "{scenario} with {to}: the lesson flips");
    (shipped, flipped)
}

#[test]
fn outbox_relay_loses_nothing_and_commit_then_publish_loses() {
    let (ok, bad) = shipped_and_flipped(
        "scenarios/outbox-relay.ron",
        "mechanism: Outbox",
        "mechanism: CommitThenPublish",
    );
    assert_eq!(num(&ok, "messaging.lost_messages"), 0.0);
    assert_eq!(num(&ok, "messaging.pending_at_end"), 0.0);
    assert!(num(&ok, "repair.automatic") >= 1.0);
    assert!(num(&ok, "messaging.redelivered") >= 1.0);
    assert!(num(&bad, "messaging.lost_messages") >= 1.0);
    assert!(num(&bad, "money.final") < num(&bad, "money.initial"));
}

#[test]
fn half_message_checkback_resolves_and_without_it_messages_stay_pending() {
    let (ok, bad) = shipped_and_flipped(
        "scenarios/half-message-checkback.ron",
        "check_back: true",
        "check_back: false",
    );
    assert!(num(&ok, "messaging.checkbacks") >= 1.0);
    assert_eq!(num(&ok, "messaging.pending_at_end"), 0.0);
    assert_eq!(num(&bad, "messaging.checkbacks"), 0.0);
    assert!(num(&bad, "messaging.pending_at_end") >= 1.0);
    assert!(num(&bad, "money.in_doubt") > 0.0, "stuck in flight");
    assert_eq!(num(&bad, "violations.invariant"), 0.0, "stuck, not lost");
}

#[test]
fn consumer_without_dedupe_double_applies_and_each_method_fixes_it() {
    for method in [
        "UniqueKey",
        "DedupeTable",
        "StateMachine",
        "NaturallyIdempotent",
    ] {
        let (bad, ok) = shipped_and_flipped(
            "scenarios/consumer-without-dedupe.ron",
            "consumer: NoDedupe",
            &format!("consumer: {method}"),
        );
        assert!(num(&bad, "messaging.duplicates_applied") >= 1.0);
        assert!(num(&bad, "money.final") > num(&bad, "money.initial"));
        assert_eq!(num(&ok, "messaging.duplicates_applied"), 0.0, "{method}");
        assert!(num(&ok, "messaging.duplicates_ignored") >= 1.0, "{method}");
        assert_eq!(num(&ok, "violations.invariant"), 0.0, "{method}");
    }
}

/// A copy of a delivery arriving after its record went to the consumer's archive is
/// recognised by every idempotent consumer, and applied twice without one.
#[test]
fn a_redelivery_after_its_record_was_archived_is_recognised() {
    let file = "scenarios/messaging-redelivery-after-archive.ron";
    let (ok, bad) = shipped_and_flipped(file, "consumer: UniqueKey", "consumer: NoDedupe");
    assert_eq!(num(&ok, "messaging.duplicates_ignored"), 1.0);
    assert_eq!(num(&bad, "messaging.duplicates_applied"), 1.0);
    assert!(num(&bad, "money.final") > num(&bad, "money.initial"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let shipped = acidbase::run::load(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario();
    for consumer in IDEMPOTENT {
        let mut s = shipped.clone();
        s.messaging.consumer = consumer;
        let r = report(&s);
        let why = || format!("{consumer:?}: {}", r.to_text());
        assert_eq!(r.messaging.duplicates_ignored, 1, "{}", why());
        assert_eq!(r.messaging.duplicates_applied, 0, "{}", why());
        assert_eq!(r.violations.invariant, 0, "{}", why());
    }
}

/// A late copy of a Register, checked back after its producer dropped the record,
/// is dropped, with every consumer.
#[test]
fn a_late_register_after_its_record_was_dropped_is_dropped_at_its_check_back() {
    let file = "scenarios/half-message-late-register-after-archive.ron";
    let (code, r) = json(&["run", file, "--format", "json"]);
    assert_eq!(code, 0, "{file} meets its expectations");
    assert_eq!(num(&r, "messaging.checkbacks"), 1.0);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let shipped = acidbase::run::load(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario();
    for consumer in IDEMPOTENT.into_iter().chain([ConsumerSpec::NoDedupe]) {
        let mut s = shipped.clone();
        s.messaging.consumer = consumer;
        let r = report(&s);
        let why = || format!("{consumer:?}: {}", r.to_text());
        assert_eq!(r.messaging.checkbacks, 1, "{}", why());
        assert_eq!(r.messaging.duplicates_applied, 0, "{}", why());
        assert_eq!(r.messaging.pending_at_end, 0, "{}", why());
        assert_eq!(r.violations.invariant, 0, "{}", why());
    }
}

#[test]
fn publish_then_commit_makes_phantoms_and_commit_then_publish_loses() {
    let (phantom, lost) = shipped_and_flipped(
        "scenarios/publish-then-commit.ron",
        "mechanism: PublishThenCommit",
        "mechanism: CommitThenPublish",
    );
    assert!(num(&phantom, "messaging.phantom_messages") >= 1.0);
    assert!(num(&phantom, "money.final") > num(&phantom, "money.initial"));
    assert!(num(&lost, "messaging.lost_messages") >= 1.0);
    assert_eq!(num(&lost, "messaging.phantom_messages"), 0.0);
    assert!(num(&lost, "money.final") < num(&lost, "money.initial"));
}

#[test]
fn bad_messaging_input_is_refused_with_a_located_error() {
    let dir = TempDir::new("messaging-bad-input");
    for (text, needle) in [
        (
            "(protocol: \"messaging\", workload: Transfer(fan_out: 2))",
            "fan_out = 2",
        ),
        (
            "(protocol: \"messaging\", messaging: (retry_ms: 0))",
            "messaging.retry_ms = 0.0",
        ),
        (
            "(protocol: \"messaging\", messaging: (mechanism: Outbux))",
            "Outbox",
        ),
    ] {
        let p = dir.write("bad.ron", text);
        let out = acidbase(&["run", common::path_str(&p)]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = common::stderr(&out);
        assert!(err.contains(needle), "{text}: {err}");
        assert!(err.contains("bad.ron:1:"), "located: {err}");
    }
}

/// Golden numbers of fault-free messaging: per transfer, the protocol's messages,
/// the longest causal chain from the debit's request to the credit, durable writes.
#[test]
fn golden_numbers_per_transfer() {
    for (mechanism, messages, delays, writes) in [
        // Begin, Publish, Stored, Deliver, Ack; debit + row, row deleted, broker
        // stores, broker forgets, credit.
        (MechanismSpec::Outbox, 5.0, 2.0, 5.0),
        // Begin, Register, Registered, Confirm, Deliver, Ack; the broker writes at
        // register, confirm and ack.
        (MechanismSpec::HalfMessage, 6.0, 4.0, 5.0),
        // No outbox row: one write fewer.
        (MechanismSpec::CommitThenPublish, 5.0, 2.0, 4.0),
        // The message's number is taken durably before it goes out (so a restarted
        // producer never numbers another message the same), then the commit.
        (MechanismSpec::PublishThenCommit, 5.0, 2.0, 5.0),
    ] {
        let mut s = base();
        s.network.latency = acidbase::scenario::LatencySpec::Constant { ms: 2.0 };
        s.messaging.mechanism = mechanism;
        let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
            unreachable!("the base scenario is a transfer")
        };
        t.initial_balance = 1_000_000;
        let r = report(&s);
        let m = &r.messaging;
        assert!(r.txns.committed > 100, "{mechanism:?}: {}", r.to_text());
        assert_eq!(r.txns.aborted, 0, "{mechanism:?}");
        assert_eq!(r.per_commit.messages, messages, "{mechanism:?}");
        assert_eq!(r.per_commit.message_delays, delays, "{mechanism:?}");
        assert_eq!(r.per_commit.durable_writes, writes, "{mechanism:?}");
        assert_eq!(m.published, r.txns.committed, "{mechanism:?}");
        assert_eq!(m.delivered, m.published, "no redelivery without faults");
        assert_eq!(m.duplicates_ignored + m.duplicates_applied, 0);
        assert_eq!(r.availability, 1.0);
    }
}

/// The safe property is not vacuous: under the random crash schedules of the seed
/// searches the safe mechanisms do meet duplicates, redeliveries, check-backs and
/// repairs — and still hold.
#[test]
fn safe_mechanisms_meet_the_faults_they_guard_against() {
    let (mut ignored, mut redelivered, mut checkbacks, mut repaired) = (0, 0, 0, 0);
    for seed in 1..=8 {
        for mechanism in [MechanismSpec::Outbox, MechanismSpec::HalfMessage] {
            let mut s = unsafe_base(seed);
            s.messaging.mechanism = mechanism;
            let r = report(&s);
            let m = &r.messaging;
            assert_eq!(
                m.duplicates_applied + m.lost_messages + m.phantom_messages,
                0
            );
            assert_eq!(m.pending_at_end, 0);
            assert_eq!(r.violations.invariant, 0, "{}", r.to_text());
            ignored += m.duplicates_ignored;
            redelivered += m.redelivered;
            checkbacks += m.checkbacks;
            repaired += r.repair.automatic;
        }
    }
    assert!(ignored > 0 && redelivered > 0 && checkbacks > 0 && repaired > 0);
}

#[test]
fn consumer_none_is_no_dedupe() {
    let s = acidbase::run::parse(
        "(protocol: \"messaging\", messaging: (consumer: None))",
        "x.ron",
    )
    .expect("valid")
    .into_scenario();
    assert_eq!(s.messaging.consumer, ConsumerSpec::NoDedupe);
}
