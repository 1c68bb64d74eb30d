//! Checkers: named invariants and metrics computed from what nodes report (DESIGN §6).
//!
//! They observe and never steer. Memory stays bounded however long the run: open
//! transactions sit in a sliding window indexed by transaction id and are folded into
//! counters as soon as every participant has applied the outcome and the coordinator
//! has finished; the few that stay open (blocked by faults) move aside.

use crate::engine::Observer;
use crate::faults::FaultAction;
use crate::node::{NodeId, NodeSet, TxnId};
use crate::observe::{AuditItem, MessagingEvent, Observation, RepairClass};
use crate::stats::Histogram;
pub use business::CommittedAt;
use business::{Business, BusinessChecks, BusinessConfig};
use std::collections::{BTreeMap, VecDeque};

pub mod business;
mod cache;
pub use cache::{CacheChecks, CacheCounts};
mod local_cache;
pub use local_cache::{LocalCacheChecks, LocalCacheCounts};
mod ids;
pub use ids::{IdsChecks, IdsCounts};
pub mod consistency;
mod messaging;
pub use messaging::{MessagingResults, MessagingTally};
pub use tcc::{TccChecks, TccCounts};

mod calls;
mod tcc;
pub mod txn;
pub use calls::{audit_chain, CallCounts, ChainAudit};
use txn::TxnRecord;

/// What the checkers need to know about the scenario.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// A lock held by an in-doubt transaction for longer than this is *blocked*.
    pub blocked_after_us: u64,
    /// An answer counts for availability only within this deadline.
    pub deadline_us: u64,
    /// Client nodes: their messages and writes are not the protocol's.
    pub clients: NodeSet,
}

/// A transaction in the window: its record, and what the counters need besides.
#[derive(Clone, Debug, Default)]
struct Track {
    txn: TxnId,
    /// Participants, votes, outcomes applied and decided. The participants are the
    /// first `TxnBegun`'s: a repeated begin is not folded in.
    record: TxnRecord,
    begun: bool,
    finished: bool,
    violation: bool,
    begun_depth: u32,
    max_depth: u32,
    /// When each participant reported `Prepared`, for the times of a `Resolved`.
    prepared_at_us: Vec<(NodeId, u64)>,
}

impl Track {
    fn settled(&self) -> bool {
        self.begun && self.finished && self.record.resolved().is_superset(self.record.participants)
    }

    /// Updates the track with an observation about its transaction; says what
    /// changed that the counters care about. Folds the observation into the record
    /// fact by fact, as [`TxnRecord::apply`] does, in the one match (the hot path).
    fn apply(&mut self, at_us: u64, node: NodeId, depth: u32, obs: &Observation) -> TrackChange {
        self.max_depth = self.max_depth.max(depth);
        let mut change = TrackChange::default();
        match *obs {
            Observation::TxnBegun { participants, .. } if !self.begun => {
                change.first_begin = true;
                self.begun = true;
                self.record.begin(participants);
                self.begun_depth = depth;
                self.max_depth = depth;
            }
            Observation::Prepared { .. } => {
                self.record.prepare(node);
                self.prepared_at_us.push((node, at_us));
            }
            Observation::Applied {
                outcome,
                in_doubt_us,
                locks,
                lock_hold_us,
                ..
            } => {
                self.record.applied(node, outcome);
                change.applied = Some((in_doubt_us, locks, lock_hold_us));
                self.judge(&mut change);
            }
            Observation::Resolved { outcome, locks, .. } => {
                let in_doubt_us = self.in_doubt_us(at_us, node);
                let hold_us = if locks > 0 { in_doubt_us } else { 0 };
                self.record.applied(node, outcome);
                change.applied = Some((in_doubt_us, locks, hold_us));
                self.judge(&mut change);
            }
            Observation::Decided { outcome, .. } => {
                self.record.decide(outcome);
                self.judge(&mut change);
            }
            Observation::Finished { .. } => self.finished = true,
            Observation::Compensated { .. } => self.record.compensate(node),
            _ => {}
        }
        change
    }

    /// How long `node` has been in doubt at `at_us`: since its latest `Prepared`
    /// (0 when it never prepared).
    fn in_doubt_us(&self, at_us: u64, node: NodeId) -> u64 {
        let since = self.prepared_at_us.iter().rev().find(|(n, _)| *n == node);
        since.map_or(0, |&(_, t)| at_us.saturating_sub(t))
    }

