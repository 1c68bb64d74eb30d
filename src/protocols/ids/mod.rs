//! Global unique ids for orders, and what a duplicate does downstream (the survey on
//! jianshu.com p/1156151e20c8, "periodic reconciliation with global IDs": see
//! `../shared/sources`).
//!
//! Nodes: the `client` (order requests, spread round-robin over the generators), the
//! generators `gen0..genN-1`, which give each request an id, the `orders` service,
//! whose table is keyed by that id and doubles as its dedupe table, and `seq`, the
//! sequence database of the segment generator. A generator sends each order to
//! `orders` with its id; when `orders` answers, the generator logs the order as
//! accepted (durably) and tells the client. `orders` drops an order whose id it
//! already holds, as a dedupe table must, and answers "recorded" all the same: so a
//! duplicate id silently drops a *different*, real order. After the horizon,
//! `orders` reconciles: it asks every generator for its accepted orders and reports
//! each one it lacks — the lost order that only reconciliation finds.
//!
//! Two generators ([`Generator`]):
//!
//! - `Snowflake` (Twitter's Snowflake, 2010): 41 bits of wall-clock milliseconds,
//!   10 bits of node id, 12 bits of sequence within the ms ([`snowflake_id`]); a ms
//!   whose 4096 sequence numbers are used up waits for the next ms. The id reads the
//!   node's *wall* clock ([`Ctx::wall_us`]), which the scenario may step backward or
//!   forward (`faults.clock_steps`, as NTP steps a clock); its timers stay on the
//!   monotonic clock. [`Guard`] says what it does when the clock reads earlier than
//!   its last id: nothing (`None`: it reuses timestamps, and so ids), wait until the
//!   clock passes it (`Wait`), or refuse the request (`Refuse`, what Twitter's
//!   Snowflake does). A guard also keeps a durable lease on time (it writes "ids up
//!   to t + lease" before issuing past t, as Meituan's Leaf-snowflake records its
//!   time in ZooKeeper), so a restart with a clock behind the ids already issued is
//!   caught too; `lease: false` keeps the last id in memory only, as Twitter's
//!   Snowflake does, and a restart forgets it. `node_ids` can give two generators the same id (a misconfiguration).
//! - `Segment` (a database sequence handing out blocks, as Flickr's ticket servers
//!   and Leaf-segment do): `seq` durably hands each generator a block of `block` ids;
//!   the generator issues them in order from memory and asks for the next block when
//!   it runs out. A restart loses the rest of the block: gaps, never duplicates, ids
//!   ordered per generator and not across them.

pub mod build;

use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::observe::{IdEvent, Observation};
use crate::workload::{Answer, Client, ClientTimer, ClientWorld, HearsAnswers, TxnRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Bits of the Snowflake layout: timestamp (ms), node id, sequence.
pub const TIMESTAMP_BITS: u32 = 41;
pub const NODE_BITS: u32 = 10;
pub const SEQUENCE_BITS: u32 = 12;
/// The largest node id and sequence number.
pub const NODE_MAX: u64 = (1 << NODE_BITS) - 1;
pub const SEQUENCE_MAX: u64 = (1 << SEQUENCE_BITS) - 1;

/// The Snowflake id of timestamp `ms` (since the epoch), node `node`, sequence `seq`:
/// `ms << 22 | node << 12 | seq`. Fields too wide for their bits are masked.
pub fn snowflake_id(ms: u64, node: u64, seq: u64) -> u64 {
    let ms = ms & ((1 << TIMESTAMP_BITS) - 1);
    (ms << (NODE_BITS + SEQUENCE_BITS))
        | ((node & NODE_MAX) << SEQUENCE_BITS)
        | (seq & SEQUENCE_MAX)
}

/// The (timestamp, node, sequence) fields of a Snowflake id.
pub fn snowflake_fields(id: u64) -> (u64, u64, u64) {
    (
        id >> (NODE_BITS + SEQUENCE_BITS),
        (id >> SEQUENCE_BITS) & NODE_MAX,
        id & SEQUENCE_MAX,
    )
}

/// How ids are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Generator {
    /// Time-based: wall-clock ms, node id, sequence.
    #[default]
    Snowflake,
    /// Blocks of a durable database sequence.
    Segment,
}

/// What a Snowflake generator does when its clock reads earlier than its last id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Guard {
    /// Nothing: it issues ids with the earlier timestamp (and may repeat ids).
    None,
    /// Holds requests back until the clock passes the last id's time.
    #[default]
    Wait,
    /// Refuses requests until then (the client gets an abort).
    Refuse,
}

