//! The scenario's own rules (ranges, faults against the world's node names,
//! expectations) and the fits some built-in protocols add.

use super::*;

mod faults;

/// Checks the scenario's own rules: every section's ranges, the faults against the
/// world's node `names` (in node order, from its protocol), the expectations. What a
/// protocol adds (the workloads it fits) its `Protocol::validate` checks.
pub fn validate(l: &Loaded, names: &[String]) -> Result<(), ScenarioError> {
    validate_size(l)?;
    validate_times(l)?;
    validate_latency(l)?;
    validate_transfer(l)?;
    validate_clients(l)?;
    validate_node_options(l)?;
    validate_three_pc(l)?;
    faults::validate(l, names)?;
    validate_saga(l)?;
    validate_messaging(l)?;
    validate_calls(l)?;
    validate_expectations(l)
}

/// The world's size: at least one resource manager, at most 100.
fn validate_size(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    if s.rms == 0 {
        return err(&["rms"], "rms = 0: a transaction needs at least one resource manager (shard); use 2 or more to see distributed transactions".into());
    }
    if s.rms > 100 {
        return err(
            &["rms"],
            format!(
                "rms = {}: at most 100 resource managers are supported",
                s.rms
            ),
        );
    }
    Ok(())
}

/// Every duration is finite, non-negative and at most `MAX_MS`; periods are at least 1 µs; the event guard and the message-fault probabilities are in range.
fn validate_times(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    let durations: [(&[&str], &str, f64); 11] = [
        (&["duration_ms"], "duration_ms", s.duration_ms),
        (&["drain_ms"], "drain_ms", s.drain_ms),
        (
            &["vote_timeout_ms"],
            "two_pc.vote_timeout_ms",
            s.two_pc.vote_timeout_ms,
        ),
        (
            &["decision_retry_ms"],
            "two_pc.decision_retry_ms",
            s.two_pc.decision_retry_ms,
        ),
        (
            &["inquiry_interval_ms"],
            "two_pc.inquiry_interval_ms",
            s.two_pc.inquiry_interval_ms,
        ),
        (
            &["rm_timeout_ms"],
            "two_pc.rm_timeout_ms",
            s.two_pc.rm_timeout_ms,
        ),
        (
            &["deadline_ms"],
            "clients.deadline_ms",
            s.clients.deadline_ms,
        ),
        (
            &["reorder_delay_ms"],
            "network.reorder_delay_ms",
            s.network.reorder_delay_ms,
        ),
        (
            &["blocked_after_ms"],
            "checks.blocked_after_ms",
            s.checks.blocked_after_ms,
        ),
        (
            &["message_faults_until_ms"],
            "network.message_faults_until_ms",
            s.network.message_faults_until_ms.unwrap_or(0.0),
        ),
        (
            &["think_ms"],
            "clients.load.think_ms",
            match s.clients.load {
                LoadSpec::Closed { think_ms, .. } => think_ms,
                LoadSpec::Open { .. } => 0.0,
            },
        ),
    ];
    for (path, name, v) in durations {
        if !v.is_finite() || v < 0.0 {
            return err(
                path,
                format!("{name} = {v:?}: expected a duration in milliseconds, 0 or more"),
            );
        }
        if v > MAX_MS {
            return err(
                path,
                format!("{name} = {v:?} ms: at most {MAX_MS:?} ms (about 11.6 days) is supported"),
            );
        }
    }
    if s.duration_ms <= 0.0 {
        return err(&["duration_ms"], "duration_ms must be more than 0".into());
    }
    for (key, name, timer) in [
        (
            "vote_timeout_ms",
            "two_pc.vote_timeout_ms",
            s.two_pc.vote_timeout_ms,
        ),
        (
            "decision_retry_ms",
            "two_pc.decision_retry_ms",
            s.two_pc.decision_retry_ms,
        ),
        (
            "inquiry_interval_ms",
            "two_pc.inquiry_interval_ms",
            s.two_pc.inquiry_interval_ms,
        ),
    ] {
        if timer < 0.001 {
            return err(
                &[key],
                format!(
                    "{name} must be at least 0.001 ms (1 µs): a zero period would loop forever"
                ),
            );
        }
    }
    if s.max_events == 0 || s.max_events > MAX_EVENTS {
        return err(
            &["max_events"],
            format!("max_events = {}: expected 1 to {MAX_EVENTS}", s.max_events),
        );
    }
    for (key, v) in [
        ("loss_probability", s.network.loss_probability),
        ("duplicate_probability", s.network.duplicate_probability),
        ("reorder_probability", s.network.reorder_probability),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return err(
                &["network", key],
                format!(
                    "network.{key} = {} is outside [0, 1]: a probability must be between 0 and 1",
                    Num(v)
                ),
            );
        }
    }
    Ok(())
}

