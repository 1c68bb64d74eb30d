//! Swarm testing: the seed draws the whole world, not only its faults.
//!
//! A configuration under test is a scenario's protocol and options (say, 2PC with
//! cooperative termination) and its workload. For each seed the swarm draws
//! everything else from that seed (TigerBeetle's VOPR; Groce et al., "Swarm
//! Testing", ISSTA 2012): the number of shards, the workload's sizes and contention,
//! the load (closed or open loop, light to heavy), the protocol's timers, the
//! latency model, and every fault kind at once — loss, duplication, long
//! reordering, random and scripted crashes of any node (overlapping ones included),
//! random and scripted partitions, one-way cuts, clock drift. Then the faults heal
//! (every crash restarts and every cut ends by the horizon, message faults stop
//! there) and a long drain lets recovery finish, so the run must end *safe* (no
//! atomicity or business violation), *live* (nothing unresolved or in doubt) and
//! *consistent in its counts* (committed + aborted + unresolved = begun): see
//! [`crate::tools::explore::violation_kinds`].
//!
//! Two fault mixes: [`FaultMix::All`], and [`FaultMix::CrashOnly`] for protocols that
//! are safe only when failures are crashes and delays are bounded (three-phase
//! commit): crashes of every kind, duplication, bounded reordering, small drift; no
//! loss, no partition.
//!
//! [`configurations`] lists every configuration the book calls safe, with the
//! workloads each fits, and every unsafe variant with the anomaly it must show in
//! the same swarm — so the swarm is known not to be vacuous. `acidbase explore
//! --swarm` runs them (or a user's own scenario file) for any number of seeds.

use crate::rng::{self, StreamRng};
use crate::run::{Registry, RunError, Validated};
use crate::scenario::{
    self, CrashSpec, LatencySpec, LoadSpec, OneWaySpec, PartitionSpec, RandomCrashSpec,
    RandomPartitionSpec, Scenario, ScenarioError, WorkloadSpec,
};
use crate::tools::explore::{
    explore_shard_seeds, violation_kinds, Exploration, SeedVerdict, Shard,
};
use std::path::{Path, PathBuf};

/// Which faults a swarm draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FaultMix {
    /// Every fault kind at once.
    All,
    /// Crashes and restarts of any node (random and scripted, overlapping),
    /// duplication, reordering and latency within a bound, small drift: the failures
    /// a synchronous crash-recovery model allows. No loss, no partitions.
    CrashOnly,
}

impl FaultMix {
    pub fn name(self) -> &'static str {
        match self {
            FaultMix::All => "all",
            FaultMix::CrashOnly => "crash-only",
        }
    }

    pub fn parse(s: &str) -> Option<FaultMix> {
        match s {
            "all" => Some(FaultMix::All),
            "crash-only" => Some(FaultMix::CrashOnly),
            _ => None,
        }
    }
}

/// The workload kinds a configuration runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WorkloadKind {
    Transfer,
    OrderInventory,
    FlashSale,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Transfer => "transfer",
            WorkloadKind::OrderInventory => "order-inventory",
            WorkloadKind::FlashSale => "flash-sale",
        }
    }

    fn of(w: &WorkloadSpec) -> WorkloadKind {
        match w {
            WorkloadSpec::Transfer(_) => WorkloadKind::Transfer,
            WorkloadSpec::OrderInventory(_) => WorkloadKind::OrderInventory,
            WorkloadSpec::FlashSale(_) => WorkloadKind::FlashSale,
        }
    }
}

/// What a configuration must show in the swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No seed may fail.
    Safe,
    /// An unsafe variant: some seed must show one of these failure kinds.
    Shows(&'static [&'static str]),
}

/// A configuration under test: a protocol and its options (a scenario fragment),
/// the workloads it fits, the fault mix, and what it must show.
#[derive(Clone, Debug)]
pub struct Configuration {
    pub name: &'static str,
    /// The protocol's section of a scenario, in RON (`protocol: "2pc", two_pc: (...)`).
    pub options: &'static str,
    pub workloads: &'static [WorkloadKind],
    pub faults: FaultMix,
    pub expect: Expect,
    /// Where the book states what this configuration survives.
    pub book: &'static str,
    /// The fewest seeds the short (CI) swarm runs for it: an unsafe variant whose
    /// anomaly is rare needs more to show it. (The swarm is deterministic: the same
    /// seeds show the same anomaly until the protocol changes.)
    pub min_seeds: u64,
}

const ALL_WORKLOADS: &[WorkloadKind] = &[
    WorkloadKind::Transfer,
    WorkloadKind::OrderInventory,
    WorkloadKind::FlashSale,
];
const TWO_SIDED: &[WorkloadKind] = &[WorkloadKind::Transfer, WorkloadKind::OrderInventory];
const TRANSFER: &[WorkloadKind] = &[WorkloadKind::Transfer];

