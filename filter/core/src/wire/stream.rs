//! Streamed model responses (SSE): text deltas pass on at once; from the first tool-call event on,
//! everything is held until the stream ends, the calls are judged, and the held events are then
//! released unchanged or rewritten (allowed calls re-emitted, blocked ones replaced by refusal
//! text, terminal events kept so the provider's SDK finishes the stream cleanly).
//!
//! Formats: OpenAI Chat chunks (`choices[].delta.tool_calls[i].function.arguments` fragments,
//! `data: [DONE]`), OpenAI Responses events (`response.output_item.added`,
//! `response.function_call_arguments.delta`, `response.output_item.done`, `response.completed`),
//! Anthropic events (`content_block_start` with `tool_use`, `input_json_delta`,
//! `content_block_stop`, `message_delta`, `message_stop`). MCP streams pass through untouched.
//!
//! The adapter may only replace whole upstream chunks, so the contract is chunk-shaped:
//! [`StreamFilter::feed`] returns the bytes of the events completed by a chunk that precede the
//! first tool-call event (raw, unchanged); that event and every later one, terminal events
//! included, are held. At end of stream the caller feeds the last chunk, calls
//! [`StreamFilter::finish`] for the calls, judges them, and sends either
//! [`StreamFilter::release`] (all allowed) or [`StreamFilter::rewrite`] in place of the rest.
//!
//! Every buffer is bounded by the cap given to [`StreamFilter::new`]: one incomplete event (the
//! framer) and the held events each stay below it; past it the filter fails and the caller ends the
//! stream with [`error_event`]. Held events are kept with their parsed data, so the memory held is
//! at most about twice the cap.

mod anthropic;
mod chat;
mod responses;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::kinds::{Position, UnknownTypes};
use super::sse::{Event, Framer, SseError};
use super::{Format, ProposedCall, Removal};

/// Stream errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// An event or the held events grew past the cap.
    #[error("stream exceeds the firewall limit of {cap} bytes")]
    TooLarge {
        /// The cap.
        cap: usize,
    },
    /// An event whose data looks like JSON but does not parse (`NaN`, `Infinity`, nesting past
    /// the parser's depth, broken JSON): a client's parser may read calls from it.
    #[error(
        "an event of the stream is JSON the firewall cannot parse (invalid, or nested too deep)"
    )]
    Unreadable,
    /// An event, item, block or delta of a type the filter does not know (`unknown_types:
    /// refuse`, or `inspect_text` for what is no item).
    #[error("the stream carries a {position} of type `{type_name}` the firewall does not know")]
    UnknownType {
        /// Where (a [`Position`] name).
        position: &'static str,
        /// The type, safe for logs.
        type_name: String,
    },
}

impl StreamError {
    /// The error code of the event that ends the stream.
    pub fn code(&self) -> &'static str {
        match self {
            StreamError::TooLarge { .. } => "llmfw_body_too_large",
            StreamError::UnknownType { .. } => crate::flow::CODE_UNKNOWN_TYPE,
            StreamError::Unreadable => crate::flow::CODE_UNINSPECTABLE,
        }
    }
}

/// Something of a type the filter does not know, found in one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unknown {
    position: Position,
    type_name: String,
    /// True for an item or block (judged as a call under `inspect_text`); false for an event or
    /// a delta type, which is refused under `inspect_text` too.
    item: bool,
}

impl Unknown {
    fn new(position: Position, ty: &str, item: bool) -> Unknown {
        Unknown {
            position,
            type_name: super::kinds::safe_type_name(ty),
            item,
        }
    }
}

impl From<SseError> for StreamError {
    fn from(e: SseError) -> StreamError {
        match e {
            SseError::EventTooLarge { cap } => StreamError::TooLarge { cap },
        }
    }
}

/// Facts about the events that passed before holding began, needed to continue the stream
/// consistently (indices, sequence numbers, the chunk envelope).
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Chat: top-level fields of the first chunk (without `choices` and `usage`).
    envelope: Option<Map<String, Value>>,
    /// Chat: choices that streamed non-empty text.
    text_choices: Vec<usize>,
    /// Anthropic: next content block index; Responses: next output index.
    next_index: usize,
    /// Responses: the last `sequence_number` seen.
    seq: Option<u64>,
    /// Responses: the `response` object of `response.created`/`response.in_progress`.
    response: Option<Value>,
    /// Responses: items of `response.output_item.done` that passed (for a synthesised
    /// `response.completed`); kept only while their total size stays below the cap.
    items: Vec<Value>,
    /// Responses: raw size of `items`.
    items_bytes: usize,
}

