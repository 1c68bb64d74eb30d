//! Bad input through the compiled binary: every case exits 2 without panicking, with
//! an error of the form `FILE:LINE:COL: message` that points at the offending line and
//! names the problem.

use std::process::Output;

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};

/// Exit code 2 (bad input), no panic, no report on stdout.
fn assert_bad_input(o: &Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "the binary panicked:\n{err}");
    assert_eq!(
        o.status.code(),
        Some(2),
        "bad input should exit 2, got {:?}\n--- stdout ---\n{}\n--- stderr ---\n{err}",
        o.status,
        stdout(o)
    );
    assert!(
        !stdout(o).contains("What happened"),
        "no report should be printed for bad input:\n{}",
        stdout(o)
    );
}

/// A located scenario error as printed by the binary.
#[derive(Debug)]
struct Located {
    line: usize,
    col: usize,
    message: String,
}

/// Writes `source` as a scenario, runs it, expects exit 2 and one `error: FILE:L:C: msg`.
fn run_bad(test: &str, source: &str) -> Located {
    let dir = TempDir::new(test);
    let file = dir.0.join(format!("{test}.ron"));
    std::fs::write(&file, source).expect("the temp scenario should be writable");
    let o = acidbase(&["run", path_str(&file)]);
    assert_bad_input(&o);
    let err = stderr(&o);
    let prefix = format!("error: {}:", file.display());
    let rest = err
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("stderr should start with {prefix:?}, got:\n{err}"));
    let mut parts = rest.splitn(3, ':');
    let line = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no line number in:\n{err}"));
    let col = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no column number in:\n{err}"));
    let message = parts
        .next()
        .unwrap_or_else(|| panic!("no message in:\n{err}"))
        .trim()
        .to_string();
    assert!(!message.is_empty(), "empty error message:\n{err}");
    assert_eq!(err.lines().count(), 1, "one error line expected:\n{err}");
    Located { line, col, message }
}

fn assert_mentions(e: &Located, needles: &[&str]) {
    for n in needles {
        assert!(
            e.message.contains(n),
            "the message should mention {n:?}: {e:?}"
        );
    }
}

// ----------------------------------------------------------------------------------
// Errors found by the RON parser

#[test]
fn unknown_field() {
    let e = run_bad("unknown_field", "(\n  rmz: 3,\n)\n");
    assert_eq!((e.line, e.col), (2, 3), "{e:?}");
    assert_mentions(
        &e,
        &["Unexpected field", "`rmz`", "`rms`", "book/src/scenario.md"],
    );
}

