//! Property tests of the service-call patterns (protocol `calls`): with the patterns
//! on, every order ends consistent across the three services for any fault schedule
//! that heals; reconciliation finds every lost order within one period (plus a pass
//! and the grace time) of the healing; and each pattern switched off shows the
//! anomaly it prevents for some schedule.

use crate::common::run;
use acidbase::report::Report;
use acidbase::scenario::{self, CallModeSpec, RandomCrashSpec, Scenario};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// The world: order (rm1), payment (rm2), shipping (rm3), client.
const NODES: [&str; 4] = ["rm1", "rm2", "rm3", "client"];

fn base() -> Scenario {
    acidbase::run::parse(
        r#"(
            protocol: "calls",
            rms: 3,
            duration_ms: 1000,
            drain_ms: 2000,
            clients: (load: Closed(sessions: 4, think_ms: 5), deadline_ms: 300),
            network: (latency: Uniform(min_ms: 1, max_ms: 8)),
            calls: (call_timeout_ms: 40, callback_timeout_ms: 80, processing_ms: 15,
                    retry_ms: 30, period_ms: 200, page_size: 100, grace_ms: 20),
        )"#,
        "calls-base.ron",
    )
    .expect("the base scenario is valid")
    .into_scenario()
}

/// A fault schedule; every window heals before the horizon (1000 ms).
#[derive(Clone, Debug)]
struct Schedule {
    seed: u64,
    sessions: u32,
    mode_async: bool,
    query: bool,
    crashes: Vec<(usize, f64, f64)>,
    partitions: Vec<([bool; 4], f64, f64)>,
    one_way: Vec<(usize, usize, f64, f64)>,
    loss: f64,
    duplicate: f64,
    /// Random crashes of every node (per second) and clock drift (ppm, at most).
    random_crash_rate: f64,
    max_drift_ppm: u32,
    /// Pattern timings: call timeout, retry period, page size.
    call_timeout_ms: f64,
    retry_ms: f64,
    page_size: u32,
}

fn window() -> impl Strategy<Value = (f64, f64)> {
    (0.0..900.0f64, 1.0..300.0f64).prop_map(|(from, len)| (from, (from + len).min(990.0)))
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        any::<u64>(),
        1u32..=8,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0..4usize, window()), 0..3),
        prop::collection::vec((any::<[bool; 4]>(), window()), 0..3),
        prop::collection::vec((0..4usize, 0..4usize, window()), 0..3),
        prop_oneof![Just(0.0), 0.0..0.2f64],
        prop_oneof![Just(0.0), 0.0..0.2f64],
        (
            prop_oneof![Just(0.0), 0.0..2.0f64],
            prop_oneof![Just(0u32), 0u32..200_000],
            10.0..100.0f64,
            10.0..100.0f64,
            1u32..=200,
        ),
    )
        .prop_map(
            |(
                seed,
                sessions,
                mode_async,
                query,
                crashes,
                partitions,
                one_way,
                loss,
                duplicate,
                (random_crash_rate, max_drift_ppm, call_timeout_ms, retry_ms, page_size),
            )| {
                Schedule {
                    seed,
                    sessions,
                    mode_async,
                    query,
                    crashes: crashes.into_iter().map(|(n, (a, b))| (n, a, b)).collect(),
                    partitions: partitions
                        .into_iter()
                        .map(|(s, (a, b))| (s, a, b))
                        .collect(),
                    one_way: one_way
                        .into_iter()
                        .map(|(f, t, (a, b))| (f, t, a, b))
                        .collect(),
                    loss,
                    duplicate,
                    random_crash_rate,
                    max_drift_ppm,
                    call_timeout_ms,
                    retry_ms,
                    page_size,
                }
            },
        )
}

