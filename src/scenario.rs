//! The scenario file: a RON schema with a default for every field, and validation
//! that names the file, line and column of what is wrong and says what was expected.
//!
//! The schema holds no logic. [`crate::run`] turns a validated scenario into a world.
//! Field reference with units and defaults: `book/src/scenario.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

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
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/2pc-coordinator-crash.ron");
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
    /// Not part of the file: tools that export a run's schedule (`run
    /// --export-schedule`, `shrink`) set it to have the network record each message's
    /// fate (`run::Outcome::message_fates`).
    #[serde(skip)]
    pub record_fates: bool,
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
            record_fates: false,
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

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrashSpec {
    pub node: String,
    pub at_ms: f64,
    #[serde(default)]
    pub restart_ms: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    pub groups: Vec<Vec<String>>,
    pub from_ms: f64,
    pub to_ms: f64,
}

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

/// A problem with a scenario, located in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A scenario with the text it came from, so later checks can point into it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    pub file: String,
    pub source: String,
}

impl Loaded {
    /// An error located at the first match of `path` (a sequence of needles, each
    /// searched after the previous one), or at the deepest needle found.
    pub fn error_at(&self, path: &[&str], message: impl Into<String>) -> ScenarioError {
        self.error_at_entry(path, None, &[], message)
    }

    /// An error in entry number `entry.1` (0-based) of a list found at `path`, where
    /// each entry is recognised by its key `entry.0`; `field` narrows it further.
    pub fn error_at_entry(
        &self,
        path: &[&str],
        entry: Option<(&str, usize)>,
        field: &[&str],
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, col) = locate(&self.source, path, entry, field);
        ScenarioError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        }
    }
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(
        ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES
            | ron::extensions::Extensions::IMPLICIT_SOME,
    )
}

/// Reads a scenario from text (its syntax and types; `file` names it in errors). It
/// is checked against its protocol by `run::Registry::parse`, which calls this.
pub fn read(source: &str, file: &str) -> Result<Loaded, ScenarioError> {
    let mut scenario: Scenario = ron_options().from_str(source).map_err(|e| {
        let (line, col) = (e.span.start.line, e.span.start.col);
        let message = match (&e.code, key_before(source, line, col)) {
            (ron::Error::NoSuchStructField { .. } | ron::Error::MissingStructField { .. }, _)
            | (_, None) => explain_ron_error(&e.code, "book/src/scenario.md"),
            (_, Some(key)) => format!(
                "{key}: {}",
                explain_ron_error(&e.code, "book/src/scenario.md")
            ),
        };
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            message,
        }
    })?;
    if scenario.name.is_empty() {
        scenario.name = Path::new(file)
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .trim_end_matches(" (built in)")
                    .to_string()
            })
            .unwrap_or_else(|| "scenario".into());
        scenario.name = scenario
            .name
            .split_whitespace()
            .next()
            .unwrap_or("scenario")
            .to_string();
    }
    Ok(Loaded {
        scenario,
        file: file.to_string(),
        source: source.to_string(),
    })
}

/// Reads a scenario file (see [`read`]).
pub fn read_file(path: &Path) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        col: 0,
        message: format!("cannot read the scenario file: {e}"),
    })?;
    read(&source, &file)
}

/// A protocol's `options:` (the RON text a scenario holds) as its options type.
pub fn parse_options<T: serde::de::DeserializeOwned>(
    raw: &ron::value::RawValue,
) -> Result<T, String> {
    ron_options()
        .from_str(raw.get_ron())
        .map_err(|e| explain_ron_error(&e.code, "the protocol's documentation"))
}

/// A RON error in words fit for the user (`reference`: the book page that lists the
/// fields): what it names is cut to a readable length
/// (a megabyte-long field name is not echoed back), and the parser's advice to its
/// own programmers (`serde_stacker`) is replaced by what the user can do.
pub(crate) fn explain_ron_error(code: &ron::Error, reference: &str) -> String {
    let one_of = |expected: &[&str]| match expected {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "one of {}, or `{last}`",
            init.iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let unexpected = |what: &str, found: &str, outer: &Option<String>, expected| {
        let outer = outer
            .as_deref()
            .map_or_else(String::new, |o| format!(" in `{}`", clip(o)));
        format!(
            "Unexpected {what} named `{}`{outer}, expected {} instead",
            clip(found),
            one_of(expected)
        )
    };
    match code {
        ron::Error::NoSuchStructField {
            expected,
            found,
            outer,
        } => format!(
            "{}; see {reference} for every field",
            unexpected("field", found, outer, expected)
        ),
        ron::Error::NoSuchEnumVariant {
            expected,
            found,
            outer,
        } => unexpected("variant", found, outer, expected),
        ron::Error::ExceededRecursionLimit => format!(
            "nested too deeply (more than {RON_RECURSION_LIMIT} levels): no scenario or sweep value needs that many"
        ),
        // Anything else the parser says, bounded (it may quote what it read).
        other => clip_to(&other.to_string(), 400),
    }
}

/// The nesting depth RON reads before giving up.
const RON_RECURSION_LIMIT: usize = 128;

/// `text` cut to at most 80 characters (with the total length said), for echoing
/// what a user wrote back in an error.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, 80)
}

/// A number as a message shows it: plain digits in the everyday range, the
/// exponent form outside it (so `1e-308` is not written as 310 digits).
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a == 0.0 || !a.is_finite() || (1e-6..1e16).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

