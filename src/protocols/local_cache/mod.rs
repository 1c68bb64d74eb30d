//! Local caches on every node of a service pool, and a feature switch read from
//! them (case 9 of the survey "分布式系统的一致性" on jianshu.com, p/1156151e20c8:
//! "local caches inconsistent between nodes", and its rule "if performance allows,
//! prefer a distributed cache to local ones": see `../shared/sources`).
//!
//! The nodes: the `client` (the workload's requests), a `gateway` that sends each
//! request to one service node and, when no answer comes within `retry_ms`, fails
//! over to the next one (as a load balancer retries an upstream); the durable
//! `config` store, the source of truth for one boolean feature switch with a
//! version; the service nodes `svc0..svcN-1`; a shared distributed cache `dcache`
//! (idle unless propagation is [`Propagation::Distributed`]; always present, so the
//! same seed crashes the same nodes under every variant); and the two payment paths
//! `pay_old` (switch off) and `pay_new` (switch on), durable, each deduplicating
//! charges by request id within itself only, as two separate systems do.
//!
//! A request is an operator's flip of the switch (a share `flip_ratio` of them:
//! the config store toggles the switch, deduplicated by request id) or a business
//! request "charge order k" for an amount (from the workload's first operation).
//! A service node decides a business request's path from its view of the switch and
//! sends the charge down that path. How a node learns the switch is
//! [`Propagation`]: a broadcast from the config store over the ordinary lossy,
//! delayed network with no retry; a TTL after which the node reads the store again;
//! both; or no local copy at all, one distributed cache that the store updates (and
//! retries until acknowledged) before it acknowledges the flip.
//!
//! The damage: a request whose first attempt went unanswered (a lost message, a
//! slow node, a crash) fails over to another node; if that node's view differs, or
//! the switch flipped between the two attempts, the request goes down both paths and
//! is charged twice. With `decide_once`, a node proposes its view to the config
//! store, which records the first decision per request id durably and answers every
//! attempt with that one: both attempts take the same path, which deduplicates.
//!
//! The checkers judge divergence and double processing from what the nodes report
//! ([`crate::checkers::LocalCacheCounts`]).
//!
//! Limits: a service node forgets a request at the client's deadline; the gateway
//! after `attempts` attempts; the distributed cache's Gets waiting for a load and the
//! store's flips waiting for the cache's acknowledgement are answered when it comes
//! (at most the requests that arrive meanwhile). Durable and growing with the run,
//! as a real system's would until archived: the store's flip ids and (with
//! `decide_once`) one decision per request, each path's charged request ids.

pub mod build;

use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::observe::{LocalCacheEvent, Observation};
use crate::workload::{Answer, Client, ClientTimer, ClientWorld, HearsAnswers, TxnRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a service node learns the switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Propagation {
    /// The config store sends the new value to every service node once (no retry);
    /// a node keeps its copy until a newer one arrives (or it crashes).
    #[default]
    Broadcast,
    /// No broadcast: a node's copy expires `ttl_ms` after it was read, and the next
    /// request reads the store again.
    Ttl,
    /// The broadcast, and the TTL as a backstop for a lost one.
    BroadcastAndTtl,
    /// No local copy: every decision reads the one distributed cache `dcache`, which
    /// the store updates (retrying until acknowledged) before acknowledging a flip.
    Distributed,
}

impl Propagation {
    /// The name the book and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Propagation::Broadcast => "local caches, broadcast updates",
            Propagation::Ttl => "local caches, TTL",
            Propagation::BroadcastAndTtl => "local caches, broadcast and TTL",
            Propagation::Distributed => "one distributed cache",
        }
    }

    fn broadcasts(self) -> bool {
        matches!(self, Propagation::Broadcast | Propagation::BroadcastAndTtl)
    }

    fn expires(self) -> bool {
        matches!(self, Propagation::Ttl | Propagation::BroadcastAndTtl)
    }
}

