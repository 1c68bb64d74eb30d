//! Times acidbase's exhaustive checker on its port of Lamport's TwoPhase spec
//! (`src/exhaustive/two_phase.rs`), the run that benches/stateright-2pc is compared
//! with. A bench target without a harness, so `cargo test` never builds it:
//!
//! ```sh
//! cargo bench --bench two-phase-port -- --rms 7
//! ```
//!
//! Prints the states explored (distinct states), the transitions, the seconds and the
//! distinct states per second, in the lines benches/stateright-2pc prints. Exits 1 if
//! the search is incomplete or finds a violation.

use acidbase::exhaustive::two_phase::TwoPhase;
use acidbase::exhaustive::{explore, Limits};
// The wall clock times the search from outside; nothing in it reads the clock.
#[allow(clippy::disallowed_types)]
use std::time::Instant;

fn usage(msg: &str) -> ! {
    eprintln!("two-phase-port: {msg}");
    eprintln!("usage: two-phase-port [--rms N] [--threads T]");
    std::process::exit(2)
}

#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn main() {
    let (mut rms, mut threads) = (7usize, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        // `cargo bench` appends `--bench` for harnesses that want it.
        if flag == "--bench" {
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = value
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| usage(&format!("{flag} {value}: not a positive integer")));
        match flag.as_str() {
            "--rms" => rms = number,
            "--threads" => threads = number,
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    let limits = Limits {
        max_states: usize::MAX,
        threads,
        ..Limits::default()
    };
    let start = Instant::now();
    let report = explore(&TwoPhase { rms }, &limits);
    let seconds = start.elapsed().as_secs_f64();
    println!("two-phase-port rms={rms} threads={threads} search=bfs");
    println!("transitions: {}", report.transitions);
    println!("unique_states: {}", report.distinct_states);
    println!("max_depth: {}", report.depth);
    println!("seconds: {seconds:.3}");
    println!(
        "states_per_s: {:.0}",
        report.distinct_states as f64 / seconds.max(1e-9)
    );
    if !report.complete || report.violation.is_some() {
        eprintln!(
            "two-phase-port: complete {}, violation {:?}",
            report.complete, report.violation
        );
        std::process::exit(1);
    }
}
