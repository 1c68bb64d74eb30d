//! The breadth-first search, level by level, on any number of threads.
//!
//! Each level's frontier (the states at depth `d`, in the order they were first
//! reached) is cut into rounds; the states of a round are expanded in parallel (their
//! actions, next states, fingerprints and invariants), and the results are merged on
//! one thread **in frontier order**: a successor whose fingerprint is new gets the next
//! state number and joins the next level. That is exactly the order a one-thread
//! breadth-first queue visits states in, so the counts, the depth, the `sometimes`
//! set and the first violation (the smallest by depth, then by that order, with a
//! shortest path) are the same at any thread count — the report is identical.
//!
//! **Memory.** Visited states are kept as 64-bit fingerprints only ([`FpSet`], as
//! TLC does), and each state as its parent's number and the index of the action
//! from it (8 bytes): a counterexample's path is rebuilt by re-running those actions
//! from the initial state. Whole states are held only for the current and the next
//! level. Two distinct states share a fingerprint with odds of about n²/2⁶⁵ for n
//! states ([`collision_odds`]); the report prints them.

use super::{fingerprint, CheckReport, Counterexample, Finding, Limits, Model, PROGRESS_EVERY};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A set of 64-bit fingerprints: open addressing with linear probing, 8 bytes a slot,
/// at most three quarters full. Fingerprints are already well mixed, so their low bits
/// index the table. Iteration order is never used (nothing depends on it).
#[derive(Clone, Debug, Default)]
pub struct FpSet {
    slots: Vec<u64>,
    len: usize,
    /// The fingerprint 0 (the empty slot's marker) is kept aside.
    zero: bool,
}

impl FpSet {
    pub fn new() -> Self {
        FpSet {
            slots: vec![0; 1024],
            len: 0,
            zero: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 8
    }

    pub fn contains(&self, fp: u64) -> bool {
        if fp == 0 {
            return self.zero;
        }
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                x if x == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `fp`; false if it was there already.
    pub fn insert(&mut self, fp: u64) -> bool {
        if fp == 0 {
            let was = self.zero;
            self.zero = true;
            self.len += usize::from(!was);
            return !was;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                x if x == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Empties the set, keeping its table.
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.slots.iter_mut().for_each(|s| *s = 0);
        }
        self.len = 0;
        self.zero = false;
    }

    fn grow(&mut self) {
        let size = self.slots.len().max(512) * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = self.slots.len() - 1;
        for fp in old.into_iter().filter(|x| *x != 0) {
            let mut i = fp as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = fp;
        }
    }
}

/// The odds that two of `states` distinct states share a 64-bit fingerprint (so that
/// one of them was never explored): n(n−1)/2 pairs, each colliding with odds 2⁻⁶⁴,
/// about n²/2⁶⁵ (TLC prints the same estimate).
pub fn collision_odds(states: usize) -> f64 {
    let n = states as f64;
    n * (n - 1.0) / 2.0 / 18_446_744_073_709_551_616.0
}

/// Per state: its parent's number and the index, among the actions enabled in the
/// parent, of the action that led here. An initial state has parent [`ROOT`] and its
/// index among the initial states.
#[derive(Clone, Copy, Debug)]
struct Parent {
    parent: u32,
    action: u32,
}

const ROOT: u32 = u32::MAX;

/// A successor whose fingerprint was not seen before the level began.
struct Candidate<S> {
    fp: u64,
    state: S,
    /// The action's index among those enabled in the parent.
    action: u32,
    /// Transitions from the parent up to and including this one.
    ord: u32,
    /// The invariant it breaks (the last finding, as the explorer always reported).
    finding: Option<Finding>,
    held: Vec<String>,
}

/// What expanding one frontier state found.
enum Expansion<S> {
    /// No action enabled: the terminal check's finding, if any.
    Terminal(Option<Finding>),
    /// At the depth bound: not expanded.
    Cut,
    Successors {
        transitions: u32,
        new: Vec<Candidate<S>>,
    },
}

/// States expanded per unit of work a thread takes: large enough that most successors
/// reached twice within a level are met twice within one piece (and dropped there),
/// small enough that the threads balance.
const PIECE: usize = 1024;
/// Frontier states expanded per thread before the merge (bounds the successors held).
const ROUND_PER_THREAD: usize = 8192;

/// Breadth-first exploration; stops at the first violation (its path is shortest).
/// [`Limits::threads`] threads expand each level; the report is the same at any count.
pub fn explore<M>(model: &M, limits: &Limits) -> CheckReport
where
    M: Model + Sync,
    M::State: Send + Sync,
{
    let threads = limits.threads.max(1);
    let seen = RwLock::new(FpSet::new());
    if threads == 1 {
        return search(model, limits, &seen, None);
    }
    // The helper threads live as long as the search (a thread keeps its allocator
    // cache warm; one started per round would not).
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel();
        let mut jobs = Vec::new();
        for _ in 1..threads {
            let (job_tx, job_rx) = mpsc::channel::<Job<M::State>>();
            let done_tx = done_tx.clone();
            let seen = &seen;
            scope.spawn(move || {
                let mut local = FpSet::new();
                while let Ok(job) = job_rx.recv() {
                    // A panic (a protocol handler's) goes back to the searching thread,
                    // which carries it on; it never leaves that thread waiting.
                    let parts = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        work(model, &job, seen, &mut local)
                    }));
                    drop(job);
                    if done_tx.send(parts).is_err() {
                        return;
                    }
                }
            });
            jobs.push(job_tx);
        }
        drop(done_tx);
        let pool = Pool {
            jobs,
            done: done_rx,
        };
        let report = search(model, limits, &seen, Some(&pool));
        drop(pool); // the helpers see their channels close and return
        report
    })
}

