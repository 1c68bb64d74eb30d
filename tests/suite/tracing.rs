//! Call-chain tracing as a user meets it: `run --trace` writes structured JSON lines
//! with trace and span ids, `acidbase trace FILE --txn N` prints one transaction's
//! call tree, `run --otlp FILE` writes OpenTelemetry JSON; none of it changes a run.

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};
use serde_json::Value;
use std::collections::BTreeMap;

const COORDINATOR_CRASH: &str = "scenarios/2pc-coordinator-crash.ron";

/// Runs `scenario` with `--trace` (and `extra` flags); the report and the lines.
fn traced(dir: &TempDir, scenario: &str, extra: &[&str]) -> (Value, Vec<Value>) {
    let trace = dir.path("trace.jsonl");
    let mut args = vec![
        "run",
        scenario,
        "--format",
        "json",
        "--trace",
        path_str(&trace),
    ];
    args.extend_from_slice(extra);
    let o = acidbase(&args);
    assert!(o.status.code() == Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("the report is JSON");
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("trace line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect();
    (report, lines)
}

fn hex(v: &Value, len: usize) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn trace_lines_are_structured_json_with_node_names_and_no_padding() {
    let dir = TempDir::new("tracing-structured");
    let (_, lines) = traced(&dir, COORDINATOR_CRASH, &[]);
    let header = &lines[0];
    assert_eq!(header["kind"], "trace_format");
    assert_eq!(header["version"], 2);
    let names: Vec<&str> = header["nodes"]
        .as_array()
        .expect("the header names the nodes")
        .iter()
        .map(|n| n.as_str().expect("a node name"))
        .collect();
    assert_eq!(names, ["tm", "rm1", "rm2", "rm3", "client"]);
    let mut prepares = 0;
    for l in &lines[1..] {
        for k in ["msg", "timer", "obs"] {
            let Some(v) = l.get(k) else { continue };
            // A variant with fields is an object with one key; a unit variant a name.
            match v {
                Value::Object(m) => assert_eq!(m.len(), 1, "{l}"),
                Value::String(s) => assert!(
                    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "a unit variant, not debug text: {l}"
                ),
                _ => panic!("{k} is neither a variant nor a name: {l}"),
            }
        }
        let text = l.to_string();
        assert!(
            !text.contains("KeyDelta") && !text.contains("ShardOps") && !text.contains(" { "),
            "no Rust debug text: {text}"
        );
        if l["kind"] == "send" {
            if let Some(p) = l["msg"].get("Prepare") {
                prepares += 1;
                // Only the used slots of the ops: one account per shard here, never a
                // `{key: 0, delta: 0}` filler.
                let ops = p["ops"].as_array().expect("ops");
                assert_eq!(ops.len(), 1, "{l}");
                assert!(ops.iter().all(|o| o["delta"] != 0), "{l}");
                let participants: Vec<&str> = p["participants"]
                    .as_array()
                    .expect("participants")
                    .iter()
                    .map(|n| n.as_str().expect("participants are node names"))
                    .collect();
                assert_eq!(participants, ["rm1", "rm2", "rm3"], "{l}");
            }
        }
    }
    assert!(prepares >= 3, "the run prepares txn 0 on three RMs");
}

#[test]
fn every_span_has_its_parent_in_the_same_trace() {
    let dir = TempDir::new("tracing-parents");
    let (_, lines) = traced(&dir, COORDINATOR_CRASH, &[]);
    // The spans: each send and each timer firing opens one.
    let mut spans: BTreeMap<String, (String, Option<String>, u64)> = BTreeMap::new();
    for l in &lines {
        let kind = l["kind"].as_str().unwrap_or("");
        if kind == "send" || kind == "timer" {
            assert!(hex(&l["trace_id"], 32) && hex(&l["span_id"], 16), "{l}");
            let id = l["span_id"].as_str().unwrap().to_string();
            let old = spans.insert(
                id,
                (
                    l["trace_id"].as_str().unwrap().to_string(),
                    l["parent_span_id"].as_str().map(str::to_string),
                    l["t_us"].as_u64().unwrap(),
                ),
            );
            assert!(old.is_none(), "a span is opened once: {l}");
        }
    }
    assert!(spans.len() > 100, "{} spans", spans.len());
    let mut roots = BTreeMap::<&str, usize>::new();
    for (id, (trace, parent, t)) in &spans {
        match parent {
            Some(p) => {
                let (ptrace, _, pt) = spans
                    .get(p)
                    .unwrap_or_else(|| panic!("span {id}'s parent {p} is a span"));
                assert_eq!(ptrace, trace, "span {id} and its parent {p} share a trace");
                assert!(pt <= t, "a parent begins before its child");
            }
            None => *roots.entry(trace).or_default() += 1,
        }
    }
    assert!(
        roots.values().all(|&n| n == 1),
        "each trace has one root: {roots:?}"
    );
    // Deliveries and losses name a span that a send opened, in the same trace.
    for l in &lines {
        if l["kind"] == "deliver" || l["kind"] == "lost" {
            let (trace, _, _) = &spans[l["span_id"].as_str().expect("span_id")];
            assert_eq!(l["trace_id"].as_str(), Some(trace.as_str()), "{l}");
        }
    }
    // Transaction 0's trace id is the documented one.
    let request = lines
        .iter()
        .find(|l| l["kind"] == "send" && l["msg"].get("Request").is_some())
        .expect("the client's first request");
    assert_eq!(request["txn"], 0);
    assert_eq!(request["trace_id"], "00000000000000010000000000000000");
    assert!(
        request.get("parent_span_id").is_none(),
        "a request is a root"
    );
}

#[test]
fn tracing_changes_no_digest() {
    let dir = TempDir::new("tracing-digests");
    for scenario in [
        COORDINATOR_CRASH,
        "scenarios/2pc-partition.ron",
        "scenarios/tcc-hanging.ron",
        "scenarios/saga-transfer-crash.ron",
    ] {
        let plain = acidbase(&["run", scenario, "--format", "json"]);
        let plain: Value = serde_json::from_slice(&plain.stdout).expect("JSON report");
        let otlp = dir.path("run.otlp.json");
        let (report, _) = traced(&dir, scenario, &["--otlp", path_str(&otlp)]);
        assert!(plain["digest"].is_string(), "{plain}");
        assert_eq!(report["digest"], plain["digest"], "{scenario}");
        assert_eq!(report["events"], plain["events"], "{scenario}");
    }
}

#[test]
fn a_2pc_transaction_tree_goes_prepare_vote_decision() {
    let dir = TempDir::new("tracing-tree");
    let trace = dir.path("trace.jsonl");
    let o = acidbase(&[
        "run",
        "scenarios/2pc-happy.ron",
        "--trace",
        path_str(&trace),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The first transaction over several shards (a one-shard one commits in one phase).
    let (txn, tree) = (0..50)
        .map(|t| {
            let o = acidbase(&["trace", path_str(&trace), "--txn", &t.to_string()]);
            assert_eq!(o.status.code(), Some(0), "txn {t}: {}", stderr(&o));
            (t, stdout(&o))
        })
        .find(|(_, tree)| tree.contains("Prepare"))
        .expect("a transaction that prepares");
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(
        lines[0],
        format!("txn {txn} (trace {:016x}{txn:016x}):", 1),
        "{tree}"
    );
    let at = |what: &str| {
        lines
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what} in\n{tree}"))
    };
    let indent = |i: usize| lines[i].len() - lines[i].trim_start().len();
    let (request, prepare, vote, decision) = (
        at("Request"),
        at("Prepare"),
        at("Vote(yes)"),
        at("Decision(Commit)"),
    );
    assert!(
        request < prepare && prepare < vote && vote < decision,
        "{tree}"
    );
    assert!(lines[request].contains("client → tm"), "{tree}");
    // Each is caused by the one before: one level deeper.
    assert_eq!(indent(prepare), indent(request) + 2, "{tree}");
    assert_eq!(indent(vote), indent(prepare) + 2, "{tree}");
    assert_eq!(indent(decision), indent(vote) + 2, "{tree}");
    assert!(lines[prepare].contains("[delivered at "), "{tree}");
}

#[test]
fn the_tree_tells_lost_messages() {
    let dir = TempDir::new("tracing-lost");
    let trace = dir.path("trace.jsonl");
    let o = acidbase(&["run", COORDINATOR_CRASH, "--trace", path_str(&trace)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = acidbase(&["trace", path_str(&trace), "--txn", "0"]);
    let tree = stdout(&o);
    // The TM crashes at 15 ms, as the three votes arrive.
    assert_eq!(
        tree.matches("Vote(yes)  [lost at 15.0 ms: receiver down]")
            .count(),
        3,
        "{tree}"
    );
    let o = acidbase(&["trace", path_str(&trace), "--txn", "999999"]);
    assert_eq!(o.status.code(), Some(2), "no such trace");
    assert!(
        stderr(&o).contains("no trace of txn 999999"),
        "{}",
        stderr(&o)
    );
    let not_a_trace = dir.write("x.jsonl", "hello\n");
    let o = acidbase(&["trace", path_str(&not_a_trace)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no spans"), "{}", stderr(&o));
}

#[test]
fn otlp_output_has_the_required_fields_and_parent_links() {
    let dir = TempDir::new("tracing-otlp");
    let otlp = dir.path("run.otlp.json");
    let (_, lines) = traced(&dir, COORDINATOR_CRASH, &["--otlp", path_str(&otlp)]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&otlp).expect("the OTLP file"))
        .expect("the OTLP file is JSON");
    let mut spans: BTreeMap<String, Value> = BTreeMap::new();
    let mut services = Vec::new();
    for rs in doc["resourceSpans"].as_array().expect("resourceSpans") {
        let attrs = rs["resource"]["attributes"].as_array().expect("attributes");
        let service = attrs
            .iter()
            .find(|a| a["key"] == "service.name")
            .expect("a service.name");
        let service = service["value"]["stringValue"].as_str().expect("a name");
        services.push(service.to_string());
        for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
            assert_eq!(ss["scope"]["name"], "acidbase");
            for s in ss["spans"].as_array().expect("spans") {
                assert!(hex(&s["traceId"], 32) && hex(&s["spanId"], 16), "{s}");
                assert!(s["name"].as_str().is_some_and(|n| !n.is_empty()), "{s}");
                let nanos = |k: &str| -> u128 {
                    s[k].as_str()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_else(|| panic!("{k} is a decimal string: {s}"))
                };
                assert!(
                    nanos("startTimeUnixNano") <= nanos("endTimeUnixNano"),
                    "{s}"
                );
                assert!([1, 4].contains(&s["kind"].as_u64().expect("kind")), "{s}");
                spans.insert(s["spanId"].as_str().unwrap().to_string(), s.clone());
            }
        }
    }
    assert_eq!(services, ["tm", "rm1", "rm2", "rm3", "client"]);
    let opened = lines
        .iter()
        .filter(|l| l["kind"] == "send" || l["kind"] == "timer")
        .count();
    assert_eq!(spans.len(), opened, "one span per send and timer firing");
    for s in spans.values() {
        if let Some(p) = s.get("parentSpanId") {
            let parent = &spans[p.as_str().expect("hex")];
            assert_eq!(parent["traceId"], s["traceId"], "{s}");
        }
    }
    // The votes the crash lost are errors with the reason.
    let lost_votes = spans
        .values()
        .filter(|s| s["name"] == "Vote(yes)" && s["status"]["code"] == 2)
        .filter(|s| s["status"]["message"] == "lost: receiver down")
        .count();
    assert!(lost_votes >= 3, "{lost_votes}");
}

#[test]
fn a_duplicated_message_is_one_span_with_two_arrivals() {
    let dir = TempDir::new("tracing-duplicate");
    let (_, lines) = traced(&dir, "scenarios/2pc-unsafe-random-faults.ron", &[]);
    let twice: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "send" && l["fate"] == "delivered twice")
        .collect();
    assert!(!twice.is_empty(), "the scenario duplicates messages");
    let end_us = lines.last().and_then(|l| l["t_us"].as_u64()).unwrap_or(0);
    for send in &twice {
        let arrivals: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                (l["kind"] == "deliver" || l["kind"] == "lost") && l["span_id"] == send["span_id"]
            })
            .collect();
        // Both copies arrive under the send's span (unless the run ended first).
        let sent = send["t_us"].as_u64().unwrap();
        if sent + 100_000 < end_us {
            assert_eq!(arrivals.len(), 2, "{send}");
        }
        assert!(arrivals.iter().all(|a| a["msg"] == send["msg"]), "{send}");
    }
    let trace = dir.path("trace.jsonl");
    let txn = twice[0]["txn"].as_u64().expect("a transaction's message");
    let o = acidbase(&["trace", path_str(&trace), "--txn", &txn.to_string()]);
    assert!(
        stdout(&o).contains("[delivered twice (at "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_otlp_file_that_cannot_be_created_stops_the_run_first() {
    let dir = TempDir::new("tracing-otlp-bad");
    let bad = dir.path("no-such-dir").join("x.otlp.json");
    let o = acidbase(&["run", COORDINATOR_CRASH, "--otlp", path_str(&bad)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot create OTLP file"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty(), "nothing ran: {}", stdout(&o));
}