/// The latency model's parameters.
fn validate_latency(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    let latency_values = match s.network.latency {
        LatencySpec::Constant { ms } => [ms, 0.0],
        LatencySpec::Uniform { min_ms, max_ms } => [min_ms, max_ms],
        LatencySpec::Exponential { floor_ms, mean_ms } => [floor_ms, mean_ms],
    };
    if latency_values.iter().any(|v| *v > MAX_MS) {
        return err(
            &["latency"],
            format!("network.latency: values of at most {MAX_MS} ms are supported"),
        );
    }
    match s.network.latency {
        LatencySpec::Constant { ms } if !(ms.is_finite() && ms >= 0.0) => {
            return err(
                &["latency", "ms"],
                format!("latency Constant(ms: {}): expected 0 or more", Num(ms)),
            );
        }
        LatencySpec::Uniform { min_ms, max_ms }
            if !(min_ms.is_finite() && max_ms.is_finite() && 0.0 <= min_ms && min_ms <= max_ms) =>
        {
            return err(
                &["latency", "Uniform"],
                format!(
                    "latency Uniform(min_ms: {}, max_ms: {}): expected 0 <= min_ms <= max_ms",
                    Num(min_ms),
                    Num(max_ms)
                ),
            );
        }
        LatencySpec::Exponential { floor_ms, mean_ms }
            if !(floor_ms.is_finite()
                && mean_ms.is_finite()
                && floor_ms >= 0.0
                && mean_ms >= 0.0) =>
        {
            return err(
                &["latency", "Exponential"],
                format!(
                    "latency Exponential(floor_ms: {}, mean_ms: {}): expected both 0 or more",
                    Num(floor_ms),
                    Num(mean_ms)
                ),
            );
        }
        _ => {}
    }
    Ok(())
}

/// The transfer workload (or the defaults other workloads use for it): accounts, amounts, balances, fan-out, and the money total.
fn validate_transfer(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    let transfer_default = TransferSpec::default();
    let t = match &s.workload {
        WorkloadSpec::Transfer(t) => t,
        _ => &transfer_default, // the business workloads are checked below
    };
    validate_tcc_and_business(l)?;
    if t.accounts_per_shard == 0 {
        return err(
            &["accounts_per_shard"],
            "workload accounts_per_shard = 0: every shard needs at least one account".into(),
        );
    }
    if t.accounts_per_shard > 10_000_000 {
        return err(&["accounts_per_shard"], format!("workload accounts_per_shard = {}: at most 10000000 accounts per shard are supported", t.accounts_per_shard));
    }
    if u64::from(s.rms) * u64::from(t.accounts_per_shard) > MAX_ACCOUNTS {
        return err(&["accounts_per_shard"], format!("rms × accounts_per_shard = {} accounts: at most {MAX_ACCOUNTS} in all are supported", u64::from(s.rms) * u64::from(t.accounts_per_shard)));
    }
    if u64::from(s.rms) * u64::from(t.accounts_per_shard) < 2 {
        return err(
            &["accounts_per_shard"],
            "a transfer needs at least two accounts in all".into(),
        );
    }
    if t.amount_min < 0 || t.amount_min > t.amount_max {
        return err(
            &["amount_min"],
            format!(
                "workload amounts: expected 0 <= amount_min <= amount_max, got {} and {}",
                t.amount_min, t.amount_max
            ),
        );
    }
    if t.initial_balance < 0 || t.initial_balance > MAX_AMOUNT {
        return err(
            &["initial_balance"],
            format!(
                "workload initial_balance = {}: expected 0 to {MAX_AMOUNT}",
                t.initial_balance
            ),
        );
    }
    if t.amount_max > MAX_AMOUNT {
        return err(
            &["amount_max"],
            format!(
                "workload amount_max = {}: expected at most {MAX_AMOUNT}",
                t.amount_max
            ),
        );
    }
    let total =
        i128::from(t.initial_balance) * i128::from(t.accounts_per_shard) * i128::from(s.rms);
    if matches!(s.workload, WorkloadSpec::Transfer(_)) && total > i128::from(MAX_MONEY_TOTAL) {
        return err(
            &["initial_balance"],
            format!("rms × accounts_per_shard × initial_balance = {total}: at most {MAX_MONEY_TOTAL} in all (so no total can overflow)"),
        );
    }
    if t.fan_out == 0 || (t.fan_out > 1 && t.fan_out >= s.rms) {
        return err(
            &["fan_out"],
            format!(
                "workload fan_out = {}: expected 1 (a plain transfer) up to rms - 1 = {}",
                t.fan_out,
                s.rms.saturating_sub(1).max(1)
            ),
        );
    }
    Ok(())
}