fn clip_to(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max).collect();
        format!("{head}… ({n} characters)")
    }
}

/// The field name written just before a value at (`line`, `col`), if any: RON's type
/// errors name the expected type but not the field.
fn key_before(source: &str, line: usize, col: usize) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let upto: String = text.chars().take(col.saturating_sub(1)).collect();
    let before_colon = upto.trim_end().strip_suffix(':')?;
    let key: String = before_colon
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Line and column (1-based) in `source` of: each needle of `path` in turn (each
/// searched after the previous), then the `n`-th occurrence of the entry key, then
/// each needle of `field`. Stops at the deepest match found. Identifier needles match
/// whole keys only, outside comments and strings; quoted needles match a string.
fn locate(
    source: &str,
    path: &[&str],
    entry: Option<(&str, usize)>,
    field: &[&str],
) -> (usize, usize) {
    let mut from = 0;
    let mut at = None;
    let mut steps: Vec<(&str, usize)> = path.iter().map(|n| (*n, 0)).collect();
    if let Some((key, n)) = entry {
        steps.push((key, n));
    }
    steps.extend(field.iter().map(|n| (*n, 0)));
    'steps: for (needle, skip) in steps {
        let mut start = from;
        for _ in 0..=skip {
            match find_needle(source, needle, start) {
                Some(i) => {
                    at = Some(i);
                    start = i + needle.len();
                }
                None => break 'steps,
            }
        }
        from = start;
    }
    let Some(i) = at else {
        return (1, 1);
    };
    let before = &source[..i];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(i, |nl| i - nl - 1) + 1;
    (line, col)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn find_needle(source: &str, needle: &str, from: usize) -> Option<usize> {
    let ident = needle.chars().all(is_ident_char);
    let mut start = from;
    while let Some(rel) = source.get(start..)?.find(needle) {
        let i = start + rel;
        start = i + needle.len();
        let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
        let prefix = &source[line_start..i];
        if prefix.contains("//") {
            continue;
        }
        if ident {
            let quotes = prefix.matches('"').count() - prefix.matches("\\\"").count();
            let before_ok = !prefix.chars().next_back().is_some_and(is_ident_char);
            let after_ok = !source[i + needle.len()..]
                .chars()
                .next()
                .is_some_and(is_ident_char);
            if quotes % 2 == 1 || !before_ok || !after_ok {
                continue;
            }
        }
        return Some(i);
    }
    None
}

/// A comparison in an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

impl Cmp {
    pub fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Cmp::Eq => actual == bound,
            Cmp::Ne => actual != bound,
            Cmp::Ge => actual >= bound,
            Cmp::Le => actual <= bound,
            Cmp::Gt => actual > bound,
            Cmp::Lt => actual < bound,
        }
    }
}

/// Parses `">= 1"`, `"== 0"`, `"< 0.5"`.
pub fn parse_condition(text: &str) -> Option<(Cmp, f64)> {
    let t = text.trim();
    let (cmp, rest) = [
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
    ]
    .iter()
    .find_map(|(op, c)| t.strip_prefix(op).map(|r| (*c, r)))?;
    let v: f64 = rest.trim().parse().ok()?;
    v.is_finite().then_some((cmp, v))
}

