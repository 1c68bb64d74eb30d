//! Calls between services that time out, and the patterns that keep the services
//! consistent anyway: the "place order → pay → ship" chain (the survey's cases 4–7;
//! the patterns as practitioners name them, e.g. Chris Richardson, *Microservices
//! Patterns* (2018), ch. 4, and the "best-effort delivery / query / compensation /
//! reconciliation" family of BASE techniques after Pritchett, "BASE: An ACID
//! Alternative", ACM Queue 2008).
//!
//! Three services, each with its own durable store, no lock across them; every
//! record is keyed by the order's request id (the survey's "流水号"):
//! - the **order service** (`rm1`, the caller) takes the client's order, persists it
//!   as `Paying` and calls the payment service; on a charge it persists `Paid`, tells
//!   the client yes and calls the shipping service; on the shipment it persists
//!   `Shipped`;
//! - the **payment service** (`rm2`) charges once per request id — synchronously, or
//!   (mode `Async`) it accepts the request, charges after `processing_ms` and calls
//!   back; its reverse operation (refund) undoes a charge, and on an id it has not
//!   charged yet it leaves a fence that refuses a late charge;
//! - the **shipping service** (`rm3`) ships once per request id.
//!
//! The patterns (scenario options, each switchable):
//! - `query`: the payment service answers "what became of request id X?";
//! - `compensation`: when the payment call times out (sync) or its callback is
//!   overdue (async), the caller queries and then completes (charged) or cancels
//!   (not charged: refund, which fences a late charge); without `query` it cancels at
//!   once (fast-fail + cancel). Without compensation a sync caller assumes failure
//!   and an async caller keeps waiting;
//! - `async_assurance`: work the order service has decided (ship a paid order, refund
//!   a cancelled one) is its persisted order state — a task table — and a scheduler
//!   resends unconfirmed tasks every `retry_ms`, after a crash too. Without it each
//!   call is made once;
//! - `reconciliation`: every `period_ms` the order service pages through the payment
//!   and shipping records by request id (`page_size` per page), compares them with
//!   its own and repairs: lost orders (one side has it, the other not) and state
//!   mismatches (both have it, in different states), each reported with its repair
//!   class (automatic, or flagged for an operator when it cannot be undone).

pub mod build;

use crate::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use crate::observe::{AuditItem, CallEvent, Observation, RepairClass};
use crate::workload::order_chain::{ChainRecord, OrderState, PaymentState};
use crate::workload::{Client, ClientTimer, TxnRequest};
use std::collections::{BTreeMap, BTreeSet};

/// How the order service calls the payment service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallMode {
    Sync,
    Async,
}

/// Options of the service-call patterns (all times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallsOptions {
    pub mode: CallMode,
    pub call_timeout_us: u64,
    pub callback_timeout_us: u64,
    pub processing_us: u64,
    pub query: bool,
    pub compensation: bool,
    pub async_assurance: bool,
    pub retry_us: u64,
    pub reconciliation: bool,
    pub period_us: u64,
    pub page_size: u32,
    pub grace_us: u64,
    /// An order final and confirmed for this long is archived (the client's request
    /// deadline: its client has had its answer or given up).
    pub archive_after_us: u64,
}

impl CallsOptions {
    /// How long the caller waits for the payment's answer before it acts.
    fn wait_us(&self) -> u64 {
        match self.mode {
            CallMode::Sync => self.call_timeout_us,
            CallMode::Async => self.callback_timeout_us,
        }
    }
}

/// Which callee a reconciliation page comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Payment,
    Shipping,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → order service: place an order.
    Request(TxnRequest),
    /// Order service → client.
    Reply {
        txn: TxnId,
        outcome: Outcome,
    },
    /// Order → payment: charge `amount` for request id `txn`. `settled_below`: the
    /// order service's watermark (every request id below it is settled and archived
    /// there), so the payment service can archive its records below it.
    Pay {
        txn: TxnId,
        amount: i64,
        settled_below: TxnId,
    },
    /// Payment → order: the answer (sync) or the callback (async). `charged: false`
    /// means refused (the id was cancelled first).
    PayResult {
        txn: TxnId,
        charged: bool,
    },
    /// Order → payment: the reverse operation.
    Refund {
        txn: TxnId,
    },
    /// Payment → order: refunded (`undid_charge`: money had been taken) or fenced.
    RefundDone {
        txn: TxnId,
        undid_charge: bool,
    },
    /// Order → payment: the query pattern.
    Query {
        txn: TxnId,
    },
    QueryResult {
        txn: TxnId,
        state: Option<PaymentState>,
    },
    /// Order → shipping; `settled_below` as in `Pay`.
    Ship {
        txn: TxnId,
        settled_below: TxnId,
    },
    ShipDone {
        txn: TxnId,
    },
    /// Order → payment or shipping: the records with ids above `after`, at most `limit`.
    Page {
        after: Option<TxnId>,
        limit: u32,
    },
    /// The page; `last` says there is nothing beyond it. Shipping records have no
    /// state beyond existing, so theirs carry `None`.
    PageResult {
        after: Option<TxnId>,
        records: Vec<(TxnId, Option<PaymentState>)>,
        last: bool,
    },
    /// Payment → order: request id `txn` is below the watermark, settled and archived
    /// (final and consistent at every service): the late request was not done again.
    Settled {
        txn: TxnId,
    },
    /// Order service → client: request id `txn` is below the watermark: settled and
    /// archived, or never placed and now too old to place. Not placed (again); no
    /// definite answer will come for it. Ids from `floor` on are new.
    Stale {
        txn: TxnId,
        floor: TxnId,
    },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it);
    /// reconciliation's pages are about many.
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::Pay { txn, .. } => Some(*txn),
            Msg::PayResult { txn, .. } => Some(*txn),
            Msg::Refund { txn, .. } => Some(*txn),
            Msg::RefundDone { txn, .. } => Some(*txn),
            Msg::Query { txn, .. } => Some(*txn),
            Msg::QueryResult { txn, .. } => Some(*txn),
            Msg::Ship { txn, .. } => Some(*txn),
            Msg::ShipDone { txn, .. } => Some(*txn),
            Msg::Settled { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
            Msg::Page { .. } | Msg::PageResult { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// Order service: the payment answer (or callback, or query answer) for `txn` is due.
    Call(TxnId),
    /// Order service: resend unconfirmed tasks.
    Scheduler,
    /// Order service: start a reconciliation pass.
    Reconcile,
    /// Payment service (async): charge `txn` now and call back.
    Process(TxnId),
}

/// The order service's record of an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderRec {
    pub state: OrderState,
    pub amount: i64,
    /// When the state last changed (the order service's clock).
    pub updated_at_us: u64,
    /// A final state the callee has confirmed (shipped: the shipment and the charge;
    /// cancelled: a refund or fence at the payment service). Such an order stays
    /// consistent at every service whatever still arrives (a late charge request
    /// meets the fence; no refund or shipment is ever sent for it), so it can be
    /// archived. A naive cancel after a timeout is final but unconfirmed.
    pub confirmed: bool,
}

