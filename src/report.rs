//! The report of one run: JSON for machines (a stable interface, documented in
//! `book/src/counts.md`) and plain words for people.
//!
//! A report only presents results; it never changes them.

use crate::checks::Results;
use crate::checks::TccCounts;
use crate::engine::RunEnd;
use crate::faults::FaultPlan;
use crate::node::{NodeId, NodeSet};
use crate::property::PropertyResult;
use crate::scenario::{parse_condition, Scenario};
use crate::workload::business::Business;
use serde::Serialize;
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
    /// The story in plain words (text output only).
    #[serde(skip)]
    pub story: Vec<String>,
    /// How the run did against its protocol's properties over node state (absent
    /// when the protocol has none: the built-ins are judged by the checkers above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyResult>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl Report {
    pub fn build(
        scenario: &Scenario,
        seed: u64,
        end: &RunEnd,
        r: &Results,
        names: &[String],
        plan: &FaultPlan,
    ) -> Report {
        let c = &r.counts;
        // Money in in-doubt transactions is in flight, not created or destroyed.
        let money_broken = r.money_initial != r.money_final + r.money_in_doubt;
        // Business invariants at quiescence: money, the order chain, stock and orders.
        let truncated = end.stopped_by_guard;
        // A run cut short never reached quiescence: money, orders and stock still in
        // flight are not broken invariants, so none is judged (atomicity is: a
        // participant's commit or abort is final whenever the checker sees it).
        let invariant = if truncated {
            0
        } else {
            u64::from(money_broken) + r.chain.inconsistent + r.business.violations()
        };
        let mut report = Report {
            scenario: scenario.name.clone(),
            protocol: scenario.protocol.clone(),
            seed,
            digest: format!("{:016x}", end.digest),
            events: end.stats.events,
            sim_time_ms: ms(end.end_us),
            truncated,
            stopped_by_event_guard: truncated,
            txns: Txns {
                committed: c.committed,
                aborted: c.aborted,
                in_doubt: r.in_doubt,
                unresolved: r.unresolved,
                begun: c.begun,
                requests: c.requests,
                refused: c.refused,
            },
            violations: Violations {
                atomicity: c.atomicity_violations,
                invariant,
            },
            repair: Repair {
                automatic: c.repaired_automatic,
                operator: c.flagged_operator,
                // Broken transactions at the end that nobody flagged, each once: a
                // transaction that broke atomicity also breaks money or stock, so the
                // balances count on their own only when none did.
                silent: (c.atomicity_violations
                    + if truncated { 0 } else { r.chain.inconsistent }
                    + if c.atomicity_violations == 0 {
                        u64::from(money_broken) + r.business.violations()
                    } else {
                        0
                    })
                .saturating_sub(c.flagged_operator),
            },
            money: Money {
                initial: r.money_initial,
                final_: r.money_final,
                in_doubt: r.money_in_doubt,
            },
            locks: Locks {
                blocked: c.blocked_locks,
                lock_ms_total: ms(c.lock_us_total),
                max_hold_ms: ms(c.max_hold_us),
                held_at_end: r.held_at_end.len() as u64,
            },
            availability: ratio(c.answered_in_time, c.requests),
            latency_ms: LatencyMs {
                p50: ms(r.latency_p50_us),
                p90: ms(r.latency_p90_us),
                p99: ms(r.latency_p99_us),
            },
            per_commit: PerCommit {
                messages: ratio(c.protocol_messages, c.committed),
                message_delays: ratio(c.delays_sum, c.delays_n),
                durable_writes: ratio(c.durable_writes, c.committed),
            },
            network: Network {
                sent: end.stats.sends,
                delivered: end.stats.deliveries,
                dropped: end.stats.dropped_loss
                    + end.stats.dropped_partition
                    + end.stats.dropped_receiver_down,
                duplicated: end.stats.duplicated,
            },
            faults: r.faults_total,
            consistency: consistency(&r.consistency),
            messaging: messaging_counts(&r.messaging),
            calls: Calls {
                timeouts: c.calls.timeouts,
                queries: c.calls.queries,
                compensations: c.calls.compensations,
                retries: c.calls.retries,
                lost_orders: c.calls.lost_orders,
                state_mismatches: c.calls.state_mismatches,
                found_by_reconciliation: c.calls.found_by_reconciliation(),
                reconciliation_batches: c.calls.reconciliation_batches,
                reconciliation_passes: c.calls.reconciliation_passes,
                reconciliation_pass_ms_max: ms(c.calls.reconciliation_pass_us_max),
                inconsistent_at_end: r.chain.inconsistent,
                archived_orders: r.chain.archived,
                late_for_archived: c.calls.late_for_archived,
            },
            expectations: Expectations::default(),
            business: r.business.clone(),
            tcc: r.tcc.clone(),
            story: Vec::new(),
            properties: Vec::new(),
        };
        report.story = story(scenario, &report, r, names, plan);
        report.check_expectations(scenario);
        report
    }

    /// Records the property results of the run, with a story sentence for each
    /// broken one.
    pub fn set_properties(&mut self, results: Vec<PropertyResult>) {
        for r in results.iter().filter(|r| r.failed()) {
            self.story
                .push(format!("PROPERTY BROKEN: {}", r.describe()));
        }
        self.properties = results;
    }

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

    fn check_expectations(&mut self, scenario: &Scenario) {
        let json = serde_json::to_value(&*self).expect("a report serialises");
        let mut e = Expectations::default();
        for (metric, cond) in &scenario.expect {
            let (cmp, bound) = parse_condition(cond).expect("conditions were validated");
            let actual = lookup(&json, metric).expect("metrics were validated");
            let held = cmp.holds(actual, bound);
            if held {
                e.passed += 1;
            } else {
                e.failed += 1;
            }
            e.results.push(ExpectationResult {
                metric: metric.clone(),
                condition: cond.clone(),
                actual,
                held,
            });
        }
        self.expectations = e;
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
        crate::report_business::counts_lines(self, &mut s);
        let n = &self.network;
        let _ = writeln!(
            s,
            "  network        {} sent, {} delivered, {} dropped, {} duplicated; {} fault actions",
            n.sent, n.delivered, n.dropped, n.duplicated, self.faults
        );
        if self.protocol == "messaging" {
            s.push_str(&messaging_text(&self.messaging));
        }
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
}