/// Checks the scenario's own rules: every section's ranges, the faults against the
/// world's node `names` (in node order, from its protocol), the expectations. What a
/// protocol adds (the workloads it fits) its `Protocol::validate` checks.
pub fn validate(l: &Loaded, names: &[String]) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    if s.rms == 0 {
        return err(&["rms"], "rms = 0: a transaction needs at least one resource manager (shard); use 2 or more to see distributed transactions".into());
    }
    if s.rms > 100 {
        return err(
            &["rms"],
            format!(
                "rms = {}: at most 100 resource managers are supported",
                s.rms
            ),
        );
    }
    let durations: [(&[&str], &str, f64); 11] = [
        (&["duration_ms"], "duration_ms", s.duration_ms),
        (&["drain_ms"], "drain_ms", s.drain_ms),
        (
            &["vote_timeout_ms"],
            "two_pc.vote_timeout_ms",
            s.two_pc.vote_timeout_ms,
        ),
        (
            &["decision_retry_ms"],
            "two_pc.decision_retry_ms",
            s.two_pc.decision_retry_ms,
        ),
        (
            &["inquiry_interval_ms"],
            "two_pc.inquiry_interval_ms",
            s.two_pc.inquiry_interval_ms,
        ),
        (
            &["rm_timeout_ms"],
            "two_pc.rm_timeout_ms",
            s.two_pc.rm_timeout_ms,
        ),
        (
            &["deadline_ms"],
            "clients.deadline_ms",
            s.clients.deadline_ms,
        ),
        (
            &["reorder_delay_ms"],
            "network.reorder_delay_ms",
            s.network.reorder_delay_ms,
        ),
        (
            &["blocked_after_ms"],
            "checks.blocked_after_ms",
            s.checks.blocked_after_ms,
        ),
        (
            &["message_faults_until_ms"],
            "network.message_faults_until_ms",
            s.network.message_faults_until_ms.unwrap_or(0.0),
        ),
        (
            &["think_ms"],
            "clients.load.think_ms",
            match s.clients.load {
                LoadSpec::Closed { think_ms, .. } => think_ms,
                LoadSpec::Open { .. } => 0.0,
            },
        ),
    ];
    for (path, name, v) in durations {
        if !v.is_finite() || v < 0.0 {
            return err(
                path,
                format!("{name} = {v:?}: expected a duration in milliseconds, 0 or more"),
            );
        }
        if v > MAX_MS {
            return err(
                path,
                format!("{name} = {v:?} ms: at most {MAX_MS:?} ms (about 11.6 days) is supported"),
            );
        }
    }
    if s.duration_ms <= 0.0 {
        return err(&["duration_ms"], "duration_ms must be more than 0".into());
    }
    for (key, name, timer) in [
        (
            "vote_timeout_ms",
            "two_pc.vote_timeout_ms",
            s.two_pc.vote_timeout_ms,
        ),
        (
            "decision_retry_ms",
            "two_pc.decision_retry_ms",
            s.two_pc.decision_retry_ms,
        ),
        (
            "inquiry_interval_ms",
            "two_pc.inquiry_interval_ms",
            s.two_pc.inquiry_interval_ms,
        ),
    ] {
        if timer < 0.001 {
            return err(
                &[key],
                format!(
                    "{name} must be at least 0.001 ms (1 µs): a zero period would loop forever"
                ),
            );
        }
    }
    if s.max_events == 0 || s.max_events > MAX_EVENTS {
        return err(
            &["max_events"],
            format!("max_events = {}: expected 1 to {MAX_EVENTS}", s.max_events),
        );
    }
    for (key, v) in [
        ("loss_probability", s.network.loss_probability),
        ("duplicate_probability", s.network.duplicate_probability),
        ("reorder_probability", s.network.reorder_probability),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return err(
                &["network", key],
                format!(
                    "network.{key} = {} is outside [0, 1]: a probability must be between 0 and 1",
                    Num(v)
                ),
            );
        }
    }
    let latency_values = match s.network.latency {
        LatencySpec::Constant { ms } => [ms, 0.0],
        LatencySpec::Uniform { min_ms, max_ms } => [min_ms, max_ms],
        LatencySpec::Exponential { floor_ms, mean_ms } => [floor_ms, mean_ms],
    };
    if latency_values.iter().any(|v| *v > MAX_MS) {
        return err(
            &["latency"],
            format!("network.latency: values of at most {MAX_MS} ms are supported"),
        );
    }
    match s.network.latency {
        LatencySpec::Constant { ms } if !(ms.is_finite() && ms >= 0.0) => {
            return err(
                &["latency", "ms"],
                format!("latency Constant(ms: {}): expected 0 or more", Num(ms)),
            );
        }
        LatencySpec::Uniform { min_ms, max_ms }
            if !(min_ms.is_finite() && max_ms.is_finite() && 0.0 <= min_ms && min_ms <= max_ms) =>
        {
            return err(
                &["latency", "Uniform"],
                format!(
                    "latency Uniform(min_ms: {}, max_ms: {}): expected 0 <= min_ms <= max_ms",
                    Num(min_ms),
                    Num(max_ms)
                ),
            );
        }
        LatencySpec::Exponential { floor_ms, mean_ms }
            if !(floor_ms.is_finite()
                && mean_ms.is_finite()
                && floor_ms >= 0.0
                && mean_ms >= 0.0) =>
        {
            return err(
                &["latency", "Exponential"],
                format!(
                    "latency Exponential(floor_ms: {}, mean_ms: {}): expected both 0 or more",
                    Num(floor_ms),
                    Num(mean_ms)
                ),
            );
        }
        _ => {}
    }
    let transfer_default = TransferSpec::default();
    let t = match &s.workload {
        WorkloadSpec::Transfer(t) => t,
        _ => &transfer_default, // the business workloads are checked below
    };
    validate_tcc_and_business(l)?;
    if t.accounts_per_shard == 0 {
        return err(
            &["accounts_per_shard"],
            "workload accounts_per_shard = 0: every shard needs at least one account".into(),
        );
    }
    if t.accounts_per_shard > 10_000_000 {
        return err(&["accounts_per_shard"], format!("workload accounts_per_shard = {}: at most 10000000 accounts per shard are supported", t.accounts_per_shard));
    }
    if u64::from(s.rms) * u64::from(t.accounts_per_shard) > MAX_ACCOUNTS {
        return err(&["accounts_per_shard"], format!("rms × accounts_per_shard = {} accounts: at most {MAX_ACCOUNTS} in all are supported", u64::from(s.rms) * u64::from(t.accounts_per_shard)));
    }
    if u64::from(s.rms) * u64::from(t.accounts_per_shard) < 2 {
        return err(
            &["accounts_per_shard"],
            "a transfer needs at least two accounts in all".into(),
        );
    }
    if t.amount_min < 0 || t.amount_min > t.amount_max {
        return err(
            &["amount_min"],
            format!(
                "workload amounts: expected 0 <= amount_min <= amount_max, got {} and {}",
                t.amount_min, t.amount_max
            ),
        );
    }
    if t.initial_balance < 0 || t.initial_balance > MAX_AMOUNT {
        return err(
            &["initial_balance"],
            format!(
                "workload initial_balance = {}: expected 0 to {MAX_AMOUNT}",
                t.initial_balance
            ),
        );
    }
    if t.amount_max > MAX_AMOUNT {
        return err(
            &["amount_max"],
            format!(
                "workload amount_max = {}: expected at most {MAX_AMOUNT}",
                t.amount_max
            ),
        );
    }
    let total =
        i128::from(t.initial_balance) * i128::from(t.accounts_per_shard) * i128::from(s.rms);
    if matches!(s.workload, WorkloadSpec::Transfer(_)) && total > i128::from(MAX_MONEY_TOTAL) {
        return err(
            &["initial_balance"],
            format!("rms × accounts_per_shard × initial_balance = {total}: at most {MAX_MONEY_TOTAL} in all (so no total can overflow)"),
        );
    }
    if t.fan_out == 0 || (t.fan_out > 1 && t.fan_out >= s.rms) {
        return err(
            &["fan_out"],
            format!(
                "workload fan_out = {}: expected 1 (a plain transfer) up to rms - 1 = {}",
                t.fan_out,
                s.rms.saturating_sub(1).max(1)
            ),
        );
    }
    match s.clients.load {
        LoadSpec::Closed { sessions: 0, .. } => {
            return err(
                &["sessions"],
                "clients sessions = 0: a closed loop needs at least one session".into(),
            );
        }
        LoadSpec::Closed { sessions, .. } if sessions > crate::idmap::MAX_SESSIONS => {
            return err(
                &["sessions"],
                format!(
                    "clients sessions = {sessions}: at most {} concurrent sessions are supported",
                    crate::idmap::MAX_SESSIONS
                ),
            );
        }
        LoadSpec::Open { rate_per_s }
            if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= 1e6) =>
        {
            return err(
                &["rate_per_s"],
                format!("clients Open(rate_per_s: {}): expected a rate above 0 and at most 1000000 per second", Num(rate_per_s)),
            );
        }
        _ => {}
    }
    if s.clients.deadline_ms <= 0.0 {
        return err(
            &["deadline_ms"],
            "clients.deadline_ms must be more than 0".into(),
        );
    }
    // Another protocol's settings are inert (a file may carry every protocol's, for
    // `acidbase compare`), but an option that adds a node must fit the protocol run.
    if s.two_pc.standby_tm && s.protocol != "2pc" {
        return err(
            &["two_pc", "standby_tm"],
            format!(
                "two_pc.standby_tm adds a standby 2PC coordinator, and protocol {:?} has none{}; remove it (or run protocol \"2pc\")",
                s.protocol,
                if s.protocol == "3pc" { " (3PC's is three_pc.standby_tm)" } else { "" }
            ),
        );
    }
    validate_three_pc(l)?;
    validate_faults(l, names)?;
    validate_saga(l)?;
    validate_messaging(l)?;
    validate_calls(l)?;
    for (metric, cond) in &s.expect {
        if !crate::report::is_metric(metric) {
            return err(
                &["expect", &format!("{metric:?}")],
                format!(
                    "unknown metric {metric:?} in expect; known metrics: {}",
                    crate::report::metric_names().join(", ")
                ),
            );
        }
        if parse_condition(cond).is_none() {
            return err(
                &["expect", &format!("{metric:?}")],
                format!("cannot read condition {cond:?} for {metric}: expected an operator (==, !=, >=, <=, >, <) and a number, e.g. \">= 1\""),
            );
        }
    }
    Ok(())
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

