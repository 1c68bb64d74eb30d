//! Long commands as a person at a terminal sees them: a progress line with the time
//! left while they run, and on Ctrl-C what they found so far, the command that
//! continues, and exit status 130. Each runs under a pseudo-terminal made by
//! `script` (util-linux), which turns the `^C` written to it into SIGINT for the
//! command, as a terminal does.

// A test that waits for a child process needs the wall clock; no simulation here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::common::{acidbase, stderr, TempDir};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `acidbase ARGS` on a pseudo-terminal, presses Ctrl-C once the output shows
/// `when`, and returns everything the terminal showed and the exit status.
fn interrupted_at_terminal(args: &str, when: &str) -> (String, i32) {
    interrupted_once(args, when, |out| out.contains(when))
}

/// [`interrupted_at_terminal`], pressing Ctrl-C once `ready` holds of the output.
fn interrupted_once(args: &str, when: &str, ready: impl Fn(&str) -> bool) -> (String, i32) {
    let bin = env!("CARGO_BIN_EXE_acidbase");
    let mut child = Command::new("script")
        .args(["-qfec", &format!("'{bin}' {args}"), "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("these tests need `script` from util-linux (.ci/run installs it)");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().expect("piped");
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        })
    };
    let start = Instant::now();
    while !ready(&seen.lock().expect("reader alive")) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "`{args}` never showed {when:?}: {}",
            seen.lock().expect("reader alive")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(b"\x03").expect("the terminal takes ^C");
    stdin.flush().expect("flushed");
    let status = child.wait().expect("script ends");
    drop(stdin);
    reader.join().expect("reader ends");
    let text = seen.lock().expect("reader done").replace('\r', "");
    (text, status.code().unwrap_or(-1))
}

#[test]
fn explore_shows_time_left_and_on_ctrl_c_what_it_found_and_the_seeds_left() {
    let (out, code) = interrupted_at_terminal(
        "explore scenarios/2pc-unsafe-random-faults.ron --seeds 1..=100000000 --ignore-expect --jobs 1",
        "failing",
    );
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("seeds/s") && out.contains(" left"),
        "no progress line: {out}"
    );
    assert!(out.contains("First violating seed 1."), "{out}");
    let rest = out
        .lines()
        .find(|l| l.starts_with("interrupted: "))
        .unwrap_or_else(|| panic!("no interruption line: {out}"));
    // "interrupted: N of 100000000 seeds run (seeds 1..=N); the rest: ... --seeds N+1..=100000000 --ignore-expect"
    let n: u64 = rest["interrupted: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{rest}"));
    assert!(n > 0 && n < 100_000_000, "{rest}");
    assert!(
        rest.ends_with(&format!(
            "explore scenarios/2pc-unsafe-random-faults.ron --seeds {}..=100000000 --ignore-expect",
            n + 1
        )),
        "{rest}"
    );
    // The summary covers exactly the seeds it says it ran.
    assert!(out.contains(&format!("{n} seeds: ")), "{out}");
}

#[test]
fn a_sweep_stopped_by_ctrl_c_keeps_its_runs_and_resumes_from_them() {
    let dir = TempDir::new("interrupt-sweep");
    let sweep = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps/cap.ron"),
    )
    .expect("the shipped sweep")
    .replace("seeds: 30,", "seeds: 20000,");
    let file = dir.write("big.ron", &sweep);
    let out_dir = dir.path("out");
    let args = format!(
        "sweep {} --out {} --jobs 1",
        file.display(),
        out_dir.display()
    );
    let (out, code) = interrupted_at_terminal(&args, "runs/s");
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains(" left"),
        "no time left in the progress line: {out}"
    );
    let resume = format!(
        "continue with: acidbase sweep {} --resume --out {}",
        file.display(),
        out_dir.display()
    );
    assert!(out.contains(&resume), "{out}");
    let journal = std::fs::read_to_string(out_dir.join("journal.jsonl")).expect("the journal");
    let kept = journal.lines().count();
    assert!(kept > 1, "{journal}");
    // Resumed, the runs already in the journal are not run again.
    let (again, code) = interrupted_at_terminal(&format!("{args} --resume"), "runs/s");
    assert_eq!(code, 130, "{again}");
    let resumed: usize = again
        .split(" resumed from the journal")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{again}"));
    // The journal's first line is its header.
    assert_eq!(resumed, kept - 1, "{again}");
}

#[test]
fn check_stopped_by_ctrl_c_says_it_verified_nothing() {
    let (out, code) = interrupted_at_terminal(
        "check scenarios/check-2pc.ron --exhaustive --max-crashes 0 --max-drops 2 --txns 3 --max-states 100000000",
        "states",
    );
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("exhausted:       no (interrupted"), "{out}");
    assert!(out.contains("not a verification"), "{out}");
}

#[test]
fn compare_stopped_by_ctrl_c_prints_the_seeds_every_protocol_finished() {
    // Ctrl-C once a few seeds have run under all seven protocols.
    let (out, code) = interrupted_once(
        "compare scenarios/transfer-compare.ron --seeds 100000",
        "30 runs",
        |out| {
            out.rsplit("] ")
                .next()
                .and_then(|l| l.split('/').next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 30)
        },
    );
    assert_eq!(code, 130, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("interrupted: the table covers the first "))
        .unwrap_or_else(|| panic!("{out}"));
    let n: u64 = line["interrupted: the table covers the first ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    let header = if n == 1 {
        "(seed 1)".to_string()
    } else {
        format!("(seeds 1..={n})")
    };
    assert!(out.contains(&header), "{out}");
}

#[test]
fn off_a_terminal_long_commands_print_no_progress_line() {
    let o = acidbase(&[
        "explore",
        "scenarios/2pc-unsafe-timeout.ron",
        "--seeds",
        "1..=300",
    ]);
    let e = stderr(&o);
    assert!(!e.contains("seeds/s") && !e.contains('\r'), "{e}");
}

#[test]
fn a_shrink_stopped_by_ctrl_c_writes_the_smallest_failing_run_found_so_far() {
    let dir = TempDir::new("interrupt-shrink");
    let big = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/2pc-unsafe-random-faults.ron"),
    )
    .expect("the shipped scenario")
    .replace("duration_ms: 600,", "duration_ms: 6000,")
    .replace("sessions: 2,", "sessions: 16,");
    let file = dir.write("big.ron", &big);
    let cx = dir.path("cx.ron");
    let (out, code) = interrupted_at_terminal(
        &format!("shrink {} --seed 1 --out {}", file.display(), cx.display()),
        "runs/s",
    );
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("is the smallest failing run found so far"),
        "{out}"
    );
    let o = acidbase(&["run", cx.to_str().expect("utf-8 path")]);
    assert!(
        crate::common::stdout(&o).contains("ATOMICITY VIOLATED"),
        "the counterexample still fails: {}",
        crate::common::stdout(&o)
    );
}

#[test]
fn a_swarm_stopped_by_ctrl_c_marks_the_row_it_was_running() {
    let (out, code) = interrupted_at_terminal(
        "explore --swarm --config 2pc,3pc --seeds 1..=10000000 --jobs 1",
        "runs/s",
    );
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("interrupted after "), "{out}");
    assert!(
        out.contains("configuration(s) run, the last one in part"),
        "{out}"
    );
}
