//! The `acidbase` binary: the command line of [`acidbase::cli`] on the built-in
//! protocols.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    acidbase::cli::main()
}