/// Checks the `tcc` section and the business workloads' fields.
fn validate_tcc_and_business(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    for (key, v) in [
        ("try_timeout_ms", s.tcc.try_timeout_ms),
        ("retry_ms", s.tcc.retry_ms),
    ] {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return err(
                &["tcc", key],
                format!("tcc.{key} = {v:?}: expected a period in ms from 0.001 to {MAX_MS:?}"),
            );
        }
    }
    if let FencePurgeSpec::AfterMs(v) = s.tcc.fence_purge {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return err(
                &["tcc", "fence_purge"],
                format!("tcc.fence_purge = AfterMs({v:?}): expected a retention in ms from 0.001 to {MAX_MS:?} (or Watermark)"),
            );
        }
    }
    check_lag(l, "tcc", s.tcc.watermark_lag_ids)?;

    let (skus, stock, needs_rms, what) = match &s.workload {
        WorkloadSpec::Transfer(_) => return Ok(()),
        WorkloadSpec::OrderInventory(o) => {
            if o.qty_min < 1 || o.qty_min > o.qty_max || o.qty_max > MAX_AMOUNT {
                return err(
                    &["qty_min"],
                    format!(
                        "workload quantities: expected 1 <= qty_min <= qty_max <= {MAX_AMOUNT}, got {} and {}",
                        o.qty_min, o.qty_max
                    ),
                );
            }
            (
                o.skus,
                o.stock_per_sku,
                2,
                "OrderInventory (rm1 = orders, rm2 = inventory)",
            )
        }
        WorkloadSpec::FlashSale(f) => {
            if f.buyers == 0 || f.buyers > 1_000_000 {
                return err(
                    &["buyers"],
                    format!("workload buyers = {}: expected 1 to 1000000", f.buyers),
                );
            }
            for (key, v) in [("price", f.price), ("wallet", f.wallet)] {
                if !(0..=MAX_AMOUNT).contains(&v) {
                    return err(
                        &[key],
                        format!("workload {key} = {v}: expected 0 to {MAX_AMOUNT}"),
                    );
                }
            }
            let wallets = i128::from(f.wallet) * i128::from(f.buyers);
            if wallets > i128::from(MAX_MONEY_TOTAL) {
                return err(
                    &["wallet"],
                    format!("buyers × wallet = {wallets}: at most {MAX_MONEY_TOTAL} in all (so no total can overflow)"),
                );
            }
            if !(0.0..=1.0).contains(&f.decline_probability) {
                return err(
                    &["decline_probability"],
                    format!(
                        "workload decline_probability = {}: a probability must be between 0 and 1",
                        Num(f.decline_probability)
                    ),
                );
            }
            (
                f.skus,
                f.stock_per_sku,
                3,
                "FlashSale (rm1 = orders, rm2 = inventory, rm3 = payment)",
            )
        }
    };
    if skus == 0 || skus > 1_000_000 {
        return err(
            &["skus"],
            format!("workload skus = {skus}: expected 1 to 1000000"),
        );
    }
    if !(0..=1_000_000_000).contains(&stock) {
        return err(
            &["stock_per_sku"],
            format!("workload stock_per_sku = {stock}: expected 0 to 1000000000"),
        );
    }
    if s.rms != needs_rms {
        return err(
            &["rms"],
            format!(
                "rms = {}: the {what} workload needs rms: {needs_rms}",
                s.rms
            ),
        );
    }
    Ok(())
}

