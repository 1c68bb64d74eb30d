//! The vocabulary nodes use to tell the checkers what happened (DESIGN §6).
//!
//! Observations are facts reported by the node that knows them ("I applied commit for
//! txn 7 after 840 ms in doubt, releasing 1 lock held 852 ms"); audit items describe a
//! node's state at the start and the end of a run. Every protocol speaks this same
//! vocabulary, so the same checkers measure 2PC, 3PC, TCC and a user's protocol.

use crate::ids::{NodeId, NodeSet, Outcome, TxnId};
use crate::store::{Ledger, LockTable, ShardOps};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Observation {
    /// A coordinator began global transaction `txn` over `participants`.
    TxnBegun { txn: TxnId, participants: NodeSet },
    /// A participant voted yes (prepared, pre-committed, tried): it is in doubt until
    /// it learns the outcome.
    Prepared { txn: TxnId },
    /// A coordinator (or whoever terminated the transaction) decided its outcome.
    Decided { txn: TxnId, outcome: Outcome },
    /// A participant made the outcome final for its part: effects applied on commit,
    /// undone (or never done) on abort. `in_doubt_us` is how long it had been in doubt,
    /// `locks` how many locks it released and `lock_hold_us` the longest hold.
    Applied {
        txn: TxnId,
        outcome: Outcome,
        in_doubt_us: u64,
        locks: u32,
        lock_hold_us: u64,
    },
    /// The coordinator is done with the transaction (all acknowledgements in, or it
    /// forgot it): the end of the protocol's causal chain.
    Finished { txn: TxnId },
    /// A client issued a request for `txn`.
    Requested { txn: TxnId },
    /// The coordinator told the client it cannot tell whether it already began `txn`
    /// (a copy of a request from before its restart): no definite answer will come.
    Refused { txn: TxnId },
    /// A client got a definite answer for `txn`.
    Answered {
        txn: TxnId,
        outcome: Outcome,
        latency_us: u64,
    },
    /// A node found an inconsistency about `txn` (a lost order, a state mismatch, a
    /// half-done saga, a partial compensation) and either fixed it or flagged it for
    /// an operator. Inconsistencies left at the end that nobody reported are *silent*.
    Repair { txn: TxnId, class: RepairClass },
    /// A participant undid the part of `txn` it had applied (a saga's compensation):
    /// its part now counts as aborted.
    Compensated { txn: TxnId },
    /// `txn` reached a consistent end — every effect applied, or every applied effect
    /// undone, nothing of it left in flight — `age_us` after it began (by the
    /// reporter's clock). BASE protocols report it; the checkers derive the time to
    /// consistency from it.
    Consistent { txn: TxnId, age_us: u64 },
    /// From now on a reader can see an invariant of `txn` broken (money debited and
    /// not yet credited: "in flight"), until [`Observation::AnomalyEnded`].
    AnomalyBegan { txn: TxnId },
    /// The anomaly `txn` made visible is gone.
    AnomalyEnded { txn: TxnId },
    /// A reliable-messaging fact about the message of transaction `txn` (one message
    /// per transfer: its id is the transaction id).
    Messaging { txn: TxnId, event: MessagingEvent },
    /// A service-call pattern acted on order `txn` (counted in `report.calls`).
    Call { txn: TxnId, event: CallEvent },
    /// A TCC participant's or coordinator's fence event (DESIGN §6 "TCC anomalies").
    Tcc { txn: TxnId, event: TccEvent },
    /// A cache-and-database fact about `key` (protocol `cache`; counted in
    /// `report.cache`). `txn` is the client request it serves (0 where none).
    Cache {
        txn: TxnId,
        key: u32,
        event: CacheEvent,
    },
    /// A global-id fact (protocol `ids`; counted in `report.ids`). `txn` is the
    /// order request it is about (0 where none).
    Id { txn: TxnId, event: IdEvent },
    /// A fact about the feature switch and the requests decided by it (protocol
    /// `local_cache`; counted in `report.local_cache`). `txn` is the request (0 for
    /// a view's change).
    LocalCache { txn: TxnId, event: LocalCacheEvent },
    /// A fact of the protocol's own, outside the shared vocabulary (a user protocol's
    /// refusals, retries, elections...): counted by `name` in the report's `facts`
    /// (how many, and the sum of `value`), which expectations read as
    /// `facts.NAME.count` and `facts.NAME.sum`.
    Fact {
        txn: TxnId,
        name: &'static str,
        value: i64,
    },
    /// [`Observation::Applied`] with the times left to the checkers, which derive
    /// them from this node's own `Prepared` for `txn`: in doubt since then, and each
    /// of its `locks` held since then (both 0 when it never prepared). A protocol
    /// whose locks are taken at prepare and released at apply need not keep the
    /// prepare time itself; one that measures otherwise reports `Applied`.
    Resolved {
        txn: TxnId,
        outcome: Outcome,
        locks: u32,
    },
    /// A participant in doubt ends its doubt with an outcome of its own instead of one
    /// it learned (XA's heuristic decision, the simple 3PC's decide-alone timeout
    /// rule): said just before the `Applied` or
    /// `Resolved` of that outcome, so that the checkers and the story do not say it
    /// waited for the outcome. Whether the outcome agrees with the transaction's is
    /// for the checkers to judge, as with any other.
    DecidedAlone { txn: TxnId },
}

