//! Types the filter does not know (`unknown_types`): refused with a provider-shaped error, judged
//! (a request's as untrusted data, a response's as a tool call named after the type), or passed
//! and counted.

use serde_json::Value;

use super::LocalReply;
use crate::config::Config;
use crate::wire::kinds::{Unknown, UnknownTypes};
use crate::wire::{calls, Format, ProposedCall, Provenance, Text};

fn listed(unknown: &[Unknown]) -> String {
    let mut names: Vec<String> = unknown
        .iter()
        .map(|u| format!("{} `{}`", u.position.name(), u.type_name))
        .collect();
    names.dedup();
    names.truncate(4);
    names.join(", ")
}

/// The reply refusing a body with unknown types: 400 for a request, 502 for an answer.
pub(super) fn refusal(format: Format, unknown: &[Unknown], request: bool) -> LocalReply {
    let (status, whose) = if request {
        (400, "the request holds")
    } else {
        (502, "the upstream response holds")
    };
    let msg = format!(
        "llmfw: {whose} a type the firewall does not know and cannot inspect ({}; \
         unknown_types=refuse)",
        listed(unknown)
    );
    LocalReply {
        status,
        body: format.error_body(&msg, super::CODE_UNKNOWN_TYPE),
        code: super::CODE_UNKNOWN_TYPE,
    }
}

/// A request's unknown values: `Err` to refuse it, else the texts to judge with the others
/// (`inspect_text`: every string of each value as an untrusted tool result, not redactable in
/// place; `pass`: none).
pub(super) fn request_texts(
    config: &Config,
    format: Format,
    body: &Value,
    unknown: &[Unknown],
) -> Result<Vec<Text>, LocalReply> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    match config.unknown_types {
        UnknownTypes::Refuse => Err(refusal(format, unknown, true)),
        UnknownTypes::Pass => Ok(Vec::new()),
        UnknownTypes::InspectText => Ok(unknown
            .iter()
            .filter_map(|u| body.pointer(&u.pointer))
            .map(calls::data_text)
            .filter(|t| !t.is_empty())
            .map(|text| Text {
                provenance: Provenance::ToolResult,
                text,
                pointer: String::new(),
                tool: None,
            })
            .collect()),
    }
}

/// A response's unknown items: `Err` to refuse it, else the calls to judge with the others
/// (`inspect_text`: each item as a call named after its type, at its position).
pub(super) fn response_calls(
    config: &Config,
    format: Format,
    body: &Value,
    unknown: &[Unknown],
) -> Result<Vec<ProposedCall>, LocalReply> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    match config.unknown_types {
        UnknownTypes::Refuse => Err(refusal(format, unknown, false)),
        UnknownTypes::Pass => Ok(Vec::new()),
        UnknownTypes::InspectText => {
            let mut out: Vec<ProposedCall> = Vec::new();
            for u in unknown {
                if out.iter().any(|c| (c.choice, c.index) == u.at) {
                    continue;
                }
                let Some(item) = body.pointer(&u.pointer) else {
                    continue;
                };
                let c = calls::unknown_item(item, &u.type_name);
                out.push(ProposedCall {
                    choice: u.at.0,
                    index: u.at.1,
                    id: item
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    name: c.name,
                    arguments: c.arguments,
                    duplicate_keys: false,
                    defect: None,
                });
            }
            Ok(out)
        }
    }
}

/// The verdict on a call that cannot be judged as read: blocked with the defect as its reason.
pub(super) fn defect_verdict(defect: &'static str) -> crate::tools::policy::PolicyResult {
    crate::tools::policy::PolicyResult {
        verdict: crate::verdict::CallVerdict::new(crate::verdict::Action::Block, defect),
        families: vec![FAMILY_STREAM_FORMS],
        classification: None,
        bound: None,
    }
}

/// Finding family of a call whose stream forms disagree.
pub const FAMILY_STREAM_FORMS: &str = "stream_forms";

/// The uninspected reason of a stream error, if it is one.
pub(super) fn stream_reason(
    e: &crate::wire::stream::StreamError,
) -> Option<crate::metrics::Uninspected> {
    match e {
        crate::wire::stream::StreamError::UnknownType { .. } => {
            Some(crate::metrics::Uninspected::UnknownType)
        }
        crate::wire::stream::StreamError::Unreadable => {
            Some(crate::metrics::Uninspected::UnreadableEvent)
        }
        crate::wire::stream::StreamError::TooLarge { .. } => {
            Some(crate::metrics::Uninspected::TooLarge)
        }
    }
}