/// The saga's timers: a period of at least 1 µs (zero would loop), at most `MAX_MS`.
fn validate_saga(l: &Loaded) -> Result<(), ScenarioError> {
    let g = &l.scenario.saga;
    for (key, v) in [
        ("scan_interval_ms", g.scan_interval_ms),
        ("step_timeout_ms", g.step_timeout_ms),
    ] {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return Err(l.error_at(
                &["saga", key],
                format!("saga.{key} = {v:?}: expected a period in milliseconds from 0.001 (1 µs; zero would loop forever) to {MAX_MS:?}"),
            ));
        }
    }
    if g.give_up_after_attempts == Some(0) {
        return Err(l.error_at(
            &["saga", "give_up_after_attempts"],
            "saga.give_up_after_attempts = 0: expected at least 1 attempt (or leave it out: never give up)",
        ));
    }
    check_lag(l, "saga", g.watermark_lag_ids)
}

/// A watermark lag (TCC's or the saga's): at most `MAX_LAG_IDS` ids.
fn check_lag(l: &Loaded, section: &str, v: u64) -> Result<(), ScenarioError> {
    let max = MAX_LAG_IDS;
    if v > max {
        return Err(l.error_at(
            &[section, "watermark_lag_ids"],
            format!("{section}.watermark_lag_ids = {v}: expected at most {max} ids (participants keep about one record per id of lag)"),
        ));
    }
    Ok(())
}

fn validate_messaging(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let m = &s.messaging;
    for (key, v, min) in [
        ("step_delay_ms", m.step_delay_ms, 0.0),
        ("retry_ms", m.retry_ms, 0.001),
        ("redeliver_ms", m.redeliver_ms, 0.001),
        ("checkback_ms", m.checkback_ms, 0.001),
    ] {
        if !v.is_finite() || v < min || v > MAX_MS {
            return Err(l.error_at(
                &["messaging", key],
                format!("messaging.{key} = {v:?}: expected a duration in milliseconds from {min} to {MAX_MS:?}{}", if min > 0.0 { " (a zero period would loop forever)" } else { "" }),
            ));
        }
    }
    Ok(())
}

/// What the messaging protocol models: a transfer A → B, or stock → order.
pub fn fit_messaging(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let t = match &s.workload {
        WorkloadSpec::Transfer(t) => t,
        WorkloadSpec::OrderInventory(_) => return Ok(()), // stock → order: one debit, one credit
        WorkloadSpec::FlashSale(_) => {
            return Err(l.error_at(
                &["FlashSale"],
                "the messaging protocol models one debit and one credit per request; a flash-sale purchase touches three services (stock, order, payment): use tcc, 2pc, 3pc or saga".to_string(),
            ))
        }
    };
    if t.fan_out != 1 {
        return Err(l.error_at(
            &["fan_out"],
            format!("workload fan_out = {}: the messaging protocol models a transfer A → B (one debit, one message, one credit); use fan_out: 1", t.fan_out),
        ));
    }
    Ok(())
}

/// Protocol "calls": three services and sane pattern timings.
fn validate_calls(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    let c = &s.calls;
    for (key, v) in [
        ("call_timeout_ms", c.call_timeout_ms),
        ("callback_timeout_ms", c.callback_timeout_ms),
        ("processing_ms", c.processing_ms),
        ("retry_ms", c.retry_ms),
        ("period_ms", c.period_ms),
        ("grace_ms", c.grace_ms),
    ] {
        if !v.is_finite() || !(0.0..=MAX_MS).contains(&v) {
            return err(
                &["calls", key],
                format!(
                    "calls.{key} = {v:?}: expected a duration in milliseconds, 0 to {MAX_MS:?}"
                ),
            );
        }
        if key != "processing_ms" && key != "grace_ms" && v < 0.001 {
            return err(
                &["calls", key],
                format!("calls.{key} must be at least 0.001 ms (1 µs): a zero period would loop forever"),
            );
        }
    }
    if c.page_size == 0 || c.page_size > 100_000 {
        return err(
            &["calls", "page_size"],
            format!(
                "calls.page_size = {}: expected 1 to 100000 records per page",
                c.page_size
            ),
        );
    }
    Ok(())
}