/// The payment service's record of a request id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChargeRec {
    pub state: PaymentState,
    pub amount: i64,
    pub charges: u32,
}

/// What a reconciliation finding is, for counting it once per order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Finding {
    Lost(Service),
    Mismatch(Service),
}

/// What a service folded into counters when it archived its records (each role
/// fills its part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Archived {
    /// Order service: orders archived shipped / cancelled.
    pub shipped: u64,
    pub cancelled: u64,
    /// Payment service: records archived by state, the money takings among them, and
    /// the records that had taken money more than once.
    pub charged: u64,
    pub refunded: u64,
    pub fenced: u64,
    pub pending: u64,
    pub charges: u64,
    pub charged_twice: u64,
    /// Shipping service: shipments archived.
    pub shipments: u64,
}

/// Everything any service keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Order service: its orders not archived yet (also its task table: `Paid` means
    /// "ship", `Cancelling` means "refund"), all at or above `settled_below`.
    pub orders: BTreeMap<TxnId, OrderRec>,
    /// Every request id below this is settled. At the order service: its order was
    /// final, confirmed and older than `archive_after`, and is archived into
    /// `archived` — or it was never placed, and a request for it now is refused as
    /// stale (it was issued before an order already archived, so its client's
    /// deadline has passed). At the payment and shipping services: the highest
    /// watermark the order service has sent them, below which their records are
    /// archived too. A request, call or query below it is answered from it.
    pub settled_below: TxnId,
    /// The archived records, as counters.
    pub archived: Archived,
    /// Order service: reconciliation findings already reported, so a finding whose
    /// repair is still on its way is not counted twice.
    found: BTreeSet<(TxnId, Finding)>,
    /// Payment service.
    pub charges: BTreeMap<TxnId, ChargeRec>,
    /// Shipping service.
    pub shipments: BTreeSet<TxnId>,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

/// An in-progress reconciliation pass (volatile: a crash abandons it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pass {
    service: Service,
    after: Option<TxnId>,
    started_us: u64,
}

/// The caller: order service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderService {
    opts: CallsOptions,
    payment: NodeId,
    shipping: NodeId,
    client: NodeId,
    /// Orders whose client is still waiting for an answer.
    waiting: BTreeSet<TxnId>,
    /// Orders whose payment outcome is being resolved by queries.
    querying: BTreeSet<TxnId>,
    /// When each unconfirmed task was last sent.
    sent_at: BTreeMap<TxnId, u64>,
    scheduler_armed: bool,
    pass: Option<Pass>,
}

/// The payment service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PaymentService {
    opts: CallsOptions,
    order: NodeId,
}

/// Every role of a service-call world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CallsNode {
    Client(Client),
    Order(OrderService),
    Payment(PaymentService),
    Shipping,
}

impl CallsNode {
    pub fn order(opts: CallsOptions, payment: NodeId, shipping: NodeId, client: NodeId) -> Self {
        CallsNode::Order(OrderService {
            opts,
            payment,
            shipping,
            client,
            waiting: BTreeSet::new(),
            querying: BTreeSet::new(),
            sent_at: BTreeMap::new(),
            scheduler_armed: false,
            pass: None,
        })
    }

    pub fn payment(opts: CallsOptions, order: NodeId) -> Self {
        CallsNode::Payment(PaymentService { opts, order })
    }
}

type C<'a> = Ctx<'a, CallsNode>;

// The client (see [`super::coordinated`]).
client_world! { node: CallsNode, msg: Msg, timer: Timer, durable: Durable }

impl Node for CallsNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        match self {
            CallsNode::Client(c) => c.on_start(ctx),
            CallsNode::Order(o) => o.arm_reconcile(ctx),
            CallsNode::Payment(_) | CallsNode::Shipping => {}
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            CallsNode::Client(c) => c.on_message(msg, ctx),
            CallsNode::Order(o) => o.on_message(from, msg, ctx),
            CallsNode::Payment(p) => p.on_message(msg, ctx),
            CallsNode::Shipping => shipping_on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (CallsNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (CallsNode::Order(o), Timer::Call(txn)) => o.call_due(txn, ctx),
            (CallsNode::Order(o), Timer::Scheduler) => o.resend_tasks(ctx),
            (CallsNode::Order(o), Timer::Reconcile) => o.start_pass(ctx),
            (CallsNode::Payment(p), Timer::Process(txn)) => p.process(txn, ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            CallsNode::Client(c) => c.on_recover(ctx),
            CallsNode::Order(o) => o.recover(ctx),
            CallsNode::Payment(p) => p.recover(ctx),
            CallsNode::Shipping => {}
        }
    }

    fn audit(&self, d: &Durable, _now_us: u64, out: &mut Vec<AuditItem>) {
        let a = d.archived;
        match self {
            CallsNode::Order(_) => {
                for (&txn, rec) in &d.orders {
                    out.push(AuditItem::Chain {
                        txn,
                        record: ChainRecord::Order(rec.state),
                    });
                }
                out.push(AuditItem::Chain {
                    txn: d.settled_below,
                    record: ChainRecord::OrdersArchived {
                        shipped: a.shipped,
                        cancelled: a.cancelled,
                    },
                });
            }
            CallsNode::Payment(_) => {
                out.push(AuditItem::Chain {
                    txn: d.settled_below,
                    record: ChainRecord::PaymentsArchived {
                        charged: a.charged,
                        refunded: a.refunded,
                        fenced: a.fenced,
                        pending: a.pending,
                        charges: a.charges,
                        charged_twice: a.charged_twice,
                    },
                });
                for (&txn, rec) in &d.charges {
                    out.push(AuditItem::Chain {
                        txn,
                        record: ChainRecord::Payment {
                            state: rec.state,
                            charges: rec.charges,
                        },
                    });
                }
            }
            CallsNode::Shipping => {
                out.push(AuditItem::Chain {
                    txn: d.settled_below,
                    record: ChainRecord::ShipmentsArchived {
                        shipments: a.shipments,
                    },
                });
                for &txn in &d.shipments {
                    out.push(AuditItem::Chain {
                        txn,
                        record: ChainRecord::Shipping,
                    });
                }
            }
            CallsNode::Client(_) => {}
        }
    }
}

fn is_final(s: OrderState) -> bool {
    matches!(s, OrderState::Shipped | OrderState::Cancelled)
}

/// Order service (inside a `persist`): archives, in id order, the oldest orders that
/// are final, confirmed and unchanged for `after_us`, and raises the watermark past
/// them (and past the ids below them it never saw). Stops at the first that is not:
/// everything below the watermark is settled.
fn archive_settled(d: &mut Durable, now_us: u64, after_us: u64) {
    while let Some((&txn, r)) = d.orders.first_key_value() {
        if !(r.confirmed && is_final(r.state) && r.updated_at_us + after_us <= now_us) {
            break;
        }
        match r.state {
            OrderState::Shipped => d.archived.shipped += 1,
            _ => d.archived.cancelled += 1,
        }
        d.orders.remove(&txn);
        d.settled_below = txn + 1;
    }
    // Findings about archived orders: reconciliation never looks below the mark.
    while d.found.first().is_some_and(|&(t, _)| t < d.settled_below) {
        d.found.pop_first();
    }
}