/// What the service-call patterns did (protocol `calls`; see `book/src/service-calls.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum CallEvent {
    /// A synchronous call got no answer in time, or an asynchronous callback is overdue.
    Timeout,
    /// The caller asked the callee for the status of a request id.
    Query,
    /// The caller decided to undo (call the reverse operation).
    Compensation,
    /// A persisted task or a query was sent again.
    Retry,
    /// Reconciliation found an order that one side has and the other not.
    LostOrder,
    /// Reconciliation found an order both sides have, in different states.
    StateMismatch,
    /// Reconciliation compared one page of records (`txn`: the page's first id).
    ReconciliationBatch,
    /// A reconciliation pass over every service finished, `took_us` after it began.
    ReconciliationPass { took_us: u64 },
    /// A request, call or answer arrived for a request id already settled and
    /// archived (below the service's watermark): answered from the watermark, nothing
    /// done again.
    LateForArchived,
}

/// What an id generator, its sequence database and the orders' dedupe table did
/// (protocol `ids`; see `book/src/global-ids.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum IdEvent {
    /// A generator gave request `txn` the id `id`.
    Issued { id: u64 },
    /// The sequence database granted generator `gen` the ids `[from, to)`.
    BlockGranted { gen: NodeId, from: u64, to: u64 },
    /// A generator took the block `[from, to)` into use (its previous block, if any,
    /// is given up: what it did not issue of it is a gap).
    BlockTaken { from: u64, to: u64 },
    /// A generator refused request `txn`: its clock reads earlier than ids it has
    /// already issued (the guard `Refuse`).
    Refused,
    /// A generator held request `txn` back for `us` until its clock passed the
    /// last id's time (the guard `Wait`), or until the next ms (`sequence`: the
    /// ms's 4096 sequence numbers were used up).
    Waited { us: u64, sequence: bool },
    /// A guarded Snowflake generator wrote its lease durably: ids below `until_ms`
    /// (one forced write, the guard's cost besides its waits and refusals).
    Lease { until_ms: u64 },
    /// The orders table recorded order `txn` under `id`.
    Recorded { id: u64 },
    /// The orders table dropped order `txn` as a duplicate: it already holds `id`,
    /// for the different order `holder`. A real order is lost, and the generator is
    /// told it was recorded (a dedupe table answers "already done").
    DroppedReal { id: u64, holder: TxnId },
    /// The orders table got order `txn` again under a second id `id` (the request
    /// reached a generator twice): it now holds the order twice.
    SecondId { id: u64 },
    /// A generator logged order `txn` as accepted (recorded downstream) and told
    /// the client so.
    Accepted { id: u64 },
    /// Reconciliation found order `txn` accepted by a generator and absent from the
    /// orders table: a lost order.
    LostFound,
}

