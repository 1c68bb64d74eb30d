//! [`Report::build`]: one run's results judged — the counts of the report and its
//! expectations checked (the run then has [`crate::story`] tell it).
//!
//! It lives with the run, not in [`crate::report`], because it reads the scenario
//! (names, expectations, guards) and the scenario's validation reads
//! the report's metric names: the report is below the scenario, this is above it.

use crate::checkers::Results;
use crate::engine::RunEnd;
use crate::report::{
    is_fact_metric, lookup, Cache, Calls, Consistency, ExpectationResult, Expectations, Ids,
    LatencyMs, LocalCache, Locks, MessagingCounts, Money, Network, PerCommit, Quantiles, Repair,
    Report, StalenessMs, TimeToConsistentMs, Txns, Violations,
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
    /// checkers' `r`: counts and expectations, no story yet.
    pub fn build(scenario: &Scenario, seed: u64, end: &RunEnd, r: &Results) -> Report {
        let c = &r.counts;
        // Money in in-doubt transactions is in flight, not created or destroyed.
        let money_broken = r.money_initial != r.money_final + r.money_in_doubt;
        // Business invariants at quiescence: money, the order chain, stock and orders.
        let truncated = end.stopped_by_guard;
        let cache = r.cache.finish(end.end_us);
        // Cache entries that still differ from the database after the drain.
        let stale_at_end = if truncated { 0 } else { cache.stale_at_end };
        let local = r.local_cache.finish(end.end_us);
        // Requests charged by both payment paths: damage done, noticed by nobody.
        let twice = if truncated { 0 } else { local.processed_twice };
        // Ids issued twice and accepted orders the orders table lacks; the lost
        // orders reconciliation did not find were noticed by nobody.
        let (ids_broken, ids_unfound) = if truncated {
            (0, 0)
        } else {
            let i = &r.ids;
            let unfound = i.lost_orders.saturating_sub(i.lost_found);
            (i.duplicate_ids + i.lost_orders, unfound)
        };
        // A run cut short never reached quiescence: money, orders and stock still in
        // flight are not broken invariants, so none is judged (atomicity is: a
        // participant's commit or abort is final whenever the checker sees it).
        let invariant = if truncated {
            0
        } else {
            u64::from(money_broken)
                + r.chain.inconsistent
                + r.business.violations()
                + stale_at_end
                + twice
                + ids_broken
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
                    + stale_at_end
                    + twice
                    + ids_unfound
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
            cache: cache_counts(&cache),
            local_cache: local_cache_counts(&local),
            ids: ids_counts(&r.ids),
            facts: r.facts.clone(),
            story: Vec::new(),
            protocol_counts: Vec::new(),
            properties: Vec::new(),
        };
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

fn ids_counts(c: &crate::checkers::IdsCounts) -> Ids {
    Ids {
        issued: c.issued,
        duplicate_ids: c.duplicate_ids,
        non_monotonic: c.non_monotonic,
        out_of_global_order: c.out_of_global_order,
        blocks: c.blocks,
        gaps: c.gaps,
        refused: c.refused,
        waited: c.waited,
        waited_ms_max: ms(c.waited_us_max),
        sequence_waits: c.sequence_waits,
        lease_writes: c.lease_writes,
        recorded: c.recorded,
        dropped_real_orders: c.dropped_real,
        second_ids: c.second_ids,
        accepted: c.accepted,
        lost_orders: c.lost_orders,
        lost_found_by_reconciliation: c.lost_found,
    }
}

fn local_cache_counts(c: &crate::checkers::LocalCacheCounts) -> LocalCache {
    LocalCache {
        flips: c.flips,
        decisions: c.decisions,
        requests_decided: c.requests_decided,
        stale_decisions: c.stale_decisions,
        split_views: c.split_views,
        split_paths: c.split_paths,
        charges: c.charges,
        processed_twice: c.processed_twice,
        double_charged_amount: c.double_charged_amount,
        divergence_windows: c.divergence_windows,
        divergence_ms: StalenessMs {
            p50: ms(c.divergence_p50_us),
            p99: ms(c.divergence_p99_us),
            max: ms(c.divergence_max_us),
        },
        divergence_ms_total: ms(c.divergence_total_us),
        divergent_at_end: c.divergent_at_end,
    }
}

fn cache_counts(c: &crate::checkers::CacheCounts) -> Cache {
    Cache {
        reads: c.reads,
        hits: c.hits,
        misses: c.misses,
        hit_ratio: ratio(c.hits, c.reads),
        db_reads: c.db_reads,
        db_reads_per_read: ratio(c.db_reads, c.reads),
        db_writes: c.db_writes,
        stale_reads: c.stale_reads,
        dirty_reads: c.dirty_reads,
        stale_episodes: c.stale_episodes,
        staleness_ms: StalenessMs {
            p50: ms(c.staleness_p50_us),
            p99: ms(c.staleness_p99_us),
            max: ms(c.staleness_max_us),
        },
        stale_at_end: c.stale_at_end,
        partial_cached: c.partial_cached,
        partial_served: c.partial_served,
        consumer_errors: c.consumer_errors,
        part_retries: c.part_retries,
        reads_failed: c.reads_failed,
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