/// Payment service (inside a `persist`): takes the order service's watermark and
/// archives its records below it into counters. Those orders are final and
/// consistent: a charge for each shipped one, a refund or fence for each cancelled.
fn archive_charges(d: &mut Durable, settled_below: TxnId) {
    d.settled_below = d.settled_below.max(settled_below);
    while let Some((&txn, r)) = d.charges.first_key_value() {
        if txn >= d.settled_below {
            break;
        }
        let a = &mut d.archived;
        match r.state {
            PaymentState::Charged => a.charged += 1,
            PaymentState::Refunded => a.refunded += 1,
            PaymentState::Fenced => a.fenced += 1,
            PaymentState::Pending => a.pending += 1,
        }
        a.charges += u64::from(r.charges);
        a.charged_twice += u64::from(r.charges > 1);
        d.charges.remove(&txn);
    }
}

/// Shipping service (inside a `persist`): the same for shipments.
fn archive_shipments(d: &mut Durable, settled_below: TxnId) {
    d.settled_below = d.settled_below.max(settled_below);
    while d.shipments.first().is_some_and(|&t| t < d.settled_below) {
        d.shipments.pop_first();
        d.archived.shipments += 1;
    }
}

impl OrderService {
    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            Msg::Request(req) => self.place(req, ctx),
            Msg::PayResult { txn, charged } => self.pay_result(txn, charged, false, ctx),
            Msg::QueryResult { txn, state } => self.query_result(txn, state, ctx),
            Msg::RefundDone { txn, undid_charge } => self.refund_done(txn, undid_charge, ctx),
            Msg::ShipDone { txn } => self.ship_done(txn, ctx),
            Msg::PageResult {
                after,
                records,
                last,
            } => self.page_result(from, after, records, last, ctx),
            _ => {}
        }
    }

    fn state(&self, txn: TxnId, ctx: &C<'_>) -> Option<OrderState> {
        ctx.durable().orders.get(&txn).map(|r| r.state)
    }

    /// The callee has confirmed order `txn`'s final state.
    fn confirm(&self, txn: TxnId, ctx: &mut C<'_>) {
        ctx.persist(|d| {
            if let Some(r) = d.orders.get_mut(&txn) {
                r.confirmed = true;
            }
        });
    }

    /// Moves order `txn` to `state`, learned from (or confirmed by) the callee.
    fn set_state(&self, txn: TxnId, state: OrderState, ctx: &mut C<'_>) {
        self.set_state_as(txn, state, is_final(state), ctx);
    }

    fn set_state_as(&self, txn: TxnId, state: OrderState, confirmed: bool, ctx: &mut C<'_>) {
        let now = ctx.now_us();
        ctx.persist(|d| {
            if let Some(r) = d.orders.get_mut(&txn) {
                r.state = state;
                r.updated_at_us = now;
                r.confirmed = confirmed;
            }
        });
    }

    fn answer(&mut self, txn: TxnId, outcome: Outcome, ctx: &mut C<'_>) {
        if self.waiting.remove(&txn) {
            ctx.send(self.client, Msg::Reply { txn, outcome });
        }
    }

    fn place(&mut self, req: TxnRequest, ctx: &mut C<'_>) {
        let txn = req.txn;
        let floor = ctx.durable().settled_below;
        if txn < floor {
            // Settled and archived (a copy of a request long answered), or never
            // placed and issued before an order already archived (its client gave up
            // on it): not placed again, and the client hears it gets no answer.
            ctx.observe(Observation::Call {
                txn,
                event: CallEvent::LateForArchived,
            });
            ctx.send(self.client, Msg::Stale { txn, floor });
            return;
        }
        if let Some(s) = self.state(txn, ctx) {
            // A duplicated request: the request id makes placing it twice impossible.
            match s {
                OrderState::Paid | OrderState::Shipped => ctx.send(
                    self.client,
                    Msg::Reply {
                        txn,
                        outcome: Outcome::Commit,
                    },
                ),
                OrderState::Cancelling | OrderState::Cancelled => ctx.send(
                    self.client,
                    Msg::Reply {
                        txn,
                        outcome: Outcome::Abort,
                    },
                ),
                OrderState::Paying => {}
            }
            return;
        }
        // The order's amount is what the request moves (the transfer generator's ops).
        let amount: i64 = req.ops.iter().map(|o| o.delta.max(0)).sum();
        let now = ctx.now_us();
        let archive_after = self.opts.archive_after_us;
        // The same write archives the oldest orders that are settled.
        let settled_below = ctx.persist(|d| {
            d.orders.insert(
                txn,
                OrderRec {
                    state: OrderState::Paying,
                    amount,
                    updated_at_us: now,
                    confirmed: false,
                },
            );
            archive_settled(d, now, archive_after);
            d.settled_below
        });
        let mut me = NodeSet::new();
        me.insert(ctx.me());
        ctx.observe(Observation::TxnBegun {
            txn,
            participants: me,
        });
        self.waiting.insert(txn);
        ctx.send(
            self.payment,
            Msg::Pay {
                txn,
                amount,
                settled_below,
            },
        );
        ctx.set_timer(Timer::Call(txn), self.opts.wait_us());
    }

    /// The payment's answer, callback, or a query's "charged" (`by_query`).
    fn pay_result(&mut self, txn: TxnId, charged: bool, by_query: bool, ctx: &mut C<'_>) {
        if self.state(txn, ctx) != Some(OrderState::Paying) {
            // Late: the order was already decided. A late charge on a cancelled order
            // is undone by the refund the cancellation sent (with compensation), or
            // stays until reconciliation finds it.
            return;
        }
        ctx.cancel_timer(Timer::Call(txn));
        self.querying.remove(&txn);
        if charged {
            if by_query {
                // The callee had done the work the caller did not know about: the
                // query resolved the disagreement by completing.
                ctx.observe(Observation::Repair {
                    txn,
                    class: RepairClass::Automatic,
                });
            }
            self.become_paid(txn, ctx);
        } else {
            self.set_state(txn, OrderState::Cancelled, ctx);
            ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
            ctx.observe(Observation::Finished { txn });
            self.answer(txn, Outcome::Abort, ctx);
        }
    }

    fn become_paid(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        self.set_state(txn, OrderState::Paid, ctx);
        ctx.observe(Observation::applied_at_once(txn, Outcome::Commit, 0));
        self.answer(txn, Outcome::Commit, ctx);
        self.send_task(txn, OrderState::Paid, ctx);
    }

    /// Sends the call a decided order still needs (ship, or refund) and, with
    /// assurance, makes sure the scheduler will send it again until confirmed.
    fn send_task(&mut self, txn: TxnId, state: OrderState, ctx: &mut C<'_>) {
        let settled_below = ctx.durable().settled_below;
        match state {
            OrderState::Paid => ctx.send(self.shipping, Msg::Ship { txn, settled_below }),
            OrderState::Cancelling => ctx.send(self.payment, Msg::Refund { txn }),
            _ => return,
        }
        if self.opts.async_assurance {
            self.sent_at.insert(txn, ctx.now_us());
            self.arm_scheduler(ctx);
        }
    }

    /// Fast-fail + cancel: the order is cancelled and the reverse call made. The refund
    /// also fences the id, so a charge request still on its way is refused.
    fn cancel(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        ctx.cancel_timer(Timer::Call(txn));
        self.querying.remove(&txn);
        ctx.observe(Observation::Call {
            txn,
            event: CallEvent::Compensation,
        });
        self.set_state(txn, OrderState::Cancelling, ctx);
        ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
        self.answer(txn, Outcome::Abort, ctx);
        self.send_task(txn, OrderState::Cancelling, ctx);
    }

    /// The payment's answer (or callback, or query answer) is overdue.
    fn call_due(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if self.state(txn, ctx) != Some(OrderState::Paying) {
            return;
        }
        let requery = self.querying.contains(&txn);
        ctx.observe(Observation::Call {
            txn,
            event: if requery {
                CallEvent::Retry
            } else {
                CallEvent::Timeout
            },
        });
        if !self.opts.compensation {
            match self.opts.mode {
                // The naive caller takes no answer for "no": it cancels its order and
                // tells nobody else (the survey's case 4).
                CallMode::Sync => {
                    self.set_state_as(txn, OrderState::Cancelled, false, ctx);
                    ctx.observe(Observation::applied_at_once(txn, Outcome::Abort, 0));
                    ctx.observe(Observation::Finished { txn });
                    self.answer(txn, Outcome::Abort, ctx);
                }
                // The naive caller keeps waiting for a callback that may never come
                // (the survey's case 5).
                CallMode::Async => {}
            }
            return;
        }
        if self.opts.query {
            self.querying.insert(txn);
            ctx.observe(Observation::Call {
                txn,
                event: CallEvent::Query,
            });
            ctx.send(self.payment, Msg::Query { txn });
            ctx.set_timer(Timer::Call(txn), self.opts.call_timeout_us);
        } else {
            self.cancel(txn, ctx);
        }
    }

    fn query_result(&mut self, txn: TxnId, state: Option<PaymentState>, ctx: &mut C<'_>) {
        if self.state(txn, ctx) != Some(OrderState::Paying) || !self.querying.contains(&txn) {
            return;
        }
        match state {
            Some(PaymentState::Charged) => self.pay_result(txn, true, true, ctx),
            // Still being processed: ask again when the query timer fires.
            Some(PaymentState::Pending) => {}
            // Never arrived: cancel, which also fences a request still in flight.
            None => self.cancel(txn, ctx),
            Some(PaymentState::Refunded | PaymentState::Fenced) => {
                self.pay_result(txn, false, true, ctx)
            }
        }
    }

    fn refund_done(&mut self, txn: TxnId, undid_charge: bool, ctx: &mut C<'_>) {
        self.sent_at.remove(&txn);
        let rec = ctx.durable().orders.get(&txn);
        if rec.is_some_and(|r| r.state == OrderState::Cancelled && !r.confirmed) {
            // The fence reconciliation sent for a cancel nobody was told of: the
            // payment service has refunded or fenced the id, which never changes.
            if undid_charge {
                // A late charge had landed on the cancelled order: the fence undid it.
                ctx.observe(Observation::Repair {
                    txn,
                    class: RepairClass::Automatic,
                });
            }
            self.confirm(txn, ctx);
            return;
        }
        if self.state(txn, ctx) != Some(OrderState::Cancelling) {
            return;
        }
        self.set_state(txn, OrderState::Cancelled, ctx);
        let reconciled = ctx
            .durable()
            .found
            .range((txn, Finding::Lost(Service::Payment))..)
            .next()
            .is_some_and(|(t, _)| *t == txn);
        if undid_charge && !reconciled {
            // The callee had charged an order the caller cancelled: compensation
            // undid it.
            ctx.observe(Observation::Repair {
                txn,
                class: RepairClass::Automatic,
            });
        }
        ctx.observe(Observation::Finished { txn });
    }

    fn ship_done(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        self.sent_at.remove(&txn);
        if self.state(txn, ctx) != Some(OrderState::Paid) {
            return;
        }
        self.set_state(txn, OrderState::Shipped, ctx);
        ctx.observe(Observation::Finished { txn });
    }

    fn arm_scheduler(&mut self, ctx: &mut C<'_>) {
        if !self.scheduler_armed {
            ctx.set_timer(Timer::Scheduler, self.opts.retry_us);
            self.scheduler_armed = true;
        }
    }

    /// The assurance scheduler: every task not confirmed within `retry_ms` is sent again.
    fn resend_tasks(&mut self, ctx: &mut C<'_>) {
        self.scheduler_armed = false;
        let now = ctx.now_us();
        let due: Vec<TxnId> = self
            .sent_at
            .iter()
            .filter(|(_, &at)| at + self.opts.retry_us <= now)
            .map(|(&t, _)| t)
            .collect();
        for txn in due {
            match self.state(txn, ctx) {
                Some(s @ (OrderState::Paid | OrderState::Cancelling)) => {
                    ctx.observe(Observation::Call {
                        txn,
                        event: CallEvent::Retry,
                    });
                    self.send_task(txn, s, ctx);
                }
                _ => {
                    self.sent_at.remove(&txn);
                }
            }
        }
        if !self.sent_at.is_empty() {
            self.arm_scheduler(ctx);
        }
    }

    fn recover(&mut self, ctx: &mut C<'_>) {
        let orders: Vec<(TxnId, OrderState)> = ctx
            .durable()
            .orders
            .iter()
            .filter(|(_, r)| !is_final(r.state))
            .map(|(&t, r)| (t, r.state))
            .collect();
        for (txn, state) in orders {
            match state {
                // The client's call timers died with the crash: with compensation
                // the outcome is resolved as after a timeout; without, nobody
                // remembers to.
                OrderState::Paying if self.opts.compensation => {
                    ctx.set_timer(Timer::Call(txn), 0);
                }
                // Decided work: the persisted task is picked up again.
                OrderState::Paid | OrderState::Cancelling if self.opts.async_assurance => {
                    self.sent_at.insert(txn, 0);
                    self.arm_scheduler(ctx);
                }
                _ => {}
            }
        }
        self.arm_reconcile(ctx);
    }

    // ---- reconciliation ----

    fn arm_reconcile(&mut self, ctx: &mut C<'_>) {
        if self.opts.reconciliation {
            ctx.set_timer(Timer::Reconcile, self.opts.period_us);
        }
    }

    fn start_pass(&mut self, ctx: &mut C<'_>) {
        self.arm_reconcile(ctx);
        let now = ctx.now_us();
        // A pass still running after a whole period lost a page on the way: abandon it.
        if self
            .pass
            .as_ref()
            .is_some_and(|p| p.started_us + self.opts.period_us > now)
        {
            return;
        }
        // Below the watermark every order is settled and archived: nothing to compare.
        let after = ctx.durable().settled_below.checked_sub(1);
        self.pass = Some(Pass {
            service: Service::Payment,
            after,
            started_us: now,
        });
        self.request_page(ctx);
    }

    fn request_page(&mut self, ctx: &mut C<'_>) {
        let Some(p) = &self.pass else { return };
        let to = match p.service {
            Service::Payment => self.payment,
            Service::Shipping => self.shipping,
        };
        ctx.send(
            to,
            Msg::Page {
                after: p.after,
                limit: self.opts.page_size,
            },
        );
    }

    fn page_result(
        &mut self,
        from: NodeId,
        after: Option<TxnId>,
        records: Vec<(TxnId, Option<PaymentState>)>,
        last: bool,
        ctx: &mut C<'_>,
    ) {
        let Some(pass) = self.pass.clone() else {
            return;
        };
        let service = if from == self.payment {
            Service::Payment
        } else {
            Service::Shipping
        };
        if pass.service != service || pass.after != after {
            return; // a page of an abandoned pass, or a duplicate
        }
        let lo = after.map_or(0, |a| a + 1);
        let hi = if last {
            None
        } else {
            records.last().map(|(t, _)| *t)
        };
        ctx.observe(Observation::Call {
            txn: records.first().map_or(lo, |(t, _)| *t),
            event: CallEvent::ReconciliationBatch,
        });
        // Both sides of the range this page covers, merged by request id.
        let mut theirs: BTreeMap<TxnId, Option<PaymentState>> = records.into_iter().collect();
        let mine: Vec<(TxnId, OrderRec)> = ctx
            .durable()
            .orders
            .range(lo..)
            .take_while(|(t, _)| hi.is_none_or(|h| **t <= h))
            .map(|(&t, r)| (t, r.clone()))
            .collect();
        // Records below the watermark (the callee has not heard of it yet) belong to
        // archived orders, consistent by construction: not compared.
        let floor = ctx.durable().settled_below;
        let mut ids: BTreeSet<TxnId> = theirs.keys().copied().filter(|&t| t >= floor).collect();
        ids.extend(mine.iter().map(|(t, _)| *t));
        let mine: BTreeMap<TxnId, OrderRec> = mine.into_iter().collect();
        for txn in ids {
            let order = mine.get(&txn);
            let remote = theirs.remove(&txn);
            match service {
                Service::Payment => self.compare_payment(
                    txn,
                    order,
                    remote.map(|s| s.unwrap_or(PaymentState::Charged)),
                    ctx,
                ),
                Service::Shipping => self.compare_shipping(txn, order, remote.is_some(), ctx),
            }
        }
        let next = match (last, service) {
            (false, _) => Some(Pass { after: hi, ..pass }),
            (true, Service::Payment) => Some(Pass {
                service: Service::Shipping,
                after: ctx.durable().settled_below.checked_sub(1),
                ..pass
            }),
            (true, Service::Shipping) => {
                ctx.observe(Observation::Call {
                    txn: 0,
                    event: CallEvent::ReconciliationPass {
                        took_us: ctx.now_us().saturating_sub(pass.started_us),
                    },
                });
                None
            }
        };
        self.pass = next;
        self.request_page(ctx);
    }

    /// Is this order settled enough to judge? Not changed within the grace time, and
    /// an order still paying only once its call has timed out as well: before that
    /// the answer may be on its way.
    fn settled(&self, order: Option<&OrderRec>, ctx: &C<'_>) -> bool {
        order.is_none_or(|r| {
            let wait = if r.state == OrderState::Paying {
                self.opts.wait_us()
            } else {
                0
            };
            r.updated_at_us + wait + self.opts.grace_us <= ctx.now_us()
        })
    }

    /// Reports a finding once per order and kind; the repair runs every time.
    fn found(&mut self, txn: TxnId, f: Finding, class: RepairClass, ctx: &mut C<'_>) {
        if ctx.durable().found.contains(&(txn, f)) {
            return;
        }
        ctx.persist(|d| d.found.insert((txn, f)));
        ctx.observe(Observation::Call {
            txn,
            event: match f {
                Finding::Lost(_) => CallEvent::LostOrder,
                Finding::Mismatch(_) => CallEvent::StateMismatch,
            },
        });
        ctx.observe(Observation::Repair { txn, class });
    }

    fn compare_payment(
        &mut self,
        txn: TxnId,
        order: Option<&OrderRec>,
        payment: Option<PaymentState>,
        ctx: &mut C<'_>,
    ) {
        use OrderState as O;
        use PaymentState as P;
        if !self.settled(order, ctx) {
            return;
        }
        let lost = Finding::Lost(Service::Payment);
        let mismatch = Finding::Mismatch(Service::Payment);
        match (order.map(|r| r.state), payment) {
            // Charged for an order nobody placed: give the money back.
            (None, Some(P::Charged)) => {
                self.found(txn, lost, RepairClass::Automatic, ctx);
                ctx.send(self.payment, Msg::Refund { txn });
            }
            // The charge never arrived: cancel (the refund fences a late one).
            (Some(O::Paying), None) => {
                self.found(txn, lost, RepairClass::Automatic, ctx);
                self.cancel(txn, ctx);
            }
            // Charged, but the order never learned it: complete it.
            (Some(O::Paying), Some(P::Charged)) => {
                self.found(txn, mismatch, RepairClass::Automatic, ctx);
                ctx.cancel_timer(Timer::Call(txn));
                self.querying.remove(&txn);
                self.become_paid(txn, ctx);
            }
            (Some(O::Paying), Some(P::Refunded | P::Fenced)) => {
                self.found(txn, mismatch, RepairClass::Automatic, ctx);
                self.pay_result(txn, false, false, ctx);
            }
            // Cancelled, yet charged: refund.
            (Some(O::Cancelled | O::Cancelling), Some(P::Charged)) => {
                self.found(txn, mismatch, RepairClass::Automatic, ctx);
                if self.state(txn, ctx) == Some(O::Cancelled) {
                    self.set_state(txn, O::Cancelling, ctx);
                }
                self.send_task(txn, O::Cancelling, ctx);
            }
            // The refund (which also fences a late charge) never arrived: send it.
            (Some(O::Cancelling), None | Some(P::Pending)) => {
                self.found(txn, lost, RepairClass::Automatic, ctx);
                self.send_task(txn, O::Cancelling, ctx);
            }
            // The refund landed but the order service missed its confirmation.
            (Some(O::Cancelling), Some(P::Refunded | P::Fenced)) => {
                self.found(txn, mismatch, RepairClass::Automatic, ctx);
                self.refund_done(txn, false, ctx);
            }
            // Paid or shipped without a charge: money is owed that nobody may take
            // on their own. An operator must look.
            (Some(O::Paid | O::Shipped), None) => self.found(txn, lost, RepairClass::Operator, ctx),
            (Some(O::Paid | O::Shipped), Some(P::Refunded | P::Fenced)) => {
                self.found(txn, mismatch, RepairClass::Operator, ctx)
            }
            // Cancelled after a timeout without a word to the payment service, which
            // has since refunded or fenced it: consistent, and now confirmed (a
            // refund or fence never changes).
            (Some(O::Cancelled), Some(P::Refunded | P::Fenced))
                if order.is_some_and(|r| !r.confirmed) =>
            {
                self.confirm(txn, ctx);
            }
            // Cancelled after a timeout without a word to the payment service, which
            // has no charge: consistent for now, but a late charge request could
            // still land. Fence it (the refund of nothing); its confirmation makes
            // the cancel final for good, so the order can be archived.
            (Some(O::Cancelled), None) if order.is_some_and(|r| !r.confirmed) => {
                ctx.send(self.payment, Msg::Refund { txn });
            }
            _ => {}
        }
    }

    fn compare_shipping(
        &mut self,
        txn: TxnId,
        order: Option<&OrderRec>,
        shipped: bool,
        ctx: &mut C<'_>,
    ) {
        use OrderState as O;
        if !self.settled(order, ctx) {
            return;
        }
        let lost = Finding::Lost(Service::Shipping);
        let mismatch = Finding::Mismatch(Service::Shipping);
        match (order.map(|r| r.state), shipped) {
            // Paid but never shipped: ship it.
            (Some(O::Paid), false) => {
                self.found(txn, lost, RepairClass::Automatic, ctx);
                let settled_below = ctx.durable().settled_below;
                ctx.send(self.shipping, Msg::Ship { txn, settled_below });
            }
            // Shipped, but the order service missed the confirmation.
            (Some(O::Paid), true) => {
                self.found(txn, mismatch, RepairClass::Automatic, ctx);
                self.ship_done(txn, ctx);
            }
            // Goods out for an order that is not paid (or not known): they cannot be
            // taken back automatically.
            (None, true) => self.found(txn, lost, RepairClass::Operator, ctx),
            (Some(O::Paying | O::Cancelling | O::Cancelled), true) => {
                self.found(txn, mismatch, RepairClass::Operator, ctx)
            }
            (Some(O::Shipped), false) => self.found(txn, lost, RepairClass::Operator, ctx),
            _ => {}
        }
    }
}

