//! Root and HTTP contexts.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use llmfw_core::config::Config;
use llmfw_core::enforce::Outcome;
use llmfw_core::flow::{
    BodyProgress, CalloutReply, Clock, Exchange, LocalReply, RequestDecision, RequestHeadersAction,
    ResponseDecision, ResponseHeadersAction, StreamStep,
};
use llmfw_core::metrics;
use llmfw_core::tools::sha256_hex;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

use crate::memory::MemoryGauge;

/// `envoy.config.core.v3.GrpcService` with only `envoy_grpc` (field 1) set.
#[derive(Clone, PartialEq, prost::Message)]
struct GrpcService {
    #[prost(message, optional, tag = "1")]
    envoy_grpc: Option<EnvoyGrpc>,
}

/// `envoy.config.core.v3.GrpcService.EnvoyGrpc`: `cluster_name` = field 1, `authority` = 2.
#[derive(Clone, PartialEq, prost::Message)]
struct EnvoyGrpc {
    #[prost(string, tag = "1")]
    cluster_name: String,
    /// `:authority` of the call (default: the cluster name). Envoy's wasm host hashes gRPC calls
    /// on it, so it carries the operator's hash key for ring-hash clusters.
    #[prost(string, tag = "2")]
    authority: String,
}

fn grpc_upstream(cluster: &str, authority: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&GrpcService {
        envoy_grpc: Some(EnvoyGrpc {
            cluster_name: cluster.to_owned(),
            authority: authority.to_owned(),
        }),
    })
}

fn log(level: LogLevel, msg: &str) {
    let _ = hostcalls::log(level, msg);
}

/// True when Envoy would print debug lines (so their hashing and formatting is skipped otherwise).
fn debug_enabled() -> bool {
    matches!(
        hostcalls::get_log_level(),
        Ok(LogLevel::Trace | LogLevel::Debug)
    )
}

/// Counter ids by name; missing ids (definition failed) are skipped.
#[derive(Default)]
struct Metrics {
    ids: HashMap<&'static str, u32>,
}

impl Metrics {
    fn define() -> Metrics {
        let mut ids = HashMap::new();
        for name in metrics::ALL_COUNTERS {
            match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => {
                    ids.insert(*name, id);
                }
                Err(e) => log(
                    LogLevel::Warn,
                    &format!("metric definition failed name={name} status={e:?}"),
                ),
            }
        }
        Metrics { ids }
    }

    fn inc(&self, name: &'static str) {
        self.add(name, 1);
    }

    fn add(&self, name: &'static str, n: u32) {
        if n == 0 {
            return;
        }
        if let Some(id) = self.ids.get(name) {
            let _ = hostcalls::increment_metric(*id, i64::from(n));
        }
    }
}

