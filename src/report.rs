//! The report of one run: JSON for machines (a stable interface, documented in
//! `book/src/counts.md`) and plain words for people.
//!
//! A report only presents results; it never changes them. It is built from a run's
//! results and its scenario by [`Report::build`] (in `run`, above the scenario: the
//! scenario's validation reads [`metric_names`] from here); its story is told by
//! [`crate::story`], and a protocol's own lines of the "Counts" block are
//! [`CountsLine`]s at a [`CountsPlace`] (see `Protocol::counts_at`).

use crate::checkers::business::Business;
use crate::checkers::{FactCount, TccCounts};
use crate::property::PropertyResult;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Txns {
    pub committed: u64,
    pub aborted: u64,
    pub in_doubt: u64,
    pub unresolved: u64,
    /// Global transactions begun (distributed and local): committed + aborted +
    /// unresolved, each counted once.
    pub begun: u64,
    pub requests: u64,
    /// Requests a restarted coordinator refused because it could not tell whether
    /// its earlier incarnation had begun them (no definite answer).
    pub refused: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Violations {
    pub atomicity: u64,
    pub invariant: u64,
}

/// Repair classes of inconsistencies (DESIGN §6).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Repair {
    /// Fixed by recovery, compensation, retry or reconciliation.
    pub automatic: u64,
    /// Detected and flagged for an operator.
    pub operator: u64,
    /// Violations left at the end that nobody flagged: the worst kind.
    pub silent: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Money {
    pub initial: i64,
    #[serde(rename = "final")]
    pub final_: i64,
    /// In prepared changes of in-doubt transactions at the end (in flight).
    pub in_doubt: i64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Locks {
    pub blocked: u64,
    pub lock_ms_total: f64,
    pub max_hold_ms: f64,
    pub held_at_end: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PerCommit {
    pub messages: f64,
    pub message_delays: f64,
    pub durable_writes: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Network {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

/// Percentiles of the time to consistency (ms).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct TimeToConsistentMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// BASE: how long transactions took to become consistent, and what a reader could
/// see meanwhile (all 0 for protocols that do not report it, such as 2PC).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Consistency {
    /// Transactions that reached a consistent end.
    pub consistent: u64,
    pub time_to_consistent_ms: TimeToConsistentMs,
    /// Episodes of an invariant visibly broken mid-flight (money in flight).
    pub transient_anomalies: u64,
    pub transient_anomaly_ms_total: f64,
    pub transient_anomaly_ms_max: f64,
    /// Episodes still visible at the end: no longer transient.
    pub anomalies_open_at_end: u64,
    /// Transactions still unfinished (neither completed nor compensated) at the end.
    pub unfinished_at_end: u64,
}

/// What the service-call patterns did (protocol `calls`; zero for the others).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Calls {
    /// Payment calls that got no answer in time, and overdue callbacks.
    pub timeouts: u64,
    /// Status queries sent by request id.
    pub queries: u64,
    /// Orders the caller decided to undo (the reverse call).
    pub compensations: u64,
    /// Tasks and queries sent again.
    pub retries: u64,
    /// Orders reconciliation found on one side only.
    pub lost_orders: u64,
    /// Orders reconciliation found on both sides in different states.
    pub state_mismatches: u64,
    /// `lost_orders + state_mismatches`.
    pub found_by_reconciliation: u64,
    /// Pages of records compared.
    pub reconciliation_batches: u64,
    /// Complete passes over every service.
    pub reconciliation_passes: u64,
    /// The longest pass, from its start to its last page.
    pub reconciliation_pass_ms_max: f64,
    /// Orders the services disagree on at the end (also in `violations.invariant`).
    pub inconsistent_at_end: u64,
    /// Orders settled (final, confirmed) and archived into counters by the end.
    pub archived_orders: u64,
    /// Requests and calls that came for a request id already settled and archived,
    /// answered from the watermark.
    pub late_for_archived: u64,
}

/// The cache and its database (protocol `cache`; zero for the others). See
/// `book/src/cache.md`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Cache {
    /// Reads answered, from the cache (hits) or, on a miss, from the database.
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    /// `hits / reads`.
    pub hit_ratio: f64,
    /// Reads the database served (its read load: the misses, and the cache's own
    /// loads under write-through).
    pub db_reads: u64,
    /// `db_reads / reads`: 1 without a cache, 0 for a perfect one.
    pub db_reads_per_read: f64,
    /// Writes the database committed.
    pub db_writes: u64,
    /// Reads that returned a value older than the database's committed value when
    /// the read began.
    pub stale_reads: u64,
    /// Reads that returned a value the database had not committed when they returned.
    pub dirty_reads: u64,
    /// Times an entry held a value other than the database's committed one.
    pub stale_episodes: u64,
    /// How long those lasted (an episode open at the end: to the end).
    pub staleness_ms: StalenessMs,
    /// Entries that differ from the database at the end, after the drain (also in
    /// `violations.invariant`).
    pub stale_at_end: u64,
    /// Composite entries (`sources > 1`): partial entries the cache installed (some
    /// part missing: `fill: Partial` only).
    pub partial_cached: u64,
    /// Reads that returned a partial entry, from the cache or from the fill that
    /// built it (the swarm's `partial-entry` failure).
    pub partial_served: u64,
    /// Partial entries the client received and could not use.
    pub consumer_errors: u64,
    /// Times a read asked its missing parts again after `part_timeout_ms`.
    pub part_retries: u64,
    /// Reads that failed because their entry could not be filled completely
    /// (`fill: AllOrNothing`: nothing cached, the reader gets an error).
    pub reads_failed: u64,
}

/// Global unique ids, their generators and the orders' dedupe table (protocol
/// `ids`; zero for the others). See `book/src/global-ids.md`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Ids {
    /// Ids the generators gave to order requests.
    pub issued: u64,
    /// Ids issued again for a different request (also in `violations.invariant`).
    pub duplicate_ids: u64,
    /// Ids not above their generator's previous id (a clock that went back, a
    /// restart without a guard).
    pub non_monotonic: u64,
    /// Ids below the highest issued before them by any generator: ids ordered per
    /// generator only.
    pub out_of_global_order: u64,
    /// Blocks the sequence database handed out (segment generators).
    pub blocks: u64,
    /// Ids of blocks given up (a restart, a lost or duplicated grant) and never
    /// issued.
    pub gaps: u64,
    /// Requests a guard refused because the clock read earlier than the last id.
    pub refused: u64,
    /// Requests a guard held back until the clock passed the last id's time, and
    /// the longest such wait.
    pub waited: u64,
    pub waited_ms_max: f64,
    /// Requests held to the next ms because its 4096 sequence numbers were used.
    pub sequence_waits: u64,
    /// Durable writes of a guard's lease on time (one per lease period of ids).
    pub lease_writes: u64,
    /// Orders the orders table recorded.
    pub recorded: u64,
    /// Real orders the dedupe table dropped: their id was already another order's.
    pub dropped_real_orders: u64,
    /// Orders the table got again under a second id (recorded twice).
    pub second_ids: u64,
    /// Orders the generators accepted (recorded downstream, the client told so).
    pub accepted: u64,
    /// Accepted orders the table lacks at the end (also in `violations.invariant`;
    /// those reconciliation did not find also in `repair.silent`).
    pub lost_orders: u64,
    /// Lost orders reconciliation found.
    pub lost_found_by_reconciliation: u64,
}

/// Percentiles of the stale episodes' (or divergence windows') durations (ms).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StalenessMs {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// A feature switch read from local caches on a service pool, or from one
/// distributed cache (protocol `local_cache`; zero for the others). See
/// `book/src/local-cache.md`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LocalCache {
    /// Flips of the switch the config store committed.
    pub flips: u64,
    /// Attempts of business requests decided on a view of the switch.
    pub decisions: u64,
    /// Requests decided at least once.
    pub requests_decided: u64,
    /// Decisions on a view that differed from the store's value at that moment.
    pub stale_decisions: u64,
    /// Requests two of whose attempts saw the switch differently.
    pub split_views: u64,
    /// Requests sent down both paths.
    pub split_paths: u64,
    /// Charges the payment paths made.
    pub charges: u64,
    /// Requests both paths charged (also in `violations.invariant`).
    pub processed_twice: u64,
    /// What those second charges cost.
    pub double_charged_amount: u64,
    /// Times some copy of the switch differed from the store's value.
    pub divergence_windows: u64,
    /// How long those lasted (a window open at the end: to the end).
    pub divergence_ms: StalenessMs,
    /// Their total length.
    pub divergence_ms_total: f64,
    /// Copies that still differ from the store at the end.
    pub divergent_at_end: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ExpectationResult {
    pub metric: String,
    pub condition: String,
    pub actual: f64,
    pub held: bool,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Expectations {
    pub passed: u64,
    pub failed: u64,
    pub results: Vec<ExpectationResult>,
}

/// Reliable messaging (`protocols::messaging`; all zero for other protocols).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct MessagingCounts {
    /// Messages the broker accepted for delivery (each message once).
    pub published: u64,
    /// Deliveries the broker sent, first ones and redeliveries.
    pub delivered: u64,
    pub redelivered: u64,
    /// Deliveries that changed the consumer's state again (double application).
    pub duplicates_applied: u64,
    /// Duplicates the consumer's idempotence method absorbed.
    pub duplicates_ignored: u64,
    /// Credits applied before their debit committed (transient money creation).
    pub credited_before_debit: u64,
    /// Messages applied or deliverable whose business change never committed.
    pub phantom_messages: u64,
    /// Committed business changes whose message is gone (nobody holds or applied it).
    pub lost_messages: u64,
    /// Messages still held for delivery at the end (outbox, broker, retry buffer).
    pub pending_at_end: u64,
    /// Half messages the message service asked the producer about.
    pub checkbacks: u64,
    /// Money debited whose message is still held: in flight, counted in `money.in_doubt`.
    pub in_flight_money: i64,
    /// From the broker accepting a message to its first application.
    pub publish_to_apply_ms: Quantiles,
    /// From the debit committing to the credit applied: time to consistency.
    pub debit_to_credit_ms: Quantiles,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
}

/// One run's report. JSON keys are a stable interface.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub protocol: String,
    pub seed: u64,
    /// Trace digest, hex.
    pub digest: String,
    pub events: u64,
    pub sim_time_ms: f64,
    /// The run hit `max_events` before its end time: nothing was judged at
    /// quiescence (see [`Report::truncated`]).
    pub truncated: bool,
    /// The same as `truncated` (the name older scripts read).
    pub stopped_by_event_guard: bool,
    pub txns: Txns,
    pub violations: Violations,
    pub repair: Repair,
    pub money: Money,
    pub locks: Locks,
    pub availability: f64,
    pub latency_ms: LatencyMs,
    pub per_commit: PerCommit,
    pub network: Network,
    pub faults: u64,
    pub consistency: Consistency,
    pub messaging: MessagingCounts,
    pub calls: Calls,
    pub expectations: Expectations,
    /// Order + inventory and flash-sale business counts (zero for transfers).
    pub business: Business,
    /// TCC fence events (zero for other protocols).
    pub tcc: TccCounts,
    /// The cache and its database (zero for other protocols).
    pub cache: Cache,
    /// The feature switch and its caches (zero for other protocols).
    pub local_cache: LocalCache,
    /// Global ids (zero for other protocols).
    pub ids: Ids,
    /// Facts the protocol reported of its own (`Observation::Fact`), by name: how
    /// many and the sum of their values (absent when none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, FactCount>,
    /// The story in plain words (text output only; see [`crate::story`]).
    #[serde(skip)]
    pub story: Vec<String>,
    /// The protocol's own lines of the text's "Counts" block, at their places (text
    /// output only; the run asks its protocol for them).
    #[serde(skip)]
    pub protocol_counts: Vec<(CountsPlace, CountsLine)>,
    /// How the run did against its protocol's properties over node state (absent
    /// when the protocol has none: the built-ins are judged by the checkers above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyResult>,
}