/// Every configuration the book calls safe, and every unsafe variant with the anomaly
/// the same swarm must find in it.
pub fn configurations() -> Vec<Configuration> {
    use Expect::{Safe, Shows};
    use FaultMix::{All, CrashOnly};
    let c = |name, options, workloads, faults, expect, book| Configuration {
        name,
        options,
        workloads,
        faults,
        expect,
        book,
        min_seeds: 0,
    };
    let mut v = vec![
        c(
            "2pc",
            r#"protocol: "2pc""#,
            ALL_WORKLOADS,
            All,
            Safe,
            "two-phase-commit.md",
        ),
        c(
            "2pc-cooperative",
            r#"protocol: "2pc", two_pc: (cooperative_termination: true)"#,
            ALL_WORKLOADS,
            All,
            Safe,
            "two-phase-commit.md#cooperative_termination",
        ),
        c(
            "2pc-standby",
            r#"protocol: "2pc", two_pc: (standby_tm: true)"#,
            ALL_WORKLOADS,
            All,
            Safe,
            "two-phase-commit.md#standby_tm",
        ),
        c(
            "2pc-unsafe-timeout",
            r#"protocol: "2pc", two_pc: (rm_abort_on_timeout: true)"#,
            TRANSFER,
            All,
            Shows(&["atomicity"]),
            "two-phase-commit.md#rm_abort_on_timeout-unsafe",
        ),
        c(
            "2pc-no-decision-retry",
            r#"protocol: "2pc", two_pc: (no_decision_retry: true)"#,
            TRANSFER,
            All,
            Shows(&["atomicity"]),
            "two-phase-commit.md#no_decision_retry-unsafe",
        ),
        c(
            "2pc-heuristic-commit",
            r#"protocol: "2pc", two_pc: (heuristic: (after_ms: 300, decide: Commit))"#,
            TRANSFER,
            All,
            Shows(&["atomicity"]),
            "two-phase-commit.md#heuristic-unsafe",
        ),
        c(
            "2pc-heuristic-rollback",
            r#"protocol: "2pc", two_pc: (heuristic: (after_ms: 300, decide: Rollback))"#,
            TRANSFER,
            All,
            Shows(&["atomicity"]),
            "two-phase-commit.md#heuristic-unsafe",
        ),
        c(
            "3pc",
            r#"protocol: "3pc""#,
            ALL_WORKLOADS,
            CrashOnly,
            Safe,
            "three-phase-commit.md",
        ),
        c(
            "3pc-standby",
            r#"protocol: "3pc", three_pc: (standby_tm: true)"#,
            ALL_WORKLOADS,
            CrashOnly,
            Safe,
            "three-phase-commit.md",
        ),
        Configuration {
            // Crashes alone split it in about 1 seed in 200 of the swarm.
            min_seeds: 1000,
            ..c(
                "3pc-decide-alone",
                r#"protocol: "3pc", three_pc: (timeouts: DecideAlone)"#,
                TRANSFER,
                CrashOnly,
                Shows(&["atomicity"]),
                "three-phase-commit.md",
            )
        },
        c(
            "3pc-partitions",
            r#"protocol: "3pc""#,
            TRANSFER,
            All,
            Shows(&["atomicity"]),
            "three-phase-commit.md",
        ),
        c(
            "tcc",
            r#"protocol: "tcc""#,
            ALL_WORKLOADS,
            All,
            Safe,
            "tcc.md",
        ),
        c(
            "tcc-no-idempotency",
            r#"protocol: "tcc", tcc: (idempotency: false)"#,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "tcc.md",
        ),
        c(
            "tcc-no-empty-rollback-guard",
            r#"protocol: "tcc", tcc: (empty_rollback_guard: false)"#,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "tcc.md",
        ),
        c(
            "tcc-no-anti-hanging",
            r#"protocol: "tcc", tcc: (anti_hanging: false)"#,
            TRANSFER,
            All,
            Shows(&["blocked"]),
            "tcc.md",
        ),
    ];
    for (name, options) in [
        (
            "saga-forward-status",
            r#"protocol: "saga", saga: (policy: Forward, state_store: StatusField)"#,
        ),
        (
            "saga-forward-wal",
            r#"protocol: "saga", saga: (policy: Forward, state_store: WriteAheadLog)"#,
        ),
        (
            "saga-backward-status",
            r#"protocol: "saga", saga: (policy: Backward, state_store: StatusField)"#,
        ),
        (
            "saga-backward-wal",
            r#"protocol: "saga", saga: (policy: Backward, state_store: WriteAheadLog)"#,
        ),
    ] {
        v.push(c(name, options, ALL_WORKLOADS, All, Safe, "saga.md"));
    }
    v.push(c(
        "saga-no-recovery",
        r#"protocol: "saga", saga: (recovery: false)"#,
        TRANSFER,
        All,
        Shows(&["blocked", "invariant"]),
        "saga.md",
    ));
    for (name, options) in [
        (
            "messaging-outbox-unique-key",
            r#"protocol: "messaging", messaging: (mechanism: Outbox, consumer: UniqueKey)"#,
        ),
        (
            "messaging-outbox-dedupe-table",
            r#"protocol: "messaging", messaging: (mechanism: Outbox, consumer: DedupeTable)"#,
        ),
        (
            "messaging-outbox-state-machine",
            r#"protocol: "messaging", messaging: (mechanism: Outbox, consumer: StateMachine)"#,
        ),
        (
            "messaging-outbox-naturally-idempotent",
            r#"protocol: "messaging", messaging: (mechanism: Outbox, consumer: NaturallyIdempotent)"#,
        ),
        (
            "messaging-half-unique-key",
            r#"protocol: "messaging", messaging: (mechanism: HalfMessage, consumer: UniqueKey)"#,
        ),
        (
            "messaging-half-dedupe-table",
            r#"protocol: "messaging", messaging: (mechanism: HalfMessage, consumer: DedupeTable)"#,
        ),
        (
            "messaging-half-state-machine",
            r#"protocol: "messaging", messaging: (mechanism: HalfMessage, consumer: StateMachine)"#,
        ),
        (
            "messaging-half-naturally-idempotent",
            r#"protocol: "messaging", messaging: (mechanism: HalfMessage, consumer: NaturallyIdempotent)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            TWO_SIDED,
            All,
            Safe,
            "reliable-messaging.md",
        ));
    }
    for (name, options) in [
        (
            "messaging-publish-then-commit",
            r#"protocol: "messaging", messaging: (mechanism: PublishThenCommit)"#,
        ),
        (
            "messaging-commit-then-publish",
            r#"protocol: "messaging", messaging: (mechanism: CommitThenPublish)"#,
        ),
        (
            "messaging-no-dedupe",
            r#"protocol: "messaging", messaging: (consumer: NoDedupe)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "reliable-messaging.md",
        ));
    }
    for (name, options) in [
        ("paxos-commit", r#"protocol: "paxos-commit""#),
        (
            "paxos-commit-faster",
            r#"protocol: "paxos-commit", options: (faster: true)"#,
        ),
        (
            "paxos-commit-f0",
            r#"protocol: "paxos-commit", options: (f: 0)"#,
        ),
        (
            "paxos-commit-f2",
            r#"protocol: "paxos-commit", options: (f: 2)"#,
        ),
        (
            // Timers shorter than the drawn delays: leaders duel, retries overlap.
            "paxos-commit-hasty",
            r#"protocol: "paxos-commit", options: (faster: true, vote_timeout_ms: 5, retry_ms: 2, inquiry_interval_ms: 5, takeover_ms: 4)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            ALL_WORKLOADS,
            All,
            Safe,
            "paxos-commit.md",
        ));
    }
    v.push(c(
        "calls-sync",
        r#"protocol: "calls", calls: (mode: Sync)"#,
        TRANSFER,
        All,
        Safe,
        "service-calls.md",
    ));
    v.push(c(
        "calls-async",
        r#"protocol: "calls", calls: (mode: Async)"#,
        TRANSFER,
        All,
        Safe,
        "service-calls.md",
    ));
    v.push(c(
        "calls-without-patterns",
        r#"protocol: "calls", calls: (query: false, compensation: false, async_assurance: false, reconciliation: false)"#,
        TRANSFER,
        All,
        Shows(&["invariant"]),
        "service-calls.md",
    ));
    // The cache: "safe" is judged at quiescence (no entry left stale); every order
    // has transient stale reads, counted in `cache.*` and not judged here.
    v.push(c(
        "cache-write-through",
        r#"protocol: "cache", options: (write: WriteThrough)"#,
        TRANSFER,
        All,
        Safe,
        "cache.md#write-through",
    ));
    v.push(c(
        "cache-aside-ttl",
        r#"protocol: "cache", options: (write: DbThenDelete, ttl_ms: 200)"#,
        TRANSFER,
        All,
        Safe,
        "cache.md#ttl",
    ));
    // The same two on one hot key with half the requests writes: the most races
    // per read that the workload can make (the swarm does not draw these options).
    v.push(c(
        "cache-write-through-hot",
        r#"protocol: "cache", options: (write: WriteThrough, keys: 1, read_ratio: 0.5)"#,
        TRANSFER,
        All,
        Safe,
        "cache.md#write-through",
    ));
    v.push(c(
        "cache-aside-ttl-hot",
        r#"protocol: "cache", options: (write: DbThenDelete, ttl_ms: 50, keys: 1, read_ratio: 0.5)"#,
        TRANSFER,
        All,
        Safe,
        "cache.md#ttl",
    ));
    // Composite entries of three parts, each part a message the faults can lose and
    // a node they can crash: fill all or nothing never serves a partial entry (the
    // swarm's `partial-entry` kind); the partial fill does.
    v.push(c(
        "cache-composite-all-or-nothing",
        r#"protocol: "cache", options: (write: DbThenDelete, ttl_ms: 200, sources: 3, fill: AllOrNothing)"#,
        TRANSFER,
        All,
        Safe,
        "cache.md#partially-filled-entries",
    ));
    v.push(c(
        "cache-composite-partial",
        r#"protocol: "cache", options: (write: DbThenDelete, ttl_ms: 200, sources: 3, fill: Partial)"#,
        TRANSFER,
        All,
        Shows(&["partial-entry"]),
        "cache.md#partially-filled-entries",
    ));
    for (name, options) in [
        (
            "cache-then-db",
            r#"protocol: "cache", options: (write: CacheThenDb)"#,
        ),
        (
            "cache-db-then-update",
            r#"protocol: "cache", options: (write: DbThenUpdate)"#,
        ),
        (
            "cache-aside",
            r#"protocol: "cache", options: (write: DbThenDelete)"#,
        ),
        (
            "cache-delayed-double-delete",
            r#"protocol: "cache", options: (write: DelayedDoubleDelete)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "cache.md",
        ));
    }
    // The feature switch on a service pool: "safe" is no request processed by both
    // payment paths. Where the switch lives (local copies or one distributed
    // cache) changes how often nodes disagree; only deciding each request once
    // removes the double processing.
    for (name, options, book) in [
        (
            "local-cache-distributed-decide-once",
            r#"protocol: "local_cache", options: (propagation: Distributed, decide_once: true)"#,
            "local-cache.md#decide-once",
        ),
        (
            "local-cache-broadcast-decide-once",
            r#"protocol: "local_cache", options: (propagation: Broadcast, decide_once: true)"#,
            "local-cache.md#decide-once",
        ),
        (
            "local-cache-distributed-decide-once-hot",
            r#"protocol: "local_cache", options: (propagation: Distributed, decide_once: true, flip_ratio: 0.3, retry_ms: 5)"#,
            "local-cache.md#decide-once",
        ),
    ] {
        v.push(c(name, options, TRANSFER, All, Safe, book));
    }
    for (name, options) in [
        (
            "local-cache-broadcast",
            r#"protocol: "local_cache", options: (propagation: Broadcast)"#,
        ),
        (
            "local-cache-ttl",
            r#"protocol: "local_cache", options: (propagation: Ttl)"#,
        ),
        (
            "local-cache-broadcast-and-ttl",
            r#"protocol: "local_cache", options: (propagation: BroadcastAndTtl)"#,
        ),
        (
            "local-cache-distributed",
            r#"protocol: "local_cache", options: (propagation: Distributed)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "local-cache.md",
        ));
    }
    // Global ids: the swarm also steps the generators' wall clocks (see
    // `draw_clock_steps`). "Safe": no id issued twice, so no real order dropped by
    // the dedupe table (both broken invariants).
    for (name, options) in [
        (
            "ids-snowflake-wait",
            r#"protocol: "ids", options: (generator: Snowflake, guard: Wait)"#,
        ),
        (
            "ids-snowflake-refuse",
            r#"protocol: "ids", options: (generator: Snowflake, guard: Refuse)"#,
        ),
        (
            "ids-segment",
            r#"protocol: "ids", options: (generator: Segment, block: 50)"#,
        ),
    ] {
        v.push(c(name, options, TRANSFER, All, Safe, "global-ids.md"));
    }
    for (name, options) in [
        (
            "ids-snowflake-no-guard",
            r#"protocol: "ids", options: (generator: Snowflake, guard: None)"#,
        ),
        (
            "ids-duplicate-node-id",
            r#"protocol: "ids", options: (generator: Snowflake, guard: Wait, node_ids: [5, 5])"#,
        ),
        (
            "ids-snowflake-wait-in-memory",
            r#"protocol: "ids", options: (generator: Snowflake, guard: Wait, lease: false)"#,
        ),
    ] {
        v.push(c(
            name,
            options,
            TRANSFER,
            All,
            Shows(&["invariant"]),
            "global-ids.md",
        ));
    }
    v
}