/// One held event, parsed once at end of stream.
#[derive(Debug, Clone)]
struct Held {
    raw: Vec<u8>,
    /// `event:` field.
    name: Option<String>,
    /// `data:` as JSON, when it is.
    json: Option<Value>,
    /// OpenAI's `data: [DONE]`.
    done: bool,
}

impl Held {
    fn from_event(e: Event) -> Held {
        Held {
            json: parse(&e.data),
            done: e.is_done(),
            name: e.event,
            raw: e.raw,
        }
    }

    /// The event type: the data's `type`, else the `event:` field.
    fn kind(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str)
            .or(self.name.as_deref())
            .unwrap_or("")
    }
}

/// A call assembled from held events.
#[derive(Debug, Clone, Default)]
struct Call {
    choice: usize,
    index: usize,
    /// Chat and Anthropic call id; Responses `call_id`.
    id: String,
    /// Responses item id.
    item_id: String,
    name: String,
    /// The raw arguments text (fragments concatenated).
    raw: String,
    /// Chat: legacy `function_call` instead of `tool_calls`.
    legacy: bool,
    /// Responses: the item as the client assembles it; Chat: the accumulated `tool_calls` entry.
    item: Option<Value>,
    /// Arguments read from the item (calls that are not `function_call`s); `None`: parse `raw`.
    parsed: Option<(Result<Value, String>, bool)>,
    /// The item or entry is of a type the filter does not know (judged as a call under
    /// `unknown_types: inspect_text`).
    unknown: bool,
    /// Why the call cannot be judged as read (see [`ProposedCall::defect`]).
    defect: Option<&'static str>,
    /// Chat: the name arrived in more than one fragment; the stream is re-emitted so every
    /// client reads the name that was judged.
    split: bool,
}

impl Call {
    fn proposed(&self) -> ProposedCall {
        let (arguments, duplicate_keys) = match &self.parsed {
            Some(p) => p.clone(),
            None => super::parse_argument_text(&self.raw),
        };
        ProposedCall {
            choice: self.choice,
            index: self.index,
            id: self.id.clone(),
            name: self.name.clone(),
            arguments,
            duplicate_keys,
            defect: self.defect,
        }
    }

    fn at(&self, choice: usize, index: usize) -> bool {
        self.choice == choice && self.index == index
    }

    fn removal<'r>(&self, removals: &'r [Removal]) -> Option<&'r Removal> {
        removals.iter().find(|r| self.at(r.choice, r.index))
    }
}

/// What `finish` assembled.
#[derive(Debug, Clone, Default)]
struct Finished {
    events: Vec<Held>,
    calls: Vec<Call>,
}

/// The per-stream state.
#[derive(Debug, Clone)]
pub struct StreamFilter {
    format: Format,
    cap: usize,
    framer: Framer,
    held: Vec<Event>,
    held_bytes: usize,
    holding: bool,
    failed: bool,
    seen: Seen,
    finished: Option<Finished>,
    unknown: UnknownTypes,
    /// The error that ended the stream, repeated by later calls.
    error: Option<StreamError>,
    /// A type the filter does not know was passed or judged as a call.
    saw_unknown: bool,
    /// The bytes of the events of the failing chunk that came before the refused one.
    before_error: Vec<u8>,
}

impl StreamFilter {
    /// A filter for one stream of `format`; `cap` bounds one event and the held bytes. Types the
    /// filter does not know are refused (see [`StreamFilter::with_unknown_types`]).
    pub fn new(format: Format, cap: usize) -> StreamFilter {
        StreamFilter {
            format,
            cap,
            framer: Framer::new(cap),
            held: Vec::new(),
            held_bytes: 0,
            holding: false,
            failed: false,
            seen: Seen::default(),
            finished: None,
            unknown: UnknownTypes::Refuse,
            error: None,
            saw_unknown: false,
            before_error: Vec::new(),
        }
    }

    /// The same filter with this `unknown_types` policy.
    pub fn with_unknown_types(mut self, unknown: UnknownTypes) -> StreamFilter {
        self.unknown = unknown;
        self
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Feeds one upstream chunk; returns the bytes to send downstream now: the raw bytes of the
    /// completed events before the first tool-call event (MCP: the chunk itself). After an error
    /// every later call fails too.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, StreamError> {
        if self.format == Format::Mcp {
            return Ok(chunk.to_vec());
        }
        let too_large = StreamError::TooLarge { cap: self.cap };
        if self.failed || self.finished.is_some() {
            return Err(self.error.clone().unwrap_or(too_large));
        }
        let events = match self.framer.feed(chunk) {
            Ok(events) => events,
            Err(e) => {
                self.fail();
                return Err(e.into());
            }
        };
        let mut out = Vec::new();
        for e in events {
            if let Err(e) = self.route(e, &mut out) {
                self.fail();
                self.error = Some(e.clone());
                self.before_error = out;
                return Err(e);
            }
        }
        if self.held_bytes > self.cap {
            self.fail();
            return Err(too_large);
        }
        Ok(out)
    }

