//! The report's text for the business workloads and for TCC: count lines and story
//! sentences, shown only when the run has something to say about them.

use crate::report::Report;
use crate::scenario::Scenario;
use std::fmt::Write as _;

/// Extra lines of the "Counts" block.
pub(crate) fn counts_lines(r: &Report, s: &mut String) {
    let b = &r.business;
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
    if r.protocol == "tcc" {
        let t = &r.tcc;
        let _ = writeln!(
            s,
            "  tcc            {} duplicates applied, {} empty rollbacks applied, {} hanging reservations, {} partial compensations ({} unfixed)",
            t.duplicate_applied,
            t.empty_rollback_applied,
            t.hanging_reservations,
            t.partial_compensation,
            t.partial_compensation_unfixed
        );
        let _ = writeln!(
            s,
            "                 guards at work: {} duplicates ignored, {} empty rollbacks recorded, {} late Tries refused",
            t.duplicates_ignored, t.empty_rollbacks_recorded, t.late_tries_refused
        );
    }
}

/// Extra sentences of "What happened".
pub(crate) fn story_lines(scenario: &Scenario, r: &Report, out: &mut Vec<String>) {
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
