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

use crate::config::{Config, FailureMode, Route, RouteChoice};
use crate::enforce::{self, Outcome};
use crate::identity::{self, HeaderIdentity, Subject};
use crate::metrics::Uninspected;
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
/// Error code of a request whose path matches no inspected route while `unmatched_path` is
/// `refuse` (404).
pub const CODE_UNMATCHED_PATH: &str = "llmfw_unmatched_path";
/// Error code of a 502 for an upstream answer the filter cannot inspect (compressed, or JSON it
/// cannot parse).
pub const CODE_UNINSPECTABLE: &str = "llmfw_uninspectable_response";
/// Error code of a request (400), an answer (502) or a stream (error event) refused because it
/// holds an item, block, part, role or event of a type the filter does not know
/// (`unknown_types: refuse`).
pub const CODE_UNKNOWN_TYPE: &str = "llmfw_unknown_type";

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
pub mod coverage;
mod mcp;
mod reply_text;
mod steps;
mod texts;
mod unknown;

use callout::{findings_summary, service_verdicts, tool_event};
pub use coverage::Coverage;
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
    /// The response is an SSE stream on an MCP route: judged event by event as it arrives.
    mcp_stream: Option<mcp::McpStream>,
    /// The response is a model stream handled chunk by chunk.
    streaming: bool,
    /// The filter answered the request itself (refused MCP calls, HTTP 200): that reply passes
    /// back through this filter and must not be judged or counted again.
    replied: bool,
    /// The model's answer text: what was redacted in it.
    reply: reply_text::ReplyText,
    /// What was inspected and what was not (passed, refused), for the log and the counters.
    coverage: Coverage,
    /// Calls escalated because an analyser stopped at a bound, not yet taken by the adapter.
    bounded_calls: u32,
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
            mcp_stream: None,
            streaming: false,
            replied: false,
            reply: reply_text::ReplyText::default(),
            coverage: Coverage::default(),
            bounded_calls: 0,
        }
    }

    /// Calls judged since the last call of this method whose arguments an analyser did not read
    /// to the end (they were escalated by `tools.analysis_bound`); the adapter counts them in
    /// [`crate::metrics::UNINSPECTED_ARGUMENTS`].
    pub fn take_bounded_calls(&mut self) -> u32 {
        std::mem::take(&mut self.bounded_calls)
    }

    /// MCP stream events redacted or withheld since the last call (for
    /// [`crate::metrics::STREAM_EVENT_NEUTRALISED`], counted while the stream lives).
    pub fn take_neutralised_events(&mut self) -> u32 {
        self.mcp_stream
            .as_mut()
            .map_or(0, |m| std::mem::take(&mut m.neutralised))
    }

    /// The decision of an MCP stream that ended without its last chunk (the client went away, or
    /// Envoy reset the stream): the strictest action of the events judged so far, once; `None`
    /// when the stream ended normally (its decision was in [`StreamStep::Final`]) or is no MCP
    /// stream. The adapter counts it at the end of the HTTP stream, so a GET notification stream
    /// that the client closes is counted too.
    pub fn take_cut_stream_decision(&mut self) -> Option<Action> {
        if self.stream_dead {
            return None;
        }
        let action = self.mcp_stream.as_ref()?.outcome().action;
        self.stream_dead = true;
        Some(action)
    }

    /// True when the response is streamed through [`Exchange::on_response_chunk`].
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// The coverage record so far: what was inspected and what was not (log it at the end).
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// True when the request matched an inspected route.
    pub fn inspected(&self) -> bool {
        self.route.is_some()
    }

    /// Request headers (all of them, as the host gives them, pseudo-headers included).
    pub fn on_request_headers(&mut self, headers: &[(String, String)]) -> RequestHeadersAction {
        let path = header(headers, ":path").unwrap_or("");
        self.route = match self.config.routes.choose(path) {
            RouteChoice::Inspect(route) => Some(route.clone()),
            RouteChoice::InspectAs(format) => Some(Route {
                path: crate::config::PathMatch::Prefix("/".to_owned()),
                format,
            }),
            RouteChoice::Pass => return RequestHeadersAction::Pass,
            RouteChoice::Refuse => {
                let format = self.config.routes.refusal_format();
                let msg = "llmfw: this path is not an LLM API route the firewall inspects \
                           (unmatched_path=refuse); use one of the configured routes";
                return RequestHeadersAction::Reject(LocalReply {
                    status: 404,
                    body: format.error_body(msg, CODE_UNMATCHED_PATH),
                    code: CODE_UNMATCHED_PATH,
                });
            }
        };
        if let Some(route) = &self.route {
            self.coverage = Coverage::start(&self.config, route.format);
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
            let reply = self.too_large("request body");
            self.coverage.refuse(reply.code);
            return RequestHeadersAction::Reject(reply);
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
        let mut texts = std::mem::take(&mut self.view.texts);
        self.coverage.unknown(self.view.unknown.len());
        match unknown::request_texts(&self.config, format, &value, &self.view.unknown) {
            Ok(more) => texts.extend(more),
            Err(reply) => {
                self.coverage.refuse(reply.code);
                return RequestDecision::Reply(reply);
            }
        }
        self.coverage.texts(&texts);
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
        let status: u16 = header(headers, ":status")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // Every 2xx is read by the SDKs as an answer, so every 2xx is inspected. Other statuses:
        // the LLM SDKs raise an error without reading content or tool calls from the body, so it
        // passes; an MCP client reads a JSON-RPC error (its `message` can reach the model) from
        // any status, so on MCP routes every answer with a body is inspected.
        let inspected = (200..300).contains(&status) || route.format == Format::Mcp;
        if !inspected {
            return ResponseHeadersAction::Pass;
        }
        let ct = header(headers, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        // Every other answer is buffered and inspected whatever its content type says: an
        // agent may parse a `text/plain` body as JSON, and a mislabelled stream as a stream.
        let sse = ct.starts_with("text/event-stream");
        let encoding = header(headers, "content-encoding")
            .unwrap_or("identity")
            .trim()
            .to_ascii_lowercase();
        if encoding != "identity" && !encoding.is_empty() {
            let reply = uninspectable(route.format, "is compressed");
            self.coverage.refuse(reply.code);
            return ResponseHeadersAction::Reject(reply);
        }
        if sse && route.format != Format::Mcp {
            self.stream = Some(
                StreamFilter::new(route.format, self.config.max_body_bytes)
                    .with_unknown_types(self.config.unknown_types),
            );
            let format = route.format;
            self.reply_stream(format);
            self.streaming = true;
            return ResponseHeadersAction::Stream;
        }
        // MCP over SSE: each event is judged and forwarded as it completes (a server may wait
        // for the client's answer inside the stream, and the GET stream lasts a session).
        if sse {
            self.mcp_stream = Some(mcp::McpStream::new(self.config.max_body_bytes));
            self.streaming = true;
            return ResponseHeadersAction::Stream;
        }
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
            let out = match wire::parse_body(Format::Mcp, body) {
                Ok(v) => {
                    let (out, units) = mcp::json_response(&self.config, v);
                    self.coverage.units(units);
                    out
                }
                Err(wire::WireError::InvalidJson(_)) if looks_like_json(body) => {
                    return ResponseDecision::Reject(unreadable_json(route.format));
                }
                // Not JSON: read as an SSE stream all the same (a mislabelled stream), every
                // event judged; anything else passes unchanged.
                Err(_) => {
                    let mut stream = mcp::McpStream::new(self.config.max_body_bytes);
                    let step = stream.feed(&self.config, body, true);
                    let mut out = stream.outcome();
                    self.coverage.units(stream.units);
                    if let Some(code) = stream.ended {
                        self.coverage.refuse_stream(code);
                    }
                    if step.bytes != body {
                        out.body = Some(step.bytes);
                    }
                    out
                }
            };
            return ResponseDecision::Final(self.with_carried(out));
        }
        let mut value = match wire::parse_json(body) {
            Ok(v) => v,
            Err(wire::WireError::InvalidJson(_)) if looks_like_json(body) => {
                let reply = unreadable_json(route.format);
                self.coverage.refuse(reply.code);
                return ResponseDecision::Reject(reply);
            }
            Err(_) => return self.buffered_stream(route.format, body, clock),
        };
        self.reply.redactions =
            reply_text::redact_json(&self.config.detect, route.format, &mut value);
        let view = route.format.response_view(&value);
        let mut calls = view.calls;
        self.coverage.unknown(view.unknown.len());
        match unknown::response_calls(&self.config, route.format, &value, &view.unknown) {
            Ok(more) => calls.extend(more),
            Err(reply) => {
                self.coverage.refuse(reply.code);
                return ResponseDecision::Reject(reply);
            }
        }
        if calls.is_empty() {
            let mut out = self.with_carried(Outcome::allow());
            if out.redacted > 0 {
                out.body = Some(value.to_string().into_bytes());
            }
            return ResponseDecision::Final(out);
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
        let mut stream = StreamFilter::new(format, self.config.max_body_bytes)
            .with_unknown_types(self.config.unknown_types);
        self.reply_stream(format);
        let calls = match stream.feed(body) {
            Ok(pass) => (stream.finish(), pass),
            Err(_) => (Vec::new(), Vec::new()),
        };
        if let Some(e) = stream.error() {
            self.coverage.refused = Some(e.code());
            if let Some(r) = unknown::stream_reason(e) {
                self.coverage.uninspected.insert(r);
            }
            return ResponseDecision::Reject(stream_refusal(format, e));
        }
        if stream.saw_unknown() {
            self.coverage.unknown(1);
        }
        match calls {
            (calls, mut pass) if calls.is_empty() => {
                pass.extend(stream.release());
                match self.reply_bytes(pass, true) {
                    Ok(bytes) => {
                        let mut out = self.with_carried(Outcome::allow());
                        out.body = (out.redacted > 0).then_some(bytes);
                        ResponseDecision::Final(out)
                    }
                    Err(e) => ResponseDecision::Final(self.reply_refused(e)),
                }
            }
            (calls, pass) => match self.reply_bytes(pass, false) {
                Err(e) => ResponseDecision::Final(self.reply_refused(e)),
                Ok(pass) => {
                    match self.judge(Holder::Stream(pass, Box::new(stream)), calls, clock) {
                        Ok(callout) => ResponseDecision::Callout(callout),
                        Err(outcome) => ResponseDecision::Final(outcome),
                    }
                }
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
        if let Some(mcp) = self.mcp_stream.as_mut() {
            let step = mcp.feed(&self.config, chunk, end_of_stream);
            if !(step.ended || end_of_stream) {
                return StreamStep::Chunk(step.bytes);
            }
            let outcome = mcp.outcome();
            self.coverage.units(mcp.units);
            if let Some(code) = mcp.ended {
                self.coverage.refuse_stream(code);
            }
            self.stream_dead = true;
            let mut out = self.with_carried(outcome);
            out.body = Some(step.bytes);
            return StreamStep::Final(out);
        }
        let Some(mut stream) = self.stream.take() else {
            return StreamStep::Chunk(chunk.to_vec());
        };
        let mut pass = match stream.feed(chunk) {
            Ok(bytes) => bytes,
            Err(e) => return self.end_stream(&mut stream, &e, Vec::new()),
        };
        if !end_of_stream {
            self.stream = Some(stream);
            return match self.reply_bytes(pass, false) {
                Ok(bytes) => StreamStep::Chunk(bytes),
                Err(e) => self.reply_failed(e),
            };
        }
        let calls = stream.finish();
        if stream.saw_unknown() {
            self.coverage.unknown(1);
        }
        if let Some(e) = stream.error().cloned() {
            return self.end_stream(&mut stream, &e, pass);
        }
        if calls.is_empty() {
            pass.extend(stream.release());
        }
        let pass = match self.reply_bytes(pass, calls.is_empty()) {
            Ok(bytes) => bytes,
            Err(e) => return self.reply_failed(e),
        };
        if calls.is_empty() {
            let mut out = self.with_carried(Outcome::allow());
            out.body = Some(with_comment(&out, pass));
            return StreamStep::Final(out);
        }
        match self.judge(Holder::Stream(pass, Box::new(stream)), calls, clock) {
            Ok(callout) => StreamStep::Callout(callout),
            Err(outcome) => StreamStep::Final(outcome),
        }
    }

    /// Ends a stream with an error event in its format (a cap, an unknown type, an unreadable
    /// event). What went out of the stream filter before the error (`pass`, then the events before
    /// the bad one) is answer text like any other: it goes through the answer-text redactor, whose
    /// held text is flushed, before the error event.
    fn end_stream(
        &mut self,
        stream: &mut StreamFilter,
        e: &wstream::StreamError,
        pass: Vec<u8>,
    ) -> StreamStep {
        self.stream_dead = true;
        self.coverage.refused = Some(e.code());
        if let Some(r) = unknown::stream_reason(e) {
            self.coverage.uninspected.insert(r);
        }
        let mut before = pass;
        before.extend(stream.take_before_error());
        let mut body = match self.reply_bytes(before, true) {
            Ok(bytes) => bytes,
            Err(event) => return self.reply_failed(event),
        };
        let mut out = self.with_carried(Outcome::allow());
        enforce::carry(&mut out, Action::Block, &[e.to_string()]);
        body.extend(stream.error_event(&format!("llmfw: {e}"), e.code()));
        out.body = Some(body);
        StreamStep::Final(out)
    }

    /// Judges calls statelessly, then either decides (`Err(outcome)`, no callout needed) or
    /// prepares the one `Evaluate` callout (`Ok`).
    fn judge(
        &mut self,
        holder: Holder,
        calls: Vec<ProposedCall>,
        clock: Clock,
    ) -> Result<Callout, Outcome> {
        self.coverage.calls(calls.len());
        let mut stateless = Vec::with_capacity(calls.len());
        let mut events = Vec::new();
        let mut sent = Vec::new();
        let mut families: Vec<&'static str> = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            let policy = match call.defect {
                Some(defect) => unknown::defect_verdict(defect),
                None => tools::policy::check(
                    &self.config,
                    tools::policy::CallInput {
                        name: &call.name,
                        arguments: &call.arguments,
                        duplicate_keys: call.duplicate_keys,
                    },
                ),
            };
            let blocked = policy.verdict.action == Action::Block;
            if policy.bound.is_some() {
                self.bounded_calls += 1;
            }
            for f in policy.families {
                if !families.contains(&f) {
                    families.push(f);
                }
            }
            if call.defect.is_some() {
                self.coverage.uninspected.insert(Uninspected::StreamForms);
            }
            stateless.push(policy.verdict);
            let args = match &call.arguments {
                Ok(a) if !blocked => a,
                _ => continue,
            };
            events.push(tool_event(&self.config, call, args, policy.classification));
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
                let redacted = (!self.reply.redactions.is_empty()).then(|| body.clone());
                let mut out = enforce::enforce(format, body, calls, verdicts, extra);
                if out.body.is_none() {
                    out.body = redacted.map(|b| b.to_string().into_bytes());
                }
                self.with_carried(out)
            }
            Holder::Stream(mut pass, mut stream) => {
                let (out, removals) = enforce::plan(calls, verdicts, extra);
                let rest = if removals.is_empty() {
                    stream.release()
                } else {
                    stream.rewrite(&removals)
                };
                match self.reply_bytes(rest, true) {
                    Ok(rest) => {
                        pass.extend(rest);
                        let mut out = self.with_carried(out);
                        out.body = Some(with_comment(&out, pass));
                        out
                    }
                    Err(e) => self.reply_refused(e),
                }
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

    /// Raises an outcome by what the request's texts showed (and what the answer text lost).
    fn with_carried(&self, mut out: Outcome) -> Outcome {
        enforce::carry(&mut out, self.carried.action, &self.carried.reasons);
        if let Some(line) = self.reply.reason() {
            enforce::carry(&mut out, Action::Warn, &[line]);
        }
        out.redacted = self.reply.redactions.count;
        out.uninspected = out.uninspected.union(self.coverage.uninspected);
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

/// The 502 for a buffered answer read as a stream that the stream filter refused.
fn stream_refusal(format: Format, e: &wstream::StreamError) -> LocalReply {
    LocalReply {
        status: 502,
        body: format.error_body(&format!("llmfw: {e}"), e.code()),
        code: e.code(),
    }
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

#[cfg(test)]
#[path = "flow/items_tests.rs"]
mod items_tests;

#[cfg(test)]
#[path = "flow/channels_tests.rs"]
mod channels_tests;

#[cfg(test)]
#[path = "flow/stream_forms_tests.rs"]
mod stream_forms_tests;
