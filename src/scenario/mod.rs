//! The scenario file: a RON schema with a default for every field, and validation
//! that names the file, line and column of what is wrong and says what was expected.
//!
//! The schema holds no logic. [`crate::run`] turns a validated scenario into a world.
//! Field reference with units and defaults: `book/src/scenario.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod conditions;
mod error;
mod validate;

pub use conditions::{parse_condition, Cmp};
pub(crate) use error::{explain_ron_error, ron_options, Num};
pub use error::{parse_options, read, read_file, Loaded, OptionsError, ScenarioError};
pub use validate::{fit_calls, fit_messaging, fit_three_pc, validate};

/// The longest time any field may hold (ms): about 11.6 days of virtual time. Keeps
/// every sum of times far inside 64-bit microseconds.
pub const MAX_MS: f64 = 1e9;
/// Most accounts over all shards (memory: balances and lock tables).
pub const MAX_ACCOUNTS: u64 = 10_000_000;
/// The most money (or units) one balance, price, wallet or amount may start with,
/// and the most all balances together may hold. With at most [`MAX_EVENTS`] events,
/// even a variant that applies every change twice keeps every total inside `i64`
/// (10^9 · 10^9 = 10^18 < 9.2 · 10^18): no input can make a count wrong.
pub const MAX_AMOUNT: i64 = 1_000_000_000;
pub const MAX_MONEY_TOTAL: i64 = 1_000_000_000_000;
/// How many ids the front lags behind the newest id begun, by default (the
/// scenario's `watermark_lag_ids`): a request that arrives after this many later ids
/// were begun is refused as stale rather than begun below a watermark. At 1,000
/// requests per second that is 4 seconds of ids; the participants keep the records
/// of about this many transactions.
pub const DEFAULT_LAG_IDS: u64 = 4096;
/// The largest lag a scenario may ask for (memory: about one record per id).
pub const MAX_LAG_IDS: u64 = 1_000_000;
/// The most events a run may be allowed (`max_events`).
pub const MAX_EVENTS: u64 = 1_000_000_000;
/// Most random faults expected per node (or in all, for partitions) over a run.
pub const MAX_EXPECTED_FAULTS: f64 = 1e6;

/// Milliseconds (as written in scenarios) to whole µs.
pub fn ms_to_us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

/// The built-in default scenario (`acidbase run` with no file).
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/2pc-coordinator-crash.ron");
pub const DEFAULT_SCENARIO_NAME: &str = "scenarios/2pc-coordinator-crash.ron (built in)";

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Defaults to the file name without extension.
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// Which protocol runs: "2pc".
    pub protocol: String,
    /// Number of resource managers (shards).
    pub rms: u32,
    /// Horizon: clients issue requests and faults happen in [0, duration_ms).
    pub duration_ms: f64,
    /// After the horizon (or the last fault's healing, if later), time for recovery to
    /// finish before the end-of-run checks ("at quiescence").
    pub drain_ms: f64,
    /// Guard: stop after this many events.
    pub max_events: u64,
    pub two_pc: TwoPcSpec,
    pub three_pc: ThreePcSpec,
    pub workload: WorkloadSpec,
    pub clients: ClientSpec,
    pub network: NetworkSpec,
    pub faults: FaultSpec,
    pub checks: CheckSpec,
    /// Saga options (used when `protocol: "saga"`).
    pub saga: SagaSpec,
    /// Options of the reliable-messaging protocol (`protocol: "messaging"`).
    pub messaging: MessagingSpec,
    /// Metric path → condition, e.g. `"violations.atomicity": "== 0"`.
    #[serde(deserialize_with = "crate::unique_map::deserialize")]
    pub expect: BTreeMap<String, String>,
    /// Protocol "calls": calls between services that time out (order → pay → ship).
    pub calls: CallsSpec,
    /// TCC's timers and guards (used when `protocol: "tcc"`).
    pub tcc: TccSpec,
    /// The options of a protocol registered by a user crate, as RON (its
    /// `Protocol::options` reads them; the built-ins have sections of their own).
    pub options: Option<Box<ron::value::RawValue>>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: String::new(),
            description: String::new(),
            seed: 1,
            protocol: "2pc".into(),
            rms: 3,
            duration_ms: 1000.0,
            drain_ms: 2000.0,
            max_events: 50_000_000,
            two_pc: TwoPcSpec::default(),
            three_pc: ThreePcSpec::default(),
            workload: WorkloadSpec::default(),
            clients: ClientSpec::default(),
            network: NetworkSpec::default(),
            faults: FaultSpec::default(),
            checks: CheckSpec::default(),
            saga: SagaSpec::default(),
            messaging: MessagingSpec::default(),
            expect: BTreeMap::new(),
            calls: CallsSpec::default(),
            tcc: TccSpec::default(),
            options: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwoPcSpec {
    pub vote_timeout_ms: f64,
    pub decision_retry_ms: f64,
    pub inquiry_interval_ms: f64,
    pub cooperative_termination: bool,
    pub standby_tm: bool,
    pub rm_abort_on_timeout: bool,
    /// With `rm_abort_on_timeout`: how long an RM stays in doubt before aborting.
    pub rm_timeout_ms: f64,
    pub no_decision_retry: bool,
    /// Answer the client after every RM acknowledged Commit, not at the decision.
    pub answer_client_after_acks: bool,
    /// XA's heuristic decision (off by default): an RM in doubt for `after_ms`
    /// decides on its own and reports it to the TM when the TM's decision reaches it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heuristic: Option<HeuristicSpec>,
}

