//! The engine's one proto edge: `llmfw.state.v1` messages in, [`Evaluation`] out, and a
//! [`Verdict`] back into the reply. The state service's gRPC module and the offline evaluation
//! (`llmfw-eval`) both go through these functions, so a campaign scored offline is converted
//! exactly as the service converts it.

use llmfw_api::v1;
use sha2::{Digest, Sha256};

use crate::{Action, Evaluation, Phase, Subject, Target, ToolEvent, Verdict};

/// A request the engine cannot evaluate; the service answers `INVALID_ARGUMENT` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

fn invalid(msg: impl Into<String>) -> InvalidRequest {
    InvalidRequest(msg.into())
}

/// Normalises a target value: trimmed; hosts, IPs and URLs lowercased, trailing dot dropped.
fn normalise_target(t: &v1::Target) -> Option<Target> {
    let v1::Target {
        value,
        kind,
        in_scope,
    } = t;
    let mut value = value.trim().to_string();
    if value.is_empty() {
        return None;
    }
    let kind = v1::TargetKind::try_from(*kind).unwrap_or(v1::TargetKind::Unspecified);
    if matches!(
        kind,
        v1::TargetKind::Host
            | v1::TargetKind::Ip
            | v1::TargetKind::Url
            | v1::TargetKind::Unspecified
    ) {
        value = value.to_ascii_lowercase();
        if kind == v1::TargetKind::Host {
            while value.ends_with('.') {
                value.pop();
            }
        }
    }
    Some(Target {
        value,
        in_scope: *in_scope,
        local: matches!(kind, v1::TargetKind::Path | v1::TargetKind::Database),
    })
}

fn phase_from_proto(p: i32) -> Option<Phase> {
    Phase::from_number(i64::from(p))
}

fn phase_to_proto(p: Option<Phase>) -> i32 {
    p.map_or(v1::Phase::Unknown as i32, |p| i32::from(p.number()))
}

fn action_to_proto(a: Action) -> i32 {
    (match a {
        Action::Allow => v1::Action::Allow,
        Action::Warn => v1::Action::Warn,
        Action::RequireApproval => v1::Action::RequireApproval,
        Action::Block => v1::Action::Block,
    }) as i32
}

/// Converts a request into the engine's input. Empty call ids become `#<index>`; a repeated call
/// id gets `#<index>` appended so each event is stored once.
pub fn evaluation_from_proto(req: v1::EvaluateRequest) -> Result<Evaluation, InvalidRequest> {
    let v1::EvaluateRequest {
        subject,
        request_id,
        observed_at_ms,
        events,
        findings: _,
        pretext_signals,
        policy_version,
    } = req;
    let v1::Subject {
        tenant,
        operator,
        session,
    } = subject
        .ok_or_else(|| invalid("subject is required (subject.operator identifies the campaign)"))?;
    let operator = operator.trim().to_string();
    if operator.is_empty() {
        return Err(invalid("subject.operator is required"));
    }
    let mut out = Evaluation {
        subject: Subject {
            tenant,
            operator,
            session,
        },
        request_id,
        observed_at_ms,
        events: Vec::with_capacity(events.len()),
        pretexts: pretext_signals,
        policy_version,
    };
    for (i, ev) in events.into_iter().enumerate() {
        let v1::ToolEvent {
            call_id,
            tool,
            category,
            phase,
            targets,
            args_digest,
            direction: _,
            arguments_json,
        } = ev;
        // shown to the human deciding an approval only when it is the call the digest binds
        let arguments = if !arguments_json.is_empty()
            && arguments_json.len() <= MAX_ARGUMENTS_JSON
            && hex::encode(Sha256::digest(arguments_json.as_bytes())) == args_digest
        {
            Some(arguments_json)
        } else {
            None
        };
        let mut call_id = if call_id.is_empty() {
            format!("#{i}")
        } else {
            call_id
        };
        if out.events.iter().any(|e| e.call_id == call_id) {
            call_id = format!("{call_id}#{i}");
        }
        let mut ts: Vec<Target> = Vec::new();
        for t in targets.iter().filter_map(normalise_target) {
            match ts.iter_mut().find(|x| x.value == t.value) {
                Some(x) => x.in_scope &= t.in_scope,
                None => ts.push(t),
            }
        }
        out.events.push(ToolEvent {
            call_id,
            tool,
            category,
            phase: phase_from_proto(phase),
            targets: ts,
            args_digest,
            arguments,
        });
    }
    if !out.events.is_empty() && out.request_id.trim().is_empty() {
        return Err(invalid("request_id is required when events are present"));
    }
    Ok(out)
}

