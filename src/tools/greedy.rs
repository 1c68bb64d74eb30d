//! The one greedy shrinking core, shared by `acidbase shrink` (over scenarios,
//! [`crate::tools::shrink`]) and the testing harness (over fault schedules,
//! `testing::Harness::check`): hold a failing candidate; try smaller ones; keep each
//! that still fails; stop when none does or the budget of tries is spent.
//!
//! A user brings its failure test (a [`Judge`]) and its candidates: either a list of
//! smaller candidates of the current one ([`Greedy::descend`] keeps the first that
//! still fails and starts again from it), or edits made through the moves here —
//! lower a number ([`Greedy::lower`]), drop chunks of a list
//! ([`Greedy::drop_from_list`]), any other edit ([`Greedy::try_edit`]).

/// What a [`Judge`] says of one candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict<C> {
    /// Not a candidate (e.g. it does not validate): not tried, costs no budget.
    Invalid,
    /// Tried and not kept: it no longer fails, or not in the way that counts.
    Rejected,
    /// Tried and still fails: kept, in this form (e.g. as validation normalised it).
    StillFails(C),
}

/// The failure test of a shrink. A judge that says [`Verdict::StillFails`] may count on
/// the candidate being kept (and so update what it compares the next one with).
pub trait Judge<C> {
    fn judge(&mut self, candidate: &C) -> Verdict<C>;
}

impl<C, F: FnMut(&C) -> Verdict<C>> Judge<C> for F {
    fn judge(&mut self, candidate: &C) -> Verdict<C> {
        self(candidate)
    }
}

/// A greedy shrink in progress: the smallest failing candidate so far, its judge, and
/// the tries spent of the budget.
pub struct Greedy<C, J> {
    current: C,
    judge: J,
    tries: u32,
    max_tries: u32,
}

/// A value in ms rounded to whole µs (the finest step [`Greedy::lower`] takes).
pub(crate) fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

impl<C: Clone + PartialEq, J: Judge<C>> Greedy<C, J> {
    /// Starts from `failing`, which the caller has seen fail; at most `max_tries`
    /// candidates are tried.
    pub fn new(failing: C, judge: J, max_tries: u32) -> Self {
        Greedy {
            current: failing,
            judge,
            tries: 0,
            max_tries,
        }
    }

    pub fn current(&self) -> &C {
        &self.current
    }

    pub fn judge(&self) -> &J {
        &self.judge
    }

    /// Candidates tried so far (invalid ones are not counted).
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Tries are left, and nobody asked to stop ([`crate::stop`]: Ctrl-C ends a
    /// shrink with the smallest failing candidate found so far).
    pub fn budget_left(&self) -> bool {
        self.tries < self.max_tries && !crate::stop::requested()
    }

    pub fn into_current(self) -> C {
        self.current
    }

    /// Keeps `candidate` if the judge says it still fails. A candidate equal to the
    /// current one is not tried.
    pub fn try_candidate(&mut self, candidate: C) -> bool {
        if !self.budget_left() || candidate == self.current {
            return false;
        }
        match self.judge.judge(&candidate) {
            Verdict::Invalid => false,
            Verdict::Rejected => {
                self.tries += 1;
                false
            }
            Verdict::StillFails(kept) => {
                self.tries += 1;
                self.current = kept;
                true
            }
        }
    }

    /// Tries the current candidate with `edit` applied.
    pub fn try_edit(&mut self, edit: impl FnOnce(&mut C)) -> bool {
        let mut candidate = self.current.clone();
        edit(&mut candidate);
        self.try_candidate(candidate)
    }

    /// Keeps the first of `smaller(current)` that still fails and starts again from
    /// it, until none does. Whether anything was kept.
    pub fn descend(&mut self, smaller: impl Fn(&C) -> Vec<C>) -> bool {
        let mut changed = false;
        'again: while self.budget_left() {
            for candidate in smaller(&self.current) {
                if self.try_candidate(candidate) {
                    changed = true;
                    continue 'again;
                }
            }
            break;
        }
        changed
    }