/// The client load: sessions or rate, and the deadline.
fn validate_clients(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    match s.clients.load {
        LoadSpec::Closed { sessions: 0, .. } => {
            return err(
                &["sessions"],
                "clients sessions = 0: a closed loop needs at least one session".into(),
            );
        }
        LoadSpec::Closed { sessions, .. } if sessions > crate::idmap::MAX_SESSIONS => {
            return err(
                &["sessions"],
                format!(
                    "clients sessions = {sessions}: at most {} concurrent sessions are supported",
                    crate::idmap::MAX_SESSIONS
                ),
            );
        }
        LoadSpec::Open { rate_per_s }
            if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= 1e6) =>
        {
            return err(
                &["rate_per_s"],
                format!("clients Open(rate_per_s: {}): expected a rate above 0 and at most 1000000 per second", Num(rate_per_s)),
            );
        }
        _ => {}
    }
    if s.clients.deadline_ms <= 0.0 {
        return err(
            &["deadline_ms"],
            "clients.deadline_ms must be more than 0".into(),
        );
    }
    Ok(())
}

/// An option of another protocol that adds a node must fit the protocol run.
fn validate_node_options(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    // Another protocol's settings are inert (a file may carry every protocol's, for
    // `acidbase compare`), but an option that adds a node must fit the protocol run.
    if s.two_pc.standby_tm && s.protocol != "2pc" {
        return err(
            &["two_pc", "standby_tm"],
            format!(
                "two_pc.standby_tm adds a standby 2PC coordinator, and protocol {:?} has none{}; remove it (or run protocol \"2pc\")",
                s.protocol,
                if s.protocol == "3pc" { " (3PC's is three_pc.standby_tm)" } else { "" }
            ),
        );
    }
    Ok(())
}

/// Every `expect:` names a metric the report has and a condition that parses.
fn validate_expectations(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    for (metric, cond) in &s.expect {
        if !crate::report::is_metric(metric) {
            return err(
                &["expect", &format!("{metric:?}")],
                format!(
                    "unknown metric {metric:?} in expect{}; known metrics: {}",
                    crate::suggest::hint(metric, &crate::report::metric_names()),
                    crate::report::metric_names().join(", ")
                ),
            );
        }
        if parse_condition(cond).is_none() {
            return err(
                &["expect", &format!("{metric:?}")],
                format!("cannot read condition {cond:?} for {metric}: expected an operator (==, !=, >=, <=, >, <) and a number, e.g. \">= 1\""),
            );
        }
    }
    Ok(())
}

