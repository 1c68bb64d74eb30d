//! Local caches on a service pool as a [`Protocol`]: nodes `config`, `svc0..`,
//! `dcache`, `pay_old`, `pay_new`, `gateway`, `client`; options from the scenario's
//! `options: (...)`.

use super::{Config, DCache, Durable, Gateway, LocalCacheNode, Propagation, Store, Svc};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{ms_to_us, OptionsError, Scenario};
use crate::story::StoryPlace;
use crate::workload::Client;
use serde::{Deserialize, Serialize};

/// A feature switch read from local caches on every node of a pool, or from one
/// distributed cache.
pub struct LocalCache;

/// The most service nodes a pool may have.
pub const NODES_MAX: u32 = 16;

/// The protocol's options, read from the scenario's `options: (...)` (every field
/// optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalCacheOptions {
    /// How a service node learns the switch.
    pub propagation: Propagation,
    /// `Ttl`, `BroadcastAndTtl`: a local copy expires this long after it was read.
    pub ttl_ms: f64,
    /// Broadcasts: each node's update leaves the store after a delay drawn from
    /// `[0, broadcast_spread_ms]` (0: all at once).
    pub broadcast_spread_ms: f64,
    /// Service nodes in the pool.
    pub nodes: u32,
    /// The share of requests that are operator flips of the switch.
    pub flip_ratio: f64,
    /// The gateway fails over to the next node after this long without an answer;
    /// unanswered reads and cache updates are resent this often.
    pub retry_ms: f64,
    /// Attempts per request at the gateway: the first and its failovers.
    pub attempts: u32,
    /// Record each request's first decision at the config store and take it on
    /// every attempt.
    pub decide_once: bool,
}

impl Default for LocalCacheOptions {
    fn default() -> Self {
        LocalCacheOptions {
            propagation: Propagation::default(),
            ttl_ms: 200.0,
            broadcast_spread_ms: 0.0,
            nodes: 3,
            flip_ratio: 0.02,
            retry_ms: 50.0,
            attempts: 3,
            decide_once: false,
        }
    }
}

impl LocalCacheOptions {
    /// What is wrong with these options, if anything.
    fn check(&self) -> Result<(), OptionsError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.ttl_ms) {
            return Err("ttl_ms must be a positive number of ms".into());
        }
        if !(self.broadcast_spread_ms.is_finite() && self.broadcast_spread_ms >= 0.0) {
            return Err("broadcast_spread_ms must be 0 or a positive number of ms".into());
        }
        if !positive(self.retry_ms) {
            return Err("retry_ms must be a positive number of ms".into());
        }
        if !(2..=NODES_MAX).contains(&self.nodes) {
            return Err(format!(
                "nodes must be between 2 and {NODES_MAX} (a failover needs another node)"
            )
            .into());
        }
        if !(0.0..=1.0).contains(&self.flip_ratio) {
            return Err("flip_ratio must be between 0 and 1".into());
        }
        if !(1..=10).contains(&self.attempts) {
            return Err("attempts must be between 1 and 10".into());
        }
        Ok(())
    }

    /// The nodes' configuration, with the client's deadline.
    pub fn config(&self, deadline_ms: f64) -> Config {
        Config {
            propagation: self.propagation,
            ttl_us: ms_to_us(self.ttl_ms).max(1),
            broadcast_spread_us: ms_to_us(self.broadcast_spread_ms),
            nodes: self.nodes,
            flips_per_million: (self.flip_ratio * 1e6).round() as u32,
            retry_us: ms_to_us(self.retry_ms).max(1),
            attempts: self.attempts,
            decide_once: self.decide_once,
            deadline_us: ms_to_us(deadline_ms).max(1),
        }
    }
}

fn svc_name(i: u32) -> String {
    format!("svc{i}")
}

impl Protocol for LocalCache {
    type Node = LocalCacheNode;
    type Options = LocalCacheOptions;