    /// True once a tool call has started (events are being held).
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// Bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The events of the chunk that failed that came before the refused event (they passed the
    /// filter and go out before the error event, so a client sees the stream's start).
    pub fn take_before_error(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.before_error)
    }

    /// True when a type the filter does not know was passed (`unknown_types: pass`) or judged
    /// as a call (`inspect_text`).
    pub fn saw_unknown(&self) -> bool {
        self.saw_unknown
    }

    /// The error that ended the stream, if one did (also when found in the last, unterminated
    /// event by [`finish`](Self::finish)).
    pub fn error(&self) -> Option<&StreamError> {
        self.error.as_ref()
    }

    /// At end of stream (after the last chunk was fed): the complete calls assembled from the held
    /// events, in (choice, index) order. Idempotent.
    ///
    /// An unterminated last event left in the framer is classified like any other, and its bytes
    /// are always kept for [`release`](Self::release)/[`rewrite`](Self::rewrite) — even when no call
    /// was held — so after `finish` the caller always sends one of them to end the stream (both
    /// return nothing more than those bytes when no call was found).
    pub fn finish(&mut self) -> Vec<ProposedCall> {
        if self.finished.is_none() {
            self.finished = Some(self.assemble());
        }
        self.finished
            .as_ref()
            .map(|f| f.calls.iter().map(Call::proposed).collect())
            .unwrap_or_default()
    }

    /// The held bytes, unchanged (every call allowed); re-emitted by
    /// [`rewrite`](Self::rewrite) without removals when a call's name arrived in several
    /// fragments, so that every client reads the whole name that was judged. Calls `finish` if
    /// it was not called.
    pub fn release(&mut self) -> Vec<u8> {
        self.finish();
        if self
            .finished
            .as_ref()
            .is_some_and(|f| f.calls.iter().any(|c| c.split))
        {
            return self.rewrite(&[]);
        }
        self.finished
            .as_mut()
            .map(|f| std::mem::take(&mut f.events))
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.raw)
            .collect()
    }

    /// Replacement for the held events: allowed calls re-emitted, `removals` replaced by their
    /// refusal text, terminal events so the stream ends cleanly. Calls `finish` if it was not
    /// called. Without any assembled call this is [`release`](Self::release).
    pub fn rewrite(&mut self, removals: &[Removal]) -> Vec<u8> {
        self.finish();
        let Some(f) = self.finished.as_mut() else {
            return Vec::new();
        };
        if f.calls.is_empty() {
            let events = std::mem::take(&mut f.events);
            return events.into_iter().flat_map(|e| e.raw).collect();
        }
        let events = std::mem::take(&mut f.events);
        match self.format {
            Format::OpenAiChat => chat::rewrite(&self.seen, &events, &f.calls, removals),
            Format::OpenAiResponses => responses::rewrite(&self.seen, &events, &f.calls, removals),
            Format::Anthropic => anthropic::rewrite(&self.seen, &events, &f.calls, removals),
            Format::Mcp => Vec::new(),
        }
    }

    /// [`error_event`] for this stream; for OpenAI Responses it continues the upstream's
    /// `sequence_number` when there was one.
    pub fn error_event(&self, message: &str, code: &str) -> Vec<u8> {
        match (self.format, self.seen.seq) {
            (Format::OpenAiResponses, Some(n)) => {
                responses::error_event(message, code, Some(n + 1))
            }
            _ => error_event(self.format, message, code),
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.held.clear();
        self.held_bytes = 0;
    }

    /// Sends one complete event on (`out`) or into the held part; an unknown type refused by
    /// the policy is an error.
    fn route(&mut self, e: Event, out: &mut Vec<u8>) -> Result<(), StreamError> {
        let v = parse(&e.data);
        if v.is_none() && !e.is_done() && looks_like_json(&e.data) {
            return Err(StreamError::Unreadable);
        }
        let name = e.event.as_deref();
        let unknown = match self.format {
            Format::OpenAiChat => chat::unknown(v.as_ref()),
            Format::OpenAiResponses => responses::unknown(name, v.as_ref()),
            Format::Anthropic => anthropic::unknown(name, v.as_ref()),
            Format::Mcp => None,
        };
        let mut hold_unknown = false;
        if let Some(u) = unknown {
            self.saw_unknown = true;
            match self.unknown {
                UnknownTypes::Pass => {}
                UnknownTypes::InspectText if u.item => hold_unknown = true,
                _ => {
                    return Err(StreamError::UnknownType {
                        position: u.position.name(),
                        type_name: u.type_name,
                    })
                }
            }
        }
        if !self.holding {
            self.holding = hold_unknown
                || match self.format {
                    Format::OpenAiChat => chat::observe(&mut self.seen, v.as_ref()),
                    Format::OpenAiResponses => {
                        responses::observe(&mut self.seen, name, v.as_ref(), e.raw.len(), self.cap)
                    }
                    Format::Anthropic => anthropic::observe(&mut self.seen, name, v.as_ref()),
                    Format::Mcp => false,
                };
        }
        if self.holding {
            self.held_bytes += e.raw.len();
            self.held.push(e);
        } else {
            out.extend_from_slice(&e.raw);
        }
        Ok(())
    }

    fn assemble(&mut self) -> Finished {
        if self.format == Format::Mcp || self.failed {
            return Finished::default();
        }
        if let Some(last) = self.framer.finish() {
            let mut passed = Vec::new();
            if let Err(e) = self.route(last, &mut passed) {
                self.fail();
                self.error = Some(e);
                return Finished::default();
            }
            if !passed.is_empty() {
                // Not a call: kept for release/rewrite all the same (see `finish`).
                self.held_bytes += passed.len();
                self.held.push(Event {
                    raw: passed,
                    ..Event::default()
                });
            }
        }
        self.held_bytes = 0;
        let events: Vec<Held> = std::mem::take(&mut self.held)
            .into_iter()
            .map(Held::from_event)
            .collect();
        let mut calls = if self.holding {
            match self.format {
                Format::OpenAiChat => chat::calls(&events),
                Format::OpenAiResponses => responses::calls(&events),
                Format::Anthropic => anthropic::calls(&events),
                Format::Mcp => Vec::new(),
            }
        } else {
            Vec::new()
        };
        if self.unknown != UnknownTypes::InspectText {
            calls.retain(|c| !c.unknown);
        }
        calls.sort_by_key(|c| (c.choice, c.index));
        Finished { events, calls }
    }
}