/// `two_pc.heuristic`: when an in-doubt RM gives up waiting, and what it decides.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeuristicSpec {
    /// How long an RM stays in doubt before it decides (an operator's setting).
    pub after_ms: f64,
    pub decide: HeuristicDecision,
}

/// What an RM decides heuristically.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum HeuristicDecision {
    Commit,
    Rollback,
}

impl Default for TwoPcSpec {
    fn default() -> Self {
        TwoPcSpec {
            vote_timeout_ms: 200.0,
            decision_retry_ms: 100.0,
            inquiry_interval_ms: 100.0,
            cooperative_termination: false,
            standby_tm: false,
            rm_abort_on_timeout: false,
            rm_timeout_ms: 300.0,
            no_decision_retry: false,
            answer_client_after_acks: false,
            heuristic: None,
        }
    }
}

/// Where a saga's orchestrator keeps its soft state.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum StateStoreSpec {
    /// A status column written with each business change (k + 2 writes per saga).
    StatusField,
    /// The orchestrator's own write-ahead log (3k + 2 writes per saga).
    WriteAheadLog,
}

/// What a saga's recovery job does with an unfinished saga.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum SagaPolicySpec {
    Forward,
    Backward,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SagaSpec {
    pub state_store: StateStoreSpec,
    pub policy: SagaPolicySpec,
    /// Run the recovery job.
    pub recovery: bool,
    pub scan_interval_ms: f64,
    pub step_timeout_ms: f64,
    pub step_retries: u32,
    /// Give up on a saga after this many recovery attempts (flag it for an operator).
    pub give_up_after_attempts: Option<u32>,
    /// How many ids the orchestrator's front trails the newest saga begun.
    pub watermark_lag_ids: u64,
}

impl Default for SagaSpec {
    fn default() -> Self {
        SagaSpec {
            state_store: StateStoreSpec::StatusField,
            policy: SagaPolicySpec::Forward,
            recovery: true,
            scan_interval_ms: 100.0,
            step_timeout_ms: 50.0,
            step_retries: 3,
            give_up_after_attempts: None,
            watermark_lag_ids: DEFAULT_LAG_IDS,
        }
    }
}

/// How the order service calls the payment service.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum CallModeSpec {
    /// The caller waits for the answer (`call_timeout_ms`).
    Sync,
    /// The callee works later and calls back (`callback_timeout_ms`).
    Async,
}