/// Root context: compiles the plugin config, owns the metric ids.
#[derive(Default)]
pub struct Root {
    config: Option<Arc<Config>>,
    metrics: Rc<Metrics>,
    memory: Rc<MemoryGauge>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        self.metrics = Rc::new(Metrics::define());
        self.memory = Rc::new(MemoryGauge::define());
        true
    }

    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("invalid plugin config: cannot read configuration: {e:?}"),
                );
                return false;
            }
        };
        match Config::from_json(&bytes) {
            Ok(cfg) => {
                log(
                    LogLevel::Info,
                    &format!(
                        "configured routes={} stateful={} deny_patterns={} max_body_bytes={}",
                        cfg.routes.routes.len(),
                        cfg.state_service.is_some(),
                        !cfg.deny.is_empty(),
                        cfg.max_body_bytes
                    ),
                );
                self.config = Some(Arc::new(cfg));
                self.memory.update();
                true
            }
            Err(e) => {
                log(LogLevel::Error, &format!("invalid plugin config: {e}"));
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        Some(Box::new(Http {
            context_id,
            exchange: Exchange::new(config),
            metrics: Rc::clone(&self.metrics),
            memory: Rc::clone(&self.memory),
            response_body_size: 0,
            callout_token: None,
            callout_for_request: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    context_id: u32,
    exchange: Exchange,
    metrics: Rc<Metrics>,
    memory: Rc<MemoryGauge>,
    response_body_size: usize,
    callout_token: Option<u32>,
    /// The pending callout was made for the request (MCP), not the response.
    callout_for_request: bool,
}

fn read_headers(map: MapType) -> Option<Vec<(String, String)>> {
    match hostcalls::get_map_bytes(map) {
        Ok(pairs) => Some(
            pairs
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect(),
        ),
        Err(e) => {
            log(
                LogLevel::Error,
                &format!("cannot read headers map={map:?} status={e:?}"),
            );
            None
        }
    }
}

fn now_ms() -> i64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

impl Http {
    fn local_reply(&self, reply: &LocalReply, phase: &str) -> Action {
        if let Some(reason) = llmfw_core::flow::coverage::reason_of_code(reply.code) {
            self.metrics.inc(reason.counter());
        }
        log(
            LogLevel::Info,
            &format!(
                "local reply ctx={} phase={phase} status={} code={}",
                self.context_id, reply.status, reply.code
            ),
        );
        let headers = vec![
            ("content-type", "application/json"),
            ("x-llmfw-decision", "block"),
        ];
        if let Err(e) = hostcalls::send_http_response(reply.status, headers, Some(&reply.body)) {
            log(
                LogLevel::Error,
                &format!("send local reply failed status={e:?}"),
            );
        }
        Action::Pause
    }

    fn clock(&self) -> Clock {
        Clock {
            now_ms: now_ms(),
            context_id: self.context_id,
        }
    }

    /// Publishes an outcome's decision headers as filter state (see [`Http::apply`]).
    fn publish(outcome: &Outcome) {
        for (name, value) in &outcome.headers {
            let key = format!(
                "llmfw_{}",
                name.trim_start_matches("x-llmfw-").replace('-', "_")
            );
            let _ = hostcalls::set_property(vec![key.as_str()], Some(value.as_bytes()));
        }
    }

    /// A request-phase outcome (MCP calls): answer locally, or let the request go on.
    fn apply_request(&mut self, outcome: &Outcome) -> Action {
        if outcome.callout_failed {
            self.metrics.inc(metrics::CALLOUT_FAILURE);
        }
        Self::publish(outcome);
        match &outcome.reply {
            Some(reply) => {
                self.metrics.inc(metrics::decision(outcome.action));
                self.local_reply(reply, "request_calls")
            }
            None => Action::Continue,
        }
    }

    /// Sends a callout; on dispatch failure decides at once as if it had failed.
    fn start_callout(&mut self, callout: &llmfw_core::flow::Callout, for_request: bool) -> Action {
        self.metrics.inc(metrics::CALLOUT_SENT);
        match self.dispatch(callout) {
            Ok(token) => {
                log(
                    LogLevel::Debug,
                    &format!(
                        "callout sent ctx={} events={} bytes={}",
                        self.context_id,
                        callout.events,
                        callout.message.len()
                    ),
                );
                self.callout_token = Some(token);
                self.callout_for_request = for_request;
                Action::Pause
            }
            Err(e) => {
                log(
                    LogLevel::Warn,
                    &format!("callout dispatch failed ctx={} error={e}", self.context_id),
                );
                let outcome = self.exchange.on_callout_reply(CalloutReply::Failed);
                if for_request {
                    self.apply_request(&outcome)
                } else {
                    self.apply(&outcome);
                    Action::Continue
                }
            }
        }
    }

    /// Writes an outcome to the held response (or the last chunk of a stream) and counts it.
    fn apply(&self, outcome: &Outcome) {
        self.metrics.inc(metrics::decision(outcome.action));
        if outcome.redacted > 0 {
            self.metrics.inc(metrics::RESPONSE_REDACTED);
        }
        for reason in outcome.uninspected.iter() {
            self.metrics.inc(reason.counter());
        }
        if outcome.callout_failed {
            self.metrics.inc(metrics::CALLOUT_FAILURE);
        }
        // Envoy 1.40's wasm host rejects response header changes after the headers callback (and
        // the SDK then panics), and pausing there stops the body callbacks (the host turns Pause
        // into StopAllIterationAndWatermark). So the x-llmfw-* headers are published as filter
        // state `wasm.llmfw_{decision,reasons,approval_id}`; the Lua filter placed before this one
        // in envoy.yaml holds the response headers (`llmfw_hold`) and copies them on.
        Self::publish(outcome);
        if let Some(body) = &outcome.body {
            if let Err(e) = hostcalls::set_buffer(
                BufferType::HttpResponseBody,
                0,
                self.response_body_size,
                body,
            ) {
                log(
                    LogLevel::Error,
                    &format!("cannot replace response body status={e:?}"),
                );
            }
        }
        log(
            LogLevel::Info,
            &format!(
                "decision ctx={} action={} removed={} redacted={} callout_failed={} body_rewritten={} decision_headers={}",
                self.context_id,
                outcome.action.as_str(),
                outcome.removed,
                outcome.redacted,
                outcome.callout_failed,
                outcome.body.is_some(),
                outcome.headers.len()
            ),
        );
    }

    fn dispatch(&mut self, callout: &llmfw_core::flow::Callout) -> Result<u32, String> {
        let upstream = grpc_upstream(&callout.cluster, &callout.authority);
        // The callout target is bytes (a serialised GrpcService); the SDK takes &str, so it must be
        // valid UTF-8. Envoy reads the bytes as given.
        let upstream =
            std::str::from_utf8(&upstream).map_err(|_| "cluster name not encodable".to_owned())?;
        hostcalls::dispatch_grpc_call(
            upstream,
            callout.service,
            callout.method,
            Vec::new(),
            Some(&callout.message),
            Duration::from_millis(callout.timeout_ms),
        )
        .map_err(|e| format!("{e:?}"))
    }
}

impl Context for Http {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        if self.callout_token != Some(token_id) {
            log(
                LogLevel::Warn,
                &format!(
                    "unexpected grpc token ctx={} token={token_id}",
                    self.context_id
                ),
            );
            return;
        }
        self.callout_token = None;
        let body = if status_code == 0 {
            match hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, response_size) {
                Ok(b) => Some(b.unwrap_or_default()),
                Err(e) => {
                    log(
                        LogLevel::Warn,
                        &format!("cannot read grpc reply status={e:?}"),
                    );
                    None
                }
            }
        } else {
            log(
                LogLevel::Warn,
                &format!(
                    "callout failed ctx={} grpc_status={status_code}",
                    self.context_id
                ),
            );
            None
        };
        let reply = body
            .as_deref()
            .map_or(CalloutReply::Failed, CalloutReply::Ok);
        let outcome = self.exchange.on_callout_reply(reply);
        if self.callout_for_request {
            self.callout_for_request = false;
            if let Action::Continue = self.apply_request(&outcome) {
                if let Err(e) = hostcalls::resume_http_request() {
                    log(LogLevel::Error, &format!("resume failed status={e:?}"));
                }
            }
            return;
        }
        if outcome.callout_failed && status_code == 0 {
            log(
                LogLevel::Warn,
                &format!(
                    "callout reply unusable ctx={} bytes={response_size}",
                    self.context_id
                ),
            );
        }
        self.apply(&outcome);
        if let Err(e) = hostcalls::resume_http_response() {
            log(LogLevel::Error, &format!("resume failed status={e:?}"));
        }
    }
}

impl HttpContext for Http {
    fn on_log(&mut self) {
        // End of the stream (Envoy calls it for every stream): publish memory growth, and log
        // what the exchange inspected (counts and reasons only, never content).
        self.memory.update();
        if let Some(action) = self.exchange.take_cut_stream_decision() {
            self.metrics.inc(metrics::decision(action));
        }
        let coverage = self.exchange.coverage();
        if coverage.format.is_some() {
            log(
                LogLevel::Info,
                &format!("{} ctx={}", coverage.log_line(), self.context_id),
            );
        }
    }

    fn on_http_request_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        let Some(headers) = read_headers(MapType::HttpRequestHeaders) else {
            return Action::Continue;
        };
        let remove = match self.exchange.on_request_headers(&headers) {
            RequestHeadersAction::Pass => return Action::Continue,
            RequestHeadersAction::Reject(reply) => {
                self.metrics
                    .inc(if reply.code == llmfw_core::flow::CODE_UNMATCHED_PATH {
                        metrics::REQUEST_UNMATCHED_PATH
                    } else {
                        metrics::REQUEST_INVALID
                    });
                return self.local_reply(&reply, "request_headers");
            }
            RequestHeadersAction::Inspect { remove } => remove,
        };
        {
            for name in remove {
                let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
            }
            // The operator from a jwt_authn-verified claim: read here, later reads fail.
            if let Some(path) = self.exchange.operator_claim_path() {
                let claim = match hostcalls::get_property(path.to_vec()) {
                    Ok(v) => v,
                    Err(e) => {
                        log(
                            LogLevel::Warn,
                            &format!("cannot read operator claim status={e:?}"),
                        );
                        None
                    }
                };
                self.exchange.on_operator_claim(claim.as_deref());
            }
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self
            .exchange
            .request_body_progress(body_size, end_of_stream)
        {
            BodyProgress::Pass => Action::Continue,
            BodyProgress::Wait => Action::Pause,
            BodyProgress::Reject(reply) => {
                self.metrics.inc(metrics::REQUEST_INVALID);
                self.local_reply(&reply, "request_body")
            }
            BodyProgress::Ready => {
                let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
                    Ok(b) => b.unwrap_or_default(),
                    Err(e) => {
                        log(
                            LogLevel::Error,
                            &format!("cannot read request body status={e:?}"),
                        );
                        Vec::new()
                    }
                };
                let decision = self.exchange.on_request_body(&body, self.clock());
                self.metrics.add(
                    metrics::UNINSPECTED_ARGUMENTS,
                    self.exchange.take_bounded_calls(),
                );
                if debug_enabled() {
                    log(
                        LogLevel::Debug,
                        &format!(
                            "request ctx={} bytes={} sha256={} session={}",
                            self.context_id,
                            body.len(),
                            sha256_hex(&body).get(..16).unwrap_or(""),
                            self.exchange.subject().session
                        ),
                    );
                }
                match decision {
                    RequestDecision::Continue => Action::Continue,
                    RequestDecision::Replace(new_body) => {
                        self.metrics.inc(metrics::REQUEST_REDACTED);
                        if let Err(e) = hostcalls::set_buffer(
                            BufferType::HttpRequestBody,
                            0,
                            body_size,
                            &new_body,
                        ) {
                            log(
                                LogLevel::Error,
                                &format!("cannot replace request body status={e:?}"),
                            );
                        }
                        Action::Continue
                    }
                    RequestDecision::Reply(reply) => {
                        if reply.code == llmfw_core::flow::CODE_PROMPT_BLOCKED {
                            self.metrics.inc(metrics::REQUEST_BLOCKED);
                        } else {
                            self.metrics.inc(metrics::REQUEST_INVALID);
                        }
                        self.local_reply(&reply, "request_body")
                    }
                    RequestDecision::Decided(outcome) => self.apply_request(&outcome),
                    RequestDecision::Callout(callout) => self.start_callout(&callout, true),
                }
            }
        }
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        if !self.exchange.inspected() || end_of_stream {
            return Action::Continue;
        }
        let Some(headers) = read_headers(MapType::HttpResponseHeaders) else {
            return Action::Continue;
        };
        match self.exchange.on_response_headers(&headers) {
            ResponseHeadersAction::Pass => Action::Continue,
            ResponseHeadersAction::Stream => {
                // Streamed: headers go on now (no hold); chunks are rewritten one by one.
                let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, "content-length");
                Action::Continue
            }
            ResponseHeadersAction::Inspect => {
                // The body may be rewritten. Pausing here would stop the body callbacks altogether
                // (the host turns Pause into StopAllIterationAndWatermark), so continue.
                let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, "content-length");
                let _ = hostcalls::set_property(vec!["llmfw_hold"], Some(b"1"));
                Action::Continue
            }
            ResponseHeadersAction::Reject(reply) => {
                self.metrics.inc(metrics::DECISION_BLOCK);
                self.local_reply(&reply, "response_headers")
            }
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.response_body_size = body_size;
        if self.exchange.streaming() {
            return self.on_stream_chunk(body_size, end_of_stream);
        }
        match self
            .exchange
            .response_body_progress(body_size, end_of_stream)
        {
            BodyProgress::Pass => Action::Continue,
            BodyProgress::Wait => Action::Pause,
            BodyProgress::Reject(reply) => {
                self.metrics.inc(metrics::DECISION_BLOCK);
                self.local_reply(&reply, "response_body")
            }
            BodyProgress::Ready => {
                let body = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size) {
                    Ok(b) => b.unwrap_or_default(),
                    Err(e) => {
                        log(
                            LogLevel::Error,
                            &format!("cannot read response body status={e:?}"),
                        );
                        Vec::new()
                    }
                };
                let clock = Clock {
                    now_ms: now_ms(),
                    context_id: self.context_id,
                };
                let decision = self.exchange.on_response_body(&body, clock);
                self.metrics.add(
                    metrics::UNINSPECTED_ARGUMENTS,
                    self.exchange.take_bounded_calls(),
                );
                match decision {
                    ResponseDecision::Final(outcome) => {
                        self.apply(&outcome);
                        Action::Continue
                    }
                    ResponseDecision::Callout(callout) => self.start_callout(&callout, false),
                    ResponseDecision::Reject(reply) => {
                        self.metrics.inc(metrics::DECISION_BLOCK);
                        self.local_reply(&reply, "response_body")
                    }
                }
            }
        }
    }
}

impl Http {
    /// One chunk of a streamed response: replaced by what the core lets through now.
    fn on_stream_chunk(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let chunk = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("cannot read response chunk status={e:?}"),
                );
                Vec::new()
            }
        };
        let step = self
            .exchange
            .on_response_chunk(&chunk, end_of_stream, self.clock());
        self.metrics.add(
            metrics::UNINSPECTED_ARGUMENTS,
            self.exchange.take_bounded_calls(),
        );
        self.metrics.add(
            metrics::STREAM_EVENT_NEUTRALISED,
            self.exchange.take_neutralised_events(),
        );
        match step {
            StreamStep::Chunk(bytes) => {
                if bytes != chunk {
                    if let Err(e) =
                        hostcalls::set_buffer(BufferType::HttpResponseBody, 0, body_size, &bytes)
                    {
                        log(
                            LogLevel::Error,
                            &format!("cannot replace response chunk status={e:?}"),
                        );
                    }
                }
                Action::Continue
            }
            StreamStep::Final(outcome) => {
                self.apply(&outcome);
                Action::Continue
            }
            StreamStep::Callout(callout) => self.start_callout(&callout, false),
        }
    }
}
