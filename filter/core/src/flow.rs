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
use crate::wire::stream::{self as wstream, StreamFilter};
use crate::wire::{self, Format, ProposedCall, RequestView};

/// Reason given to calls blocked because the state service did not answer (closed mode).
pub const REASON_UNAVAILABLE_CLOSED: &str = "state service unavailable (failure_mode=closed)";
/// Reason given when calls pass because the state service did not answer (open mode).
pub const REASON_UNAVAILABLE_OPEN: &str = "state service unavailable (failure_mode=open)";
/// Reason for calls whose arguments are not JSON.
pub const REASON_UNPARSABLE: &str = "unparsable tool arguments";
/// Error code of a request refused for its content.
pub const CODE_PROMPT_BLOCKED: &str = "llmfw_prompt_blocked";
/// Error code of a request whose body is compressed (`content-encoding` other than identity):
/// the firewall would judge bytes the upstream reads differently, so it refuses them (415).
pub const CODE_UNSUPPORTED_ENCODING: &str = "llmfw_unsupported_encoding";
/// Error code of a request body with a repeated object key: parsers disagree on which value
/// wins, so the firewall and the upstream could read different requests (400).
pub const CODE_AMBIGUOUS_JSON: &str = "llmfw_ambiguous_json";
/// Error code of a 502 for an upstream answer the filter cannot inspect (compressed, or JSON it
/// cannot parse).
pub const CODE_UNINSPECTABLE: &str = "llmfw_uninspectable_response";

/// What the calls of a pending callout live in.
enum Holder {
    /// A parsed JSON response body.
    Body(Value),
    /// The end of a stream: bytes let through from the last chunk, and the held events.
    Stream(Vec<u8>, Box<StreamFilter>),
    /// An MCP request (the calls run only if allowed).
    McpRequest(Value),
}

struct Pending {
    holder: Holder,
    calls: Vec<ProposedCall>,
    stateless: Vec<CallVerdict>,
    /// Indices into `calls` of the events sent, in order.
    sent: Vec<usize>,
    call_ids: Vec<String>,
    failure_mode: FailureMode,
}

/// Findings on request texts carried to the response decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Carried {
    action: Action,
    reasons: Vec<String>,
}

mod callout;
mod steps;
mod texts;

use callout::{findings_summary, service_verdicts, tool_event};
pub use steps::{
    BodyProgress, Callout, CalloutReply, Clock, LocalReply, RequestDecision, RequestHeadersAction,
    ResponseDecision, ResponseHeadersAction, StreamStep,
};
pub use texts::redaction_notice;
use texts::scan_texts;

