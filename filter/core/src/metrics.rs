//! Metric names. Envoy shows them in `/stats` as `wasmcustom.<name>`. The label set is fixed:
//! never put a rule id, tool name or user value into a name. The only computed name is the
//! per-VM memory gauge ([`vm_memory_gauge`]), numbered by VM.

use crate::verdict::Action;

/// One per response decided ALLOW.
pub const DECISION_ALLOW: &str = "llmfw.decision.allow";
/// One per response decided WARN.
pub const DECISION_WARN: &str = "llmfw.decision.warn";
/// One per response decided REQUIRE_APPROVAL.
pub const DECISION_REQUIRE_APPROVAL: &str = "llmfw.decision.require_approval";
/// One per response decided BLOCK.
pub const DECISION_BLOCK: &str = "llmfw.decision.block";
/// Evaluate callouts dispatched.
pub const CALLOUT_SENT: &str = "llmfw.callout.sent";
/// Evaluate callouts that failed (dispatch error, gRPC status != 0, undecodable reply).
pub const CALLOUT_FAILURE: &str = "llmfw.callout.failure";
/// Requests rejected locally (invalid JSON, too large).
pub const REQUEST_INVALID: &str = "llmfw.request.invalid";
/// Requests refused for their content (`llmfw_prompt_blocked`).
pub const REQUEST_BLOCKED: &str = "llmfw.request.blocked";
/// Requests forwarded with one or more tool results replaced by a notice.
pub const REQUEST_REDACTED: &str = "llmfw.request.redacted";

/// Every counter, for definition at start-up.
pub const ALL_COUNTERS: &[&str] = &[
    DECISION_ALLOW,
    DECISION_WARN,
    DECISION_REQUIRE_APPROVAL,
    DECISION_BLOCK,
    CALLOUT_SENT,
    CALLOUT_FAILURE,
    REQUEST_INVALID,
    REQUEST_BLOCKED,
    REQUEST_REDACTED,
];

/// The decision counter for an action.
pub fn decision(action: Action) -> &'static str {
    match action {
        Action::Allow => DECISION_ALLOW,
        Action::Warn => DECISION_WARN,
        Action::RequireApproval => DECISION_REQUIRE_APPROVAL,
        Action::Block => DECISION_BLOCK,
    }
}

/// Shared-data key (one per Envoy process and `vm_id`) of the counter that numbers the filter's
/// VMs in start order: 0 is normally the main thread's VM, then one per worker (a reloaded VM
/// takes the next number).
pub const VM_SEQUENCE_KEY: &str = "llmfw.vm_sequence";

/// Name of the gauge of VM number `vm`: the size of its wasm linear memory in bytes
/// (`memory.size` × 64 KiB), set when it grows. Envoy shares a metric of one name across all VMs,
/// so each VM needs its own name.
pub fn vm_memory_gauge(vm: u32) -> String {
    format!("llmfw.vm.{vm}.memory_bytes")
}