/// What happened to one key of the cache and its database (protocol `cache`). A
/// value is the id of the request that wrote it ([`CACHE_INITIAL`] before any write),
/// so the checkers can tell which of two values the database committed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum CacheEvent {
    /// The database committed `value` for the key (its newest committed value now).
    DbCommitted { value: u64 },
    /// The database served a read of the key (the load the cache is there to spare).
    DbRead,
    /// The cache now holds `value` for the key (a fill, an update, a write-through).
    Installed { value: u64 },
    /// The cache's entry for the key was deleted (a writer's invalidation).
    Deleted,
    /// The cache's entry for the key expired (its TTL).
    Expired,
    /// A reader began reading the key (request `txn`).
    ReadBegan,
    /// The read of request `txn` returned `value`, from the cache (`hit`) or, on a
    /// miss, from the database.
    ReadReturned { value: u64, hit: bool },
    /// Composite entries (`sources > 1`): the cache now holds a *partial* entry for
    /// the key, `missing` of its parts absent; `value` is its database part, if that
    /// part is there.
    InstalledPartial { value: Option<u64>, missing: u32 },
    /// The read of request `txn` returned a partial entry (from the cache, `hit`, or
    /// from the fill that built it); `value` is its database part, if there.
    ReadReturnedPartial { value: Option<u64>, hit: bool },
    /// The read of request `txn` failed: its entry could not be filled completely,
    /// and the app would not cache or serve a part of it (`fill: AllOrNothing`).
    ReadFailed,
    /// A read asked its missing parts again after its part timeout.
    PartRetried,
    /// The consumer (the client) received a partial entry for request `txn` and
    /// could not use it.
    ConsumerError,
}

/// What happened to the feature switch and the requests decided by it (protocol
/// `local_cache`). A *holder* is a node that keeps a copy of the switch (a service
/// node's local cache, or the distributed cache): it reports its copy's changes,
/// and a crash of it loses the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum LocalCacheEvent {
    /// The config store committed the switch's new value (the source of truth).
    SwitchCommitted { on: bool, version: u64 },
    /// The reporting holder now keeps this copy of the switch.
    ViewSet { on: bool, version: u64 },
    /// The reporting holder's copy expired (its TTL): it has none.
    ViewDropped,
    /// An attempt of request `txn` saw the switch so (the view it decided on).
    Viewed { on: bool, version: u64 },
    /// That attempt sent request `txn` down path `on` (the new path if on).
    Took { on: bool },
    /// Path `on` charged request `txn` `amount` (the first time on that path).
    Charged { on: bool, amount: u64 },
}

/// The value every key of the cache workload holds before its first write.
pub const CACHE_INITIAL: u64 = u64::MAX;

/// What a TCC fence saw. The `*Applied`/`Hanging*` events are anomalies that happen
/// only when a guard is switched off; the others are the guards doing their work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TccEvent {
    /// A repeated Confirm or Cancel was applied again (idempotency guard off).
    DuplicateApplied,
    /// A Cancel for a branch that never tried released what was never reserved
    /// (empty-rollback guard off).
    EmptyRollbackApplied,
    /// A Cancel for a branch that never tried was recorded and changed nothing.
    EmptyRollbackRecorded,
    /// A Try that arrived after its Cancel reserved anyway (anti-hanging guard off):
    /// nobody will ever confirm or cancel it.
    HangingReservation,
    /// A Try that arrived after its Cancel was refused (the anti-hanging guard).
    LateTryRefused,
    /// A repeated Confirm or Cancel was recognised and not applied again.
    DuplicateIgnored,
    /// The coordinator found Cancel acknowledged by some participants only, at a
    /// retry: a partial compensation, until a retry completes it.
    PartialCompensation,
}

/// Who dealt with an inconsistency (DESIGN §6 "repair class").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RepairClass {
    /// A recovery job, compensation, retry or reconciliation fixed it.
    Automatic,
    /// Detected but not fixable automatically: flagged for an operator.
    Operator,
}

impl Observation {
    /// `Applied` for a participant that was never in doubt: it refused, or learned the
    /// outcome before voting, or committed a one-shard transaction on its own.
    pub fn applied_at_once(txn: TxnId, outcome: Outcome, locks: u32) -> Self {
        Observation::Applied {
            txn,
            outcome,
            in_doubt_us: 0,
            locks,
            lock_hold_us: 0,
        }
    }

