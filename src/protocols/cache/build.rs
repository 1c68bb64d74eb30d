//! The cache and its database as a [`Protocol`]: nodes `db`, `cache`, `app`,
//! `client`, and `source1..` for the parts of composite entries (`sources > 1`);
//! options from the scenario's `options: (...)`.

use super::{App, CacheNode, CacheServer, Config, Durable, Fill, WriteOrder};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::{CountsLine, CountsPlace, Report};
use crate::scenario::{ms_to_us, OptionsError, Scenario};
use crate::story::StoryPlace;
use crate::workload::Client;
use serde::{Deserialize, Serialize};

/// A cache in front of a database, with the classic write orders.
pub struct Cache;

/// The protocol's options, read from the scenario's `options: (...)` (every field
/// optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheOptions {
    /// The order in which a writer updates the database and the cache.
    pub write: WriteOrder,
    /// An entry expires this long after it was set; absent: never.
    pub ttl_ms: Option<f64>,
    /// Delayed double delete: the second delete, this long after the write.
    pub second_delete_ms: f64,
    /// The keys the requests are spread over (fewer: more contention).
    pub keys: u32,
    /// The share of requests that are reads.
    pub read_ratio: f64,
    /// Write-through: how often the cache resends an unacknowledged database write.
    pub retry_ms: f64,
    /// The parts of an entry: 1, the database's row (the default), or more: a
    /// composite entry, part `i > 0` from node `source{i}`.
    pub sources: u32,
    /// Composite entries: what to do when a part does not come (`AllOrNothing`:
    /// cache nothing, the read fails; `Partial`: cache and serve what came).
    pub fill: Fill,
    /// Composite entries: how long a miss waits for the parts.
    pub part_timeout_ms: f64,
    /// Composite entries: how many times a miss asks missing parts again.
    pub part_retries: u32,
}

/// The most parts a composite entry has (a bit set of them fits a `u32`).
pub const MAX_SOURCES: u32 = 16;

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            write: WriteOrder::default(),
            ttl_ms: None,
            second_delete_ms: 50.0,
            keys: 4,
            read_ratio: 0.9,
            retry_ms: 20.0,
            sources: 1,
            fill: Fill::default(),
            part_timeout_ms: 30.0,
            part_retries: 1,
        }
    }
}

impl CacheOptions {
    /// What is wrong with these options, if anything.
    fn check(&self) -> Result<(), OptionsError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.ttl_ms.is_some_and(|t| !positive(t)) {
            return Err("ttl_ms must be a positive number of ms (leave it out for no TTL)".into());
        }
        if !positive(self.second_delete_ms) {
            return Err("second_delete_ms must be a positive number of ms".into());
        }
        if !positive(self.retry_ms) {
            return Err("retry_ms must be a positive number of ms".into());
        }
        if self.keys == 0 {
            return Err("keys must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return Err("read_ratio must be between 0 and 1".into());
        }
        if !(1..=MAX_SOURCES).contains(&self.sources) {
            return Err(format!(
                "sources must be between 1 and {MAX_SOURCES} (the parts of an entry: 1 is the database's row alone)"
            )
            .into());
        }
        if !positive(self.part_timeout_ms) {
            return Err("part_timeout_ms must be a positive number of ms".into());
        }
        let invalidates = matches!(
            self.write,
            WriteOrder::DbThenDelete | WriteOrder::DelayedDoubleDelete
        );
        if self.sources > 1 && !invalidates {
            return Err(format!(
                "sources: {} (composite entries) takes a write order that invalidates the entry: DbThenDelete or DelayedDoubleDelete, not {:?}",
                self.sources, self.write
            )
            .into());
        }
        Ok(())
    }

    /// The nodes' configuration, with the client's deadline.
    pub fn config(&self, deadline_ms: f64) -> Config {
        Config {
            write: self.write,
            ttl_us: self.ttl_ms.map(|t| ms_to_us(t).max(1)),
            second_delete_us: ms_to_us(self.second_delete_ms).max(1),
            keys: self.keys,
            reads_per_million: (self.read_ratio * 1e6).round() as u32,
            retry_us: ms_to_us(self.retry_ms).max(1),
            deadline_us: ms_to_us(deadline_ms).max(1),
            sources: self.sources,
            fill: self.fill,
            part_timeout_us: ms_to_us(self.part_timeout_ms).max(1),
            part_retries: self.part_retries,
        }
    }
}