impl PaymentService {
    fn on_message(&mut self, msg: Msg, ctx: &mut C<'_>) {
        match msg {
            // A request id below the watermark is settled and archived: a late copy
            // of a call made long ago. Nothing is done again (no charge, no refund).
            Msg::Pay { txn, .. } | Msg::Refund { txn } | Msg::Query { txn }
                if txn < ctx.durable().settled_below =>
            {
                ctx.observe(Observation::Call {
                    txn,
                    event: CallEvent::LateForArchived,
                });
                ctx.send(self.order, Msg::Settled { txn });
            }
            Msg::Pay {
                txn,
                amount,
                settled_below,
            } => self.pay(txn, amount, settled_below, ctx),
            Msg::Refund { txn } => self.refund(txn, ctx),
            Msg::Query { txn } if self.opts.query => {
                let state = ctx.durable().charges.get(&txn).map(|r| r.state);
                ctx.send(self.order, Msg::QueryResult { txn, state });
            }
            Msg::Page { after, limit } => {
                let (records, last) = page(
                    ctx.durable()
                        .charges
                        .range(after.map_or(0, |a| a + 1)..)
                        .map(|(&t, r)| (t, Some(r.state))),
                    after,
                    limit,
                );
                ctx.send(
                    self.order,
                    Msg::PageResult {
                        after,
                        records,
                        last,
                    },
                );
            }
            _ => {}
        }
    }