/// The configuration's base scenario on `workload` (its defaults; the swarm draws
/// the rest).
pub fn base_scenario(c: &Configuration, workload: WorkloadKind) -> Result<Scenario, SwarmError> {
    let (rms, w) = match workload {
        WorkloadKind::Transfer => (3, "Transfer()"),
        WorkloadKind::OrderInventory => (2, "OrderInventory()"),
        WorkloadKind::FlashSale => (3, "FlashSale()"),
    };
    let text = format!(
        "(name: \"{}-{}\", rms: {rms}, workload: {w}, {})",
        c.name,
        workload.name(),
        c.options
    );
    Registry::builtin()
        .parse(&text, c.name)
        .map(|v| v.into_loaded().scenario)
        .map_err(SwarmError::Base)
}

/// What a swarm run found for one configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SwarmResult {
    pub configuration: String,
    pub workload: String,
    pub faults: FaultMix,
    /// "safe", or the kinds an unsafe variant must show.
    pub expected: String,
    pub exploration: Exploration,
    /// Did the configuration behave as [`Expect`] says?
    pub as_expected: bool,
}

/// Runs the swarm over `base` (protocol, options and workload fixed; everything else
/// drawn per seed).
pub fn swarm(
    registry: &Registry,
    base: &Scenario,
    mix: FaultMix,
    seeds: std::ops::RangeInclusive<u64>,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    swarm_shard(registry, base, mix, seeds, Shard::ALL, jobs, progress)
}