/// Protocol "calls": the service-call patterns, each switchable to show what it
/// prevents (see `book/src/service-calls.md`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CallsSpec {
    pub mode: CallModeSpec,
    /// Sync: how long the caller waits for the payment's answer (and for a query's).
    pub call_timeout_ms: f64,
    /// Async: how long the caller waits for the payment's callback.
    pub callback_timeout_ms: f64,
    /// Async: how long the payment service takes before it charges and calls back.
    pub processing_ms: f64,
    /// The callee answers status queries by request id.
    pub query: bool,
    /// After a timeout, query then complete or cancel (without `query`: cancel at once).
    pub compensation: bool,
    /// Work decided (ship, refund) is a persisted task retried until confirmed.
    pub async_assurance: bool,
    /// How often the task scheduler resends unconfirmed tasks.
    pub retry_ms: f64,
    /// A job compares the services' records by request id and repairs differences.
    pub reconciliation: bool,
    /// How often a reconciliation pass starts.
    pub period_ms: f64,
    /// Records per page (one request and answer) of a reconciliation pass.
    pub page_size: u32,
    /// Reconciliation leaves orders changed more recently than this alone (in flight).
    pub grace_ms: f64,
}

impl Default for CallsSpec {
    fn default() -> Self {
        CallsSpec {
            mode: CallModeSpec::Sync,
            call_timeout_ms: 50.0,
            callback_timeout_ms: 100.0,
            processing_ms: 20.0,
            query: true,
            compensation: true,
            async_assurance: true,
            retry_ms: 50.0,
            reconciliation: true,
            period_ms: 200.0,
            page_size: 50,
            grace_ms: 100.0,
        }
    }
}

/// Three-phase commit's timers and options (`protocol: "3pc"`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThreePcSpec {
    /// The TM aborts if it lacks a vote this long after sending CanCommit.
    pub vote_timeout_ms: f64,
    /// The TM acts on `on_precommit_ack_timeout` if it lacks a PreCommit ack this long
    /// after sending PreCommit.
    pub precommit_ack_timeout_ms: f64,
    pub on_precommit_ack_timeout: AckTimeoutSpec,
    /// A participant that voted yes and has no PreCommit this long after voting gives
    /// up on the TM (`timeouts`: elects a terminator, or aborts alone).
    pub rm_wait_timeout_ms: f64,
    /// A pre-committed participant with no DoCommit this long after PreCommit gives up
    /// on the TM (`timeouts`: elects a terminator, or commits alone).
    pub rm_precommit_timeout_ms: f64,
    pub decision_retry_ms: f64,
    /// A recovering site's inquiry period; a terminator's polling (and ack) window.
    pub inquiry_interval_ms: f64,
    /// Adds the `standby` node, ranked right after the TM: it terminates when elected.
    pub standby_tm: bool,
    /// What a participant's timeout does: `Terminate` (Skeen, BHG) or `DecideAlone`.
    pub timeouts: TimeoutsSpec,
    /// `Terminate`: how long a participant waits on the site it elected (or that
    /// polled it) before it suspects that one too.
    pub election_timeout_ms: f64,
    /// `Terminate`: the longest one-way delay the timeouts are sized for (default: the
    /// latency model's maximum; required with `Exponential`, which has none). A
    /// message slower than it is a timing fault that can split the outcome.
    pub delay_bound_ms: Option<f64>,
}

impl Default for ThreePcSpec {
    fn default() -> Self {
        ThreePcSpec {
            vote_timeout_ms: 40.0,
            precommit_ack_timeout_ms: 40.0,
            on_precommit_ack_timeout: AckTimeoutSpec::Commit,
            rm_wait_timeout_ms: 80.0,
            rm_precommit_timeout_ms: 80.0,
            decision_retry_ms: 50.0,
            inquiry_interval_ms: 50.0,
            standby_tm: false,
            timeouts: TimeoutsSpec::Terminate,
            election_timeout_ms: 100.0,
            delay_bound_ms: None,
        }
    }
}

/// What a 3PC participant's timeout does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum TimeoutsSpec {
    /// Start the termination protocol among the sites that are up (Skeen 1981;
    /// Bernstein, Hadzilacos & Goodman 1987, §7.5): atomic under any crashes.
    Terminate,
    /// Abort alone in w, commit alone in p: the simplified rule, which crashes with
    /// restarts can split.
    DecideAlone,
}