/// The protocol's configuration (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub propagation: Propagation,
    /// Ttl modes: a local copy expires this long after it was installed.
    pub ttl_us: u64,
    /// Broadcast modes: the store sends each node its update after a delay drawn
    /// uniformly from `[0, broadcast_spread_us]` (0: at once), so nodes learn a
    /// flip one after another, as a push system updates a pool.
    pub broadcast_spread_us: u64,
    /// The service nodes.
    pub nodes: u32,
    /// Flips per million requests.
    pub flips_per_million: u32,
    /// The gateway fails over after this long without an answer; the readers and
    /// the store resend unanswered reads and cache updates this often.
    pub retry_us: u64,
    /// Attempts per request at the gateway (the first and its failovers).
    pub attempts: u32,
    /// The first decision per request is recorded at the store and reused.
    pub decide_once: bool,
    /// A service node forgets a request after this long (the client's deadline).
    pub deadline_us: u64,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An operator flips the switch.
    Flip,
    /// Charge the order for `amount`.
    Charge { amount: u64 },
}

impl Config {
    /// Request `req` as a flip or a charge: which one from its id (the same under
    /// every propagation on the same seed), the amount from its first operation.
    pub fn kind_of(&self, req: &TxnRequest) -> Kind {
        let draw = crate::rng::mix64(req.txn ^ 0x5117_C4ED_F1A6_0001) % 1_000_000;
        if draw < u64::from(self.flips_per_million) {
            return Kind::Flip;
        }
        let amount = req.ops.first().map_or(1, |o| o.delta.unsigned_abs()).max(1);
        Kind::Charge { amount }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Client → gateway.
    Request(TxnRequest),
    /// Gateway → client.
    Reply { txn: TxnId, outcome: Outcome },
    /// Gateway → config: flip the switch (once per request id).
    Flip { txn: TxnId },
    /// Config → gateway: the flip is committed (and, distributed, in the cache).
    Flipped { txn: TxnId },
    /// Gateway → service node: charge order `txn` (`attempt`: 0 first, then failovers).
    Work {
        txn: TxnId,
        amount: u64,
        attempt: u32,
    },
    /// Service node → gateway: charged.
    Done { txn: TxnId },
    /// A service node or the distributed cache → config: read the switch (`read`:
    /// the reader's id for this read).
    Read { read: u64 },
    /// Config → reader: the switch as committed now.
    Value { read: u64, on: bool, version: u64 },
    /// Config → service node (broadcast) or the distributed cache: the new value.
    Update { on: bool, version: u64 },
    /// Distributed cache → config: its incarnation `incarnation` holds `version` (the
    /// newest it installed).
    UpdateAck { version: u64, incarnation: u64 },
    /// Service node → distributed cache: the switch, for request `txn`.
    Get { txn: TxnId },
    /// Distributed cache → service node.
    Got { txn: TxnId, on: bool, version: u64 },
    /// Service node → config (`decide_once`): decide `txn` as `on` unless decided.
    Pin { txn: TxnId, on: bool },
    /// Config → service node: `txn`'s decision, as first recorded.
    Pinned { txn: TxnId, on: bool },
    /// Service node → payment path.
    Charge { txn: TxnId, amount: u64 },
    /// Payment path → service node.
    Charged { txn: TxnId },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// Gateway: no answer yet for `.0`: fail over (or give up).
    Retry(TxnId),
    /// Service node: forget request `.0`.
    GiveUp(TxnId),
    /// Service node: the local copy's TTL is up.
    Expire,
    /// A reader: its read is still unanswered; send it again.
    Reread,
    /// Config: the distributed cache has not acknowledged the newest value yet.
    Resend,
    /// Config: send service node `.0` (its index) the current value.
    Push(u32),
}

/// What survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Config: the switch and its version (one more at every flip).
    pub on: bool,
    pub version: u64,
    /// Config: the flips applied, by request id.
    pub flips: BTreeSet<TxnId>,
    /// Config (`decide_once`): each request's decision, as first recorded.
    pub pins: BTreeMap<TxnId, bool>,
    /// A payment path: the requests it charged.
    pub charged: BTreeSet<TxnId>,
    /// A reader: its incarnation, one more at every restart (a read answered to an
    /// earlier incarnation is not taken).
    pub incarnation: u64,
    pub txn_watermark: u64,
}

/// A copy of the switch, with the version the store gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct View {
    pub on: bool,
    pub version: u64,
}

/// What reads the switch from the store and keeps a copy: a service node's local
/// cache, or the distributed cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct SwitchCopy {
    view: Option<View>,
    /// The newest version installed in this life (a copy that expired keeps it: an
    /// older update arriving late is not installed).
    newest: u64,
    /// The read in flight, if any.
    reading: Option<u64>,
    reads: u64,
    incarnation: u64,
}

