//! Global ids as a [`Protocol`]: nodes `seq`, `orders`, `gen0..genN-1`, `client`;
//! options from the scenario's `options: (...)`.

use super::{Config, Gen, Generator, Guard, IdsNode, Orders, NODE_MAX};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{ms_to_us, OptionsError, Scenario};
use crate::story::StoryPlace;
use crate::workload::Client;
use serde::{Deserialize, Serialize};

/// Order ids from Snowflake-style or segment generators, and a dedupe table.
pub struct Ids;

/// Most generators a world may have.
pub const GENERATORS_MAX: u32 = 64;

/// The protocol's options, read from the scenario's `options: (...)` (every field
/// optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsOptions {
    /// How ids are made: `Snowflake` (time-based) or `Segment` (database blocks).
    pub generator: Generator,
    /// Snowflake: what a generator does when its clock reads earlier than its last id.
    pub guard: Guard,
    /// How many generators (`gen0..`).
    pub generators: u32,
    /// Snowflake: each generator's node id (default: 0, 1, 2, ...); give two the
    /// same to misconfigure them.
    pub node_ids: Option<Vec<u64>>,
    /// Segment: ids per block.
    pub block: u64,
    /// Snowflake with a guard: keep a durable lease on time (false: the last id in
    /// memory only, forgotten by a restart).
    pub lease: bool,
    /// Snowflake with a guard: how far ahead of the clock its durable lease reaches.
    pub lease_ms: f64,
    /// How often an unanswered request to `seq` or `orders` is sent again.
    pub retry_ms: f64,
    /// Requests a generator holds back at most (more are refused).
    pub queue_max: u32,
    /// When `orders` reconciles, on its clock (default: 100 ms after the horizon; a
    /// restart after that time reconciles at once).
    pub reconcile_at_ms: Option<f64>,
}

impl Default for IdsOptions {
    fn default() -> Self {
        IdsOptions {
            generator: Generator::default(),
            guard: Guard::default(),
            generators: 2,
            node_ids: None,
            block: 100,
            lease: true,
            lease_ms: 100.0,
            retry_ms: 20.0,
            queue_max: 1024,
            reconcile_at_ms: None,
        }
    }
}

impl IdsOptions {
    fn check(&self) -> Result<(), OptionsError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.generators == 0 || self.generators > GENERATORS_MAX {
            return Err(format!("generators must be between 1 and {GENERATORS_MAX}").into());
        }
        if let Some(ids) = &self.node_ids {
            if self.generator != Generator::Snowflake {
                return Err("node_ids applies to the Snowflake generator only (a segment generator has no node id)".into());
            }
            if ids.len() != self.generators as usize {
                return Err(format!(
                    "node_ids lists {} ids for {} generators: give one per generator",
                    ids.len(),
                    self.generators
                )
                .into());
            }
            if let Some(bad) = ids.iter().find(|&&i| i > NODE_MAX) {
                return Err(
                    format!("node_ids: {bad} does not fit in 10 bits (0 to {NODE_MAX})").into(),
                );
            }
        } else if u64::from(self.generators) > NODE_MAX + 1 {
            return Err("more generators than 10-bit node ids".into());
        }
        if self.block == 0 || self.block > 1 << 32 {
            return Err("block must be between 1 and 4294967296 ids".into());
        }
        if !positive(self.lease_ms) {
            return Err("lease_ms must be a positive number of ms".into());
        }
        if !positive(self.retry_ms) {
            return Err("retry_ms must be a positive number of ms".into());
        }
        if self.queue_max == 0 {
            return Err("queue_max must be at least 1".into());
        }
        if self
            .reconcile_at_ms
            .is_some_and(|t| !(t.is_finite() && t >= 0.0))
        {
            return Err("reconcile_at_ms must be a time in ms, 0 or more".into());
        }
        Ok(())
    }

    /// The nodes' configuration for scenario `s`.
    pub fn config(&self, s: &Scenario) -> Config {
        Config {
            generator: self.generator,
            guard: self.guard,
            block: self.block,
            lease: self.lease,
            lease_us: ms_to_us(self.lease_ms).max(1000),
            retry_us: ms_to_us(self.retry_ms).max(1),
            deadline_us: ms_to_us(s.clients.deadline_ms).max(1),
            queue_max: self.queue_max as usize,
            reconcile_after_us: ms_to_us(self.reconcile_at_ms.unwrap_or(s.duration_ms + 100.0)),
        }
    }

    fn gen_names(&self) -> Vec<String> {
        (0..self.generators).map(|i| format!("gen{i}")).collect()
    }
}

impl Protocol for Ids {
    type Node = IdsNode;
    type Options = IdsOptions;