/// [`swarm`] over the seeds of `seeds` that shard `shard` runs.
pub fn swarm_shard(
    registry: &Registry,
    base: &Scenario,
    mix: FaultMix,
    seeds: std::ops::RangeInclusive<u64>,
    shard: Shard,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Exploration {
    let verdict = |seed: u64| match draw(registry, base, seed, mix) {
        Ok(s) => {
            let report = s.run(s.scenario.seed, None).report;
            let mut kinds = violation_kinds(&report);
            kinds.retain(|k| !k.starts_with("expect:"));
            SeedVerdict {
                digest: u64::from_str_radix(&report.digest, 16).unwrap_or(0),
                kinds,
            }
        }
        Err(e) => SeedVerdict {
            digest: 0,
            kinds: vec![format!("draw: {e}")],
        },
    };
    explore_shard_seeds(
        (&base.name, &base.protocol),
        seeds,
        shard,
        jobs,
        &verdict,
        progress,
    )
}

/// Runs configuration `c` on `workload` and judges it against its [`Expect`].
pub fn run_configuration(
    c: &Configuration,
    workload: WorkloadKind,
    seeds: std::ops::RangeInclusive<u64>,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SwarmResult, SwarmError> {
    let base = base_scenario(c, workload)?;
    let e = swarm(&Registry::builtin(), &base, c.faults, seeds, jobs, progress);
    let (expected, as_expected) = match c.expect {
        Expect::Safe => ("safe".to_string(), e.violating_seeds == 0),
        Expect::Shows(kinds) => (
            format!("shows {}", kinds.join(" or ")),
            e.kinds.iter().any(|k| kinds.contains(&k.kind.as_str()))
                && e.kinds.iter().all(|k| !k.kind.starts_with("draw:")),
        ),
    };
    Ok(SwarmResult {
        configuration: c.name.to_string(),
        workload: workload.name().to_string(),
        faults: c.faults,
        expected,
        exploration: e,
        as_expected,
    })
}

/// What keeps the swarm from drawing a world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwarmError {
    /// A configuration's base scenario does not validate.
    Base(ScenarioError),
    /// The base names a protocol this program lacks, or options it cannot read.
    Nodes(RunError),
    /// No attempt drew a scenario that validates; `last` is the last attempt's reason.
    NoValidDraw {
        seed: u64,
        last: Option<ScenarioError>,
    },
}

impl std::fmt::Display for SwarmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwarmError::Base(e) => write!(f, "{e}"),
            SwarmError::Nodes(e) => write!(f, "{e}"),
            SwarmError::NoValidDraw { last: Some(e), .. } => write!(f, "{}", e.message),
            SwarmError::NoValidDraw { seed, last: None } => {
                write!(f, "seed {seed} drew no scenario that validates")
            }
        }
    }
}

impl std::error::Error for SwarmError {}

/// Tamer draws on later attempts, should a draw fail validation.
const ATTEMPTS: u32 = 4;
/// Doublings of the timers tried within an attempt, to fit the drawn delays.
const FITS: u32 = 6;

/// The world seed `seed` draws around `base`: a complete, validated scenario whose
/// own `seed` is `seed` (so `acidbase run` on it replays the swarm's run).
pub fn draw(
    registry: &Registry,
    base: &Scenario,
    seed: u64,
    mix: FaultMix,
) -> Result<Validated, SwarmError> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let mut rng = rng::stream(seed, &format!("swarm/{attempt}"));
        let mut s = draw_once(registry, base, seed, mix, attempt, &mut rng)?;
        // Timers too short for the drawn delays (a protocol whose validation ties
        // them, as 3PC's does) are lengthened until they fit.
        for _ in 0..FITS {
            match crate::tools::schedule::revalidate(registry, &s, "swarm.ron") {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
            scale_timers(&mut s, 2.0);
            s.drain_ms = (60.0 * longest_timer_ms(&s))
                .clamp(3000.0, 60_000.0)
                .round();
        }
    }
    Err(SwarmError::NoValidDraw { seed, last })
}

fn unit(rng: &mut StreamRng) -> f64 {
    rng::unit(rng)
}

