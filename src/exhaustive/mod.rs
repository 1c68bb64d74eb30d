//! Exhaustive checking: breadth-first exploration of every reachable state of a small
//! model, with visited-state hashing, so the first violation found has a shortest path.
//!
//! The explorer is generic over [`Model`] (initial states, enabled actions, the next
//! state, the invariants), in the way of TLC and stateright. Two models implement it:
//! - [`world::WorldModel`]: a world of [`crate::node::Node`]s driven through the same
//!   handlers and [`crate::node::Ctx`] the simulator uses, with every order of
//!   deliveries and timer firings and every placement of crashes, restarts and message
//!   drops within a budget (see that module for the time abstraction);
//! - [`two_phase::TwoPhase`]: Lamport's TwoPhase.tla, ported faithfully, which checks
//!   the explorer against the state count TLC reports.
//!
//! [`scenario`] builds a world model from a scenario file (`acidbase check`).

mod error;
pub mod scenario;
mod search;
pub mod two_phase;
pub mod world;

pub use error::CheckError;
pub use search::{collision_odds, explore, FpSet};

use crate::engine::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// A model the explorer can check.
pub trait Model {
    type State: Clone + Hash + Debug;
    type Action: Clone + Debug;

    fn init_states(&self) -> Vec<Self::State>;
    /// The actions enabled in `state`.
    fn actions(&self, state: &Self::State, out: &mut Vec<Self::Action>);
    /// The state `action` leads to (`None`: not enabled after all).
    fn next_state(&self, state: &Self::State, action: &Self::Action) -> Option<Self::State>;
    /// Safety invariants, checked in every state.
    fn check_state(&self, state: &Self::State, out: &mut Vec<Finding>);
    /// Checked in states with no enabled action (quiescence, the end of time).
    fn check_terminal(&self, _state: &Self::State, _out: &mut Vec<Finding>) {}
    /// Names of the `sometimes` properties that hold in `state` (a model in which one
    /// never holds is vacuous, e.g. it never commits).
    fn sometimes(&self, _state: &Self::State, _out: &mut Vec<String>) {}
    /// The action as a replayable step.
    fn step(&self, state: &Self::State, action: &Self::Action) -> Step;
    /// The action, and what it caused, in plain words.
    fn describe(&self, state: &Self::State, action: &Self::Action) -> String;
    /// Whether the action matters to the story (a fault, or something observed);
    /// runs of steps that do not are folded when a path is printed.
    fn notable(&self, _state: &Self::State, _action: &Self::Action) -> bool {
        true
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The invariant's name, e.g. `atomicity`, `blocking`, `TCConsistent`.
    pub kind: String,
    pub detail: String,
}

/// One step of a path, in a form that names nodes, messages and timers (by their
/// `Debug` text), so a path can be written as RON and replayed by [`replay`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Deliver {
        from: String,
        to: String,
        msg: String,
    },
    Timer {
        node: String,
        timer: String,
    },
    Crash {
        node: String,
    },
    Restart {
        node: String,
    },
    Drop {
        from: String,
        to: String,
        msg: String,
    },
    /// An action of an abstract model (e.g. `RMPrepare(rm2)`).
    Action {
        name: String,
    },
}

/// Bounds on the exploration, and who hears how it goes.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Do not expand states at this depth (`None`: no bound).
    pub max_depth: Option<u32>,
    /// Stop after this many distinct states.
    pub max_states: usize,
    /// Told the states visited and the depth reached every [`PROGRESS_EVERY`] states.
    pub progress: Option<ProgressHook>,
    /// Threads that expand each breadth-first level (1: the caller's thread alone).
    /// The report is the same at any count.
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: None,
            max_states: 1_000_000,
            progress: None,
            threads: 1,
        }
    }
}

/// How often (in states expanded) the explorer reports progress and polls
/// [`crate::stop`].
pub const PROGRESS_EVERY: u64 = 4096;

/// A callback with the states visited and the depth reached (a progress line).
#[derive(Clone, Copy)]
pub struct ProgressHook(pub &'static (dyn Fn(usize, u32) + Sync));

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// A violation with the shortest path that leads to it.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    pub finding: Finding,
    pub steps: Vec<Step>,
    /// The steps in plain words, numbered from 1.
    pub story: Vec<String>,
    /// Per step: does it matter to the story (see [`Model::notable`])?
    pub notable: Vec<bool>,
}

impl Counterexample {
    /// The path as a RON list of steps (what `acidbase check --replay` reads).
    pub fn steps_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::new();
        ron::ser::to_string_pretty(&self.steps, cfg).expect("steps serialise")
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "VIOLATION {}: {}\nshortest path ({} steps):\n",
            self.finding.kind,
            self.finding.detail,
            self.steps.len()
        );
        // Runs of more than three steps that change nothing anybody observes (retries
        // into the void, timers that find nothing due) are folded to one line.
        let mut i = 0;
        while i < self.story.len() {
            let quiet = self.notable[i..].iter().take_while(|n| !**n).count();
            if quiet > 3 {
                s.push_str(&format!(
                    "  {:>3}–{}. … {quiet} steps that change nothing observed (timers, retries, messages lost)\n",
                    i + 1,
                    i + quiet
                ));
                i += quiet;
                continue;
            }
            s.push_str(&format!("  {:>3}. {}\n", i + 1, self.story[i]));
            i += 1;
        }
        s
    }

    /// Every step, unfolded.
    pub fn full_story(&self) -> String {
        let mut s = String::new();
        for (i, line) in self.story.iter().enumerate() {
            s.push_str(&format!("  {:>3}. {line}\n", i + 1));
        }
        s
    }
}