    /// Judged when an outcome is applied or decided; a saga's compensation passes
    /// through split states on its way to a consistent end (its soft state).
    #[inline]
    fn judge(&mut self, change: &mut TrackChange) {
        if !self.violation && self.record.split() {
            self.violation = true;
            change.new_violation = true;
        }
    }
}

/// What one observation changed in its transaction's track, for the counters.
#[derive(Default)]
struct TrackChange {
    /// The transaction's first `TxnBegun`.
    first_begin: bool,
    /// The transaction just became split: Commit and Abort both happened.
    new_violation: bool,
    /// An outcome applied: (time in doubt, locks, lock hold time).
    applied: Option<(u64, u32, u64)>,
}

/// A transaction whose participants disagreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicityExample {
    pub txn: TxnId,
    pub at_us: u64,
    pub committed: Vec<NodeId>,
    pub aborted: Vec<NodeId>,
    /// The decisions seen by then: Commit, Abort.
    pub decided: (bool, bool),
}

/// A participant that was in doubt for a while before it learned the outcome — or,
/// `decided_alone`, before it decided one of its own (`Observation::DecidedAlone`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InDoubtEpisode {
    pub txn: TxnId,
    pub node: Option<NodeId>,
    pub in_doubt_us: u64,
    pub locks: u32,
    pub resolved_at_us: u64,
    pub decided_alone: bool,
}

/// Running counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub begun: u64,
    pub committed: u64,
    pub aborted: u64,
    /// Transactions over for good with participants that disagree (counted as
    /// unresolved: partially applied).
    pub broken: u64,
    pub atomicity_violations: u64,
    pub requests: u64,
    /// Requests a restarted coordinator could not place (answered stale, not begun).
    pub refused: u64,
    pub answered_in_time: u64,
    pub protocol_messages: u64,
    pub client_messages: u64,
    pub durable_writes: u64,
    pub delays_sum: u64,
    pub delays_n: u64,
    pub blocked_locks: u64,
    pub lock_us_total: u64,
    pub max_hold_us: u64,
    /// Inconsistencies fixed automatically / flagged for an operator.
    pub repaired_automatic: u64,
    pub flagged_operator: u64,
    /// What the service-call patterns did (protocol `calls`).
    pub calls: CallCounts,
}

/// The checkers' state during a run.
pub struct Checks {
    cfg: CheckConfig,
    window: VecDeque<Option<Track>>,
    base: TxnId,
    stragglers: BTreeMap<TxnId, Track>,
    counts: Counts,
    latency: Histogram,
    examples: Vec<AtomicityExample>,
    blocked: Vec<InDoubtEpisode>,
    faults_total: u64,
    now_us: u64,
    consistency: crate::checkers::consistency::Tracker,
    messaging: MessagingTally,
    /// Business invariants of the order and flash-sale workloads (none for transfers).
    business: Option<BusinessChecks>,
    tcc: TccChecks,
    /// The cache and its database (protocol `cache`).
    cache: CacheChecks,
    /// The feature switch and its caches (protocol `local_cache`).
    local_cache: LocalCacheChecks,
    /// Global ids, their generators and the orders' dedupe table (protocol `ids`).
    ids: IdsChecks,
    /// (transaction, participant) that said `DecidedAlone` and have not yet applied
    /// that outcome: rare, so kept aside rather than in every transaction's track.
    decided_alone: std::collections::BTreeSet<(TxnId, NodeId)>,
    /// The protocol's own facts (`Observation::Fact`), by name.
    facts: BTreeMap<&'static str, FactCount>,
    /// Emptied `Track::prepared_at_us` buffers of retired transactions, reused by new
    /// ones: without them every transaction allocates one (the bench's hot path).
    spare_prepare_times: Vec<Vec<(NodeId, u64)>>,
}

/// How often a protocol reported a fact of its own, and the sum of its values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FactCount {
    pub count: u64,
    pub sum: i64,
}

const WINDOW_MAX: usize = 4096;
const EXAMPLES_MAX: usize = 5;

/// How many in-doubt episodes past the blocked threshold [`Results::blocked_episodes`]
/// keeps at most (the longest ones).
pub const BLOCKED_EPISODES_KEPT: usize = EXAMPLES_MAX * 4;

impl Checks {
    pub fn new(cfg: CheckConfig) -> Self {
        Checks {
            cfg,
            window: VecDeque::new(),
            base: 0,
            stragglers: BTreeMap::new(),
            counts: Counts::default(),
            latency: Histogram::default(),
            examples: Vec::new(),
            blocked: Vec::new(),
            faults_total: 0,
            now_us: 0,
            consistency: crate::checkers::consistency::Tracker::default(),
            messaging: MessagingTally::default(),
            business: None,
            tcc: TccChecks::default(),
            cache: CacheChecks::default(),
            local_cache: LocalCacheChecks::default(),
            ids: IdsChecks::default(),
            decided_alone: std::collections::BTreeSet::new(),
            facts: BTreeMap::new(),
            spare_prepare_times: Vec::new(),
        }
    }