/// Longest canonical arguments kept with an approval (the filter sends at most this much).
const MAX_ARGUMENTS_JSON: usize = 4096;

/// Converts a verdict into the reply.
pub fn response_from_verdict(v: &Verdict) -> v1::EvaluateResponse {
    v1::EvaluateResponse {
        action: action_to_proto(v.action),
        risk: v.risk,
        max_phase: phase_to_proto(v.max_phase),
        reasons: v.reasons.clone(),
        approval_id: v.approval_id.clone().unwrap_or_default(),
        budgets: v
            .budgets
            .iter()
            .map(|b| v1::BudgetState {
                category: b.name.clone(),
                used: b.used,
                limit: b.limit,
            })
            .collect(),
        verdicts: v
            .events
            .iter()
            .map(|e| v1::EventVerdict {
                call_id: e.call_id.clone(),
                action: action_to_proto(e.action),
                reasons: e.reasons.clone(),
                approval_id: e.approval_id.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(operator: &str) -> v1::EvaluateRequest {
        v1::EvaluateRequest {
            subject: Some(v1::Subject {
                operator: operator.into(),
                ..Default::default()
            }),
            request_id: "r".into(),
            events: vec![
                v1::ToolEvent {
                    tool: "nmap".into(),
                    targets: vec![
                        v1::Target {
                            value: " Corp-A.Example.com. ".into(),
                            kind: v1::TargetKind::Host as i32,
                            in_scope: false,
                        },
                        v1::Target {
                            value: "/etc/passwd".into(),
                            kind: v1::TargetKind::Path as i32,
                            in_scope: false,
                        },
                        v1::Target {
                            value: "".into(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                v1::ToolEvent {
                    call_id: "#0".into(),
                    tool: "x".into(),
                    phase: 3,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn converts_and_normalises() {
        let e = evaluation_from_proto(req("op")).unwrap();
        assert_eq!(e.events[0].call_id, "#0");
        assert_eq!(e.events[1].call_id, "#0#1");
        assert_eq!(
            e.events[0].targets,
            vec![
                Target {
                    value: "corp-a.example.com".into(),
                    in_scope: false,
                    local: false,
                },
                Target {
                    value: "/etc/passwd".into(),
                    in_scope: false,
                    local: true,
                }
            ]
        );
        assert_eq!(e.events[1].phase, Some(Phase::Lateral));
    }

    #[test]
    fn arguments_are_kept_only_when_they_hash_to_the_digest() {
        let args = r#"{"host":"10.0.0.5","user":"root"}"#;
        let digest = hex::encode(Sha256::digest(args.as_bytes()));
        let with = |arguments_json: &str, args_digest: &str| {
            let mut r = req("op");
            r.events[0].arguments_json = arguments_json.into();
            r.events[0].args_digest = args_digest.into();
            evaluation_from_proto(r).unwrap().events[0]
                .arguments
                .clone()
        };
        assert_eq!(with(args, &digest).as_deref(), Some(args));
        assert_eq!(with(r#"{"host":"10.0.0.6","user":"root"}"#, &digest), None);
        assert_eq!(with("", &digest), None);
        let long = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_ARGUMENTS_JSON));
        let long_digest = hex::encode(Sha256::digest(long.as_bytes()));
        assert_eq!(with(&long, &long_digest), None);
    }

    #[test]
    fn missing_operator_is_invalid() {
        let e = evaluation_from_proto(req(" ")).unwrap_err();
        assert!(e.0.contains("subject.operator"), "{e}");
        let mut r = req("op");
        r.subject = None;
        assert!(evaluation_from_proto(r).is_err());
    }
}