/// A uniform draw in `[lo, hi)`.
fn between(rng: &mut StreamRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// A uniform integer in `[lo, hi]`.
fn int(rng: &mut StreamRng, lo: u64, hi: u64) -> u64 {
    rng::uniform_us(rng, lo, hi.max(lo))
}

fn coin(rng: &mut StreamRng, p: f64) -> bool {
    rng::chance(rng, p)
}

/// A draw whose logarithm is uniform in `[ln lo, ln hi]`.
fn log_uniform(rng: &mut StreamRng, lo: f64, hi: f64) -> f64 {
    let (a, b) = (libm::log(lo), libm::log(hi));
    libm::exp(a + (b - a) * unit(rng)).round()
}

/// Milliseconds rounded to whole µs, so the drawn file reads back exactly.
fn ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn draw_once(
    registry: &Registry,
    base: &Scenario,
    seed: u64,
    mix: FaultMix,
    attempt: u32,
    rng: &mut StreamRng,
) -> Result<Scenario, SwarmError> {
    let mut s = base.clone();
    s.seed = seed;
    s.name = format!("{}-swarm-{seed}", base.name);
    s.description = format!(
        "Drawn by the swarm ({} faults) from seed {seed}: sizes, load, timers and faults.",
        mix.name()
    );
    s.expect.clear();
    // A later attempt is tamer: fewer and shorter faults, default timers.
    let tame = f64::from(attempt) / f64::from(ATTEMPTS);
    draw_workload(&mut s, rng);
    let horizon = between(rng, 300.0, 2000.0).round();
    s.duration_ms = horizon;
    draw_load(&mut s, rng);
    if attempt < ATTEMPTS - 1 {
        scale_timers(&mut s, between(rng, 0.5, 2.5));
    }
    draw_network(&mut s, mix, tame, rng);
    // The drawn sizes fix the world's nodes: the faults name them.
    let names = registry.node_names(&s).map_err(SwarmError::Nodes)?;
    draw_faults(&mut s, &names, mix, tame, rng);
    if s.protocol == "ids" && mix == FaultMix::All {
        // Only the id generators read the wall clock; drawn here, after every other
        // draw, so that the other protocols' worlds stay as they were drawn before.
        draw_clock_steps(&mut s, &names, tame, rng);
    }
    if s.protocol == "3pc" {
        // Faithful 3PC's timeouts are sized for a delay bound: the drawn network's
        // (latency and the reordering within the mix). Under crash-only faults that
        // is the true bound; under all faults a longer tail, loss and partitions are
        // the timing faults that 3PC does not survive, which the swarm must show.
        s.three_pc.delay_bound_ms = Some(ms(latency_bound_ms(&s) + s.network.reorder_delay_ms));
    }
    // Long enough for every recovery job to run many rounds after the faults heal.
    s.drain_ms = (60.0 * longest_timer_ms(&s))
        .clamp(3000.0, 30_000.0)
        .round();
    s.network.message_faults_until_ms = Some(horizon);
    s.max_events = 20_000_000;
    Ok(s)
}

fn draw_workload(s: &mut Scenario, rng: &mut StreamRng) {
    match &mut s.workload {
        WorkloadSpec::Transfer(t) => {
            if s.protocol != "calls" {
                s.rms = int(rng, 2, 5) as u32;
            }
            // Log-uniform: from one hot account per shard to thousands of cold ones.
            t.accounts_per_shard = log_uniform(rng, 1.0, 5000.0) as u32;
            t.initial_balance = int(rng, 10, 1000) as i64;
            t.amount_min = int(rng, 1, 10) as i64;
            t.amount_max = t.amount_min + int(rng, 0, (t.initial_balance / 4) as u64) as i64;
            t.fan_out = if s.protocol == "messaging" || s.rms == 2 {
                1
            } else {
                int(rng, 1, u64::from(s.rms) - 1) as u32
            };
            t.keys = if coin(rng, 0.3) {
                scenario::KeysSpec::PerSession
            } else {
                scenario::KeysSpec::Random
            };
        }
        WorkloadSpec::OrderInventory(o) => {
            o.skus = int(rng, 1, 6) as u32;
            o.stock_per_sku = int(rng, 0, 200) as i64;
            o.qty_min = int(rng, 1, 3) as i64;
            o.qty_max = o.qty_min + int(rng, 0, 4) as i64;
        }
        WorkloadSpec::FlashSale(f) => {
            f.skus = int(rng, 1, 4) as u32;
            f.stock_per_sku = int(rng, 1, 100) as i64;
            f.buyers = int(rng, 2, 300) as u32;
            f.wallet = int(rng, 0, 100) as i64;
            f.price = int(rng, 1, 30) as i64;
            f.decline_probability = ms(between(rng, 0.0, 0.3));
        }
    }
}

fn draw_load(s: &mut Scenario, rng: &mut StreamRng) {
    s.clients.load = if coin(rng, 0.7) {
        LoadSpec::Closed {
            sessions: log_uniform(rng, 1.0, 64.0) as u32,
            think_ms: ms(between(rng, 0.0, 10.0)),
        }
    } else {
        LoadSpec::Open {
            rate_per_s: log_uniform(rng, 50.0, 5000.0),
        }
    };
    s.clients.deadline_ms = between(rng, 50.0, 1000.0).round();
    s.clients.max_requests = None;
}

/// Every timer and period of the protocol under test (ms).
fn timers(s: &mut Scenario) -> Vec<&mut f64> {
    match s.protocol.as_str() {
        "2pc" => {
            let p = &mut s.two_pc;
            let mut v = vec![
                &mut p.vote_timeout_ms,
                &mut p.decision_retry_ms,
                &mut p.inquiry_interval_ms,
                &mut p.rm_timeout_ms,
            ];
            v.extend(p.heuristic.as_mut().map(|h| &mut h.after_ms));
            v
        }
        "3pc" => {
            let p = &mut s.three_pc;
            vec![
                &mut p.vote_timeout_ms,
                &mut p.precommit_ack_timeout_ms,
                &mut p.rm_wait_timeout_ms,
                &mut p.rm_precommit_timeout_ms,
                &mut p.decision_retry_ms,
                &mut p.inquiry_interval_ms,
                &mut p.election_timeout_ms,
            ]
        }
        "tcc" => vec![&mut s.tcc.try_timeout_ms, &mut s.tcc.retry_ms],
        "saga" => vec![&mut s.saga.scan_interval_ms, &mut s.saga.step_timeout_ms],
        "messaging" => {
            let m = &mut s.messaging;
            vec![
                &mut m.step_delay_ms,
                &mut m.retry_ms,
                &mut m.redeliver_ms,
                &mut m.checkback_ms,
            ]
        }
        "calls" => {
            let c = &mut s.calls;
            vec![
                &mut c.call_timeout_ms,
                &mut c.callback_timeout_ms,
                &mut c.processing_ms,
                &mut c.retry_ms,
                &mut c.period_ms,
                &mut c.grace_ms,
            ]
        }
        _ => Vec::new(),
    }
}

/// Multiplies every timer of the protocol under test by `f` (their ratios, which
/// validation constrains, stay as the configuration set them).
fn scale_timers(s: &mut Scenario, f: f64) {
    for v in timers(s) {
        *v = ms(*v * f);
    }
}

/// The protocol's longest timer or period (ms): recovery needs many of them.
fn longest_timer_ms(s: &Scenario) -> f64 {
    timers(&mut s.clone())
        .into_iter()
        .fold(50.0, |m, v| m.max(*v))
}

/// The largest one-way latency the model draws (for an exponential tail: its mean
/// five times over, past which 1 delay in 150 falls).
fn latency_bound_ms(s: &Scenario) -> f64 {
    match s.network.latency {
        LatencySpec::Constant { ms } => ms,
        LatencySpec::Uniform { max_ms, .. } => max_ms,
        LatencySpec::Exponential { floor_ms, mean_ms } => floor_ms + 5.0 * mean_ms,
    }
}

fn draw_network(s: &mut Scenario, mix: FaultMix, tame: f64, rng: &mut StreamRng) {
    let n = &mut s.network;
    let wild = 1.0 - tame;
    n.latency = match (mix, int(rng, 0, 2)) {
        (_, 0) => LatencySpec::Constant {
            ms: ms(between(rng, 0.5, 8.0)),
        },
        (FaultMix::CrashOnly, _) | (_, 1) => {
            let min_ms = ms(between(rng, 0.2, 3.0));
            LatencySpec::Uniform {
                min_ms,
                max_ms: ms(min_ms + between(rng, 0.0, 12.0)),
            }
        }
        _ => LatencySpec::Exponential {
            floor_ms: ms(between(rng, 0.2, 2.0)),
            mean_ms: ms(between(rng, 0.5, 8.0)),
        },
    };
    let sometimes = |rng: &mut StreamRng, p: f64, hi: f64| {
        if coin(rng, p) {
            ms(between(rng, 0.0, hi * wild))
        } else {
            0.0
        }
    };
    match mix {
        FaultMix::All => {
            n.loss_probability = sometimes(rng, 0.7, 0.25);
            n.duplicate_probability = sometimes(rng, 0.7, 0.3);
            n.reorder_probability = sometimes(rng, 0.7, 0.5);
            n.reorder_delay_ms = if n.reorder_probability > 0.0 {
                ms(between(rng, 1.0, 1.0 + 500.0 * wild))
            } else {
                0.0
            };
        }
        FaultMix::CrashOnly => {
            n.loss_probability = 0.0;
            n.duplicate_probability = sometimes(rng, 0.5, 0.3);
            n.reorder_probability = sometimes(rng, 0.5, 0.5);
            // Bounded: the timers outlast the longest delay (validation checks).
            n.reorder_delay_ms = if n.reorder_probability > 0.0 {
                ms(between(rng, 0.5, 1.0 + 10.0 * wild))
            } else {
                0.0
            };
        }
    }
}

fn draw_faults(s: &mut Scenario, names: &[String], mix: FaultMix, tame: f64, rng: &mut StreamRng) {
    let horizon = s.duration_ms;
    let wild = 1.0 - tame;
    let f = &mut s.faults;
    *f = Default::default();
    // Random crashes: of a subset of the nodes, or of all of them.
    let entries = int(rng, 0, 3);
    for _ in 0..entries {
        let nodes: Vec<String> = if coin(rng, 0.3) {
            vec!["all".into()]
        } else {
            let mut chosen: Vec<String> =
                names.iter().filter(|_| coin(rng, 0.5)).cloned().collect();
            if chosen.is_empty() {
                chosen.push(names[int(rng, 0, names.len() as u64 - 1) as usize].clone());
            }
            chosen
        };
        f.random_crashes.push(RandomCrashSpec {
            nodes,
            rate_per_s: ms(between(rng, 0.5, 0.5 + 8.0 * wild)),
            mean_downtime_ms: ms(between(rng, 5.0, 5.0 + 300.0 * wild)),
        });
    }
    // Scripted crashes, overlapping ones included; each restarts before the horizon.
    for _ in 0..int(rng, 0, (4.0 * wild).round() as u64) {
        // The coordinator often: its recovery is where most protocols are subtle.
        let node = if coin(rng, 0.4) && names.iter().any(|n| n == "tm") {
            "tm".to_string()
        } else {
            names[int(rng, 0, names.len() as u64 - 1) as usize].clone()
        };
        let at_ms = ms(between(rng, 0.0, horizon * 0.9));
        let restart_ms = ms((at_ms + between(rng, 1.0, 400.0)).min(horizon - 1.0));
        if restart_ms > at_ms {
            f.crashes.push(CrashSpec {
                node,
                at_ms,
                restart_ms: Some(restart_ms),
            });
        }
    }
    f.max_drift_ppm = if coin(rng, 0.5) {
        match mix {
            FaultMix::All => int(rng, 0, (5000.0 * wild) as u64) as u32,
            FaultMix::CrashOnly => int(rng, 0, (500.0 * wild) as u64) as u32,
        }
    } else {
        0
    };
    if mix == FaultMix::CrashOnly {
        return;
    }
    if coin(rng, 0.4 * wild) {
        f.random_partitions = Some(RandomPartitionSpec {
            rate_per_s: ms(between(rng, 0.5, 4.0)),
            mean_duration_ms: ms(between(rng, 5.0, 300.0)),
            nodes: Vec::new(),
        });
    }
    for _ in 0..int(rng, 0, (2.0 * wild).round() as u64) {
        let (mut a, mut b): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for n in names {
            if coin(rng, 0.5) {
                a.push(n.clone());
            } else {
                b.push(n.clone());
            }
        }
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let from_ms = ms(between(rng, 0.0, horizon * 0.9));
        let to_ms = ms((from_ms + between(rng, 1.0, 400.0)).min(horizon - 1.0));
        if to_ms > from_ms {
            f.partitions.push(PartitionSpec {
                groups: vec![a, b],
                from_ms,
                to_ms,
            });
        }
    }
    for _ in 0..int(rng, 0, (2.0 * wild).round() as u64) {
        let from = names[int(rng, 0, names.len() as u64 - 1) as usize].clone();
        let to = names[int(rng, 0, names.len() as u64 - 1) as usize].clone();
        if from == to {
            continue;
        }
        let from_ms = ms(between(rng, 0.0, horizon * 0.9));
        let to_ms = ms((from_ms + between(rng, 1.0, 300.0)).min(horizon - 1.0));
        if to_ms > from_ms {
            f.one_way.push(OneWaySpec {
                from: vec![from],
                to: vec![to],
                from_ms,
                to_ms,
            });
        }
    }
}

/// Wall-clock steps (NTP's), backward and forward, of 1 ms to 500 ms, mostly of the
/// id generators (the nodes whose names start with "gen"), before the horizon.
fn draw_clock_steps(s: &mut Scenario, names: &[String], tame: f64, rng: &mut StreamRng) {
    let horizon = s.duration_ms;
    let gens: Vec<&String> = names.iter().filter(|n| n.starts_with("gen")).collect();
    for _ in 0..int(rng, 0, (4.0 * (1.0 - tame)).round() as u64) {
        let node = if !gens.is_empty() && coin(rng, 0.9) {
            gens[int(rng, 0, gens.len() as u64 - 1) as usize].clone()
        } else {
            names[int(rng, 0, names.len() as u64 - 1) as usize].clone()
        };
        let at_ms = ms(between(rng, 0.0, horizon * 0.9));
        let size = log_uniform(rng, 1.0, 500.0).max(1.0);
        let step_ms = if coin(rng, 0.7) { -size } else { size };
        s.faults.clock_steps.push(scenario::ClockStepSpec {
            node,
            at_ms,
            step_ms,
        });
    }
}

/// The configuration names, for `--help` and errors.
pub fn configuration_names() -> Vec<&'static str> {
    configurations().iter().map(|c| c.name).collect()
}