    /// Also checks the order + inventory business invariants.
    pub fn with_business(mut self, cfg: Option<BusinessConfig>) -> Self {
        self.business = cfg.map(BusinessChecks::new);
        self
    }

    fn track(&mut self, txn: TxnId) -> &mut Track {
        let spare = &mut self.spare_prepare_times;
        let new = || Track {
            txn,
            prepared_at_us: spare.pop().unwrap_or_default(),
            ..Track::default()
        };
        if txn < self.base {
            // Below the window: its slot was recycled before anything arrived for it
            // (or it finished and this is a late duplicate). Track it aside.
            return self.stragglers.entry(txn).or_insert_with(new);
        }
        let i = (txn - self.base) as usize;
        if i >= self.window.len() {
            self.window.resize_with(i + 1, || None);
        }
        self.window[i].get_or_insert_with(new)
    }

    fn after_update(&mut self, txn: TxnId) {
        if txn < self.base {
            if self.stragglers.get(&txn).is_some_and(Track::settled) {
                let t = self.stragglers.remove(&txn).expect("present");
                self.retire(t);
            }
            return;
        }
        while let Some(front) = self.window.front() {
            match front {
                Some(t) if t.settled() => {}
                // Nothing seen yet for this id: observations may still be on their way
                // (requests race each other), so keep the slot until the window is full.
                None if self.window.len() > WINDOW_MAX => {}
                Some(_) if self.window.len() > WINDOW_MAX => {
                    let t = self.window.pop_front().flatten().expect("front is some");
                    self.stragglers.insert(self.base, t);
                    self.base += 1;
                    continue;
                }
                _ => break,
            }
            let t = self.window.pop_front().flatten();
            self.base += 1;
            if let Some(t) = t {
                self.retire(t);
            }
        }
    }

    /// Counts a transaction that is over for good (settled, or open at the end and
    /// neither in doubt nor partially applied): exactly once, in one of committed,
    /// aborted or — when its participants disagree — unresolved.
    fn retire(&mut self, mut t: Track) {
        let mut times = std::mem::take(&mut t.prepared_at_us);
        if times.capacity() > 0 && self.spare_prepare_times.len() < WINDOW_MAX {
            times.clear();
            self.spare_prepare_times.push(times);
        }
        if !t.begun {
            return;
        }
        if t.violation {
            // Some participants applied it, others rolled it back: partially applied
            // for good.
            self.counts.broken += 1;
            if let Some(b) = &mut self.business {
                b.over(t.record.applied_commit, t.record.applied_abort);
            }
            return;
        }
        let r = t.record;
        if r.applied_commit.is_superset(r.participants) && !r.applied_commit.is_empty() {
            self.counts.committed += 1;
            if r.participants.len() > 1 {
                self.counts.delays_sum += u64::from(t.max_depth - t.begun_depth);
                self.counts.delays_n += 1;
            }
        } else {
            self.counts.aborted += 1;
        }
    }