/// What an exploration found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub distinct_states: usize,
    pub transitions: u64,
    /// The greatest depth (steps from an initial state) of any state visited.
    pub depth: u32,
    /// Every reachable state was visited (no depth or state bound cut it short, and
    /// no violation stopped it).
    pub complete: bool,
    /// Stopped by [`crate::stop`] (Ctrl-C) before it was complete.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// `sometimes` properties that held in some visited state.
    pub sometimes: BTreeSet<String>,
    /// Properties the explorer could not check (a harness's invariants over a whole
    /// run's observations), named so that none is passed over in silence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<String>,
    pub violation: Option<Counterexample>,
    /// The odds that two of the distinct states visited share a 64-bit fingerprint,
    /// so that one of them was taken for the other and not explored
    /// ([`collision_odds`]: about n²/2⁶⁵).
    pub collision_odds: f64,
}

impl CheckReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "distinct states: {}\ntransitions:     {}\ndepth reached:   {}\nexhausted:       {}\n",
            self.distinct_states,
            self.transitions,
            self.depth,
            if self.complete {
                "yes (every reachable state visited)"
            } else if self.violation.is_some() {
                "no (stopped at the first violation)"
            } else if self.interrupted {
                "no (interrupted: no violation among the states visited)"
            } else {
                "no (cut short by --max-depth or --max-states)"
            }
        );
        s.push_str(&format!(
            "fingerprints:    64-bit; odds of a collision ≈ {:.1e} (n²/2⁶⁵)\n",
            self.collision_odds
        ));
        if !self.not_checked.is_empty() {
            s.push_str(&format!(
                "not checked:     {} (over a whole run: use a property over node state)\n",
                self.not_checked.join(", ")
            ));
        }
        if !self.sometimes.is_empty() {
            let held: Vec<&str> = self.sometimes.iter().map(String::as_str).collect();
            s.push_str(&format!("sometimes held:  {}\n", held.join(", ")));
        }
        match &self.violation {
            Some(c) => s.push_str(&c.to_text()),
            None => s.push_str("no violation found\n"),
        }
        s
    }
}

/// The 64-bit fingerprint under which a state is remembered (as TLC does; two states
/// collide with odds of about n²/2⁶⁵ for n states), through the trace
/// [`Digest`](crate::engine::Digest)'s `Hasher`, whose methods inline into the models'
/// derived `Hash` code (a state is hashed once per transition: the calls cost as much
/// as the mixing).
pub fn fingerprint<T: Hash>(t: &T) -> u64 {
    let mut d = Digest::default();
    t.hash(&mut d);
    d.finish()
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    /// The fingerprint's values are pinned: the order of messages in flight, and so
    /// every path and golden count, depends on them.
    #[test]
    fn the_fingerprint_of_a_fixed_value_is_pinned() {
        let values = (
            vec![true, false, true],
            "a string of some length",
            (1u8, -2i32, 3u16, u128::MAX - 5, Some(7usize), 'x'),
            std::collections::BTreeMap::from([(1u64, "one"), (2, "two")]),
        );
        assert_eq!(format!("{:016x}", fingerprint(&values)), "4747baf3792401c0");
    }
}

/// What re-executing a path did.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The steps in plain words.
    pub story: Vec<String>,
    /// Invariants broken along the path (and at its end, if no action is left).
    pub findings: Vec<Finding>,
}

/// Re-executes `steps` from the (first) initial state: each step must match an action
/// enabled at that point.
pub fn replay<M: Model>(model: &M, steps: &[Step]) -> Result<Replayed, CheckError> {
    let mut state = model
        .init_states()
        .into_iter()
        .next()
        .ok_or(CheckError::NoInitialState)?;
    let mut story = Vec::new();
    let mut findings = Vec::new();
    model.check_state(&state, &mut findings);
    let mut actions = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        actions.clear();
        model.actions(&state, &mut actions);
        let Some(a) = actions.iter().find(|a| model.step(&state, a) == *step) else {
            let enabled: Vec<String> = actions
                .iter()
                .map(|a| format!("{:?}", model.step(&state, a)))
                .collect();
            return Err(CheckError::StepNotEnabled {
                step: i + 1,
                wanted: format!("{step:?}"),
                enabled,
            });
        };
        story.push(model.describe(&state, a));
        state = model
            .next_state(&state, a)
            .ok_or(CheckError::StepFailed { step: i + 1 })?;
        model.check_state(&state, &mut findings);
    }
    actions.clear();
    model.actions(&state, &mut actions);
    if actions.is_empty() {
        model.check_terminal(&state, &mut findings);
    }
    Ok(Replayed { story, findings })
}

/// Parses a RON list of steps (as written by [`Counterexample::steps_ron`]).
pub fn parse_steps(text: &str) -> Result<Vec<Step>, CheckError> {
    ron::from_str(text).map_err(|e| CheckError::Steps(e.to_string()))
}
