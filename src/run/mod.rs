//! Builds a world from a validated scenario, runs it, and reports.
//!
//! The engine below knows neither scenarios nor protocols; each protocol builds its
//! own world ([`crate::protocols::Protocol::build`]) and the [`Registry`] finds the
//! protocol a scenario names.

use crate::checkers::{CheckConfig, Checks, Results};
use crate::engine::{RunEnd, Sim, TraceSink, WorldSpec};
use crate::faults::{
    self, ClockStep, CrashWindow, FaultPlan, PartitionWindow, RandomCrashes, RandomPartitions,
};
use crate::network::{Cut, Latency, NetworkConfig};
use crate::node::{Node, NodeId, NodeSet};
use crate::property::{Property, View, Watch};
use crate::protocols::world::{business_config, BuiltWorld};
use crate::report::Report;
use crate::rng;
use crate::scenario::{CrashSpec, LatencySpec, LoadSpec, OneWaySpec, PartitionSpec, Scenario};
use crate::story::{self, ProtocolPart};

mod build_report;
pub mod fates;
mod registry;
mod validated;

pub use crate::scenario::ms_to_us;
pub use registry::{build_world, default_scenario, load, parse, AnyProtocol, Registry, RunError};
pub use validated::Validated;

/// Where the trace goes (`--trace FILE`).
pub type TraceOut = Box<dyn std::io::Write>;

/// How to run, beyond what the scenario says: what a tool wants recorded.
#[derive(Default)]
pub struct RunOptions {
    /// Write every event as JSON lines here (`--trace`).
    pub trace: Option<TraceOut>,
    /// Record each message's drawn fault ([`Outcome::message_fates`]), for tools that
    /// export a run's schedule (`run --export-schedule`, `shrink`).
    pub record_fates: bool,
}

impl RunOptions {
    /// Only a trace (or none).
    pub fn traced(trace: Option<TraceOut>) -> Self {
        RunOptions {
            trace,
            record_fates: false,
        }
    }
}

/// Everything a finished run produced.
pub struct Outcome {
    pub end: RunEnd,
    pub results: Results,
    pub names: Vec<String>,
    pub report: Report,
    /// Each message's drawn fault, when [`RunOptions::record_fates`] asked for them (see
    /// [`crate::tools::schedule::export`]).
    pub message_fates: Vec<crate::network::RecordedFate>,
}

/// A rough size of a run before it starts: requests and events. Lets the command
/// line warn about a scenario that will run long (or hit `max_events`) instead of
/// leaving the user to wonder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizeEstimate {
    pub requests: f64,
    pub events: f64,
}

/// Events per request, roughly: messages, deliveries and timers of a transaction
/// over a few participants (measured: 10–25 in the shipped scenarios).
const EVENTS_PER_REQUEST: f64 = 20.0;

/// The size `scenario` implies (an order of magnitude, not a promise).
pub fn size_estimate(scenario: &Scenario) -> SizeEstimate {
    let mean_latency_ms = match scenario.network.latency {
        LatencySpec::Constant { ms } => ms,
        LatencySpec::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
        LatencySpec::Exponential { floor_ms, mean_ms } => floor_ms + mean_ms,
    };
    let seconds = scenario.duration_ms / 1000.0;
    let mut requests = match scenario.clients.load {
        LoadSpec::Open { rate_per_s } => rate_per_s * seconds,
        LoadSpec::Closed { sessions, think_ms } => {
            // A request takes a few round trips, then the session thinks.
            let cycle_ms = (4.0 * mean_latency_ms + think_ms).max(0.01);
            f64::from(sessions) * scenario.duration_ms / cycle_ms
        }
    };
    if let Some(max) = scenario.clients.max_requests {
        requests = requests.min(max as f64);
    }
    SizeEstimate {
        requests,
        events: requests * EVENTS_PER_REQUEST,
    }
}

/// A warning for a scenario whose size implies a long run, or one that `max_events`
/// will likely cut short.
pub fn size_warning(scenario: &Scenario) -> Option<String> {
    let e = size_estimate(scenario);
    let max = scenario.max_events as f64;
    if e.events > max {
        Some(format!(
            "this scenario implies about {:.0} requests (~{:.1e} events), more than max_events = {}: the run will likely be cut short (truncated); raise max_events or shorten the run",
            e.requests, e.events, scenario.max_events
        ))
    } else if e.events > 2e7 {
        Some(format!(
            "this scenario implies about {:.0} requests (~{:.1e} events): expect a long run (tens of seconds or more)",
            e.requests, e.events
        ))
    } else {
        None
    }
}

