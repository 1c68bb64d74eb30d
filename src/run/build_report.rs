//! [`Report::build`]: one run's results judged and told — the counts of the report,
//! its expectations checked, and the story in plain words.
//!
//! It lives with the run, not in [`crate::report`], because it reads the scenario
//! (names, description, expectations, guards) and the scenario's validation reads
//! the report's metric names: the report is below the scenario, this is above it.

use crate::checkers::Results;
use crate::engine::RunEnd;
use crate::faults::FaultPlan;
use crate::node::{NodeId, NodeSet};
use crate::report::{
    is_fact_metric, lookup, Calls, Consistency, ExpectationResult, Expectations, LatencyMs, Locks,
    MessagingCounts, Money, Network, PerCommit, Quantiles, Repair, Report, TimeToConsistentMs,
    Txns, Violations,
};
use crate::scenario::{parse_condition, Scenario};

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
    /// The report of the run of `scenario` with `seed` that ended as `end`, from the
    /// checkers' `r`; `names` and `plan` tell its story.
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
            facts: r.facts.clone(),
            story: Vec::new(),
            properties: Vec::new(),
        };
        report.story = story(scenario, &report, r, names, plan);
        report.check_expectations(scenario);
        report
    }

    fn check_expectations(&mut self, scenario: &Scenario) {
        let json = serde_json::to_value(&*self).expect("a report serialises");
        let mut e = Expectations::default();
        for (metric, cond) in &scenario.expect {
            let (cmp, bound) = parse_condition(cond).expect("conditions were validated");
            let actual = lookup(&json, metric)
                .or_else(|| is_fact_metric(metric).then_some(0.0))
                .expect("metrics were validated");
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
}

fn consistency(c: &crate::checkers::consistency::Summary) -> Consistency {
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

fn messaging_counts(m: &crate::checkers::MessagingResults) -> MessagingCounts {
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
    business_story_lines(scenario, rep, &mut out);
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

/// The business workloads' and TCC's sentences of "What happened" (none when the
/// run has nothing to say about them).
fn business_story_lines(scenario: &Scenario, r: &Report, out: &mut Vec<String>) {
    let t = &r.tcc;
    let g = &scenario.tcc;
    if t.duplicate_applied > 0 {
        out.push(format!(
            "IDEMPOTENCY {}: {} repeated Confirm/Cancel {} applied again — funds or stock deducted or returned twice",
            if g.idempotency { "BROKEN" } else { "GUARD OFF" },
            t.duplicate_applied,
            if t.duplicate_applied == 1 { "was" } else { "were" }
        ));
    } else if t.duplicates_ignored > 0 {
        out.push(format!(
            "The fence recognised {} repeated Confirm/Cancel and applied none of them again (idempotency)",
            t.duplicates_ignored
        ));
    }
    if t.empty_rollback_applied > 0 {
        out.push(format!(
            "EMPTY ROLLBACK APPLIED {} time(s): a Cancel came for a branch that had never tried and \"returned\" a reservation that never existed — money or stock appeared",
            t.empty_rollback_applied
        ));
    } else if t.empty_rollbacks_recorded > 0 {
        out.push(format!(
            "{} Cancel(s) came for branches that had never tried (Try lost, late or refused): recorded in the fence, nothing changed (empty-rollback guard)",
            t.empty_rollbacks_recorded
        ));
    }
    if t.hanging_reservations > 0 {
        out.push(format!(
            "HANGING: {} Try(s) arrived after their Cancel and reserved anyway; the coordinator has finished, so nobody will ever confirm or cancel them",
            t.hanging_reservations
        ));
    } else if t.late_tries_refused > 0 {
        out.push(format!(
            "{} Try(s) arrived after their Cancel and were refused (anti-hanging guard)",
            t.late_tries_refused
        ));
    }
    if t.partial_compensation > 0 {
        out.push(format!(
            "{} Cancel(s) reached only some participants at first (partial compensation); retries completed {} of them{}",
            t.partial_compensation,
            t.partial_compensation - t.partial_compensation_unfixed,
            if t.partial_compensation_unfixed > 0 {
                format!(", {} still need an operator", t.partial_compensation_unfixed)
            } else {
                String::new()
            }
        ));
    }
    let b = &r.business;
    if b.stock_initial > 0 {
        out.push(match scenario.workload {
            crate::scenario::WorkloadSpec::FlashSale(_) => {
                "rm1 is the order service, rm2 the inventory, rm3 the payment service.".into()
            }
            _ => "rm1 is the order service, rm2 the inventory.".to_string(),
        });
        if b.oversold > 0 {
            out.push(format!(
                "OVERSOLD: {} units sold beyond the stock",
                b.oversold
            ));
        }
        if b.undersold > 0 {
            out.push(format!(
                "UNDERSOLD: {} units deducted from stock with no order for them",
                b.undersold
            ));
        }
        if b.orders_without_deduction > 0 {
            out.push(format!(
                "ORDERS WITHOUT DEDUCTION: {} units ordered with no stock deducted",
                b.orders_without_deduction
            ));
        }
        if b.unpaid_sales > 0 {
            out.push(format!(
                "UNPAID SALES: {} order(s) committed with their stock while the payment rolled back — goods given away",
                b.unpaid_sales
            ));
        }
        if b.charged_without_order > 0 {
            out.push(format!(
                "CHARGED WITHOUT ORDER: {} payment(s) committed while the order rolled back",
                b.charged_without_order
            ));
        }
        if b.stuck_in_reservations > 0 {
            out.push(format!(
                "{} units of stock are stuck at the end, held by branches nobody will finish without help",
                b.stuck_in_reservations
            ));
        }
        if b.violations() == 0 {
            out.push(format!(
                "Orders and stock agree: {} of {} units sold, every deduction has its order.",
                b.sold, b.stock_initial
            ));
        }
    }
}
