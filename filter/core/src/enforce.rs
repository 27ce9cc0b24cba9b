//! Turns per-call verdicts into the response the agent sees: the (possibly rewritten) body and the
//! `x-llmfw-*` headers. The adapter only writes what this returns.

use serde_json::Value;

use crate::verdict::{Action, CallVerdict};
use crate::wire::{Format, ProposedCall, Removal};

/// `x-llmfw-decision`: `warn`, `require_approval` or `block` (absent on allow).
pub const HEADER_DECISION: &str = "x-llmfw-decision";
/// `x-llmfw-reasons`: reasons joined by `"; "`, ASCII-safe, at most [`MAX_REASONS_BYTES`].
pub const HEADER_REASONS: &str = "x-llmfw-reasons";
/// `x-llmfw-approval-id`: the approval id when a call needs approval.
pub const HEADER_APPROVAL_ID: &str = "x-llmfw-approval-id";
/// Cap on the reasons header.
pub const MAX_REASONS_BYTES: usize = 512;

/// The final decision on a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Strictest action over all calls (and failure-mode warnings).
    pub action: Action,
    /// New body, or `None` to leave the body unchanged.
    pub body: Option<Vec<u8>>,
    /// Response headers to set.
    pub headers: Vec<(&'static str, String)>,
    /// True when the state service callout failed.
    pub callout_failed: bool,
    /// Number of calls removed from the response.
    pub removed: usize,
    /// Spans of the model's answer text replaced by a marker (URLs, secrets, PII).
    pub redacted: usize,
    /// For a request-phase decision (MCP): answer locally with this instead of forwarding.
    pub reply: Option<crate::flow::LocalReply>,
    /// What was found that the filter does not inspect, refused or passed: one is added to each
    /// reason's `llmfw.uninspected.*` counter.
    pub uninspected: crate::metrics::UninspectedSet,
}

impl Outcome {
    /// Unchanged response, no headers.
    pub fn allow() -> Outcome {
        Outcome {
            action: Action::Allow,
            body: None,
            headers: Vec::new(),
            callout_failed: false,
            removed: 0,
            redacted: 0,
            reply: None,
            uninspected: crate::metrics::UninspectedSet::default(),
        }
    }
}

/// Makes a header value ASCII-printable and caps it, cutting at a character boundary.
pub fn header_safe(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let arrow = c == '→';
        let width = if arrow { 2 } else { 1 };
        if out.len() + width > max {
            break;
        }
        match c {
            _ if arrow => out.push_str("->"),
            ' ' => out.push(' '),
            c if c.is_ascii_graphic() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

fn short_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '`')
        .take(64)
        .collect();
    if clean.is_empty() {
        "(unnamed)".to_owned()
    } else {
        clean
    }
}

/// The refusal sentence that replaces a removed call.
pub fn refusal_text(call: &ProposedCall, verdict: &CallVerdict) -> String {
    let name = short_name(&call.name);
    let reasons = if verdict.reasons.is_empty() {
        "policy".to_owned()
    } else {
        verdict.reasons.join("; ")
    };
    match (verdict.action, verdict.approval_id.as_deref()) {
        (Action::RequireApproval, Some(id)) => {
            format!(
                "[llmfw] Tool call `{name}` was blocked: approval required: id {id} ({reasons})"
            )
        }
        (Action::RequireApproval, None) => {
            format!("[llmfw] Tool call `{name}` was blocked: approval required ({reasons})")
        }
        _ => format!("[llmfw] Tool call `{name}` was blocked: {reasons}"),
    }
}

/// Applies verdicts (one per call, same order) to a parsed response body.
pub fn enforce(
    format: Format,
    mut body: Value,
    calls: &[ProposedCall],
    verdicts: &[CallVerdict],
    extra: Option<&CallVerdict>,
) -> Outcome {
    let (mut out, removals) = plan(calls, verdicts, extra);
    if !removals.is_empty() {
        format.remove_calls(&mut body, &removals);
        out.body = Some(body.to_string().into_bytes());
    }
    out
}

/// Raises an outcome to at least `action` with these reasons (request-side findings carried to
/// the response), rebuilding its decision headers.
pub fn carry(out: &mut Outcome, action: Action, reasons: &[String]) {
    if action == Action::Allow {
        return;
    }
    let mut all: Vec<String> = reasons.to_vec();
    if let Some((_, r)) = out.headers.iter().find(|(k, _)| *k == HEADER_REASONS) {
        all.insert(0, r.clone());
    }
    out.action = out.action.max(action);
    out.headers
        .retain(|(k, _)| *k != HEADER_DECISION && *k != HEADER_REASONS);
    out.headers
        .insert(0, (HEADER_DECISION, out.action.as_str().to_owned()));
    if !all.is_empty() {
        out.headers.insert(
            1,
            (
                HEADER_REASONS,
                header_safe(&all.join("; "), MAX_REASONS_BYTES),
            ),
        );
    }
}

/// The decision without touching a body: the outcome (headers, action, `removed`) and the calls
/// to remove with their refusal texts. Streams and MCP apply the removals their own way.
pub fn plan(
    calls: &[ProposedCall],
    verdicts: &[CallVerdict],
    extra: Option<&CallVerdict>,
) -> (Outcome, Vec<Removal>) {
    let mut action = extra.map_or(Action::Allow, |v| v.action);
    let mut reasons: Vec<String> = extra.map(|v| v.reasons.clone()).unwrap_or_default();
    let mut approval_id: Option<String> = None;
    let mut removals = Vec::new();
    for (call, verdict) in calls.iter().zip(verdicts) {
        action = action.max(verdict.action);
        if verdict.action == Action::Allow {
            continue;
        }
        let name = short_name(&call.name);
        for r in &verdict.reasons {
            let line = format!("{name}: {r}");
            if !reasons.contains(&line) {
                reasons.push(line);
            }
        }
        if verdict.action == Action::RequireApproval && approval_id.is_none() {
            approval_id.clone_from(&verdict.approval_id);
        }
        if verdict.action.removes_call() {
            removals.push(Removal {
                choice: call.choice,
                index: call.index,
                refusal: refusal_text(call, verdict),
            });
        }
    }
    let mut out = Outcome {
        action,
        ..Outcome::allow()
    };
    if action == Action::Allow {
        return (out, removals);
    }
    out.headers
        .push((HEADER_DECISION, action.as_str().to_owned()));
    if !reasons.is_empty() {
        out.headers.push((
            HEADER_REASONS,
            header_safe(&reasons.join("; "), MAX_REASONS_BYTES),
        ));
    }
    if let Some(id) = approval_id {
        out.headers
            .push((HEADER_APPROVAL_ID, header_safe(&id, 128)));
    }
    out.removed = removals.len();
    (out, removals)
}