/// Checks the `tcc` section and the business workloads' fields.
fn validate_tcc_and_business(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    for (key, v) in [
        ("try_timeout_ms", s.tcc.try_timeout_ms),
        ("retry_ms", s.tcc.retry_ms),
    ] {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return err(
                &["tcc", key],
                format!("tcc.{key} = {v:?}: expected a period in ms from 0.001 to {MAX_MS:?}"),
            );
        }
    }
    if let FencePurgeSpec::AfterMs(v) = s.tcc.fence_purge {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return err(
                &["tcc", "fence_purge"],
                format!("tcc.fence_purge = AfterMs({v:?}): expected a retention in ms from 0.001 to {MAX_MS:?} (or Watermark)"),
            );
        }
    }
    check_lag(l, "tcc", s.tcc.watermark_lag_ids)?;

    let (skus, stock, needs_rms, what) = match &s.workload {
        WorkloadSpec::Transfer(_) => return Ok(()),
        WorkloadSpec::OrderInventory(o) => {
            if o.qty_min < 1 || o.qty_min > o.qty_max || o.qty_max > MAX_AMOUNT {
                return err(
                    &["qty_min"],
                    format!(
                        "workload quantities: expected 1 <= qty_min <= qty_max <= {MAX_AMOUNT}, got {} and {}",
                        o.qty_min, o.qty_max
                    ),
                );
            }
            (
                o.skus,
                o.stock_per_sku,
                2,
                "OrderInventory (rm1 = orders, rm2 = inventory)",
            )
        }
        WorkloadSpec::FlashSale(f) => {
            if f.buyers == 0 || f.buyers > 1_000_000 {
                return err(
                    &["buyers"],
                    format!("workload buyers = {}: expected 1 to 1000000", f.buyers),
                );
            }
            for (key, v) in [("price", f.price), ("wallet", f.wallet)] {
                if !(0..=MAX_AMOUNT).contains(&v) {
                    return err(
                        &[key],
                        format!("workload {key} = {v}: expected 0 to {MAX_AMOUNT}"),
                    );
                }
            }
            let wallets = i128::from(f.wallet) * i128::from(f.buyers);
            if wallets > i128::from(MAX_MONEY_TOTAL) {
                return err(
                    &["wallet"],
                    format!("buyers × wallet = {wallets}: at most {MAX_MONEY_TOTAL} in all (so no total can overflow)"),
                );
            }
            if !(0.0..=1.0).contains(&f.decline_probability) {
                return err(
                    &["decline_probability"],
                    format!(
                        "workload decline_probability = {}: a probability must be between 0 and 1",
                        Num(f.decline_probability)
                    ),
                );
            }
            (
                f.skus,
                f.stock_per_sku,
                3,
                "FlashSale (rm1 = orders, rm2 = inventory, rm3 = payment)",
            )
        }
    };
    if skus == 0 || skus > 1_000_000 {
        return err(
            &["skus"],
            format!("workload skus = {skus}: expected 1 to 1000000"),
        );
    }
    if !(0..=1_000_000_000).contains(&stock) {
        return err(
            &["stock_per_sku"],
            format!("workload stock_per_sku = {stock}: expected 0 to 1000000000"),
        );
    }
    if s.rms != needs_rms {
        return err(
            &["rms"],
            format!(
                "rms = {}: the {what} workload needs rms: {needs_rms}",
                s.rms
            ),
        );
    }
    Ok(())
}

/// The saga's timers: a period of at least 1 µs (zero would loop), at most `MAX_MS`.
fn validate_saga(l: &Loaded) -> Result<(), ScenarioError> {
    let g = &l.scenario.saga;
    for (key, v) in [
        ("scan_interval_ms", g.scan_interval_ms),
        ("step_timeout_ms", g.step_timeout_ms),
    ] {
        if !(v.is_finite() && (0.001..=MAX_MS).contains(&v)) {
            return Err(l.error_at(
                &["saga", key],
                format!("saga.{key} = {v:?}: expected a period in milliseconds from 0.001 (1 µs; zero would loop forever) to {MAX_MS:?}"),
            ));
        }
    }
    if g.give_up_after_attempts == Some(0) {
        return Err(l.error_at(
            &["saga", "give_up_after_attempts"],
            "saga.give_up_after_attempts = 0: expected at least 1 attempt (or leave it out: never give up)",
        ));
    }
    check_lag(l, "saga", g.watermark_lag_ids)
}

/// A watermark lag (TCC's or the saga's): at most `MAX_LAG_IDS` ids.
fn check_lag(l: &Loaded, section: &str, v: u64) -> Result<(), ScenarioError> {
    let max = MAX_LAG_IDS;
    if v > max {
        return Err(l.error_at(
            &[section, "watermark_lag_ids"],
            format!("{section}.watermark_lag_ids = {v}: expected at most {max} ids (participants keep about one record per id of lag)"),
        ));
    }
    Ok(())
}

fn validate_messaging(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let m = &s.messaging;
    for (key, v, min) in [
        ("step_delay_ms", m.step_delay_ms, 0.0),
        ("retry_ms", m.retry_ms, 0.001),
        ("redeliver_ms", m.redeliver_ms, 0.001),
        ("checkback_ms", m.checkback_ms, 0.001),
    ] {
        if !v.is_finite() || v < min || v > MAX_MS {
            return Err(l.error_at(
                &["messaging", key],
                format!("messaging.{key} = {v:?}: expected a duration in milliseconds from {min} to {MAX_MS:?}{}", if min > 0.0 { " (a zero period would loop forever)" } else { "" }),
            ));
        }
    }
    Ok(())
}

