//! A cache in front of a database, and the orders in which a writer can update the
//! two: case 8, "cache and database inconsistent", of the survey "分布式系统的一致性"
//! (jianshu.com, p/1156151e20c8), and its rule "read the cache, then the database;
//! write the database, then the cache". Its case 10, a partially filled cache
//! structure, and its rule "fill an entry fully or not at all" are the composite
//! entries below.
//!
//! Four nodes: the `client` (the workload's requests), the application server
//! `app`, the `cache` (volatile: a crash empties it) and the `db` (durable). Each
//! client request is a read or a write of one key (which one, and which key, follow
//! from the request: see [`Config::op_of`]). A read asks the cache; on a miss it
//! reads the database and fills the cache with what it read (cache-aside reads,
//! Nishtala et al., "Scaling Memcache at Facebook", NSDI 2013, §3.1: a "demand-filled
//! look-aside cache"). A write updates both in the order [`WriteOrder`] names:
//!
//! - `CacheThenDb`: set the cache, then write the database. A reader can see a value
//!   the database never commits (the writer crashes in between), and two writers can
//!   leave the cache with the one the database did not keep;
//! - `DbThenUpdate`: write the database, then set the cache: two concurrent writers
//!   can set the cache in the other order than they committed;
//! - `DbThenDelete` (cache-aside): write the database, then delete the entry; the
//!   next read fills it. Left is the race the Facebook paper calls a *stale set*
//!   (§3.2.1): a reader misses and reads the old value, a writer commits and
//!   deletes, then the reader's fill lands — stale until the next write or TTL;
//! - `DelayedDoubleDelete`: delete, write the database, answer, and delete again
//!   `second_delete_ms` later, so that a stale fill racing the write is removed (if
//!   it lands within the delay);
//! - `WriteThrough`: the cache is the only writer of its entries: the app writes
//!   through it; it writes the database (retrying until acknowledged) and installs
//!   the value the database committed, and on a miss it loads the entry itself
//!   (read-through). Every install carries the database's version and an older one
//!   never replaces a newer one; the cache's incarnation fences writes and loads of
//!   an incarnation that crashed (a fencing token, as in Kleppmann's *Designing
//!   Data-Intensive Applications*, ch. 8).
//!
//! Every order may add a TTL: an entry expires `ttl_ms` after it was set, which
//! bounds how long any stale entry lives. Without one, a stale entry stays until the
//! next write of its key. A crash of the app between its two steps, or a lost
//! message between them, leaves the second step undone: the shared fault model does
//! both, and the race needs only latency. The checkers judge staleness from what the
//! nodes report ([`crate::checkers::CacheCounts`]).
//!
//! **Composite entries** (`sources > 1`): an entry is assembled from `sources`
//! parts, part 0 the database's row and part `i` read from source node `source{i}`
//! (static data: say, an order's prices and its shipping). A miss asks every part
//! at once and waits up to `part_timeout_us`; a part that does not come (a lost
//! message, a source down) is asked again `part_retries` times. Then [`Fill`]
//! decides: `Partial` caches and serves what it got (every read of the entry until
//! it is deleted or expires serves a partial entry, and the consumer errs on it);
//! `AllOrNothing` caches nothing and answers the reader with an error. Writes stay
//! cache-aside: a write changes the database part and invalidates the entry (only
//! the invalidating write orders take composite entries).

pub mod build;

use crate::node::{Ctx, Node, NodeId, Outcome, TxnId};
use crate::observe::{CacheEvent, Observation, CACHE_INITIAL};
use crate::workload::{Answer, Client, ClientTimer, ClientWorld, HearsAnswers, TxnRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The order in which a writer updates the database and the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WriteOrder {
    CacheThenDb,
    DbThenUpdate,
    #[default]
    DbThenDelete,
    DelayedDoubleDelete,
    WriteThrough,
}

impl WriteOrder {
    /// The name the book and the report use.
    pub fn name(self) -> &'static str {
        match self {
            WriteOrder::CacheThenDb => "cache then database",
            WriteOrder::DbThenUpdate => "database then update cache",
            WriteOrder::DbThenDelete => "database then delete cache (cache-aside)",
            WriteOrder::DelayedDoubleDelete => "delayed double delete",
            WriteOrder::WriteThrough => "write-through",
        }
    }
}

