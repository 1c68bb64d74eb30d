//! acidbase: a deterministic simulator of distributed transaction protocols.
//!
//! Map of the crate (DESIGN §3):
//! - [`engine`]: virtual time, the event queue, the run loop, the trace digest, the
//!   `--trace` JSON-lines writer;
//! - [`rng`]: seeded random streams, one per purpose;
//! - [`network`]: latency, loss, duplication, reordering, partitions;
//! - [`faults`]: the concrete fault plan (crashes, restarts, partition windows, drift);
//! - [`ids`]: node and transaction ids, node sets, outcomes (also under [`node`]);
//! - [`node`]: the public `Node` API every protocol is written against;
//! - [`observe`]: the vocabulary nodes use to report facts to the checkers;
//! - [`idmap`]: O(1) maps keyed by dense transaction ids, bounded and ordered;
//! - [`store`]: what a resource manager guards: balances and a lock table;
//! - [`property`]: properties over node state (always / sometimes / eventually);
//! - [`protocols`]: the [`protocols::Protocol`] trait every protocol implements, the
//!   world builder, the parts the built-ins share (the client glue,
//!   [`protocols::coordinated`]; the locking participant and Commit resend of 2PC and
//!   3PC, [`protocols::locking_rm`] and [`protocols::commit_acks`]) and the built-ins
//!   (2PC, 3PC, TCC, saga, reliable messaging, service calls), one folder each with
//!   its roles and its builder;
//! - [`workload`]: business cases that generate client requests;
//! - [`checkers`]: invariants and metrics computed from observations and audits: one
//!   per-transaction record ([`checkers::txn`]) shared with the exhaustive checker and
//!   the harness, BASE's consistency, business, messaging, TCC and service calls;
//! - [`stats`]: a bounded-memory histogram for latency percentiles;
//! - [`suggest`]: "did you mean" for a mistyped name in an error;
//! - [`stop`]: the request (Ctrl-C) that stops long work after the unit under way;
//! - [`scenario`]: the RON scenario schema, defaults and validation;
//! - [`run`]: the [`run::Registry`] of protocols (built-in and a user's): validates a
//!   scenario for its protocol, builds its world, runs it, produces a [`report::Report`];
//! - [`report`]: the report (text for people, JSON for machines);
//! - [`story`]: every story told in plain words: the run report's "What happened"
//!   (with the protocol's own part, through the [`protocols::Protocol`] story hooks)
//!   and a run's events in order for the transactions a reader follows (the shrunk
//!   counterexample's and the harness's);
//! - [`tools`]: what is built on runs:
//!   - [`tools::compare`]: several protocols side by side on one workload and fault schedule;
//!   - [`tools::bench`]: the canonical bench-2pc workload;
//!   - [`tools::schedule`]: a run's concrete fault schedule, exported as a scenario that replays it;
//!   - [`tools::explore`]: many seeds in parallel, failures grouped by kind;
//!   - [`tools::swarm`]: swarm testing: each seed draws the whole world and its faults, for
//!     every configuration the book calls safe and every unsafe variant;
//!   - [`tools::shrink`]: minimise a violating schedule and tell it as a story;
//!   - [`tools::tracelog`]: a run's trace read back, for stories and diagrams;
//!   - [`tools::diagram`]: sequence (space-time) diagrams of a run as SVG;
//!   - [`tools::sweep`]: parameter sweeps over many seeds, in parallel, resumable, shardable;
//!   - [`tools::chart`]: charts of sweep results (SVG, PNG) with an embedded font;
//! - [`exhaustive`]: exhaustive, breadth-first exploration of small worlds (and of
//!   Lamport's TwoPhase spec, to validate the explorer);
//! - [`testing`]: test your own protocol from `cargo test`;
//! - [`cli`]: the command line, as a library: [`cli::main_with`] gives a user's binary
//!   every subcommand for their protocol;
//! - [`fuzzing`]: the entry points of the fuzz targets and of their corpus's replay.
//!
//! The modules form layers, each using only modules below it (so no two depend on
//! each other); `tests/suite/layering.rs` holds the table and checks every import against it.
//!
//! To write a protocol of your own, implement [`node::Node`] for an enum of its roles
//! (see [`protocols::two_pc`]), report what happens with [`observe::Observation`]s,
//! describe it with [`protocols::Protocol`] and register it:
//! `acidbase::cli::main_with(Registry::builtin().with(MyProtocol))` (the book's
//! chapter "Testing your own protocol", and `tests/user_crate/`).
//!
//! Running a scenario from code (here the built-in default, in which the TM crashes
//! after the votes):
//!
//! ```
//! // Validated, and bound to its protocol: a `run::Validated` cannot fail to run.
//! let s = acidbase::run::default_scenario();
//! let seed = s.scenario.seed;
//! let report = s.run(seed, None).report;
//! assert_eq!(report.violations.atomicity, 0); // 2PC stays atomic...
//! assert!(report.locks.blocked >= 3); // ...by blocking while the TM is down
//! // Same scenario, same seed: the same run, to the digest.
//! assert_eq!(s.run(seed, None).report.digest, report.digest);
//! ```

#![forbid(unsafe_code)]
pub mod checkers;
pub mod cli;
pub mod engine;
pub mod exhaustive;
pub mod faults;
pub mod fuzzing;
pub mod idmap;
pub mod ids;
pub mod network;
pub mod node;
pub mod observe;
pub mod property;
pub mod protocols;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
mod seqset;
pub mod serve;
pub mod stats;
pub mod stop;
pub mod store;
pub mod story;
pub mod suggest;
pub mod testing;
pub mod tools;

mod unique_map;
pub mod workload;