    fn pay(&mut self, txn: TxnId, amount: i64, settled_below: TxnId, ctx: &mut C<'_>) {
        let existing = ctx.durable().charges.get(&txn).map(|r| r.state);
        match existing {
            // The request id makes a repeated request harmless: answer it again.
            Some(PaymentState::Charged) => {
                ctx.send(self.order, Msg::PayResult { txn, charged: true })
            }
            // Cancelled first: refuse the late request (no charge after a refund).
            Some(PaymentState::Refunded | PaymentState::Fenced) => ctx.send(
                self.order,
                Msg::PayResult {
                    txn,
                    charged: false,
                },
            ),
            Some(PaymentState::Pending) => {}
            None => match self.opts.mode {
                // The same write archives the records the watermark has passed.
                CallMode::Sync => {
                    ctx.persist(|d| {
                        d.charges.insert(
                            txn,
                            ChargeRec {
                                state: PaymentState::Charged,
                                amount,
                                charges: 1,
                            },
                        );
                        archive_charges(d, settled_below);
                    });
                    ctx.send(self.order, Msg::PayResult { txn, charged: true });
                }
                CallMode::Async => {
                    ctx.persist(|d| {
                        d.charges.insert(
                            txn,
                            ChargeRec {
                                state: PaymentState::Pending,
                                amount,
                                charges: 0,
                            },
                        );
                        archive_charges(d, settled_below);
                    });
                    ctx.set_timer(Timer::Process(txn), self.opts.processing_us);
                }
            },
        }
    }