    /// The transaction this observation is about.
    pub fn txn(&self) -> TxnId {
        match *self {
            Observation::TxnBegun { txn, .. }
            | Observation::Prepared { txn }
            | Observation::Decided { txn, .. }
            | Observation::Applied { txn, .. }
            | Observation::Finished { txn }
            | Observation::Requested { txn }
            | Observation::Refused { txn }
            | Observation::Answered { txn, .. }
            | Observation::Repair { txn, .. }
            | Observation::Compensated { txn }
            | Observation::Consistent { txn, .. }
            | Observation::AnomalyBegan { txn }
            | Observation::AnomalyEnded { txn }
            | Observation::Messaging { txn, .. }
            | Observation::Call { txn, .. }
            | Observation::Tcc { txn, .. }
            | Observation::Cache { txn, .. }
            | Observation::Id { txn, .. }
            | Observation::LocalCache { txn, .. }
            | Observation::Fact { txn, .. }
            | Observation::Resolved { txn, .. }
            | Observation::DecidedAlone { txn } => txn,
        }
    }
}

/// A fact about a node's state, reported when asked (start and end of a run).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuditItem {
    /// Money this node holds (summed over all nodes for conservation).
    Money { amount: i64 },
    /// Money this node will add (or remove) if in-doubt transaction `txn` commits.
    /// Where `txn` already committed elsewhere, this is money in flight: neither
    /// created nor destroyed.
    MoneyInDoubt { txn: TxnId, amount: i64 },
    /// This node has voted yes on `txn` and has not known the outcome for `for_us`
    /// (measured by its own clock).
    InDoubt { txn: TxnId, for_us: u64 },
    /// This node has held a lock on `key` for `txn` for `for_us`.
    LockHeld {
        txn: TxnId,
        key: u64,
        for_us: u64,
        in_doubt: bool,
    },
    /// A coordinator's soft state for `txn` is not at a consistent end (a saga neither
    /// finished nor compensated), `for_us` after the transaction began.
    Unfinished { txn: TxnId, for_us: u64 },
    /// This node holds the message of `txn`, worth `amount` to its consumer, for
    /// delivery (an outbox row, a broker queue entry, a producer's retry buffer).
    /// `ready` is false for a half message the producer has not confirmed yet; `id` is
    /// its place in its stream (`None` for a half message, numbered at its confirm).
    MessageHeld {
        txn: TxnId,
        amount: i64,
        ready: bool,
        id: Option<MessageId>,
    },
    /// This service's record of order `txn` (the order → pay → ship chain).
    Chain { txn: TxnId, record: ChainRecord },
    /// The balance of one key (an account; a SKU's stock or orders), for checks key
    /// by key. Shards with more than [`KEY_AUDIT_MAX`] keys report only `Money`.
    KeyBalance { key: u32, amount: i64 },
    /// The change in-doubt transaction `txn` would still make to `key` here (the
    /// per-key part of `MoneyInDoubt`; reported with `KeyBalance`).
    KeyInDoubt { txn: TxnId, key: u32, amount: i64 },
}

// The order chain's records (protocol `calls`), carried by `AuditItem::Chain`; the
// business rule over them is `workload::order_chain::check`.

/// An order as the order service records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum OrderState {
    /// Created; the payment call is out (or its outcome unknown).
    Paying,
    /// Payment confirmed; the client was told yes; shipping is to follow.
    Paid,
    /// Shipped: the order is complete.
    Shipped,
    /// Decided to cancel; the reverse call (refund) is not confirmed yet.
    Cancelling,
    /// Cancelled.
    Cancelled,
}

/// A charge as the payment service records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PaymentState {
    /// Accepted for asynchronous processing; not charged yet.
    Pending,
    Charged,
    /// Charged, then refunded by the reverse operation.
    Refunded,
    /// Cancelled before any charge: a late charge request for this id is refused
    /// (the guard against a request that overtakes its own cancellation).
    Fenced,
}

impl PaymentState {
    /// Is the customer's money taken?
    pub fn charged(self) -> bool {
        self == PaymentState::Charged
    }
}

