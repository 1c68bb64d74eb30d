//! End-to-end tests of the `acidbase` command line: the compiled binary is run as a
//! user would run it, and its exit code, stdout, stderr and files are checked.

use serde_json::Value;
use std::process::Output;

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};

const COORDINATOR_CRASH: &str = "scenarios/2pc-coordinator-crash.ron";

/// Asserts the exit code, showing both streams if it is wrong.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "unexpected exit status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert!(
        !stderr(o).contains("panicked"),
        "the binary panicked:\n{}",
        stderr(o)
    );
}

/// Runs `acidbase run ARGS --format json`, expects exit 0 and returns the report.
fn run_json(args: &[&str]) -> Value {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let o = acidbase(&all);
    assert_exit(&o, 0);
    serde_json::from_slice(&o.stdout).expect("stdout of --format json should be one JSON value")
}

fn digest(report: &Value) -> String {
    report["digest"]
        .as_str()
        .expect("the report should have a string digest")
        .to_string()
}

/// A scenario whose outcome depends on the seed: uniform latency, a few hundred ms of
/// closed-loop load over random keys.
const RANDOM_SCENARIO: &str = r#"(
    seed: 11,
    rms: 3,
    duration_ms: 300,
    drain_ms: 500,
    workload: Transfer(accounts_per_shard: 20, fan_out: 2),
    clients: (load: Closed(sessions: 4, think_ms: 2)),
    network: (latency: Uniform(min_ms: 1, max_ms: 10)),
)
"#;

// ----------------------------------------------------------------------------------
// `acidbase run` with the built-in default

#[test]
fn run_without_scenario_tells_the_default_story() {
    let o = acidbase(&["run"]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("no scenario given; running the built-in default"),
        "stderr should say the built-in default runs: {err}"
    );
    assert!(
        err.contains(COORDINATOR_CRASH),
        "stderr should name it: {err}"
    );

    let out = stdout(&o);
    assert!(out.contains("What happened"), "no story heading:\n{out}");
    assert!(
        out.contains("in doubt"),
        "the story should mention 'in doubt':\n{out}"
    );
    assert!(
        out.contains("tm crashed at 15.0 ms"),
        "the story should tell the TM crash of the scenario:\n{out}"
    );
    assert!(
        out.contains("restarted at 900.0 ms"),
        "the story should tell the TM restart of the scenario:\n{out}"
    );
    assert!(
        out.contains("2PC's blocking problem"),
        "the story should explain the blocking:\n{out}"
    );
    assert!(out.contains("Counts"), "no counts section:\n{out}");
    assert!(
        out.contains("Expectations (4 held, 0 failed)"),
        "the default's four expectations should all hold:\n{out}"
    );

    // The counts in words are the counts of the same scenario in JSON.
    let r = run_json(&[COORDINATOR_CRASH]);
    let t = &r["txns"];
    let line = format!(
        "transactions   {} committed, {} aborted, {} in doubt, {} unresolved",
        t["committed"], t["aborted"], t["in_doubt"], t["unresolved"]
    );
    assert!(out.contains(&line), "expected the line {line:?} in:\n{out}");
    let l = &r["locks"];
    let line = format!("locks          {} blocked", l["blocked"]);
    assert!(out.contains(&line), "expected the line {line:?} in:\n{out}");
    let line = format!("digest {}", digest(&r));
    assert!(
        out.contains(&line),
        "the built-in default should be the coordinator-crash file exactly ({line:?}):\n{out}"
    );
}

// ----------------------------------------------------------------------------------
// JSON report

fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur
            .get(part)
            .unwrap_or_else(|| panic!("the JSON report has no key {path:?}:\n{v:#}"));
    }
    cur
}

fn as_u64(v: &Value, path: &str) -> u64 {
    field(v, path).as_u64().unwrap_or_else(|| {
        panic!(
            "{path} should be an unsigned integer, got {}",
            field(v, path)
        )
    })
}

fn as_f64(v: &Value, path: &str) -> f64 {
    let x = field(v, path);
    assert!(x.is_number(), "{path} should be a number, got {x}");
    x.as_f64().expect("a JSON number converts to f64")
}

