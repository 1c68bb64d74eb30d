//! Service calls as a [`Protocol`]: order (`rm1`) → payment (`rm2`) → shipping
//! (`rm3`), the client; no coordinator.

use super::{CallMode, CallsNode, CallsOptions};
use crate::protocols::world::{BuildError, WorldBuilder};
use crate::protocols::Protocol;
use crate::report::Report;
use crate::scenario::{
    ms_to_us, CallModeSpec, CallsSpec, Loaded, OptionsError, Scenario, ScenarioError,
};
use crate::story::StoryPlace;
use crate::workload::Client;

/// Calls between services that time out, with query, compensation, reconciliation.
pub struct Calls;

/// The service-call options a scenario's `calls` section asks for; records are
/// archived after the client's deadline.
pub fn calls_options(c: &CallsSpec, deadline_ms: f64) -> CallsOptions {
    CallsOptions {
        mode: match c.mode {
            CallModeSpec::Sync => CallMode::Sync,
            CallModeSpec::Async => CallMode::Async,
        },
        call_timeout_us: ms_to_us(c.call_timeout_ms).max(1),
        callback_timeout_us: ms_to_us(c.callback_timeout_ms).max(1),
        processing_us: ms_to_us(c.processing_ms),
        query: c.query,
        compensation: c.compensation,
        async_assurance: c.async_assurance,
        retry_us: ms_to_us(c.retry_ms).max(1),
        reconciliation: c.reconciliation,
        period_us: ms_to_us(c.period_ms).max(1),
        page_size: c.page_size.max(1),
        grace_us: ms_to_us(c.grace_ms),
        archive_after_us: ms_to_us(deadline_ms),
    }
}

impl Protocol for Calls {
    type Node = CallsNode;
    type Options = CallsSpec;

    fn name(&self) -> &'static str {
        "calls"
    }

    fn about(&self) -> &'static str {
        "service calls that time out: query, compensation, reconciliation"
    }

    fn options(&self, s: &Scenario) -> Result<CallsSpec, OptionsError> {
        Ok(s.calls.clone())
    }

    fn node_names(&self, s: &Scenario, _o: &CallsSpec) -> Vec<String> {
        let mut names: Vec<String> = (1..=s.rms).map(|i| format!("rm{i}")).collect();
        names.push("client".into());
        names
    }

    fn validate(&self, l: &Loaded, _o: &CallsSpec) -> Result<(), ScenarioError> {
        crate::scenario::fit_calls(l)
    }

    fn explorable(&self) -> bool {
        false
    }

    fn build(&self, o: &CallsSpec, w: &mut WorldBuilder<'_, CallsNode>) -> Result<(), BuildError> {
        let opts = calls_options(o, w.scenario().clients.deadline_ms);
        let order = w.id("rm1")?;
        let payment = w.id("rm2")?;
        let shipping = w.id("rm3")?;
        let client = w.id("client")?;
        let node = CallsNode::order(opts.clone(), payment, shipping, client);
        w.host("rm1", node, Default::default())?;
        w.host("rm2", CallsNode::payment(opts, order), Default::default())?;
        w.host("rm3", CallsNode::Shipping, Default::default())?;
        let c = Client::new(w.client_config(order));
        w.host_client("client", CallsNode::Client(c))?;
        Ok(())
    }

    /// What the call patterns did and what reconciliation found, after the shared
    /// checks (which told the orders the services disagree on).
    fn story_at(&self, place: StoryPlace, rep: &Report) -> Vec<String> {
        if place != StoryPlace::AfterChecks {
            return Vec::new();
        }
        let mut out = Vec::new();
        let c = &rep.calls;
        out.push(format!(
            "Service calls: {} timeouts, {} queries, {} compensations, {} retries; reconciliation found {} lost orders and {} state mismatches in {} pages",
            c.timeouts, c.queries, c.compensations, c.retries, c.lost_orders, c.state_mismatches, c.reconciliation_batches
        ));
        if c.reconciliation_batches > 0 && c.reconciliation_passes == 0 {
            out.push("No reconciliation pass ever finished: each period restarts the pass before it reaches its end. Raise calls.period_ms or calls.page_size".into());
        }
        out
    }
}