/// One service's record of an order, as audited at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainRecord {
    Order(OrderState),
    /// `charges`: how many times money was taken for this id (more than one is a
    /// double charge; the request id makes it impossible, the check makes sure).
    Payment {
        state: PaymentState,
        charges: u32,
    },
    Shipping,
    /// The order service's archive (audited with `txn` = its watermark: every request
    /// id below it is settled): the orders it archived, final, confirmed and so
    /// consistent at every service, by state.
    OrdersArchived {
        shipped: u64,
        cancelled: u64,
    },
    /// The payment service's archive (`txn` = the watermark it has heard of): its
    /// records below it, by state, with the money takings and the records that took
    /// money more than once.
    PaymentsArchived {
        charged: u64,
        refunded: u64,
        fenced: u64,
        pending: u64,
        charges: u64,
        charged_twice: u64,
    },
    /// The shipping service's archive (`txn` = the watermark it has heard of).
    ShipmentsArchived {
        shipments: u64,
    },
}

/// A message's place in its stream: the `seq`-th message (0, 1, 2, ...) `producer`
/// sends to `consumer`, numbered in the durable write that commits it to sending.
/// Dense per stream, so a checker can fold finished messages into a watermark and
/// ranges instead of remembering each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MessageId {
    pub producer: NodeId,
    pub consumer: NodeId,
    pub seq: u64,
}

/// What happened to a message (reliable messaging, `protocols::messaging`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum MessagingEvent {
    /// The producer's business change (the debit) committed locally.
    Debited { amount: i64, id: MessageId },
    /// The broker accepted the message for delivery (first time only).
    Published { id: MessageId },
    /// The broker sent the message to its consumer (every delivery after the first
    /// is a redelivery: no acknowledgement came in time, or the broker restarted).
    Delivered { id: MessageId },
    /// The consumer changed its state for the message (the credit): more than once
    /// for the same message is a double application.
    Credited { amount: i64, id: MessageId },
    /// The consumer received a message it had already applied and its idempotence
    /// method kept the state unchanged.
    DuplicateIgnored,
    /// The message service asked the producer about a half message left pending.
    CheckBack,
}

/// Shards with at most this many keys report `KeyBalance` per key (the business
/// workloads' services); larger ones (bank shards of millions of accounts) do not.
pub const KEY_AUDIT_MAX: u32 = 4096;

/// Pushes `KeyBalance` for each key of a shard of at most [`KEY_AUDIT_MAX`] keys.
pub fn audit_keys(balances: impl ExactSizeIterator<Item = i64>, out: &mut Vec<AuditItem>) {
    if balances.len() > KEY_AUDIT_MAX as usize {
        return;
    }
    for (key, amount) in balances.enumerate() {
        out.push(AuditItem::KeyBalance {
            key: key as u32,
            amount,
        });
    }
}

/// What a resource manager that prepares changes under locks (2PC, 3PC) tells the
/// checkers: its money and each key's balance, each change it is in doubt about
/// (`(txn, prepared at, ops)`) and each lock it holds.
pub fn audit_resource_manager<'a>(
    ledger: &Ledger,
    in_doubt: impl Iterator<Item = (TxnId, u64, &'a ShardOps)>,
    locks: &LockTable,
    now_us: u64,
    out: &mut Vec<AuditItem>,
) {
    out.push(AuditItem::Money {
        amount: ledger.total(),
    });
    audit_keys(ledger.balances(), out);
    let mut doubtful = std::collections::BTreeSet::new();
    for (txn, prepared_at_us, ops) in in_doubt {
        doubtful.insert(txn);
        out.push(AuditItem::InDoubt {
            txn,
            for_us: now_us.saturating_sub(prepared_at_us),
        });
        out.push(AuditItem::MoneyInDoubt {
            txn,
            amount: ops.as_slice().iter().map(|o| o.delta).sum(),
        });
        for o in ops.as_slice() {
            out.push(AuditItem::KeyInDoubt {
                txn,
                key: o.key,
                amount: o.delta,
            });
        }
    }
    for (key, txn, since_us) in locks.iter() {
        out.push(AuditItem::LockHeld {
            txn,
            key: u64::from(key),
            for_us: now_us.saturating_sub(since_us),
            in_doubt: doubtful.contains(&txn),
        });
    }
}
