//! The `Evaluate` callout: tool events out, per-call verdicts back.

use llmfw_api::v1 as pb;
use serde_json::Value;

use crate::config::Config;
use crate::tools;
use crate::verdict::{Action, CallVerdict};
use crate::wire::ProposedCall;

/// Longest canonical arguments sent along with a tool event (longer ones: digest only).
pub const MAX_ARGUMENTS_JSON: usize = 4096;

/// The event of one call; `class` is the policy's classification when it made one.
pub(super) fn tool_event(
    config: &Config,
    call: &ProposedCall,
    args: &Value,
    class: Option<tools::Classification>,
) -> pb::ToolEvent {
    let class = class.unwrap_or_else(|| tools::classify(config, &call.name, args));
    let targets = class
        .targets
        .into_iter()
        .map(|t| pb::Target {
            value: t.value,
            kind: t.kind as i32,
            in_scope: t.in_scope,
        })
        .collect();
    let canonical = tools::canonical_json(args);
    let args_digest = tools::sha256_hex(canonical.as_bytes());
    let arguments_json = if canonical.len() <= MAX_ARGUMENTS_JSON {
        canonical
    } else {
        String::new()
    };
    pb::ToolEvent {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        category: class.category,
        phase: class.phase as i32,
        targets,
        args_digest,
        direction: pb::Direction::Proposed as i32,
        arguments_json,
    }
}

pub(super) fn findings_summary(
    stateless: &[CallVerdict],
    families: &[&str],
) -> pb::FindingsSummary {
    let blocked: Vec<&CallVerdict> = stateless
        .iter()
        .filter(|v| v.action != Action::Allow)
        .collect();
    let families = families.iter().map(|f| (*f).to_owned()).collect();
    let max = blocked
        .iter()
        .map(|v| v.action)
        .max()
        .unwrap_or(Action::Allow);
    pb::FindingsSummary {
        count: u32::try_from(blocked.len()).unwrap_or(u32::MAX),
        max_action: max.to_proto() as i32,
        families,
    }
}

/// Per-event verdicts from a reply: by position when the counts match, else by call id, else the
/// overall verdict. `None` when the reply carries no usable action (treated as a failure).
pub(super) fn service_verdicts(
    resp: &pb::EvaluateResponse,
    call_ids: &[String],
) -> Option<Vec<CallVerdict>> {
    let overall_action = Action::from_proto(resp.action);
    let non_empty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let overall = overall_action.map(|action| CallVerdict {
        action,
        reasons: resp.reasons.clone(),
        approval_id: non_empty(&resp.approval_id),
    });
    let from_event = |ev: &pb::EventVerdict| {
        Action::from_proto(ev.action).map(|action| CallVerdict {
            action,
            reasons: if ev.reasons.is_empty() && Some(action) == overall_action {
                resp.reasons.clone()
            } else {
                ev.reasons.clone()
            },
            approval_id: non_empty(&ev.approval_id).or_else(|| {
                non_empty(&resp.approval_id).filter(|_| action == Action::RequireApproval)
            }),
        })
    };
    let mut out = Vec::with_capacity(call_ids.len());
    for (pos, id) in call_ids.iter().enumerate() {
        let by_pos = if resp.verdicts.len() == call_ids.len() {
            resp.verdicts.get(pos)
        } else {
            None
        };
        let ev = by_pos.or_else(|| {
            resp.verdicts
                .iter()
                .find(|v| !id.is_empty() && v.call_id == *id)
        });
        let v = ev.and_then(from_event).or_else(|| overall.clone())?;
        out.push(v);
    }
    Some(out)
}