/// A place in the text report's "Counts" block where a protocol's own lines go (see
/// `Protocol::counts_at`), in the order the block reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CountsPlace {
    /// After the shared counts of transactions, locks, latency, consistency and the
    /// business workloads; before the facts and the network (TCC's fence counts).
    AfterBusiness,
    /// After the network line, before the run line (the messaging counts).
    AfterNetwork,
}

impl CountsPlace {
    /// Every place, in the order the block reads.
    pub const ALL: [CountsPlace; 2] = [CountsPlace::AfterBusiness, CountsPlace::AfterNetwork];
}

/// One line of the text report's "Counts" block: a label in the first column (up to
/// 14 characters keep the column; empty for a line that goes on from the one above)
/// and the text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountsLine {
    pub label: String,
    pub text: String,
}

impl CountsLine {
    pub fn new(label: impl Into<String>, text: impl Into<String>) -> Self {
        CountsLine {
            label: label.into(),
            text: text.into(),
        }
    }
}

impl Report {
    /// Did the run fail, for the exit code? An expectation failed, or — when the
    /// scenario sets no expectation on `violations.*` — an invariant was violated
    /// (DESIGN §7). Scenarios that *expect* violations (the unsafe variants) say so.
    pub fn failed(&self) -> bool {
        let speaks_of_violations = self
            .expectations
            .results
            .iter()
            .any(|e| e.metric.starts_with("violations."));
        self.expectations.failed > 0
            || (!speaks_of_violations
                && (self.violations.atomicity > 0 || self.violations.invariant > 0))
            || self.properties.iter().any(PropertyResult::failed)
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "acidbase run: {} ({}), seed {}",
            self.scenario, self.protocol, self.seed
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "What happened");
        for line in &self.story {
            let _ = writeln!(s, "  - {line}");
        }
        let _ = writeln!(s);
        let t = &self.txns;
        let _ = writeln!(s, "Counts");
        let refused = if t.refused > 0 {
            format!(", {} refused as stale", t.refused)
        } else {
            String::new()
        };
        let _ = writeln!(s, "  transactions   {} committed, {} aborted, {} in doubt, {} unresolved ({} begun, {} requested{refused})", t.committed, t.aborted, t.in_doubt, t.unresolved, t.begun, t.requests);
        let _ = writeln!(
            s,
            "  violations     {} atomicity, {} invariant (money {} -> {})",
            self.violations.atomicity,
            self.violations.invariant,
            self.money.initial,
            self.money.final_
        );
        let l = &self.locks;
        let _ = writeln!(s, "  locks          {} blocked, {:.1} lock-ms blocked, longest hold {:.1} ms, {} held at end", l.blocked, l.lock_ms_total, l.max_hold_ms, l.held_at_end);
        let _ = writeln!(
            s,
            "  availability   {:.1}% of requests answered within the deadline",
            self.availability * 100.0
        );
        let _ = writeln!(
            s,
            "  latency        p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            self.latency_ms.p50, self.latency_ms.p90, self.latency_ms.p99
        );
        let p = &self.per_commit;
        let _ = writeln!(
            s,
            "  per commit     {:.2} messages, {:.2} message delays, {:.2} durable writes",
            p.messages, p.message_delays, p.durable_writes
        );
        consistency_text(&self.consistency, &mut s);
        business_counts_lines(&self.business, &mut s);
        self.protocol_counts_text(CountsPlace::AfterBusiness, &mut s);
        if !self.facts.is_empty() {
            let facts: Vec<String> = self
                .facts
                .iter()
                .map(|(name, f)| format!("{name} {} (sum {})", f.count, f.sum))
                .collect();
            let _ = writeln!(s, "  facts          {}", facts.join(", "));
        }
        let n = &self.network;
        let _ = writeln!(
            s,
            "  network        {} sent, {} delivered, {} dropped, {} duplicated; {} fault actions",
            n.sent, n.delivered, n.dropped, n.duplicated, self.faults
        );
        self.protocol_counts_text(CountsPlace::AfterNetwork, &mut s);
        let _ = writeln!(
            s,
            "  run            {} events, {:.1} ms simulated, digest {}{}",
            self.events,
            self.sim_time_ms,
            self.digest,
            if self.stopped_by_event_guard {
                " (stopped by max_events)"
            } else {
                ""
            }
        );
        if !self.expectations.results.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "Expectations ({} held, {} failed)",
                self.expectations.passed, self.expectations.failed
            );
            for r in &self.expectations.results {
                let _ = writeln!(
                    s,
                    "  {} {} {}  (actual {})",
                    if r.held { "ok  " } else { "FAIL" },
                    r.metric,
                    r.condition,
                    fmt_num(r.actual)
                );
            }
        }
        s
    }

    /// The protocol's own lines of the "Counts" block at `place`.
    fn protocol_counts_text(&self, place: CountsPlace, s: &mut String) {
        for (_, line) in self.protocol_counts.iter().filter(|(p, _)| *p == place) {
            let _ = writeln!(s, "  {:<14} {}", line.label, line.text);
        }
    }
}