impl Protocol for Cache {
    type Node = CacheNode;
    type Options = CacheOptions;

    fn name(&self) -> &'static str {
        "cache"
    }

    fn about(&self) -> &'static str {
        "a cache in front of a database: cache-aside, double delete, write-through, TTL"
    }

    fn options(&self, s: &Scenario) -> Result<CacheOptions, OptionsError> {
        let o: CacheOptions = match &s.options {
            None => CacheOptions::default(),
            Some(raw) => crate::scenario::parse_options(raw)?,
        };
        o.check()?;
        Ok(o)
    }

    fn node_names(&self, _s: &Scenario, o: &CacheOptions) -> Vec<String> {
        let mut names = ["db", "cache", "app", "client"].map(String::from).to_vec();
        names.extend((1..o.sources).map(|i| format!("source{i}")));
        names
    }

    /// Its state grows with time (request ids as values, TTL timers).
    fn explorable(&self) -> bool {
        false
    }

    fn build(
        &self,
        o: &CacheOptions,
        w: &mut WorldBuilder<'_, CacheNode>,
    ) -> Result<(), BuildError> {
        let cfg = o.config(w.scenario().clients.deadline_ms);
        let (db, cache, app, client) = (w.id("db")?, w.id("cache")?, w.id("app")?, w.id("client")?);
        w.host("db", CacheNode::Db, Durable::default())?;
        let server = CacheServer::new(cfg.clone(), db);
        w.host("cache", CacheNode::Cache(server), Durable::default())?;
        let sources = (1..o.sources)
            .map(|i| w.id(&format!("source{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let a = App::new(cfg, cache, db, client, sources);
        w.host("app", CacheNode::App(a), Durable::default())?;
        let c = Client::new(w.client_config(app));
        w.host_client("client", CacheNode::Client(c))?;
        for i in 1..o.sources {
            w.host(&format!("source{i}"), CacheNode::Source, Durable::default())?;
        }
        Ok(())
    }

    fn story_at(&self, place: StoryPlace, rep: &Report) -> Vec<String> {
        if place != StoryPlace::AfterChecks {
            return Vec::new();
        }
        let c = &rep.cache;
        let mut out = vec![format!(
            "The cache answered {} of {} reads ({:.1}% hits); the database served {} reads ({:.2} per read) and committed {} writes",
            c.hits,
            c.reads,
            c.hit_ratio * 100.0,
            c.db_reads,
            c.db_reads_per_read,
            c.db_writes
        )];
        if c.stale_reads + c.dirty_reads > 0 {
            out.push(format!(
                "{} reads returned a value older than the database had committed when they began (stale), {} a value it had not committed (dirty)",
                c.stale_reads, c.dirty_reads
            ));
        }
        if c.stale_episodes > 0 {
            out.push(format!(
                "Cache entries differed from the database {} times, for p50 {:.1} ms, p99 {:.1} ms, at most {:.1} ms",
                c.stale_episodes, c.staleness_ms.p50, c.staleness_ms.p99, c.staleness_ms.max
            ));
        }
        if c.partial_cached + c.partial_served > 0 {
            out.push(format!(
                "The cache took {} partial entries (a part did not come in time) and served {} reads a partial entry; the consumer failed on {} of them",
                c.partial_cached, c.partial_served, c.consumer_errors
            ));
        }
        if c.reads_failed > 0 {
            out.push(format!(
                "{} reads failed: a part of their entry did not come, and the app cached and served nothing of it",
                c.reads_failed
            ));
        }
        if c.stale_at_end > 0 {
            out.push(format!(
                "{} cache entries still differ from the database at the end: stale for good until the next write of their key{}",
                c.stale_at_end,
                " (or a TTL expires them)"
            ));
        }
        out
    }

    fn counts_at(&self, place: CountsPlace, rep: &Report) -> Vec<CountsLine> {
        if place != CountsPlace::AfterBusiness {
            return Vec::new();
        }
        let c = &rep.cache;
        let composite = c.partial_cached
            + c.partial_served
            + c.consumer_errors
            + c.part_retries
            + c.reads_failed
            > 0;
        let mut lines = vec![
            CountsLine::new(
                "cache",
                format!(
                    "{} reads, hit ratio {:.3}, {} database reads ({:.3} per read), {} writes",
                    c.reads, c.hit_ratio, c.db_reads, c.db_reads_per_read, c.db_writes
                ),
            ),
            CountsLine::new(
                "staleness",
                format!(
                    "{} stale reads, {} dirty reads; {} stale episodes p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} stale at end",
                    c.stale_reads,
                    c.dirty_reads,
                    c.stale_episodes,
                    c.staleness_ms.p50,
                    c.staleness_ms.p99,
                    c.staleness_ms.max,
                    c.stale_at_end
                ),
            ),
        ];
        if composite {
            lines.push(CountsLine::new(
                "composite",
                format!(
                    "{} partial entries cached, {} served, {} consumer errors; {} part retries, {} reads failed",
                    c.partial_cached,
                    c.partial_served,
                    c.consumer_errors,
                    c.part_retries,
                    c.reads_failed
                ),
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use crate::report::Report;

    fn run(options: &str, faults: &str, seed: u64) -> Report {
        let text = format!(
            r#"(protocol: "cache", duration_ms: 1000, drain_ms: 500,
                clients: (load: Closed(sessions: 8, think_ms: 5), deadline_ms: 300),
                network: (latency: Exponential(floor_ms: 0.5, mean_ms: 3)),
                faults: ({faults}), options: ({options}))"#
        );
        crate::run::parse(&text, "unit.ron")
            .unwrap_or_else(|e| panic!("{e}"))
            .run(seed, None)
            .report
    }

    fn refused(options: &str) -> String {
        let text = format!(r#"(protocol: "cache", options: ({options}))"#);
        match crate::run::parse(&text, "unit.ron") {
            Ok(_) => panic!("{options} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn composite_options_are_checked() {
        assert!(refused("sources: 0").contains("sources must be between 1 and 16"));
        assert!(refused("sources: 17").contains("sources must be between 1 and 16"));
        assert!(refused("sources: 2, part_timeout_ms: 0").contains("part_timeout_ms"));
        let e = refused("sources: 2, write: WriteThrough");
        assert!(e.contains("DbThenDelete or DelayedDoubleDelete"), "{e}");
        assert!(refused("fill: Half").contains("Half"));
    }

    /// With every part answering, a composite entry is filled whole: no partial entry,
    /// no failed read, whichever `fill`.
    #[test]
    fn without_faults_every_composite_entry_is_complete() {
        for fill in ["Partial", "AllOrNothing"] {
            let r = run(&format!("sources: 4, fill: {fill}"), "", 2);
            let c = &r.cache;
            assert!(c.reads > 100 && c.hits > 0, "{c:?}");
            assert_eq!(
                (c.partial_cached, c.partial_served, c.reads_failed),
                (0, 0, 0),
                "{fill}"
            );
        }
    }

    /// A source down for longer than the part timeout and its retry: `Partial`
    /// caches and serves partial entries, `AllOrNothing` fails reads instead.
    #[test]
    fn a_source_down_makes_partial_entries_or_failed_reads() {
        let down = r#"crashes: [(node: "source1", at_ms: 200, restart_ms: 500)]"#;
        let p = run("sources: 2, fill: Partial", down, 3).cache;
        assert!(
            p.partial_cached > 0 && p.partial_served >= p.partial_cached,
            "{p:?}"
        );
        assert!(p.consumer_errors > 0 && p.consumer_errors <= p.partial_served);
        assert!(p.part_retries > 0);
        assert_eq!(p.reads_failed, 0);
        let a = run("sources: 2, fill: AllOrNothing", down, 3).cache;
        assert_eq!(
            (a.partial_cached, a.partial_served, a.consumer_errors),
            (0, 0, 0)
        );
        assert!(
            a.reads_failed > 0 && a.part_retries >= a.reads_failed,
            "{a:?}"
        );
    }
}