#[test]
fn unknown_field_in_a_nested_struct() {
    let e = run_bad(
        "unknown_nested_field",
        "(\n  rms: 3,\n  network: (\n    loss_probabilty: 0.1,\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (4, 5), "{e:?}");
    assert_mentions(
        &e,
        &["`loss_probabilty`", "NetworkSpec", "`loss_probability`"],
    );
}

#[test]
fn wrong_type() {
    let e = run_bad("wrong_type", "(\n  rms: \"three\",\n)\n");
    // Says what was expected instead, on the line of the value.
    assert_eq!(e.line, 2, "{e:?}");
    assert_mentions(&e, &["integer"]);
}

#[test]
fn syntax_error_missing_closing_paren() {
    // The inner `(node: ...` is never closed: the parser finds `]` on line 4.
    let e = run_bad(
        "syntax_inner_paren",
        "(\n  rms: 3,\n  faults: (\n    crashes: [(node: \"tm\", at_ms: 10],\n  ),\n)\n",
    );
    assert_eq!(e.line, 4, "{e:?}");
    assert_mentions(&e, &["Expected comma"]);

    // The outer `(` is never closed: the file ends on line 3.
    let e = run_bad("syntax_outer_paren", "(\n  rms: 3,\n  seed: 1,\n");
    assert_eq!(e.line, 3, "{e:?}");
    assert_mentions(&e, &["Unexpected end of RON"]);
}

// ----------------------------------------------------------------------------------
// Errors found by validation

#[test]
fn probability_outside_0_1() {
    let e = run_bad(
        "probability",
        "(\n  rms: 3,\n  network: (\n    loss_probability: 1.5,\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (4, 5), "{e:?}");
    assert_mentions(&e, &["network.loss_probability = 1.5", "outside [0, 1]"]);
}

#[test]
fn zero_rms() {
    let e = run_bad("zero_rms", "(\n  seed: 1,\n  rms: 0,\n)\n");
    assert_eq!((e.line, e.col), (3, 3), "{e:?}");
    assert_mentions(&e, &["rms = 0", "at least one resource manager"]);
}

#[test]
fn partition_names_a_node_that_does_not_exist() {
    let e = run_bad(
        "partition_unknown_node",
        "(\n  rms: 3,\n  faults: (\n    partitions: [\n      (groups: [[\"tm\", \"rm1\"], [\"rm9\"]], from_ms: 10, to_ms: 20),\n    ],\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (5, 33), "{e:?}");
    assert_mentions(
        &e,
        &[
            "faults.partitions",
            "no node named \"rm9\"",
            "tm, rm1, rm2, rm3, client",
        ],
    );
}

#[test]
fn crash_names_an_unknown_node() {
    let e = run_bad(
        "crash_unknown_node",
        "(\n  rms: 3,\n  faults: (\n    crashes: [\n      (node: \"rm7\", at_ms: 10),\n    ],\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (5, 14), "{e:?}");
    assert_mentions(&e, &["faults.crashes", "no node named \"rm7\"", "rm3"]);
}

#[test]
fn fault_after_the_horizon() {
    let e = run_bad(
        "after_horizon",
        "(\n  duration_ms: 500,\n  faults: (\n    crashes: [\n      (node: \"tm\", at_ms: 600),\n    ],\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (5, 20), "{e:?}");
    assert_mentions(
        &e,
        &[
            "faults.crashes at_ms = 600",
            "after the horizon",
            "duration_ms = 500",
        ],
    );
}

#[test]
fn restart_before_crash() {
    let e = run_bad(
        "restart_before_crash",
        "(\n  duration_ms: 500,\n  faults: (\n    crashes: [\n      (node: \"tm\", at_ms: 100,\n       restart_ms: 50),\n    ],\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (6, 8), "{e:?}");
    assert_mentions(
        &e,
        &["tm restarts at 50 ms", "not after its crash at 100 ms"],
    );
}

#[test]
fn partition_ends_before_it_starts() {
    let e = run_bad(
        "partition_to_before_from",
        "(\n  faults: (\n    partitions: [\n      (groups: [[\"tm\"], [\"rm1\"]], from_ms: 100,\n       to_ms: 100),\n    ],\n  ),\n)\n",
    );
    assert_eq!((e.line, e.col), (5, 8), "{e:?}");
    assert_mentions(&e, &["to_ms = 100 must be after from_ms = 100"]);
}

#[test]
fn unknown_protocol() {
    let e = run_bad(
        "unknown_protocol",
        "(\n  seed: 1,\n  protocol: \"4pc\",\n)\n",
    );
    assert_eq!((e.line, e.col), (3, 3), "{e:?}");
    assert_mentions(&e, &["unknown protocol \"4pc\"", "expected one of: 2pc"]);
}

#[test]
fn unknown_metric_in_expect() {
    let e = run_bad(
        "unknown_metric",
        "(\n  seed: 1,\n  expect: {\n    \"txns.commited\": \"== 0\",\n  },\n)\n",
    );
    assert_eq!((e.line, e.col), (4, 5), "{e:?}");
    assert_mentions(&e, &["unknown metric \"txns.commited\"", "txns.committed"]);
}

#[test]
fn unreadable_condition_in_expect() {
    let e = run_bad(
        "unreadable_condition",
        "(\n  seed: 1,\n  expect: {\n    \"violations.atomicity\": \"== 0\",\n    \"txns.committed\": \"about 3\",\n  },\n)\n",
    );
    assert_eq!((e.line, e.col), (5, 5), "{e:?}");
    assert_mentions(
        &e,
        &[
            "cannot read condition \"about 3\" for txns.committed",
            "an operator",
        ],
    );
}

// ----------------------------------------------------------------------------------
// Located on the right one of several entries (see the report: these point at the
// first matching key in the file, not at the offending entry)

#[test]
fn restart_before_crash_in_the_second_crash_points_at_it() {
    let e = run_bad(
        "restart_before_crash_second",
        "(\n  duration_ms: 500,\n  faults: (\n    crashes: [\n      (node: \"rm1\", at_ms: 100, restart_ms: 200),\n      (node: \"tm\", at_ms: 300, restart_ms: 250),\n    ],\n  ),\n)\n",
    );
    assert_mentions(&e, &["tm restarts at 250 ms"]);
    assert_eq!(e.line, 6, "the error is in the tm crash on line 6: {e:?}");
}

#[test]
fn second_crash_after_the_horizon_points_at_it() {
    let e = run_bad(
        "after_horizon_second",
        "(\n  duration_ms: 500,\n  faults: (\n    crashes: [\n      (node: \"rm1\", at_ms: 100),\n      (node: \"tm\", at_ms: 600),\n    ],\n  ),\n)\n",
    );
    assert_mentions(&e, &["at_ms = 600"]);
    assert_eq!(e.line, 6, "the error is in the tm crash on line 6: {e:?}");
}

#[test]
fn second_partition_ending_before_it_starts_points_at_it() {
    let e = run_bad(
        "partition_to_before_from_second",
        "(\n  faults: (\n    partitions: [\n      (groups: [[\"tm\"], [\"rm1\"]], from_ms: 100, to_ms: 200),\n      (groups: [[\"tm\"], [\"rm2\"]], from_ms: 300, to_ms: 250),\n    ],\n  ),\n)\n",
    );
    assert_mentions(&e, &["to_ms = 250 must be after from_ms = 300"]);
    assert_eq!(
        e.line, 5,
        "the error is in the second partition on line 5: {e:?}"
    );
}

#[test]
fn unknown_protocol_points_at_protocol_not_the_description() {
    let e = run_bad(
        "unknown_protocol_description",
        "(\n  description: \"a protocol test\",\n  protocol: \"4pc\",\n)\n",
    );
    assert_mentions(&e, &["unknown protocol \"4pc\""]);
    assert_eq!(e.line, 3, "`protocol:` is on line 3: {e:?}");
}

#[test]
fn zero_rms_points_at_rms_not_the_name() {
    let e = run_bad("zero_rms_name", "(\n  name: \"rms-zero\",\n  rms: 0,\n)\n");
    assert_mentions(&e, &["rms = 0"]);
    assert_eq!(e.line, 3, "`rms:` is on line 3: {e:?}");
}

// ----------------------------------------------------------------------------------
// Files and flags

#[test]
fn missing_file() {
    let dir = TempDir::new("missing_file");
    let file = dir.0.join("does-not-exist.ron");
    let o = acidbase(&["run", path_str(&file)]);
    assert_bad_input(&o);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("error: {}:", file.display())),
        "the message should name the file: {err}"
    );
    assert!(
        err.contains("cannot read the scenario file"),
        "the message should say what went wrong: {err}"
    );
}

#[test]
fn unwritable_trace_file() {
    let dir = TempDir::new("unwritable_trace");
    let trace = dir.0.join("no-such-dir").join("trace.jsonl");
    let o = acidbase(&[
        "run",
        "scenarios/2pc-coordinator-crash.ron",
        "--trace",
        path_str(&trace),
    ]);
    assert_bad_input(&o);
    let err = stderr(&o);
    assert!(
        err.contains("cannot create trace file") && err.contains(&trace.display().to_string()),
        "the message should name the trace file: {err}"
    );
}

#[test]
fn bad_format_flag() {
    let o = acidbase(&["run", "--format", "xml"]);
    assert_bad_input(&o);
    let err = stderr(&o);
    assert!(err.contains("'xml'") && err.contains("--format"), "{err}");
    assert!(
        err.contains("text") && err.contains("json"),
        "should list the formats: {err}"
    );
}

#[test]
fn bench_with_zero_rms() {
    let o = acidbase(&["bench", "--rms", "0"]);
    assert_bad_input(&o);
    let err = stderr(&o);
    assert!(err.contains("--rms") && err.contains("2..=100"), "{err}");
    assert!(
        !stdout(&o).contains("transactions_completed"),
        "the bench must not run: {}",
        stdout(&o)
    );
}

#[test]
fn unknown_subcommand_and_flag() {
    for args in [
        &["frobnicate"][..],
        &["run", "--sede", "3"][..],
        &["bench", "--txns", "0"][..],
    ] {
        let o = acidbase(args);
        assert_bad_input(&o);
        assert!(stderr(&o).starts_with("error:"), "{args:?}: {}", stderr(&o));
    }
}

/// Absurd magnitudes are refused up front: they would overflow virtual time, draw
/// billions of faults before the event guard could act, or exhaust memory.
#[test]
fn absurd_magnitudes_are_refused_with_the_limit() {
    for (source, field, limit) in [
        ("(\n  duration_ms: 1e300,\n)", "duration_ms", "1000000000"),
        ("(\n  drain_ms: 1e300,\n)", "drain_ms", "1000000000"),
        ("(\n  rms: 100,\n  workload: Transfer(accounts_per_shard: 10000000),\n)", "accounts", "10000000"),
        ("(\n  faults: (random_crashes: [(nodes: [\"tm\"], rate_per_s: 1e9, mean_downtime_ms: 1)]),\n)", "rate_per_s", "1000000"),
        ("(\n  clients: (load: Open(rate_per_s: 1e12)),\n)", "rate_per_s", "1000000"),
    ] {
        let e = run_bad("absurd", source);
        assert!(e.line >= 2, "{e:?}");
        assert_mentions(&e, &[field, limit]);
    }
}

/// No input can overflow a money or stock total: balances, amounts, prices, wallets
/// and quantities are bounded where they are read (before, `initial_balance:
/// 9223372036854775807` on 2 shards reported `money.initial: -2` and exited 0).
#[test]
fn money_inputs_that_could_overflow_a_total_are_refused() {
    let cases = [
        (
            "(rms: 2, workload: Transfer(initial_balance: 9223372036854775807))",
            "initial_balance",
        ),
        (
            "(rms: 2, workload: Transfer(accounts_per_shard: 10000, initial_balance: 1000000000))",
            "at most 1000000000000",
        ),
        (
            "(rms: 2, workload: Transfer(amount_max: 9223372036854775807))",
            "amount_max",
        ),
        (
            "(protocol: \"tcc\", rms: 3, workload: FlashSale(price: 4611686018427387904))",
            "price",
        ),
        (
            "(protocol: \"tcc\", rms: 3, workload: FlashSale(wallet: 1000000000, buyers: 100000))",
            "buyers × wallet",
        ),
        (
            "(rms: 2, workload: OrderInventory(qty_max: 9223372036854775807))",
            "qty_max",
        ),
        ("(max_events: 18446744073709551615)", "max_events"),
    ];
    for (i, (source, says)) in cases.iter().enumerate() {
        let e = run_bad(&format!("overflow{i}"), source);
        assert!(e.message.contains(says), "{source}: {e:?}");
    }
}

/// An expectation written twice is refused (before: the second silently replaced the
/// first, so `>= 1000000` was never checked).
#[test]
fn a_duplicate_expectation_is_refused_with_its_position() {
    let e = run_bad(
        "dupexpect",
        "(duration_ms: 100,\n expect: {\"txns.committed\": \">= 1000000\",\n   \"txns.committed\": \">= 1\"})",
    );
    assert_eq!(e.line, 3, "{e:?}");
    assert!(
        e.message.contains("duplicate key \"txns.committed\""),
        "{e:?}"
    );
}

/// `two_pc.standby_tm` adds a node only 2PC builds: under any other protocol it is
/// refused with a message (before, messaging and calls panicked on the extra node).
#[test]
fn a_standby_tm_under_a_protocol_without_one_is_refused_not_a_panic() {
    for p in ["3pc", "tcc", "saga", "messaging", "calls"] {
        let e = run_bad(
            &format!("standby-{p}"),
            &format!("(protocol: \"{p}\", rms: 3,\n two_pc: (standby_tm: true))"),
        );
        assert_eq!(e.line, 2, "{p}: {e:?}");
        assert!(e.message.contains("two_pc.standby_tm"), "{p}: {e:?}");
    }
    // compare on a 2PC file with a standby skips the protocols it does not fit, and
    // says why, instead of panicking.
    let dir = TempDir::new("standby-compare");
    let file = dir.write(
        "s.ron",
        "(rms: 3, duration_ms: 200, two_pc: (standby_tm: true))",
    );
    let o = acidbase(&["compare", path_str(&file), "--seeds", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("skipped calls"), "{}", stdout(&o));
}

/// What a user wrote is echoed back bounded: a megabyte-long unknown field name is
/// cut to 80 characters with its length said; deep nesting gets a message meant for
/// the user, not the parser's advice to its own programmers.
#[test]
fn errors_echo_bounded_text_and_speak_to_the_user() {
    let long = format!("({}: 1)", "x".repeat(1_000_000));
    let e = run_bad("longfield", &long);
    assert!(e.message.len() < 1000, "{} bytes", e.message.len());
    assert!(
        e.message.contains("(1000000 characters)"),
        "{}",
        &e.message[..200]
    );
    let dir = TempDir::new("deepsweep");
    let deep = format!(
        "(scenario: (), set: {{\"rms\": {}{}}}, seeds: 1)",
        "[".repeat(300),
        "]".repeat(300)
    );
    let file = dir.write("deep.ron", &deep);
    let o = acidbase(&[
        "sweep",
        path_str(&file),
        "--out",
        path_str(&dir.path("out")),
    ]);
    assert_bad_input(&o);
    let err = stderr(&o);
    assert!(err.contains("nested too deeply"), "{err}");
    assert!(!err.contains("serde_stacker"), "{err}");
}