/// What the messaging protocol models: a transfer A → B, or stock → order.
pub fn fit_messaging(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let t = match &s.workload {
        WorkloadSpec::Transfer(t) => t,
        WorkloadSpec::OrderInventory(_) => return Ok(()), // stock → order: one debit, one credit
        WorkloadSpec::FlashSale(_) => {
            return Err(l.error_at(
                &["FlashSale"],
                "the messaging protocol models one debit and one credit per request; a flash-sale purchase touches three services (stock, order, payment): use tcc, 2pc, 3pc or saga".to_string(),
            ))
        }
    };
    if t.fan_out != 1 {
        return Err(l.error_at(
            &["fan_out"],
            format!("workload fan_out = {}: the messaging protocol models a transfer A → B (one debit, one message, one credit); use fan_out: 1", t.fan_out),
        ));
    }
    Ok(())
}

/// Protocol "calls": three services and sane pattern timings.
fn validate_calls(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    let c = &s.calls;
    for (key, v) in [
        ("call_timeout_ms", c.call_timeout_ms),
        ("callback_timeout_ms", c.callback_timeout_ms),
        ("processing_ms", c.processing_ms),
        ("retry_ms", c.retry_ms),
        ("period_ms", c.period_ms),
        ("grace_ms", c.grace_ms),
    ] {
        if !v.is_finite() || !(0.0..=MAX_MS).contains(&v) {
            return err(
                &["calls", key],
                format!(
                    "calls.{key} = {v:?}: expected a duration in milliseconds, 0 to {MAX_MS:?}"
                ),
            );
        }
        if key != "processing_ms" && key != "grace_ms" && v < 0.001 {
            return err(
                &["calls", key],
                format!("calls.{key} must be at least 0.001 ms (1 µs): a zero period would loop forever"),
            );
        }
    }
    if c.page_size == 0 || c.page_size > 100_000 {
        return err(
            &["calls", "page_size"],
            format!(
                "calls.page_size = {}: expected 1 to 100000 records per page",
                c.page_size
            ),
        );
    }
    Ok(())
}

/// What protocol "calls" models: three services and a Transfer workload's amounts.
pub fn fit_calls(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let err = |path: &[&str], msg: String| Err(l.error_at(path, msg));
    if s.rms != 3 {
        return err(
            &["rms"],
            format!("rms = {}: protocol \"calls\" runs three services (rm1 order, rm2 payment, rm3 shipping); set rms: 3", s.rms),
        );
    }
    if s.clients.colocated_with_tm {
        return err(
            &["colocated_with_tm"],
            "protocol \"calls\" has no tm to colocate the client with; remove colocated_with_tm"
                .into(),
        );
    }
    if !matches!(s.workload, WorkloadSpec::Transfer(_)) {
        return err(
            &["workload"],
            "protocol \"calls\" runs its own place order → pay → ship chain, with amounts from a Transfer workload; use workload: Transfer(...)".into(),
        );
    }
    Ok(())
}

/// The `three_pc` section: durations, periods, and the participant timeouts that
/// must outlast the TM's (else a fault-free run can split: see three_pc.rs).
fn validate_three_pc(l: &Loaded) -> Result<(), ScenarioError> {
    let p = &l.scenario.three_pc;
    let err = |key: &str, msg: String| Err(l.error_at(&["three_pc", key], msg));
    let fields = [
        ("vote_timeout_ms", p.vote_timeout_ms),
        ("precommit_ack_timeout_ms", p.precommit_ack_timeout_ms),
        ("rm_wait_timeout_ms", p.rm_wait_timeout_ms),
        ("rm_precommit_timeout_ms", p.rm_precommit_timeout_ms),
        ("decision_retry_ms", p.decision_retry_ms),
        ("inquiry_interval_ms", p.inquiry_interval_ms),
        ("election_timeout_ms", p.election_timeout_ms),
    ];
    for (key, v) in fields {
        if !v.is_finite() || !(0.001..=MAX_MS).contains(&v) {
            return err(
                key,
                format!("three_pc.{key} = {v:?}: expected a duration in milliseconds from 0.001 (1 µs; a zero timer would loop forever) to {MAX_MS:?}"),
            );
        }
    }
    if p.rm_wait_timeout_ms <= p.vote_timeout_ms {
        return err(
            "rm_wait_timeout_ms",
            format!("three_pc.rm_wait_timeout_ms = {:?} must be longer than vote_timeout_ms = {:?} (by at least the longest one-way delay): a participant that gives up in w before the TM may still send PreCommit splits the outcome without any fault", p.rm_wait_timeout_ms, p.vote_timeout_ms),
        );
    }
    if p.rm_precommit_timeout_ms <= p.precommit_ack_timeout_ms {
        return err(
            "rm_precommit_timeout_ms",
            format!("three_pc.rm_precommit_timeout_ms = {:?} must be longer than precommit_ack_timeout_ms = {:?} (by at least the longest one-way delay): a pre-committed participant must wait for the TM's decision", p.rm_precommit_timeout_ms, p.precommit_ack_timeout_ms),
        );
    }
    Ok(())
}