    /// Async: the accepted request is charged now and the caller called back (once).
    fn process(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        if ctx.durable().charges.get(&txn).map(|r| r.state) != Some(PaymentState::Pending) {
            return;
        }
        ctx.persist(|d| {
            if let Some(r) = d.charges.get_mut(&txn) {
                r.state = PaymentState::Charged;
                r.charges += 1;
            }
        });
        ctx.send(self.order, Msg::PayResult { txn, charged: true });
    }

    fn refund(&mut self, txn: TxnId, ctx: &mut C<'_>) {
        let existing = ctx.durable().charges.get(&txn).map(|r| r.state);
        let undid_charge = existing == Some(PaymentState::Charged);
        match existing {
            Some(PaymentState::Charged) => ctx.persist(|d| {
                if let Some(r) = d.charges.get_mut(&txn) {
                    r.state = PaymentState::Refunded;
                }
            }),
            Some(PaymentState::Pending) | None => ctx.persist(|d| {
                let r = d.charges.entry(txn).or_insert(ChargeRec {
                    state: PaymentState::Fenced,
                    amount: 0,
                    charges: 0,
                });
                r.state = PaymentState::Fenced;
            }),
            Some(PaymentState::Refunded | PaymentState::Fenced) => {}
        }
        ctx.send(self.order, Msg::RefundDone { txn, undid_charge });
    }

    fn recover(&mut self, ctx: &mut C<'_>) {
        // Accepted requests survive in the store; their processing resumes.
        let pending: Vec<TxnId> = ctx
            .durable()
            .charges
            .iter()
            .filter(|(_, r)| r.state == PaymentState::Pending)
            .map(|(&t, _)| t)
            .collect();
        for txn in pending {
            ctx.set_timer(Timer::Process(txn), self.opts.processing_us);
        }
    }
}

fn shipping_on_message(from: NodeId, msg: Msg, ctx: &mut C<'_>) {
    match msg {
        Msg::Ship { txn, settled_below } => {
            let d = ctx.durable();
            if txn < d.settled_below {
                // Settled and archived: a shipment is only ever asked for an order
                // that ends shipped, so it was shipped.
                ctx.observe(Observation::Call {
                    txn,
                    event: CallEvent::LateForArchived,
                });
            } else if !d.shipments.contains(&txn) {
                ctx.persist(|d| {
                    d.shipments.insert(txn);
                    archive_shipments(d, settled_below);
                });
            }
            ctx.send(from, Msg::ShipDone { txn });
        }
        Msg::Page { after, limit } => {
            let (records, last) = page(
                ctx.durable()
                    .shipments
                    .range(after.map_or(0, |a| a + 1)..)
                    .map(|&t| (t, None)),
                after,
                limit,
            );
            ctx.send(
                from,
                Msg::PageResult {
                    after,
                    records,
                    last,
                },
            );
        }
        _ => {}
    }
}