/// The nodes' configuration (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub generator: Generator,
    pub guard: Guard,
    /// Segment: ids per block.
    pub block: u64,
    /// Snowflake with a guard: whether it keeps a durable lease on time (without,
    /// it remembers its last id in memory only, and a restart forgets it).
    pub lease: bool,
    /// How far ahead of the clock the durable lease reaches.
    pub lease_us: u64,
    /// How often an unanswered request to `seq` or `orders` is sent again.
    pub retry_us: u64,
    /// A generator gives up on a request it has held back this long (the client's
    /// deadline); held requests are bounded by `queue_max`.
    pub deadline_us: u64,
    pub queue_max: usize,
    /// `orders` starts reconciling when its clock reads this (a restart later than
    /// that reconciles at once).
    pub reconcile_after_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Client → generator.
    Request(TxnRequest),
    /// Generator → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// Generator → orders: record order `txn` under `id`.
    Record { txn: TxnId, id: u64 },
    /// Orders → generator: recorded (or dropped as a duplicate: the same answer).
    Recorded { txn: TxnId, id: u64 },
    /// Generator → seq: a block, please (`ask` numbers the generator's requests).
    Take { ask: u64 },
    /// Seq → generator: the ids `[from, to)`, for request `ask`.
    Block { ask: u64, from: u64, to: u64 },
    /// Orders → generator: your accepted orders, please.
    Reconcile,
    /// Generator → orders: the orders it accepted, with their ids.
    Accepted { orders: Vec<(TxnId, u64)> },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// A generator looks at its held requests again.
    Retry,
    /// A segment generator asks `seq` again.
    AskAgain,
    /// A generator resends unanswered records.
    Resend,
    /// `orders` asks the generators that have not answered for their orders.
    Reconcile,
}

/// What survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Seq: the next id it hands out.
    pub next: u64,
    /// Generator (guarded Snowflake): ids are issued only below this ms.
    pub lease_ms: u64,
    /// Generator (segment): its requests to `seq` so far, so that a grant meant for
    /// an incarnation before a restart is never taken (it may be in use already).
    pub asks: u64,
    /// Generator: the orders it accepted (the access log reconciliation reads).
    pub accepted: BTreeMap<TxnId, u64>,
    /// Orders: the table, keyed by id (the dedupe table), and each order's id.
    pub table: BTreeMap<u64, TxnId>,
    pub orders: BTreeMap<TxnId, u64>,
    pub txn_watermark: u64,
}

/// A generator's id source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Source {
    Snowflake {
        node_id: u64,
        /// The last id's ms and sequence (none since the start).
        last: Option<(u64, u64)>,
    },
    Segment {
        /// The block in use: the next id and the block's end.
        block: Option<(u64, u64)>,
        ask: u64,
        asking: bool,
    },
}

/// A request held back, with when it arrived (on the generator's clock).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Held {
    txn: TxnId,
    since_us: u64,
    /// The guard held it back (the clock read earlier than the last id).
    clock_wait: bool,
}

/// An id generator in front of the orders service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gen {
    cfg: Config,
    seq: NodeId,
    orders: NodeId,
    client: NodeId,
    source: Source,
    held: VecDeque<Held>,
    retry_armed: bool,
    /// Requests given an id and not yet answered by `orders`.
    pending: BTreeMap<TxnId, u64>,
    resend_armed: bool,
}

/// The orders service: its table, and the reconciliation it runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orders {
    cfg: Config,
    gens: Vec<NodeId>,
    /// Generators whose accepted orders reconciliation has compared.
    reconciled: Vec<NodeId>,
    reconciling: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdsNode {
    Seq { block: u64 },
    Orders(Orders),
    Gen(Gen),
    Client(Client),
}

impl ClientWorld for IdsNode {
    fn request_msg(req: TxnRequest) -> Msg {
        Msg::Request(req)
    }
    fn client_timer(t: ClientTimer) -> Timer {
        Timer::Client(t)
    }
    fn watermark(d: &Durable) -> u64 {
        d.txn_watermark
    }
    fn set_watermark(d: &mut Durable, to: u64) {
        d.txn_watermark = to;
    }
}

impl HearsAnswers for IdsNode {
    fn answer(msg: Msg) -> Option<Answer> {
        match msg {
            Msg::Reply { txn, outcome } => Some(Answer::Outcome { txn, outcome }),
            _ => None,
        }
    }
}