    /// The final counts, given the audits taken at the start and at the end.
    pub fn finish(
        mut self,
        start_audit: &[(NodeId, Vec<AuditItem>)],
        end_audit: &[(NodeId, Vec<AuditItem>)],
    ) -> Results {
        let mut in_doubt: BTreeMap<TxnId, Vec<(NodeId, u64)>> = BTreeMap::new();
        let mut held = Vec::new();
        let mut unfinished_at_end = 0;
        let money = |audit: &[(NodeId, Vec<AuditItem>)]| -> i64 {
            audit
                .iter()
                .flat_map(|(_, items)| items)
                .map(|i| match i {
                    AuditItem::Money { amount } => *amount,
                    _ => 0,
                })
                .sum()
        };
        for (node, items) in end_audit {
            for item in items {
                match *item {
                    AuditItem::InDoubt { txn, for_us } => {
                        in_doubt.entry(txn).or_default().push((*node, for_us))
                    }
                    AuditItem::LockHeld {
                        txn,
                        key,
                        for_us,
                        in_doubt,
                    } => held.push(HeldLock {
                        node: *node,
                        txn,
                        key,
                        held_us: for_us,
                        in_doubt,
                    }),
                    AuditItem::Unfinished { .. } => unfinished_at_end += 1,
                    AuditItem::Money { .. }
                    | AuditItem::MoneyInDoubt { .. }
                    | AuditItem::MessageHeld { .. }
                    | AuditItem::Chain { .. }
                    | AuditItem::KeyBalance { .. }
                    | AuditItem::KeyInDoubt { .. } => {}
                }
            }
        }
        let mut unresolved = 0;
        let open: Vec<Track> = self
            .window
            .drain(..)
            .flatten()
            .chain(std::mem::take(&mut self.stragglers).into_values())
            .collect();
        let committed: CommittedAt = open
            .iter()
            .filter(|t| !t.record.applied_commit.is_empty())
            .map(|t| (t.txn, t.record.applied_commit))
            .collect();
        let money_in_doubt: i64 = end_audit
            .iter()
            .flat_map(|(node, items)| items.iter().map(move |i| (*node, i)))
            .map(|(node, i)| match *i {
                AuditItem::MoneyInDoubt { txn, amount } if committed.in_flight(node, txn) => amount,
                _ => 0,
            })
            .sum();
        // In doubt: every transaction some participant's audit says it is in doubt
        // about — a hanging branch of a transaction already over and counted (a TCC
        // Try after its Cancel) included; its transaction is not counted again.
        let in_doubt_txns = in_doubt.len() as u64;
        for t in open {
            let txn_in_doubt = in_doubt.contains_key(&t.txn);
            if !t.begun {
                continue;
            }
            if t.violation {
                self.retire(t);
                continue;
            }
            let r = t.record;
            if r.applied_commit.is_superset(r.participants) {
                self.retire(t);
            } else if txn_in_doubt {
                unresolved += 1;
            } else if !r.applied_commit.is_empty() {
                unresolved += 1; // partially applied
            } else {
                self.retire(t);
            }
        }
        let messaging = self.messaging.finish(end_audit);
        // Money debited whose message is still held is in flight, not lost.
        let money_in_doubt = money_in_doubt + messaging.in_flight_money;
        let business = self
            .business
            .as_ref()
            .map(|b| b.finish(end_audit, &committed))
            .unwrap_or_default();
        let mut c = self.counts.clone();
        let unresolved = unresolved + c.broken;
        for h in &held {
            let hold = h.held_us;
            c.max_hold_us = c.max_hold_us.max(hold);
            if h.in_doubt && hold > self.cfg.blocked_after_us {
                c.blocked_locks += 1;
                c.lock_us_total += hold;
            }
        }
        let mut in_doubt_at_end: Vec<InDoubtAtEnd> = in_doubt
            .into_iter()
            .flat_map(|(txn, nodes)| {
                nodes
                    .into_iter()
                    .map(move |(node, for_us)| InDoubtAtEnd { txn, node, for_us })
            })
            .collect();
        in_doubt_at_end.sort_by_key(|d| (std::cmp::Reverse(d.for_us), d.txn, d.node));
        Results {
            counts: c,
            in_doubt: in_doubt_txns,
            unresolved,
            money_initial: money(start_audit),
            money_final: money(end_audit),
            money_in_doubt,
            latency_p50_us: self.latency.quantile(0.50),
            latency_p90_us: self.latency.quantile(0.90),
            latency_p99_us: self.latency.quantile(0.99),
            examples: self.examples,
            blocked_episodes: self.blocked,
            in_doubt_at_end,
            held_at_end: held,
            faults_total: self.faults_total,
            consistency: self.consistency.finish(unfinished_at_end),
            messaging,
            chain: audit_chain(end_audit),
            business,
            tcc: self.tcc.finish(),
            cache: self.cache,
            local_cache: self.local_cache,
            ids: self.ids.finish(),
            latency: self.latency,
            facts: self
                .facts
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }

    /// What clients saw: requests, refusals, and answers (in time or not, and their
    /// latency). Counted apart from the transactions, which a client does not track.
    fn observe_client(&mut self, obs: &Observation) {
        match *obs {
            Observation::Requested { .. } => self.counts.requests += 1,
            Observation::Refused { .. } => self.counts.refused += 1,
            Observation::Answered { latency_us, .. } => {
                if latency_us <= self.cfg.deadline_us {
                    self.counts.answered_in_time += 1;
                }
                self.latency.record(latency_us);
            }
            _ => {}
        }
    }

    /// Reliable messaging's transient anomaly: money in flight while exactly one side
    /// is applied (debited, not yet credited; or, publishing before the commit,
    /// credited before its debit). The tally knows the sides; the consistency
    /// tracker hears when the anomaly begins and ends.
    fn observe_messaging(&mut self, at_us: u64, txn: TxnId, event: MessagingEvent) {
        let before = self.messaging.half_done(txn);
        self.messaging.observe(at_us, txn, event);
        match (before, self.messaging.half_done(txn)) {
            (false, true) => self.consistency.anomaly_began(at_us, txn),
            (true, false) => {
                // Both sides applied: consistent, counted from the first side.
                if let Some(d) = self.consistency.anomaly_ended(at_us, txn) {
                    self.consistency.consistent(at_us, d);
                }
            }
            _ => {}
        }
    }

    /// An inconsistency repaired automatically or flagged for an operator.
    fn observe_repair(&mut self, obs: &Observation, class: RepairClass) {
        self.tcc.observe(obs); // a retry may complete a partial compensation
        match class {
            RepairClass::Automatic => self.counts.repaired_automatic += 1,
            RepairClass::Operator => self.counts.flagged_operator += 1,
        }
    }

    /// A protocol's own report of a (transient) anomaly or of reaching consistency.
    fn observe_consistency(&mut self, at_us: u64, obs: &Observation) {
        match *obs {
            Observation::Consistent { age_us, .. } => self.consistency.consistent(at_us, age_us),
            Observation::AnomalyBegan { txn } => self.consistency.anomaly_began(at_us, txn),
            Observation::AnomalyEnded { txn } => {
                self.consistency.anomaly_ended(at_us, txn);
            }
            _ => {}
        }
    }

    /// An observation about a transaction's progress (begun, prepared, decided,
    /// applied, finished, compensated): updates its track, then the counters and
    /// examples that follow from the change, then retires what is settled.
    fn observe_transaction(&mut self, at_us: u64, node: NodeId, depth: u32, obs: &Observation) {
        let txn = obs.txn();
        let t = self.track(txn);
        let change = t.apply(at_us, node, depth, obs);
        let example = change.new_violation.then(|| AtomicityExample {
            txn,
            at_us,
            committed: t.record.applied_commit.iter().collect(),
            aborted: t.record.applied_abort.iter().collect(),
            decided: (t.record.decided_commit, t.record.decided_abort),
        });
        if let Some(e) = example {
            self.record_violation(e);
        }
        if let Some((in_doubt_us, locks, hold)) = change.applied {
            let decided_alone =
                !self.decided_alone.is_empty() && self.decided_alone.remove(&(txn, node));
            self.record_in_doubt(InDoubtEpisode {
                txn,
                node: Some(node),
                in_doubt_us,
                locks,
                resolved_at_us: at_us,
                decided_alone,
            });
            self.record_lock_hold(in_doubt_us, locks, hold);
        }
        if change.first_begin {
            self.counts.begun += 1;
        }
        self.after_update(txn);
    }

    /// Counts an atomicity violation, keeping the first few as examples.
    fn record_violation(&mut self, e: AtomicityExample) {
        self.counts.atomicity_violations += 1;
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(e);
        }
    }