    fn name(&self) -> &'static str {
        "local_cache"
    }

    fn about(&self) -> &'static str {
        "a feature switch in local caches on a service pool (broadcast, TTL) or one distributed cache"
    }

    fn options(&self, s: &Scenario) -> Result<LocalCacheOptions, OptionsError> {
        let o: LocalCacheOptions = match &s.options {
            None => LocalCacheOptions::default(),
            Some(raw) => crate::scenario::parse_options(raw)?,
        };
        o.check()?;
        Ok(o)
    }

    fn node_names(&self, _s: &Scenario, o: &LocalCacheOptions) -> Vec<String> {
        let mut v = vec!["config".to_string()];
        v.extend((0..o.nodes).map(svc_name));
        v.extend(["dcache", "pay_old", "pay_new", "gateway", "client"].map(String::from));
        v
    }

    /// Its state grows with time (request ids in the paths' dedupe sets).
    fn explorable(&self) -> bool {
        false
    }

    fn build(
        &self,
        o: &LocalCacheOptions,
        w: &mut WorldBuilder<'_, LocalCacheNode>,
    ) -> Result<(), BuildError> {
        let cfg = o.config(w.scenario().clients.deadline_ms);
        let config = w.id("config")?;
        let svcs = (0..o.nodes)
            .map(|i| w.id(&svc_name(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let (dcache, old, new, gateway, client) = (
            w.id("dcache")?,
            w.id("pay_old")?,
            w.id("pay_new")?,
            w.id("gateway")?,
            w.id("client")?,
        );
        let store = Store::new(cfg.clone(), svcs.clone(), dcache);
        w.host("config", LocalCacheNode::Config(store), Durable::default())?;
        for i in 0..o.nodes {
            let s = Svc::new(cfg.clone(), config, dcache, gateway, [old, new]);
            w.host(&svc_name(i), LocalCacheNode::Svc(s), Durable::default())?;
        }
        let d = DCache::new(cfg.clone(), config);
        w.host("dcache", LocalCacheNode::DCache(d), Durable::default())?;
        w.host("pay_old", LocalCacheNode::Path(false), Durable::default())?;
        w.host("pay_new", LocalCacheNode::Path(true), Durable::default())?;
        let g = Gateway::new(cfg, config, svcs, client);
        w.host("gateway", LocalCacheNode::Gateway(g), Durable::default())?;
        let c = Client::new(w.client_config(gateway));
        w.host_client("client", LocalCacheNode::Client(c))?;
        Ok(())
    }

    fn story_at(&self, place: StoryPlace, rep: &Report) -> Vec<String> {
        if place != StoryPlace::AfterChecks {
            return Vec::new();
        }
        let c = &rep.local_cache;
        let mut out = vec![format!(
            "The switch flipped {} times; {} attempts of {} charge requests were decided ({} of them on a view that differed from the store's), and the payment paths made {} charges",
            c.flips, c.decisions, c.requests_decided, c.stale_decisions, c.charges
        )];
        if c.divergence_windows > 0 {
            out.push(format!(
                "Some node's view of the switch differed from the store's {} times, for p50 {:.1} ms, p99 {:.1} ms, at most {:.1} ms",
                c.divergence_windows, c.divergence_ms.p50, c.divergence_ms.p99, c.divergence_ms.max
            ));
        }
        if c.split_views > 0 {
            out.push(format!(
                "{} requests were decided on two attempts that saw the switch differently; {} of them went down both paths",
                c.split_views, c.split_paths
            ));
        }
        if c.processed_twice > 0 {
            out.push(format!(
                "{} requests were processed twice, once by each payment path: {} of money charged twice, and nobody noticed",
                c.processed_twice, c.double_charged_amount
            ));
        }
        if c.divergent_at_end > 0 {
            out.push(format!(
                "{} copies of the switch still differ from the store at the end: they stay wrong until the next flip reaches them",
                c.divergent_at_end
            ));
        }
        out
    }

    fn counts_at(&self, place: CountsPlace, rep: &Report) -> Vec<CountsLine> {
        if place != CountsPlace::AfterBusiness {
            return Vec::new();
        }
        let c = &rep.local_cache;
        vec![
            CountsLine::new(
                "switch",
                format!(
                    "{} flips; {} divergence windows p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({:.1} ms in all); {} divergent at end",
                    c.flips,
                    c.divergence_windows,
                    c.divergence_ms.p50,
                    c.divergence_ms.p99,
                    c.divergence_ms.max,
                    c.divergence_ms_total,
                    c.divergent_at_end
                ),
            ),
            CountsLine::new(
                "decisions",
                format!(
                    "{} decisions of {} requests, {} on a stale view; {} split views, {} split paths; {} processed twice ({} charged twice)",
                    c.decisions,
                    c.requests_decided,
                    c.stale_decisions,
                    c.split_views,
                    c.split_paths,
                    c.processed_twice,
                    c.double_charged_amount
                ),
            ),
        ]
    }
}