/// What the app does with a composite entry some of whose parts did not come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fill {
    /// Cache nothing; the read fails (the survey's rule: fill fully or not at all).
    #[default]
    AllOrNothing,
    /// Cache and serve what came, the missing parts absent.
    Partial,
}

/// The protocol's configuration (times in µs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub write: WriteOrder,
    /// An entry expires this long after it was set (`None`: never).
    pub ttl_us: Option<u64>,
    /// Delayed double delete: the second delete, this long after the write.
    pub second_delete_us: u64,
    /// The keys requests are spread over.
    pub keys: u32,
    /// Reads per million requests.
    pub reads_per_million: u32,
    /// Write-through: how often the cache resends an unacknowledged database write.
    pub retry_us: u64,
    /// The app gives up on a request after this long (the client's deadline).
    pub deadline_us: u64,
    /// The parts of an entry: 1 (the database's row only) or more (a composite
    /// entry: part `i > 0` from source node `source{i}`).
    pub sources: u32,
    /// A composite entry some of whose parts did not come.
    pub fill: Fill,
    /// How long a miss waits for the parts of a composite entry.
    pub part_timeout_us: u64,
    /// How many times a miss asks its missing parts again before `fill` decides.
    pub part_retries: u32,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
}

impl Config {
    /// Request `req` as a read or a write of one key: the key from its first
    /// operation's account (so the workload's contention carries over), read or write
    /// from its id (the same for every write order on the same seed).
    pub fn op_of(&self, req: &TxnRequest) -> (OpKind, u32) {
        let key = req.ops.first().map_or(0, |o| {
            let k = crate::rng::mix64((u64::from(o.shard) << 32) | u64::from(o.key));
            (k % u64::from(self.keys.max(1))) as u32
        });
        let draw = crate::rng::mix64(req.txn ^ 0xCAC4_E0F0_0D00_0001) % 1_000_000;
        let kind = if draw < u64::from(self.reads_per_million) {
            OpKind::Read
        } else {
            OpKind::Write
        };
        (kind, key)
    }