    /// Keeps an in-doubt episode longer than the blocked threshold, a bounded number
    /// of them.
    fn record_in_doubt(&mut self, e: InDoubtEpisode) {
        let in_doubt_us = e.in_doubt_us;
        if in_doubt_us > self.cfg.blocked_after_us {
            if self.blocked.len() < BLOCKED_EPISODES_KEPT {
                self.blocked.push(e);
            } else if let Some(shortest) = self.blocked.iter_mut().min_by_key(|b| b.in_doubt_us) {
                // Keep the longest episodes: they make the story.
                if shortest.in_doubt_us < in_doubt_us {
                    *shortest = e;
                }
            }
        }
    }

    /// The lock statistics of an outcome applied: the longest hold, and the locks
    /// (and lock time) held while in doubt past the blocked threshold.
    fn record_lock_hold(&mut self, in_doubt_us: u64, locks: u32, hold: u64) {
        self.counts.max_hold_us = self.counts.max_hold_us.max(hold);
        if locks > 0 && in_doubt_us > self.cfg.blocked_after_us {
            self.counts.blocked_locks += u64::from(locks);
            self.counts.lock_us_total += u64::from(locks) * hold;
        }
    }
}

impl Observer for Checks {
    fn observe(&mut self, at_us: u64, node: NodeId, depth: u32, obs: &Observation) {
        self.now_us = at_us;
        match *obs {
            Observation::Requested { .. }
            | Observation::Refused { .. }
            | Observation::Answered { .. } => self.observe_client(obs),
            Observation::Messaging { txn, event } => self.observe_messaging(at_us, txn, event),
            Observation::Repair { class, .. } => self.observe_repair(obs, class),
            Observation::Consistent { .. }
            | Observation::AnomalyBegan { .. }
            | Observation::AnomalyEnded { .. } => self.observe_consistency(at_us, obs),
            Observation::Call { txn, event } => self.counts.calls.record(at_us, txn, event),
            Observation::Tcc { .. } => self.tcc.observe(obs),
            Observation::Cache { txn, key, event } => {
                self.cache.observe(at_us, node, txn, key, event)
            }
            Observation::Id { txn, event } => self.ids.observe(node, txn, event),
            Observation::LocalCache { txn, event } => {
                self.local_cache.observe(at_us, node, txn, event)
            }
            Observation::DecidedAlone { txn } => {
                self.decided_alone.insert((txn, node));
            }
            Observation::Fact { name, value, .. } => {
                let f = self.facts.entry(name).or_default();
                f.count += 1;
                f.sum = f.sum.saturating_add(value);
            }
            _ => {
                let applied = matches!(
                    obs,
                    Observation::Applied { .. } | Observation::Resolved { .. }
                );
                if let (true, Some(b)) = (applied, &mut self.business) {
                    b.observe(node, obs);
                }
                self.observe_transaction(at_us, node, depth, obs);
            }
        }
    }

