//! The per-exchange state machine: the adapter feeds it headers, bodies and the callout reply; it
//! answers with what to do. Time and the context id come in as arguments; nothing here talks to a
//! host.
//!
//! Order of calls (all optional past the first that returns "pass"):
//! `on_request_headers` → `request_body_progress`* → `on_request_body` → `on_response_headers` →
//! `response_body_progress`* → `on_response_body` → (`on_callout_reply` if it asked for a callout).

use std::sync::Arc;

use llmfw_api::v1 as pb;
use prost::Message;
use serde_json::Value;

use crate::config::{Config, FailureMode, Route};
use crate::enforce::{self, Outcome};
use crate::identity::{self, HeaderIdentity, Subject};
use crate::tools;
use crate::verdict::{Action, CallVerdict};
use crate::wire::{self, ProposedCall, RequestView};

/// Reason given to calls blocked because the state service did not answer (closed mode).
pub const REASON_UNAVAILABLE_CLOSED: &str = "state service unavailable (failure_mode=closed)";
/// Reason given when calls pass because the state service did not answer (open mode).
pub const REASON_UNAVAILABLE_OPEN: &str = "state service unavailable (failure_mode=open)";
/// Reason for calls whose arguments are not JSON.
pub const REASON_UNPARSABLE: &str = "unparsable tool arguments";

/// A locally generated reply (the upstream is not called / its answer is discarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status.
    pub status: u32,
    /// Body in the provider's error format.
    pub body: Vec<u8>,
    /// Short machine code (also in the body), for logs.
    pub code: &'static str,
}

/// What to do after request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHeadersAction {
    /// Not an inspected route: pass everything untouched.
    Pass,
    /// Inspected: remove these request headers, then continue (the body will be inspected).
    Inspect {
        /// Headers to remove (`accept-encoding`, so the response comes back readable).
        remove: Vec<&'static str>,
    },
}

/// Progress of body buffering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyProgress {
    /// Not inspected: continue.
    Pass,
    /// Keep buffering (pause).
    Wait,
    /// The full body is buffered: read it and hand it over.
    Ready,
    /// Too large: send this reply.
    Reject(LocalReply),
}

/// What to do after response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseHeadersAction {
    /// Not inspected: continue.
    Pass,
    /// Inspect: remove `content-length` and hold the headers until the body is decided.
    Inspect,
    /// Cannot be inspected (e.g. compressed): reply with this instead.
    Reject(LocalReply),
}

/// A gRPC call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// Envoy cluster.
    pub cluster: String,
    /// Fully-qualified service name.
    pub service: &'static str,
    /// Method name.
    pub method: &'static str,
    /// Encoded `EvaluateRequest`.
    pub message: Vec<u8>,
    /// Timeout in milliseconds.
    pub timeout_ms: u64,
    /// Number of events in the request (for logs).
    pub events: usize,
}

/// What to do with a complete response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseDecision {
    /// Decided without the state service.
    Final(Outcome),
    /// Ask the state service, then call [`Exchange::on_callout_reply`].
    Callout(Callout),
}

/// How the callout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalloutReply<'a> {
    /// gRPC status 0 with this message body.
    Ok(&'a [u8]),
    /// Dispatch failed, or non-zero gRPC status (14 for timeouts and dead services).
    Failed,
}

/// Facts the adapter provides with the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Host time, Unix milliseconds.
    pub now_ms: i64,
    /// Envoy context id of the stream (for a fallback request id).
    pub context_id: u32,
}

struct Pending {
    body: Value,
    calls: Vec<ProposedCall>,
    stateless: Vec<CallVerdict>,
    /// Indices into `calls` of the events sent, in order.
    sent: Vec<usize>,
    call_ids: Vec<String>,
    failure_mode: FailureMode,
}

