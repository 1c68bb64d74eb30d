//! Reliable messaging: a transfer A → B as a local debit on the producer's shard and
//! a message that credits B on the consumer's shard, eventually (BASE).
//!
//! Sources: Dan Pritchett, "BASE: An ACID Alternative" (ACM Queue, 2008) — the message
//! queue with idempotent updates; Chris Richardson, "Pattern: Transactional outbox"
//! (microservices.io); Apache RocketMQ's transactional messages (half message, commit
//! or rollback, and the broker's check-back of the producer's local transaction).
//!
//! Roles (node names as in every protocol): `tm` is a stateless gateway that routes a
//! client's request to the service owning the debited account; `rm1..rmN` are services
//! (each one's own store), producing messages for debits on their shard and consuming
//! messages that credit it; `broker` is the durable queue and, for half messages, the
//! independent message service; `client`.
//!
//! The producer's mechanism ([`Mechanism`]):
//! - `Outbox`: the debit and the message row are one local transaction (one
//!   `persist`); a relay publishes the row, deletes it once the broker acknowledges,
//!   and re-publishes what stays unacknowledged (also after a restart).
//! - `HalfMessage`: register a half message with the message service, commit the
//!   debit, confirm; the service asks the producer back about half messages pending
//!   too long, and the producer's log answers commit or roll back.
//! - `PublishThenCommit` (unsafe): publish, then commit: a crash in between leaves a
//!   *phantom* message for a debit that never happened: money is created.
//! - `CommitThenPublish` (unsafe): commit, then publish from memory: a crash in between
//!   *loses* the message of a debit that happened: money is destroyed.
//!
//! The broker delivers at least once: it redelivers until the consumer acknowledges,
//! so duplicates are real (a lost acknowledgement, a consumer or broker restart, the
//! network duplicating). The consumer's [`Idempotence`] method decides whether a
//! duplicate is applied twice.
//!
//! **Memory that never forgets what can still arrive.** Every message carries its
//! number in its stream (producer → consumer), given in the producer's durable write
//! that commits it to sending (the outbox row, the local commit). The broker keeps
//! the numbers it has delivered and had acknowledged, and the `DedupeTable` consumer
//! the numbers it has applied, each as a [`SeqSet`]: exact — a copy arriving however
//! late is recognised — and as small as the messages still in flight. No bounded
//! window stands between a re-publish and its delivery: a window that counts an old
//! id as "seen" is safe for applying at most once but silently loses a message that
//! must be delivered at least once.
//!
//! The rest is as flat in the number of transfers, and as exact:
//! - the other consumers keep their records (credit rows, stages, incoming rows) in a
//!   table of [`LIVE_RECORDS`]; the oldest go to an archive whose index is their
//!   message numbers, a `SeqSet` ([`Durable::archived`]), so a repeat still finds its
//!   row, its final stage or its value however late it comes;
//! - the producer guards against a repeated request with a durable window of the ids
//!   it has begun ([`Durable::begun`]); an id older than the window is refused as
//!   stale (the client hears), never presumed new or seen;
//! - a half-message producer keeps what a check-back reads only until the broker's
//!   acknowledged watermark of the stream — sent with every `Registered` — passes the
//!   message ([`Durable::half_committed`]).

mod broker;
mod consumer;
mod producer;

pub use crate::seqset::SeqSet;

pub mod build;

use crate::idmap::RecentIds;
use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::observe::{AuditItem, MessageId};
use crate::store::{Ledger, ShardOps};
use crate::workload::{Client, ClientTimer, TxnRequest};
use std::collections::BTreeMap;

/// How the producer gets its message out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Outbox,
    HalfMessage,
    PublishThenCommit,
    CommitThenPublish,
}

/// How the consumer makes a repeated message harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Idempotence {
    /// A credit row per transfer in the business store, unique on the transfer id:
    /// the repeat's insert fails and its transaction rolls back.
    UniqueKey,
    /// A separate table of processed message ids, checked and written in the same
    /// local transaction as the credit (works for any operation, not just inserts).
    DedupeTable,
    /// The transfer's record on the consumer has a state that only moves forward;
    /// a message asking for a transition already made is not a transition.
    StateMachine,
    /// The credit is written as `set row[transfer] = amount` and the balance is the
    /// sum of the rows: doing it twice leaves the same state. No check at all.
    NaturallyIdempotent,
    /// "balance += amount" on every delivery: duplicates are applied twice.
    NoDedupe,
}

/// Options of the messaging protocol (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessagingOptions {
    pub mechanism: Mechanism,
    pub idempotence: Idempotence,
    /// Time between the producer's two steps: the window a crash can fall into.
    pub step_delay_us: u64,
    pub retry_us: u64,
    pub redeliver_us: u64,
    pub checkback_us: u64,
    /// The message service asks producers about half messages left pending.
    pub check_back: bool,
}

