//! Building a protocol's world from a scenario, node by node and by name.
//!
//! The node names come first ([`super::Protocol::node_names`]: faults, checks and
//! traces name nodes), so a builder can look up any node's id before it builds the
//! node that needs it ("the TM talks to rm1..rmN"); then it hosts every named node
//! once, as turmoil's `sim.host("tm", ...)` does. [`WorldBuilder::finish`] refuses a
//! world with a named node left unbuilt, or built twice.
//!
//! The scenario-to-configuration helpers every protocol shares live here too: the
//! client a workload drives ([`WorldBuilder::client_config`]) and the balances each
//! shard starts with ([`shard_ledger`]), so every protocol runs every workload.

use crate::checkers::business::BusinessConfig;
use crate::node::{Node, NodeId, NodeSet};
use crate::scenario::{ms_to_us, KeysSpec, LoadSpec, Scenario, WorkloadSpec};
use crate::store::Ledger;
use crate::workload::flash_sale::PAYMENT;
use crate::workload::order_inventory::{INVENTORY, ORDERS};
use crate::workload::{
    ClientConfig, FlashSaleGen, Generator, KeyChoice, Load, OrderGen, TransferGen,
};
use std::fmt;

/// A world that could not be built: a protocol's builder asked for a node its
/// [`super::Protocol::node_names`] does not list, or left one unbuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    pub protocol: String,
    pub message: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protocol {:?} built a bad world: {}",
            self.protocol, self.message
        )
    }
}

impl std::error::Error for BuildError {}

/// A built world: names, nodes and their durable stores (in node order), and which
/// nodes are clients (the checkers measure availability and latency at them).
pub struct BuiltWorld<N: Node> {
    pub names: Vec<String>,
    pub nodes: Vec<N>,
    pub durables: Vec<N::Durable>,
    pub clients: NodeSet,
}

/// Hosts the nodes of one world by name.
pub struct WorldBuilder<'s, N: Node> {
    protocol: String,
    scenario: &'s Scenario,
    names: Vec<String>,
    slots: Vec<Option<(N, N::Durable)>>,
    clients: NodeSet,
}

impl<'s, N: Node> WorldBuilder<'s, N> {
    /// A builder for the nodes `names` (in node order) of `scenario`'s world.
    pub fn new(protocol: &str, scenario: &'s Scenario, names: Vec<String>) -> Self {
        let slots = names.iter().map(|_| None).collect();
        WorldBuilder {
            protocol: protocol.to_string(),
            scenario,
            names,
            slots,
            clients: NodeSet::new(),
        }
    }

    fn error(&self, message: String) -> BuildError {
        BuildError {
            protocol: self.protocol.clone(),
            message,
        }
    }

    /// The scenario being built.
    pub fn scenario(&self) -> &'s Scenario {
        self.scenario
    }

    /// The node names, in node order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the world has a node called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The id of the node called `name`.
    pub fn id(&self, name: &str) -> Result<NodeId, BuildError> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| NodeId(i as u32))
            .ok_or_else(|| {
                self.error(format!(
                    "no node named {name:?}; node_names() lists {}",
                    self.names.join(", ")
                ))
            })
    }

    /// The ids of `rm1..rmN` for the scenario's `rms` shards.
    pub fn rms(&self) -> Result<Vec<NodeId>, BuildError> {
        (1..=self.scenario.rms)
            .map(|i| self.id(&format!("rm{i}")))
            .collect()
    }

    /// Hosts `node` (with its durable store at time 0) under `name`.
    pub fn host(&mut self, name: &str, node: N, durable: N::Durable) -> Result<NodeId, BuildError> {
        let id = self.id(name)?;
        if self.slots[id.index()].is_some() {
            return Err(self.error(format!("node {name:?} was built twice")));
        }
        self.slots[id.index()] = Some((node, durable));
        Ok(id)
    }

    /// Hosts a client node: the checkers measure requests and answers at it.
    pub fn host_client(&mut self, name: &str, node: N) -> Result<NodeId, BuildError> {
        let id = self.host(name, node, N::Durable::default())?;
        self.clients.insert(id);
        Ok(id)
    }

    /// The configuration of the workload's client, sending its requests to
    /// `coordinator`.
    pub fn client_config(&self, coordinator: NodeId) -> ClientConfig {
        client_config(self.scenario, coordinator)
    }

    /// The balances shard `shard` (0-based: `rm1` is shard 0) starts with.
    pub fn shard_ledger(&self, shard: u32) -> Ledger {
        shard_ledger(self.scenario, shard)
    }

    /// The world, once every named node is hosted.
    pub fn finish(self) -> Result<BuiltWorld<N>, BuildError> {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            return Err(self.error(format!(
                "node {:?} is named but was not built",
                self.names[i]
            )));
        }
        let (nodes, durables) = self.slots.into_iter().flatten().unzip();
        Ok(BuiltWorld {
            names: self.names,
            nodes,
            durables,
            clients: self.clients,
        })
    }
}