    fn name(&self) -> &'static str {
        "ids"
    }

    fn about(&self) -> &'static str {
        "global order ids: Snowflake (clock steps, guards, node ids) or database segments; a dedupe table and reconciliation"
    }

    fn options(&self, s: &Scenario) -> Result<IdsOptions, OptionsError> {
        let o: IdsOptions = match &s.options {
            None => IdsOptions::default(),
            Some(raw) => crate::scenario::parse_options(raw)?,
        };
        o.check()?;
        Ok(o)
    }

    fn node_names(&self, _s: &Scenario, o: &IdsOptions) -> Vec<String> {
        let mut v = vec!["seq".to_string(), "orders".to_string()];
        v.extend(o.gen_names());
        v.push("client".into());
        v
    }

    /// Its state grows with time (ids from the clock, logs of every order).
    fn explorable(&self) -> bool {
        false
    }

    fn build(&self, o: &IdsOptions, w: &mut WorldBuilder<'_, IdsNode>) -> Result<(), BuildError> {
        let cfg = o.config(w.scenario());
        let (seq, orders, client) = (w.id("seq")?, w.id("orders")?, w.id("client")?);
        let names = o.gen_names();
        let gens = names
            .iter()
            .map(|n| w.id(n))
            .collect::<Result<Vec<_>, _>>()?;
        w.host("seq", IdsNode::Seq { block: cfg.block }, Default::default())?;
        let table = Orders::new(cfg.clone(), gens.clone());
        w.host("orders", IdsNode::Orders(table), Default::default())?;
        for (i, name) in names.iter().enumerate() {
            let node_id = o.node_ids.as_ref().map_or(i as u64, |ids| ids[i]);
            let g = Gen::new(cfg.clone(), node_id, seq, orders, client);
            w.host(name, IdsNode::Gen(g), Default::default())?;
        }
        let mut cc = w.client_config(gens[0]);
        cc.spread = gens;
        w.host_client("client", IdsNode::Client(Client::new(cc)))?;
        Ok(())
    }

    fn story_at(&self, place: StoryPlace, rep: &Report) -> Vec<String> {
        if place != StoryPlace::AfterChecks {
            return Vec::new();
        }
        let i = &rep.ids;
        let mut out = vec![format!(
            "The generators issued {} ids; the orders table recorded {} orders and the generators accepted {}",
            i.issued, i.recorded, i.accepted
        )];
        if i.duplicate_ids > 0 {
            let ids = match i.duplicate_ids {
                1 => "1 id was".to_string(),
                n => format!("{n} ids were"),
            };
            out.push(format!(
                "{ids} issued twice, for different orders; the dedupe table dropped {} real orders as duplicates and answered \"recorded\" all the same",
                i.dropped_real_orders
            ));
        }
        if i.lost_orders > 0 {
            out.push(format!(
                "{} accepted orders are missing from the orders table at the end; reconciliation found {} of them",
                i.lost_orders, i.lost_found_by_reconciliation
            ));
        }
        if i.non_monotonic > 0 {
            out.push(match i.non_monotonic {
                1 => "1 id was not above its generator's previous id (a clock that went back)"
                    .to_string(),
                n => format!(
                    "{n} ids were not above their generator's previous id (a clock that went back)"
                ),
            });
        }
        if i.waited + i.refused > 0 {
            out.push(format!(
                "The guard held {} requests back (at most {:.1} ms) and refused {}: the price of never reusing a timestamp",
                i.waited, i.waited_ms_max, i.refused
            ));
        }
        if i.blocks > 0 {
            out.push(format!(
                "The sequence handed out {} blocks; {} ids of given-up blocks were never issued (gaps)",
                i.blocks, i.gaps
            ));
        }
        out
    }

    fn counts_at(&self, place: CountsPlace, rep: &Report) -> Vec<CountsLine> {
        if place != CountsPlace::AfterBusiness {
            return Vec::new();
        }
        let i = &rep.ids;
        vec![
            CountsLine::new(
                "ids",
                format!(
                    "{} issued, {} duplicate, {} non-monotonic, {} out of global order; {} blocks, {} gaps",
                    i.issued, i.duplicate_ids, i.non_monotonic, i.out_of_global_order, i.blocks, i.gaps
                ),
            ),
            CountsLine::new(
                "guard",
                format!(
                    "{} waited (max {:.1} ms), {} refused, {} sequence waits, {} lease writes",
                    i.waited, i.waited_ms_max, i.refused, i.sequence_waits, i.lease_writes
                ),
            ),
            CountsLine::new(
                "orders",
                format!(
                    "{} accepted, {} recorded, {} real orders dropped as duplicates, {} recorded under a second id; {} lost, {} found by reconciliation",
                    i.accepted,
                    i.recorded,
                    i.dropped_real_orders,
                    i.second_ids,
                    i.lost_orders,
                    i.lost_found_by_reconciliation
                ),
            ),
        ]
    }
}