/// What protocol "calls" models: three services and a Transfer workload's amounts.
pub fn fit_calls(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    if s.rms != 3 {
        return err(
            &["rms"],
            format!("rms = {}: protocol \"calls\" runs three services (rm1 order, rm2 payment, rm3 shipping); set rms: 3", s.rms),
        );
    }
    if s.clients.colocated_with_tm {
        return err(
            &["colocated_with_tm"],
            "protocol \"calls\" has no tm to colocate the client with; remove colocated_with_tm"
                .into(),
        );
    }
    if !matches!(s.workload, WorkloadSpec::Transfer(_)) {
        return err(
            &["workload"],
            "protocol \"calls\" runs its own place order → pay → ship chain, with amounts from a Transfer workload; use workload: Transfer(...)".into(),
        );
    }
    Ok(())
}

fn validate_faults(l: &Loaded, names: &[String]) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let known = |n: &str| names.iter().any(|m| m == n);
    let horizon = s.duration_ms;
    // Every error points into the list entry it is about: entry `i` of `section`,
    // recognised by the key every entry of that list has.
    let at = |section: &str, key: &str, i: usize, field: &[&str], msg: String| {
        l.error_at_entry(&["faults", section], Some((key, i)), field, msg)
    };
    let unknown = |section: &str, key: &str, i: usize, n: &str| {
        at(
            section,
            key,
            i,
            &[&format!("{n:?}")],
            format!(
                "faults.{section}: no node named {n:?}; this scenario's nodes are: {}",
                names.join(", ")
            ),
        )
    };
    let check_time = |section: &str, key: &str, i: usize, field: &str, v: f64| {
        if !v.is_finite() || v < 0.0 {
            return Err(at(
                section,
                key,
                i,
                &[field],
                format!(
                    "faults.{section} {field} = {}: expected a time in ms, 0 or more",
                    Num(v)
                ),
            ));
        }
        if v > horizon {
            return Err(at(
                section,
                key,
                i,
                &[field],
                format!("faults.{section} {field} = {} ms is after the horizon (duration_ms = {}); faults must happen within the run: raise duration_ms or move the fault earlier", Num(v), Num(horizon)),
            ));
        }
        Ok(())
    };
    for (i, c) in s.faults.crashes.iter().enumerate() {
        if !known(&c.node) {
            return Err(unknown("crashes", "node", i, &c.node));
        }
        check_time("crashes", "node", i, "at_ms", c.at_ms)?;
        if let Some(r) = c.restart_ms {
            check_time("crashes", "node", i, "restart_ms", r)?;
            if r <= c.at_ms {
                return Err(at(
                    "crashes",
                    "node",
                    i,
                    &["restart_ms"],
                    format!(
                        "faults.crashes: {} restarts at {r} ms, not after its crash at {} ms",
                        c.node, c.at_ms
                    ),
                ));
            }
        }
    }
    for (i, p) in s.faults.partitions.iter().enumerate() {
        if p.groups.len() < 2 || p.groups.iter().any(|g| g.is_empty()) {
            return Err(at("partitions", "groups", i, &[], "faults.partitions: groups needs at least two non-empty groups of node names, e.g. [[\"tm\", \"rm1\"], [\"rm2\", \"rm3\"]]".into()));
        }
        let mut seen = Vec::new();
        for n in p.groups.iter().flatten() {
            if !known(n) {
                return Err(unknown("partitions", "groups", i, n));
            }
            if seen.contains(&n) {
                return Err(at(
                    "partitions",
                    "groups",
                    i,
                    &[&format!("{n:?}")],
                    format!("faults.partitions: {n:?} is in more than one group"),
                ));
            }
            seen.push(n);
        }
        check_time("partitions", "groups", i, "from_ms", p.from_ms)?;
        check_time("partitions", "groups", i, "to_ms", p.to_ms)?;
        if p.to_ms <= p.from_ms {
            return Err(at(
                "partitions",
                "groups",
                i,
                &["to_ms"],
                format!(
                    "faults.partitions: to_ms = {} must be after from_ms = {}",
                    Num(p.to_ms),
                    Num(p.from_ms)
                ),
            ));
        }
    }
    for (i, w) in s.faults.one_way.iter().enumerate() {
        if w.from.is_empty() || w.to.is_empty() {
            return Err(at(
                "one_way",
                "from",
                i,
                &[],
                "faults.one_way: from and to each need at least one node name".into(),
            ));
        }
        for n in w.from.iter().chain(&w.to) {
            if !known(n) {
                return Err(unknown("one_way", "from", i, n));
            }
        }
        check_time("one_way", "from", i, "from_ms", w.from_ms)?;
        check_time("one_way", "from", i, "to_ms", w.to_ms)?;
        if w.to_ms <= w.from_ms {
            return Err(at(
                "one_way",
                "from",
                i,
                &["to_ms"],
                format!(
                    "faults.one_way: to_ms = {} must be after from_ms = {}",
                    Num(w.to_ms),
                    Num(w.from_ms)
                ),
            ));
        }
    }
    for (i, r) in s.faults.random_crashes.iter().enumerate() {
        for n in &r.nodes {
            if !(known(n) || n == "rms" || n == "all") {
                return Err(unknown("random_crashes", "nodes", i, n));
            }
        }
        if !(r.rate_per_s.is_finite() && r.rate_per_s >= 0.0)
            || r.rate_per_s * horizon / 1000.0 > MAX_EXPECTED_FAULTS
        {
            return Err(at(
                "random_crashes",
                "nodes",
                i,
                &["rate_per_s"],
                format!(
                    "faults.random_crashes rate_per_s = {}: expected 0 or more crashes per second, at most {MAX_EXPECTED_FAULTS} expected per node over the run",
                    Num(r.rate_per_s)
                ),
            ));
        }
        if !(r.mean_downtime_ms.is_finite()
            && r.mean_downtime_ms >= 0.0
            && r.mean_downtime_ms <= MAX_MS)
        {
            return Err(at(
                "random_crashes",
                "nodes",
                i,
                &["mean_downtime_ms"],
                "faults.random_crashes mean_downtime_ms: expected 0 or more".into(),
            ));
        }
    }
    if let Some(r) = &s.faults.random_partitions {
        for n in &r.nodes {
            if !known(n) {
                return Err(l.error_at(&["faults", "random_partitions", &format!("{n:?}")], format!("faults.random_partitions: no node named {n:?}; this scenario's nodes are: {}", names.join(", "))));
            }
        }
        if !(r.rate_per_s.is_finite() && r.rate_per_s >= 0.0)
            || r.rate_per_s * horizon / 1000.0 > MAX_EXPECTED_FAULTS
        {
            return Err(l.error_at(
                &["faults", "random_partitions", "rate_per_s"],
                format!(
                    "faults.random_partitions rate_per_s = {}: expected 0 or more per second, at most {MAX_EXPECTED_FAULTS} expected over the run",
                    Num(r.rate_per_s)
                ),
            ));
        }
        if !(r.mean_duration_ms.is_finite()
            && r.mean_duration_ms >= 0.0
            && r.mean_duration_ms <= MAX_MS)
        {
            return Err(l.error_at(
                &["faults", "random_partitions", "mean_duration_ms"],
                "faults.random_partitions mean_duration_ms: expected 0 or more",
            ));
        }
    }
    for (i, d) in s.faults.drift.iter().enumerate() {
        if !known(&d.node) {
            return Err(unknown("drift", "node", i, &d.node));
        }
        if d.ppm.unsigned_abs() >= 1_000_000 {
            return Err(at(
                "drift",
                "node",
                i,
                &["ppm"],
                format!(
                    "faults.drift ppm = {}: expected between -999999 and 999999",
                    d.ppm
                ),
            ));
        }
    }
    if s.faults.max_drift_ppm >= 1_000_000 {
        return Err(l.error_at(
            &["max_drift_ppm"],
            "faults.max_drift_ppm must be below 1000000",
        ));
    }
    validate_message_faults(l, names)?;
    Ok(())
}

