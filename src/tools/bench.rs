//! The canonical bench-2pc workload (`benches/README.md`), run through
//! the real engine, the real 2PC protocol and the real checkers.
//!
//! One TM, N RMs, T transactions from C closed-loop sessions with no think time; every
//! transaction spans all N RMs (Prepare, Vote, Commit, Ack: 4·N deliveries); one-way
//! delays uniform in [1, 10] ms; no faults. Sessions use disjoint accounts so no
//! transaction aborts. The client library sits in the TM's process (as in the peers,
//! where the slot lives in the TM), so its requests and replies take no time and are
//! not counted as deliveries.

use crate::run::{Registry, Validated};
use crate::scenario::{
    KeysSpec, LatencySpec, LoadSpec, ScenarioError, TransferSpec, WorkloadSpec, MAX_AMOUNT,
    MAX_MONEY_TOTAL,
};

/// The bench's flags (same names and defaults as the peers).
#[derive(Clone, Debug)]
pub struct BenchArgs {
    pub rms: u32,
    pub txns: u64,
    pub concurrency: u32,
    pub seed: u64,
}

/// What one bench run measured.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub completed: u64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub sim_end_ms: f64,
    pub wall_s: f64,
    pub digest: String,
}

impl BenchResult {
    pub fn ok(&self, args: &BenchArgs) -> bool {
        self.completed == args.txns && self.deliveries == self.expected_deliveries
    }

    /// The lines the peers print.
    pub fn lines(&self, args: &BenchArgs) -> String {
        format!(
            "bench-2pc impl=acidbase rms={} txns={} concurrency={} seed={}\n\
             transactions_completed: {}\n\
             deliveries: {} (expected {})\n\
             sim_end_ms: {:.3}\n\
             wall_s: {:.4}\n\
             deliveries_per_wall_s: {:.0}\n",
            args.rms,
            args.txns,
            args.concurrency,
            args.seed,
            self.completed,
            self.deliveries,
            self.expected_deliveries,
            self.sim_end_ms,
            self.wall_s,
            self.deliveries as f64 / self.wall_s.max(1e-9),
        )
    }
}

/// The bench scenario: `scenarios/bench-2pc.ron` with the flags applied, validated
/// (an error: flags beyond what a scenario supports).
pub fn scenario(args: &BenchArgs) -> Result<Validated, ScenarioError> {
    let mut s = crate::run::parse(
        include_str!("../../scenarios/bench-2pc.ron"),
        "scenarios/bench-2pc.ron",
    )
    .expect("the built-in bench scenario is valid")
    .into_loaded()
    .scenario;
    s.seed = args.seed;
    s.rms = args.rms;
    s.clients.load = LoadSpec::Closed {
        sessions: args.concurrency,
        think_ms: 0.0,
    };
    s.clients.max_requests = Some(args.txns);
    s.clients.colocated_with_tm = true;
    s.two_pc.answer_client_after_acks = true;
    s.network.latency = LatencySpec::Uniform {
        min_ms: 1.0,
        max_ms: 10.0,
    };
    // As much money as validation allows: N·C accounts share its total (so C up to
    // 10,000 at N = 100 still validates), and an account of at least
    // 10¹² / 10⁶ = 10⁶ covers a session's unit debits for T up to 10⁶ · C.
    let accounts = i64::from(args.rms) * i64::from(args.concurrency.max(1));
    let initial_balance = (MAX_MONEY_TOTAL / accounts.max(1)).min(MAX_AMOUNT);
    s.workload = WorkloadSpec::Transfer(TransferSpec {
        accounts_per_shard: args.concurrency.max(1),
        initial_balance,
        amount_min: 1,
        amount_max: 1,
        fan_out: args.rms.saturating_sub(1).max(1),
        keys: KeysSpec::PerSession,
    });
    // Long enough for any T (the longest run validation allows, 11.6 days of
    // virtual time; a million transactions take minutes): the run ends when the
    // queue drains.
    s.duration_ms = 1e9;
    s.drain_ms = 0.0;
    s.max_events = MAX_EVENTS;
    Registry::builtin().validate_scenario(&s, "bench.ron")
}

/// The most events a scenario may run (validation's bound): far more than the bench
/// needs at any size it is measured at.
const MAX_EVENTS: u64 = 1_000_000_000;

/// Runs the bench once. Wall time covers building the world and the event loop, as
/// the peers measure it; it is read outside the simulation and never fed into it.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub fn run_bench(args: &BenchArgs) -> Result<BenchResult, ScenarioError> {
    let s = scenario(args)?;
    let start = std::time::Instant::now();
    let out = s.run(args.seed, None);
    let wall_s = start.elapsed().as_secs_f64();
    let c = &out.results.counts;
    Ok(BenchResult {
        completed: c.committed + c.aborted,
        deliveries: out.end.stats.deliveries - c.client_messages,
        expected_deliveries: 4 * u64::from(args.rms) * args.txns,
        sim_end_ms: out.end.stats.last_delivery_us as f64 / 1000.0,
        wall_s,
        digest: out.report.digest,
    })
}
