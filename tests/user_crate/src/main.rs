//! A protocol of your own, with every `acidbase` subcommand: one-phase commit.
//!
//! The coordinator (`tm`) logs each request, tells every participant to apply its
//! part at once and resends until each acknowledges; a participant applies its part
//! if its balances allow and refuses it otherwise. No vote: a participant that
//! refuses cannot stop the others, so a transfer whose debit is refused still has its
//! credit applied. That is the lesson this protocol teaches, beside 2PC:
//! `my-acidbase compare one-pc.ron --protocols 1pc,2pc`.
//!
//! The book's chapter "Testing your own protocol" walks through this file.

use acidbase::node::{Ctx, Node, NodeId, NodeSet, Outcome, TxnId};
use acidbase::observe::{AuditItem, Observation};
use acidbase::property::{Property, View};
use acidbase::protocols::world::{BuildError, WorldBuilder};
use acidbase::protocols::Protocol;
use acidbase::run::Registry;
use acidbase::store::{Ledger, ShardOps};
use acidbase::workload::{Client, ClientTimer, ClientWorld, TxnRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol's options, read from the scenario's `options: (...)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnePcOptions {
    /// How often the coordinator resends an unacknowledged Apply (ms).
    pub retry_ms: f64,
}

impl Default for OnePcOptions {
    fn default() -> Self {
        OnePcOptions { retry_ms: 50.0 }
    }
}

#[derive(Clone, Debug, Hash, Serialize)]
pub enum Msg {
    Request(TxnRequest),
    Apply { txn: TxnId, ops: ShardOps },
    Ack { txn: TxnId },
    Reply { txn: TxnId, outcome: Outcome },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Timer {
    Resend,
    Client(ClientTimer),
}

/// What survives a crash: the coordinator's log, a participant's ledger and the
/// transactions it already settled, the client's id watermark.
#[derive(Clone, Debug, Default, Hash)]
pub struct Durable {
    /// Coordinator: each logged transaction's parts not yet acknowledged.
    pub pending: BTreeMap<TxnId, Vec<(NodeId, ShardOps)>>,
    /// Participant: its balances, and what it did with each transaction.
    pub ledger: Ledger,
    pub settled: BTreeMap<TxnId, Outcome>,
    pub watermark: u64,
}

#[derive(Clone, Debug, Hash)]
pub enum OnePc {
    Coordinator { rms: Vec<NodeId>, retry_us: u64 },
    Participant,
    Client(Client),
}

impl ClientWorld for OnePc {
    fn request_msg(req: TxnRequest) -> Msg {
        Msg::Request(req)
    }
    fn client_timer(t: ClientTimer) -> Timer {
        Timer::Client(t)
    }
    fn watermark(d: &Durable) -> u64 {
        d.watermark
    }
    fn set_watermark(d: &mut Durable, to: u64) {
        d.watermark = to;
    }
}

impl Node for OnePc {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    /// Which transaction a message is about: traces and diagrams group by it.
    fn msg_txn(msg: &Msg) -> Option<TxnId> {
        match msg {
            Msg::Request(req) => Some(req.txn),
            Msg::Apply { txn, .. } | Msg::Ack { txn } | Msg::Reply { txn, .. } => Some(*txn),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            OnePc::Client(c) => c.on_start(ctx),
            OnePc::Coordinator { retry_us, .. } => ctx.set_timer(Timer::Resend, *retry_us),
            OnePc::Participant => {}
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx<'_, Self>) {
        match (self, msg) {
            (OnePc::Coordinator { rms, .. }, Msg::Request(req)) => {
                if ctx.durable().pending.contains_key(&req.txn) {
                    return; // a duplicate request
                }
                let parts: Vec<(NodeId, ShardOps)> = req
                    .by_shard()
                    .into_iter()
                    .map(|(shard, ops)| (rms[shard as usize], ops))
                    .collect();
                let participants: NodeSet = parts.iter().map(|(n, _)| *n).collect();
                ctx.persist(|d| d.pending.insert(req.txn, parts.clone()));
                ctx.observe(Observation::TxnBegun {
                    txn: req.txn,
                    participants,
                });
                // One phase: the decision is made before anyone is asked.
                ctx.observe(Observation::Decided {
                    txn: req.txn,
                    outcome: Outcome::Commit,
                });
                for (rm, ops) in parts {
                    ctx.send(rm, Msg::Apply { txn: req.txn, ops });
                }
                ctx.send(
                    from,
                    Msg::Reply {
                        txn: req.txn,
                        outcome: Outcome::Commit,
                    },
                );
            }
            (OnePc::Coordinator { .. }, Msg::Ack { txn }) => {
                let done = ctx.persist(|d| {
                    let Some(parts) = d.pending.get_mut(&txn) else {
                        return false;
                    };
                    parts.retain(|(n, _)| *n != from);
                    let done = parts.is_empty();
                    if done {
                        d.pending.remove(&txn);
                    }
                    done
                });
                if done {
                    ctx.observe(Observation::Finished { txn });
                }
            }
            (OnePc::Participant, Msg::Apply { txn, ops }) => {
                if !ctx.durable().settled.contains_key(&txn) {
                    let outcome = if ctx.durable().ledger.can_apply(&ops) {
                        Outcome::Commit
                    } else {
                        Outcome::Abort // refused: nobody else learns of it
                    };
                    ctx.persist(|d| {
                        if outcome == Outcome::Commit {
                            d.ledger.apply(&ops);
                        }
                        d.settled.insert(txn, outcome);
                    });
                    ctx.observe(Observation::applied_at_once(txn, outcome, 0));
                    if outcome == Outcome::Abort {
                        // A fact of this protocol's own, counted in the report.
                        ctx.observe(Observation::Fact {
                            txn,
                            name: "refused",
                            value: 1,
                        });
                    }
                }
                ctx.send(from, Msg::Ack { txn });
            }
            (OnePc::Client(c), Msg::Reply { txn, outcome }) => c.on_reply(txn, outcome, ctx),
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut Ctx<'_, Self>) {
        match (self, timer) {
            (OnePc::Client(c), Timer::Client(t)) => c.on_timer(t, ctx),
            (OnePc::Coordinator { retry_us, .. }, Timer::Resend) => {
                let resend: Vec<(NodeId, Msg)> = ctx
                    .durable()
                    .pending
                    .iter()
                    .flat_map(|(&txn, parts)| {
                        parts
                            .iter()
                            .map(move |(n, ops)| (*n, Msg::Apply { txn, ops: *ops }))
                    })
                    .collect();
                for (n, m) in resend {
                    ctx.send(n, m);
                }
                ctx.set_timer(Timer::Resend, *retry_us);
            }
            _ => {}
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            OnePc::Client(c) => c.on_recover(ctx),
            // The log survives: resending from it finishes what the crash interrupted.
            OnePc::Coordinator { retry_us, .. } => ctx.set_timer(Timer::Resend, *retry_us),
            OnePc::Participant => {}
        }
    }

    fn audit(&self, d: &Durable, _now_us: u64, out: &mut Vec<AuditItem>) {
        if let OnePc::Participant = self {
            out.push(AuditItem::Money {
                amount: d.ledger.total(),
            });
        }
    }
}

/// Whether any transaction was applied at one participant and refused at another.
fn split(view: &View<'_, OnePc>) -> bool {
    let mut seen: BTreeMap<TxnId, Outcome> = BTreeMap::new();
    for (_, _, _, d) in view.nodes() {
        for (&txn, &o) in &d.settled {
            if *seen.entry(txn).or_insert(o) != o {
                return true;
            }
        }
    }
    false
}

/// The protocol, as acidbase's tools see it.
pub struct OnePhaseCommit;

impl Protocol for OnePhaseCommit {
    type Node = OnePc;
    type Options = OnePcOptions;

    fn name(&self) -> &'static str {
        "1pc"
    }

    fn about(&self) -> &'static str {
        "one-phase commit (a user protocol): apply everywhere at once, no vote"
    }

    fn build(&self, o: &OnePcOptions, w: &mut WorldBuilder<'_, OnePc>) -> Result<(), BuildError> {
        let tm = w.id("tm")?;
        let rms = w.rms()?;
        let retry_us = (o.retry_ms * 1000.0).max(1.0) as u64;
        w.host(
            "tm",
            OnePc::Coordinator {
                rms: rms.clone(),
                retry_us,
            },
            Durable::default(),
        )?;
        for shard in 0..rms.len() as u32 {
            let ledger = w.shard_ledger(shard);
            let durable = Durable {
                ledger,
                ..Durable::default()
            };
            w.host(&format!("rm{}", shard + 1), OnePc::Participant, durable)?;
        }
        let client = Client::new(w.client_config(tm));
        w.host_client("client", OnePc::Client(client))?;
        Ok(())
    }

    fn properties(&self, _o: &OnePcOptions) -> Vec<Property<OnePc>> {
        vec![
            Property::always("participants agree", |v| !split(v)),
            Property::sometimes("a transfer is applied", |v: &View<'_, OnePc>| {
                v.nodes()
                    .any(|(_, _, _, d)| d.settled.values().any(|&o| o == Outcome::Commit))
            }),
            Property::eventually("the coordinator's log is empty", |v: &View<'_, OnePc>| {
                v.id("tm")
                    .and_then(|tm| v.durable(tm))
                    .is_some_and(|d| d.pending.is_empty())
            }),
        ]
    }
}

fn main() -> std::process::ExitCode {
    acidbase::cli::main_with(Registry::builtin().with(OnePhaseCommit))
}