/// The workload of a scenario, as a swarm names it.
pub fn workload_of(s: &Scenario) -> WorkloadKind {
    WorkloadKind::of(&s.workload)
}

/// One row of `explore --swarm`: a configuration on one of its workloads (or a
/// user's scenario), its fault mix and what it must show.
#[derive(Clone, Debug)]
pub struct PlanRow {
    /// `NAME (WORKLOAD)`, or the scenario file as given.
    pub name: String,
    pub base: Scenario,
    pub mix: FaultMix,
    pub expect: Expect,
}

/// The rows `explore --swarm` runs: the user's scenario `file` (its path as given,
/// and the scenario), judged safe under `mix` (default: every fault); or else the
/// built-in configurations named in `config` (all of them if it is empty), each on
/// each of its workloads, under `mix` or its own fault mix.
pub fn plan(
    file: Option<(String, Scenario)>,
    config: &[String],
    mix: Option<FaultMix>,
) -> Result<Vec<PlanRow>, String> {
    if let Some((name, base)) = file {
        if !config.is_empty() {
            return Err(
                "--config names built-in configurations: give it without a scenario file".into(),
            );
        }
        return Ok(vec![PlanRow {
            name,
            base,
            mix: mix.unwrap_or(FaultMix::All),
            expect: Expect::Safe,
        }]);
    }
    let all = configurations();
    for name in config {
        if !all.iter().any(|c| c.name == name) {
            return Err(format!(
                "--config {name:?}: no such configuration; `--config list` lists them: {}",
                configuration_names().join(", ")
            ));
        }
    }
    let mut rows = Vec::new();
    for c in all
        .iter()
        .filter(|c| config.is_empty() || config.iter().any(|n| n == c.name))
    {
        for &w in c.workloads {
            rows.push(PlanRow {
                name: format!("{} ({})", c.name, w.name()),
                base: base_scenario(c, w).map_err(|e| e.to_string())?,
                mix: mix.unwrap_or(c.faults),
                expect: c.expect,
            });
        }
    }
    Ok(rows)
}

