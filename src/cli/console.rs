//! Standard output and error that a closed pipe cannot crash (`acidbase run | head`).
//!
//! `println!` panics when the reader has gone away. Every line the binary prints goes
//! through [`out`] / [`err`] instead (the `say!`/`sayln!`/`warnln!` macros): a
//! broken pipe ends that stream's output quietly and the command still returns its
//! own exit status; any other write error (a full disk behind a redirection) is
//! remembered, and [`finish`] turns it into exit status 2 with a message, so no
//! output is lost silently.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output.
pub fn out(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != ErrorKind::BrokenPipe {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            err(format_args!(
                "error: cannot write to standard output: {e}\n"
            ));
        }
    }
}

/// Writes to standard error.
pub fn err(args: std::fmt::Arguments<'_>) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stderr().lock().write_fmt(args).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// The command's exit status, unless standard output failed for another reason than
/// a closed pipe.
pub fn finish(code: ExitCode) -> ExitCode {
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        ExitCode::from(2)
    } else {
        code
    }
}

/// `print!` through [`out`].
macro_rules! say {
    ($($t:tt)*) => { $crate::cli::console::out(format_args!($($t)*)) };
}

/// `println!` through [`out`].
macro_rules! sayln {
    () => { $crate::cli::console::out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::console::out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprintln!` through [`err`].
macro_rules! warnln {
    () => { $crate::cli::console::err(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::console::err(format_args!("{}\n", format_args!($($t)*))) };
}
