//! Lamport's TwoPhase specification (the two-phase commit spec of Gray and Lamport,
//! "Consensus on Transaction Commit", as TwoPhase.tla in the TLA+ examples) written as
//! a stateright `Model`, so that acidbase's exhaustive checker can be timed against
//! stateright on the same state space.
//!
//! The state is laid out as acidbase's port (`src/exhaustive/two_phase.rs`) lays it
//! out: one vector entry per RM for `rmState`, `tmPrepared` and the `Prepared(r)`
//! messages, and two flags for the `Commit` and `Abort` messages (the message set of
//! the spec never loses a message, so a set of flags is exact). The two checkers then
//! hash, store and expand the same states, and the comparison is between checkers,
//! not between encodings.
//!
//! Usage: stateright-2pc [--rms N] [--threads T] [--search bfs|dfs]
//! (defaults 7, 1, bfs). Prints the states generated, the unique states, the seconds
//! and the unique states per second. Exits 1 if TCConsistent fails or a `sometimes`
//! property is never reached.

use stateright::{Checker, Model, Property};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RmState {
    Working,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TmState {
    Init,
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    rm_state: Vec<RmState>,
    tm_state: TmState,
    tm_prepared: Vec<bool>,
    msgs_prepared: Vec<bool>,
    msg_commit: bool,
    msg_abort: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Action {
    TmRcvPrepared(usize),
    TmCommit,
    TmAbort,
    RmPrepare(usize),
    RmChooseToAbort(usize),
    RmRcvCommitMsg(usize),
    RmRcvAbortMsg(usize),
}

struct TwoPhase {
    rms: usize,
}

impl Model for TwoPhase {
    type State = State;
    type Action = Action;

    // TPInit.
    fn init_states(&self) -> Vec<State> {
        vec![State {
            rm_state: vec![RmState::Working; self.rms],
            tm_state: TmState::Init,
            tm_prepared: vec![false; self.rms],
            msgs_prepared: vec![false; self.rms],
            msg_commit: false,
            msg_abort: false,
        }]
    }

    // The enabling conditions of TPNext's disjuncts.
    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        if s.tm_state == TmState::Init && s.tm_prepared.iter().all(|p| *p) {
            out.push(Action::TmCommit);
        }
        if s.tm_state == TmState::Init {
            out.push(Action::TmAbort);
        }
        for r in 0..self.rms {
            if s.tm_state == TmState::Init && s.msgs_prepared[r] {
                out.push(Action::TmRcvPrepared(r));
            }
            if s.rm_state[r] == RmState::Working {
                out.push(Action::RmPrepare(r));
                out.push(Action::RmChooseToAbort(r));
            }
            if s.msg_commit {
                out.push(Action::RmRcvCommitMsg(r));
            }
            if s.msg_abort {
                out.push(Action::RmRcvAbortMsg(r));
            }
        }
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        let mut n = s.clone();
        match a {
            Action::TmRcvPrepared(r) => n.tm_prepared[r] = true,
            Action::TmCommit => {
                n.tm_state = TmState::Done;
                n.msg_commit = true;
            }
            Action::TmAbort => {
                n.tm_state = TmState::Done;
                n.msg_abort = true;
            }
            Action::RmPrepare(r) => {
                n.rm_state[r] = RmState::Prepared;
                n.msgs_prepared[r] = true;
            }
            Action::RmChooseToAbort(r) => n.rm_state[r] = RmState::Aborted,
            Action::RmRcvCommitMsg(r) => n.rm_state[r] = RmState::Committed,
            Action::RmRcvAbortMsg(r) => n.rm_state[r] = RmState::Aborted,
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            // TCConsistent: no RM committed while another aborted.
            Property::always("TCConsistent", |_, s: &State| {
                !(s.rm_state.contains(&RmState::Committed)
                    && s.rm_state.contains(&RmState::Aborted))
            }),
            Property::sometimes("commit agreement", |_, s: &State| {
                s.rm_state.iter().all(|r| *r == RmState::Committed)
            }),
            Property::sometimes("abort agreement", |_, s: &State| {
                s.rm_state.iter().all(|r| *r == RmState::Aborted)
            }),
        ]
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("stateright-2pc: {msg}");
    eprintln!("usage: stateright-2pc [--rms N] [--threads T] [--search bfs|dfs]");
    std::process::exit(2)
}

fn main() {
    let (mut rms, mut threads, mut search) = (7usize, 1usize, "bfs".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or_else(|| usage(&format!("{flag} {value}: not a positive integer")))
        };
        match flag.as_str() {
            "--rms" => rms = number(),
            "--threads" => threads = number(),
            "--search" if value == "bfs" || value == "dfs" => search = value.clone(),
            "--search" => usage(&format!("--search {value}: bfs or dfs")),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    let start = Instant::now();
    let builder = TwoPhase { rms }.checker().threads(threads);
    let ok = if search == "bfs" {
        report(builder.spawn_bfs().join(), start)
    } else {
        report(builder.spawn_dfs().join(), start)
    };
    println!("stateright-2pc rms={rms} threads={threads} search={search}");
    print!("{}", ok.0);
    if let Some(problem) = ok.1 {
        eprintln!("stateright-2pc: {problem}");
        std::process::exit(1);
    }
}

/// The figure lines of a finished search, and what is wrong with it, if anything.
fn report(checker: impl Checker<TwoPhase>, start: Instant) -> (String, Option<String>) {
    let seconds = start.elapsed().as_secs_f64();
    let unique = checker.unique_state_count();
    let lines = format!(
        "states: {}\nunique_states: {unique}\nmax_depth: {}\nseconds: {seconds:.3}\nstates_per_s: {:.0}\n",
        checker.state_count(),
        checker.max_depth(),
        unique as f64 / seconds.max(1e-9),
    );
    let discoveries = checker.discoveries();
    let broken = discoveries.contains_key("TCConsistent");
    let missing: Vec<&str> = ["commit agreement", "abort agreement"]
        .into_iter()
        .filter(|p| !discoveries.contains_key(p))
        .collect();
    let problem = (broken || !missing.is_empty())
        .then(|| format!("TCConsistent broken: {broken}; never reached: {missing:?}"));
    (lines, problem)
}
