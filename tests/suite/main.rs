//! The integration tests, one binary: each module runs the `acidbase` binary (or the
//! library) as a user would. One binary rather than one per file, because every test
//! binary is a full release link of the library, which dominated CI time.

mod bad_input;
mod book;
mod browser;
mod cache;
mod check_cli;
mod cli;
mod common;
mod compare;
mod course;
mod diagram;
mod exhaustive;
mod explore;
mod explore_shards;
mod fuzz_corpus;
mod ids;
mod interrupt;
mod layering;
mod local_cache;
mod messaging;
mod paxos_commit;
mod peers;
mod properties;
mod saga;
mod scenarios;
mod serve;
mod service_calls;
mod slurm;
mod stories;
mod swarm;
mod sweep;
mod tcc;
mod three_pc;
mod tracing;
mod user_crate;
mod user_protocol;
mod xa_heuristics;