/// The consistency lines of the text report (none for protocols that report none).
fn consistency_text(c: &Consistency, s: &mut String) {
    if c.consistent == 0 && c.transient_anomalies == 0 && c.unfinished_at_end == 0 {
        return;
    }
    let t = &c.time_to_consistent_ms;
    let _ = writeln!(
        s,
        "  consistency    {} consistent, time to consistency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} unfinished at end",
        c.consistent, t.p50, t.p99, t.max, c.unfinished_at_end
    );
    let _ = writeln!(
        s,
        "  anomalies      {} transient (money in flight), {:.1} ms in all, longest {:.1} ms; {} still visible at end",
        c.transient_anomalies,
        c.transient_anomaly_ms_total,
        c.transient_anomaly_ms_max,
        c.anomalies_open_at_end
    );
}

/// The business workloads' lines of the "Counts" block (none when the run has
/// nothing to say about them).
fn business_counts_lines(b: &Business, s: &mut String) {
    if b.stock_initial > 0 {
        let _ = writeln!(
            s,
            "  business       {} of {} units sold, {} left for sale, {} stuck in reservations, {} in flight; {} orders released",
            b.sold, b.stock_initial, b.stock_left, b.stuck_in_reservations, b.in_flight, b.released
        );
        let _ = writeln!(
            s,
            "                 {} oversold, {} undersold, {} ordered without stock deduction",
            b.oversold, b.undersold, b.orders_without_deduction
        );
        if b.unpaid_sales + b.charged_without_order > 0 {
            let _ = writeln!(
                s,
                "                 {} sales unpaid, {} payments without their order",
                b.unpaid_sales, b.charged_without_order
            );
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// The value at a dotted path of the JSON report, if it is a number.
pub fn lookup(json: &serde_json::Value, path: &str) -> Option<f64> {
    let mut v = json;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        other => other.as_f64(),
    }
}

/// Every numeric metric path an expectation may name.
pub fn metric_names() -> Vec<String> {
    let json = serde_json::to_value(Report::default()).expect("a report serialises");
    let mut out = Vec::new();
    collect(&json, String::new(), &mut out);
    out
}

fn collect(v: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                if k == "expectations" {
                    continue;
                }
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect(child, p, out);
            }
        }
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => out.push(prefix),
        _ => {}
    }
}