/// One page of records in id order: those above `after`, at most `limit`, and
/// whether nothing lies beyond.
fn page<S>(
    records: impl Iterator<Item = (TxnId, S)>,
    after: Option<TxnId>,
    limit: u32,
) -> (Vec<(TxnId, S)>, bool) {
    let mut rest = records.filter(|(t, _)| after.is_none_or(|a| *t > a));
    let out: Vec<(TxnId, S)> = rest.by_ref().take(limit as usize).collect();
    let last = rest.next().is_none();
    (out, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Command;

    fn opts(mode: CallMode) -> CallsOptions {
        CallsOptions {
            mode,
            call_timeout_us: 50_000,
            callback_timeout_us: 100_000,
            processing_us: 20_000,
            query: true,
            compensation: true,
            async_assurance: true,
            retry_us: 50_000,
            reconciliation: false,
            period_us: 200_000,
            page_size: 10,
            grace_us: 100_000,
            archive_after_us: 300_000,
        }
    }

    const ORDER: NodeId = NodeId(0);
    const PAYMENT: NodeId = NodeId(1);
    const SHIPPING: NodeId = NodeId(2);
    const CLIENT: NodeId = NodeId(3);

    /// Delivers `msg` to `node` at `now_us` and returns what it sent.
    fn deliver(
        node: &mut CallsNode,
        d: &mut Durable,
        now_us: u64,
        from: NodeId,
        msg: Msg,
    ) -> Vec<(NodeId, Msg)> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(now_us, NodeId(9), d, &mut rng, &mut out);
        node.on_message(from, msg, &mut ctx);
        sent(out)
    }

    fn fire(node: &mut CallsNode, d: &mut Durable, now_us: u64, t: Timer) -> Vec<(NodeId, Msg)> {
        let mut rng = crate::rng::stream(1, "test");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(now_us, ORDER, d, &mut rng, &mut out);
        node.on_timer(t, &mut ctx);
        sent(out)
    }

    fn sent(out: Vec<Command<CallsNode>>) -> Vec<(NodeId, Msg)> {
        out.into_iter()
            .filter_map(|c| match c {
                Command::Send { to, msg } => Some((to, msg)),
                _ => None,
            })
            .collect()
    }

    fn place(txn: TxnId) -> Msg {
        Msg::Request(TxnRequest {
            txn,
            ops: vec![crate::workload::Op {
                shard: 0,
                key: 0,
                delta: 30,
            }],
        })
    }

    #[test]
    fn a_refund_that_overtakes_its_charge_fences_it() {
        let mut p = CallsNode::payment(opts(CallMode::Sync), ORDER);
        let mut d = Durable::default();
        let out = deliver(&mut p, &mut d, 0, ORDER, Msg::Refund { txn: 7 });
        assert_eq!(
            out,
            vec![(
                ORDER,
                Msg::RefundDone {
                    txn: 7,
                    undid_charge: false
                }
            )]
        );
        let out = deliver(
            &mut p,
            &mut d,
            1,
            ORDER,
            Msg::Pay {
                txn: 7,
                amount: 30,
                settled_below: 0,
            },
        );
        assert_eq!(
            out,
            vec![(
                ORDER,
                Msg::PayResult {
                    txn: 7,
                    charged: false
                }
            )]
        );
        assert_eq!(d.charges[&7].charges, 0, "no money taken after the cancel");
    }

    #[test]
    fn a_repeated_charge_request_charges_once() {
        let mut p = CallsNode::payment(opts(CallMode::Sync), ORDER);
        let mut d = Durable::default();
        for t in 0..3 {
            let out = deliver(
                &mut p,
                &mut d,
                t,
                ORDER,
                Msg::Pay {
                    txn: 7,
                    amount: 30,
                    settled_below: 0,
                },
            );
            assert_eq!(
                out,
                vec![(
                    ORDER,
                    Msg::PayResult {
                        txn: 7,
                        charged: true
                    }
                )]
            );
        }
        assert_eq!(d.charges[&7].charges, 1);
    }

    #[test]
    fn a_timed_out_call_is_queried_then_completed_or_cancelled() {
        let mut o = CallsNode::order(opts(CallMode::Sync), PAYMENT, SHIPPING, CLIENT);
        let mut d = Durable::default();
        let out = deliver(&mut o, &mut d, 0, CLIENT, place(1));
        assert_eq!(
            out,
            vec![(
                PAYMENT,
                Msg::Pay {
                    txn: 1,
                    amount: 30,
                    settled_below: 0
                }
            )]
        );
        deliver(&mut o, &mut d, 0, CLIENT, place(2));
        // Both answers are lost; both calls time out and are queried.
        for txn in [1, 2] {
            let out = fire(&mut o, &mut d, 50_000, Timer::Call(txn));
            assert_eq!(out, vec![(PAYMENT, Msg::Query { txn })]);
        }
        // Order 1 was charged: completed, the client told yes, shipping called.
        let out = deliver(
            &mut o,
            &mut d,
            60_000,
            PAYMENT,
            Msg::QueryResult {
                txn: 1,
                state: Some(PaymentState::Charged),
            },
        );
        assert_eq!(
            out,
            vec![
                (
                    CLIENT,
                    Msg::Reply {
                        txn: 1,
                        outcome: Outcome::Commit
                    }
                ),
                (
                    SHIPPING,
                    Msg::Ship {
                        txn: 1,
                        settled_below: 0
                    }
                ),
            ]
        );
        assert_eq!(d.orders[&1].state, OrderState::Paid);
        // Order 2 never arrived: cancelled, and the refund fences a late charge.
        let out = deliver(
            &mut o,
            &mut d,
            60_000,
            PAYMENT,
            Msg::QueryResult {
                txn: 2,
                state: None,
            },
        );
        assert_eq!(
            out,
            vec![
                (
                    CLIENT,
                    Msg::Reply {
                        txn: 2,
                        outcome: Outcome::Abort
                    }
                ),
                (PAYMENT, Msg::Refund { txn: 2 }),
            ]
        );
        assert_eq!(d.orders[&2].state, OrderState::Cancelling);
    }

    #[test]
    fn without_compensation_a_sync_timeout_is_taken_for_no() {
        let mut o_opts = opts(CallMode::Sync);
        o_opts.compensation = false;
        let mut o = CallsNode::order(o_opts, PAYMENT, SHIPPING, CLIENT);
        let mut d = Durable::default();
        deliver(&mut o, &mut d, 0, CLIENT, place(1));
        let out = fire(&mut o, &mut d, 50_000, Timer::Call(1));
        assert_eq!(
            out,
            vec![(
                CLIENT,
                Msg::Reply {
                    txn: 1,
                    outcome: Outcome::Abort
                }
            )]
        );
        assert_eq!(d.orders[&1].state, OrderState::Cancelled);
        // The late answer changes nothing: the charge stays, unnoticed.
        let out = deliver(
            &mut o,
            &mut d,
            60_000,
            PAYMENT,
            Msg::PayResult {
                txn: 1,
                charged: true,
            },
        );
        assert!(out.is_empty());
        assert_eq!(d.orders[&1].state, OrderState::Cancelled);
    }

    #[test]
    fn the_scheduler_resends_unconfirmed_tasks_and_stops_when_confirmed() {
        let mut o = CallsNode::order(opts(CallMode::Sync), PAYMENT, SHIPPING, CLIENT);
        let mut d = Durable::default();
        deliver(&mut o, &mut d, 0, CLIENT, place(1));
        deliver(
            &mut o,
            &mut d,
            10_000,
            PAYMENT,
            Msg::PayResult {
                txn: 1,
                charged: true,
            },
        );
        let out = fire(&mut o, &mut d, 60_000, Timer::Scheduler);
        assert_eq!(
            out,
            vec![(
                SHIPPING,
                Msg::Ship {
                    txn: 1,
                    settled_below: 0
                }
            )]
        );
        deliver(&mut o, &mut d, 70_000, SHIPPING, Msg::ShipDone { txn: 1 });
        assert_eq!(d.orders[&1].state, OrderState::Shipped);
        let out = fire(&mut o, &mut d, 200_000, Timer::Scheduler);
        assert!(out.is_empty());
    }

    #[test]
    fn pages_are_bounded_and_say_when_they_are_last() {
        let ids = [1u64, 3, 5, 7, 9];
        let all = || ids.iter().map(|&t| (t, ()));
        let (p, last) = page(all(), None, 2);
        assert_eq!(p.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
        assert!(!last);
        let (p, last) = page(all(), Some(3), 2);
        assert_eq!(p.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5, 7]);
        assert!(!last);
        let (p, last) = page(all(), Some(7), 2);
        assert_eq!(p.iter().map(|r| r.0).collect::<Vec<_>>(), vec![9]);
        assert!(last);
        let (p, last) = page(all(), Some(5), 2);
        assert_eq!(p.len(), 2);
        assert!(last, "an exactly full final page is the last one");
    }

    /// Places order `txn` at `at` and has it paid and shipped right away.
    fn ship(o: &mut CallsNode, d: &mut Durable, txn: TxnId, at: u64) {
        deliver(o, d, at, CLIENT, place(txn));
        deliver(o, d, at + 1, PAYMENT, Msg::PayResult { txn, charged: true });
        deliver(o, d, at + 2, SHIPPING, Msg::ShipDone { txn });
    }

    /// A shipped order is archived once it is older than the client's deadline; the
    /// watermark goes out with the next calls, and a late copy of its request is
    /// refused as stale, not placed again.
    #[test]
    fn a_settled_order_is_archived_and_a_late_copy_of_its_request_is_stale() {
        let mut o = CallsNode::order(opts(CallMode::Sync), PAYMENT, SHIPPING, CLIENT);
        let mut d = Durable::default();
        ship(&mut o, &mut d, 1, 0);
        ship(&mut o, &mut d, 2, 10);
        assert_eq!(d.orders.len(), 2, "not before the deadline");
        // 300 ms later: the next order's write archives both.
        let out = deliver(&mut o, &mut d, 300_020, CLIENT, place(3));
        assert_eq!(
            out,
            vec![(
                PAYMENT,
                Msg::Pay {
                    txn: 3,
                    amount: 30,
                    settled_below: 3
                }
            )]
        );
        assert_eq!(d.orders.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!((d.archived.shipped, d.settled_below), (2, 3));
        let late = deliver(&mut o, &mut d, 300_030, CLIENT, place(1));
        assert_eq!(late, vec![(CLIENT, Msg::Stale { txn: 1, floor: 3 })]);
        assert_eq!(d.orders.len(), 1, "not placed again");
    }

    /// An order cancelled without a word to the payment service (no compensation) is
    /// final but not confirmed: it is not archived, and holds the watermark, so that
    /// everything after it stays where reconciliation and the audit see it — until
    /// the fence reconciliation sends for it is confirmed.
    #[test]
    fn an_unconfirmed_cancel_is_archived_only_once_fenced() {
        let mut o_opts = opts(CallMode::Sync);
        o_opts.compensation = false;
        let mut o = CallsNode::order(o_opts, PAYMENT, SHIPPING, CLIENT);
        let mut d = Durable::default();
        deliver(&mut o, &mut d, 0, CLIENT, place(1));
        fire(&mut o, &mut d, 50_000, Timer::Call(1));
        assert_eq!(d.orders[&1].state, OrderState::Cancelled);
        ship(&mut o, &mut d, 2, 60_000);
        deliver(&mut o, &mut d, 900_000, CLIENT, place(3));
        assert_eq!(d.settled_below, 0);
        assert_eq!(d.orders.len(), 3);
        // The payment service fenced it (reconciliation's refund of nothing).
        let refund_done = Msg::RefundDone {
            txn: 1,
            undid_charge: false,
        };
        deliver(&mut o, &mut d, 900_010, PAYMENT, refund_done);
        assert!(d.orders[&1].confirmed);
        deliver(&mut o, &mut d, 1_300_000, CLIENT, place(4));
        assert_eq!(
            d.settled_below, 3,
            "orders 1 and 2 archived; 3 still paying"
        );
        assert_eq!((d.archived.cancelled, d.archived.shipped), (1, 1));
    }

    /// The payment service archives its records below the watermark the order
    /// service sends; a late charge, refund or query for an archived id is answered
    /// "settled" and changes nothing (no second charge, no refund of a shipped order).
    #[test]
    fn the_payment_service_archives_below_the_watermark_and_answers_late_calls() {
        let mut p = CallsNode::payment(opts(CallMode::Sync), ORDER);
        let mut d = Durable::default();
        let pay = |txn, settled_below| Msg::Pay {
            txn,
            amount: 30,
            settled_below,
        };
        deliver(&mut p, &mut d, 0, ORDER, pay(5, 0));
        deliver(&mut p, &mut d, 0, ORDER, Msg::Refund { txn: 6 });
        deliver(&mut p, &mut d, 1, ORDER, pay(9, 8));
        assert_eq!(d.charges.keys().copied().collect::<Vec<_>>(), vec![9]);
        assert_eq!(
            (d.archived.charged, d.archived.fenced, d.archived.charges),
            (1, 1, 1)
        );
        for late in [pay(5, 0), Msg::Refund { txn: 5 }, Msg::Query { txn: 6 }] {
            let txn = match late {
                Msg::Pay { txn, .. } | Msg::Refund { txn } | Msg::Query { txn } => txn,
                _ => unreachable!(),
            };
            let out = deliver(&mut p, &mut d, 2, ORDER, late);
            assert_eq!(out, vec![(ORDER, Msg::Settled { txn })]);
        }
        assert_eq!(d.charges.len(), 1);
        assert_eq!(d.archived.charges, 1, "no second charge");
    }
}