fn apply(mut s: Scenario, sch: &Schedule) -> Scenario {
    s.seed = sch.seed;
    s.clients.load = scenario::LoadSpec::Closed {
        sessions: sch.sessions,
        think_ms: 5.0,
    };
    s.calls.mode = if sch.mode_async {
        CallModeSpec::Async
    } else {
        CallModeSpec::Sync
    };
    s.calls.query = sch.query;
    let names: Vec<String> = NODES.iter().map(|n| n.to_string()).collect();
    common::add_scripted_faults(&mut s, &names, &sch.crashes, &sch.partitions, &sch.one_way);
    if sch.random_crash_rate > 0.0 {
        s.faults.random_crashes.push(RandomCrashSpec {
            nodes: vec!["all".into()],
            rate_per_s: sch.random_crash_rate,
            mean_downtime_ms: 60.0,
        });
    }
    s.faults.max_drift_ppm = sch.max_drift_ppm;
    s.network.loss_probability = sch.loss;
    s.network.duplicate_probability = sch.duplicate;
    s.calls.call_timeout_ms = sch.call_timeout_ms;
    s.calls.callback_timeout_ms = 2.0 * sch.call_timeout_ms;
    s.calls.retry_ms = sch.retry_ms;
    s.calls.page_size = sch.page_size;
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

/// With every pattern on, the three services agree on every order at quiescence.
/// Returns whether the patterns had work to do (a timeout), for the "sometimes" check.
fn check_consistent(sch: &Schedule) -> Result<bool, TestCaseError> {
    let s = apply(base(), sch);
    let r = report(&s);
    prop_assert_eq!(r.calls.inconsistent_at_end, 0, "{}", r.to_text());
    prop_assert_eq!(r.violations.invariant, 0, "{}", r.to_text());
    prop_assert_eq!(r.repair.silent, 0, "{}", r.to_text());
    prop_assert!(!r.stopped_by_event_guard);
    prop_assert!(r.txns.requests > 0);
    Ok(r.calls.timeouts > 0)
}

/// Runs `check` over `cases` schedules and returns how many said "sometimes".
fn for_all(cases: u32, check: impl Fn(&Schedule) -> Result<bool, TestCaseError>) -> u32 {
    let hits = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&schedule(), |sch| {
        if check(&sch)? {
            hits.set(hits.get() + 1);
        }
        Ok(())
    }) {
        panic!("{e}");
    }
    hits.get()
}

#[test]
fn with_the_patterns_on_every_order_ends_consistent() {
    let with_timeouts = for_all(256, check_consistent);
    assert!(
        with_timeouts >= 64,
        "only {with_timeouts} of 256 schedules made a call time out: the property is vacuous"
    );
}

/// Compensation and assurance alone keep every order consistent: reconciliation is
/// the safety net for what they miss (when they are off, or a service loses data).
#[test]
fn compensation_and_assurance_suffice_without_reconciliation() {
    for_all(256, |sch| {
        let mut s = apply(base(), sch);
        s.calls.reconciliation = false;
        let r = report(&s);
        prop_assert_eq!(r.calls.inconsistent_at_end, 0, "{}", r.to_text());
        prop_assert_eq!(r.calls.reconciliation_batches, 0);
        Ok(true)
    });
}

/// Without shipping assurance, paid orders are lost on the shipping side while it is
/// unreachable; reconciliation finds every one of them within one period and one
/// pass of the order becoming judgeable (the heal, plus the grace time — for an
/// order still paying, plus its call timeout). Every lost order *is* found: the run
/// ends consistent, and only reconciliation ships a lost order.
fn check_reconciliation_bound(sch: &Schedule) -> Result<bool, TestCaseError> {
    let mut sch = sch.clone();
    sch.loss = 0.0; // loss after the heal would lose repairs again
    sch.page_size = 100; // a pass must fit in a period (see the book)
    sch.max_drift_ppm = 0; // the bound is in virtual time
    let mut s = apply(base(), &sch);
    s.calls.async_assurance = false;
    let out = run(&s, s.seed, None);
    let r = &out.report;
    prop_assert_eq!(r.calls.inconsistent_at_end, 0, "{}", r.to_text());
    let heal_us = acidbase::run::fault_plan(&s, s.seed, &out.names)
        .last_heal_us()
        .unwrap_or(0);
    let c = &out.results.counts.calls;
    let wait_ms = if sch.mode_async {
        s.calls.callback_timeout_ms
    } else {
        s.calls.call_timeout_ms
    };
    let bound = heal_us
        + acidbase::run::ms_to_us(s.calls.period_ms + s.calls.grace_ms + wait_ms)
        + c.reconciliation_pass_us_max;
    for &(txn, at) in &c.findings {
        prop_assert!(
            at <= bound,
            "order {} found at {} µs, later than heal {} + period + grace + wait + pass {} µs = {}",
            txn,
            at,
            heal_us,
            c.reconciliation_pass_us_max,
            bound
        );
    }
    Ok(r.calls.lost_orders > 0)
}

#[test]
fn reconciliation_finds_every_lost_order_within_a_period_of_the_heal() {
    let with_lost = for_all(256, check_reconciliation_bound);
    assert!(
        with_lost >= 64,
        "only {with_lost} of 256 schedules lost an order: the property is vacuous"
    );
}

/// The same properties over 5,000 schedules:
/// `cargo test --release --test suite service_calls:: -- --ignored`.
#[test]
#[ignore]
fn the_properties_long() {
    for_all(5_000, check_consistent);
    for_all(5_000, check_reconciliation_bound);
}