/// One round for the helper threads: its states, whether they are at the depth bound,
/// and the counter of pieces taken.
struct Job<S> {
    round: Arc<Vec<(S, u32)>>,
    at_bound: bool,
    taken: Arc<AtomicUsize>,
}

type Pieces<S> = Vec<(usize, Vec<Expansion<S>>)>;

type Done<S> = std::thread::Result<Pieces<S>>;

/// The helper threads: a job channel each, one channel back.
struct Pool<S> {
    jobs: Vec<mpsc::Sender<Job<S>>>,
    done: mpsc::Receiver<Done<S>>,
}

fn read(seen: &RwLock<FpSet>) -> RwLockReadGuard<'_, FpSet> {
    seen.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(seen: &RwLock<FpSet>) -> RwLockWriteGuard<'_, FpSet> {
    seen.write().unwrap_or_else(PoisonError::into_inner)
}

/// Takes pieces of the job's round in turn and expands them (successors seen before
/// the level began left out; within a piece, a successor met twice is new at most
/// the first time).
fn work<M: Model>(
    model: &M,
    job: &Job<M::State>,
    seen: &RwLock<FpSet>,
    local: &mut FpSet,
) -> Pieces<M::State> {
    let seen = read(seen);
    let pieces = job.round.len().div_ceil(PIECE);
    let mut done = Vec::new();
    loop {
        let p = job.taken.fetch_add(1, Ordering::Relaxed);
        if p >= pieces {
            break;
        }
        local.clear();
        let part = &job.round[p * PIECE..((p + 1) * PIECE).min(job.round.len())];
        let mut is_new = |fp| !seen.contains(fp) && local.insert(fp);
        done.push((p, expand_all(model, part, job.at_bound, &mut is_new)));
    }
    done
}

impl<S> Pool<S> {
    /// Expands `round` on the helpers and this thread; the results in `round`'s order.
    fn expand<M: Model<State = S>>(
        &self,
        model: &M,
        seen: &RwLock<FpSet>,
        round: Vec<(S, u32)>,
        at_bound: bool,
        local: &mut FpSet,
    ) -> (Vec<(S, u32)>, Vec<Expansion<S>>) {
        let pieces = round.len().div_ceil(PIECE);
        let job = Job {
            round: Arc::new(round),
            at_bound,
            taken: Arc::new(AtomicUsize::new(0)),
        };
        for j in &self.jobs {
            let copy = Job {
                round: Arc::clone(&job.round),
                at_bound,
                taken: Arc::clone(&job.taken),
            };
            j.send(copy).expect("a checker thread stopped");
        }
        let mut parts: Vec<Option<Vec<Expansion<S>>>> = (0..pieces).map(|_| None).collect();
        let mut place = |done: Pieces<S>| {
            for (p, r) in done {
                parts[p] = Some(r);
            }
        };
        place(work(model, &job, seen, local));
        for _ in &self.jobs {
            match self.done.recv() {
                Ok(Ok(done)) => place(done),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => panic!("a checker thread stopped"),
            }
        }
        let round = Arc::try_unwrap(job.round)
            .unwrap_or_else(|_| unreachable!("every helper let go of the round"));
        let results = parts
            .into_iter()
            .flat_map(|p| p.expect("every piece expanded"))
            .collect();
        (round, results)
    }
}