impl SwitchCopy {
    /// Installs `v` if it is newer than anything installed in this life.
    fn install(&mut self, v: View, ctx: &mut Ctx<'_, LocalCacheNode>) -> bool {
        if v.version < self.newest {
            return false;
        }
        self.newest = v.version;
        if self.view != Some(v) {
            self.view = Some(v);
            observe(
                ctx,
                0,
                LocalCacheEvent::ViewSet {
                    on: v.on,
                    version: v.version,
                },
            );
        }
        true
    }

    fn read(&mut self, config: NodeId, retry_us: u64, ctx: &mut Ctx<'_, LocalCacheNode>) {
        self.reads += 1;
        let read = (self.incarnation << 32) | (self.reads & 0xFFFF_FFFF);
        self.reading = Some(read);
        ctx.send(config, Msg::Read { read });
        ctx.cancel_timer(Timer::Reread);
        ctx.set_timer(Timer::Reread, retry_us);
    }

    /// The read in flight is still unanswered: send it again (as a new read).
    fn reread(&mut self, config: NodeId, retry_us: u64, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.reading.is_some() {
            self.read(config, retry_us, ctx);
        }
    }

    /// The TTL is up: the copy is dropped.
    fn expire(&mut self, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.view.take().is_some() {
            observe(ctx, 0, LocalCacheEvent::ViewDropped);
        }
    }

    /// The answer to a read: taken if it answers the read in flight (installed if
    /// nothing newer was). `None`: not that read's answer; else whether installed.
    fn answered(&mut self, read: u64, v: View, ctx: &mut Ctx<'_, LocalCacheNode>) -> Option<bool> {
        if self.reading != Some(read) {
            return None;
        }
        self.reading = None;
        ctx.cancel_timer(Timer::Reread);
        Some(self.install(v, ctx))
    }
}

/// Where a business request is at a service node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Stage {
    /// Waiting for a view of the switch.
    View,
    /// Waiting for the store's recorded decision (`decide_once`).
    Pin,
    /// Charged down path `on`; waiting for the path's answer.
    Charge { on: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Work {
    amount: u64,
    stage: Stage,
}

/// A service node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Svc {
    cfg: Config,
    config: NodeId,
    dcache: NodeId,
    gateway: NodeId,
    /// `pay_old`, `pay_new`.
    paths: [NodeId; 2],
    copy: SwitchCopy,
    work: BTreeMap<TxnId, Work>,
}

/// The distributed cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DCache {
    cfg: Config,
    config: NodeId,
    copy: SwitchCopy,
    /// Gets waiting for a load: (request, asker).
    waiting: BTreeSet<(TxnId, NodeId)>,
}