fn as_str<'a>(v: &'a Value, path: &str) -> &'a str {
    field(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} should be a string, got {}", field(v, path)))
}

#[test]
fn json_report_has_every_documented_key_with_its_type() {
    let r = run_json(&[COORDINATOR_CRASH]);

    assert_eq!(as_str(&r, "scenario"), "2pc-coordinator-crash");
    assert_eq!(as_str(&r, "protocol"), "2pc");
    assert_eq!(as_u64(&r, "seed"), 1, "the scenario's own seed");
    let d = as_str(&r, "digest");
    assert!(
        d.len() == 16 && d.bytes().all(|b| b.is_ascii_hexdigit()),
        "digest should be 16 hex digits, got {d:?}"
    );
    assert!(as_u64(&r, "events") > 0, "a run has events");
    let sim = as_f64(&r, "sim_time_ms");
    // duration_ms 1500 + drain_ms 1000 in the scenario file.
    assert_eq!(sim, 2500.0, "sim_time_ms is the horizon plus the drain");

    for k in ["committed", "aborted", "in_doubt", "unresolved"] {
        as_u64(&r, &format!("txns.{k}"));
    }
    for k in ["atomicity", "invariant"] {
        as_u64(&r, &format!("violations.{k}"));
    }
    let blocked = as_u64(&r, "locks.blocked");
    let lock_ms = as_f64(&r, "locks.lock_ms_total");
    let max_hold = as_f64(&r, "locks.max_hold_ms");
    as_u64(&r, "locks.held_at_end");
    let avail = as_f64(&r, "availability");
    assert!(
        (0.0..=1.0).contains(&avail),
        "availability is a ratio: {avail}"
    );
    let p50 = as_f64(&r, "latency_ms.p50");
    let p90 = as_f64(&r, "latency_ms.p90");
    let p99 = as_f64(&r, "latency_ms.p99");
    assert!(
        p50 <= p90 && p90 <= p99,
        "percentiles should be ordered: {p50} {p90} {p99}"
    );
    for k in ["messages", "message_delays", "durable_writes"] {
        as_f64(&r, &format!("per_commit.{k}"));
    }
    let passed = as_u64(&r, "expectations.passed");
    let failed = as_u64(&r, "expectations.failed");

    // What this scenario is about: the TM crash blocks every RM's lock, yet atomicity
    // holds and everything resolves after the restart.
    assert!(
        blocked >= 3,
        "every RM should have blocked a lock, got {blocked}"
    );
    assert_eq!(as_u64(&r, "violations.atomicity"), 0);
    assert_eq!(as_u64(&r, "violations.invariant"), 0);
    assert_eq!(as_u64(&r, "txns.unresolved"), 0);
    assert_eq!(as_u64(&r, "locks.held_at_end"), 0);
    assert!(
        max_hold > 800.0,
        "locks were held in doubt across the ~885 ms outage, got {max_hold}"
    );
    assert!(
        lock_ms >= max_hold,
        "total {lock_ms} < longest hold {max_hold}"
    );
    assert_eq!(
        (passed, failed),
        (4, 0),
        "the file's four expectations hold"
    );
}

// ----------------------------------------------------------------------------------
// Determinism and seeds

#[test]
fn same_seed_same_digest_different_seed_different_digest() {
    let dir = TempDir::new("determinism");
    let s = dir.write("random.ron", RANDOM_SCENARIO);
    let s = path_str(&s);

    let a = run_json(&[s, "--seed", "5"]);
    let b = run_json(&[s, "--seed", "5"]);
    let c = run_json(&[s, "--seed", "6"]);
    assert!(
        as_u64(&a, "txns.committed") > 10,
        "the scenario should do real work: {a:#}"
    );
    assert_eq!(
        digest(&a),
        digest(&b),
        "same scenario and seed, same digest"
    );
    assert_eq!(a, b, "same scenario and seed, the same whole report");
    assert_ne!(
        digest(&a),
        digest(&c),
        "uniform latency is drawn from the seed: another seed should give another run"
    );
}

