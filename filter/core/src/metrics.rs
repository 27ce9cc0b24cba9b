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
/// Responses whose answer text had URLs, secrets or PII replaced (`detect.response_text`).
pub const RESPONSE_REDACTED: &str = "llmfw.response.redacted";
/// MCP stream events redacted or withheld, counted as each passes (a stream's decision is
/// counted once, in `llmfw.decision.*`, when the stream ends: a GET notification stream may last
/// a whole session).
pub const STREAM_EVENT_NEUTRALISED: &str = "llmfw.stream.event_neutralised";
/// Requests refused because their path matches no route (`unmatched_path: refuse`).
pub const REQUEST_UNMATCHED_PATH: &str = "llmfw.request.unmatched_path";

/// Items, blocks, parts, roles or stream events of a type the filter does not know, one per
/// request or response that held any (refused, judged or passed per `unknown_types`).
pub const UNINSPECTED_UNKNOWN_TYPE: &str = "llmfw.uninspected.unknown_type";

/// Stream events whose data is JSON the filter cannot parse (`NaN`, `Infinity`, nesting past the
/// parser's depth): the stream is ended with an error event.
pub const UNINSPECTED_UNREADABLE_EVENT: &str = "llmfw.uninspected.unreadable_event";
/// Streamed calls whose forms disagree (`output_item.added`, deltas, `.done`,
/// `response.completed`; a block index started twice): the call is refused.
pub const UNINSPECTED_STREAM_FORMS: &str = "llmfw.uninspected.stream_forms";

/// Answers the filter cannot inspect (compressed, JSON it cannot parse), refused with 502, and
/// compressed requests, refused with 415.
pub const UNINSPECTED_UNINSPECTABLE: &str = "llmfw.uninspected.uninspectable";
/// Bodies or stream events past `max_body_bytes`, refused (413, or an error event).
pub const UNINSPECTED_TOO_LARGE: &str = "llmfw.uninspected.too_large";
/// Tool calls escalated because an argument analyser (shell, SQL, argument detectors) stopped at
/// a bound before the end of the arguments (`tools.analysis_bound`).
pub const UNINSPECTED_ARGUMENTS: &str = "llmfw.uninspected.argument_bound";

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
    REQUEST_UNMATCHED_PATH,
    RESPONSE_REDACTED,
    STREAM_EVENT_NEUTRALISED,
    UNINSPECTED_UNKNOWN_TYPE,
    UNINSPECTED_UNREADABLE_EVENT,
    UNINSPECTED_STREAM_FORMS,
    UNINSPECTED_UNINSPECTABLE,
    UNINSPECTED_TOO_LARGE,
    UNINSPECTED_ARGUMENTS,
];

/// Why something was not inspected: each reason is one `llmfw.uninspected.<reason>` counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Uninspected {
    /// A type the filter does not know ([`UNINSPECTED_UNKNOWN_TYPE`]).
    UnknownType,
    /// A stream event that does not parse ([`UNINSPECTED_UNREADABLE_EVENT`]).
    UnreadableEvent,
    /// A streamed call whose forms disagree ([`UNINSPECTED_STREAM_FORMS`]).
    StreamForms,
    /// A compressed or unparsable body ([`UNINSPECTED_UNINSPECTABLE`]).
    Uninspectable,
    /// A body or event past the cap ([`UNINSPECTED_TOO_LARGE`]).
    TooLarge,
}

impl Uninspected {
    /// Every reason.
    pub const ALL: &'static [Uninspected] = &[
        Uninspected::UnknownType,
        Uninspected::UnreadableEvent,
        Uninspected::StreamForms,
        Uninspected::Uninspectable,
        Uninspected::TooLarge,
    ];

    /// The reason's name (the last part of its counter's name).
    pub fn as_str(self) -> &'static str {
        match self {
            Uninspected::UnknownType => "unknown_type",
            Uninspected::UnreadableEvent => "unreadable_event",
            Uninspected::StreamForms => "stream_forms",
            Uninspected::Uninspectable => "uninspectable",
            Uninspected::TooLarge => "too_large",
        }
    }

    /// Its counter.
    pub fn counter(self) -> &'static str {
        match self {
            Uninspected::UnknownType => UNINSPECTED_UNKNOWN_TYPE,
            Uninspected::UnreadableEvent => UNINSPECTED_UNREADABLE_EVENT,
            Uninspected::StreamForms => UNINSPECTED_STREAM_FORMS,
            Uninspected::Uninspectable => UNINSPECTED_UNINSPECTABLE,
            Uninspected::TooLarge => UNINSPECTED_TOO_LARGE,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Uninspected`] reasons (small enough to travel in every outcome).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UninspectedSet(u16);

impl UninspectedSet {
    /// Adds a reason.
    pub fn insert(&mut self, r: Uninspected) {
        self.0 |= r.bit();
    }

    /// True when the reason is in the set.
    pub fn contains(self, r: Uninspected) -> bool {
        self.0 & r.bit() != 0
    }

    /// True when empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The reasons in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Uninspected> {
        Uninspected::ALL
            .iter()
            .copied()
            .filter(move |r| self.contains(*r))
    }

    /// Both sets.
    pub fn union(self, other: UninspectedSet) -> UninspectedSet {
        UninspectedSet(self.0 | other.0)
    }
}

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