/// What one row of `explore --swarm` found, judged.
#[derive(Clone, Debug)]
pub struct RowResult {
    pub name: String,
    pub mix: FaultMix,
    pub expect: Expect,
    pub exploration: Exploration,
    /// As [`Expect`] says: a safe row had no failing seed; an unsafe one showed
    /// one of its kinds.
    pub ok: bool,
    /// Each failing kind's first drawn world, written to replay (safe rows only).
    pub saved: Vec<(String, PathBuf)>,
}

/// Did an exploration behave as `expect` says?
pub fn as_expected(expect: Expect, e: &Exploration) -> bool {
    match expect {
        Expect::Safe => e.violating_seeds == 0,
        Expect::Shows(kinds) => e.kinds.iter().any(|k| kinds.contains(&k.kind.as_str())),
    }
}

fn write_text(file: &Path, text: &str) -> Result<(), String> {
    std::fs::write(file, text)
        .map_err(|e| format!("cannot write the drawn scenario {}: {e}", file.display()))
}

fn make_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Judges `row`'s exploration and, for a safe row, writes the drawn world of each
/// failing kind's first seed to `out` (to replay and shrink; `program` names the
/// binary in the commands its header gives).
pub fn judge(
    registry: &Registry,
    row: &PlanRow,
    e: Exploration,
    out: &Path,
    program: &str,
) -> Result<RowResult, String> {
    let mut saved = Vec::new();
    if matches!(row.expect, Expect::Safe) {
        for k in &e.kinds {
            let drawn =
                draw(registry, &row.base, k.first_seed, row.mix).map_err(|e| e.to_string())?;
            let drawn = drawn.scenario();
            let file = out.join(format!("{}.ron", drawn.name));
            make_dir(out)?;
            let header = format!(
                "{}\nFirst seed of {} in the swarm of {} ({} faults).\nReplay: {program} run {}\nMinimise: {program} shrink {}",
                drawn.description,
                k.kind,
                row.name,
                row.mix.name(),
                file.display(),
                file.display()
            );
            write_text(&file, &crate::tools::schedule::to_ron(drawn, &header))?;
            saved.push((k.kind.clone(), file));
        }
    }
    Ok(RowResult {
        name: row.name.clone(),
        mix: row.mix,
        expect: row.expect,
        ok: as_expected(row.expect, &e),
        exploration: e,
        saved,
    })
}