    /// Lowers the number `get` reads towards `lo`: first all the way, then in steps
    /// that halve on failure, down to `min_step` (targets are whole numbers for a
    /// `min_step` of 1 or more, else whole µs of a value in ms).
    pub fn lower(
        &mut self,
        get: impl Fn(&C) -> Option<f64>,
        set: impl Fn(&mut C, f64),
        lo: f64,
        min_step: f64,
    ) -> bool {
        let Some(mut v) = get(&self.current) else {
            return false;
        };
        if v - lo < min_step {
            return false;
        }
        if self.try_edit(|c| set(c, lo)) {
            return true;
        }
        let mut changed = false;
        let mut step = ((v - lo) / 2.0).max(min_step);
        while step >= min_step && self.budget_left() {
            let target = if min_step >= 1.0 {
                (v - step).round()
            } else {
                round_us(v - step)
            };
            if target < lo || target >= v {
                step /= 2.0;
                continue;
            }
            if self.try_edit(|c| set(c, target)) {
                v = target;
                changed = true;
            } else {
                step /= 2.0;
            }
        }
        changed
    }

    /// Tries removing chunks of the list `list` picks: halves first, then quarters, …,
    /// then single entries.
    pub fn drop_from_list<T: Clone>(&mut self, list: impl Fn(&mut C) -> &mut Vec<T>) -> bool {
        let mut changed = false;
        let mut chunk = list(&mut self.current.clone()).len().div_ceil(2);
        while chunk >= 1 && self.budget_left() {
            let mut start = 0;
            while start < list(&mut self.current.clone()).len() && self.budget_left() {
                let accepted = self.try_edit(|c| {
                    let v = list(c);
                    let end = (start + chunk).min(v.len());
                    v.drain(start..end);
                });
                if accepted {
                    changed = true;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list "fails" while it still holds every number in `needed`.
    fn holds(needed: &'static [u32]) -> impl FnMut(&Vec<u32>) -> Verdict<Vec<u32>> {
        move |v| {
            if needed.iter().all(|n| v.contains(n)) {
                Verdict::StillFails(v.clone())
            } else {
                Verdict::Rejected
            }
        }
    }

    /// Every list with one entry fewer.
    fn one_fewer() -> impl Fn(&Vec<u32>) -> Vec<Vec<u32>> {
        |v| {
            (0..v.len())
                .map(|i| {
                    let mut w = v.clone();
                    w.remove(i);
                    w
                })
                .collect()
        }
    }

    #[test]
    fn descend_keeps_the_first_smaller_failing_candidate_until_none_fails() {
        let mut g = Greedy::new(vec![1, 2, 3, 4, 5], holds(&[2, 5]), u32::MAX);
        assert!(g.descend(one_fewer()));
        assert_eq!(g.current(), &vec![2, 5]);
        // [2,3,4,5] kept at once; [3,4,5] no, [2,4,5] kept; [4,5] no, [2,5] kept; then
        // neither [5] nor [2] fails.
        assert_eq!(g.tries(), 7);
        assert!(!g.descend(one_fewer()));
    }

    #[test]
    fn the_budget_stops_the_shrink_and_invalid_candidates_cost_nothing() {
        let mut g = Greedy::new(vec![1, 2, 3, 4, 5], holds(&[]), 2);
        g.descend(one_fewer());
        assert_eq!((g.current().len(), g.tries()), (3, 2));
        let mut seen = 0;
        let mut g = Greedy::new(
            vec![1, 2],
            |_: &Vec<u32>| {
                seen += 1;
                Verdict::Invalid
            },
            1,
        );
        assert!(!g.descend(one_fewer()));
        assert_eq!(g.tries(), 0);
        drop(g);
        assert_eq!(seen, 2);
    }

    #[test]
    fn lists_lose_chunks_and_numbers_go_down() {
        let mut g = Greedy::new((0..10).collect::<Vec<u32>>(), holds(&[7]), u32::MAX);
        assert!(g.drop_from_list(|v| v));
        assert_eq!(g.current(), &vec![7]);
        let mut g = Greedy::new(
            100.0,
            |x: &f64| {
                if *x >= 37.0 {
                    Verdict::StillFails(*x)
                } else {
                    Verdict::Rejected
                }
            },
            u32::MAX,
        );
        assert!(g.lower(|x| Some(*x), |x, v| *x = v, 0.0, 1.0));
        // 0 no, 50 kept, 0 and 25 no, 38 kept, 26, 32, 35 and 36 no: the steps halve
        // down to 1, so it ends within a step of the bound, not always on it.
        assert_eq!(*g.current(), 38.0);
        assert_eq!(g.tries(), 9);
    }
}
