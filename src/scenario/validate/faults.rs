//! The `faults` section against the world's node names and the run's horizon: one
//! check per kind of fault, each error pointing into the list entry it is about.

use super::*;

/// Checks every kind of fault of `l` against the world's node `names`.
pub(super) fn validate(l: &Loaded, names: &[String]) -> Result<(), ScenarioError> {
    let f = FaultCheck { l, names };
    f.crashes()?;
    f.partitions()?;
    f.one_way()?;
    f.random_crashes()?;
    f.random_partitions()?;
    f.drift()?;
    f.clock_steps()?;
    f.messages()
}

/// What every fault check needs: the scenario (to point into it) and the node names.
struct FaultCheck<'a> {
    l: &'a Loaded,
    names: &'a [String],
}

impl FaultCheck<'_> {
    fn faults(&self) -> &FaultSpec {
        &self.l.scenario.faults
    }

    fn known(&self, n: &str) -> bool {
        self.names.iter().any(|m| m == n)
    }

    /// An error at entry `i` of `section`, recognised by the key every entry of that
    /// list has.
    fn at(&self, section: &str, key: &str, i: usize, field: &[&str], msg: String) -> ScenarioError {
        self.l
            .error_at_entry(&["faults", section], Some((key, i)), field, msg)
    }

    fn no_such_node(&self, n: &str, section: &str) -> String {
        format!(
            "faults.{section}: no node named {n:?}; this scenario's nodes are: {}",
            self.names.join(", ")
        )
    }

    fn unknown(&self, section: &str, key: &str, i: usize, n: &str) -> ScenarioError {
        let msg = self.no_such_node(n, section);
        self.at(section, key, i, &[&format!("{n:?}")], msg)
    }

    /// A time within the run: finite, 0 or more, not after the horizon.
    fn time(
        &self,
        section: &str,
        key: &str,
        i: usize,
        field: &str,
        v: f64,
    ) -> Result<(), ScenarioError> {
        let horizon = self.l.scenario.duration_ms;
        if !v.is_finite() || v < 0.0 {
            return Err(self.at(
                section,
                key,
                i,
                &[field],
                format!(
                    "faults.{section} {field} = {}: expected a time in ms, 0 or more",
                    Num(v)
                ),
            ));
        }
        if v > horizon {
            return Err(self.at(
                section,
                key,
                i,
                &[field],
                format!("faults.{section} {field} = {} ms is after the horizon (duration_ms = {}); faults must happen within the run: raise duration_ms or move the fault earlier", Num(v), Num(horizon)),
            ));
        }
        Ok(())
    }

    /// A window's end after its start (both already checked as times).
    fn window(
        &self,
        section: &str,
        key: &str,
        i: usize,
        from_ms: f64,
        to_ms: f64,
    ) -> Result<(), ScenarioError> {
        if to_ms <= from_ms {
            return Err(self.at(
                section,
                key,
                i,
                &["to_ms"],
                format!(
                    "faults.{section}: to_ms = {} must be after from_ms = {}",
                    Num(to_ms),
                    Num(from_ms)
                ),
            ));
        }
        Ok(())
    }

    /// A rate of random faults: 0 or more per second, at most
    /// [`MAX_EXPECTED_FAULTS`] expected over the run.
    fn rate_ok(&self, rate_per_s: f64) -> bool {
        rate_per_s.is_finite()
            && rate_per_s >= 0.0
            && rate_per_s * self.l.scenario.duration_ms / 1000.0 <= MAX_EXPECTED_FAULTS
    }

    fn crashes(&self) -> Result<(), ScenarioError> {
        for (i, c) in self.faults().crashes.iter().enumerate() {
            if !self.known(&c.node) {
                return Err(self.unknown("crashes", "node", i, &c.node));
            }
            self.time("crashes", "node", i, "at_ms", c.at_ms)?;
            if let Some(r) = c.restart_ms {
                self.time("crashes", "node", i, "restart_ms", r)?;
                if r <= c.at_ms {
                    return Err(self.at(
                        "crashes",
                        "node",
                        i,
                        &["restart_ms"],
                        format!(
                            "faults.crashes: {} restarts at {r} ms, not after its crash at {} ms",
                            c.node, c.at_ms
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn partitions(&self) -> Result<(), ScenarioError> {
        for (i, p) in self.faults().partitions.iter().enumerate() {
            if p.groups.len() < 2 || p.groups.iter().any(|g| g.is_empty()) {
                return Err(self.at("partitions", "groups", i, &[], "faults.partitions: groups needs at least two non-empty groups of node names, e.g. [[\"tm\", \"rm1\"], [\"rm2\", \"rm3\"]]".into()));
            }
            let mut seen = Vec::new();
            for n in p.groups.iter().flatten() {
                if !self.known(n) {
                    return Err(self.unknown("partitions", "groups", i, n));
                }
                if seen.contains(&n) {
                    return Err(self.at(
                        "partitions",
                        "groups",
                        i,
                        &[&format!("{n:?}")],
                        format!("faults.partitions: {n:?} is in more than one group"),
                    ));
                }
                seen.push(n);
            }
            self.time("partitions", "groups", i, "from_ms", p.from_ms)?;
            self.time("partitions", "groups", i, "to_ms", p.to_ms)?;
            self.window("partitions", "groups", i, p.from_ms, p.to_ms)?;
        }
        Ok(())
    }

    fn one_way(&self) -> Result<(), ScenarioError> {
        for (i, w) in self.faults().one_way.iter().enumerate() {
            if w.from.is_empty() || w.to.is_empty() {
                return Err(self.at(
                    "one_way",
                    "from",
                    i,
                    &[],
                    "faults.one_way: from and to each need at least one node name".into(),
                ));
            }
            for n in w.from.iter().chain(&w.to) {
                if !self.known(n) {
                    return Err(self.unknown("one_way", "from", i, n));
                }
            }
            self.time("one_way", "from", i, "from_ms", w.from_ms)?;
            self.time("one_way", "from", i, "to_ms", w.to_ms)?;
            self.window("one_way", "from", i, w.from_ms, w.to_ms)?;
        }
        Ok(())
    }

    fn random_crashes(&self) -> Result<(), ScenarioError> {
        for (i, r) in self.faults().random_crashes.iter().enumerate() {
            for n in &r.nodes {
                if !(self.known(n) || n == "rms" || n == "all") {
                    return Err(self.unknown("random_crashes", "nodes", i, n));
                }
            }
            if !self.rate_ok(r.rate_per_s) {
                return Err(self.at(
                    "random_crashes",
                    "nodes",
                    i,
                    &["rate_per_s"],
                    format!(
                        "faults.random_crashes rate_per_s = {}: expected 0 or more crashes per second, at most {MAX_EXPECTED_FAULTS} expected per node over the run",
                        Num(r.rate_per_s)
                    ),
                ));
            }
            if !(r.mean_downtime_ms.is_finite()
                && r.mean_downtime_ms >= 0.0
                && r.mean_downtime_ms <= MAX_MS)
            {
                return Err(self.at(
                    "random_crashes",
                    "nodes",
                    i,
                    &["mean_downtime_ms"],
                    "faults.random_crashes mean_downtime_ms: expected 0 or more".into(),
                ));
            }
        }
        Ok(())
    }

    fn random_partitions(&self) -> Result<(), ScenarioError> {
        let Some(r) = &self.faults().random_partitions else {
            return Ok(());
        };
        let l = self.l;
        for n in &r.nodes {
            if !self.known(n) {
                return Err(l.error_at(
                    &["faults", "random_partitions", &format!("{n:?}")],
                    self.no_such_node(n, "random_partitions"),
                ));
            }
        }
        if !self.rate_ok(r.rate_per_s) {
            return Err(l.error_at(
                &["faults", "random_partitions", "rate_per_s"],
                format!(
                    "faults.random_partitions rate_per_s = {}: expected 0 or more per second, at most {MAX_EXPECTED_FAULTS} expected over the run",
                    Num(r.rate_per_s)
                ),
            ));
        }
        if !(r.mean_duration_ms.is_finite()
            && r.mean_duration_ms >= 0.0
            && r.mean_duration_ms <= MAX_MS)
        {
            return Err(l.error_at(
                &["faults", "random_partitions", "mean_duration_ms"],
                "faults.random_partitions mean_duration_ms: expected 0 or more",
            ));
        }
        Ok(())
    }

    fn drift(&self) -> Result<(), ScenarioError> {
        for (i, d) in self.faults().drift.iter().enumerate() {
            if !self.known(&d.node) {
                return Err(self.unknown("drift", "node", i, &d.node));
            }
            if d.ppm.unsigned_abs() >= 1_000_000 {
                return Err(self.at(
                    "drift",
                    "node",
                    i,
                    &["ppm"],
                    format!(
                        "faults.drift ppm = {}: expected between -999999 and 999999",
                        d.ppm
                    ),
                ));
            }
        }
        if self.faults().max_drift_ppm >= 1_000_000 {
            return Err(self.l.error_at(
                &["max_drift_ppm"],
                "faults.max_drift_ppm must be below 1000000",
            ));
        }
        Ok(())
    }

    /// Wall-clock steps: a known node, a time within the run, a step that moves the
    /// clock (not 0) by less than a day (a step of more is a broken clock, not NTP).
    fn clock_steps(&self) -> Result<(), ScenarioError> {
        for (i, c) in self.faults().clock_steps.iter().enumerate() {
            if !self.known(&c.node) {
                return Err(self.unknown("clock_steps", "node", i, &c.node));
            }
            self.time("clock_steps", "node", i, "at_ms", c.at_ms)?;
            let day_ms = 86_400_000.0;
            if !c.step_ms.is_finite() || c.step_ms == 0.0 || c.step_ms.abs() >= day_ms {
                return Err(self.at(
                    "clock_steps",
                    "node",
                    i,
                    &["step_ms"],
                    format!(
                        "faults.clock_steps step_ms = {}: expected a step in ms, not 0, negative for backward, less than a day (86400000) either way",
                        Num(c.step_ms)
                    ),
                ));
            }
            if (c.step_ms * 1000.0).round() == 0.0 {
                return Err(self.at(
                    "clock_steps",
                    "node",
                    i,
                    &["step_ms"],
                    format!(
                        "faults.clock_steps step_ms = {}: rounds to 0 µs, so the clock would not move",
                        Num(c.step_ms)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Scripted fates of single messages: known endpoints, counted from 1, each
    /// message scripted once, delays in range.
    fn messages(&self) -> Result<(), ScenarioError> {
        let at = |i: usize, field: &[&str], msg: String| self.at("messages", "nth", i, field, msg);
        let mut seen: Vec<(&str, &str, u64)> = Vec::new();
        for (i, m) in self.faults().messages.iter().enumerate() {
            for n in [&m.from, &m.to] {
                if !self.known(n) {
                    return Err(at(i, &[], self.no_such_node(n, "messages")));
                }
            }
            if m.nth == 0 {
                return Err(at(
                    i,
                    &[],
                    "faults.messages: nth counts messages on the link from 1 (the first message is nth: 1)".into(),
                ));
            }
            let key = (m.from.as_str(), m.to.as_str(), m.nth);
            if seen.contains(&key) {
                return Err(at(
                    i,
                    &[],
                    format!(
                        "faults.messages: message {} of {} -> {} is scripted twice",
                        m.nth, m.from, m.to
                    ),
                ));
            }
            seen.push(key);
            let delays: &[f64] = match &m.fate {
                MessageFateSpec::Lose => &[],
                MessageFateSpec::Latency { delay_ms } | MessageFateSpec::Delay { delay_ms } => {
                    std::slice::from_ref(delay_ms)
                }
                MessageFateSpec::Duplicate { delay_ms, again_ms } => &[*delay_ms, *again_ms],
            };
            if delays
                .iter()
                .any(|d| !(d.is_finite() && *d >= 0.0 && *d <= MAX_MS))
            {
                return Err(at(
                    i,
                    &["fate"],
                    format!("faults.messages: delays must be between 0 and {MAX_MS} ms"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::read;

    /// The error `faults` gets in a 3-RM world, as `line:col: message`.
    fn error(faults: &str) -> String {
        let source = format!("(\n  duration_ms: 500,\n  faults: (\n    {faults}\n  ),\n)\n");
        let l = read(&source, "f.ron").expect("reads");
        let names: Vec<String> = ["tm", "rm1", "rm2", "rm3", "client"]
            .map(String::from)
            .into();
        let e = super::validate(&l, &names).expect_err("refused");
        format!("{}:{}: {}", e.line, e.col, e.message)
    }

    #[test]
    fn each_kind_of_fault_is_checked_and_the_error_points_at_it() {
        let cases = [
            ("crashes: [(node: \"rm1\", at_ms: 600)]",
             "4:29: faults.crashes at_ms = 600 ms is after the horizon (duration_ms = 500); faults must happen within the run: raise duration_ms or move the fault earlier"),
            ("partitions: [(groups: [[\"tm\", \"rm1\"], [\"rm1\"]], from_ms: 1, to_ms: 2)]",
             "4:35: faults.partitions: \"rm1\" is in more than one group"),
            ("partitions: [(groups: [[\"tm\"]], from_ms: 1, to_ms: 2)]",
             "4:19: faults.partitions: groups needs at least two non-empty groups of node names, e.g. [[\"tm\", \"rm1\"], [\"rm2\", \"rm3\"]]"),
            ("one_way: [(from: [\"tm\"], to: [], from_ms: 1, to_ms: 2)]",
             "4:16: faults.one_way: from and to each need at least one node name"),
            ("one_way: [(from: [\"tm\"], to: [\"rm1\"], from_ms: 5, to_ms: 2)]",
             "4:55: faults.one_way: to_ms = 2 must be after from_ms = 5"),
            ("random_crashes: [(nodes: [\"rm9\"], rate_per_s: 1, mean_downtime_ms: 5)]",
             "4:31: faults.random_crashes: no node named \"rm9\"; this scenario's nodes are: tm, rm1, rm2, rm3, client"),
            ("random_crashes: [(nodes: [\"rms\"], rate_per_s: -1, mean_downtime_ms: 5)]",
             "4:39: faults.random_crashes rate_per_s = -1: expected 0 or more crashes per second, at most 1000000 expected per node over the run"),
            ("random_partitions: (nodes: [\"tm\"], rate_per_s: 1, mean_duration_ms: -1)",
             "4:55: faults.random_partitions mean_duration_ms: expected 0 or more"),
            ("drift: [(node: \"rm2\", ppm: 1000000)]",
             "4:27: faults.drift ppm = 1000000: expected between -999999 and 999999"),
            ("messages: [(from: \"tm\", to: \"rm1\", nth: 0, fate: Lose)]",
             "4:40: faults.messages: nth counts messages on the link from 1 (the first message is nth: 1)"),
            ("messages: [(from: \"tm\", to: \"rm1\", nth: 1, fate: Lose), (from: \"tm\", to: \"rm1\", nth: 1, fate: Lose)]",
             "4:85: faults.messages: message 1 of tm -> rm1 is scripted twice"),
            ("messages: [(from: \"tm\", to: \"rm1\", nth: 1, fate: Delay(delay_ms: -3))]",
             "4:48: faults.messages: delays must be between 0 and 1000000000 ms"),
            ("clock_steps: [(node: \"rm7\", at_ms: 10, step_ms: -5)]",
             "4:26: faults.clock_steps: no node named \"rm7\"; this scenario's nodes are: tm, rm1, rm2, rm3, client"),
            ("clock_steps: [(node: \"rm1\", at_ms: 10, step_ms: 0)]",
             "4:44: faults.clock_steps step_ms = 0: expected a step in ms, not 0, negative for backward, less than a day (86400000) either way"),
            ("clock_steps: [(node: \"rm1\", at_ms: 900, step_ms: -5)]",
             "4:33: faults.clock_steps at_ms = 900 ms is after the horizon (duration_ms = 500); faults must happen within the run: raise duration_ms or move the fault earlier"),
            ("clock_steps: [(node: \"rm1\", at_ms: 10, step_ms: 0.0001)]",
             "4:44: faults.clock_steps step_ms = 0.0001: rounds to 0 µs, so the clock would not move"),
        ];
        for (faults, want) in cases {
            assert_eq!(error(faults), want, "{faults}");
        }
    }
}