/// One HTTP exchange.
pub struct Exchange {
    config: Arc<Config>,
    route: Option<Route>,
    headers: HeaderIdentity,
    request_id: Option<String>,
    /// Simulated event time from the replay-clock header (only with `replay_clock: true`).
    replay_now_ms: Option<i64>,
    /// The request's `content-encoding` when it is not identity (the body is refused).
    request_encoding: Option<String>,
    view: RequestView,
    inspect_response: bool,
    pending: Option<Pending>,
    carried: Carried,
    stream: Option<StreamFilter>,
    /// The stream failed (cap): later chunks are dropped.
    stream_dead: bool,
    /// The response is an SSE stream on an MCP route (buffered, events rewritten).
    mcp_sse: bool,
    /// The response is a model stream handled chunk by chunk.
    streaming: bool,
    /// The filter answered the request itself (refused MCP calls, HTTP 200): that reply passes
    /// back through this filter and must not be judged or counted again.
    replied: bool,
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
            replay_now_ms: None,
            request_encoding: None,
            view: RequestView::default(),
            inspect_response: false,
            pending: None,
            carried: Carried::default(),
            stream: None,
            stream_dead: false,
            mcp_sse: false,
            streaming: false,
            replied: false,
        }
    }

    /// True when the response is streamed through [`Exchange::on_response_chunk`].
    pub fn streaming(&self) -> bool {
        self.streaming
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
        self.request_encoding = header(headers, "content-encoding")
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity")
            .map(|v| enforce::header_safe(&v, 64));
        self.replay_now_ms = if self.config.replay_clock {
            header(headers, crate::config::REPLAY_CLOCK_HEADER).and_then(|v| v.trim().parse().ok())
        } else {
            None
        };
        let declared = header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let cap = u64::try_from(self.config.max_body_bytes).unwrap_or(u64::MAX);
        if declared.is_some_and(|n| n > cap) {
            return RequestHeadersAction::Reject(self.too_large("request body"));
        }
        RequestHeadersAction::Inspect {
            remove: vec!["accept-encoding", "content-length"],
        }
    }

    /// The operator claim path to read in the request headers callback, when the config takes the
    /// operator from a JWT claim (`identity.operator_from_jwt`) and the request is inspected.
    pub fn operator_claim_path(&self) -> Option<[&str; 5]> {
        self.route.as_ref()?;
        self.config
            .identity
            .operator_claim
            .as_ref()
            .map(crate::config::JwtClaim::property_path)
    }

    /// The value of the claim at [`Exchange::operator_claim_path`] (`None`: not present).
    pub fn on_operator_claim(&mut self, value: Option<&[u8]>) {
        if self.config.identity.operator_claim.is_some() {
            self.headers.operator = identity::operator_from_claim(value);
        }
    }

    fn too_large(&self, what: &str) -> LocalReply {
        let fmt = self.format();
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
        if let (Some(route), Some(encoding)) = (&self.route, &self.request_encoding) {
            let msg = format!(
                "llmfw: request bodies with content-encoding `{encoding}` cannot be inspected; send them uncompressed"
            );
            return BodyProgress::Reject(LocalReply {
                status: 415,
                body: route.format.error_body(&msg, CODE_UNSUPPORTED_ENCODING),
                code: CODE_UNSUPPORTED_ENCODING,
            });
        }
        self.progress(self.route.is_some(), size, end_of_stream, "request body")
    }

    /// The complete request body: scans its texts (tool results that carry injected instructions
    /// are redacted or block the request, per `detect.tool_result_injection`) and, for MCP,
    /// judges the calls it asks to run.
    pub fn on_request_body(&mut self, body: &[u8], clock: Clock) -> RequestDecision {
        let Some(route) = self.route.clone() else {
            return RequestDecision::Continue;
        };
        let format = route.format;
        let mut value = match wire::parse_body(format, body) {
            Ok(v) => v,
            Err(e) => {
                return RequestDecision::Reply(LocalReply {
                    status: 400,
                    body: format.error_body(&format!("llmfw: {e}"), "llmfw_invalid_json"),
                    code: "llmfw_invalid_json",
                })
            }
        };
        // from_slice accepted it, so it is UTF-8
        if tools::dupkeys::has_duplicate_keys(std::str::from_utf8(body).unwrap_or_default()) {
            return RequestDecision::Reply(LocalReply {
                status: 400,
                body: format.error_body(
                    "llmfw: the request body repeats an object key; send each key once",
                    CODE_AMBIGUOUS_JSON,
                ),
                code: CODE_AMBIGUOUS_JSON,
            });
        }
        self.view = format.request_view(&value);
        let texts = std::mem::take(&mut self.view.texts);
        let scan = scan_texts(&self.config, &texts, None);
        if scan.action >= Action::RequireApproval {
            let msg = format!(
                "llmfw: request blocked by the firewall ({})",
                scan.reasons.join("; ")
            );
            return RequestDecision::Reply(LocalReply {
                status: 400,
                body: format.error_body(&enforce::header_safe(&msg, 1024), CODE_PROMPT_BLOCKED),
                code: CODE_PROMPT_BLOCKED,
            });
        }
        self.carried = Carried {
            action: scan.action,
            reasons: scan.reasons,
        };
        let mut replaced = false;
        for (pointer, rules) in &scan.redact {
            if format.redact(&mut value, pointer, &redaction_notice(rules)) {
                replaced = true;
                self.carry_line(format!("tool result redacted: {}", rules.join(", ")));
            }
        }
        let calls = std::mem::take(&mut self.view.calls);
        if !calls.is_empty() {
            return match self.judge(Holder::McpRequest(value), calls, clock) {
                Ok(callout) => RequestDecision::Callout(callout),
                Err(outcome) => RequestDecision::Decided(outcome),
            };
        }
        if replaced {
            RequestDecision::Replace(value.to_string().into_bytes())
        } else {
            RequestDecision::Continue
        }
    }

    fn carry_line(&mut self, line: String) {
        if !self.carried.reasons.contains(&line) {
            self.carried.reasons.push(line);
        }
        self.carried.action = self.carried.action.max(Action::Warn);
    }

    /// The subject of this exchange.
    pub fn subject(&self) -> Subject {
        identity::resolve(&self.headers, &self.view)
    }

    /// Response headers.
    pub fn on_response_headers(&mut self, headers: &[(String, String)]) -> ResponseHeadersAction {
        self.inspect_response = false;
        let Some(route) = self.route.as_ref().filter(|_| !self.replied) else {
            return ResponseHeadersAction::Pass;
        };
        if header(headers, ":status") != Some("200") {
            return ResponseHeadersAction::Pass;
        }
        let ct = header(headers, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        // Every other 200 answer is buffered and inspected whatever its content type says: an
        // agent may parse a `text/plain` body as JSON, and a mislabelled stream as a stream.
        let sse = ct.starts_with("text/event-stream");
        let encoding = header(headers, "content-encoding")
            .unwrap_or("identity")
            .trim()
            .to_ascii_lowercase();
        if encoding != "identity" && !encoding.is_empty() {
            return ResponseHeadersAction::Reject(uninspectable(route.format, "is compressed"));
        }
        if sse && route.format != Format::Mcp {
            self.stream = Some(StreamFilter::new(route.format, self.config.max_body_bytes));
            self.streaming = true;
            return ResponseHeadersAction::Stream;
        }
        // MCP answers over SSE are short (the messages of one call): buffered, then rewritten
        // event by event.
        self.mcp_sse = sse;
        self.inspect_response = true;
        ResponseHeadersAction::Inspect
    }

    /// Response body callback: `size` is the buffered size so far.
    pub fn response_body_progress(&self, size: usize, end_of_stream: bool) -> BodyProgress {
        self.progress(self.inspect_response, size, end_of_stream, "response body")
    }

    /// The complete response body (JSON, or an MCP SSE answer).
    pub fn on_response_body(&mut self, body: &[u8], clock: Clock) -> ResponseDecision {
        let Some(route) = self.route.clone().filter(|_| self.inspect_response) else {
            return ResponseDecision::Final(self.with_carried(Outcome::allow()));
        };
        if route.format == Format::Mcp {
            let out = if self.mcp_sse {
                texts::mcp_sse_response(&self.config, body)
            } else {
                match wire::parse_body(Format::Mcp, body) {
                    Ok(v) => texts::mcp_json_response(&self.config, v),
                    Err(wire::WireError::InvalidJson(_)) if looks_like_json(body) => {
                        return ResponseDecision::Reject(unreadable_json(route.format));
                    }
                    Err(_) => Outcome::allow(),
                }
            };
            return ResponseDecision::Final(self.with_carried(out));
        }
        let value = match wire::parse_json(body) {
            Ok(v) => v,
            Err(wire::WireError::InvalidJson(_)) if looks_like_json(body) => {
                return ResponseDecision::Reject(unreadable_json(route.format));
            }
            Err(_) => return self.buffered_stream(route.format, body, clock),
        };
        let calls = route.format.proposed_calls(&value);
        if calls.is_empty() {
            return ResponseDecision::Final(self.with_carried(Outcome::allow()));
        }
        match self.judge(Holder::Body(value), calls, clock) {
            Ok(callout) => ResponseDecision::Callout(callout),
            Err(outcome) => ResponseDecision::Final(outcome),
        }
    }

    /// A buffered answer that is not JSON: read as an SSE stream (an upstream may send one under
    /// another content type, and an agent that asked for a stream parses it as one); its calls
    /// are judged like a stream's. Neither JSON nor a stream with calls: it passes.
    fn buffered_stream(&mut self, format: Format, body: &[u8], clock: Clock) -> ResponseDecision {
        let mut stream = StreamFilter::new(format, self.config.max_body_bytes);
        let calls = match stream.feed(body) {
            Ok(pass) => (stream.finish(), pass),
            Err(_) => (Vec::new(), Vec::new()),
        };
        match calls {
            (calls, _) if calls.is_empty() => {
                ResponseDecision::Final(self.with_carried(Outcome::allow()))
            }
            (calls, pass) => match self.judge(Holder::Stream(pass, Box::new(stream)), calls, clock)
            {
                Ok(callout) => ResponseDecision::Callout(callout),
                Err(outcome) => ResponseDecision::Final(outcome),
            },
        }
    }

    /// One chunk of a streamed response (after [`ResponseHeadersAction::Stream`]). Text passes
    /// at once; tool calls are held to the end of the stream and judged there.
    pub fn on_response_chunk(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
        clock: Clock,
    ) -> StreamStep {
        if self.stream_dead {
            return StreamStep::Chunk(Vec::new());
        }
        let Some(mut stream) = self.stream.take() else {
            return StreamStep::Chunk(chunk.to_vec());
        };
        let format = stream.format();
        let mut pass = match stream.feed(chunk) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.stream_dead = true;
                let mut out = Outcome::allow();
                enforce::carry(&mut out, Action::Block, &[e.to_string()]);
                out.body = Some(wstream::error_event(
                    format,
                    &format!("llmfw: {e}"),
                    "llmfw_body_too_large",
                ));
                return StreamStep::Final(out);
            }
        };
        if !end_of_stream {
            self.stream = Some(stream);
            return StreamStep::Chunk(pass);
        }
        let calls = stream.finish();
        if calls.is_empty() {
            pass.extend(stream.release());
            let mut out = self.with_carried(Outcome::allow());
            out.body = Some(with_comment(&out, pass));
            return StreamStep::Final(out);
        }
        match self.judge(Holder::Stream(pass, Box::new(stream)), calls, clock) {
            Ok(callout) => StreamStep::Callout(callout),
            Err(outcome) => StreamStep::Final(outcome),
        }
    }

    /// Judges calls statelessly, then either decides (`Err(outcome)`, no callout needed) or
    /// prepares the one `Evaluate` callout (`Ok`).
    fn judge(
        &mut self,
        holder: Holder,
        calls: Vec<ProposedCall>,
        clock: Clock,
    ) -> Result<Callout, Outcome> {
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
            return Err(self.finalize(holder, &calls, &stateless, None, false));
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
        let subject_operator = subject.operator.clone();
        let request = pb::EvaluateRequest {
            subject: Some(pb::Subject {
                tenant: subject.tenant,
                operator: subject.operator,
                session: subject.session,
            }),
            request_id,
            observed_at_ms: self.replay_now_ms.unwrap_or(clock.now_ms),
            events,
            findings: Some(findings),
            pretext_signals: Vec::new(),
            policy_version: String::new(),
        };
        let callout = Callout {
            authority: identity::operator_hash_key(&subject_operator),
            cluster: state.cluster.clone(),
            service: llmfw_api::SERVICE_NAME,
            method: llmfw_api::EVALUATE_METHOD,
            message: request.encode_to_vec(),
            timeout_ms: state.timeout_ms,
            events: sent.len(),
        };
        self.pending = Some(Pending {
            holder,
            calls,
            stateless,
            sent,
            call_ids,
            failure_mode: state.failure_mode,
        });
        Ok(callout)
    }

    /// True while a callout made for the request (MCP) is pending.
    pub fn awaiting_request_callout(&self) -> bool {
        matches!(
            self.pending,
            Some(Pending {
                holder: Holder::McpRequest(_),
                ..
            })
        )
    }

    /// The callout's result; always final. For a request callout (MCP), `reply` is set when the
    /// request must be answered locally; for a stream, `body` replaces the last chunk.
    pub fn on_callout_reply(&mut self, reply: CalloutReply<'_>) -> Outcome {
        let Some(p) = self.pending.take() else {
            return Outcome::allow();
        };
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
            return self.finalize(p.holder, &p.calls, &verdicts, extra.as_ref(), true);
        };
        let mut verdicts = p.stateless;
        for (&i, sv) in p.sent.iter().zip(service) {
            if let Some(v) = verdicts.get_mut(i) {
                *v = v.clone().merge(sv);
            }
        }
        self.finalize(p.holder, &p.calls, &verdicts, None, false)
    }

    fn format(&self) -> Format {
        self.route.as_ref().map_or(Format::OpenAiChat, |r| r.format)
    }

    /// Applies verdicts to whatever holds the calls.
    fn finalize(
        &mut self,
        holder: Holder,
        calls: &[ProposedCall],
        verdicts: &[CallVerdict],
        extra: Option<&CallVerdict>,
        callout_failed: bool,
    ) -> Outcome {
        let format = self.format();
        let mut out = match holder {
            Holder::Body(body) => {
                let out = enforce::enforce(format, body, calls, verdicts, extra);
                self.with_carried(out)
            }
            Holder::Stream(mut pass, mut stream) => {
                let (out, removals) = enforce::plan(calls, verdicts, extra);
                let mut out = self.with_carried(out);
                if removals.is_empty() {
                    pass.extend(stream.release());
                } else {
                    pass.extend(stream.rewrite(&removals));
                }
                out.body = Some(with_comment(&out, pass));
                out
            }
            Holder::McpRequest(request) => {
                let (out, removals) = enforce::plan(calls, verdicts, extra);
                let mut out = self.with_carried(out);
                if !removals.is_empty() {
                    let refusals: Vec<(usize, String)> = removals
                        .into_iter()
                        .map(|r| (r.choice, r.refusal))
                        .collect();
                    self.replied = true;
                    out.reply = Some(LocalReply {
                        status: 200,
                        body: wire::mcp::refusal_reply(&request, &refusals),
                        code: "llmfw_tool_call_blocked",
                    });
                }
                // The response (if the request goes on) carries this decision too.
                let reasons: Vec<String> = out
                    .headers
                    .iter()
                    .filter(|(k, _)| *k == enforce::HEADER_REASONS)
                    .map(|(_, v)| v.clone())
                    .collect();
                self.carried = Carried {
                    action: out.action,
                    reasons,
                };
                out
            }
        };
        out.callout_failed = callout_failed;
        out
    }

    /// Raises an outcome by what the request's texts showed.
    fn with_carried(&self, mut out: Outcome) -> Outcome {
        enforce::carry(&mut out, self.carried.action, &self.carried.reasons);
        out
    }
}