    fn message_sent(&mut self, from: NodeId, to: NodeId) {
        if self.cfg.clients.contains(from) || self.cfg.clients.contains(to) {
            self.counts.client_messages += 1;
        } else {
            self.counts.protocol_messages += 1;
        }
    }

    fn persisted(&mut self, node: NodeId, writes: u32) {
        if !self.cfg.clients.contains(node) {
            self.counts.durable_writes += u64::from(writes);
        }
    }

    fn fault(&mut self, at_us: u64, action: &FaultAction) {
        self.faults_total += 1;
        self.consistency.fault(at_us, action);
        if let FaultAction::Crash(node) = *action {
            self.cache.crashed(at_us, node);
            self.local_cache.crashed(at_us, node);
        }
    }
}

/// A lock still held at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLock {
    pub node: NodeId,
    pub txn: TxnId,
    pub key: u64,
    /// How long it has been held, by the holder's clock.
    pub held_us: u64,
    pub in_doubt: bool,
}

/// A participant still in doubt at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InDoubtAtEnd {
    pub txn: TxnId,
    pub node: NodeId,
    /// How long it has been in doubt, by its own clock.
    pub for_us: u64,
}

/// Everything the checkers concluded.
#[derive(Clone, Debug)]
pub struct Results {
    pub counts: Counts,
    /// Transactions some participant is still in doubt about at the end.
    pub in_doubt: u64,
    /// Transactions not finished at the end: in doubt or partially applied.
    pub unresolved: u64,
    pub money_initial: i64,
    pub money_final: i64,
    /// Held in prepared changes of transactions that committed elsewhere but are
    /// still in doubt here at the end: in flight, not lost.
    pub money_in_doubt: i64,
    pub latency_p50_us: u64,
    pub latency_p90_us: u64,
    pub latency_p99_us: u64,
    pub examples: Vec<AtomicityExample>,
    /// The longest episodes (at most 20) of participants in doubt for longer than
    /// `blocked_after` that then learned the outcome.
    pub blocked_episodes: Vec<InDoubtEpisode>,
    pub in_doubt_at_end: Vec<InDoubtAtEnd>,
    pub held_at_end: Vec<HeldLock>,
    /// Fault actions carried out (crashes, restarts, cuts starting and ending).
    pub faults_total: u64,
    /// BASE: time to consistency, transient anomalies, unfinished transactions.
    pub consistency: crate::checkers::consistency::Summary,
    /// Reliable messaging: what became of each message.
    pub messaging: MessagingResults,
    /// The order chain's records at the end (protocol `calls`; empty otherwise).
    pub chain: ChainAudit,
    /// Order + inventory / flash-sale counts (zero for transfers).
    pub business: Business,
    /// TCC fence events (zero for other protocols).
    pub tcc: TccCounts,
    /// The cache and its database (empty for other protocols): its counts, once the
    /// run's end time is known ([`CacheChecks::finish`]).
    pub cache: CacheChecks,
    /// The feature switch and its caches (empty for other protocols): its counts,
    /// once the run's end time is known ([`LocalCacheChecks::finish`]).
    pub local_cache: LocalCacheChecks,
    /// Global ids (zero for other protocols).
    pub ids: IdsCounts,
    /// Latencies of definite answers within the deadline (µs), for any quantile
    /// (sweeps store a latency CDF per run from it).
    pub latency: crate::stats::Histogram,
    /// The protocol's own facts, by name.
    pub facts: BTreeMap<String, FactCount>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Outcome;