/// Searches schedules for one on which `anomaly` shows under `variant`; returns the
/// shrunk schedule.
fn find(variant: fn(&mut Scenario), anomaly: fn(&Report) -> bool) -> Option<Schedule> {
    let mut runner = TestRunner::new(config(256));
    let result = runner.run(&schedule(), |sch| {
        let mut s = apply(base(), &sch);
        variant(&mut s);
        prop_assert!(!anomaly(&report(&s)));
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, sch)) => Some(sch),
        _ => None,
    }
}

fn assert_found(variant: fn(&mut Scenario), anomaly: fn(&Report) -> bool, what: &str) {
    let sch = find(variant, anomaly).unwrap_or_else(|| panic!("no schedule showed {what}"));
    let mut s = apply(base(), &sch);
    variant(&mut s);
    assert!(
        anomaly(&report(&s)),
        "the shrunk schedule still shows {what}"
    );
}

/// Silent inconsistencies: orders the services disagree on that nobody reported.
fn silent(r: &Report) -> bool {
    r.calls.inconsistent_at_end > 0 && r.repair.silent > 0
}

#[test]
fn without_compensation_a_sync_timeout_leaves_orders_inconsistent() {
    assert_found(
        |s| {
            s.calls.mode = CallModeSpec::Sync;
            s.calls.compensation = false;
            s.calls.reconciliation = false;
        },
        silent,
        "a charged order the caller cancelled",
    );
}

#[test]
fn without_compensation_an_overdue_callback_leaves_orders_unfinished() {
    assert_found(
        |s| {
            s.calls.mode = CallModeSpec::Async;
            s.calls.compensation = false;
            s.calls.reconciliation = false;
        },
        silent,
        "an order waiting forever for its callback",
    );
}

#[test]
fn without_assurance_or_reconciliation_paid_orders_are_lost() {
    assert_found(
        |s| {
            s.calls.async_assurance = false;
            s.calls.reconciliation = false;
        },
        silent,
        "a paid order never shipped",
    );
}

#[test]
fn without_query_compensation_cancels_orders_that_were_charged() {
    // Fast-fail + cancel is consistent, but it refunds and cancels orders whose
    // payment went through: the query would have completed them.
    assert_found(
        |s| {
            s.calls.query = false;
            s.calls.reconciliation = false;
        },
        |r| r.calls.compensations > 0 && r.repair.automatic > 0 && r.calls.queries == 0,
        "a charged order cancelled and refunded",
    );
}

// ---- the binary, run as a user would, on the shipped scenarios ----

use crate::common;
use crate::common::{acidbase, path_str, stdout, TempDir};

fn json_of(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let o = acidbase(args);
    let v = serde_json::from_str(&stdout(&o)).expect("the JSON report parses");
    (o.status.code(), v)
}

fn num(v: &serde_json::Value, path: &str) -> f64 {
    acidbase::report::lookup(v, path).unwrap_or_else(|| panic!("{path} is in the report"))
}

/// Runs a shipped scenario, then the same scenario with one option flipped (a text
/// replacement in the file), and returns both reports with their exit codes.
fn with_and_without(
    name: &str,
    from: &str,
    to: &str,
) -> (
    (Option<i32>, serde_json::Value),
    (Option<i32>, serde_json::Value),
) {
    let file = format!("scenarios/{name}.ron");
    let on = json_of(&["run", &file, "--format", "json"]);
    let source =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&file))
            .expect("the scenario is readable");
    assert!(source.contains(from), "{file} sets {from}");
    let tag: String = to.chars().filter(char::is_ascii_alphanumeric).collect();
    let dir = TempDir::new(&format!("{name}-{tag}"));
    let flipped = dir.write(&format!("{name}.ron"), &source.replace(from, to));
    let off = json_of(&["run", path_str(&flipped), "--format", "json"]);
    (on, off)
}

#[test]
fn sync_timeout_compensation_turns_silent_charges_into_consistent_orders() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "sync-timeout-compensation",
        "compensation: true",
        "compensation: false",
    );
    assert_eq!(code_on, Some(0));
    assert!(num(&on, "calls.timeouts") >= 2.0);
    assert!(num(&on, "calls.queries") >= 2.0);
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    // Without compensation: cancelled here, charged there, and nobody knows.
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.inconsistent_at_end") >= 1.0);
    assert_eq!(
        num(&off, "repair.silent"),
        num(&off, "calls.inconsistent_at_end")
    );
}

#[test]
fn fast_fail_and_cancel_is_consistent_without_the_query() {
    let (_, (code, off)) =
        with_and_without("sync-timeout-compensation", "query: true", "query: false");
    // The expectation on queries fails (exit 1), the orders stay consistent.
    assert_eq!(code, Some(1));
    assert_eq!(num(&off, "calls.queries"), 0.0);
    assert!(num(&off, "calls.compensations") >= 2.0);
    assert_eq!(num(&off, "calls.inconsistent_at_end"), 0.0);
}

