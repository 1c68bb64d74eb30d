//! Ctrl-C for the long commands: the first press asks the work to stop
//! ([`crate::tools::stop`]) so the command prints what it has; a second press ends
//! the process at once with the same status. Installed only by commands that poll
//! the flag, so Ctrl-C still ends any other command immediately.

use crate::tools::stop;

/// Routes SIGINT and SIGTERM to the stop flag.
pub(super) fn install() {
    #[cfg(unix)]
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The order matters: the shutdown hook checks the flag before the second
        // hook sets it, so the first signal only sets it and the second exits.
        let installed = signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(stop::INTERRUPTED_EXIT),
            stop::flag(),
        )
        .and_then(|_| signal_hook::flag::register(signal, stop::flag()));
        if let Err(e) = installed {
            warnln!("warning: Ctrl-C will end the command without a summary ({e})");
        }
    }
}

/// The line a stopped command ends with, on stderr.
pub(super) fn say_interrupted(what: &str) {
    warnln!("interrupted: {what}");
}
