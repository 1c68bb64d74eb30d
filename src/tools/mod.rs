//! The tools built on runs: several protocols side by side ([`compare`]), many seeds
//! ([`explore`], [`swarm`]), a failure made small ([`shrink`], [`schedule`], on the
//! greedy core the testing harness shrinks with too: [`greedy`]), a run's
//! trace read back and drawn ([`tracelog`], [`diagram`]), parameter sweeps and their
//! charts ([`sweep`], [`chart`]), the canonical benchmark ([`mod@bench`]), and the
//! request that stops any of the long ones early ([`stop`]).

pub mod bench;
pub mod chart;
pub mod compare;
pub mod diagram;
pub mod explore;
pub mod greedy;
pub mod progress;
pub mod schedule;
pub mod shrink;
pub mod stop;
pub mod swarm;
pub mod sweep;
pub mod tracelog;