/// The time at which a run ends: the horizon plus the drain. (Validation keeps every
/// scripted fault within the horizon and random ones heal by it; the `max` keeps the
/// rule right for plans built by other means.)
pub fn end_time_us(scenario: &Scenario, plan: &FaultPlan) -> u64 {
    let horizon = ms_to_us(scenario.duration_ms);
    let last = plan.last_heal_us().unwrap_or(horizon).max(horizon);
    last.saturating_add(ms_to_us(scenario.drain_ms))
}

pub(crate) fn resolve(names: &[String], name: &str) -> NodeId {
    let i = names.iter().position(|n| n == name).unwrap_or_else(|| {
        panic!(
            "no node named {name:?}; this world's nodes are: {}",
            names.join(", ")
        )
    });
    NodeId(i as u32)
}

fn resolve_set(names: &[String], list: &[String]) -> NodeSet {
    list.iter().map(|n| resolve(names, n)).collect()
}

/// Compiles faults scripted by node name into the plan the engine runs. This is the
/// one compile step for every fault schedule: a scenario's `faults` (through
/// [`fault_plan`]) and the testing harness's `Schedule` alike. Windows keep list order
/// (crashes; partitions, then one-way cuts), which the trace digest sees through cut
/// numbers and equal-time order. A partition of one group cuts it off from every other
/// node. A window that ends before it starts is empty (scenario validation refuses
/// one; a hand-written harness schedule may hold one).
///
/// # Panics
/// On a name not in `names`: scenarios are validated first; a harness schedule that
/// names a node its world lacks is the test's own mistake.
pub fn scripted_plan(
    names: &[String],
    crashes: &[CrashSpec],
    partitions: &[PartitionSpec],
    one_way: &[OneWaySpec],
) -> FaultPlan {
    let mut plan = FaultPlan::default();
    for c in crashes {
        let at_us = ms_to_us(c.at_ms);
        plan.crashes.push(CrashWindow {
            node: resolve(names, &c.node),
            at_us,
            restart_us: c.restart_ms.map(|r| ms_to_us(r).max(at_us)),
        });
    }
    for p in partitions {
        let mut groups: Vec<NodeSet> = p.groups.iter().map(|g| resolve_set(names, g)).collect();
        if let [alone] = groups[..] {
            groups.push(
                (0..names.len() as u32)
                    .map(NodeId)
                    .filter(|n| !alone.contains(*n))
                    .collect(),
            );
        }
        let mut cuts = Vec::new();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    cuts.push(Cut { from: *a, to: *b });
                }
            }
        }
        plan.partitions.push(window(cuts, p.from_ms, p.to_ms));
    }
    for w in one_way {
        let cut = Cut {
            from: resolve_set(names, &w.from),
            to: resolve_set(names, &w.to),
        };
        plan.partitions.push(window(vec![cut], w.from_ms, w.to_ms));
    }
    plan
}

fn window(cuts: Vec<Cut>, from_ms: f64, to_ms: f64) -> PartitionWindow {
    let from_us = ms_to_us(from_ms);
    PartitionWindow {
        cuts,
        from_us,
        to_us: ms_to_us(to_ms).max(from_us),
    }
}