/// The message of a transfer: credit `ops` on the consumer's shard. Its id is the
/// transaction id (one message per transfer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Message {
    pub txn: TxnId,
    pub producer: NodeId,
    pub consumer: NodeId,
    /// Its number in the stream `producer → consumer` (0, 1, 2, ...), given durably
    /// when the producer commits to sending it. A half message gets it when the
    /// producer's local transaction commits (its confirm carries it): `None` until then.
    pub seq: Option<u64>,
    pub ops: ShardOps,
}

impl Message {
    /// What the credit adds on the consumer's shard.
    pub fn amount(&self) -> i64 {
        self.ops.as_slice().iter().map(|o| o.delta).sum()
    }

    /// Its place in its stream, once numbered.
    pub fn id(&self) -> Option<MessageId> {
        self.seq.map(|seq| MessageId {
            producer: self.producer,
            consumer: self.consumer,
            seq,
        })
    }

    /// Its place in its stream; only for a message numbered already.
    pub(crate) fn numbered(&self) -> MessageId {
        self.id().expect("a message past its commit is numbered")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Msg {
    /// Client → gateway.
    Request(TxnRequest),
    /// Gateway → the service owning the debited account.
    Begin { req: TxnRequest, client: NodeId },
    /// Producer → client, once the debit committed (or was refused).
    Reply { txn: TxnId, outcome: Outcome },
    /// Producer → broker. `republish`: sent by the relay's retry or after a restart.
    Publish { msg: Message, republish: bool },
    /// Broker → producer: the message is durably queued (publisher confirm).
    Stored { txn: TxnId },
    /// Producer → message service: a half message, not deliverable yet.
    Register { msg: Message },
    /// Message service → producer: the half message is durably registered.
    /// `done_below`: every message of the stream (producer → the half message's
    /// consumer) numbered below it is delivered and acknowledged (the broker's
    /// watermark, so the producer can drop its records of them).
    Registered { txn: TxnId, done_below: u64 },
    /// Producer → message service: the local transaction committed; deliver. `seq`:
    /// the message's number, given at the commit. `checked`: the answer to a check-back.
    Confirm { txn: TxnId, seq: u64, checked: bool },
    /// Producer → message service: the local transaction rolled back; drop it.
    Discard { txn: TxnId },
    /// Message service → producer: what became of your local transaction?
    CheckBack { txn: TxnId },
    /// Broker → consumer.
    Deliver { msg: Message },
    /// Consumer → broker: applied (or recognised as a repeat); stop redelivering.
    Ack { txn: TxnId },
    /// Producer → client: the request's id is older than the producer's window of
    /// recent ids, so it cannot tell whether it began it; it does not begin it. Ids
    /// from `floor` on are new to it.
    Stale { txn: TxnId, floor: TxnId },
}

impl Msg {
    /// The transaction this message is about (traces, diagrams and stories read it).
    pub fn txn(&self) -> Option<TxnId> {
        match self {
            Msg::Request(req) => Some(req.txn),
            Msg::Begin { req, .. } => Some(req.txn),
            Msg::Reply { txn, .. } => Some(*txn),
            Msg::Stored { txn, .. } => Some(*txn),
            Msg::Registered { txn, .. } => Some(*txn),
            Msg::Confirm { txn, .. } => Some(*txn),
            Msg::Discard { txn, .. } => Some(*txn),
            Msg::CheckBack { txn, .. } => Some(*txn),
            Msg::Ack { txn, .. } => Some(*txn),
            Msg::Stale { txn, .. } => Some(*txn),
            Msg::Publish { msg, .. } => Some(msg.txn),
            Msg::Register { msg, .. } => Some(msg.txn),
            Msg::Deliver { msg, .. } => Some(msg.txn),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// Producer: the second step of `txn` (publish, commit or confirm).
    Step(TxnId),
    /// Producer: re-publish / re-register what is unacknowledged.
    Retry,
    /// Broker: redeliver what is unacknowledged.
    Redeliver,
    /// Message service: ask producers about half messages left pending.
    CheckBack,
}

/// A message in the broker's durable queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Queued {
    pub msg: Message,
    /// False for a half message not yet confirmed.
    pub ready: bool,
    /// When it was registered or published (broker clock).
    pub since_us: u64,
}

/// The consumer's state of a transfer it receives (the `StateMachine` method).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Credited,
}

/// The consumer's record of a transfer it applied (a credit row, a stage, an incoming
/// row): the transfer's business data, and where its message stands in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Received<T> {
    pub producer: NodeId,
    pub seq: u64,
    pub value: T,
}

/// Records a consumer keeps in its table before the oldest go to the archive (see
/// [`Durable::archived`]): a modelled table size, not a bound on what is remembered.
pub const LIVE_RECORDS: usize = 1024;

/// Everything any node keeps durably (each role uses its part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Service: balances.
    pub ledger: Ledger,
    /// Producer: the local message table (rows not yet acknowledged by the broker).
    pub outbox: BTreeMap<TxnId, Message>,
    /// Producer: the request ids whose local transaction it has recorded (committed,
    /// refused, rolled back): the guard against a repeated request, written in the
    /// same write as the local transaction. A window of recent ids: an id older than
    /// the window is *forgotten* and its request refused as stale (the client hears),
    /// never presumed new or seen (see [`RecentIds::recall`]).
    pub begun: RecentIds,
    /// Producer, `HalfMessage`: the local transactions committed whose message the
    /// broker may still ask about (what a check-back reads): transfer → (consumer,
    /// number). A record goes once the broker's acknowledged watermark of its stream,
    /// which the broker sends with every `Registered`, passes its number: the message
    /// is delivered and acknowledged, and a check-back can only come from a late copy
    /// of its Register, which "rolled back" answers rightly (the broker drops it).
    pub half_committed: BTreeMap<TxnId, (NodeId, u64)>,
    /// The same records by (consumer, number), for dropping them by watermark.
    pub half_by_seq: BTreeMap<(NodeId, u64), TxnId>,
    /// Producer: the next message number of each stream, by consumer.
    pub next_seq: BTreeMap<NodeId, u64>,
    /// Consumer, `UniqueKey`: the credit rows, unique on the transfer id.
    pub credit_rows: BTreeMap<TxnId, Received<i64>>,
    /// Consumer, `DedupeTable`: the numbers of the messages applied, by producer
    /// (exact, and as small as the messages still in flight: see [`SeqSet`]).
    pub dedupe: BTreeMap<NodeId, SeqSet>,
    /// Consumer, `StateMachine`: each received transfer's state.
    pub stages: BTreeMap<TxnId, Received<Stage>>,
    /// Consumer, `NaturallyIdempotent`: incoming transfers as (key, amount) rows;
    /// they count into the balance (it is a view: ledger + rows).
    pub incoming: BTreeMap<TxnId, Received<(u32, i64)>>,
    /// The rows' sum per account, kept in the same write as the rows (the view's
    /// index: a balance check reads one entry, not every row).
    pub incoming_by_key: BTreeMap<u32, i64>,
    /// Consumer, `UniqueKey` / `StateMachine` / `NaturallyIdempotent`: the archive.
    /// Past [`LIVE_RECORDS`] the oldest records leave the table, in the same write that
    /// adds a new one: a credit row or a final stage goes to the archive, an incoming
    /// row is folded into the ledger. The archive's index is the records' message
    /// numbers by producer, a [`SeqSet`] — exact and as small as the gaps — so a
    /// repeat still collides with its archived row (the unique key), finds its
    /// transfer at its final stage (the state machine) or sets its row to the value it
    /// has (naturally idempotent), however late it comes.
    pub archived: BTreeMap<NodeId, SeqSet>,
    /// Broker: the queue.
    pub queue: BTreeMap<TxnId, Queued>,
    /// Broker: the numbers of the messages delivered and acknowledged, by stream
    /// (producer, consumer), so that a re-publish of one of them — however late — is
    /// not queued again. Exact, and as small as the messages still in flight.
    pub done: BTreeMap<(NodeId, NodeId), SeqSet>,
    /// Client: transaction-id watermark.
    pub txn_watermark: u64,
}

