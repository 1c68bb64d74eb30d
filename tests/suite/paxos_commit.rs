//! Paxos Commit (Gray & Lamport 2006): what the paper shows, run as a user would.

use crate::common::{acidbase, stdout};
use acidbase::protocols::paxos_commit::cost::{self, Commit};
use acidbase::run::Registry;

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = acidbase(args);
    let v = serde_json::from_str(&stdout(&out)).expect("a JSON report");
    (out.status.code().unwrap_or(-1), v)
}

fn run_json(scenario: &str) -> (i32, serde_json::Value) {
    json(&["run", scenario, "--format", "json"])
}

/// The TM crash right after the votes blocks 2PC (every RM in doubt until the TM
/// returns at 900 ms) and does not block Paxos Commit: an acceptor takes over.
#[test]
fn the_tm_crash_that_blocks_2pc_does_not_block_paxos_commit() {
    let (code, two_pc) = run_json("scenarios/2pc-coordinator-crash.ron");
    assert_eq!(code, 0);
    assert!(two_pc["locks"]["blocked"].as_u64() >= Some(3), "{two_pc}");
    let (code, r) = run_json("scenarios/paxos-commit-coordinator-crash.ron");
    assert_eq!(code, 0, "every expectation holds: {r}");
    assert_eq!(r["locks"]["blocked"], 0);
    assert_eq!(r["violations"]["atomicity"], 0);
    assert_eq!(r["txns"]["unresolved"], 0);
    assert!(r["txns"]["committed"].as_u64() >= Some(1));
    // The transaction caught by the crash was decided by an acceptor, within ~100 ms.
    assert!(r["locks"]["max_hold_ms"].as_f64() < Some(100.0), "{r}");
}

/// F acceptor crashes are survived; F+1 block (in doubt until they return) but the
/// outcome stays atomic.
#[test]
fn f_acceptor_crashes_are_survived_and_f_plus_one_block_but_stay_atomic() {
    let (code, r) = run_json("scenarios/paxos-commit-f-acceptors-crash.ron");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["locks"]["blocked"], 0);
    assert_eq!(r["txns"]["aborted"], 0, "nothing even aborts: {r}");
    let (code, r) = run_json("scenarios/paxos-commit-f-plus-one-acceptors-crash.ron");
    assert_eq!(code, 0, "{r}");
    assert!(r["locks"]["blocked"].as_u64() >= Some(2), "{r}");
    assert!(r["locks"]["max_hold_ms"].as_f64() > Some(800.0), "{r}");
    assert_eq!(r["violations"]["atomicity"], 0);
    assert_eq!(r["txns"]["unresolved"], 0, "resolved once they returned");
    // The same crashes with F = 2 (five acceptors) are two of five: survived.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/paxos-commit-f-plus-one-acceptors-crash.ron"),
    )
    .expect("read");
    let five = text.replace("options: (f: 1,", "options: (f: 2,");
    assert_ne!(five, text);
    let v = Registry::builtin().parse(&five, "f2.ron").expect("valid");
    let r = v.run(1, None).report;
    assert_eq!(r.locks.blocked, 0, "{}", r.to_text());
    assert_eq!(r.violations.atomicity, 0);
}

/// Fault-free, every transaction on all N RMs: acidbase's count per commit is its
/// formula ([`cost::acidbase`]), for several N and F, next to the paper's
/// ([`cost::paper`]); the message delays are the paper's (acidbase counts the RMs'
/// acknowledgement and not the client's request, the paper the request and not the
/// acknowledgement: one each).
#[test]
fn fault_free_cost_per_commit_as_the_paper_and_acidbase_count_it() {
    let protocols = [
        (
            Commit::TwoPc,
            r#"protocol: "2pc", two_pc: (answer_client_after_acks: true)"#,
        ),
        (
            Commit::PaxosCommit,
            r#"protocol: "paxos-commit", options: (f: F)"#,
        ),
        (
            Commit::FasterPaxosCommit,
            r#"protocol: "paxos-commit", options: (f: F, faster: true)"#,
        ),
    ];
    for n in 2..=5u64 {
        for f in 0..=2u64 {
            for (p, options) in protocols {
                let text = format!(
                    "(rms: {n}, {}, duration_ms: 300, drain_ms: 300, network: (latency: Constant(ms: 2)), workload: Transfer(accounts_per_shard: 16, initial_balance: 100000, fan_out: {}, keys: PerSession), clients: (load: Closed(sessions: 4, think_ms: 30)))",
                    options.replace('F', &f.to_string()),
                    n - 1
                );
                let v = Registry::builtin().parse(&text, "cost.ron").expect("valid");
                let r = v.run(1, None).report;
                let at = format!("{p:?} N = {n}, F = {f}: {}", r.to_text());
                assert!(r.txns.committed > 20, "{at}");
                assert_eq!(r.txns.aborted, 0, "{at}");
                let ours = cost::acidbase(p, n, f);
                assert_eq!(r.per_commit.messages, ours.messages as f64, "{at}");
                assert_eq!(
                    r.per_commit.message_delays, ours.message_delays as f64,
                    "{at}"
                );
                let paper = cost::paper(p, n, f, false);
                assert_eq!(ours.message_delays, paper.message_delays, "{at}");
                // Every message the paper counts has a counterpart here, and more.
                assert!(ours.messages + 2 > paper.messages, "{at}");
            }
        }
    }
}

/// The safe configurations of the swarm stay safe (a short run of its rows).
#[test]
fn the_swarm_rows_are_safe() {
    let out = acidbase(&[
        "explore",
        "--swarm",
        "--config",
        "paxos-commit,paxos-commit-faster,paxos-commit-f0,paxos-commit-f2,paxos-commit-hasty",
        "--seeds",
        "1..=40",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("ok: safe").count(), 15, "{text}");
}

/// The exhaustive checker on a user-visible Paxos Commit world with one acceptor
/// (F = 0): with no crash every state is safe and it commits; with one crash it
/// finds the blocked state the paper predicts for F + 1 failures — the acceptor down
/// after the votes — and never a split.
#[test]
fn the_exhaustive_checker_finds_f_plus_one_blocking_and_no_split() {
    let check = |crashes: &str| {
        json(&[
            "check",
            "scenarios/check-paxos-commit.ron",
            "--exhaustive",
            "--max-crashes",
            crashes,
            "--max-drops",
            "0",
            "--format",
            "json",
        ])
    };
    let (code, none) = check("0");
    assert_eq!(code, 0, "{none}");
    assert_eq!(none["distinct_states"], 157, "{none}");
    assert_eq!(none["complete"], true);
    assert!(none["violation"].is_null(), "{none}");
    let (code, one) = check("1");
    assert_eq!(code, 1, "{one}");
    let finding = &one["violation"]["finding"];
    assert_eq!(finding["kind"], "blocking", "{one}");
    let detail = finding["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("while acceptor1 is down"), "{detail}");
}
