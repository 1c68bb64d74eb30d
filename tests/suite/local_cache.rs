//! A feature switch read from local caches on a service pool, or from one distributed
//! cache (protocol `local_cache`): the local caches and the distributed cache alone
//! charge failed-over requests twice, deciding once does not, the counts add up, a
//! TTL leaves nothing wrong at the end, and bad options are refused.

use crate::common::{acidbase, path_str, run, stderr, stdout, TempDir};
use acidbase::report::Report;
use acidbase::scenario::Scenario;

/// Three service nodes, 8 sessions, a hot switch (10 % of requests flip it).
fn world(options: &str, faults: &str) -> Scenario {
    let flips = if options.contains("flip_ratio") {
        ""
    } else {
        "flip_ratio: 0.1, "
    };
    let text = format!(
        r#"(
            protocol: "local_cache",
            duration_ms: 1500,
            drain_ms: 1000,
            clients: (load: Closed(sessions: 8, think_ms: 5), deadline_ms: 400),
            network: (latency: Exponential(floor_ms: 0.5, mean_ms: 3){faults}),
            options: ({flips}{options}),
        )"#
    );
    acidbase::run::parse(&text, "local-cache-test.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario()
}

/// Faults of every kind on every node of the world, healing at the horizon.
const FAULTS: &str = r#", loss_probability: 0.03, duplicate_probability: 0.05,
    reorder_probability: 0.1, reorder_delay_ms: 50, message_faults_until_ms: 1500),
    faults: (random_crashes: [(nodes: ["config", "svc0", "svc1", "svc2", "dcache", "pay_old",
        "pay_new", "gateway", "client"], rate_per_s: 2, mean_downtime_ms: 40)], max_drift_ppm: 2000"#;

fn reports(s: &Scenario, seeds: std::ops::RangeInclusive<u64>) -> Vec<Report> {
    seeds.map(|seed| run(s, seed, None).report).collect()
}

fn sum(rs: &[Report], f: impl Fn(&Report) -> u64) -> u64 {
    rs.iter().map(f).sum()
}

#[test]
fn local_caches_and_the_distributed_cache_alone_charge_failed_over_requests_twice() {
    for p in ["Broadcast", "Ttl", "BroadcastAndTtl", "Distributed"] {
        let rs = reports(&world(&format!("propagation: {p}"), FAULTS), 1..=15);
        let twice = sum(&rs, |r| r.local_cache.processed_twice);
        assert!(twice > 0, "{p}: nothing charged twice in 15 seeds");
        for r in &rs {
            let c = &r.local_cache;
            assert!(!r.truncated, "{p} seed {}", r.seed);
            // Processed twice: damage nobody noticed, in the invariant count.
            assert_eq!(r.violations.invariant, c.processed_twice, "{p}");
            assert!(r.repair.silent >= c.processed_twice, "{p}");
        }
    }
}

#[test]
fn deciding_once_charges_nothing_twice_though_attempts_still_see_the_switch_differently() {
    for p in ["Broadcast", "Distributed"] {
        let rs = reports(
            &world(&format!("propagation: {p}, decide_once: true"), FAULTS),
            1..=30,
        );
        for r in &rs {
            let c = &r.local_cache;
            assert_eq!(
                (c.split_paths, c.processed_twice),
                (0, 0),
                "{p} seed {}",
                r.seed
            );
            assert_eq!(r.violations.invariant, 0, "{p} seed {}", r.seed);
        }
        // Not vacuous: attempts did disagree, and faults did happen.
        assert!(sum(&rs, |r| r.local_cache.split_views) > 0, "{p}");
        assert!(rs.iter().any(|r| r.faults > 0 && r.network.dropped > 0));
    }
}

/// One distributed cache: no copy outlives the store's update by more than its
/// resends; local copies stay wrong until a broadcast reaches them or a TTL expires.
#[test]
fn the_distributed_cache_diverges_far_less_and_a_ttl_leaves_nothing_wrong_at_the_end() {
    let total = |p: &str| {
        let rs = reports(&world(&format!("propagation: {p}"), FAULTS), 1..=15);
        let ms: f64 = rs.iter().map(|r| r.local_cache.divergence_ms_total).sum();
        let at_end = sum(&rs, |r| r.local_cache.divergent_at_end);
        (ms, at_end)
    };
    let (broadcast, broadcast_end) = total("Broadcast");
    let (ttl, ttl_end) = total("Ttl");
    let (both, both_end) = total("BroadcastAndTtl");
    let (distributed, distributed_end) = total("Distributed");
    assert!(
        distributed * 3.0 < broadcast.min(ttl).min(both),
        "distributed {distributed} ms, broadcast {broadcast}, TTL {ttl}, both {both}"
    );
    assert!(broadcast_end > 0, "a lost broadcast stays wrong to the end");
    assert_eq!((ttl_end, both_end, distributed_end), (0, 0, 0));
}

#[test]
fn the_counts_add_up() {
    for options in [
        "propagation: Broadcast",
        "propagation: Ttl",
        "propagation: Distributed",
        "propagation: Distributed, decide_once: true",
    ] {
        for r in reports(&world(options, FAULTS), 1..=8) {
            let c = &r.local_cache;
            assert!(c.requests_decided <= c.decisions, "{options}: {c:?}");
            assert!(c.stale_decisions <= c.decisions, "{options}: {c:?}");
            assert!(c.processed_twice <= c.split_paths, "{options}: {c:?}");
            assert!(c.split_paths <= c.split_views, "{options}: {c:?}");
            if !options.contains("decide_once") {
                // Each view is taken as it is: a split view is a split path.
                assert_eq!(c.split_paths, c.split_views, "{options}: {c:?}");
            }
            // Each path charges a request at most once; each second charge costs
            // at least 1.
            assert!(c.charges <= 2 * c.requests_decided, "{options}: {c:?}");
            assert!(c.double_charged_amount >= c.processed_twice, "{options}");
            assert!(c.divergence_ms.p50 <= c.divergence_ms.max);
            assert!(c.divergence_ms.max <= c.divergence_ms_total + 1e-9);
            assert_eq!(r.txns.begun, 0);
        }
    }
    // No flips: nothing ever diverges.
    let r = run(&world("flip_ratio: 0.0", FAULTS), 2, None).report;
    let c = &r.local_cache;
    assert_eq!((c.flips, c.divergence_windows, c.split_views), (0, 0, 0));
    assert!(c.charges > 0);
}

#[test]
fn the_shipped_scenarios_show_what_their_comments_say() {
    let json = |name: &str| {
        let o = acidbase(&["run", name, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        j["local_cache"].clone()
    };
    let lost = json("scenarios/local-cache-switch-broadcast-lost.ron");
    assert!(lost["processed_twice"].as_u64() > Some(0), "{lost}");
    assert!(lost["divergent_at_end"].as_u64() >= Some(1), "{lost}");
    let ttl = json("scenarios/local-cache-switch-ttl.ron");
    assert_eq!(ttl["divergent_at_end"], 0);
    let distributed = json("scenarios/local-cache-switch-distributed.ron");
    assert!(distributed["processed_twice"].as_u64() > Some(0));
    assert!(
        distributed["divergence_ms"]["max"].as_f64() < lost["divergence_ms"]["max"].as_f64(),
        "{distributed}"
    );
    let once = json("scenarios/local-cache-switch-decide-once.ron");
    assert_eq!(once["processed_twice"], 0);
    assert!(once["split_views"].as_u64() > Some(0));
    let o = acidbase(&["run", "scenarios/local-cache-switch-broadcast-lost.ron"]);
    let text = stdout(&o);
    assert!(text.contains("  switch         "), "{text}");
    assert!(
        text.contains("requests were processed twice, once by each payment path"),
        "{text}"
    );
    assert!(!text.contains("Money is conserved"), "{text}");
}

#[test]
fn bad_options_are_refused() {
    let t = TempDir::new("local-cache-bad-options");
    for (options, says) in [
        ("propagation: Gossip", "Gossip"),
        ("nodes: 1", "nodes must be between 2 and 16"),
        ("ttl_ms: 0", "ttl_ms must be a positive"),
        ("flip_ratio: 2", "flip_ratio must be between 0 and 1"),
        ("attempts: 0", "attempts must be between 1 and 10"),
        (
            "broadcast_spread_ms: -1",
            "broadcast_spread_ms must be 0 or",
        ),
        ("retry_ms: 0", "retry_ms must be a positive"),
    ] {
        let f = t.write(
            "bad.ron",
            &format!("(protocol: \"local_cache\", options: ({options}))"),
        );
        let o = acidbase(&["run", path_str(&f)]);
        assert_eq!(o.status.code(), Some(2), "{options}");
        assert!(stderr(&o).contains(says), "{options}: {}", stderr(&o));
    }
}

/// The book's page shows each scenario's real output: the run as it is now, word
/// for word (so its digest too). A change that alters a run fails here: update the
/// page with the new output, on purpose.
#[test]
fn the_book_shows_each_scenarios_current_output() {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/local-cache.md"),
    )
    .expect("the page");
    for (name, digest) in [
        ("failover", "bc2f65b2d1069ba7"),
        ("broadcast-lost", "ba4441a33279ae0c"),
        ("ttl", "828a5e81c0ae0545"),
        ("distributed", "45a2e985943e284e"),
        ("decide-once", "2a3bd2d0f2750ebd"),
    ] {
        let file = format!("scenarios/local-cache-switch-{name}.ron");
        let o = acidbase(&["run", &file]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(&format!("digest {digest}")), "{file}: {text}");
        let shown = format!("$ acidbase run {file}\n{}", text.trim_end());
        assert!(page.contains(&shown), "{file}: the page shows other output");
    }
}

/// What the failover scenario's comment says of the other variants on its seed: one
/// distributed cache splits nothing there, and deciding once charges nothing twice.
#[test]
fn the_failover_scenario_splits_under_local_copies_only() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/local-cache-switch-failover.ron");
    let text = std::fs::read_to_string(file).expect("shipped");
    let options = "options: (propagation: Broadcast, flip_ratio: 0.03)";
    assert!(text.contains(options));
    let variant = |o: &str| {
        let s = acidbase::run::parse(&text.replace(options, o), "failover.ron")
            .unwrap_or_else(|e| panic!("{e}"))
            .into_scenario();
        run(&s, s.seed, None).report.local_cache
    };
    assert_eq!(variant(options).processed_twice, 2);
    let d = variant("options: (propagation: Distributed, flip_ratio: 0.03)");
    assert_eq!((d.split_views, d.processed_twice), (0, 0), "{d:?}");
    for p in ["Broadcast", "Ttl", "BroadcastAndTtl", "Distributed"] {
        let o = variant(&format!(
            "options: (propagation: {p}, flip_ratio: 0.03, decide_once: true)"
        ));
        assert_eq!(o.processed_twice, 0, "{p}: {o:?}");
    }
}

/// Staggered broadcasts (nodes learn a flip one after another, up to 100 ms apart)
/// lengthen the windows and the decisions on a stale view, with no fault at all.
#[test]
fn staggered_broadcasts_leave_nodes_wrong_for_longer() {
    let measure = |spread: &str| {
        let rs = reports(&world(&format!("broadcast_spread_ms: {spread}"), ""), 1..=5);
        let ms: f64 = rs.iter().map(|r| r.local_cache.divergence_ms_total).sum();
        (ms, sum(&rs, |r| r.local_cache.stale_decisions))
    };
    let (at_once_ms, at_once_stale) = measure("0");
    let (spread_ms, spread_stale) = measure("100");
    assert!(
        spread_ms > 2.0 * at_once_ms && spread_stale > 2 * at_once_stale,
        "at once {at_once_ms} ms, {at_once_stale} stale; spread {spread_ms} ms, {spread_stale} stale"
    );
}
