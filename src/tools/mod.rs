//! The tools built on runs: several protocols side by side ([`compare`]), many seeds
//! ([`explore`], [`swarm`], split across machines and merged: [`parts`]), a failure made small ([`shrink`], [`schedule`], on the
//! greedy core the testing harness shrinks with too: [`greedy`]), a run's
//! trace read back, drawn and its call tree told ([`tracelog`], [`diagram`],
//! [`spans`]), parameter sweeps and their charts ([`sweep`], [`chart`]), the
//! canonical benchmark ([`mod@bench`]), and the progress line of the long ones
//! ([`progress`]).

pub mod bench;
pub mod chart;
pub mod compare;
pub mod diagram;
pub mod explore;
pub mod greedy;
pub mod parts;
pub mod progress;
pub mod schedule;
pub mod shrink;
pub mod spans;
pub mod swarm;
pub mod sweep;
pub mod tracelog;