    fn checks() -> Checks {
        Checks::new(CheckConfig {
            blocked_after_us: 1000,
            deadline_us: 1000,
            clients: NodeSet::new(),
        })
    }

    fn set(ids: &[u32]) -> NodeSet {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    fn feed(c: &mut Checks, node: u32, obs: Observation) {
        c.observe(0, NodeId(node), 0, &obs);
    }

    /// A `Resolved` gets the times an `Applied` would carry, from the node's own
    /// `Prepared`: the same counts as the `Applied` a protocol would have written.
    #[test]
    fn resolved_derives_the_times_from_the_nodes_prepare() {
        let run = |resolved: bool| {
            let mut c = checks();
            let begun = Observation::TxnBegun {
                txn: 1,
                participants: set(&[1, 2]),
            };
            c.observe(0, NodeId(0), 0, &begun);
            c.observe(100, NodeId(1), 0, &Observation::Prepared { txn: 1 });
            c.observe(400, NodeId(2), 0, &Observation::Prepared { txn: 1 });
            for (node, at_us) in [(1, 2600), (2, 2700)] {
                let obs = if resolved {
                    Observation::Resolved {
                        txn: 1,
                        outcome: Outcome::Commit,
                        locks: 1,
                    }
                } else {
                    let t = at_us - if node == 1 { 100 } else { 400 };
                    Observation::Applied {
                        txn: 1,
                        outcome: Outcome::Commit,
                        in_doubt_us: t,
                        locks: 1,
                        lock_hold_us: t,
                    }
                };
                c.observe(at_us, NodeId(node), 0, &obs);
            }
            c.finish(&[], &[])
        };
        let (derived, written) = (run(true), run(false));
        assert_eq!(derived.blocked_episodes, written.blocked_episodes);
        let in_doubt: Vec<u64> = derived
            .blocked_episodes
            .iter()
            .map(|e| e.in_doubt_us)
            .collect();
        assert_eq!(in_doubt, [2500, 2300]);
        assert_eq!(derived.counts.max_hold_us, 2500);
        assert_eq!(derived.counts.blocked_locks, 2);
        assert_eq!(derived.counts, written.counts);
    }

    /// A participant that said `DecidedAlone` ended its doubt with its own outcome:
    /// its episode says so (the story must not say it learned the outcome); the
    /// other participant's does not.
    #[test]
    fn an_outcome_taken_alone_is_marked_on_its_episode_only() {
        let mut c = checks();
        let begun = Observation::TxnBegun {
            txn: 1,
            participants: set(&[1, 2]),
        };
        c.observe(0, NodeId(0), 0, &begun);
        for node in [1, 2] {
            c.observe(100, NodeId(node), 0, &Observation::Prepared { txn: 1 });
        }
        c.observe(2600, NodeId(2), 0, &Observation::DecidedAlone { txn: 1 });
        for node in [1, 2] {
            let resolved = Observation::Resolved {
                txn: 1,
                outcome: Outcome::Commit,
                locks: 1,
            };
            c.observe(2600, NodeId(node), 0, &resolved);
        }
        let r = c.finish(&[], &[]);
        let alone: Vec<(Option<NodeId>, bool)> = r
            .blocked_episodes
            .iter()
            .map(|e| (e.node, e.decided_alone))
            .collect();
        assert_eq!(alone, [(Some(NodeId(1)), false), (Some(NodeId(2)), true)]);
        assert_eq!(
            r.counts.atomicity_violations, 0,
            "agreeing alone is no violation"
        );
    }

    #[test]
    fn a_decision_contradicting_every_participant_is_a_violation() {
        let mut c = checks();
        feed(
            &mut c,
            0,
            Observation::TxnBegun {
                txn: 1,
                participants: set(&[1, 2]),
            },
        );
        feed(
            &mut c,
            0,
            Observation::Decided {
                txn: 1,
                outcome: Outcome::Commit,
            },
        );
        feed(
            &mut c,
            1,
            Observation::applied_at_once(1, Outcome::Abort, 0),
        );
        feed(
            &mut c,
            2,
            Observation::applied_at_once(1, Outcome::Abort, 0),
        );
        feed(&mut c, 0, Observation::Finished { txn: 1 });
        let r = c.finish(&[], &[]);
        assert_eq!(r.counts.atomicity_violations, 1);
        assert_eq!(r.examples[0].decided, (true, false));
        assert_eq!(
            (r.counts.committed, r.counts.aborted, r.unresolved),
            (0, 0, 1)
        );
    }

    /// A transfer committed at both shards while an older one is still open (so it
    /// stays in the window to the end), and a late copy of its Try reserved again at
    /// the credited shard (TCC without anti-hanging): that reservation holds money
    /// nobody is moving. Seen in the swarm (tcc-no-anti-hanging, seed 193) as "MONEY
    /// NOT CONSERVED ... +58, counting 58 still in doubt" with every balance right.
    #[test]
    fn a_reservation_at_a_participant_that_already_committed_is_not_money_in_flight() {
        let mut c = checks();
        for txn in [0, 1] {
            feed(
                &mut c,
                0,
                Observation::TxnBegun {
                    txn,
                    participants: set(&[1, 2]),
                },
            );
        }
        feed(&mut c, 1, Observation::Prepared { txn: 0 });
        for node in [1, 2] {
            feed(
                &mut c,
                node,
                Observation::applied_at_once(1, Outcome::Commit, 0),
            );
        }
        feed(&mut c, 0, Observation::Finished { txn: 1 });
        let end = vec![
            (NodeId(1), vec![AuditItem::Money { amount: 100 }]),
            (
                NodeId(2),
                vec![
                    AuditItem::Money { amount: 100 },
                    AuditItem::InDoubt { txn: 1, for_us: 5 },
                    AuditItem::MoneyInDoubt { txn: 1, amount: 58 },
                ],
            ),
        ];
        let start = vec![
            (NodeId(1), vec![AuditItem::Money { amount: 100 }]),
            (NodeId(2), vec![AuditItem::Money { amount: 100 }]),
        ];
        let r = c.finish(&start, &end);
        assert_eq!(r.money_in_doubt, 0, "nothing in flight");
        assert_eq!(
            r.money_initial,
            r.money_final + r.money_in_doubt,
            "conserved"
        );
    }

    #[test]
    fn every_transaction_is_counted_once_whatever_its_end() {
        let mut c = checks();
        let begin = |c: &mut Checks, txn| {
            feed(
                c,
                0,
                Observation::TxnBegun {
                    txn,
                    participants: set(&[1, 2]),
                },
            )
        };
        // Committed; aborted; split; left in doubt (open at the end).
        for txn in 0..4 {
            begin(&mut c, txn);
        }
        for (txn, a, b) in [
            (0, Outcome::Commit, Outcome::Commit),
            (1, Outcome::Abort, Outcome::Abort),
            (2, Outcome::Commit, Outcome::Abort),
        ] {
            feed(&mut c, 1, Observation::applied_at_once(txn, a, 0));
            feed(&mut c, 2, Observation::applied_at_once(txn, b, 0));
            feed(&mut c, 0, Observation::Finished { txn });
        }
        feed(&mut c, 1, Observation::Prepared { txn: 3 });
        let end = vec![(NodeId(1), vec![AuditItem::InDoubt { txn: 3, for_us: 5 }])];
        let r = c.finish(&[], &end);
        let k = &r.counts;
        assert_eq!(
            (k.committed, k.aborted, r.unresolved, k.begun),
            (1, 1, 2, 4)
        );
        assert_eq!(k.committed + k.aborted + r.unresolved, k.begun);
        assert_eq!(r.in_doubt, 1);
    }

    #[test]
    fn a_compensation_in_progress_is_not_a_violation() {
        let mut c = checks();
        feed(
            &mut c,
            0,
            Observation::TxnBegun {
                txn: 1,
                participants: set(&[1, 2]),
            },
        );
        feed(
            &mut c,
            1,
            Observation::applied_at_once(1, Outcome::Commit, 0),
        );
        feed(
            &mut c,
            2,
            Observation::applied_at_once(1, Outcome::Commit, 0),
        );
        feed(&mut c, 2, Observation::Compensated { txn: 1 }); // half-way back
        feed(&mut c, 1, Observation::Compensated { txn: 1 });
        feed(
            &mut c,
            0,
            Observation::Decided {
                txn: 1,
                outcome: Outcome::Abort,
            },
        );
        feed(&mut c, 0, Observation::Finished { txn: 1 });
        let r = c.finish(&[], &[]);
        assert_eq!(r.counts.atomicity_violations, 0);
        assert_eq!(r.counts.aborted, 1);
    }
}
