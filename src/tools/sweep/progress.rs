//! The progress line on stderr: runs done / total, runs per second, time left.
//! Redrawn in place on a terminal; a line every 10 % otherwise (logs, CI).
//!
//! Written by hand rather than with a progress-bar crate: it is one line of text,
//! and the wall clock it reads never reaches a run.

// The wall clock of the progress line, reviewed: it never reaches a run.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    total: usize,
    done: usize,
    /// Runs found done when the sweep started (not counted in the rate).
    resumed: usize,
    start: Instant,
    last_draw: Option<Instant>,
    last_decile: usize,
    enabled: bool,
    tty: bool,
}

impl Progress {
    #[allow(clippy::disallowed_methods)] // wall clock for the progress line only
    pub fn new(total: usize, resumed: usize, enabled: bool) -> Progress {
        Progress {
            total,
            done: resumed,
            resumed,
            start: Instant::now(),
            last_draw: None,
            last_decile: 0,
            enabled,
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The line for `done` runs after `secs` seconds.
    pub fn line(total: usize, done: usize, resumed: usize, secs: f64) -> String {
        const WIDTH: usize = 24;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
        let rate = if secs > 0.0 {
            (done - resumed) as f64 / secs
        } else {
            0.0
        };
        let left = if rate > 0.0 {
            let s = ((total - done) as f64 / rate).round() as u64;
            if s >= 3600 {
                format!("{}h{:02}m left", s / 3600, (s % 3600) / 60)
            } else if s >= 60 {
                format!("{}m{:02}s left", s / 60, s % 60)
            } else {
                format!("{s}s left")
            }
        } else {
            "time left unknown".into()
        };
        format!(
            "[{}{}] {done}/{total} runs  {rate:.1} runs/s  {left}",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled)
        )
    }

    pub fn advance(&mut self, n: usize) {
        self.done += n;
        if !self.enabled {
            return;
        }
        let decile = (self.done * 10).checked_div(self.total).unwrap_or(10);
        let due = match self.last_draw {
            None => true,
            Some(t) => t.elapsed() >= Duration::from_millis(100),
        };
        if (self.tty && due) || (!self.tty && decile > self.last_decile) {
            self.draw();
            self.last_decile = decile;
        }
    }

    #[allow(clippy::disallowed_methods)] // wall clock for the progress line only
    fn draw(&mut self) {
        let line = Progress::line(self.total, self.done, self.resumed, self.seconds());
        let mut e = std::io::stderr().lock();
        let _ = if self.tty {
            write!(e, "\r{line}\x1b[K")
        } else {
            writeln!(e, "{line}")
        };
        self.last_draw = Some(Instant::now());
    }

    pub fn finish(&mut self) {
        if self.enabled {
            if self.tty {
                self.draw();
                let _ = writeln!(std::io::stderr());
            } else if self.last_decile < 10 {
                self.draw();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_done_rate_and_time_left() {
        let l = Progress::line(400, 100, 0, 10.0);
        assert_eq!(
            l,
            "[######..................] 100/400 runs  10.0 runs/s  30s left"
        );
        // Resumed runs count as done but not in the rate.
        let l = Progress::line(400, 300, 200, 10.0);
        assert!(l.contains("300/400 runs  10.0 runs/s  10s left"), "{l}");
    }
}