/// The concrete fault plan for this scenario and seed (protocol-independent: random
/// faults are drawn by node name): its scripted faults ([`scripted_plan`]), then the
/// random ones.
pub fn fault_plan(scenario: &Scenario, seed: u64, names: &[String]) -> FaultPlan {
    let f = &scenario.faults;
    let mut plan = scripted_plan(names, &f.crashes, &f.partitions, &f.one_way);
    for c in &f.clock_steps {
        plan.clock_steps.push(ClockStep {
            node: resolve(names, &c.node),
            at_us: ms_to_us(c.at_ms),
            step_us: (c.step_ms * 1000.0).round() as i64,
        });
    }
    let mut random = Vec::new();
    for (entry, r) in f.random_crashes.iter().enumerate() {
        let mut targets: Vec<&String> = Vec::new();
        for n in &r.nodes {
            match n.as_str() {
                "all" => targets.extend(names.iter()),
                "rms" => targets.extend(names.iter().filter(|m| is_rm_name(m))),
                _ => targets.push(n),
            }
        }
        targets.sort();
        targets.dedup();
        for name in targets {
            random.push(RandomCrashes {
                node: resolve(names, name),
                name: name.clone(),
                entry,
                rate_per_s: r.rate_per_s,
                mean_downtime_us: r.mean_downtime_ms * 1000.0,
            });
        }
    }
    let partitions = f.random_partitions.as_ref().map(|r| {
        let chosen: Vec<&String> = if r.nodes.is_empty() {
            names.iter().collect()
        } else {
            r.nodes.iter().collect()
        };
        RandomPartitions {
            nodes: chosen
                .into_iter()
                .map(|n| (resolve(names, n), n.clone()))
                .collect(),
            rate_per_s: r.rate_per_s,
            mean_duration_us: r.mean_duration_ms * 1000.0,
        }
    });
    plan.draw_random(
        seed,
        &random,
        partitions.as_ref(),
        ms_to_us(scenario.duration_ms),
    );
    plan
}