fn consistency(c: &crate::consistency::Summary) -> Consistency {
    Consistency {
        consistent: c.consistent,
        time_to_consistent_ms: TimeToConsistentMs {
            p50: ms(c.time_to_consistent_p50_us),
            p90: ms(c.time_to_consistent_p90_us),
            p99: ms(c.time_to_consistent_p99_us),
            max: ms(c.time_to_consistent_max_us),
        },
        transient_anomalies: c.anomalies,
        transient_anomaly_ms_total: ms(c.anomaly_us_total),
        transient_anomaly_ms_max: ms(c.anomaly_us_max),
        anomalies_open_at_end: c.anomalies_open_at_end,
        unfinished_at_end: c.unfinished_at_end,
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

fn messaging_counts(m: &crate::checks::MessagingResults) -> MessagingCounts {
    MessagingCounts {
        published: m.published,
        delivered: m.delivered,
        redelivered: m.redelivered,
        duplicates_applied: m.duplicates_applied,
        duplicates_ignored: m.duplicates_ignored,
        credited_before_debit: m.credited_before_debit,
        phantom_messages: m.phantom_messages,
        lost_messages: m.lost_messages,
        pending_at_end: m.pending_at_end,
        checkbacks: m.checkbacks,
        in_flight_money: m.in_flight_money,
        publish_to_apply_ms: Quantiles {
            p50: ms(m.publish_to_apply_p50_us),
            p99: ms(m.publish_to_apply_p99_us),
        },
        debit_to_credit_ms: Quantiles {
            p50: ms(m.debit_to_credit_p50_us),
            p99: ms(m.debit_to_credit_p99_us),
        },
    }
}

/// What the messaging counts mean, in plain words (reliable-messaging runs only).
pub fn messaging_story(m: &MessagingCounts) -> Vec<String> {
    let mut out = Vec::new();
    // Only what the counts show: the cause (a crash, a refusal, a forgetful broker) is
    // told by the rest of the story when it happened, not guessed here.
    if m.phantom_messages > 0 {
        out.push(format!("PHANTOM MESSAGES: {} message(s) credited (or still deliverable) whose debit never committed — money created", m.phantom_messages));
    }
    if m.lost_messages > 0 {
        out.push(format!("LOST MESSAGES: {} debit(s) committed whose message nobody holds and nobody applied — money destroyed", m.lost_messages));
    }
    if m.duplicates_applied > 0 {
        out.push(format!("DOUBLE APPLICATION: {} redelivered message(s) were applied again by a consumer without idempotence — at-least-once delivery needs an idempotent consumer", m.duplicates_applied));
    }
    if m.duplicates_ignored > 0 {
        out.push(format!("{} duplicate delivery(ies) reached a consumer and its idempotence method kept them harmless", m.duplicates_ignored));
    }
    if m.pending_at_end > 0 {
        out.push(format!(
            "{} message(s) still pending at the end ({} of money in flight): not yet consistent",
            m.pending_at_end, m.in_flight_money
        ));
    }
    out
}

/// The messaging counts in plain words (reliable-messaging runs only).
fn messaging_text(m: &MessagingCounts) -> String {
    format!(
        "  messaging      {} published, {} delivered ({} redelivered), {} duplicates applied, {} ignored, {} phantom, {} lost, {} pending at end, {} check-backs; publish→apply p50 {:.1} ms p99 {:.1} ms; debit→credit p50 {:.1} ms p99 {:.1} ms\n",
        m.published,
        m.delivered,
        m.redelivered,
        m.duplicates_applied,
        m.duplicates_ignored,
        m.phantom_messages,
        m.lost_messages,
        m.pending_at_end,
        m.checkbacks,
        m.publish_to_apply_ms.p50,
        m.publish_to_apply_ms.p99,
        m.debit_to_credit_ms.p50,
        m.debit_to_credit_ms.p99
    )
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
    metric_names().iter().any(|m| m == path)
}

/// A node's name from the scenario (never fails: an unknown id prints as `nodeN`).
fn node_name(names: &[String], n: NodeId) -> String {
    names
        .get(n.index())
        .cloned()
        .unwrap_or_else(|| format!("node{}", n.0))
}

/// The faults of the plan in plain words, in time order.
fn describe_faults(plan: &FaultPlan, names: &[String]) -> Vec<(u64, String)> {
    let name = |n: NodeId| node_name(names, n);
    let set = |s: NodeSet| s.iter().map(name).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    for c in &plan.crashes {
        out.push((
            c.at_us,
            match c.restart_us {
                Some(r) => format!(
                    "{} crashed at {:.1} ms and restarted at {:.1} ms (volatile state lost, log kept, recovery from the log)",
                    name(c.node),
                    ms(c.at_us),
                    ms(r)
                ),
                None => format!("{} crashed at {:.1} ms and never restarted", name(c.node), ms(c.at_us)),
            },
        ));
    }
    for p in &plan.partitions {
        let window = format!("from {:.1} to {:.1} ms", ms(p.from_us), ms(p.to_us));
        let text = match &p.cuts[..] {
            [one] => format!(
                "messages from {} to {} were dropped {window}",
                set(one.from),
                set(one.to)
            ),
            [a, b] if a.from == b.to && a.to == b.from => {
                format!(
                    "a partition separated {{{}}} from {{{}}} {window}",
                    set(a.from),
                    set(a.to)
                )
            }
            cuts => {
                let mut groups: Vec<NodeSet> = Vec::new();
                for c in cuts {
                    if !groups.contains(&c.from) {
                        groups.push(c.from);
                    }
                }
                let groups: Vec<String> = groups
                    .into_iter()
                    .map(|g| format!("{{{}}}", set(g)))
                    .collect();
                format!(
                    "a partition split the nodes into {} {window}",
                    groups.join(", ")
                )
            }
        };
        out.push((p.from_us, text));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn story(
    scenario: &Scenario,
    rep: &Report,
    r: &Results,
    names: &[String],
    plan: &FaultPlan,
) -> Vec<String> {
    let name = |n: NodeId| node_name(names, n);
    let mut out = Vec::new();
    if rep.truncated {
        out.push(format!(
            "TRUNCATED: the run hit max_events ({}) at {:.1} ms of virtual time, before its end: what was still in flight was not judged — no invariant, and no unresolved or end-of-run count, means what it would at quiescence. Raise max_events or make the scenario smaller.",
            scenario.max_events, rep.sim_time_ms
        ));
    }
    if !scenario.description.is_empty() {
        out.push(scenario.description.trim().to_string());
    }
    const FAULT_LINES: usize = 8;
    let faults = describe_faults(plan, names);
    if faults.is_empty() {
        out.push("No crash or partition happened.".into());
    }
    for (_, line) in faults.iter().take(FAULT_LINES) {
        out.push(line.clone());
    }
    if faults.len() > FAULT_LINES {
        out.push(format!(
            "... and {} more crashes or partitions",
            faults.len() - FAULT_LINES
        ));
    }
    // The transaction whose participant stayed in doubt longest makes the story.
    let longest = r
        .blocked_episodes
        .iter()
        .max_by_key(|e| (e.in_doubt_us, std::cmp::Reverse(e.txn)));
    if let Some(first) = longest {
        let same: Vec<_> = r
            .blocked_episodes
            .iter()
            .filter(|e| e.txn == first.txn)
            .collect();
        let who: Vec<String> = same.iter().filter_map(|e| e.node).map(name).collect();
        let locks: u32 = same.iter().map(|e| e.locks).sum();
        let lo = same.iter().map(|e| e.in_doubt_us).min().unwrap_or(0);
        let hi = same.iter().map(|e| e.in_doubt_us).max().unwrap_or(0);
        let resolved = same.iter().map(|e| e.resolved_at_us).max().unwrap_or(0);
        let span = if lo == hi {
            format!("{:.1} ms", ms(hi))
        } else {
            format!("{:.1}–{:.1} ms", ms(lo), ms(hi))
        };
        out.push(format!(
            "{} had voted yes on txn {} and {} in doubt for {span}{}: a participant that voted yes may neither commit nor abort on its own, so it waited until it learned the outcome (by {:.1} ms){}",
            who.join(", "),
            first.txn,
            if who.len() == 1 { "was" } else { "were" },
            if locks > 0 { format!(", holding {locks} lock{}", if locks == 1 { "" } else { "s" }) } else { String::new() },
            ms(resolved),
            if scenario.protocol == "2pc" { " — 2PC's blocking problem" } else { "" }
        ));
        let others = r
            .blocked_episodes
            .iter()
            .filter(|e| e.txn != first.txn)
            .count();
        if others > 0 {
            out.push(format!("{others} more participant(s) of other transactions were blocked the same way (see locks.blocked)"));
        }
    }
    let refused = r.counts.refused;
    if refused > 0 {
        out.push(format!(
            "{refused} request{} reached the restarted coordinator with an id below its durable bound: it could not tell whether its earlier incarnation had begun {}, so it refused {} as stale instead of beginning a second instance; the client got no answer for {} and moved its ids above the bound",
            if refused == 1 { "" } else { "s" },
            if refused == 1 { "it" } else { "them" },
            if refused == 1 { "it" } else { "them" },
            if refused == 1 { "it" } else { "them" },
        ));
    }
    for ex in &r.examples {
        let c: Vec<_> = ex.committed.iter().map(|n| name(*n)).collect();
        let a: Vec<_> = ex.aborted.iter().map(|n| name(*n)).collect();
        let what = match (c.is_empty(), a.is_empty(), ex.decided) {
            (false, false, _) => {
                format!("{} committed while {} aborted", c.join(", "), a.join(", "))
            }
            (true, false, _) => format!(
                "Commit was decided (and answered) while {} aborted",
                a.join(", ")
            ),
            (false, true, _) => format!("Abort was decided while {} committed", c.join(", ")),
            (true, true, _) => "both Commit and Abort were decided".to_string(),
        };
        out.push(format!(
            "ATOMICITY VIOLATED on txn {}: {what} (seen at {:.1} ms)",
            ex.txn,
            ms(ex.at_us)
        ));
    }
    if !r.in_doubt_at_end.is_empty() {
        let first: Vec<String> = r
            .in_doubt_at_end
            .iter()
            .take(4)
            .map(|d| {
                format!(
                    "{} on txn {} (for {:.1} ms)",
                    name(d.node),
                    d.txn,
                    ms(d.for_us)
                )
            })
            .collect();
        out.push(format!(
            "Still in doubt at the end: {}{} — they voted yes and nobody they can reach knows the outcome",
            first.join(", "),
            if r.in_doubt_at_end.len() > 4 { format!(" and {} more", r.in_doubt_at_end.len() - 4) } else { String::new() }
        ));
    }
    let blocked_end: Vec<_> = r.held_at_end.iter().filter(|h| h.in_doubt).collect();
    if !blocked_end.is_empty() {
        let h = blocked_end[0];
        out.push(format!(
            "{} lock{} still held by in-doubt transactions at the end (e.g. key {} on {} for txn {}, held {:.1} ms): other transactions touching those keys are refused",
            blocked_end.len(),
            if blocked_end.len() == 1 { " is" } else { "s are" },
            h.key,
            name(h.node),
            h.txn,
            ms(h.held_us)
        ));
    }
    let accounted = r.money_final + r.money_in_doubt;
    if accounted != r.money_initial {
        let pending = if r.money_in_doubt != 0 {
            format!(", counting {} still in doubt", r.money_in_doubt)
        } else {
            String::new()
        };
        out.push(format!(
            "MONEY NOT CONSERVED: {} at the start, {accounted} at the end ({:+}){pending}",
            r.money_initial,
            accounted - r.money_initial
        ));
    } else if r.money_in_doubt != 0 {
        out.push(format!(
            "Money is conserved, but {} of it is in flight in in-doubt transactions: the balances add up to {} of {}",
            r.money_in_doubt.abs(),
            r.money_final,
            r.money_initial
        ));
    } else {
        out.push(format!(
            "Money is conserved: {} at the start and at the end.",
            r.money_initial
        ));
    }
    if r.chain.inconsistent > 0 {
        let kinds: Vec<String> = r
            .chain
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k:?}"))
            .collect();
        let ex: Vec<String> = r
            .chain
            .examples
            .iter()
            .map(|(t, k)| format!("order {t} {k:?}"))
            .collect();
        out.push(format!(
            "ORDERS INCONSISTENT ACROSS SERVICES at the end: {} of {} ({}), e.g. {}; {} flagged for an operator, the rest silent",
            r.chain.inconsistent,
            r.chain.orders,
            kinds.join(", "),
            ex.join(", "),
            rep.repair.operator
        ));
    }
    if rep.protocol == "calls" {
        let c = &rep.calls;
        out.push(format!(
            "Service calls: {} timeouts, {} queries, {} compensations, {} retries; reconciliation found {} lost orders and {} state mismatches in {} pages",
            c.timeouts, c.queries, c.compensations, c.retries, c.lost_orders, c.state_mismatches, c.reconciliation_batches
        ));
        if c.reconciliation_batches > 0 && c.reconciliation_passes == 0 {
            out.push("No reconciliation pass ever finished: each period restarts the pass before it reaches its end. Raise calls.period_ms or calls.page_size".into());
        }
    }
    crate::report_business::story_lines(scenario, rep, &mut out);
    if rep.violations.atomicity == 0 && rep.txns.unresolved == 0 && r.chain.inconsistent == 0 {
        out.push(format!(
            "Every transaction ended consistently: {} committed, {} aborted.",
            rep.txns.committed, rep.txns.aborted
        ));
    }
    consistency_story(rep, &mut out);
    out
}

/// BASE's part of the story (nothing for protocols that report no consistency).
fn consistency_story(rep: &Report, out: &mut Vec<String>) {
    let c = &rep.consistency;
    if c.consistent == 0 && c.unfinished_at_end == 0 && c.transient_anomalies == 0 {
        return;
    }
    if c.transient_anomalies > 0 {
        out.push(format!(
            "A reader could see money in flight (debited, not yet credited) {} time(s), for {:.1} ms at most: BASE's soft state, visible because no global lock hides it",
            c.transient_anomalies, c.transient_anomaly_ms_max
        ));
    }
    if rep.repair.automatic > 0 && rep.protocol == "saga" {
        out.push(format!(
            "The recovery job drove {} transaction(s) that a fault left unfinished to a consistent end (forward or compensated); the slowest became consistent {:.1} ms after the fault healed",
            rep.repair.automatic, c.time_to_consistent_ms.max
        ));
    }
    if rep.repair.operator > 0 && rep.protocol == "saga" {
        out.push(format!(
            "The recovery job gave up on {} transaction(s) and flagged them for an operator",
            rep.repair.operator
        ));
    }
    if c.unfinished_at_end > 0 {
        out.push(format!(
            "UNFINISHED at the end: {} transaction(s) neither completed nor compensated{} — nothing drives them to an end",
            c.unfinished_at_end,
            if c.anomalies_open_at_end > 0 {
                format!(", {} of them with money in flight forever", c.anomalies_open_at_end)
            } else {
                String::new()
            }
        ));
    }
}