/// The nodes most protocols have: a coordinator `tm`, `rm1..rmN`, the `client`.
pub fn standard_node_names(s: &Scenario) -> Vec<String> {
    let mut names = vec!["tm".to_string()];
    names.extend((1..=s.rms).map(|i| format!("rm{i}")));
    names.push("client".into());
    names
}

/// The workload's client, sending to `coordinator`.
pub fn client_config(scenario: &Scenario, coordinator: NodeId) -> ClientConfig {
    let c = &scenario.clients;
    ClientConfig {
        coordinator,
        load: match c.load {
            LoadSpec::Closed { sessions, think_ms } => Load::Closed {
                sessions,
                think_us: ms_to_us(think_ms),
            },
            LoadSpec::Open { rate_per_s } => Load::Open {
                mean_gap_us: (1e6 / rate_per_s).round().max(1.0) as u64,
            },
        },
        deadline_us: ms_to_us(c.deadline_ms),
        stop_at_us: ms_to_us(scenario.duration_ms),
        max_requests: c.max_requests,
        generator: generator(scenario),
        spread: Vec::new(),
    }
}

/// The client's request generator for the scenario's workload.
fn generator(scenario: &Scenario) -> Generator {
    match &scenario.workload {
        WorkloadSpec::Transfer(t) => Generator::Transfer(TransferGen {
            shards: scenario.rms,
            accounts_per_shard: t.accounts_per_shard,
            amount_min: t.amount_min,
            amount_max: t.amount_max,
            fan_out: t.fan_out,
            keys: match t.keys {
                KeysSpec::Random => KeyChoice::Random,
                KeysSpec::PerSession => KeyChoice::PerSession,
            },
        }),
        WorkloadSpec::OrderInventory(o) => Generator::OrderInventory(OrderGen {
            skus: o.skus,
            qty_min: o.qty_min,
            qty_max: o.qty_max,
        }),
        WorkloadSpec::FlashSale(f) => Generator::FlashSale(flash_sale_gen(f)),
    }
}

fn flash_sale_gen(f: &crate::scenario::FlashSaleSpec) -> FlashSaleGen {
    FlashSaleGen {
        skus: f.skus,
        buyers: f.buyers,
        price: f.price,
        decline_probability: f.decline_probability,
    }
}

/// The balances shard `shard` (0-based: `rm1` is shard 0) starts with.
pub fn shard_ledger(scenario: &Scenario, shard: u32) -> Ledger {
    match &scenario.workload {
        WorkloadSpec::Transfer(t) => Ledger::new(t.accounts_per_shard, t.initial_balance),
        WorkloadSpec::OrderInventory(o) => stock_ledger(shard, o.skus, o.stock_per_sku),
        WorkloadSpec::FlashSale(f) if shard == PAYMENT => {
            let g = flash_sale_gen(f);
            let mut wallets = vec![f.wallet; f.buyers as usize];
            wallets.push(0); // the declined card
            wallets.push(0); // the merchant
            debug_assert_eq!(wallets.len() as u32, g.wallets());
            Ledger::from_balances(wallets)
        }
        WorkloadSpec::FlashSale(f) => stock_ledger(shard, f.skus, f.stock_per_sku),
    }
}

fn stock_ledger(shard: u32, skus: u32, stock_per_sku: i64) -> Ledger {
    match shard {
        INVENTORY => Ledger::new(skus, stock_per_sku),
        ORDERS => Ledger::new(skus, 0),
        _ => Ledger::new(skus, 0),
    }
}

/// Which nodes the business checker reads, for the workloads that have one (`None`
/// also when the world has no such shard nodes).
pub fn business_config(scenario: &Scenario, names: &[String]) -> Option<BusinessConfig> {
    let (skus, stock, paid) = match &scenario.workload {
        WorkloadSpec::Transfer(_) => return None,
        WorkloadSpec::OrderInventory(o) => (o.skus, o.stock_per_sku, false),
        WorkloadSpec::FlashSale(f) => (f.skus, f.stock_per_sku, true),
    };
    let node = |shard: u32| -> Option<NodeId> {
        let name = format!("rm{}", shard + 1);
        names
            .iter()
            .position(|n| *n == name)
            .map(|i| NodeId(i as u32))
    };
    Some(BusinessConfig {
        orders: node(ORDERS)?,
        inventory: node(INVENTORY)?,
        skus,
        stock_per_sku: stock,
        payment: if paid { Some(node(PAYMENT)?) } else { None },
    })
}