/// The stateless gateway: routes a request to the service owning the debit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gateway {
    rms: Vec<NodeId>,
}

/// What a producer remembers (volatile) of a transaction it is working on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Working {
    client: NodeId,
    debit: ShardOps,
    msg: Message,
    /// `HalfMessage`: still waiting for `Registered` (last sent at this time).
    registering: Option<u64>,
}

/// A service: one shard's store; producer of its debits' messages, consumer of the
/// messages that credit it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    shard: u32,
    rms: Vec<NodeId>,
    broker: NodeId,
    opts: MessagingOptions,
    working: BTreeMap<TxnId, Working>,
    /// Outbox rows published and not yet acknowledged: when last sent.
    sent_at: BTreeMap<TxnId, u64>,
    /// The unsafe variants' in-memory retry buffer: message and last send time.
    unsent: BTreeMap<TxnId, (Message, u64)>,
    retry_armed: bool,
}

/// The broker and message service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Broker {
    opts: MessagingOptions,
    /// Ready messages: when last delivered (volatile: lost on a crash, so a restarted
    /// broker redelivers everything).
    delivered_at: BTreeMap<TxnId, u64>,
    /// Half messages: when the producer was last asked about them.
    checked_at: BTreeMap<TxnId, u64>,
    redeliver_armed: bool,
    checkback_armed: bool,
}