/// One HTTP exchange.
pub struct Exchange {
    config: Arc<Config>,
    route: Option<Route>,
    headers: HeaderIdentity,
    request_id: Option<String>,
    view: RequestView,
    inspect_response: bool,
    pending: Option<Pending>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Exchange {
    /// A new exchange under a compiled config.
    pub fn new(config: Arc<Config>) -> Exchange {
        Exchange {
            config,
            route: None,
            headers: HeaderIdentity::default(),
            request_id: None,
            view: RequestView::default(),
            inspect_response: false,
            pending: None,
        }
    }

    /// True when the request matched an inspected route.
    pub fn inspected(&self) -> bool {
        self.route.is_some()
    }

    /// Request headers (all of them, as the host gives them, pseudo-headers included).
    pub fn on_request_headers(&mut self, headers: &[(String, String)]) -> RequestHeadersAction {
        let path = header(headers, ":path").unwrap_or("");
        self.route = self.config.route_for(path).cloned();
        if self.route.is_none() {
            return RequestHeadersAction::Pass;
        }
        self.headers = identity::from_headers(&self.config.identity, headers);
        self.request_id = header(headers, "x-request-id")
            .map(|s| enforce::header_safe(s.trim(), 128))
            .filter(|s| !s.is_empty());
        RequestHeadersAction::Inspect {
            remove: vec!["accept-encoding"],
        }
    }

    fn too_large(&self, what: &str) -> LocalReply {
        let fmt = self
            .route
            .as_ref()
            .map_or(wire::Format::OpenAiChat, |r| r.format);
        let msg = format!(
            "{what} exceeds the firewall limit of {} bytes",
            self.config.max_body_bytes
        );
        LocalReply {
            status: 413,
            body: fmt.error_body(&msg, "llmfw_body_too_large"),
            code: "llmfw_body_too_large",
        }
    }

    fn progress(&self, active: bool, size: usize, end_of_stream: bool, what: &str) -> BodyProgress {
        if !active {
            BodyProgress::Pass
        } else if size > self.config.max_body_bytes {
            BodyProgress::Reject(self.too_large(what))
        } else if end_of_stream {
            BodyProgress::Ready
        } else {
            BodyProgress::Wait
        }
    }

    /// Request body callback: `size` is the buffered size so far.
    pub fn request_body_progress(&self, size: usize, end_of_stream: bool) -> BodyProgress {
        self.progress(self.route.is_some(), size, end_of_stream, "request body")
    }

    /// The complete request body: `Ok` to continue, `Err` to reply locally (400).
    pub fn on_request_body(&mut self, body: &[u8]) -> Result<(), LocalReply> {
        let Some(route) = &self.route else {
            return Ok(());
        };
        match wire::parse_json(body) {
            Ok(v) => {
                self.view = route.format.request_view(&v);
                Ok(())
            }
            Err(e) => Err(LocalReply {
                status: 400,
                body: route
                    .format
                    .error_body(&format!("llmfw: {e}"), "llmfw_invalid_json"),
                code: "llmfw_invalid_json",
            }),
        }
    }

    /// The subject of this exchange.
    pub fn subject(&self) -> Subject {
        identity::resolve(&self.headers, &self.view)
    }

    /// Response headers.
    pub fn on_response_headers(&mut self, headers: &[(String, String)]) -> ResponseHeadersAction {
        self.inspect_response = false;
        let Some(route) = &self.route else {
            return ResponseHeadersAction::Pass;
        };
        if header(headers, ":status") != Some("200") {
            return ResponseHeadersAction::Pass;
        }
        let ct = header(headers, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.contains("json") {
            // SSE and other types are out of this slice.
            return ResponseHeadersAction::Pass;
        }
        let encoding = header(headers, "content-encoding")
            .unwrap_or("identity")
            .trim()
            .to_ascii_lowercase();
        if encoding != "identity" && !encoding.is_empty() {
            return ResponseHeadersAction::Reject(LocalReply {
                status: 502,
                body: route.format.error_body(
                    "llmfw: the upstream response is compressed and cannot be inspected",
                    "llmfw_uninspectable_response",
                ),
                code: "llmfw_uninspectable_response",
            });
        }
        self.inspect_response = true;
        ResponseHeadersAction::Inspect
    }

    /// Response body callback: `size` is the buffered size so far.
    pub fn response_body_progress(&self, size: usize, end_of_stream: bool) -> BodyProgress {
        self.progress(self.inspect_response, size, end_of_stream, "response body")
    }

    /// The complete response body.
    pub fn on_response_body(&mut self, body: &[u8], clock: Clock) -> ResponseDecision {
        let Some(route) = self.route.clone().filter(|_| self.inspect_response) else {
            return ResponseDecision::Final(Outcome::allow());
        };
        // Not JSON: the agent cannot read tool calls out of it either; pass it on.
        let Ok(value) = wire::parse_json(body) else {
            return ResponseDecision::Final(Outcome::allow());
        };
        let calls = route.format.proposed_calls(&value);
        if calls.is_empty() {
            return ResponseDecision::Final(Outcome::allow());
        }
        let mut stateless = Vec::with_capacity(calls.len());
        let mut events = Vec::new();
        let mut sent = Vec::new();
        let mut families: Vec<&'static str> = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            let policy = tools::policy::check(
                &self.config,
                tools::policy::CallInput {
                    name: &call.name,
                    arguments: &call.arguments,
                    duplicate_keys: call.duplicate_keys,
                },
            );
            let blocked = policy.verdict.action == Action::Block;
            for f in policy.families {
                if !families.contains(&f) {
                    families.push(f);
                }
            }
            stateless.push(policy.verdict);
            let args = match &call.arguments {
                Ok(a) if !blocked => a,
                _ => continue,
            };
            events.push(tool_event(&self.config, call, args));
            sent.push(i);
        }
        let Some(state) = self
            .config
            .state_service
            .clone()
            .filter(|_| !events.is_empty())
        else {
            let verdicts = stateless;
            return ResponseDecision::Final(enforce::enforce(
                route.format,
                value,
                &calls,
                &verdicts,
                None,
            ));
        };
        let findings = findings_summary(&stateless, &families);
        let subject = self.subject();
        let request_id = self
            .request_id
            .clone()
            .unwrap_or_else(|| format!("llmfw-{:x}-{}", clock.context_id, clock.now_ms));
        let call_ids = sent
            .iter()
            .filter_map(|&i| calls.get(i))
            .map(|c| c.id.clone())
            .collect();
        let request = pb::EvaluateRequest {
            subject: Some(pb::Subject {
                tenant: subject.tenant,
                operator: subject.operator,
                session: subject.session,
            }),
            request_id,
            observed_at_ms: clock.now_ms,
            events,
            findings: Some(findings),
            pretext_signals: Vec::new(),
            policy_version: String::new(),
        };
        let callout = Callout {
            cluster: state.cluster.clone(),
            service: llmfw_api::SERVICE_NAME,
            method: llmfw_api::EVALUATE_METHOD,
            message: request.encode_to_vec(),
            timeout_ms: state.timeout_ms,
            events: sent.len(),
        };
        self.pending = Some(Pending {
            body: value,
            calls,
            stateless,
            sent,
            call_ids,
            failure_mode: state.failure_mode,
        });
        ResponseDecision::Callout(callout)
    }

