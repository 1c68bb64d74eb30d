//! The run report's story, "What happened": the run told in plain words from its
//! results, its faults and its report's counts, the protocol's own part at the places
//! it is given ([`ProtocolPart`]).

use super::{ProtocolPart, StoryPlace};
use crate::checkers::Results;
use crate::faults::FaultPlan;
use crate::node::{NodeId, NodeSet};
use crate::report::Report;
use crate::scenario::Scenario;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
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
    for c in &plan.clock_steps {
        let way = if c.step_us < 0 { "back" } else { "forward" };
        out.push((
            c.at_us,
            format!(
                "{}'s wall clock stepped {way} {:.1} ms at {:.1} ms (as NTP steps a clock; its timers were not moved)",
                name(c.node),
                c.step_us.unsigned_abs() as f64 / 1000.0,
                ms(c.at_us)
            ),
        ));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// The story of the run of `scenario` whose checkers' results are `r` and whose
/// report (counts, expectations and properties) is `rep`; `names` and `plan` tell its
/// faults, and `protocol` its own part.
pub fn tell(
    scenario: &Scenario,
    rep: &Report,
    r: &Results,
    names: &[String],
    plan: &FaultPlan,
    protocol: &dyn ProtocolPart,
) -> Vec<String> {
    let name = |n: NodeId| node_name(names, n);
    let mut out = Vec::new();
    if rep.truncated {
        out.push(format!(
            "TRUNCATED: the run hit max_events ({}) at {:.1} ms of virtual time, before its end: what was still in flight was not judged — no invariant, and no unresolved or end-of-run count, means what it would at quiescence. Raise max_events or make the scenario smaller.",
            scenario.max_events, rep.sim_time_ms
        ));
    }
    // The file's description is its author's claim about the file as written; under
    // another protocol or other faults it may not hold, so it is said as the
    // scenario's, not as what this run did.
    if !scenario.description.is_empty() {
        out.push(format!("The scenario: {}", scenario.description.trim()));
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
        // How the wait ended: an outcome learned, or one a participant took alone
        // (`DecidedAlone`), which the rule in the sentence forbids.
        let alone: Vec<String> = same
            .iter()
            .filter(|e| e.decided_alone)
            .filter_map(|e| e.node)
            .map(name)
            .collect();
        let ending = if alone.is_empty() {
            format!(
                "so it waited until it learned the outcome (by {:.1} ms)",
                ms(resolved)
            )
        } else if alone.len() == same.len() {
            format!(
                "yet {} stopped waiting and took an outcome of {} own, without learning the transaction's (by {:.1} ms)",
                if alone.len() == 1 { "it" } else { "each" },
                if alone.len() == 1 { "its" } else { "their" },
                ms(resolved)
            )
        } else {
            format!(
                "so it waited until it learned the outcome (by {:.1} ms), except {}, which took an outcome of {} own",
                ms(resolved),
                alone.join(", "),
                if alone.len() == 1 { "its" } else { "their" }
            )
        };
        out.push(format!(
            "{} had voted yes on txn {} and {} in doubt for {span}{}: a participant that voted yes may neither commit nor abort on its own, {ending}{}",
            who.join(", "),
            first.txn,
            if who.len() == 1 { "was" } else { "were" },
            if locks > 0 { format!(", holding {locks} lock{}", if locks == 1 { "" } else { "s" }) } else { String::new() },
            protocol.blocking_name().map_or_else(String::new, |n| format!(" — {n}"))
        ));
        let others = r
            .blocked_episodes
            .iter()
            .filter(|e| e.txn != first.txn)
            .count();
        if others > 0 {
            // Only what the episodes say: how long they waited, not how it ended (the
            // checker keeps the longest few, so a full list is a lower bound).
            let full = r.blocked_episodes.len() >= crate::checkers::BLOCKED_EPISODES_KEPT;
            out.push(format!(
                "{}{others} more participant(s) of other transactions were in doubt longer than {} ms too",
                if full { "At least " } else { "" },
                scenario.checks.blocked_after_ms
            ));
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
            "Still in doubt at the end: {}{} — they voted yes and never learned the outcome",
            first.join(", "),
            if r.in_doubt_at_end.len() > 4 {
                format!(" and {} more", r.in_doubt_at_end.len() - 4)
            } else {
                String::new()
            }
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
    } else if r.money_initial != 0 {
        // (A world with no balances at all, such as the cache's, has nothing to say.)
        out.push(format!(
            "Money is conserved: {} at the start and at the end.",
            r.money_initial
        ));
    }
    if r.chain.inconsistent > 0 {
        let kinds = r.chain.by_kind.iter().map(|(k, n)| format!("{n} {k:?}"));
        let ex = r
            .chain
            .examples
            .iter()
            .map(|(t, k)| format!("order {t} {k:?}"));
        out.push(format!(
            "ORDERS INCONSISTENT ACROSS SERVICES at the end: {} of {} ({}), e.g. {}; {} flagged for an operator, the rest silent",
            r.chain.inconsistent,
            r.chain.orders,
            kinds.collect::<Vec<_>>().join(", "),
            ex.collect::<Vec<_>>().join(", "),
            rep.repair.operator
        ));
    }
    out.extend(protocol.story_at(StoryPlace::AfterChecks, rep));
    business_story_lines(scenario, rep, &mut out);
    if rep.txns.begun > 0
        && rep.violations.atomicity == 0
        && rep.txns.unresolved == 0
        && r.chain.inconsistent == 0
    {
        // A branch in doubt at the end whose transaction has its outcome (a TCC Try
        // that reserved after its Cancel) is not an ending: say so.
        out.push(if rep.txns.in_doubt == 0 {
            format!(
                "Every transaction ended consistently: {} committed, {} aborted.",
                rep.txns.committed, rep.txns.aborted
            )
        } else {
            format!(
                "Every transaction has one outcome: {} committed, {} aborted; but {} of them still have a participant in doubt at the end",
                rep.txns.committed, rep.txns.aborted, rep.txns.in_doubt
            )
        });
    }
    consistency_story(rep, protocol, &mut out);
    for p in rep.properties.iter().filter(|p| p.failed()) {
        out.push(format!("PROPERTY BROKEN: {}", p.describe()));
    }
    out.extend(protocol.story_end(rep));
    out
}

/// BASE's part of the story (nothing for protocols that report no consistency).
fn consistency_story(rep: &Report, protocol: &dyn ProtocolPart, out: &mut Vec<String>) {
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
    out.extend(protocol.story_at(StoryPlace::SoftState, rep));
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
    // Each fence guard: what got through it (told first), else what it stopped.
    let guards = [
        (
            t.duplicate_applied,
            format!(
                "IDEMPOTENCY {}: {} repeated Confirm/Cancel {} applied again — funds or stock deducted or returned twice",
                if g.idempotency { "BROKEN" } else { "GUARD OFF" },
                t.duplicate_applied,
                if t.duplicate_applied == 1 { "was" } else { "were" }
            ),
            t.duplicates_ignored,
            format!(
                "The fence recognised {} repeated Confirm/Cancel and applied none of them again (idempotency)",
                t.duplicates_ignored
            ),
        ),
        (
            t.empty_rollback_applied,
            format!(
                "EMPTY ROLLBACK APPLIED {} time(s): a Cancel came for a branch that had never tried and \"returned\" a reservation that never existed — money or stock appeared",
                t.empty_rollback_applied
            ),
            t.empty_rollbacks_recorded,
            format!(
                "{} Cancel(s) came for branches that had never tried (Try lost, late or refused): recorded in the fence, nothing changed (empty-rollback guard)",
                t.empty_rollbacks_recorded
            ),
        ),
        (
            t.hanging_reservations,
            format!(
                "HANGING: {} Try(s) arrived after their Cancel and reserved anyway; the coordinator has finished, so nobody will ever confirm or cancel them",
                t.hanging_reservations
            ),
            t.late_tries_refused,
            format!(
                "{} Try(s) arrived after their Cancel and were refused (anti-hanging guard)",
                t.late_tries_refused
            ),
        ),
    ];
    for (through, broken, stopped, held) in guards {
        if through > 0 {
            out.push(broken);
        } else if stopped > 0 {
            out.push(held);
        }
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
        // Each count that is not zero, in words: (count, before it, after it).
        let counted: [(i128, &str, &str); 6] = [
            (i128::from(b.oversold), "OVERSOLD: ", " units sold beyond the stock"),
            (i128::from(b.undersold), "UNDERSOLD: ", " units deducted from stock with no order for them"),
            (i128::from(b.orders_without_deduction), "ORDERS WITHOUT DEDUCTION: ", " units ordered with no stock deducted"),
            (i128::from(b.unpaid_sales), "UNPAID SALES: ", " order(s) committed with their stock while the payment rolled back — goods given away"),
            (i128::from(b.charged_without_order), "CHARGED WITHOUT ORDER: ", " payment(s) committed while the order rolled back"),
            (i128::from(b.stuck_in_reservations), "", " units of stock are stuck at the end, held by branches nobody will finish without help"),
        ];
        for (n, before, after) in counted {
            if n > 0 {
                out.push(format!("{before}{n}{after}"));
            }
        }
        if b.violations() == 0 {
            out.push(format!(
                "Orders and stock agree: {} of {} units sold, every deduction has its order.",
                b.sold, b.stock_initial
            ));
        }
    }
}