/// Every role of a messaging world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessagingNode {
    Client(Client),
    Gateway(Gateway),
    Service(Service),
    Broker(Broker),
}

impl MessagingNode {
    pub fn gateway(rms: Vec<NodeId>) -> Self {
        MessagingNode::Gateway(Gateway { rms })
    }

    pub fn service(shard: u32, rms: Vec<NodeId>, broker: NodeId, opts: MessagingOptions) -> Self {
        MessagingNode::Service(Service {
            shard,
            rms,
            broker,
            opts,
            working: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            unsent: BTreeMap::new(),
            retry_armed: false,
        })
    }

    pub fn broker(opts: MessagingOptions) -> Self {
        MessagingNode::Broker(Broker {
            opts,
            delivered_at: BTreeMap::new(),
            checked_at: BTreeMap::new(),
            redeliver_armed: false,
            checkback_armed: false,
        })
    }

    /// The durable store a service starts with.
    pub fn service_durable(ledger: Ledger) -> Durable {
        Durable {
            ledger,
            ..Durable::default()
        }
    }
}

type C<'a> = Ctx<'a, MessagingNode>;

/// Takes the next number of the stream to `consumer` (inside a `persist`).
fn take_seq(d: &mut Durable, consumer: NodeId) -> u64 {
    let next = d.next_seq.entry(consumer).or_insert(0);
    let seq = *next;
    *next += 1;
    seq
}

/// Can `ops` be applied without a negative balance? An account's balance is its
/// ledger entry plus (under `NaturallyIdempotent`) the credit rows for it.
fn funds_ok(d: &Durable, ops: &ShardOps) -> bool {
    ops.as_slice().iter().all(|o| {
        let rows = d.incoming_by_key.get(&o.key).copied().unwrap_or(0);
        d.ledger
            .balance(o.key)
            .and_then(|b| b.checked_add(rows)?.checked_add(o.delta))
            .is_some_and(|n| n >= 0)
    })
}

// The client (see [`super::coordinated`]).
client_world! { node: MessagingNode, msg: Msg, timer: Timer, durable: Durable }

impl Node for MessagingNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        msg.txn()
    }

    fn on_start(&mut self, ctx: &mut C<'_>) {
        if let MessagingNode::Client(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut C<'_>) {
        match self {
            MessagingNode::Client(c) => c.on_message(msg, ctx),
            MessagingNode::Gateway(g) => {
                if let Msg::Request(req) = msg {
                    // The producer is the service that gives: the shard of the first
                    // debit (stock leaves inventory before an order row appears).
                    let debit = req.ops.iter().find(|o| o.delta < 0).or(req.ops.first());
                    if let Some(first) = debit {
                        let to = g.rms[first.shard as usize];
                        ctx.send(to, Msg::Begin { req, client: from });
                    }
                }
            }
            MessagingNode::Service(s) => s.on_message(from, msg, ctx),
            MessagingNode::Broker(b) => b.on_message(from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut C<'_>) {
        match (self, timer) {
            (MessagingNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (MessagingNode::Service(s), Timer::Step(txn)) => s.step(txn, ctx),
            (MessagingNode::Service(s), Timer::Retry) => s.retry(ctx),
            (MessagingNode::Broker(b), Timer::Redeliver) => b.redeliver(ctx),
            (MessagingNode::Broker(b), Timer::CheckBack) => b.check_back(ctx),
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut C<'_>) {
        match self {
            MessagingNode::Client(c) => c.on_recover(ctx),
            MessagingNode::Service(s) => s.recover(ctx),
            MessagingNode::Broker(b) => b.recover(ctx),
            MessagingNode::Gateway(_) => {}
        }
    }

    fn audit(&self, d: &Durable, _now_us: u64, out: &mut Vec<AuditItem>) {
        match self {
            MessagingNode::Service(s) => {
                let rows: i64 = d.incoming.values().map(|r| r.value.1).sum();
                out.push(AuditItem::Money {
                    amount: d.ledger.total() + rows,
                });
                let held = d.outbox.values().chain(s.unsent.values().map(|(m, _)| m));
                for m in held {
                    out.push(AuditItem::MessageHeld {
                        txn: m.txn,
                        amount: m.amount(),
                        ready: true,
                        id: m.id(),
                    });
                }
            }
            MessagingNode::Broker(_) => {
                for q in d.queue.values() {
                    out.push(AuditItem::MessageHeld {
                        txn: q.msg.txn,
                        amount: q.msg.amount(),
                        ready: q.ready,
                        id: q.msg.id(),
                    });
                }
            }
            MessagingNode::Client(_) | MessagingNode::Gateway(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