/// Writes the drawn world of every seed in `seeds` to `out`, failing or not.
pub fn write_drawn(
    registry: &Registry,
    row: &PlanRow,
    seeds: impl Iterator<Item = u64>,
    out: &Path,
) -> Result<(), String> {
    make_dir(out)?;
    for seed in seeds {
        let drawn = draw(registry, &row.base, seed, row.mix).map_err(|e| e.to_string())?;
        let drawn = drawn.scenario();
        let file = out.join(format!("{}.ron", drawn.name));
        write_text(
            &file,
            &crate::tools::schedule::to_ron(drawn, &drawn.description),
        )?;
    }
    Ok(())
}

/// The first failure written, over the rows in order.
pub fn first_failure(rows: &[RowResult]) -> Option<&Path> {
    rows.iter()
        .flat_map(|r| r.saved.iter())
        .map(|(_, f)| f.as_path())
        .next()
}

/// `explore --swarm`'s summary for people: `seeds` as the user gave them, `total`
/// runs in `seconds` of wall time.
pub fn to_text(program: &str, seeds: &str, total: u64, seconds: f64, rows: &[RowResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{program} explore --swarm: {} configuration(s) x seeds {seeds} = {total} runs in {seconds:.1} s",
        rows.len(),
    );
    for r in rows {
        let e = &r.exploration;
        let verdict = match (r.expect, r.ok) {
            _ if e.interrupted => format!("interrupted after {} seeds", e.seeds_run),
            (Expect::Safe, true) => "ok: safe".to_string(),
            (Expect::Safe, false) => format!("FAILED in {} seeds", e.violating_seeds),
            (Expect::Shows(_), true) => "ok: anomaly found".to_string(),
            (Expect::Shows(k), false) => format!("NOT FOUND: expected {}", k.join(" or ")),
        };
        let _ = writeln!(s, "  {:<52} {:<10} {verdict}", r.name, r.mix.name());
        for k in &e.kinds {
            let file = r
                .saved
                .iter()
                .find(|(kind, _)| *kind == k.kind)
                .map_or_else(String::new, |(_, f)| format!("  -> {}", f.display()));
            let _ = writeln!(
                s,
                "      {:<36} {:>7} seeds, first {}{file}",
                k.kind, k.seeds, k.first_seed
            );
        }
    }
    if let Some(f) = first_failure(rows) {
        let _ = writeln!(s);
        let _ = writeln!(s, "Replay the first failure: {program} run {}", f.display());
        let _ = writeln!(
            s,
            "Minimise it:              {program} shrink {}",
            f.display()
        );
    }
    s
}

/// `explore --swarm --format json`, with its final newline.
pub fn to_json(seeds: &str, total: u64, seconds: f64, rows: &[RowResult]) -> String {
    let v: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "configuration": r.name,
                "faults": r.mix.name(),
                "expected": match r.expect { Expect::Safe => "safe".to_string(), Expect::Shows(k) => format!("shows {}", k.join(" or ")) },
                "as_expected": r.ok,
                "exploration": r.exploration,
                "saved": r.saved.iter().map(|(k, f)| serde_json::json!({"kind": k, "file": f.display().to_string()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut j = serde_json::to_string_pretty(&serde_json::json!({
        "seeds": seeds,
        "runs": total,
        "seconds": seconds,
        "configurations": v,
    }))
    .expect("a swarm summary serialises");
    j.push('\n');
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_builds_on_each_of_its_workloads_and_every_draw_validates() {
        for c in configurations() {
            for &w in c.workloads {
                let base = base_scenario(&c, w).unwrap_or_else(|e| panic!("{}: {e}", c.name));
                for seed in 0..20 {
                    let s = draw(&Registry::builtin(), &base, seed, c.faults)
                        .unwrap_or_else(|e| panic!("{} {} seed {seed}: {e}", c.name, w.name()))
                        .into_scenario();
                    assert_eq!(s.seed, seed);
                    assert_eq!(s.protocol, base.protocol);
                    assert_eq!(workload_of(&s), w);
                }
            }
        }
    }

    #[test]
    fn a_draw_depends_on_the_seed_only() {
        let c = &configurations()[0];
        let base = base_scenario(c, WorkloadKind::Transfer).expect("builds");
        let a = draw(&Registry::builtin(), &base, 7, FaultMix::All)
            .expect("valid")
            .into_scenario();
        let b = draw(&Registry::builtin(), &base, 7, FaultMix::All)
            .expect("valid")
            .into_scenario();
        let other = draw(&Registry::builtin(), &base, 8, FaultMix::All)
            .expect("valid")
            .into_scenario();
        assert_eq!(a, b);
        assert_ne!(a, other);
    }

    #[test]
    fn crash_only_draws_no_loss_and_no_partition() {
        let c = configurations()
            .into_iter()
            .find(|c| c.faults == FaultMix::CrashOnly)
            .expect("3PC is crash-only");
        let base = base_scenario(&c, WorkloadKind::Transfer).expect("builds");
        for seed in 0..50 {
            let s = draw(&Registry::builtin(), &base, seed, FaultMix::CrashOnly)
                .expect("valid")
                .into_scenario();
            assert_eq!(s.network.loss_probability, 0.0);
            assert!(s.faults.partitions.is_empty() && s.faults.one_way.is_empty());
            assert!(s.faults.random_partitions.is_none());
            assert!(!matches!(
                s.network.latency,
                LatencySpec::Exponential { .. }
            ));
        }
    }
}