/// The config store's volatile part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    cfg: Config,
    svcs: Vec<NodeId>,
    dcache: NodeId,
    /// Distributed: the newest version the cache acknowledged, and the cache's
    /// incarnation that did (a restarted cache starts empty: what it holds is known
    /// from its own acknowledgements only).
    acked: u64,
    acked_incarnation: u64,
    /// Distributed: flips to acknowledge once the cache has their version.
    flips_waiting: BTreeMap<TxnId, (u64, NodeId)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum GatewayOp {
    Flip,
    Charge { amount: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct InFlight {
    op: GatewayOp,
    attempt: u32,
}

/// The gateway: sends, fails over, answers the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gateway {
    cfg: Config,
    config: NodeId,
    svcs: Vec<NodeId>,
    client: NodeId,
    inflight: BTreeMap<TxnId, InFlight>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LocalCacheNode {
    Client(Client),
    Gateway(Gateway),
    Config(Store),
    Svc(Svc),
    DCache(DCache),
    /// A payment path: `true` the new one (switch on), `false` the old one.
    Path(bool),
}

impl ClientWorld for LocalCacheNode {
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

impl HearsAnswers for LocalCacheNode {
    fn answer(msg: Msg) -> Option<Answer> {
        match msg {
            Msg::Reply { txn, outcome } => Some(Answer::Outcome { txn, outcome }),
            _ => None,
        }
    }
}

fn observe(ctx: &mut Ctx<'_, LocalCacheNode>, txn: TxnId, event: LocalCacheEvent) {
    ctx.observe(Observation::LocalCache { txn, event });
}

impl Node for LocalCacheNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        match *msg {
            Msg::Request(ref r) => Some(r.txn),
            Msg::Reply { txn, .. }
            | Msg::Flip { txn }
            | Msg::Flipped { txn }
            | Msg::Work { txn, .. }
            | Msg::Done { txn }
            | Msg::Get { txn }
            | Msg::Got { txn, .. }
            | Msg::Pin { txn, .. }
            | Msg::Pinned { txn, .. }
            | Msg::Charge { txn, .. }
            | Msg::Charged { txn } => Some(txn),
            Msg::Read { .. } | Msg::Value { .. } | Msg::Update { .. } | Msg::UpdateAck { .. } => {
                None
            }
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            LocalCacheNode::Client(c) => c.on_start(ctx),
            LocalCacheNode::Svc(s) => s.copy.incarnation = ctx.durable().incarnation,
            LocalCacheNode::DCache(d) => d.copy.incarnation = ctx.durable().incarnation,
            LocalCacheNode::Gateway(_) | LocalCacheNode::Config(_) | LocalCacheNode::Path(_) => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let next = |ctx: &mut Ctx<'_, Self>| {
            ctx.persist(|d| {
                d.incarnation += 1;
                d.incarnation
            })
        };
        match self {
            LocalCacheNode::Client(c) => c.on_recover(ctx),
            LocalCacheNode::Svc(s) => s.copy.incarnation = next(ctx),
            LocalCacheNode::DCache(d) => d.copy.incarnation = next(ctx),
            LocalCacheNode::Config(s) => s.recover(ctx),
            LocalCacheNode::Gateway(_) | LocalCacheNode::Path(_) => {}
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, Self>) {
        match self {
            LocalCacheNode::Client(c) => c.on_message(msg, ctx),
            LocalCacheNode::Gateway(g) => g.on_message(msg, ctx),
            LocalCacheNode::Config(s) => s.on_message(from, msg, ctx),
            LocalCacheNode::Svc(s) => s.on_message(msg, ctx),
            LocalCacheNode::DCache(d) => d.on_message(from, msg, ctx),
            LocalCacheNode::Path(on) => path_on_message(*on, from, msg, ctx),
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<'_, Self>) {
        match (self, timer) {
            (LocalCacheNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (LocalCacheNode::Gateway(g), Timer::Retry(txn)) => g.retry(txn, ctx),
            (LocalCacheNode::Svc(s), Timer::GiveUp(txn)) => {
                s.work.remove(&txn);
            }
            (LocalCacheNode::Svc(s), Timer::Expire) => s.copy.expire(ctx),
            (LocalCacheNode::Svc(s), Timer::Reread) => s.copy.reread(s.config, s.cfg.retry_us, ctx),
            (LocalCacheNode::DCache(d), Timer::Reread) => {
                d.copy.reread(d.config, d.cfg.retry_us, ctx)
            }
            (LocalCacheNode::Config(s), Timer::Resend) => s.resend(ctx),
            (LocalCacheNode::Config(s), Timer::Push(i)) => {
                if let Some(&to) = s.svcs.get(i as usize) {
                    let (on, version) = (ctx.durable().on, ctx.durable().version);
                    ctx.send(to, Msg::Update { on, version });
                }
            }
            _ => {}
        }
    }
}

/// A payment path: charges each request id once.
fn path_on_message(on: bool, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, LocalCacheNode>) {
    if let Msg::Charge { txn, amount } = msg {
        if !ctx.durable().charged.contains(&txn) {
            ctx.persist(|d| d.charged.insert(txn));
            observe(ctx, txn, LocalCacheEvent::Charged { on, amount });
        }
        ctx.send(from, Msg::Charged { txn });
    }
}

impl Store {
    pub fn new(cfg: Config, svcs: Vec<NodeId>, dcache: NodeId) -> Self {
        Store {
            cfg,
            svcs,
            dcache,
            acked: 0,
            acked_incarnation: 0,
            flips_waiting: BTreeMap::new(),
        }
    }

    fn distributed(&self) -> bool {
        self.cfg.propagation == Propagation::Distributed
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, LocalCacheNode>) {
        match msg {
            Msg::Flip { txn } => self.flip(txn, from, ctx),
            Msg::Read { read } => {
                let (on, version) = (ctx.durable().on, ctx.durable().version);
                ctx.send(from, Msg::Value { read, on, version });
            }
            Msg::UpdateAck {
                version,
                incarnation,
            } => {
                if incarnation < self.acked_incarnation {
                    return; // from a life of the cache that has crashed since
                }
                if incarnation > self.acked_incarnation || version > self.acked {
                    // A new life may hold less than the last one did.
                    (self.acked_incarnation, self.acked) = (incarnation, version);
                }
                let done: Vec<TxnId> = self
                    .flips_waiting
                    .iter()
                    .filter(|(_, &(v, _))| v <= self.acked)
                    .map(|(&t, _)| t)
                    .collect();
                for txn in done {
                    if let Some((_, gw)) = self.flips_waiting.remove(&txn) {
                        ctx.send(gw, Msg::Flipped { txn });
                    }
                }
                ctx.cancel_timer(Timer::Resend);
                if self.acked < ctx.durable().version {
                    // A restarted cache installed an older update arriving late.
                    ctx.set_timer(Timer::Resend, self.cfg.retry_us);
                }
            }
            Msg::Pin { txn, on } => {
                let on = match ctx.durable().pins.get(&txn) {
                    Some(&first) => first,
                    None => {
                        ctx.persist(|d| d.pins.insert(txn, on));
                        on
                    }
                };
                ctx.send(from, Msg::Pinned { txn, on });
            }
            _ => {}
        }
    }

    fn flip(&mut self, txn: TxnId, gateway: NodeId, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let version = match ctx.durable().flips.contains(&txn) {
            // A flip applied before: its version is at most the current one.
            true => ctx.durable().version,
            false => {
                let (on, version) = ctx.persist(|d| {
                    d.flips.insert(txn);
                    d.on = !d.on;
                    d.version += 1;
                    (d.on, d.version)
                });
                observe(ctx, txn, LocalCacheEvent::SwitchCommitted { on, version });
                self.propagate(ctx);
                version
            }
        };
        if self.distributed() && self.acked < version {
            self.flips_waiting.insert(txn, (version, gateway));
        } else {
            ctx.send(gateway, Msg::Flipped { txn });
        }
    }

    /// Sends the new value where the propagation says.
    fn propagate(&mut self, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let (on, version) = (ctx.durable().on, ctx.durable().version);
        if self.distributed() {
            ctx.send(self.dcache, Msg::Update { on, version });
            ctx.cancel_timer(Timer::Resend);
            ctx.set_timer(Timer::Resend, self.cfg.retry_us);
        } else if self.cfg.propagation.broadcasts() {
            for (i, &to) in self.svcs.iter().enumerate() {
                if self.cfg.broadcast_spread_us == 0 {
                    ctx.send(to, Msg::Update { on, version });
                } else {
                    let after = crate::rng::uniform_us(ctx.rng(), 0, self.cfg.broadcast_spread_us);
                    ctx.set_timer(Timer::Push(i as u32), after);
                }
            }
        }
    }

    fn resend(&mut self, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.acked < ctx.durable().version {
            let (on, version) = (ctx.durable().on, ctx.durable().version);
            ctx.send(self.dcache, Msg::Update { on, version });
            ctx.set_timer(Timer::Resend, self.cfg.retry_us);
        }
    }

    /// After a restart, the cache's acknowledgement is not known: send it the value
    /// again (a broadcast lost in the crash is not resent: that is the broadcast).
    fn recover(&mut self, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.distributed() && ctx.durable().version > 0 {
            self.resend(ctx);
        }
    }
}

impl DCache {
    pub fn new(cfg: Config, config: NodeId) -> Self {
        DCache {
            cfg,
            config,
            copy: SwitchCopy::default(),
            waiting: BTreeSet::new(),
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, LocalCacheNode>) {
        match msg {
            Msg::Get { txn } => match self.copy.view {
                Some(View { on, version }) => ctx.send(from, Msg::Got { txn, on, version }),
                None => {
                    self.waiting.insert((txn, from));
                    if self.copy.reading.is_none() {
                        self.copy.read(self.config, self.cfg.retry_us, ctx);
                    }
                }
            },
            Msg::Update { on, version } => {
                self.copy.install(View { on, version }, ctx);
                let (version, incarnation) = (self.copy.newest, self.copy.incarnation);
                ctx.send(
                    from,
                    Msg::UpdateAck {
                        version,
                        incarnation,
                    },
                );
                self.answer_waiting(ctx);
            }
            Msg::Value { read, on, version } => {
                self.copy.answered(read, View { on, version }, ctx);
                self.answer_waiting(ctx);
            }
            _ => {}
        }
    }

    fn answer_waiting(&mut self, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let Some(View { on, version }) = self.copy.view else {
            return;
        };
        for (txn, to) in std::mem::take(&mut self.waiting) {
            ctx.send(to, Msg::Got { txn, on, version });
        }
    }
}

impl Svc {
    pub fn new(
        cfg: Config,
        config: NodeId,
        dcache: NodeId,
        gateway: NodeId,
        paths: [NodeId; 2],
    ) -> Self {
        Svc {
            cfg,
            config,
            dcache,
            gateway,
            paths,
            copy: SwitchCopy::default(),
            work: BTreeMap::new(),
        }
    }

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, LocalCacheNode>) {
        match msg {
            Msg::Work { txn, amount, .. } => self.begin(txn, amount, ctx),
            // An update of the copy it holds, or of the read in flight (whose answer
            // may predate it). A node with neither (its copy expired or was lost in
            // a crash) reads the store when it needs the switch: a late update
            // cannot plant an old value in it.
            Msg::Update { on, version }
                if self.cfg.propagation.broadcasts()
                    && (self.copy.view.is_some() || self.copy.reading.is_some()) =>
            {
                let fresh = self.copy.install(View { on, version }, ctx);
                self.installed(fresh, ctx);
            }
            Msg::Value { read, on, version } => {
                if let Some(fresh) = self.copy.answered(read, View { on, version }, ctx) {
                    self.installed(fresh, ctx);
                }
            }
            Msg::Got { txn, on, version } if self.at(txn, Stage::View) => {
                self.decide(txn, View { on, version }, ctx)
            }
            Msg::Pinned { txn, on } if self.at(txn, Stage::Pin) => self.take(txn, on, ctx),
            Msg::Charged { txn } => {
                if matches!(
                    self.work.get(&txn).map(|w| w.stage),
                    Some(Stage::Charge { .. })
                ) {
                    self.work.remove(&txn);
                    ctx.cancel_timer(Timer::GiveUp(txn));
                    ctx.send(self.gateway, Msg::Done { txn });
                }
            }
            _ => {}
        }
    }

    fn at(&self, txn: TxnId, stage: Stage) -> bool {
        self.work.get(&txn).is_some_and(|w| w.stage == stage)
    }

    fn begin(&mut self, txn: TxnId, amount: u64, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.work.contains_key(&txn) {
            return; // a duplicate of a request in progress here
        }
        let stage = Stage::View;
        self.work.insert(txn, Work { amount, stage });
        ctx.set_timer(Timer::GiveUp(txn), self.cfg.deadline_us);
        if self.cfg.propagation == Propagation::Distributed {
            ctx.send(self.dcache, Msg::Get { txn });
            return;
        }
        match self.copy.view {
            Some(v) => self.decide(txn, v, ctx),
            None if self.copy.reading.is_none() => {
                self.copy.read(self.config, self.cfg.retry_us, ctx)
            }
            None => {} // decided when the read in flight is answered
        }
    }

    /// A read was answered or an update came (`fresh`: a copy was installed): arm
    /// its TTL, decide the requests waiting for a view.
    fn installed(&mut self, fresh: bool, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if fresh && self.cfg.propagation.expires() {
            ctx.cancel_timer(Timer::Expire);
            ctx.set_timer(Timer::Expire, self.cfg.ttl_us);
        }
        let waiting: Vec<TxnId> = self
            .work
            .iter()
            .filter(|(_, w)| w.stage == Stage::View)
            .map(|(&t, _)| t)
            .collect();
        match self.copy.view {
            Some(v) => {
                for txn in waiting {
                    self.decide(txn, v, ctx);
                }
            }
            // The answer was older than a copy since expired: read again.
            None if !waiting.is_empty() && self.copy.reading.is_none() => {
                self.copy.read(self.config, self.cfg.retry_us, ctx)
            }
            None => {}
        }
    }

    fn decide(&mut self, txn: TxnId, v: View, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let event = LocalCacheEvent::Viewed {
            on: v.on,
            version: v.version,
        };
        observe(ctx, txn, event);
        if self.cfg.decide_once {
            if let Some(w) = self.work.get_mut(&txn) {
                w.stage = Stage::Pin;
            }
            ctx.send(self.config, Msg::Pin { txn, on: v.on });
        } else {
            self.take(txn, v.on, ctx);
        }
    }

    fn take(&mut self, txn: TxnId, on: bool, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let Some(w) = self.work.get_mut(&txn) else {
            return;
        };
        w.stage = Stage::Charge { on };
        let amount = w.amount;
        observe(ctx, txn, LocalCacheEvent::Took { on });
        ctx.send(self.paths[usize::from(on)], Msg::Charge { txn, amount });
    }
}

impl Gateway {
    pub fn new(cfg: Config, config: NodeId, svcs: Vec<NodeId>, client: NodeId) -> Self {
        Gateway {
            cfg,
            config,
            svcs,
            client,
            inflight: BTreeMap::new(),
        }
    }

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, LocalCacheNode>) {
        match msg {
            Msg::Request(req) => {
                if self.inflight.contains_key(&req.txn) {
                    return;
                }
                let op = match self.cfg.kind_of(&req) {
                    Kind::Flip => GatewayOp::Flip,
                    Kind::Charge { amount } => GatewayOp::Charge { amount },
                };
                let f = InFlight { op, attempt: 0 };
                self.inflight.insert(req.txn, f);
                self.send(req.txn, f, ctx);
            }
            Msg::Done { txn } | Msg::Flipped { txn } => self.done(txn, ctx),
            _ => {}
        }
    }

    /// The first answer of request `txn` goes to the client (a later one: nothing).
    fn done(&mut self, txn: TxnId, ctx: &mut Ctx<'_, LocalCacheNode>) {
        if self.inflight.remove(&txn).is_some() {
            ctx.cancel_timer(Timer::Retry(txn));
            let outcome = Outcome::Commit;
            ctx.send(self.client, Msg::Reply { txn, outcome });
        }
    }

    fn send(&self, txn: TxnId, f: InFlight, ctx: &mut Ctx<'_, LocalCacheNode>) {
        match f.op {
            GatewayOp::Flip => ctx.send(self.config, Msg::Flip { txn }),
            GatewayOp::Charge { amount } => {
                let n = self.svcs.len() as u64;
                let i = (txn.wrapping_add(u64::from(f.attempt)) % n.max(1)) as usize;
                let attempt = f.attempt;
                ctx.send(
                    self.svcs[i],
                    Msg::Work {
                        txn,
                        amount,
                        attempt,
                    },
                );
            }
        }
        ctx.set_timer(Timer::Retry(txn), self.cfg.retry_us);
    }

    /// No answer in time: the next attempt (a charge fails over to the next node), or
    /// give up after the last.
    fn retry(&mut self, txn: TxnId, ctx: &mut Ctx<'_, LocalCacheNode>) {
        let Some(f) = self.inflight.get_mut(&txn) else {
            return;
        };
        f.attempt += 1;
        if f.attempt >= self.cfg.attempts {
            self.inflight.remove(&txn);
            return;
        }
        let f = *f;
        self.send(txn, f, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            propagation: Propagation::Broadcast,
            ttl_us: 1000,
            broadcast_spread_us: 0,
            nodes: 3,
            flips_per_million: 100_000,
            retry_us: 100,
            attempts: 3,
            decide_once: false,
            deadline_us: 10_000,
        }
    }

    #[test]
    fn a_share_of_requests_are_flips_and_charges_carry_their_amount() {
        let c = cfg();
        let op = |delta| crate::workload::Op {
            shard: 0,
            key: 1,
            delta,
        };
        let kinds: Vec<Kind> = (0..1000)
            .map(|txn| {
                c.kind_of(&TxnRequest {
                    txn,
                    ops: vec![op(-7)],
                })
            })
            .collect();
        let flips = kinds.iter().filter(|k| **k == Kind::Flip).count();
        assert!((60..=140).contains(&flips), "{flips} flips of 1000");
        assert!(kinds
            .iter()
            .all(|k| matches!(k, Kind::Flip | Kind::Charge { amount: 7 })));
        let none = Config {
            flips_per_million: 0,
            ..cfg()
        };
        let k = none.kind_of(&TxnRequest {
            txn: 5,
            ops: vec![],
        });
        assert_eq!(k, Kind::Charge { amount: 1 });
    }

    #[test]
    fn propagations_broadcast_and_expire_as_named() {
        use Propagation::*;
        let b: Vec<bool> = [Broadcast, Ttl, BroadcastAndTtl, Distributed]
            .iter()
            .map(|p| p.broadcasts())
            .collect();
        let e: Vec<bool> = [Broadcast, Ttl, BroadcastAndTtl, Distributed]
            .iter()
            .map(|p| p.expires())
            .collect();
        assert_eq!(b, [true, false, true, false]);
        assert_eq!(e, [false, true, true, false]);
    }
}