#[test]
fn seed_flag_overrides_the_scenario_seed() {
    let dir = TempDir::new("seed_override");
    let s = dir.write("random.ron", RANDOM_SCENARIO);
    let with_flag = run_json(&[path_str(&s), "--seed", "7"]);
    assert_eq!(
        as_u64(&with_flag, "seed"),
        7,
        "JSON seed should be the flag"
    );

    let without = run_json(&[path_str(&s)]);
    assert_eq!(
        as_u64(&without, "seed"),
        11,
        "without the flag, the file's seed"
    );

    // --seed 7 is exactly the same run as the file with `seed: 7`.
    let s7 = dir.write(
        "random.ron",
        &RANDOM_SCENARIO.replace("seed: 11", "seed: 7"),
    );
    let in_file = run_json(&[path_str(&s7)]);
    assert_eq!(digest(&with_flag), digest(&in_file));
    assert_ne!(digest(&with_flag), digest(&without));
}

// ----------------------------------------------------------------------------------
// --trace

#[test]
fn trace_writes_ordered_json_lines_with_the_faults() {
    let dir = TempDir::new("trace");
    let trace = dir.path("trace.jsonl");
    let o = acidbase(&[
        "run",
        COORDINATOR_CRASH,
        "--format",
        "json",
        "--trace",
        path_str(&trace),
    ]);
    assert_exit(&o, 0);
    let report: Value = serde_json::from_slice(&o.stdout).expect("the report is JSON");

    let text = std::fs::read_to_string(&trace).expect("--trace should have written the file");
    let mut last_t = 0u64;
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    let mut faults = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("trace line {} is not JSON ({e}): {line}", i + 1));
        let t = v["t_us"]
            .as_u64()
            .unwrap_or_else(|| panic!("trace line {} has no integer t_us: {line}", i + 1));
        let kind = v["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("trace line {} has no string kind: {line}", i + 1));
        assert!(
            t >= last_t,
            "trace line {} goes back in time ({t} < {last_t}): {line}",
            i + 1
        );
        last_t = t;
        *kinds.entry(kind.to_string()).or_default() += 1;
        if kind == "crash" || kind == "restart" {
            faults.push((kind.to_string(), v["node"].as_str().map(String::from), t));
        }
    }
    assert!(
        text.lines().count() > 100,
        "a whole run's events: {kinds:?}"
    );
    assert_eq!(
        faults,
        vec![
            ("crash".to_string(), Some("tm".to_string()), 15_000),
            ("restart".to_string(), Some("tm".to_string()), 900_000),
        ],
        "the scenario crashes the TM at 15 ms and restarts it at 900 ms"
    );
    // The trace and the report agree on the network counts.
    assert_eq!(
        kinds.get("send").copied(),
        Some(as_u64(&report, "network.sent"))
    );
    assert_eq!(
        kinds.get("deliver").copied(),
        Some(as_u64(&report, "network.delivered"))
    );
    assert!(
        last_t <= (as_f64(&report, "sim_time_ms") * 1000.0) as u64,
        "no event after the end of the run"
    );
}

// ----------------------------------------------------------------------------------
// Expectations and exit codes

#[test]
fn failed_expectation_exits_1_with_report_and_repro_line() {
    let dir = TempDir::new("failed_expectation");
    let s = dir.write(
        "fails.ron",
        "(\n    seed: 3,\n    duration_ms: 200,\n    expect: {\"txns.committed\": \"== 123456\"},\n)\n",
    );
    let s = path_str(&s);
    let o = acidbase(&["run", s]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("What happened"),
        "the report should still be printed:\n{out}"
    );
    assert!(
        out.contains("Expectations (0 held, 1 failed)"),
        "the report should count the failure:\n{out}"
    );
    assert!(
        out.contains("FAIL txns.committed == 123456"),
        "the report should name the failed expectation:\n{out}"
    );
    let err = stderr(&o);
    let repro = format!("acidbase run {s} --seed 3");
    assert!(err.contains("1 expectation(s) failed"), "stderr: {err}");
    assert!(
        err.contains(&repro),
        "stderr should contain {repro:?}: {err}"
    );

    // The repro names the seed actually used, also when it came from the flag.
    let o = acidbase(&["run", s, "--seed", "9", "--format", "json"]);
    assert_exit(&o, 1);
    let r: Value = serde_json::from_slice(&o.stdout).expect("the JSON report is still printed");
    assert_eq!(as_u64(&r, "expectations.failed"), 1);
    assert_eq!(as_u64(&r, "expectations.passed"), 0);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("acidbase run {s} --seed 9")),
        "stderr should repro with --seed 9: {err}"
    );
}