    /// The callout's result; always final.
    pub fn on_callout_reply(&mut self, reply: CalloutReply<'_>) -> Outcome {
        let Some(p) = self.pending.take() else {
            return Outcome::allow();
        };
        let format = self
            .route
            .as_ref()
            .map_or(wire::Format::OpenAiChat, |r| r.format);
        let decoded = match reply {
            CalloutReply::Ok(bytes) => pb::EvaluateResponse::decode(bytes).ok(),
            CalloutReply::Failed => None,
        };
        let service = decoded.and_then(|r| service_verdicts(&r, &p.call_ids));
        let Some(service) = service else {
            // Failure: closed blocks every call sent; open passes them with a warning.
            let mut verdicts = p.stateless;
            let extra = match p.failure_mode {
                FailureMode::Closed => {
                    for &i in &p.sent {
                        if let Some(v) = verdicts.get_mut(i) {
                            *v = v
                                .clone()
                                .merge(CallVerdict::new(Action::Block, REASON_UNAVAILABLE_CLOSED));
                        }
                    }
                    None
                }
                FailureMode::Open => Some(CallVerdict::new(Action::Warn, REASON_UNAVAILABLE_OPEN)),
            };
            let mut out = enforce::enforce(format, p.body, &p.calls, &verdicts, extra.as_ref());
            out.callout_failed = true;
            return out;
        };
        let mut verdicts = p.stateless;
        for (&i, sv) in p.sent.iter().zip(service) {
            if let Some(v) = verdicts.get_mut(i) {
                *v = v.clone().merge(sv);
            }
        }
        enforce::enforce(format, p.body, &p.calls, &verdicts, None)
    }
}

fn tool_event(config: &Config, call: &ProposedCall, args: &Value) -> pb::ToolEvent {
    let class = tools::classify(config, &call.name, args);
    let targets = class
        .targets
        .into_iter()
        .map(|t| pb::Target {
            value: t.value,
            kind: t.kind as i32,
            in_scope: t.in_scope,
        })
        .collect();
    pb::ToolEvent {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        category: class.category,
        phase: class.phase as i32,
        targets,
        args_digest: tools::args_digest(args),
        direction: pb::Direction::Proposed as i32,
    }
}

fn findings_summary(stateless: &[CallVerdict], families: &[&str]) -> pb::FindingsSummary {
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
fn service_verdicts(resp: &pb::EvaluateResponse, call_ids: &[String]) -> Option<Vec<CallVerdict>> {
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

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