pub fn is_metric(path: &str) -> bool {
    metric_names().iter().any(|m| m == path) || is_fact_metric(path)
}

/// `facts.NAME.count` or `facts.NAME.sum`: a protocol's own fact, which a run that
/// never reports it counts as 0.
pub fn is_fact_metric(path: &str) -> bool {
    path.strip_prefix("facts.")
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(name, field)| !name.is_empty() && (field == "count" || field == "sum"))
}

#[cfg(test)]
mod fact_tests {
    use super::*;

    #[test]
    fn a_protocols_own_facts_are_metrics_and_count_as_zero_when_absent() {
        assert!(is_fact_metric("facts.refused.count") && is_fact_metric("facts.a.b.sum"));
        assert!(!is_fact_metric("facts.refused") && !is_fact_metric("facts..count"));
        assert!(!is_metric("facts.refused.mean") && is_metric("facts.refused.sum"));
        let l = crate::run::parse(
            "(duration_ms: 100, expect: {\"facts.refused.count\": \"== 0\"})",
            "x.ron",
        )
        .expect("a fact metric validates");
        let r = l.run(1, None).report;
        assert_eq!(r.expectations.failed, 0, "{:?}", r.expectations);
        assert!(r.facts.is_empty());
        assert!(crate::run::parse("(expect: {\"facts.x.mean\": \"== 0\"})", "x.ron").is_err());
    }
}