    /// The parts of a complete entry, as a bit set.
    fn all_parts(&self) -> u32 {
        (1u32 << self.sources) - 1
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Client → app.
    Request(TxnRequest),
    /// App → client: done (a read's value went to the checkers).
    Reply { txn: TxnId, outcome: Outcome },
    /// App → cache: a read.
    Get { txn: TxnId, key: u32 },
    /// Cache → app: the entry.
    Hit { txn: TxnId, key: u32, value: u64 },
    /// Cache → app: no entry.
    Miss { txn: TxnId, key: u32 },
    /// App → cache: set the entry (a fill, or a writer's update); `ack`: answer `Done`.
    Set {
        txn: TxnId,
        key: u32,
        value: u64,
        ack: bool,
    },
    /// App → cache: delete the entry; `ack`: answer `Done`.
    Delete { txn: TxnId, key: u32, ack: bool },
    /// Cache → app: a set, delete or write-through is done.
    Done { txn: TxnId },
    /// App → db: read the row.
    Read { txn: TxnId, key: u32 },
    /// Db → app: the row, with its version (the writes committed to it).
    Row {
        txn: TxnId,
        key: u32,
        value: u64,
        version: u64,
    },
    /// App → db, or (write-through) cache → db: commit `value` (the request id that
    /// wrote it). `epoch`: the cache's incarnation (write-through; the db refuses an
    /// older one than it has seen).
    Write {
        txn: TxnId,
        key: u32,
        value: u64,
        epoch: Option<u64>,
    },
    /// Db → writer: committed; the row now holds `value` as its version `version`
    /// (the write's own value, unless it was committed before and replaced since).
    Written {
        txn: TxnId,
        key: u32,
        value: u64,
        version: u64,
    },
    /// App → cache (write-through): write `value` through the cache.
    WriteThrough { txn: TxnId, key: u32, value: u64 },
    /// Cache → db (read-through): load the row for `reader`'s request `txn`.
    Load {
        txn: TxnId,
        key: u32,
        epoch: u64,
        reader: NodeId,
    },
    /// Db → cache: the row loaded.
    Loaded {
        txn: TxnId,
        key: u32,
        value: u64,
        version: u64,
        epoch: u64,
        reader: NodeId,
    },
    /// Cache → app (read-through): the value read from the database.
    Filled { txn: TxnId, key: u32, value: u64 },
    /// App → source `part`: read part `part` of `key`'s composite entry.
    GetPart { txn: TxnId, key: u32, part: u32 },
    /// Source → app: part `part` of `key`'s entry.
    Part { txn: TxnId, key: u32, part: u32 },
    /// App → cache (`fill: Partial`): set a partial entry, `missing` (a bit set of
    /// parts) absent; `value`: its database part, if it came.
    SetPartial {
        txn: TxnId,
        key: u32,
        value: Option<u64>,
        missing: u32,
    },
    /// Cache → app: the entry is partial, `missing` (a bit set) absent.
    PartialHit {
        txn: TxnId,
        key: u32,
        value: Option<u64>,
        missing: u32,
    },
    /// App → client: a read's entry, partial (the consumer cannot use it).
    PartialReply { txn: TxnId, key: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Timer {
    Client(ClientTimer),
    /// The app gives up on request `.0`.
    GiveUp(TxnId),
    /// Delayed double delete: the second delete of `key`.
    SecondDelete {
        txn: TxnId,
        key: u32,
    },
    /// The cache's entry for `.0` expires.
    Expire(u32),
    /// Write-through: resend unacknowledged database writes.
    Resend,
    /// A composite read has waited `part_timeout_us` for its parts.
    PartTimeout(TxnId),
}

/// What survives a crash: the database's rows, the cache's incarnation, the client's
/// id watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Db: each written key's value and version (a key never written holds
    /// [`CACHE_INITIAL`] at version 0).
    pub rows: BTreeMap<u32, (u64, u64)>,
    /// Db: the version each value was committed as (a resent or duplicated write is
    /// not applied twice). One entry per committed write.
    pub committed: BTreeMap<u64, u64>,
    /// Db: the newest cache incarnation heard of (write-through's fence).
    pub cache_epoch: u64,
    /// Cache: its incarnation, one more at every restart.
    pub incarnation: u64,
    pub txn_watermark: u64,
}

/// A cache entry: the value and, where the cache knows it (write-through), the
/// database's version of it; a partial composite entry's missing parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The database part's value (meaningless when part 0 is `missing`).
    pub value: u64,
    pub version: Option<u64>,
    /// The parts absent, as a bit set (0: a complete entry).
    pub missing: u32,
}

impl Entry {
    /// The database part, if the entry has it.
    fn db_part(&self) -> Option<u64> {
        (self.missing & 1 == 0).then_some(self.value)
    }
}

/// The cache server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheServer {
    cfg: Config,
    db: NodeId,
    epoch: u64,
    entries: BTreeMap<u32, Entry>,
    /// Write-through: database writes not acknowledged yet, by request, with the app
    /// to answer.
    pending: BTreeMap<TxnId, (u32, u64, NodeId)>,
    resend_armed: bool,
}

/// Where a request is at the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Step {
    /// A read waits for the cache.
    ReadCache,
    /// A read missed and waits for the database.
    ReadDb,
    /// A write waits for its first step's answer.
    First,
    /// A write waits for its second step's answer.
    Second,
    /// A composite read missed and waits for its parts.
    ReadParts,
}

/// The answers a write's steps wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answered {
    /// The cache's `Done`.
    Done,
    /// The database's `Written`.
    Written,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct AppOp {
    key: u32,
    step: Step,
    /// A composite read: the parts that came (a bit set), the database part's value,
    /// and the times it may still ask the missing parts again.
    parts: u32,
    db_part: Option<u64>,
    retries_left: u32,
}

/// The application server: reads and writes for the client, in the configured order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct App {
    cfg: Config,
    cache: NodeId,
    db: NodeId,
    client: NodeId,
    /// The source nodes of parts 1.. of a composite entry (empty: `sources` 1).
    sources: Vec<NodeId>,
    ops: BTreeMap<TxnId, AppOp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CacheNode {
    Db,
    /// A source of one part of composite entries (static data: no state).
    Source,
    Cache(CacheServer),
    App(App),
    Client(Client),
}