// ----------------------------------------------------------------------------------
// bench

fn bench_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no line starting with {key:?} in:\n{out}"))
        .trim()
}

#[test]
fn bench_completes_every_transaction_with_4nt_deliveries() {
    let args = [
        "bench",
        "--rms",
        "3",
        "--txns",
        "2000",
        "--concurrency",
        "8",
        "--seed",
        "1",
    ];
    let a = acidbase(&args);
    assert_exit(&a, 0);
    let out = stdout(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"bench-2pc impl=acidbase rms=3 txns=2000 concurrency=8 seed=1"),
        "header line missing:\n{out}"
    );
    assert!(lines.contains(&"transactions_completed: 2000"), "{out}");
    assert!(
        lines.contains(&"deliveries: 24000 (expected 24000)"),
        "{out}"
    );
    let sim_end: f64 = bench_line(&out, "sim_end_ms:")
        .parse()
        .expect("sim_end_ms should be a number");
    assert!(sim_end > 0.0, "simulated time passes: {sim_end}");
    let wall: f64 = bench_line(&out, "wall_s:")
        .parse()
        .expect("wall_s should be a number");
    assert!(wall >= 0.0, "wall_s: {wall}");
    let rate: f64 = bench_line(&out, "deliveries_per_wall_s:")
        .parse()
        .expect("deliveries_per_wall_s should be a number");
    assert!(rate > 0.0, "deliveries_per_wall_s: {rate}");

    let b = acidbase(&args);
    assert_exit(&b, 0);
    assert_eq!(
        bench_line(&out, "sim_end_ms:"),
        bench_line(&stdout(&b), "sim_end_ms:"),
        "the bench is deterministic in simulated time"
    );
}

/// The cost table's far corner: N · C accounts share validation's money bound (until
/// issue 16 each held 10⁹, and N × C above 1,000 was refused).
#[test]
fn bench_runs_the_largest_n_and_c_of_the_cost_table() {
    let a = acidbase(&[
        "bench",
        "--rms",
        "64",
        "--txns",
        "2048",
        "--concurrency",
        "1024",
    ]);
    assert_exit(&a, 0);
    let out = stdout(&a);
    assert!(out.contains("transactions_completed: 2048\n"), "{out}");
    assert!(
        out.contains("deliveries: 524288 (expected 524288)"),
        "{out}"
    );
}

// ----------------------------------------------------------------------------------
// help

#[test]
fn help_of_run_and_bench_has_examples() {
    for sub in ["run", "bench"] {
        let o = acidbase(&[sub, "--help"]);
        assert_exit(&o, 0);
        let out = stdout(&o);
        assert!(
            out.contains("Example"),
            "`acidbase {sub} --help` has no example:\n{out}"
        );
        assert!(
            out.contains(&format!("acidbase {sub}")),
            "`acidbase {sub} --help` should show an `acidbase {sub}` command line:\n{out}"
        );
    }
    let o = acidbase(&["run", "--help"]);
    let out = stdout(&o);
    assert!(
        out.contains("Exit codes"),
        "`run --help` documents the exit codes:\n{out}"
    );
}

/// DESIGN §7: a violated invariant fails the run (exit 1) unless the scenario's
/// expectations speak about violations (as the unsafe-variant scenarios do).
#[test]
fn violated_invariant_without_expectations_exits_1() {
    let dir = TempDir::new("invariant");
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/2pc-unsafe-timeout.ron"),
    )
    .expect("shipped scenario");
    let without_expect = source
        .split("expect:")
        .next()
        .expect("has an expect section")
        .to_string()
        + ")\n";
    let path = dir.write("unsafe.ron", &without_expect);
    let out = acidbase(&["run", path_str(&path)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("invariant was violated") && err.contains("--seed 1"),
        "{err}"
    );
    // The shipped scenario expects the violation, so it passes.
    let shipped = acidbase(&["run", "scenarios/2pc-unsafe-timeout.ron"]);
    assert_eq!(shipped.status.code(), Some(0));
}