/// What a 3PC TM does when PreCommit acks are overdue.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum AckTimeoutSpec {
    Commit,
    Abort,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum WorkloadSpec {
    Transfer(TransferSpec),
    /// Orders on `rm1` (the order service), stock on `rm2` (the inventory service).
    OrderInventory(OrderInventorySpec),
    /// One-unit purchases: orders on `rm1`, stock on `rm2`, payment on `rm3`.
    FlashSale(FlashSaleSpec),
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec::Transfer(TransferSpec::default())
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum KeysSpec {
    Random,
    PerSession,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSpec {
    pub accounts_per_shard: u32,
    pub initial_balance: i64,
    pub amount_min: i64,
    pub amount_max: i64,
    pub fan_out: u32,
    pub keys: KeysSpec,
}

impl Default for TransferSpec {
    fn default() -> Self {
        TransferSpec {
            accounts_per_shard: 100,
            initial_balance: 1000,
            amount_min: 1,
            amount_max: 100,
            fan_out: 1,
            keys: KeysSpec::Random,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum LoadSpec {
    Closed { sessions: u32, think_ms: f64 },
    Open { rate_per_s: f64 },
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSpec {
    pub load: LoadSpec,
    pub deadline_ms: f64,
    pub max_requests: Option<u64>,
    pub colocated_with_tm: bool,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            load: LoadSpec::Closed {
                sessions: 4,
                think_ms: 10.0,
            },
            deadline_ms: 1000.0,
            max_requests: None,
            colocated_with_tm: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum LatencySpec {
    Constant { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Exponential { floor_ms: f64, mean_ms: f64 },
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    pub latency: LatencySpec,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    pub reorder_probability: f64,
    pub reorder_delay_ms: f64,
    /// Loss, duplication and reordering apply to messages sent before this time;
    /// later messages only see the latency (`None`: the whole run). Setting it to the
    /// horizon lets every fault heal before the drain, as the swarm does.
    pub message_faults_until_ms: Option<f64>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: LatencySpec::Uniform {
                min_ms: 1.0,
                max_ms: 10.0,
            },
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            reorder_probability: 0.0,
            reorder_delay_ms: 0.0,
            message_faults_until_ms: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    pub crashes: Vec<CrashSpec>,
    pub partitions: Vec<PartitionSpec>,
    pub one_way: Vec<OneWaySpec>,
    pub random_crashes: Vec<RandomCrashSpec>,
    pub random_partitions: Option<RandomPartitionSpec>,
    pub max_drift_ppm: u32,
    pub drift: Vec<DriftSpec>,
    /// Scripted fates of individual messages (an exported schedule writes these):
    /// each names the `nth` message on the link `from → to`.
    pub messages: Vec<MessageFaultSpec>,
    /// Steps of nodes' wall clocks (NTP stepping the time of day): each moves one
    /// node's wall clock by `step_ms` at `at_ms`; timers are not moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clock_steps: Vec<ClockStepSpec>,
}

/// A scripted wall-clock step: `node`'s wall clock jumps by `step_ms` (negative:
/// backward) at virtual time `at_ms`, as NTP steps a clock that is too far off.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClockStepSpec {
    pub node: String,
    pub at_ms: f64,
    pub step_ms: f64,
}

/// One message's scripted fate: the `nth` (from 1) message `from` sent to `to`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessageFaultSpec {
    pub from: String,
    pub to: String,
    pub nth: u64,
    pub fate: MessageFateSpec,
}

/// What happens to a scripted message. Delays are whole one-way delays in ms.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum MessageFateSpec {
    /// Lost.
    Lose,
    /// Delivered after `delay_ms`: a pinned latency, not a fault.
    Latency { delay_ms: f64 },
    /// Held back: delivered after `delay_ms`, so later messages may overtake it.
    Delay { delay_ms: f64 },
    /// Delivered twice: after `delay_ms` and after `again_ms`.
    Duplicate { delay_ms: f64, again_ms: f64 },
}

/// A scripted crash: `node` stops at `at_ms` and, with `restart_ms`, restarts then
/// and recovers from its durable store (without: it stays down). Scenarios
/// (`faults.crashes`) and the testing harness's schedules (`testing::Schedule`) both
/// list crashes as these; [`crate::run::scripted_plan`] compiles them.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrashSpec {
    pub node: String,
    pub at_ms: f64,
    #[serde(default)]
    pub restart_ms: Option<f64>,
}

/// A scripted symmetric partition: messages between any two of `groups` are dropped
/// in `[from_ms, to_ms)`; nodes in no group are not cut off. One group alone is cut
/// off from every other node — the form the testing harness's schedules generate (a
/// scenario's validation asks for two groups or more, spelled out).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    pub groups: Vec<Vec<String>>,
    pub from_ms: f64,
    pub to_ms: f64,
}

/// A scripted one-way cut: messages from any node of `from` to any node of `to` are
/// dropped in `[from_ms, to_ms)`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OneWaySpec {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub from_ms: f64,
    pub to_ms: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomCrashSpec {
    /// Node names, or "rms" (every RM) or "all".
    pub nodes: Vec<String>,
    pub rate_per_s: f64,
    pub mean_downtime_ms: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomPartitionSpec {
    pub rate_per_s: f64,
    pub mean_duration_ms: f64,
    /// Nodes that take part (empty: all).
    #[serde(default)]
    pub nodes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    pub node: String,
    pub ppm: i32,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckSpec {
    pub blocked_after_ms: f64,
}

impl Default for CheckSpec {
    fn default() -> Self {
        CheckSpec {
            blocked_after_ms: 100.0,
        }
    }
}

/// How the producer gets its message out (reliable messaging).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum MechanismSpec {
    /// Local message table: the message row is written in the debit's transaction;
    /// a relay publishes it and re-publishes until the broker acknowledges.
    Outbox,
    /// Independent message service: register a half message, commit, confirm; the
    /// service checks back with the producer about half messages left pending.
    HalfMessage,
    /// Unsafe: publish, then commit the debit (a crash in between: phantom message).
    PublishThenCommit,
    /// Unsafe: commit the debit, then publish, without an outbox (a crash in
    /// between: lost message).
    CommitThenPublish,
}

/// How the consumer makes applying a message idempotent.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum ConsumerSpec {
    /// A credit row per transfer, unique on the transfer id, in the business store.
    UniqueKey,
    /// A table of processed message ids, written in the credit's transaction.
    DedupeTable,
    /// A per-transfer state that only moves forward (a repeat is not a transition).
    StateMachine,
    /// The credit is a "set" of the transfer's row, not an "add" to the balance.
    NaturallyIdempotent,
    /// No idempotence: every delivery adds the amount again. (`None` is accepted too.)
    #[serde(alias = "None")]
    NoDedupe,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingSpec {
    pub mechanism: MechanismSpec,
    pub consumer: ConsumerSpec,
    /// Time between the producer's two steps (commit and publish, in whichever
    /// order the mechanism takes them): the window a crash can fall into.
    pub step_delay_ms: f64,
    /// Producer: re-publish what the broker has not acknowledged after this long
    /// (the outbox relay; the unsafe variants' in-memory retry; half-message register).
    pub retry_ms: f64,
    /// Broker: redeliver what the consumer has not acknowledged after this long.
    pub redeliver_ms: f64,
    /// Message service: ask the producer about a half message pending this long.
    pub checkback_ms: f64,
    /// Message service: check back at all (`false` shows what the check-back is for).
    pub check_back: bool,
}

impl Default for MessagingSpec {
    fn default() -> Self {
        MessagingSpec {
            mechanism: MechanismSpec::Outbox,
            consumer: ConsumerSpec::UniqueKey,
            step_delay_ms: 2.0,
            retry_ms: 50.0,
            redeliver_ms: 100.0,
            checkback_ms: 100.0,
            check_back: true,
        }
    }
}

/// TCC (`protocol: "tcc"`): timers and the three guards of the participants' fence.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TccSpec {
    /// The coordinator cancels a transaction whose Tries are not all answered by then.
    pub try_timeout_ms: f64,
    /// The coordinator resends Confirm/Cancel to participants that have not
    /// acknowledged, this often, until they do.
    pub retry_ms: f64,
    /// A repeated Confirm or Cancel is applied once.
    pub idempotency: bool,
    /// A Cancel for a branch that never tried records the fact and changes nothing.
    pub empty_rollback_guard: bool,
    /// A Try arriving after its Cancel is refused.
    pub anti_hanging: bool,
    /// When participants drop the fence records of finished branches.
    pub fence_purge: FencePurgeSpec,
    /// How many ids the coordinator's front trails the newest id begun.
    pub watermark_lag_ids: u64,
}

/// When TCC participants drop fence records (see the TCC chapter, "Forgetting").
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
pub enum FencePurgeSpec {
    /// Below the coordinator's finished-below watermark: safe under any delay.
    Watermark,
    /// Seata's clean task: end-state records older than this many ms (unsafe: a
    /// message delayed longer finds no record).
    AfterMs(f64),
}

impl Default for TccSpec {
    fn default() -> Self {
        TccSpec {
            try_timeout_ms: 200.0,
            retry_ms: 100.0,
            idempotency: true,
            empty_rollback_guard: true,
            anti_hanging: true,
            fence_purge: FencePurgeSpec::Watermark,
            watermark_lag_ids: DEFAULT_LAG_IDS,
        }
    }
}

/// Order + inventory: `rm1` holds orders per SKU, `rm2` the stock per SKU.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OrderInventorySpec {
    pub skus: u32,
    pub stock_per_sku: i64,
    pub qty_min: i64,
    pub qty_max: i64,
}

impl Default for OrderInventorySpec {
    fn default() -> Self {
        OrderInventorySpec {
            skus: 10,
            stock_per_sku: 100,
            qty_min: 1,
            qty_max: 3,
        }
    }
}

/// Flash sale: many buyers, few SKUs, one unit per purchase; payment on `rm3`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlashSaleSpec {
    pub skus: u32,
    pub stock_per_sku: i64,
    pub buyers: u32,
    /// Money in each buyer's wallet at the start.
    pub wallet: i64,
    pub price: i64,
    /// Share of purchases paid with a declined card (payment fails).
    pub decline_probability: f64,
}

impl Default for FlashSaleSpec {
    fn default() -> Self {
        FlashSaleSpec {
            skus: 2,
            stock_per_sku: 50,
            buyers: 1000,
            wallet: 100,
            price: 10,
            decline_probability: 0.1,
        }
    }
}

/// A scenario as RON text that [`read`] reads back (with `header` as leading `//`
/// comment lines): how a tool writes a scenario it built or edited.
pub fn to_ron(s: &Scenario, header: &str) -> String {
    let config = ron::ser::PrettyConfig::new()
        .depth_limit(3)
        .struct_names(false)
        .extensions(
            ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES
                | ron::extensions::Extensions::IMPLICIT_SOME,
        );
    let body = ron::ser::to_string_pretty(s, config).expect("a scenario serialises");
    let mut text = String::new();
    for line in header.lines() {
        text.push_str("// ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&body);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{default_scenario, parse};

    #[test]
    fn empty_scenario_takes_every_default() {
        let l = parse("()", "x.ron").expect("valid");
        assert_eq!(l.scenario.rms, 3);
        assert_eq!(l.scenario.name, "x");
        assert_eq!(l.scenario.protocol, "2pc");
    }

    #[test]
    fn integers_are_accepted_where_ms_are_floats() {
        let l = parse(
            "(duration_ms: 500, network: (latency: Constant(ms: 2)))",
            "x.ron",
        )
        .expect("valid");
        assert_eq!(l.scenario.duration_ms, 500.0);
    }

    #[test]
    fn errors_point_at_the_offending_line() {
        let src = "(\n  rms: 3,\n  network: (\n    loss_probability: 1.5,\n  ),\n)";
        let e = parse(src, "s.ron").unwrap_err();
        assert_eq!((e.line, e.col), (4, 5), "{e}");
        assert!(e.message.contains("outside [0, 1]"), "{e}");
    }

    #[test]
    fn tiny_and_huge_numbers_are_shown_with_an_exponent_not_hundreds_of_digits() {
        for (src, shown) in [
            ("(network: (loss_probability: -1e-308))", "-1e-308"),
            ("(clients: (load: Open(rate_per_s: -1e-308)))", "-1e-308"),
            (
                "(network: (latency: Uniform(min_ms: 5, max_ms: 1e-300)))",
                "1e-300",
            ),
            ("(network: (latency: Constant(ms: -1e300)))", "-1e300"),
            ("(workload: FlashSale(decline_probability: 1e200))", "1e200"),
            ("(network: (loss_probability: 1.5))", "1.5"),
        ] {
            let e = parse(src, "s.ron").unwrap_err();
            assert!(e.message.contains(shown), "{src}: {e}");
            assert!(e.message.len() < 200, "{src}: {e}");
        }
    }

    #[test]
    fn unknown_field_is_a_syntax_error_with_position() {
        let e = parse("(\n  rmz: 3,\n)", "s.ron").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("rmz"), "{e}");
    }

    #[test]
    fn errors_point_at_the_entry_and_skip_strings() {
        let src = "(\n  description: \"rms and protocol\",\n  duration_ms: 500,\n  faults: (crashes: [\n    (node: \"rm1\", at_ms: 100, restart_ms: 200),\n    (node: \"tm\", at_ms: 300, restart_ms: 250),\n  ]),\n)";
        let e = parse(src, "s.ron").unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        let e = parse("(\n  name: \"rms-zero\",\n  rms: 0,\n)", "s.ron").unwrap_err();
        assert_eq!((e.line, e.col), (3, 3), "{e}");
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = parse("(\n  rms: \"three\",\n)", "s.ron").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("rms:"), "{e}");
    }

    #[test]
    fn conditions_parse() {
        assert_eq!(parse_condition(">= 1"), Some((Cmp::Ge, 1.0)));
        assert_eq!(parse_condition("==0"), Some((Cmp::Eq, 0.0)));
        assert_eq!(parse_condition("~ 3"), None);
        assert!(Cmp::Lt.holds(0.5, 1.0));
    }

    #[test]
    fn saga_fields_have_defaults_and_are_checked() {
        let l = parse("(protocol: \"saga\")", "x.ron").expect("valid");
        assert_eq!(l.scenario.saga, SagaSpec::default());
        assert!(l.scenario.saga.recovery);
        let e = parse(
            "(\n  protocol: \"saga\",\n  saga: (step_timeout_ms: 0),\n)",
            "s.ron",
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("saga.step_timeout_ms"), "{e}");
        let e = parse("(saga: (give_up_after_attempts: 0))", "s.ron").unwrap_err();
        assert!(e.message.contains("at least 1 attempt"), "{e}");
    }

    #[test]
    fn the_tcc_fence_purge_and_the_watermark_lags_are_checked() {
        let l = parse("(protocol: \"tcc\")", "x.ron").expect("valid");
        assert_eq!(l.scenario.tcc.fence_purge, FencePurgeSpec::Watermark);
        assert_eq!(l.scenario.tcc.watermark_lag_ids, 4096);
        let l = parse("(tcc: (fence_purge: AfterMs(86400000)))", "x.ron").expect("a day");
        assert_eq!(
            l.scenario.tcc.fence_purge,
            FencePurgeSpec::AfterMs(86_400_000.0)
        );
        let e = parse("(\n  tcc: (fence_purge: AfterMs(0)),\n)", "t.ron").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("tcc.fence_purge"), "{e}");
        for section in ["tcc", "saga"] {
            let src = format!("({section}: (watermark_lag_ids: 1000001))");
            let e = parse(&src, "t.ron").unwrap_err();
            assert!(e.message.contains("watermark_lag_ids"), "{e}");
        }
    }

    #[test]
    fn the_default_scenario_is_valid() {
        let l = default_scenario();
        assert!(!l.scenario.expect.is_empty());
    }
}
