//! A request to stop long work early (Ctrl-C), and what a stopped command exits with.
//!
//! Explorations, swarms, sweeps, comparisons and the exhaustive checker poll
//! [`requested`] between units of work (a seed, a run, a batch of states) and, once
//! it is set, finish the unit they are on and return what they have, marked as
//! interrupted. The flag is process-wide because a signal is; the CLI sets it from
//! the SIGINT handler ([`flag`]) and a library user may call [`request`]. Polling it
//! never reaches a run: a run that starts, ends as it would have.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The exit status of a command that was interrupted and printed what it had:
/// 128 + SIGINT, as a shell reports a process that Ctrl-C ended.
pub const INTERRUPTED_EXIT: u8 = 130;

/// Asks every long loop to stop after the unit of work it is on.
pub fn request() {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The flag itself, for a signal handler to set.
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(&STOP)
}