/// The search itself, on this thread and the pool's (if any).
fn search<M>(
    model: &M,
    limits: &Limits,
    seen: &RwLock<FpSet>,
    pool: Option<&Pool<M::State>>,
) -> CheckReport
where
    M: Model + Sync,
    M::State: Send + Sync,
{
    let threads = limits.threads.max(1);
    let mut local = FpSet::new();
    let mut parents: Vec<Parent> = Vec::new();
    let mut sometimes = BTreeSet::new();
    let mut findings = Vec::new();
    let mut held = Vec::new();
    let mut transitions = 0u64;
    let mut depth = 0u32;
    let mut truncated = false;
    let mut interrupted = false;
    let mut expanded = 0u64;
    let mut frontier: Vec<(M::State, u32)> = Vec::new();
    for (i, s) in model.init_states().into_iter().enumerate() {
        if !write(seen).insert(fingerprint(&s)) {
            continue;
        }
        let idx = parents.len() as u32;
        parents.push(Parent {
            parent: ROOT,
            action: i as u32,
        });
        model.check_state(&s, &mut findings);
        held.clear();
        model.sometimes(&s, &mut held);
        sometimes.extend(held.drain(..));
        if let Some(f) = findings.pop() {
            return finish(model, &parents, idx, f, transitions, 0, sometimes);
        }
        frontier.push((s, idx));
    }
    let mut d = 0u32;
    'levels: while !frontier.is_empty() {
        let at_bound = limits.max_depth.is_some_and(|m| d >= m);
        let mut next: Vec<(M::State, u32)> = Vec::new();
        let round = ROUND_PER_THREAD * threads;
        // The level is kept reversed and taken from its end a round at a time, so the
        // states expanded are freed as the search goes (as a queue would).
        frontier.reverse();
        while !frontier.is_empty() {
            let mut slice = frontier.split_off(frontier.len().saturating_sub(round));
            slice.reverse();
            if frontier.capacity() > 2 * frontier.len() + 1024 {
                frontier.shrink_to_fit();
            }
            let (slice, results) = match pool {
                None => {
                    // One thread: fingerprints are recorded as they are met.
                    let mut seen = write(seen);
                    let mut is_new = |fp| seen.insert(fp);
                    let results = expand_all(model, &slice, at_bound, &mut is_new);
                    (slice, results)
                }
                Some(pool) => pool.expand(model, seen, slice, at_bound, &mut local),
            };
            let mut seen = write(seen);
            for (k, e) in results.into_iter().enumerate() {
                let idx = slice[k].1;
                expanded += 1;
                if expanded % PROGRESS_EVERY == 0 {
                    if let Some(hook) = limits.progress {
                        (hook.0)(parents.len(), depth);
                    }
                    if crate::stop::requested() {
                        interrupted = true;
                        break 'levels;
                    }
                }
                let (t, new) = match e {
                    Expansion::Terminal(None) => continue,
                    Expansion::Terminal(Some(f)) => {
                        return finish(model, &parents, idx, f, transitions, depth, sometimes)
                    }
                    Expansion::Cut => {
                        truncated = true;
                        continue;
                    }
                    Expansion::Successors { transitions, new } => (transitions, new),
                };
                for c in new {
                    if pool.is_some() && !seen.insert(c.fp) {
                        continue;
                    }
                    if parents.len() >= limits.max_states {
                        transitions += u64::from(c.ord);
                        truncated = true;
                        break 'levels;
                    }
                    let nidx = parents.len() as u32;
                    parents.push(Parent {
                        parent: idx,
                        action: c.action,
                    });
                    depth = depth.max(d + 1);
                    sometimes.extend(c.held);
                    if let Some(f) = c.finding {
                        transitions += u64::from(c.ord);
                        return finish(model, &parents, nidx, f, transitions, depth, sometimes);
                    }
                    next.push((c.state, nidx));
                }
                transitions += u64::from(t);
                if parents.len() >= limits.max_states {
                    truncated = true;
                    break 'levels;
                }
            }
        }
        frontier = next;
        d += 1;
    }
    CheckReport {
        distinct_states: parents.len(),
        transitions,
        depth,
        complete: !truncated && !interrupted,
        interrupted,
        sometimes,
        not_checked: Vec::new(),
        violation: None,
        collision_odds: collision_odds(parents.len()),
    }
}