#[test]
fn replay_is_run_under_another_name() {
    let a = acidbase(&["run", "scenarios/2pc-happy.ron", "--format", "json"]);
    let b = acidbase(&["replay", "scenarios/2pc-happy.ron", "--format", "json"]);
    assert!(a.status.success() && b.status.success(), "{}", stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
}

/// `acidbase … | head`: a reader that goes away early is not an error. Each command
/// writes more than a pipe buffer (or its stderr goes to the same closed pipe), the
/// reader takes one line and leaves; the command must neither panic nor complain.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = TempDir::new("closed-pipe");
    let cx = dir.path("cx.ron");
    let commands: &[&[&str]] = &[
        &["run", "scenarios/bench-2pc.ron", "--trace", "/dev/stdout"],
        &["run", "scenarios/2pc-unsafe-timeout.ron"],
        &[
            "check",
            "scenarios/check-2pc.ron",
            "--exhaustive",
            "--max-crashes",
            "1",
        ],
        &[
            "shrink",
            "scenarios/2pc-unsafe-timeout.ron",
            "--seed",
            "1",
            "--out",
            path_str(&cx),
        ],
        &[
            "explore",
            "scenarios/2pc-unsafe-random-faults.ron",
            "--seeds",
            "1..40",
            "--ignore-expect",
        ],
        &["compare", "scenarios/transfer-compare.ron", "--seeds", "2"],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_acidbase"))
            .args(*args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut first)
            .expect("one line");
        // The reader is gone: stdout is closed.
        let out = child.wait_with_output().expect("the command ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty(), "{args:?} printed something");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?} exits with its own status, got {:?}: {err}",
            out.status
        );
    }
}

/// A run cut off by `max_events` is not a finished run: exit 3, `truncated` in the
/// JSON, said first in the story and on stderr, with nothing judged at quiescence —
/// here the order chain's orders still in flight, which a finished run would count as
/// inconsistent.
#[test]
fn a_truncated_run_says_so_and_is_not_judged_at_quiescence() {
    let dir = TempDir::new("truncated");
    let file = dir.write(
        "cut.ron",
        "(protocol: \"calls\", rms: 3, duration_ms: 2000, max_events: 3000, clients: (load: Open(rate_per_s: 2000)))",
    );
    let o = acidbase(&["run", path_str(&file), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON report");
    assert_eq!(r["truncated"], true);
    assert_eq!(
        r["violations"]["invariant"], 0,
        "in flight is not broken: {r}"
    );
    assert!(r["calls"]["inconsistent_at_end"].as_u64() > Some(0), "{r}");
    let err = stderr(&o);
    assert!(err.contains("warning: this scenario implies"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    let text = stdout(&acidbase(&["run", path_str(&file)]));
    assert!(text.contains("TRUNCATED"), "{text}");
}

// protocols, run --protocol

#[test]
fn protocols_lists_the_built_ins_and_run_takes_another_protocol() {
    let o = acidbase(&["protocols", "--options"]);
    assert_exit(&o, 0);
    let text = String::from_utf8_lossy(&o.stdout);
    for p in ["2pc", "3pc", "tcc", "saga", "messaging", "calls"] {
        assert!(text.lines().any(|l| l.starts_with(p)), "{p} listed: {text}");
    }
    assert!(
        text.contains("vote_timeout_ms: 200.0"),
        "2PC's defaults: {text}"
    );
    // The repro line of `explore --protocol P` runs: the file under another protocol.
    let o = acidbase(&[
        "run",
        COORDINATOR_CRASH,
        "--protocol",
        "3pc",
        "--format",
        "json",
    ]);
    assert_exit(&o, 0);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["protocol"], "3pc");
    assert!(r["txns"]["begun"].as_u64().unwrap_or(0) > 0, "{r}");
    let o = acidbase(&["run", COORDINATOR_CRASH, "--protocol", "4pc"]);
    assert_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected one of: 2pc, 3pc"));
}