fn observe(ctx: &mut Ctx<'_, IdsNode>, txn: TxnId, event: IdEvent) {
    ctx.observe(Observation::Id { txn, event });
}

impl Node for IdsNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        match *msg {
            Msg::Request(ref r) => Some(r.txn),
            Msg::Reply { txn, .. } | Msg::Record { txn, .. } | Msg::Recorded { txn, .. } => {
                Some(txn)
            }
            _ => None,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            IdsNode::Client(c) => c.on_start(ctx),
            IdsNode::Gen(g) => g.start(ctx),
            IdsNode::Orders(o) => {
                // At the configured time on its clock (after a restart: what is left).
                let after_us = o.cfg.reconcile_after_us.saturating_sub(ctx.now_us());
                ctx.set_timer(Timer::Reconcile, after_us.max(1));
            }
            IdsNode::Seq { .. } => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            IdsNode::Client(c) => c.on_recover(ctx),
            IdsNode::Gen(g) => g.recover(ctx),
            _ => self.on_start(ctx),
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, Self>) {
        match self {
            IdsNode::Client(c) => c.on_message(msg, ctx),
            IdsNode::Gen(g) => g.on_message(msg, ctx),
            IdsNode::Orders(o) => o.on_message(from, msg, ctx),
            IdsNode::Seq { block } => {
                if let Msg::Take { ask } = msg {
                    let block = *block;
                    let from_id = ctx.persist(|d| {
                        let from_id = d.next.max(1);
                        d.next = from_id + block;
                        from_id
                    });
                    let to = from_id + block;
                    let gen = from;
                    observe(
                        ctx,
                        0,
                        IdEvent::BlockGranted {
                            gen,
                            from: from_id,
                            to,
                        },
                    );
                    ctx.send(
                        gen,
                        Msg::Block {
                            ask,
                            from: from_id,
                            to,
                        },
                    );
                }
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<'_, Self>) {
        match (self, timer) {
            (IdsNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (IdsNode::Gen(g), Timer::Retry) => {
                g.retry_armed = false;
                g.drain(ctx);
            }
            (IdsNode::Gen(g), Timer::AskAgain) => g.ask_again(ctx),
            (IdsNode::Gen(g), Timer::Resend) => g.resend(ctx),
            (IdsNode::Orders(o), Timer::Reconcile) => o.reconcile(ctx),
            _ => {}
        }
    }
}

impl Gen {
    pub fn new(cfg: Config, node_id: u64, seq: NodeId, orders: NodeId, client: NodeId) -> Self {
        let source = match cfg.generator {
            Generator::Snowflake => Source::Snowflake {
                node_id,
                last: None,
            },
            Generator::Segment => Source::Segment {
                block: None,
                ask: 0,
                asking: false,
            },
        };
        Gen {
            cfg,
            seq,
            orders,
            client,
            source,
            held: VecDeque::new(),
            retry_armed: false,
            pending: BTreeMap::new(),
            resend_armed: false,
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        if let Source::Segment { .. } = self.source {
            self.ask(ctx);
        }
    }

    /// After a restart: a guarded Snowflake generator takes its lease as the last
    /// id's time (ids up to it may have been issued); a segment one asks for a new
    /// block (the rest of the old one is lost).
    fn recover(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        let lease = ctx.durable().lease_ms;
        if let Source::Snowflake { last, .. } = &mut self.source {
            if self.cfg.guard != Guard::None && self.cfg.lease && lease > 0 {
                *last = Some((lease - 1, SEQUENCE_MAX));
            }
        }
        self.start(ctx);
    }

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, IdsNode>) {
        match msg {
            Msg::Request(req) => {
                let txn = req.txn;
                if ctx.durable().accepted.contains_key(&txn) {
                    // Accepted already: the answer again.
                    ctx.send(self.client, reply(txn, Outcome::Commit));
                } else if let Some(&id) = self.pending.get(&txn) {
                    ctx.send(self.orders, Msg::Record { txn, id });
                } else if self.held.iter().any(|h| h.txn == txn) {
                    // Held already.
                } else if self.held.len() >= self.cfg.queue_max {
                    observe(ctx, txn, IdEvent::Refused);
                    ctx.send(self.client, reply(txn, Outcome::Abort));
                } else {
                    let since_us = ctx.now_us();
                    self.held.push_back(Held {
                        txn,
                        since_us,
                        clock_wait: false,
                    });
                    self.drain(ctx);
                }
            }
            Msg::Recorded { txn, id } if self.pending.get(&txn) == Some(&id) => {
                self.pending.remove(&txn);
                ctx.persist(|d| d.accepted.insert(txn, id));
                observe(ctx, txn, IdEvent::Accepted { id });
                ctx.send(self.client, reply(txn, Outcome::Commit));
            }
            Msg::Block { ask, from, to } => {
                if let Source::Segment {
                    block,
                    ask: want,
                    asking,
                } = &mut self.source
                {
                    if *asking && ask == *want {
                        *asking = false;
                        *block = Some((from, to));
                        ctx.cancel_timer(Timer::AskAgain);
                        observe(ctx, 0, IdEvent::BlockTaken { from, to });
                        self.drain(ctx);
                    }
                }
            }
            Msg::Reconcile => {
                let orders = ctx
                    .durable()
                    .accepted
                    .iter()
                    .map(|(t, i)| (*t, *i))
                    .collect();
                ctx.send(self.orders, Msg::Accepted { orders });
            }
            _ => {}
        }
    }

    /// Issues ids to held requests, oldest first, while the source can.
    fn drain(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        while let Some(h) = self.held.front().cloned() {
            if ctx.now_us().saturating_sub(h.since_us) >= self.cfg.deadline_us {
                // The client has given up on it: drop it unanswered.
                self.held.pop_front();
                continue;
            }
            match self.next_id(ctx) {
                Next::Id(id) => {
                    self.held.pop_front();
                    if h.clock_wait {
                        let us = ctx.now_us() - h.since_us;
                        observe(
                            ctx,
                            h.txn,
                            IdEvent::Waited {
                                us,
                                sequence: false,
                            },
                        );
                    }
                    self.issue(h.txn, id, ctx);
                }
                Next::Refuse => {
                    self.held.pop_front();
                    observe(ctx, h.txn, IdEvent::Refused);
                    ctx.send(self.client, reply(h.txn, Outcome::Abort));
                }
                Next::WaitUs(us, sequence) => {
                    if sequence {
                        observe(ctx, h.txn, IdEvent::Waited { us, sequence });
                    } else {
                        for h in self.held.iter_mut() {
                            h.clock_wait = true;
                        }
                    }
                    if !self.retry_armed {
                        ctx.set_timer(Timer::Retry, us.max(1));
                        self.retry_armed = true;
                    }
                    return;
                }
                Next::NoBlock => {
                    self.ask(ctx);
                    return;
                }
            }
        }
    }

    fn issue(&mut self, txn: TxnId, id: u64, ctx: &mut Ctx<'_, IdsNode>) {
        observe(ctx, txn, IdEvent::Issued { id });
        self.pending.insert(txn, id);
        ctx.send(self.orders, Msg::Record { txn, id });
        if !self.resend_armed {
            ctx.set_timer(Timer::Resend, self.cfg.retry_us);
            self.resend_armed = true;
        }
    }

    /// The next id, or why there is none now.
    fn next_id(&mut self, ctx: &mut Ctx<'_, IdsNode>) -> Next {
        let wall_us = ctx.wall_us();
        let now_ms = wall_us / 1000;
        let guard = self.cfg.guard;
        match &mut self.source {
            Source::Segment { block, .. } => match block {
                Some((next, end)) if *next < *end => {
                    let id = *next;
                    *next += 1;
                    Next::Id(id)
                }
                _ => Next::NoBlock,
            },
            Source::Snowflake { node_id, last } => {
                let (ms, seq) = match *last {
                    Some((l, s)) if l == now_ms => {
                        if s >= SEQUENCE_MAX {
                            // This ms is used up: the next one.
                            return Next::WaitUs(1000 - wall_us % 1000, true);
                        }
                        (now_ms, s + 1)
                    }
                    Some((l, _)) if l > now_ms && guard != Guard::None => {
                        return match guard {
                            Guard::Refuse => Next::Refuse,
                            _ => Next::WaitUs((l + 1) * 1000 - wall_us, false),
                        };
                    }
                    // A later ms, or (no guard) an earlier one: start its sequence.
                    _ => (now_ms, 0),
                };
                *last = Some((ms, seq));
                let id = snowflake_id(ms, *node_id, seq);
                if guard != Guard::None && self.cfg.lease && ms >= ctx.durable().lease_ms {
                    let lease = ms + (self.cfg.lease_us / 1000).max(1);
                    ctx.persist(|d| d.lease_ms = lease);
                    observe(ctx, 0, IdEvent::Lease { until_ms: lease });
                }
                Next::Id(id)
            }
        }
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        if let Source::Segment { ask, asking, .. } = &mut self.source {
            if *asking {
                return;
            }
            *asking = true;
            *ask = ctx.persist(|d| {
                d.asks += 1;
                d.asks
            });
            let ask = *ask;
            ctx.send(self.seq, Msg::Take { ask });
            ctx.set_timer(Timer::AskAgain, self.cfg.retry_us);
        }
    }

    fn ask_again(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        if let Source::Segment { ask, asking, .. } = &mut self.source {
            if *asking {
                let ask = *ask;
                ctx.send(self.seq, Msg::Take { ask });
                ctx.set_timer(Timer::AskAgain, self.cfg.retry_us);
            }
        }
    }

    fn resend(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        self.resend_armed = false;
        for (&txn, &id) in &self.pending {
            ctx.send(self.orders, Msg::Record { txn, id });
        }
        if !self.pending.is_empty() {
            ctx.set_timer(Timer::Resend, self.cfg.retry_us);
            self.resend_armed = true;
        }
    }
}

/// Why a generator has no id now, or the id.
enum Next {
    Id(u64),
    Refuse,
    /// Try again after this long; `true`: the ms's sequence is used up.
    WaitUs(u64, bool),
    /// Segment: the block is used up (or none yet).
    NoBlock,
}

fn reply(txn: TxnId, outcome: Outcome) -> Msg {
    Msg::Reply { txn, outcome }
}

impl Orders {
    pub fn new(cfg: Config, gens: Vec<NodeId>) -> Self {
        Orders {
            cfg,
            gens,
            reconciled: Vec::new(),
            reconciling: false,
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, IdsNode>) {
        match msg {
            Msg::Record { txn, id } => {
                let d = ctx.durable();
                match (d.table.get(&id).copied(), d.orders.get(&txn).copied()) {
                    (Some(holder), _) if holder == txn => {} // a resend
                    (Some(holder), _) => {
                        // The dedupe table's rule: an id seen before is a duplicate.
                        observe(ctx, txn, IdEvent::DroppedReal { id, holder });
                    }
                    (None, second) => {
                        ctx.persist(|d| {
                            d.table.insert(id, txn);
                            d.orders.insert(txn, id);
                        });
                        let event = match second {
                            Some(_) => IdEvent::SecondId { id },
                            None => IdEvent::Recorded { id },
                        };
                        observe(ctx, txn, event);
                    }
                }
                ctx.send(from, Msg::Recorded { txn, id });
            }
            Msg::Accepted { orders } if self.reconciling && !self.reconciled.contains(&from) => {
                self.reconciled.push(from);
                for (txn, _) in orders {
                    if !ctx.durable().orders.contains_key(&txn) {
                        observe(ctx, txn, IdEvent::LostFound);
                    }
                }
            }
            _ => {}
        }
    }

    /// Asks every generator not compared yet for its accepted orders, again until
    /// each has answered.
    fn reconcile(&mut self, ctx: &mut Ctx<'_, IdsNode>) {
        self.reconciling = true;
        let mut left = false;
        for &g in &self.gens {
            if !self.reconciled.contains(&g) {
                ctx.send(g, Msg::Reconcile);
                left = true;
            }
        }
        if left {
            ctx.set_timer(Timer::Reconcile, self.cfg.retry_us.max(10_000));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snowflake_layout_is_41_10_12_bits() {
        // Golden values: timestamp in the top 41 bits, node in the next 10, sequence
        // in the low 12.
        assert_eq!(snowflake_id(0, 0, 1), 1);
        assert_eq!(snowflake_id(0, 1, 0), 4096);
        assert_eq!(snowflake_id(1, 0, 0), 4_194_304);
        assert_eq!(snowflake_id(300, 3, 7), 300 * 4_194_304 + 3 * 4096 + 7);
        assert_eq!(
            snowflake_id(1_288_834_974_657, 0, 0),
            5_405_765_689_543_753_728
        );
        assert_eq!(
            snowflake_id((1 << 41) - 1, NODE_MAX, SEQUENCE_MAX),
            (1u64 << 63) - 1
        );
        // Fields too wide are masked, not carried into the next field.
        assert_eq!(snowflake_id(0, 1024, 4096), 0);
        for (ms, node, seq) in [(5, 2, 9), (123_456, 1023, 4095), (0, 0, 0)] {
            assert_eq!(
                snowflake_fields(snowflake_id(ms, node, seq)),
                (ms, node, seq)
            );
        }
        // Ids of later ms are larger whatever the node and sequence.
        assert!(snowflake_id(10, 0, 0) > snowflake_id(9, NODE_MAX, SEQUENCE_MAX));
    }

    fn cfg(guard: Guard) -> Config {
        Config {
            generator: Generator::Snowflake,
            guard,
            block: 100,
            lease: true,
            lease_us: 100_000,
            retry_us: 20_000,
            deadline_us: 1_000_000,
            queue_max: 64,
            reconcile_after_us: 1_000_000,
        }
    }

    /// Gives `gen` request `txn` at wall time `wall_us` (monotonic time `now_us`):
    /// what it sent and observed.
    fn request(
        gen: &mut IdsNode,
        d: &mut Durable,
        now_us: u64,
        wall_us: u64,
        txn: TxnId,
    ) -> Vec<crate::node::Command<IdsNode>> {
        let mut rng = crate::rng::stream(1, "t");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(now_us, NodeId(2), d, &mut rng, &mut out).with_wall_us(wall_us);
        let req = TxnRequest {
            txn,
            ops: Vec::new(),
        };
        gen.on_message(NodeId(4), Msg::Request(req), &mut ctx);
        out
    }

    fn issued(out: &[crate::node::Command<IdsNode>]) -> Option<u64> {
        out.iter().find_map(|c| match c {
            crate::node::Command::Observe(Observation::Id {
                event: IdEvent::Issued { id },
                ..
            }) => Some(*id),
            _ => None,
        })
    }

    fn gen(guard: Guard) -> IdsNode {
        IdsNode::Gen(Gen::new(cfg(guard), 3, NodeId(0), NodeId(1), NodeId(4)))
    }

    #[test]
    fn a_backward_clock_repeats_ids_without_a_guard_and_not_with_one() {
        // Ids at wall 10 ms; then the wall clock reads 5 ms (stepped back 5 ms).
        for (guard, second) in [
            (Guard::None, Some(snowflake_id(5, 3, 0))),
            (Guard::Wait, None),
            (Guard::Refuse, None),
        ] {
            let (mut g, mut d) = (gen(guard), Durable::default());
            let first = issued(&request(&mut g, &mut d, 10_000, 10_000, 1));
            assert_eq!(first, Some(snowflake_id(10, 3, 0)));
            let same_ms = issued(&request(&mut g, &mut d, 10_100, 10_100, 2));
            assert_eq!(same_ms, Some(snowflake_id(10, 3, 1)), "the sequence counts");
            let out = request(&mut g, &mut d, 10_200, 5_200, 3);
            assert_eq!(issued(&out), second, "{guard:?}");
            match guard {
                Guard::Wait => assert!(out.iter().any(|c| matches!(
                    c,
                    crate::node::Command::SetTimer {
                        timer: Timer::Retry,
                        after_us: 5_800
                    }
                ))),
                Guard::Refuse => assert!(out.iter().any(|c| matches!(
                    c,
                    crate::node::Command::Send {
                        msg: Msg::Reply {
                            outcome: Outcome::Abort,
                            ..
                        },
                        ..
                    }
                ))),
                Guard::None => {}
            }
        }
    }

    #[test]
    fn a_guard_keeps_a_durable_lease_that_a_restart_honours() {
        let (mut g, mut d) = (gen(Guard::Wait), Durable::default());
        issued(&request(&mut g, &mut d, 10_000, 10_000, 1)).expect("an id");
        assert_eq!(d.lease_ms, 110, "ids up to 10 ms + the 100 ms lease");
        // A fresh copy after a crash, its clock stepped back to 50 ms: it waits.
        let mut fresh = gen(Guard::Wait);
        let mut rng = crate::rng::stream(1, "t");
        let mut out = Vec::new();
        let mut ctx = Ctx::new(0, NodeId(2), &mut d, &mut rng, &mut out).with_wall_us(50_000);
        fresh.on_recover(&mut ctx);
        assert_eq!(issued(&request(&mut fresh, &mut d, 1, 50_000, 2)), None);
        // At 110 ms the held request gets the first id past the lease.
        let later = issued(&request(&mut fresh, &mut d, 2, 110_000, 3));
        assert_eq!(later, Some(snowflake_id(110, 3, 0)));
    }
}