/// A stream cannot change its headers any more: a non-allow decision is put in front of the last
/// chunk as an SSE comment (`: llmfw decision=warn reasons=…`), which every SSE client ignores.
/// The 502 for an upstream answer the filter cannot inspect (`what` it is).
fn uninspectable(format: Format, what: &str) -> LocalReply {
    LocalReply {
        status: 502,
        body: format.error_body(
            &format!("llmfw: the upstream response {what} and cannot be inspected"),
            CODE_UNINSPECTABLE,
        ),
        code: CODE_UNINSPECTABLE,
    }
}

/// JSON serde cannot read (invalid, or nested past its depth limit) may still be read by a
/// client's parser, tool calls and all: the answer is refused (fail closed).
fn unreadable_json(format: Format) -> LocalReply {
    uninspectable(
        format,
        "is JSON the firewall cannot parse (invalid, or nested too deep)",
    )
}

/// True when the first non-blank byte opens a JSON object or array.
fn looks_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

fn with_comment(out: &Outcome, body: Vec<u8>) -> Vec<u8> {
    if out.action == Action::Allow {
        return body;
    }
    let reasons = out
        .headers
        .iter()
        .find(|(k, _)| *k == enforce::HEADER_REASONS)
        .map_or("", |(_, v)| v.as_str());
    let mut bytes = format!(
        ": llmfw decision={} reasons={reasons}\n\n",
        out.action.as_str()
    )
    .into_bytes();
    bytes.extend(body);
    bytes
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "flow/bad_input_tests.rs"]
mod bad_input_tests;
