//! What the exchange answers the adapter at each step: the public vocabulary of [`super::Exchange`].

use crate::enforce::Outcome;

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
    /// Answer locally before any body arrives: the declared `content-length` is past
    /// `max_body_bytes` (deterministic, instead of racing Envoy's own buffer limit).
    Reject(LocalReply),
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
    /// A streamed (SSE) model response: remove `content-length`, send the headers on, and hand
    /// every chunk to [`Exchange::on_response_chunk`].
    Stream,
    /// Cannot be inspected (e.g. compressed): reply with this instead.
    Reject(LocalReply),
}

/// A gRPC call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// Envoy cluster.
    pub cluster: String,
    /// `:authority` of the callout: [`crate::identity::operator_hash_key`] of the operator, the
    /// key a ring-hash cluster balances on.
    pub authority: String,
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
    /// Answer with this error instead of the upstream's body, which the filter cannot inspect
    /// (a client's parser might still read tool calls from it).
    Reject(LocalReply),
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

/// What to do with a complete request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDecision {
    /// Forward it unchanged.
    Continue,
    /// Forward this body instead (tool results redacted); `content-length` was removed.
    Replace(Vec<u8>),
    /// Answer locally with this reply (invalid, too large, or refused for its content); the
    /// upstream is not called.
    Reply(LocalReply),
    /// MCP calls judged without the state service: send the outcome's `reply` when it has one
    /// (calls refused, counted as a decision), else forward the request.
    Decided(Outcome),
    /// Ask the state service (MCP `tools/call`), then call [`Exchange::on_callout_reply`]: its
    /// outcome's `reply` is sent, or the request continues when it has none.
    Callout(Callout),
}

/// What to do with one chunk of a streamed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// Replace the chunk by these bytes (possibly none) and continue.
    Chunk(Vec<u8>),
    /// End of stream, decided: replace the last chunk by `outcome.body` (always set).
    Final(Outcome),
    /// End of stream with calls to judge: pause, ask the state service, then replace the last
    /// chunk by the body of [`Exchange::on_callout_reply`]'s outcome.
    Callout(Callout),
}
