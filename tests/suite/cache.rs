//! The cache in front of a database (protocol `cache`): each write order shows its
//! anomaly or its absence, the counts add up, TTL bounds staleness, write-through
//! stays consistent at quiescence under every fault, and bad options are refused;
//! composite entries are filled all or nothing, or partially (then served partial,
//! and the consumer errs), and the single-part runs are the same as before them.

use crate::common::{acidbase, path_str, run, stderr, stdout, TempDir};
use acidbase::report::Report;
use acidbase::scenario::Scenario;

/// A fault-free world of 8 sessions on 8 keys, 80 % reads, exponential latency.
fn world(options: &str, faults: &str) -> Scenario {
    let text = format!(
        r#"(
            protocol: "cache",
            duration_ms: 1000,
            drain_ms: 1000,
            clients: (load: Closed(sessions: 8, think_ms: 5), deadline_ms: 300),
            network: (latency: Exponential(floor_ms: 0.5, mean_ms: 3){faults}),
            options: ({options}),
        )"#
    );
    acidbase::run::parse(&text, "cache-test.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario()
}

/// Faults of every kind on every node of the world, healing at the horizon.
const FAULTS: &str = r#", loss_probability: 0.03, duplicate_probability: 0.05,
    reorder_probability: 0.1, reorder_delay_ms: 50, message_faults_until_ms: 1000),
    faults: (random_crashes: [(nodes: ["app", "cache", "db", "client"], rate_per_s: 3,
        mean_downtime_ms: 40)], max_drift_ppm: 2000"#;

fn reports(s: &Scenario, seeds: std::ops::RangeInclusive<u64>) -> Vec<Report> {
    seeds.map(|seed| run(s, seed, None).report).collect()
}

#[test]
fn cache_aside_leaves_a_stale_entry_without_faults_in_rare_interleavings_and_double_delete_does_not(
) {
    let aside = reports(
        &world("write: DbThenDelete, keys: 8, read_ratio: 0.8", ""),
        1..=40,
    );
    let stale: Vec<u64> = aside
        .iter()
        .filter(|r| r.cache.stale_at_end > 0)
        .map(|r| r.seed)
        .collect();
    // The stale-set race: rare, and never from a fault (there are none).
    assert!(!stale.is_empty() && stale.len() <= 8, "{stale:?}");
    assert!(aside
        .iter()
        .all(|r| r.faults == 0 && r.network.dropped == 0));
    assert!(aside
        .iter()
        .all(|r| r.violations.invariant == r.cache.stale_at_end));
    let double = reports(
        &world("write: DelayedDoubleDelete, keys: 8, read_ratio: 0.8", ""),
        1..=40,
    );
    assert!(double.iter().all(|r| r.cache.stale_at_end == 0));
    // Twice the deletes: more misses, more database reads.
    let load = |rs: &[Report]| rs.iter().map(|r| r.cache.db_reads_per_read).sum::<f64>();
    assert!(load(&double) > load(&aside));
}

#[test]
fn the_naive_orders_leave_stale_entries_without_faults_and_cache_first_reads_dirty() {
    for write in ["CacheThenDb", "DbThenUpdate"] {
        let rs = reports(
            &world(&format!("write: {write}, keys: 8, read_ratio: 0.8"), ""),
            1..=20,
        );
        assert!(rs.iter().any(|r| r.cache.stale_at_end > 0), "{write}");
        let dirty: u64 = rs.iter().map(|r| r.cache.dirty_reads).sum();
        assert_eq!(
            dirty > 0,
            write == "CacheThenDb",
            "{write}: {dirty} dirty reads"
        );
    }
}

#[test]
fn write_through_is_consistent_at_quiescence_under_every_fault_but_not_linearizable() {
    let rs = reports(&world("write: WriteThrough, keys: 4", FAULTS), 1..=60);
    for r in &rs {
        assert_eq!(r.cache.stale_at_end, 0, "seed {}: {}", r.seed, r.to_text());
        assert_eq!(r.cache.dirty_reads, 0, "seed {}", r.seed);
        assert!(!r.truncated);
    }
    assert!(rs.iter().any(|r| r.faults > 0 && r.network.dropped > 0));
    assert!(rs.iter().any(|r| r.cache.stale_reads > 0));
}

/// A TTL bounds how long a value lives after it was set; an episode may span several
/// sets of stale values (a duplicated set, a second stale fill), so it bounds
/// staleness only once the writes stop: nothing is stale at the end.
#[test]
fn a_ttl_leaves_nothing_stale_at_the_end_and_shortens_the_worst_episode() {
    for write in ["CacheThenDb", "DbThenUpdate", "DbThenDelete"] {
        let worst = |options: &str| {
            let rs = reports(&world(options, FAULTS), 1..=20);
            let ends_stale = rs.iter().any(|r| r.cache.stale_at_end > 0);
            let max = rs
                .iter()
                .map(|r| r.cache.staleness_ms.max)
                .fold(0.0, f64::max);
            (ends_stale, max)
        };
        let (ttl_stale, ttl_max) = worst(&format!("write: {write}, ttl_ms: 100"));
        let (stale, max) = worst(&format!("write: {write}"));
        assert!(!ttl_stale, "{write}");
        assert!(
            stale && ttl_max < max,
            "{write}: {ttl_max} ms with TTL, {max} ms without"
        );
    }
}

#[test]
fn the_counts_add_up_and_reads_only_are_never_stale() {
    for r in reports(&world("write: DbThenDelete", FAULTS), 1..=10) {
        let c = &r.cache;
        assert_eq!(c.hits + c.misses, c.reads);
        assert!(
            c.db_reads >= c.misses,
            "every miss read the database: {c:?}"
        );
        assert!((c.hit_ratio - c.hits as f64 / c.reads.max(1) as f64).abs() < 1e-9);
    }
    let r = run(&world("read_ratio: 1.0", ""), 3, None).report;
    assert_eq!((r.cache.db_writes, r.cache.stale_reads), (0, 0));
    assert!(r.cache.hit_ratio > 0.9, "{:?}", r.cache);
    let r = run(&world("read_ratio: 0.0", ""), 3, None).report;
    assert_eq!((r.cache.reads, r.cache.db_reads), (0, 0));
    assert!(r.cache.db_writes > 0);
}

#[test]
fn the_reports_show_the_cache_counts_and_bad_options_are_refused() {
    let o = acidbase(&["run", "scenarios/cache-aside-stale-set-race.ron"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("  cache          "), "{text}");
    assert!(text.contains("1 cache entries still differ"), "{text}");
    let o = acidbase(&[
        "run",
        "scenarios/cache-aside-stale-set-race.ron",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(json["cache"]["stale_at_end"], 1);
    assert!(json["cache"]["staleness_ms"]["max"].as_f64().is_some());
    let t = TempDir::new("cache-bad-options");
    for (options, says) in [
        ("write: Sometimes", "Sometimes"),
        ("ttl_ms: 0", "ttl_ms must be a positive"),
        ("read_ratio: 1.5", "read_ratio must be between 0 and 1"),
        ("keys: 0", "keys must be at least 1"),
    ] {
        let f = t.write(
            "bad.ron",
            &format!("(protocol: \"cache\", options: ({options}))"),
        );
        let o = acidbase(&["run", path_str(&f)]);
        assert_eq!(o.status.code(), Some(2), "{options}");
        assert!(stderr(&o).contains(says), "{options}: {}", stderr(&o));
    }
}

/// A story sentence says only what the run did: a cache world has no balances and
/// begins no transaction, so its story has no money and no transaction sentence
/// (it had "Money is conserved: 0 …" and "… 0 committed, 0 aborted").
#[test]
fn the_story_says_nothing_of_money_or_transactions_the_cache_does_not_have() {
    let o = acidbase(&["run", "scenarios/cache-aside-stale-set-race.ron"]);
    let text = stdout(&o);
    assert!(
        text.contains("23 reads returned a value older than the database had committed"),
        "{text}"
    );
    assert!(!text.contains("Money is conserved"), "{text}");
    assert!(
        !text.contains("Every transaction ended consistently"),
        "{text}"
    );
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let o = acidbase(args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("JSON")
}

fn counts(json: &serde_json::Value, keys: &[&str]) -> Vec<u64> {
    keys.iter()
        .map(|k| {
            json["cache"][*k]
                .as_u64()
                .unwrap_or_else(|| panic!("cache.{k}"))
        })
        .collect()
}

const COMPOSITE: &[&str] = &[
    "partial_cached",
    "partial_served",
    "consumer_errors",
    "reads_failed",
];

/// The two shipped scenarios of case 10: one source down 300 ms. The partial fill
/// caches what it got and serves it, on and on after the source is back; the
/// consumer errs on every partial entry it received. All or nothing serves none,
/// and pays in failed reads.
#[test]
fn a_partial_fill_serves_partial_entries_and_all_or_nothing_fails_reads_instead() {
    let p = json_of(&[
        "run",
        "scenarios/cache-partial-fill.ron",
        "--format",
        "json",
    ]);
    assert_eq!(counts(&p, COMPOSITE), [20, 62, 62, 0]);
    assert!(counts(&p, &["part_retries"])[0] > 0);
    let a = json_of(&[
        "run",
        "scenarios/cache-all-or-nothing.ron",
        "--format",
        "json",
    ]);
    assert_eq!(counts(&a, COMPOSITE), [0, 0, 0, 23]);
    // The failed reads are not reads answered: the rest add up as before.
    let [reads, hits, misses] = counts(&a, &["reads", "hits", "misses"])[..] else {
        unreachable!()
    };
    assert_eq!(hits + misses, reads);
    let o = acidbase(&["run", "scenarios/cache-partial-fill.ron"]);
    let text = stdout(&o);
    assert!(
        text.contains("  composite      20 partial entries cached, 62 served, 62 consumer errors"),
        "{text}"
    );
    assert!(text.contains("the consumer failed on 62 of them"), "{text}");
    let text = stdout(&acidbase(&["run", "scenarios/cache-all-or-nothing.ron"]));
    assert!(
        text.contains("23 reads failed: a part of their entry did not come"),
        "{text}"
    );
}

/// Every fault kind on every node, the sources included, over 40 seeds: all or
/// nothing never caches or serves a partial entry; the partial fill does on some
/// seeds, and the consumer errs only on what it received.
#[test]
fn under_every_fault_all_or_nothing_never_serves_a_partial_entry() {
    let faults = r#", loss_probability: 0.03, duplicate_probability: 0.05,
    reorder_probability: 0.1, reorder_delay_ms: 50, message_faults_until_ms: 1000),
    faults: (random_crashes: [(nodes: ["app", "cache", "db", "client", "source1", "source2"],
        rate_per_s: 3, mean_downtime_ms: 40)], max_drift_ppm: 2000"#;
    let options = "write: DbThenDelete, ttl_ms: 100, sources: 3";
    let all = reports(
        &world(&format!("{options}, fill: AllOrNothing"), faults),
        1..=40,
    );
    for r in &all {
        let c = &r.cache;
        assert_eq!(
            (c.partial_cached, c.partial_served, c.consumer_errors),
            (0, 0, 0),
            "seed {}",
            r.seed
        );
        assert_eq!(c.hits + c.misses, c.reads);
        assert_eq!(
            r.violations.invariant,
            0,
            "seed {}: {}",
            r.seed,
            r.to_text()
        );
    }
    assert!(all.iter().filter(|r| r.cache.reads_failed > 0).count() > 10);
    let partial = reports(&world(&format!("{options}, fill: Partial"), faults), 1..=40);
    assert!(
        partial
            .iter()
            .filter(|r| r.cache.partial_served > 0)
            .count()
            > 10
    );
    for r in &partial {
        let c = &r.cache;
        assert_eq!(c.reads_failed, 0, "seed {}", r.seed);
        assert!(
            c.consumer_errors <= c.partial_served,
            "seed {}: {c:?}",
            r.seed
        );
        assert!(c.partial_served <= c.reads);
    }
    // The swarm judges a partial entry served a failure.
    let r = partial
        .iter()
        .find(|r| r.cache.partial_served > 0)
        .expect("a partial entry served");
    assert!(acidbase::tools::explore::violation_kinds(r).contains(&"partial-entry".to_string()));
}

/// The composite options are refused when wrong, with what to do instead.
#[test]
fn bad_composite_options_are_refused() {
    let t = TempDir::new("cache-bad-composite");
    for (options, says) in [
        ("sources: 0", "sources must be between 1 and 16"),
        (
            "sources: 3, write: DbThenUpdate",
            "DbThenDelete or DelayedDoubleDelete",
        ),
        (
            "sources: 3, part_timeout_ms: -1",
            "part_timeout_ms must be a positive",
        ),
        ("sources: 3, fill: Half", "Half"),
    ] {
        let f = t.write(
            "bad.ron",
            &format!("(protocol: \"cache\", options: ({options}))"),
        );
        let o = acidbase(&["run", path_str(&f)]);
        assert_eq!(o.status.code(), Some(2), "{options}");
        assert!(stderr(&o).contains(says), "{options}: {}", stderr(&o));
    }
}

/// The cache scenarios shipped before composite entries run exactly as they did
/// (their digests from before the change): one part is the old world.
#[test]
fn the_single_part_scenarios_are_unchanged() {
    for (name, digest) in [
        ("cache-aside-stale-set-race", "8e7aa6999b0b95da"),
        ("cache-aside-ttl", "5704914c4b71ad3d"),
        ("cache-aside-writer-crash", "507aded3a954b3a1"),
        ("cache-db-then-update-race", "cbb4cd33b0c6a6ec"),
        ("cache-delayed-double-delete", "0228fb5f1ca99afa"),
        ("cache-then-db-writer-crash", "4117cf728dac1db2"),
        ("cache-write-through", "93f6411611a8fd16"),
    ] {
        let file = format!("scenarios/{name}.ron");
        let json = json_of(&["run", &file, "--format", "json"]);
        assert_eq!(json["digest"], digest, "{name}");
        assert_eq!(counts(&json, COMPOSITE), [0, 0, 0, 0], "{name}");
        let text = stdout(&acidbase(&["run", &file]));
        assert!(!text.contains("composite"), "{name}: {text}");
    }
}