/// 3PC's own rule: `Terminate` (the faithful protocol) needs a synchronous network.
pub fn fit_three_pc(l: &Loaded) -> Result<(), ScenarioError> {
    if l.scenario.three_pc.timeouts == TimeoutsSpec::Terminate {
        validate_three_pc_synchrony(l)?;
    }
    Ok(())
}

/// `Terminate` assumes a synchronous network: every timeout outlasts the delays it
/// waits for, measured on the slowest and fastest clocks the drift allows. Scripted
/// message delays, reordering, loss and partitions are faults beyond that bound.
fn validate_three_pc_synchrony(l: &Loaded) -> Result<(), ScenarioError> {
    let s = &l.scenario;
    let p = &s.three_pc;
    let err = |key: &str, msg: String| Err(l.error_at(&["three_pc", key], msg));
    let d = match (p.delay_bound_ms, &s.network.latency) {
        (Some(d), _) => {
            if !(d.is_finite() && d > 0.0 && d <= MAX_MS) {
                return err(
                    "delay_bound_ms",
                    format!("three_pc.delay_bound_ms = {d:?}: expected a delay in milliseconds above 0, at most {MAX_MS:?}"),
                );
            }
            d
        }
        (None, LatencySpec::Constant { ms }) => *ms,
        (None, LatencySpec::Uniform { max_ms, .. }) => *max_ms,
        (None, LatencySpec::Exponential { .. }) => {
            return Err(l.error_at(
                &["network", "latency"],
                "3PC (three_pc.timeouts: Terminate) assumes bounded delays, and Exponential latency has no maximum: set three_pc.delay_bound_ms to the delay its timeouts are sized for (a slower message is a timing fault and can split the outcome), or use Constant or Uniform latency",
            ));
        }
    };
    let drift_ppm = s
        .faults
        .drift
        .iter()
        .map(|x| x.ppm.unsigned_abs())
        .chain([s.faults.max_drift_ppm])
        .max()
        .unwrap_or(0);
    // A timer of t ms lasts between t / (1 + δ) and t / (1 - δ) of real time.
    let delta = (f64::from(drift_ppm) / 1e6).min(0.5);
    let (shortest, longest) = (|t: f64| t / (1.0 + delta), |t: f64| t / (1.0 - delta));
    let with_drift = if drift_ppm > 0 {
        format!(", on clocks that drift up to {drift_ppm} ppm")
    } else {
        String::new()
    };
    let checks = [
        (
            "rm_wait_timeout_ms",
            p.rm_wait_timeout_ms,
            longest(p.vote_timeout_ms) + d,
            "vote_timeout_ms + one delay",
            "a participant must not give up on a TM whose PreCommit may still come",
        ),
        (
            "rm_precommit_timeout_ms",
            p.rm_precommit_timeout_ms,
            longest(p.precommit_ack_timeout_ms) + d,
            "precommit_ack_timeout_ms + one delay",
            "a pre-committed participant must not give up on a TM whose decision may still come",
        ),
        (
            "precommit_ack_timeout_ms",
            p.precommit_ack_timeout_ms,
            d,
            "one delay",
            "the TM may commit without an ack only once every participant that is up has had its PreCommit",
        ),
        (
            "inquiry_interval_ms",
            p.inquiry_interval_ms,
            3.0 * d,
            "three delays",
            "a terminator decides only after any other terminator that started meanwhile could have reached it",
        ),
        (
            "election_timeout_ms",
            p.election_timeout_ms,
            longest(p.inquiry_interval_ms) + 2.0 * d,
            "inquiry_interval_ms + two delays",
            "a participant must not give up on a terminator that is still polling",
        ),
    ];
    for (key, value, floor, what, why) in checks {
        if shortest(value) <= floor {
            return err(
                key,
                format!("three_pc.{key} = {value:?} must be longer than {what} ({floor:.3} ms with delays up to {d:?} ms{with_drift}): {why} (3PC assumes bounded delays)"),
            );
        }
    }
    Ok(())
}