fn validate_message_faults(l: &Loaded, names: &[String]) -> Result<(), ScenarioError> {
    let at = |i: usize, field: &[&str], msg: String| {
        l.error_at_entry(&["faults", "messages"], Some(("nth", i)), field, msg)
    };
    let mut seen: Vec<(&str, &str, u64)> = Vec::new();
    for (i, m) in l.scenario.faults.messages.iter().enumerate() {
        for n in [&m.from, &m.to] {
            if !names.iter().any(|k| k == n) {
                return Err(at(
                    i,
                    &[],
                    format!(
                        "faults.messages: no node named {n:?}; this scenario's nodes are: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        if m.nth == 0 {
            return Err(at(
                i,
                &[],
                "faults.messages: nth counts messages on the link from 1 (the first message is nth: 1)".into(),
            ));
        }
        let key = (m.from.as_str(), m.to.as_str(), m.nth);
        if seen.contains(&key) {
            return Err(at(
                i,
                &[],
                format!(
                    "faults.messages: message {} of {} -> {} is scripted twice",
                    m.nth, m.from, m.to
                ),
            ));
        }
        seen.push(key);
        let delays: &[f64] = match &m.fate {
            MessageFateSpec::Lose => &[],
            MessageFateSpec::Latency { delay_ms } | MessageFateSpec::Delay { delay_ms } => {
                std::slice::from_ref(delay_ms)
            }
            MessageFateSpec::Duplicate { delay_ms, again_ms } => &[*delay_ms, *again_ms],
        };
        if delays
            .iter()
            .any(|d| !(d.is_finite() && *d >= 0.0 && *d <= MAX_MS))
        {
            return Err(at(
                i,
                &["fate"],
                format!("faults.messages: delays must be between 0 and {MAX_MS} ms"),
            ));
        }
    }
    Ok(())
}

/// The `three_pc` section: durations, periods, and the participant timeouts that
/// must outlast the TM's (else a fault-free run can split: see three_pc.rs).
fn validate_three_pc(l: &Loaded) -> Result<(), ScenarioError> {
    let p = &l.scenario.three_pc;
    let err = |key: &str, msg: String| Err(l.error_at(&["three_pc", key], msg));
    let fields = [
        ("vote_timeout_ms", p.vote_timeout_ms),
        ("precommit_ack_timeout_ms", p.precommit_ack_timeout_ms),
        ("rm_wait_timeout_ms", p.rm_wait_timeout_ms),
        ("rm_precommit_timeout_ms", p.rm_precommit_timeout_ms),
        ("decision_retry_ms", p.decision_retry_ms),
        ("inquiry_interval_ms", p.inquiry_interval_ms),
        ("election_timeout_ms", p.election_timeout_ms),
    ];
    for (key, v) in fields {
        if !v.is_finite() || !(0.001..=MAX_MS).contains(&v) {
            return err(
                key,
                format!("three_pc.{key} = {v:?}: expected a duration in milliseconds from 0.001 (1 µs; a zero timer would loop forever) to {MAX_MS:?}"),
            );
        }
    }
    if p.rm_wait_timeout_ms <= p.vote_timeout_ms {
        return err(
            "rm_wait_timeout_ms",
            format!("three_pc.rm_wait_timeout_ms = {:?} must be longer than vote_timeout_ms = {:?} (by at least the longest one-way delay): a participant that gives up in w before the TM may still send PreCommit splits the outcome without any fault", p.rm_wait_timeout_ms, p.vote_timeout_ms),
        );
    }
    if p.rm_precommit_timeout_ms <= p.precommit_ack_timeout_ms {
        return err(
            "rm_precommit_timeout_ms",
            format!("three_pc.rm_precommit_timeout_ms = {:?} must be longer than precommit_ack_timeout_ms = {:?} (by at least the longest one-way delay): a pre-committed participant must wait for the TM's decision", p.rm_precommit_timeout_ms, p.precommit_ack_timeout_ms),
        );
    }
    Ok(())
}

/// 3PC's own rule: `Terminate` (the faithful protocol) needs a synchronous network.
pub fn fit_three_pc(l: &Loaded) -> Result<(), ScenarioError> {
    if l.scenario.three_pc.timeouts == TimeoutsSpec::Terminate {
        validate_three_pc_synchrony(l)?;
    }
    Ok(())
}

/// `Terminate` assumes a synchronous network: every timeout outlasts the delays it
/// waits for, measured on the slowest and fastest clocks the drift allows. Scripted
/// message delays, reordering, loss and partitions are faults beyond that bound.
fn validate_three_pc_synchrony(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let p = &s.three_pc;
    let err = |key: &str, msg: String| Err(l.error_at(&["three_pc", key], msg));
    let d = match (p.delay_bound_ms, &s.network.latency) {
        (Some(d), _) => {
            if !(d.is_finite() && d > 0.0 && d <= MAX_MS) {
                return err(
                    "delay_bound_ms",
                    format!("three_pc.delay_bound_ms = {d:?}: expected a delay in milliseconds above 0, at most {MAX_MS:?}"),
                );
            }
            d
        }
        (None, LatencySpec::Constant { ms }) => *ms,
        (None, LatencySpec::Uniform { max_ms, .. }) => *max_ms,
        (None, LatencySpec::Exponential { .. }) => {
            return Err(l.error_at(
                &["network", "latency"],
                "3PC (three_pc.timeouts: Terminate) assumes bounded delays, and Exponential latency has no maximum: set three_pc.delay_bound_ms to the delay its timeouts are sized for (a slower message is a timing fault and can split the outcome), or use Constant or Uniform latency",
            ));
        }
    };
    let drift_ppm = s
        .faults
        .drift
        .iter()
        .map(|x| x.ppm.unsigned_abs())
        .chain([s.faults.max_drift_ppm])
        .max()
        .unwrap_or(0);
    // A timer of t ms lasts between t / (1 + δ) and t / (1 - δ) of real time.
    let delta = (f64::from(drift_ppm) / 1e6).min(0.5);
    let (shortest, longest) = (|t: f64| t / (1.0 + delta), |t: f64| t / (1.0 - delta));
    let with_drift = if drift_ppm > 0 {
        format!(", on clocks that drift up to {drift_ppm} ppm")
    } else {
        String::new()
    };
    let checks = [
        (
            "rm_wait_timeout_ms",
            p.rm_wait_timeout_ms,
            longest(p.vote_timeout_ms) + d,
            "vote_timeout_ms + one delay",
            "a participant must not give up on a TM whose PreCommit may still come",
        ),
        (
            "rm_precommit_timeout_ms",
            p.rm_precommit_timeout_ms,
            longest(p.precommit_ack_timeout_ms) + d,
            "precommit_ack_timeout_ms + one delay",
            "a pre-committed participant must not give up on a TM whose decision may still come",
        ),
        (
            "precommit_ack_timeout_ms",
            p.precommit_ack_timeout_ms,
            d,
            "one delay",
            "the TM may commit without an ack only once every participant that is up has had its PreCommit",
        ),
        (
            "inquiry_interval_ms",
            p.inquiry_interval_ms,
            3.0 * d,
            "three delays",
            "a terminator decides only after any other terminator that started meanwhile could have reached it",
        ),
        (
            "election_timeout_ms",
            p.election_timeout_ms,
            longest(p.inquiry_interval_ms) + 2.0 * d,
            "inquiry_interval_ms + two delays",
            "a participant must not give up on a terminator that is still polling",
        ),
    ];
    for (key, value, floor, what, why) in checks {
        if shortest(value) <= floor {
            return err(
                key,
                format!("three_pc.{key} = {value:?} must be longer than {what} ({floor:.3} ms with delays up to {d:?} ms{with_drift}): {why} (3PC assumes bounded delays)"),
            );
        }
    }
    Ok(())
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
