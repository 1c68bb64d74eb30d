//! The progress line on stderr for long commands: units done / total, rate, time
//! left; or, when the total is unknown (the exhaustive checker), units done and the
//! rate. Drawn in place on a terminal, at most ten times a second; nothing at all
//! when stderr is not a terminal (logs and pipes get only the command's result).
//!
//! Written by hand rather than with a progress-bar crate: it is one line of text,
//! and the wall clock it reads never reaches a run.

// The wall clock of the progress line, reviewed: it never reaches a run.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    /// What is counted, plural ("runs", "seeds", "states").
    unit: &'static str,
    /// `None`: not known in advance.
    total: Option<u64>,
    done: u64,
    /// Units found done when the command started (not counted in the rate).
    resumed: u64,
    /// Appended to the line (e.g. "3 failing").
    note: String,
    start: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
    enabled: bool,
}

impl Progress {
    /// A line for `total` units of which `resumed` are already done; drawn only if
    /// `enabled` and stderr is a terminal.
    pub fn new(unit: &'static str, total: Option<u64>, resumed: u64, enabled: bool) -> Progress {
        Progress {
            unit,
            total,
            done: resumed,
            resumed,
            note: String::new(),
            start: Instant::now(),
            last_draw: None,
            drawn: false,
            enabled: enabled && std::io::stderr().is_terminal(),
        }
    }

    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The line for `done` of `total` units after `secs` seconds.
    pub fn line(
        unit: &str,
        total: Option<u64>,
        done: u64,
        resumed: u64,
        secs: f64,
        note: &str,
    ) -> String {
        const WIDTH: u64 = 24;
        let rate = if secs > 0.0 {
            done.saturating_sub(resumed) as f64 / secs
        } else {
            0.0
        };
        let note = if note.is_empty() {
            String::new()
        } else {
            format!("  {note}")
        };
        let Some(total) = total else {
            return format!("{done} {unit}  {}/s  {:.0}s{note}", rate_text(rate), secs);
        };
        let filled = (done.min(total) * WIDTH)
            .checked_div(total)
            .unwrap_or(WIDTH);
        let left = if rate > 0.0 {
            duration_text(((total.saturating_sub(done)) as f64 / rate).round() as u64) + " left"
        } else {
            "time left unknown".into()
        };
        format!(
            "[{}{}] {done}/{total} {unit}  {} {unit}/s  {left}{note}",
            "#".repeat(filled as usize),
            ".".repeat((WIDTH - filled) as usize),
            rate_text(rate),
        )
    }

    /// `n` more units done.
    pub fn advance(&mut self, n: u64) {
        self.done += n;
        self.maybe_draw();
    }

    /// Sets the total, once it is known.
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
    }

    /// Sets the count done (for work counted elsewhere) and the note.
    pub fn set(&mut self, done: u64, note: String) {
        self.done = done;
        self.note = note;
        self.maybe_draw();
    }

    fn maybe_draw(&mut self) {
        if !self.enabled {
            return;
        }
        let due = self
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let line = Progress::line(
            self.unit,
            self.total,
            self.done,
            self.resumed,
            self.seconds(),
            &self.note,
        );
        let _ = write!(std::io::stderr().lock(), "\r{line}\x1b[K");
        self.last_draw = Some(Instant::now());
        self.drawn = true;
    }

    /// Draws the last state and ends the line, if anything was drawn.
    pub fn finish(&mut self) {
        if self.enabled && self.drawn {
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn rate_text(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

fn duration_text(s: u64) -> String {
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_done_rate_and_time_left() {
        let l = Progress::line("runs", Some(400), 100, 0, 10.0, "");
        assert_eq!(
            l,
            "[######..................] 100/400 runs  10.0 runs/s  30s left"
        );
        // Resumed runs count as done but not in the rate.
        let l = Progress::line("runs", Some(400), 300, 200, 10.0, "");
        assert!(l.contains("300/400 runs  10.0 runs/s  10s left"), "{l}");
        let l = Progress::line("seeds", Some(10_000), 1000, 0, 2.0, "3 failing");
        assert!(
            l.ends_with("1000/10000 seeds  500 seeds/s  18s left  3 failing"),
            "{l}"
        );
        let l = Progress::line("states", None, 5000, 0, 2.0, "depth 7");
        assert_eq!(l, "5000 states  2500/s  2s  depth 7");
        assert!(Progress::line("runs", Some(4), 0, 0, 0.0, "").contains("time left unknown"));
    }
}