fn is_rm_name(n: &str) -> bool {
    n.strip_prefix("rm")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

fn network_config(scenario: &Scenario, names: &[String]) -> NetworkConfig {
    let n = &scenario.network;
    let latency = match n.latency {
        LatencySpec::Constant { ms } => Latency::Constant { us: ms_to_us(ms) },
        LatencySpec::Uniform { min_ms, max_ms } => Latency::Uniform {
            min_us: ms_to_us(min_ms),
            max_us: ms_to_us(max_ms),
        },
        LatencySpec::Exponential { floor_ms, mean_ms } => Latency::Exponential {
            floor_us: ms_to_us(floor_ms),
            mean_extra_us: mean_ms * 1000.0,
        },
    };
    let mut site_of: Vec<u32> = (0..names.len() as u32).collect();
    if scenario.clients.colocated_with_tm {
        let tm = resolve(names, "tm");
        let client = resolve(names, "client");
        site_of[client.index()] = site_of[tm.index()];
    }
    NetworkConfig {
        latency,
        loss_probability: n.loss_probability,
        duplicate_probability: n.duplicate_probability,
        reorder_probability: n.reorder_probability,
        reorder_delay_max_us: ms_to_us(n.reorder_delay_ms),
        message_faults_until_us: n.message_faults_until_ms.map(ms_to_us),
        site_of,
    }
}

fn drift(scenario: &Scenario, seed: u64, names: &[String]) -> Vec<i32> {
    names
        .iter()
        .map(|name| {
            scenario
                .faults
                .drift
                .iter()
                .find(|d| &d.node == name)
                .map(|d| d.ppm)
                .unwrap_or_else(|| {
                    faults::draw_drift_ppm(seed, name, scenario.faults.max_drift_ppm)
                })
        })
        .collect()
}

/// Runs a built world: the part every protocol shares. `properties` are checked
/// after every event and reported in [`Report::properties`]; `protocol` tells its
/// part of the story.
pub(crate) fn run_built<N: Node + 'static>(
    scenario: &Scenario,
    seed: u64,
    world: BuiltWorld<N>,
    properties: Vec<Property<N>>,
    opts: RunOptions,
    protocol: &dyn ProtocolPart,
) -> Outcome {
    let BuiltWorld {
        names,
        nodes,
        durables,
        clients,
    } = world;
    let plan = fault_plan(scenario, seed, &names);
    let end_us = end_time_us(scenario, &plan);
    let spec = WorldSpec {
        node_rngs: names
            .iter()
            .map(|n| rng::stream(seed, &format!("node/{n}")))
            .collect(),
        drift_ppm: drift(scenario, seed, &names),
        network: network_config(scenario, &names),
        network_rng: rng::stream(seed, "network"),
        faults: plan.clone(),
        nodes,
        durables,
    };
    let checks = Checks::new(CheckConfig {
        blocked_after_us: ms_to_us(scenario.checks.blocked_after_ms),
        deadline_us: ms_to_us(scenario.clients.deadline_ms),
        clients,
    })
    .with_business(business_config(scenario, &names));
    let mut sim = Sim::new(spec, checks);
    fates::prepare_network(scenario, &names, &mut sim, opts.record_fates);
    if let Some(out) = opts.trace {
        let sink: Box<dyn TraceSink<N>> =
            Box::new(crate::engine::trace::JsonLines::new(out, names.clone()));
        sim.set_trace(sink);
    }
    let start_audit = sim.audit();
    sim.start();
    let mut watch = Watch::new(properties);
    let end = if watch.is_empty() {
        sim.run_until(end_us, scenario.max_events)
    } else {
        watch.check(&View::new(sim.now_us(), &names, &sim));
        sim.run_until_each(end_us, scenario.max_events, |sim| {
            watch.check(&View::new(sim.now_us(), &names, sim))
        })
    };
    let message_fates = sim.take_message_fates();
    let end_audit = sim.audit();
    let results = sim.into_observer().finish(&start_audit, &end_audit);
    let mut report = Report::build(scenario, seed, &end, &results);
    report.properties = watch.finish();
    report.story = story::report::tell(scenario, &report, &results, &names, &plan, protocol);
    report.protocol_counts = story::protocol_counts(protocol, &report);
    Outcome {
        end,
        results,
        names,
        report,
        message_fates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["client", "tm", "rm1", "rm2"].map(String::from).to_vec()
    }

    fn set(ids: &[u32]) -> NodeSet {
        ids.iter().copied().map(NodeId).collect()
    }

    fn partition(groups: &[&[&str]], from_ms: f64, to_ms: f64) -> PartitionSpec {
        PartitionSpec {
            groups: groups
                .iter()
                .map(|g| g.iter().map(|n| n.to_string()).collect())
                .collect(),
            from_ms,
            to_ms,
        }
    }

    #[test]
    fn one_group_is_cut_off_from_every_other_node_as_if_both_were_spelled_out() {
        let alone = scripted_plan(&names(), &[], &[partition(&[&["tm"]], 2.0, 151.0)], &[]);
        let both = scripted_plan(
            &names(),
            &[],
            &[partition(&[&["tm"], &["client", "rm1", "rm2"]], 2.0, 151.0)],
            &[],
        );
        assert_eq!(alone, both);
        let w = &alone.partitions[0];
        assert_eq!(
            w.cuts,
            vec![
                Cut {
                    from: set(&[1]),
                    to: set(&[0, 2, 3])
                },
                Cut {
                    from: set(&[0, 2, 3]),
                    to: set(&[1])
                },
            ]
        );
        assert_eq!((w.from_us, w.to_us), (2000, 151_000));
    }

    #[test]
    fn windows_keep_list_order_and_one_that_ends_before_it_starts_is_empty() {
        let crash = |node: &str, at_ms, restart_ms| CrashSpec {
            node: node.into(),
            at_ms,
            restart_ms,
        };
        let one_way = OneWaySpec {
            from: vec!["rm2".into()],
            to: vec!["tm".into()],
            from_ms: 30.0,
            to_ms: 10.0,
        };
        let plan = scripted_plan(
            &names(),
            &[crash("rm2", 5.0, None), crash("tm", 40.0, Some(20.0))],
            &[partition(&[&["rm1"], &["rm2"]], 9.0, 1.5)],
            &[one_way],
        );
        let crashes: Vec<_> = plan
            .crashes
            .iter()
            .map(|c| (c.node, c.at_us, c.restart_us))
            .collect();
        assert_eq!(
            crashes,
            vec![(NodeId(3), 5000, None), (NodeId(1), 40_000, Some(40_000))]
        );
        let windows: Vec<_> = plan
            .partitions
            .iter()
            .map(|p| (p.cuts.len(), p.from_us, p.to_us))
            .collect();
        assert_eq!(windows, vec![(2, 9000, 9000), (1, 30_000, 30_000)]);
    }

    #[test]
    #[should_panic(expected = "no node named \"rm9\"")]
    fn an_unknown_node_is_named() {
        scripted_plan(&names(), &[], &[partition(&[&["rm9"]], 1.0, 2.0)], &[]);
    }
}