/// An error event in `format`'s stream shape that ends the stream.
///
/// - OpenAI Chat: `data: {"error":{"message","type":"invalid_request_error","param":null,"code"}}`
///   then `data: [DONE]`; the OpenAI SDKs raise an `APIError` on a chunk with an `error` key.
/// - OpenAI Responses: `event: error` with `{"type":"error","code","message","param":null}`, the
///   documented `ResponseErrorEvent` (use [`StreamFilter::error_event`] to add `sequence_number`).
/// - Anthropic: `event: error` with `{"type":"error","error":{"type","message"}}`, which the SDKs
///   raise as an API error. The type is `overloaded_error` only for codes that name a transient
///   condition (`unavailable`, `timeout`), where a retry can succeed; otherwise `api_error`, since
///   agents retry `overloaded_error` and a firewall refusal or size limit would only repeat.
///   Anthropic's error object has no code field, so the code is not sent.
/// - MCP: the JSON-RPC error body as a `data:` event.
pub fn error_event(format: Format, message: &str, code: &str) -> Vec<u8> {
    match format {
        Format::OpenAiChat => {
            let body = super::openai_chat::error_body(message, code);
            let mut out = b"data: ".to_vec();
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
            out
        }
        Format::OpenAiResponses => responses::error_event(message, code, None),
        Format::Anthropic => anthropic::error_event(message, code),
        Format::Mcp => {
            let mut out = b"data: ".to_vec();
            out.extend_from_slice(&format.error_body(message, code));
            out.extend_from_slice(b"\n\n");
            out
        }
    }
}

/// True when the data opens a JSON object or array (what a client would parse).
fn looks_like_json(data: &str) -> bool {
    let t = data.trim_start();
    t.starts_with('{') || t.starts_with('[')
}

fn parse(data: &str) -> Option<Value> {
    let t = data.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(data).ok()
}

/// One SSE event: an optional `event:` line and one `data:` line (JSON has no raw newlines).
fn sse(name: Option<&str>, data: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

fn as_index(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}
