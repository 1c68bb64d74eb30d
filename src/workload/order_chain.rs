//! The "place order → pay → ship" chain: three services, each with its own store, and
//! the business rule that says when their records of one order agree.
//!
//! The order service takes the client's order, the payment service charges it and the
//! shipping service ships it. Each keeps its own record keyed by the order's request
//! id (the survey's "流水号"); nothing locks across services, so the records may disagree
//! while calls are in flight, and must agree at quiescence. [`check`] is that rule; the
//! checkers apply it to the end-of-run audits of every service.
//!
//! The records themselves ([`ChainRecord`], [`OrderState`], [`PaymentState`]) are
//! audit vocabulary, defined in [`crate::observe`] with the audit item that carries
//! them, and re-exported here.

use serde::Serialize;

pub use crate::observe::{ChainRecord, OrderState, PaymentState};

/// What the three services hold about one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderView {
    pub order: Option<OrderState>,
    pub payment: Option<PaymentState>,
    pub charges: u32,
    pub shipped: bool,
}

impl OrderView {
    pub fn add(&mut self, r: ChainRecord) {
        match r {
            ChainRecord::Order(s) => self.order = Some(s),
            ChainRecord::Payment { state, charges } => {
                self.payment = Some(state);
                self.charges = charges;
            }
            ChainRecord::Shipping => self.shipped = true,
            // Archives are not one order's record (see `checks::audit_chain`).
            ChainRecord::OrdersArchived { .. }
            | ChainRecord::PaymentsArchived { .. }
            | ChainRecord::ShipmentsArchived { .. } => {}
        }
    }
}

/// A way the services disagree about an order at quiescence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Inconsistency {
    /// Money was taken more than once for one order.
    ChargedTwice,
    /// Payment or shipping has a record of an order the order service does not know
    /// (a lost order on the caller's side).
    UnknownOrder,
    /// The order never reached a final state (still paying or cancelling).
    Unfinished,
    /// Paid, but the goods were not shipped (a lost order on the shipping side).
    PaidNotShipped,
    /// Shipped (or paid) without a charge.
    NotCharged,
    /// Cancelled, but the money was kept or the goods shipped.
    CancelledButCharged,
    /// Both sides have the order, in different states (paid here, shipped there).
    StateMismatch,
    /// The services' archives disagree: the callees archived more or fewer charges,
    /// refunds and shipments (or a pending charge, or a double one) than the orders
    /// the order service archived as shipped and cancelled. Each unit of difference
    /// counts one. Never expected: an order is archived only when final, confirmed and
    /// so consistent everywhere.
    ArchiveMismatch,
}

/// The business rule: `None` if the three records agree on a final state.
pub fn check(v: &OrderView) -> Option<Inconsistency> {
    use Inconsistency as I;
    let charged = v.payment.is_some_and(PaymentState::charged);
    if v.charges > 1 {
        return Some(I::ChargedTwice);
    }
    match v.order {
        None if charged || v.shipped => Some(I::UnknownOrder),
        None => None,
        Some(OrderState::Paying | OrderState::Cancelling) => Some(I::Unfinished),
        Some(OrderState::Paid) if !charged => Some(I::NotCharged),
        Some(OrderState::Paid) if v.shipped => Some(I::StateMismatch),
        Some(OrderState::Paid) => Some(I::PaidNotShipped),
        Some(OrderState::Shipped) if !charged => Some(I::NotCharged),
        Some(OrderState::Shipped) if !v.shipped => Some(I::StateMismatch),
        Some(OrderState::Shipped) => None,
        Some(OrderState::Cancelled) if charged || v.shipped => Some(I::CancelledButCharged),
        Some(OrderState::Cancelled) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(order: Option<OrderState>, payment: Option<PaymentState>, shipped: bool) -> OrderView {
        OrderView {
            order,
            payment,
            charges: u32::from(payment.is_some_and(|p| p != PaymentState::Fenced)),
            shipped,
        }
    }

    #[test]
    fn final_agreeing_states_are_consistent() {
        use OrderState::*;
        use PaymentState::*;
        assert_eq!(check(&view(Some(Shipped), Some(Charged), true)), None);
        assert_eq!(check(&view(Some(Cancelled), Some(Refunded), false)), None);
        assert_eq!(check(&view(Some(Cancelled), Some(Fenced), false)), None);
        assert_eq!(check(&view(Some(Cancelled), None, false)), None);
        assert_eq!(check(&view(None, Some(Refunded), false)), None);
    }

    #[test]
    fn the_seeds_cases_are_inconsistent() {
        use Inconsistency as I;
        use OrderState::*;
        use PaymentState::*;
        // Case 4: the caller gave up after a timeout, the callee had charged.
        assert_eq!(
            check(&view(Some(Cancelled), Some(Charged), false)),
            Some(I::CancelledButCharged)
        );
        // Case 5: the callback never came; the order waits forever.
        assert_eq!(
            check(&view(Some(Paying), Some(Charged), false)),
            Some(I::Unfinished)
        );
        // Case 6: one side has the order, the other not.
        assert_eq!(
            check(&view(Some(Paid), Some(Charged), false)),
            Some(I::PaidNotShipped)
        );
        assert_eq!(
            check(&view(None, Some(Charged), false)),
            Some(I::UnknownOrder)
        );
        // Case 7: both have it, in different states.
        assert_eq!(
            check(&view(Some(Paid), Some(Charged), true)),
            Some(I::StateMismatch)
        );
        assert_eq!(
            check(&view(Some(Shipped), Some(Refunded), true)),
            Some(I::NotCharged)
        );
        let mut twice = view(Some(Shipped), Some(Charged), true);
        twice.charges = 2;
        assert_eq!(check(&twice), Some(I::ChargedTwice));
    }
}