#[test]
fn async_callback_timeout_without_compensation_leaves_orders_waiting() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "async-callback-timeout",
        "compensation: true",
        "compensation: false",
    );
    assert_eq!(code_on, Some(0));
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.inconsistent_at_end") >= 1.0);
    assert_eq!(num(&off, "calls.queries"), 0.0);
}

#[test]
fn lost_orders_are_found_by_reconciliation_and_stay_lost_without_it() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "lost-order-reconciliation",
        "reconciliation: true",
        "reconciliation: false",
    );
    assert_eq!(code_on, Some(0));
    assert!(num(&on, "calls.lost_orders") >= 3.0);
    assert_eq!(
        num(&on, "calls.found_by_reconciliation"),
        num(&on, "calls.lost_orders") + num(&on, "calls.state_mismatches")
    );
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.inconsistent_at_end") >= 3.0);
    assert_eq!(num(&off, "calls.reconciliation_batches"), 0.0);
}

#[test]
fn state_mismatches_are_repaired_by_reconciliation_and_stay_without_it() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "state-mismatch-reconciliation",
        "reconciliation: true",
        "reconciliation: false",
    );
    assert_eq!(code_on, Some(0));
    assert!(num(&on, "calls.state_mismatches") >= 3.0);
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.inconsistent_at_end") >= 3.0);
}

#[test]
fn late_copies_for_an_archived_order_are_answered_from_the_watermark() {
    let (code, r) = json_of(&[
        "run",
        "scenarios/calls-late-calls-after-archive.ron",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(num(&r, "calls.late_for_archived"), 3.0);
    assert!(num(&r, "calls.archived_orders") >= 100.0);
    assert_eq!(num(&r, "calls.inconsistent_at_end"), 0.0);
    // The same copies, asynchronously: the pending charge is a record too.
    let (_, (code_async, a)) = with_and_without(
        "calls-late-calls-after-archive",
        "rms: 3,",
        "rms: 3, calls: (mode: Async),",
    );
    assert_eq!(code_async, Some(0));
    assert_eq!(num(&a, "calls.late_for_archived"), 3.0);
    assert_eq!(num(&a, "calls.inconsistent_at_end"), 0.0);
}

#[test]
fn reconciliation_finds_every_lost_order_among_archived_ones() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "calls-reconciliation-across-archive",
        "reconciliation: true",
        "reconciliation: false",
    );
    assert_eq!(code_on, Some(0));
    assert!(num(&on, "calls.lost_orders") >= 10.0);
    assert!(num(&on, "calls.archived_orders") >= 250.0);
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    assert_eq!(num(&on, "repair.automatic"), num(&on, "calls.lost_orders"));
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.inconsistent_at_end") >= 10.0);
    assert_eq!(
        num(&off, "repair.silent"),
        num(&off, "calls.inconsistent_at_end")
    );
}

#[test]
fn reconciliation_fences_an_unannounced_cancel_so_the_watermark_passes_it() {
    let ((code_on, on), (code_off, off)) = with_and_without(
        "calls-unconfirmed-cancel-fenced",
        "reconciliation: true",
        "reconciliation: false",
    );
    assert_eq!(code_on, Some(0));
    assert!(num(&on, "calls.timeouts") >= 3.0);
    assert!(num(&on, "calls.archived_orders") >= 150.0);
    assert_eq!(num(&on, "calls.late_for_archived"), 1.0);
    assert_eq!(num(&on, "calls.inconsistent_at_end"), 0.0);
    // Without it the first cancel holds the watermark, and the late charge lands.
    assert_eq!(code_off, Some(1));
    assert!(num(&off, "calls.archived_orders") < 20.0);
    assert_eq!(num(&off, "calls.inconsistent_at_end"), 1.0);
    assert_eq!(num(&off, "repair.silent"), 1.0);
}

#[test]
fn the_story_names_the_inconsistent_orders() {
    let dir = TempDir::new("calls-story");
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/lost-order-reconciliation.ron"),
    )
    .expect("readable");
    let f = dir.write(
        "lost.ron",
        &source.replace("reconciliation: true", "reconciliation: false"),
    );
    let o = acidbase(&["run", path_str(&f)]);
    let text = stdout(&o);
    assert!(
        text.contains("ORDERS INCONSISTENT ACROSS SERVICES") && text.contains("PaidNotShipped"),
        "{text}"
    );
}

#[test]
fn calls_needs_three_services() {
    let dir = TempDir::new("calls-rms");
    let f = dir.write("bad.ron", "(protocol: \"calls\", rms: 4)");
    let o = acidbase(&["run", path_str(&f)]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::stderr(&o);
    assert!(err.contains("rms = 4") && err.contains("rms: 3"), "{err}");
}
