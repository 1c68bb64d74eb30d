//! The user's 2PC of `user_two_pc.rs` with one rule broken on purpose: an RM that has
//! voted yes and waited 150 ms for the outcome gives up and **commits on its own**.
//! If the TM decided abort (the other RM voted no, or a vote was late) and the Abort
//! is slow to arrive — lost, cut off by a partition, or the TM crashed — the two RMs
//! disagree: an atomicity violation.
//!
//! `cargo run --example buggy_two_pc` shows what the harness reports: the broken
//! invariant, the seed and shrunk fault schedule (RON) that reproduce it, the story of
//! the run, and the exhaustive checker's shortest counterexample.

#[path = "user_two_pc.rs"]
pub mod user_two_pc;

use acidbase::testing::Exhaustive;
use user_two_pc::{harness, world, Bugs};

/// The bug: commit after 150 ms in doubt.
pub const BUG: Bugs = Bugs {
    rm_commits_after_us: Some(150_000),
};

fn main() {
    match harness(BUG).check() {
        Ok(()) => {
            println!("buggy_two_pc: the harness did not catch the bug (it should have)");
            std::process::exit(1);
        }
        Err(f) => println!("The harness caught the bug:\n{f}\n"),
    }
    let one = acidbase::testing::Harness::new(|| world(1, BUG));
    let r = one.exhaustive(&Exhaustive {
        crashable: Some(vec!["tm".into()]),
        max_crashes: 1,
        max_drops: 1,
        ..Exhaustive::default()
    });
    println!(
        "The exhaustive checker ({} distinct states):",
        r.distinct_states
    );
    match r.violation {
        Some(c) => print!("{}", c.to_text()),
        None => println!("no violation (it should have found one)"),
    }
}