impl ClientWorld for CacheNode {
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

impl HearsAnswers for CacheNode {
    fn answer(msg: Msg) -> Option<Answer> {
        match msg {
            Msg::Reply { txn, outcome } => Some(Answer::Outcome { txn, outcome }),
            // The app answered; what it answered with is another matter.
            Msg::PartialReply { txn, .. } => Some(Answer::Outcome {
                txn,
                outcome: Outcome::Commit,
            }),
            _ => None,
        }
    }
}

fn observe(ctx: &mut Ctx<'_, CacheNode>, txn: TxnId, key: u32, event: CacheEvent) {
    ctx.observe(Observation::Cache { txn, key, event });
}

impl Node for CacheNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        Some(match *msg {
            Msg::Request(ref r) => r.txn,
            Msg::Reply { txn, .. }
            | Msg::Get { txn, .. }
            | Msg::Hit { txn, .. }
            | Msg::Miss { txn, .. }
            | Msg::Set { txn, .. }
            | Msg::Delete { txn, .. }
            | Msg::Done { txn }
            | Msg::Read { txn, .. }
            | Msg::Row { txn, .. }
            | Msg::Write { txn, .. }
            | Msg::Written { txn, .. }
            | Msg::WriteThrough { txn, .. }
            | Msg::Load { txn, .. }
            | Msg::Loaded { txn, .. }
            | Msg::Filled { txn, .. }
            | Msg::GetPart { txn, .. }
            | Msg::Part { txn, .. }
            | Msg::SetPartial { txn, .. }
            | Msg::PartialHit { txn, .. }
            | Msg::PartialReply { txn, .. } => txn,
        })
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            CacheNode::Client(c) => c.on_start(ctx),
            CacheNode::Cache(c) => c.epoch = ctx.durable().incarnation,
            CacheNode::Db | CacheNode::Source | CacheNode::App(_) => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            CacheNode::Client(c) => c.on_recover(ctx),
            CacheNode::Cache(c) => {
                // A new incarnation: the database will refuse the old one's writes.
                c.epoch = ctx.persist(|d| {
                    d.incarnation += 1;
                    d.incarnation
                });
            }
            CacheNode::Db | CacheNode::Source | CacheNode::App(_) => {}
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, Self>) {
        match self {
            CacheNode::Client(c) => {
                if let Msg::PartialReply { txn, key } = msg {
                    // The consumer needs every part (it renders the whole entry): a
                    // partial one is an error to it, if it still waits for the read.
                    if c.awaits(txn) {
                        observe(ctx, txn, key, CacheEvent::ConsumerError);
                    }
                }
                c.on_message(msg, ctx)
            }
            CacheNode::App(a) => a.on_message(msg, ctx),
            CacheNode::Cache(c) => c.on_message(from, msg, ctx),
            CacheNode::Db => db_on_message(from, msg, ctx),
            CacheNode::Source => {
                if let Msg::GetPart { txn, key, part } = msg {
                    ctx.send(from, Msg::Part { txn, key, part });
                }
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<'_, Self>) {
        match (self, timer) {
            (CacheNode::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (CacheNode::App(a), Timer::GiveUp(txn)) => {
                a.ops.remove(&txn);
            }
            (CacheNode::App(a), Timer::PartTimeout(txn)) => a.part_timeout(txn, ctx),
            (CacheNode::App(a), Timer::SecondDelete { txn, key }) => {
                let ack = false;
                ctx.send(a.cache, Msg::Delete { txn, key, ack });
            }
            (CacheNode::Cache(c), Timer::Expire(key)) => c.expire(key, ctx),
            (CacheNode::Cache(c), Timer::Resend) => c.resend(ctx),
            _ => {}
        }
    }
}

/// The database: reads, writes (each value committed once), loads; the fence.
fn db_on_message(from: NodeId, msg: Msg, ctx: &mut Ctx<'_, CacheNode>) {
    let row = |ctx: &Ctx<'_, CacheNode>, key: u32| {
        ctx.durable()
            .rows
            .get(&key)
            .copied()
            .unwrap_or((CACHE_INITIAL, 0))
    };
    match msg {
        Msg::Read { txn, key } => {
            observe(ctx, txn, key, CacheEvent::DbRead);
            let (value, version) = row(ctx, key);
            ctx.send(
                from,
                Msg::Row {
                    txn,
                    key,
                    value,
                    version,
                },
            );
        }
        Msg::Load {
            txn,
            key,
            epoch,
            reader,
        } => {
            fence(epoch, ctx);
            observe(ctx, txn, key, CacheEvent::DbRead);
            let (value, version) = row(ctx, key);
            let loaded = Msg::Loaded {
                txn,
                key,
                value,
                version,
                epoch,
                reader,
            };
            ctx.send(from, loaded);
        }
        Msg::Write {
            txn,
            key,
            value,
            epoch,
        } => {
            if let Some(e) = epoch {
                if e < ctx.durable().cache_epoch {
                    return; // a write of a cache incarnation that has crashed since
                }
                fence(e, ctx);
            }
            if !ctx.durable().committed.contains_key(&value) {
                let version = row(ctx, key).1 + 1;
                ctx.persist(|d| {
                    d.rows.insert(key, (value, version));
                    d.committed.insert(value, version);
                });
                observe(ctx, txn, key, CacheEvent::DbCommitted { value });
            }
            // The row as it is now: a resent write committed long ago answers with
            // the newer value that replaced it (the cache must not install its own).
            let (value, version) = row(ctx, key);
            let written = Msg::Written {
                txn,
                key,
                value,
                version,
            };
            ctx.send(from, written);
        }
        _ => {}
    }
}

/// Raises the database's fence to cache incarnation `epoch`.
fn fence(epoch: u64, ctx: &mut Ctx<'_, CacheNode>) {
    if epoch > ctx.durable().cache_epoch {
        ctx.persist(|d| d.cache_epoch = epoch);
    }
}

impl CacheServer {
    pub fn new(cfg: Config, db: NodeId) -> Self {
        CacheServer {
            cfg,
            db,
            epoch: 0,
            entries: BTreeMap::new(),
            pending: BTreeMap::new(),
            resend_armed: false,
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, CacheNode>) {
        let through = self.cfg.write == WriteOrder::WriteThrough;
        match msg {
            Msg::Get { txn, key } => match self.entries.get(&key) {
                Some(e) if e.missing != 0 => {
                    let (value, missing) = (e.db_part(), e.missing);
                    let hit = Msg::PartialHit {
                        txn,
                        key,
                        value,
                        missing,
                    };
                    ctx.send(from, hit);
                }
                Some(e) => {
                    let value = e.value;
                    ctx.send(from, Msg::Hit { txn, key, value });
                }
                None if through => {
                    let (epoch, reader) = (self.epoch, from);
                    let load = Msg::Load {
                        txn,
                        key,
                        epoch,
                        reader,
                    };
                    ctx.send(self.db, load);
                }
                None => ctx.send(from, Msg::Miss { txn, key }),
            },
            Msg::Set {
                txn,
                key,
                value,
                ack,
            } => {
                self.install(txn, key, value, None, ctx);
                if ack {
                    ctx.send(from, Msg::Done { txn });
                }
            }
            Msg::SetPartial {
                txn,
                key,
                value,
                missing,
            } => {
                let entry = Entry {
                    value: value.unwrap_or(0),
                    version: None,
                    missing,
                };
                self.entries.insert(key, entry);
                let missing = missing.count_ones();
                observe(
                    ctx,
                    txn,
                    key,
                    CacheEvent::InstalledPartial { value, missing },
                );
                self.start_ttl(key, ctx);
            }
            Msg::Delete { txn, key, ack } => {
                if self.entries.remove(&key).is_some() {
                    observe(ctx, txn, key, CacheEvent::Deleted);
                }
                if ack {
                    ctx.send(from, Msg::Done { txn });
                }
            }
            Msg::WriteThrough { txn, key, value } => {
                self.pending.insert(txn, (key, value, from));
                self.write_db(txn, key, value, ctx);
                if !self.resend_armed {
                    self.resend_armed = true;
                    ctx.set_timer(Timer::Resend, self.cfg.retry_us);
                }
            }
            Msg::Written {
                txn,
                key,
                value,
                version,
            } => {
                // Only a write of this incarnation is pending here.
                if let Some((_, _, app)) = self.pending.remove(&txn) {
                    self.install(txn, key, value, Some(version), ctx);
                    ctx.send(app, Msg::Done { txn });
                }
            }
            Msg::Loaded {
                txn,
                key,
                value,
                version,
                epoch,
                reader,
            } if epoch == self.epoch => {
                self.install(txn, key, value, Some(version), ctx);
                ctx.send(reader, Msg::Filled { txn, key, value });
            }
            _ => {}
        }
    }

    /// Sets `key`'s entry, unless the cache knows a newer version of it (only
    /// write-through knows versions); starts its TTL.
    fn install(
        &mut self,
        txn: TxnId,
        key: u32,
        value: u64,
        version: Option<u64>,
        ctx: &mut Ctx<'_, CacheNode>,
    ) {
        let newer = |e: &Entry| matches!((e.version, version), (Some(have), Some(v)) if have >= v);
        if self.entries.get(&key).is_some_and(newer) {
            return;
        }
        let missing = 0;
        self.entries.insert(
            key,
            Entry {
                value,
                version,
                missing,
            },
        );
        observe(ctx, txn, key, CacheEvent::Installed { value });
        self.start_ttl(key, ctx);
    }

    fn start_ttl(&self, key: u32, ctx: &mut Ctx<'_, CacheNode>) {
        if let Some(ttl) = self.cfg.ttl_us {
            ctx.set_timer(Timer::Expire(key), ttl);
        }
    }

    /// `key`'s TTL is up (an entry deleted since has nothing to expire).
    fn expire(&mut self, key: u32, ctx: &mut Ctx<'_, CacheNode>) {
        if self.entries.remove(&key).is_some() {
            observe(ctx, 0, key, CacheEvent::Expired);
        }
    }

    fn write_db(&self, txn: TxnId, key: u32, value: u64, ctx: &mut Ctx<'_, CacheNode>) {
        let epoch = Some(self.epoch);
        let write = Msg::Write {
            txn,
            key,
            value,
            epoch,
        };
        ctx.send(self.db, write);
    }

    fn resend(&mut self, ctx: &mut Ctx<'_, CacheNode>) {
        for (&txn, &(key, value, _)) in &self.pending {
            self.write_db(txn, key, value, ctx);
        }
        self.resend_armed = !self.pending.is_empty();
        if self.resend_armed {
            ctx.set_timer(Timer::Resend, self.cfg.retry_us);
        }
    }
}

impl App {
    /// `sources`: the nodes of parts 1.. of a composite entry, one fewer than
    /// `cfg.sources`.
    pub fn new(
        cfg: Config,
        cache: NodeId,
        db: NodeId,
        client: NodeId,
        sources: Vec<NodeId>,
    ) -> Self {
        assert_eq!(
            sources.len() + 1,
            cfg.sources as usize,
            "one source node per part after the database's"
        );
        App {
            cfg,
            cache,
            db,
            client,
            sources,
            ops: BTreeMap::new(),
        }
    }

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, CacheNode>) {
        match msg {
            Msg::Request(req) => self.begin(&req, ctx),
            Msg::Hit { txn, key, value } if self.at(txn, Step::ReadCache) => {
                self.read_done(txn, key, value, true, ctx)
            }
            Msg::Filled { txn, key, value } if self.at(txn, Step::ReadCache) => {
                self.read_done(txn, key, value, false, ctx)
            }
            Msg::PartialHit {
                txn, key, value, ..
            } if self.at(txn, Step::ReadCache) => self.partial_done(txn, key, value, true, ctx),
            Msg::Miss { txn, key } if self.at(txn, Step::ReadCache) && self.cfg.sources > 1 => {
                self.step(txn, Step::ReadParts);
                self.ask_parts(txn, key, self.cfg.all_parts(), ctx);
            }
            Msg::Miss { txn, key } if self.at(txn, Step::ReadCache) => {
                self.step(txn, Step::ReadDb);
                ctx.send(self.db, Msg::Read { txn, key });
            }
            Msg::Row { txn, value, .. } if self.at(txn, Step::ReadParts) => {
                self.part_came(txn, 0, Some(value), ctx)
            }
            Msg::Part { txn, part, .. } if self.at(txn, Step::ReadParts) => {
                self.part_came(txn, part, None, ctx)
            }
            Msg::Row {
                txn, key, value, ..
            } if self.at(txn, Step::ReadDb) => {
                // Fill what was read; the fill may land after a writer's delete.
                self.fill_and_answer(txn, key, value, ctx);
            }
            Msg::Done { txn } => self.answered(txn, Answered::Done, ctx),
            Msg::Written { txn, .. } => self.answered(txn, Answered::Written, ctx),
            _ => {}
        }
    }

    /// A write's step got its answer: go on, if it is the answer that step waits for
    /// (a duplicate of the first step's answer does not complete the second).
    fn answered(&mut self, txn: TxnId, answer: Answered, ctx: &mut Ctx<'_, CacheNode>) {
        let Some(step) = self.ops.get(&txn).map(|o| o.step) else {
            return;
        };
        use WriteOrder::*;
        let waits_for = match (self.cfg.write, step) {
            (CacheThenDb | DelayedDoubleDelete, Step::First)
            | (DbThenUpdate | DbThenDelete | WriteThrough, Step::Second) => Answered::Done,
            (_, Step::First | Step::Second) => Answered::Written,
            (_, Step::ReadCache | Step::ReadDb | Step::ReadParts) => return,
        };
        match (answer == waits_for, step) {
            (true, Step::First) => self.second_step(txn, ctx),
            (true, _) => self.write_done(txn, ctx),
            (false, _) => {}
        }
    }

    fn at(&self, txn: TxnId, step: Step) -> bool {
        self.ops.get(&txn).is_some_and(|o| o.step == step)
    }

    fn step(&mut self, txn: TxnId, step: Step) {
        if let Some(o) = self.ops.get_mut(&txn) {
            o.step = step;
        }
    }

    fn begin(&mut self, req: &TxnRequest, ctx: &mut Ctx<'_, CacheNode>) {
        let txn = req.txn;
        if self.ops.contains_key(&txn) {
            return; // a duplicate of a request in progress
        }
        let (kind, key) = self.cfg.op_of(req);
        let step = match kind {
            OpKind::Read => Step::ReadCache,
            OpKind::Write => Step::First,
        };
        let retries_left = self.cfg.part_retries;
        self.ops.insert(
            txn,
            AppOp {
                key,
                step,
                parts: 0,
                db_part: None,
                retries_left,
            },
        );
        ctx.set_timer(Timer::GiveUp(txn), self.cfg.deadline_us);
        if kind == OpKind::Read {
            observe(ctx, txn, key, CacheEvent::ReadBegan);
            ctx.send(self.cache, Msg::Get { txn, key });
            return;
        }
        let value = txn;
        let (cache, db, ack) = (self.cache, self.db, true);
        match self.cfg.write {
            WriteOrder::CacheThenDb => ctx.send(
                cache,
                Msg::Set {
                    txn,
                    key,
                    value,
                    ack,
                },
            ),
            WriteOrder::DbThenUpdate | WriteOrder::DbThenDelete => {
                let epoch = None;
                let write = Msg::Write {
                    txn,
                    key,
                    value,
                    epoch,
                };
                ctx.send(db, write)
            }
            WriteOrder::DelayedDoubleDelete => ctx.send(cache, Msg::Delete { txn, key, ack }),
            WriteOrder::WriteThrough => {
                // One step: the cache does the rest.
                self.step(txn, Step::Second);
                ctx.send(cache, Msg::WriteThrough { txn, key, value });
            }
        }
    }

    /// The write's first step is done: the second, in the configured order.
    fn second_step(&mut self, txn: TxnId, ctx: &mut Ctx<'_, CacheNode>) {
        let Some(key) = self.ops.get(&txn).map(|o| o.key) else {
            return;
        };
        self.step(txn, Step::Second);
        let (value, ack, epoch) = (txn, true, None);
        let msg = match self.cfg.write {
            WriteOrder::CacheThenDb | WriteOrder::DelayedDoubleDelete => Msg::Write {
                txn,
                key,
                value,
                epoch,
            },
            WriteOrder::DbThenUpdate => Msg::Set {
                txn,
                key,
                value,
                ack,
            },
            WriteOrder::DbThenDelete => Msg::Delete { txn, key, ack },
            WriteOrder::WriteThrough => return, // a single step
        };
        let to = match msg {
            Msg::Write { .. } => self.db,
            _ => self.cache,
        };
        ctx.send(to, msg);
    }

    fn write_done(&mut self, txn: TxnId, ctx: &mut Ctx<'_, CacheNode>) {
        let Some(op) = self.ops.remove(&txn) else {
            return;
        };
        ctx.cancel_timer(Timer::GiveUp(txn));
        if self.cfg.write == WriteOrder::DelayedDoubleDelete {
            let key = op.key;
            ctx.set_timer(Timer::SecondDelete { txn, key }, self.cfg.second_delete_us);
        }
        self.reply(txn, ctx);
    }

    fn read_done(
        &mut self,
        txn: TxnId,
        key: u32,
        value: u64,
        hit: bool,
        ctx: &mut Ctx<'_, CacheNode>,
    ) {
        self.ops.remove(&txn);
        ctx.cancel_timer(Timer::GiveUp(txn));
        observe(ctx, txn, key, CacheEvent::ReadReturned { value, hit });
        self.reply(txn, ctx);
    }

    /// Asks the parts in `parts` (a bit set) of `key`'s composite entry, and waits
    /// `part_timeout_us` for them.
    fn ask_parts(&self, txn: TxnId, key: u32, parts: u32, ctx: &mut Ctx<'_, CacheNode>) {
        if parts & 1 != 0 {
            ctx.send(self.db, Msg::Read { txn, key });
        }
        for (i, &source) in self.sources.iter().enumerate() {
            let part = i as u32 + 1;
            if parts & (1 << part) != 0 {
                ctx.send(source, Msg::GetPart { txn, key, part });
            }
        }
        ctx.set_timer(Timer::PartTimeout(txn), self.cfg.part_timeout_us);
    }

    /// Part `part` of a composite read came (`db_part`: the database's value, for
    /// part 0); with the last one, the entry is complete: fill it and answer.
    fn part_came(
        &mut self,
        txn: TxnId,
        part: u32,
        db_part: Option<u64>,
        ctx: &mut Ctx<'_, CacheNode>,
    ) {
        let all = self.cfg.all_parts();
        let Some(op) = self.ops.get_mut(&txn) else {
            return;
        };
        op.parts |= (1u32 << part) & all;
        if db_part.is_some() {
            op.db_part = db_part;
        }
        if op.parts != all {
            return;
        }
        let (key, value) = (op.key, op.db_part.unwrap_or(CACHE_INITIAL));
        ctx.cancel_timer(Timer::PartTimeout(txn));
        self.fill_and_answer(txn, key, value, ctx);
    }

    /// A miss's end: fill the cache with what was read (no acknowledgement awaited)
    /// and answer the reader.
    fn fill_and_answer(&mut self, txn: TxnId, key: u32, value: u64, ctx: &mut Ctx<'_, CacheNode>) {
        let ack = false;
        ctx.send(
            self.cache,
            Msg::Set {
                txn,
                key,
                value,
                ack,
            },
        );
        self.read_done(txn, key, value, false, ctx);
    }

    /// A composite read waited its part timeout: ask the missing parts again, or
    /// let `fill` decide what to do with what came.
    fn part_timeout(&mut self, txn: TxnId, ctx: &mut Ctx<'_, CacheNode>) {
        if !self.at(txn, Step::ReadParts) {
            return;
        }
        let all = self.cfg.all_parts();
        let Some(op) = self.ops.get_mut(&txn) else {
            return;
        };
        let (key, missing, value) = (op.key, all & !op.parts, op.db_part);
        if op.retries_left > 0 {
            op.retries_left -= 1;
            observe(ctx, txn, key, CacheEvent::PartRetried);
            self.ask_parts(txn, key, missing, ctx);
            return;
        }
        match self.cfg.fill {
            Fill::Partial => {
                let set = Msg::SetPartial {
                    txn,
                    key,
                    value,
                    missing,
                };
                ctx.send(self.cache, set);
                self.partial_done(txn, key, value, false, ctx);
            }
            Fill::AllOrNothing => {
                self.ops.remove(&txn);
                ctx.cancel_timer(Timer::GiveUp(txn));
                observe(ctx, txn, key, CacheEvent::ReadFailed);
                let outcome = Outcome::Abort;
                ctx.send(self.client, Msg::Reply { txn, outcome });
            }
        }
    }

    /// A read returns a partial entry (from the cache, `hit`, or from its fill).
    fn partial_done(
        &mut self,
        txn: TxnId,
        key: u32,
        value: Option<u64>,
        hit: bool,
        ctx: &mut Ctx<'_, CacheNode>,
    ) {
        self.ops.remove(&txn);
        ctx.cancel_timer(Timer::GiveUp(txn));
        observe(
            ctx,
            txn,
            key,
            CacheEvent::ReadReturnedPartial { value, hit },
        );
        ctx.send(self.client, Msg::PartialReply { txn, key });
    }

    fn reply(&self, txn: TxnId, ctx: &mut Ctx<'_, CacheNode>) {
        let outcome = Outcome::Commit;
        ctx.send(self.client, Msg::Reply { txn, outcome });
    }
}