/// Expands `slice` in order on this thread; `is_new` says whether a fingerprint is
/// new (and may remember it).
fn expand_all<M: Model>(
    model: &M,
    slice: &[(M::State, u32)],
    at_bound: bool,
    is_new: &mut impl FnMut(u64) -> bool,
) -> Vec<Expansion<M::State>> {
    let mut actions = Vec::new();
    let mut findings = Vec::new();
    slice
        .iter()
        .map(|(s, _)| expand(model, s, at_bound, is_new, &mut actions, &mut findings))
        .collect()
}

fn expand<M: Model>(
    model: &M,
    state: &M::State,
    at_bound: bool,
    is_new: &mut impl FnMut(u64) -> bool,
    actions: &mut Vec<M::Action>,
    findings: &mut Vec<Finding>,
) -> Expansion<M::State> {
    actions.clear();
    model.actions(state, actions);
    if actions.is_empty() {
        findings.clear();
        model.check_terminal(state, findings);
        return Expansion::Terminal(findings.pop());
    }
    if at_bound {
        return Expansion::Cut;
    }
    let mut new = Vec::new();
    let mut ord = 0u32;
    for (k, a) in actions.iter().enumerate() {
        let Some(next) = model.next_state(state, a) else {
            continue;
        };
        ord += 1;
        let fp = fingerprint(&next);
        if !is_new(fp) {
            continue;
        }
        findings.clear();
        model.check_state(&next, findings);
        let mut held = Vec::new();
        model.sometimes(&next, &mut held);
        new.push(Candidate {
            fp,
            state: next,
            action: k as u32,
            ord,
            finding: findings.pop(),
            held,
        });
    }
    Expansion::Successors {
        transitions: ord,
        new,
    }
}

/// The report of a search stopped by a violation at state `at`: its path rebuilt by
/// re-running the recorded actions from the initial state.
fn finish<M: Model>(
    model: &M,
    parents: &[Parent],
    at: u32,
    finding: Finding,
    transitions: u64,
    depth: u32,
    sometimes: BTreeSet<String>,
) -> CheckReport {
    let mut path = Vec::new();
    let mut i = at;
    let init = loop {
        let p = parents[i as usize];
        if p.parent == ROOT {
            break p.action;
        }
        path.push(p.action);
        i = p.parent;
    };
    path.reverse();
    let mut state = model.init_states().swap_remove(init as usize);
    let mut steps = Vec::new();
    let mut story = Vec::new();
    let mut notable = Vec::new();
    let mut actions = Vec::new();
    for k in path {
        actions.clear();
        model.actions(&state, &mut actions);
        let a = &actions[k as usize];
        notable.push(model.notable(&state, a));
        steps.push(model.step(&state, a));
        story.push(model.describe(&state, a));
        state = model
            .next_state(&state, a)
            .expect("a recorded action stays enabled");
    }
    CheckReport {
        distinct_states: parents.len(),
        transitions,
        depth,
        complete: false,
        interrupted: false,
        sometimes,
        not_checked: Vec::new(),
        violation: Some(Counterexample {
            finding,
            steps,
            story,
            notable,
        }),
        collision_odds: collision_odds(parents.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_set_keeps_every_value_once_across_growth() {
        let mut s = FpSet::new();
        for i in 0..10_000u64 {
            assert!(s.insert(crate::rng::mix64(i)));
        }
        assert!(s.insert(0) && !s.insert(0));
        for i in 0..10_000u64 {
            assert!(!s.insert(crate::rng::mix64(i)));
            assert!(s.contains(crate::rng::mix64(i)));
        }
        assert!(!s.contains(crate::rng::mix64(10_001)));
        assert_eq!(s.len(), 10_001);
        s.clear();
        assert!(s.is_empty() && !s.contains(0) && !s.contains(crate::rng::mix64(5)));
    }

    #[test]
    fn collision_odds_are_about_n_squared_over_two_to_the_65() {
        assert_eq!(collision_odds(1), 0.0);
        let n = 1_000_000usize;
        let approx = (n as f64).powi(2) / 2f64.powi(65);
        assert!((collision_odds(n) / approx - 1.0).abs() < 1e-5);
    }
}
