//! `llmfw-demo-upstream`: a scripted stand-in for the LLM and MCP APIs the firewall sits in front of.
//!
//! | route | speaks | streaming |
//! |---|---|---|
//! | `POST /v1/chat/completions` | OpenAI Chat Completions | `"stream": true` → `chat.completion.chunk` events, then `data: [DONE]` |
//! | `POST /v1/responses` | OpenAI Responses (`input` string or items, `instructions`) | `"stream": true` → typed `response.*` events with `sequence_number` |
//! | `POST /v1/messages` | Anthropic Messages (`system`, `messages` with text/tool_use/tool_result blocks) | `"stream": true` → `message_start`, `ping`, content block events, `message_delta`, `message_stop` |
//! | `POST /mcp` | MCP Streamable HTTP: JSON-RPC 2.0, one message or a batch | header `x-demo-sse: 1` → one `event: message` per response |
//! | `GET /stats` | counters: `completions`, `responses`, `messages`, `mcp_calls`, `mcp_calls_by_tool` | |
//! | `GET /healthz` | `ok` | |
//! | any route with `x-demo-raw-body` | the bytes given (test-only raw mode, below) | writes split where asked |
//!
//! Odd forms of the four API paths (case, `//`, dot segments, escapes, `;params`, a trailing
//! slash, no `/v1`, Azure's `/openai/deployments/<name>/...`) are served like the canonical path,
//! as a normalising server would (`lenient.rs`): the e2e tests of issue 16 check that none of
//! them gets past the firewall uninspected.
//!
//! Script convention, the same for the three LLM endpoints:
//! - when the last message of the conversation is a tool result (chat `role: tool`, Responses
//!   `*_call_output` or `mcp_call`, Anthropic user message whose last block is a `tool_result` or
//!   a server tool's `*_tool_result`), the reply is the text `tool result received (N bytes):
//!   <first 160 chars of the result>` (a result that is no text: its JSON), so a test sees
//!   exactly what reached the model (e.g. a firewall notice instead of an injected text);
//! - otherwise, when the last user text is a JSON object `{"tool": NAME, "arguments": {...}}` or
//!   `{"tool_calls": [{"name": NAME, "arguments": {...}}, ...]}`, the reply proposes exactly those
//!   tool calls; an optional `"text"` key adds that text before the calls, and `{"text": "..."}`
//!   alone scripts a text answer (exactly that text, in JSON and streamed); `"pieces": N`
//!   (1–4096, default 3) streams the text in N deltas, so a URL or secret in it is split
//!   across deltas;
//! - any other text gets a short fixed text answer;
//! - `"items": [...]` adds those entries as they are after the scripted calls: Responses output
//!   items (`custom_tool_call`, `shell_call`, `mcp_approval_request`, ...), Anthropic content
//!   blocks, Chat `tool_calls[]` entries (`type: custom`); `"function_call": {name, arguments}`
//!   answers Chat with a legacy `message.function_call`. Streamed, a Responses item is announced
//!   by `output_item.added` (a custom call with an empty input, then `custom_tool_call_input`
//!   deltas), a Chat custom call's name is split over two fragments, an Anthropic block is
//!   started whole (a `tool_use` with `input_json_delta`s).
//!
//! Scripted mode (what `llmfw replay` uses): a request header `x-demo-reply` holding the same JSON
//! script (`{"tool_calls": [...]}`, `{"tool", "arguments"}` or `{"text"}`) decides the reply
//! whatever the conversation holds, so a replay can send the real conversation so far (earlier
//! calls and their results) and still get the step's next call; on MCP `tools/call`, a header
//! `x-demo-result` (a JSON string) is the tool's text output. Non-ASCII characters arrive as JSON
//! `\uXXXX` escapes, since header values are ASCII.
//!
//! Raw mode (tests of malformed upstream answers): a request header `x-demo-raw-body` holding the
//! hex of a body makes any route answer 200 with exactly those bytes, written in pieces split at
//! the byte offsets of `x-demo-raw-splits` (comma-separated), with `content-type` from
//! `x-demo-raw-type` (default `text/event-stream`) and `content-encoding` from
//! `x-demo-raw-encoding` when given; `x-demo-raw-pad: N` replaces the first `@@PAD@@` in the
//! body with N bytes `p` (bodies larger than a request header can hold), and
//! `x-demo-raw-pause-ms` sets the pause between writes, `x-demo-raw-status` the HTTP status
//! (default 200). The request body is not read.
//!
//! MCP: `initialize` (answers with an `mcp-session-id: demo-<n>` header), `ping`, `tools/list`
//! (`read_file`, `http_get`, `run_shell`) and `tools/call`, whose text output is
//! `arguments.result` when that string is given (tests script a tool's output with it) and
//! `executed NAME` otherwise; notifications get `202 Accepted`, unknown methods error `-32601`.
//!
//! Streams are sent as separate body writes a few milliseconds apart, so the proxy sees several
//! upstream chunks. In every LLM stream one event is cut in the middle across two writes and one
//! event uses CRLF line ends with a write boundary between a `\r` and its `\n`, to exercise the
//! firewall's SSE framer. `make run` and the e2e tests drive the firewall with it; it is a demo,
//! not a model.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

mod anthropic;
mod lenient;
mod mcp;
mod openai;

use anthropic::messages;
use mcp::mcp;
use openai::{chat_completions, responses};

/// Pause between two body writes of a stream, in milliseconds (`--write-pause-ms`).
static WRITE_PAUSE_MS: AtomicU64 = AtomicU64::new(7);
/// Request header with the reply script (scripted mode).
const SCRIPT_HEADER: &str = "x-demo-reply";
/// Request header with an MCP tool's output (scripted mode).
const RESULT_HEADER: &str = "x-demo-result";
/// How many pieces a streamed text or arguments string is split into.
const PIECES: usize = 3;
/// How many characters of a tool result the echo reply quotes.
const ECHO_CHARS: usize = 160;
const DEFAULT_TEXT: &str = "Hello from the llmfw demo upstream. Send {\"tool\": NAME, \"arguments\": {...}} as the user message to get a tool call.";
const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

#[derive(Parser, Debug)]
#[command(about = "Scripted OpenAI/Anthropic/MCP upstream for the llmfw demo and tests")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// Pause between two body writes of a stream (0: write them back to back).
    #[arg(long, default_value_t = 7)]
    write_pause_ms: u64,
}

#[derive(Default)]
struct Counters {
    completions: AtomicU64,
    responses: AtomicU64,
    messages: AtomicU64,
    mcp_sessions: AtomicU64,
    mcp_calls: AtomicU64,
    mcp_calls_by_tool: Mutex<BTreeMap<String, u64>>,
}

type Shared = State<Arc<Counters>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    WRITE_PAUSE_MS.store(args.write_pause_ms, Ordering::Relaxed);
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(messages))
        .route(
            "/mcp",
            post(mcp).get(|| async { StatusCode::METHOD_NOT_ALLOWED }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .layer(axum::middleware::from_fn(raw_mode))
        .with_state(counters);
    // Odd forms of each path are served like the canonical one (a normalising upstream): the
    // outer router's middleware rewrites the URI before the inner router routes it.
    let app = Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(lenient::rewrite));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "demo upstream listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn stats(State(c): Shared) -> Json<Value> {
    let by_tool = c
        .mcp_calls_by_tool
        .lock()
        .map(|m| json!(*m))
        .unwrap_or_else(|_| json!({}));
    Json(json!({
        "completions": c.completions.load(Ordering::Relaxed),
        "responses": c.responses.load(Ordering::Relaxed),
        "messages": c.messages.load(Ordering::Relaxed),
        "mcp_calls": c.mcp_calls.load(Ordering::Relaxed),
        "mcp_calls_by_tool": by_tool,
    }))
}

/// Test-only raw mode: answers with the hex-encoded `x-demo-raw-body`, written in pieces.
async fn raw_mode(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(mut body) = text("x-demo-raw-body").and_then(|h| hex::decode(h.trim()).ok()) else {
        return next.run(req).await;
    };
    let pad: usize = text("x-demo-raw-pad")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    const MARK: &[u8] = b"@@PAD@@";
    if let Some(at) = body.windows(MARK.len()).position(|w| w == MARK) {
        body.splice(at..at + MARK.len(), std::iter::repeat_n(b'p', pad));
    }
    let mut splits: Vec<usize> = text("x-demo-raw-splits")
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&at| at > 0 && at < body.len())
        .collect();
    splits.sort_unstable();
    splits.dedup();
    let mut writes = Vec::new();
    let mut start = 0;
    for at in splits.into_iter().chain(std::iter::once(body.len())) {
        writes.push(Bytes::copy_from_slice(&body[start..at]));
        start = at;
    }
    let content_type = text("x-demo-raw-type")
        .unwrap_or("text/event-stream")
        .to_owned();
    let encoding = text("x-demo-raw-encoding").map(str::to_owned);
    let pause = text("x-demo-raw-pause-ms")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| WRITE_PAUSE_MS.load(Ordering::Relaxed));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
    tokio::spawn(async move {
        for w in writes {
            if tx.send(Ok(w)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    });
    let mut resp = Body::from_stream(ReceiverStream::new(rx)).into_response();
    if let Some(status) = text("x-demo-raw-status")
        .and_then(|s| s.trim().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    {
        *resp.status_mut() = status;
    }
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = encoding.and_then(|e| HeaderValue::from_str(&e).ok()) {
        resp.headers_mut().insert(header::CONTENT_ENCODING, v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// The scripted model, shared by the three LLM endpoints.

/// What the scripted model answers: an optional text, then tool calls `(name, arguments)`.
struct Reply {
    text: Option<String>,
    calls: Vec<(String, Value)>,
    /// How many deltas a streamed text is split into.
    pieces: usize,
    /// Entries added as they are (`"items"`).
    items: Vec<Value>,
    /// Chat: a legacy `function_call` (`"function_call"`).
    function_call: Option<Value>,
}

impl Reply {
    /// Follows the `x-demo-reply` script when there is one; else echoes a trailing tool result,
    /// else follows the script in the last user text.
    fn plan(headers: &HeaderMap, tool_result: Option<String>, user_text: Option<String>) -> Reply {
        if let Some(script) = header_json(headers, SCRIPT_HEADER) {
            return Reply::scripted(&script);
        }
        if let Some(result) = tool_result {
            let head: String = result.chars().take(ECHO_CHARS).collect();
            let text = format!("tool result received ({} bytes): {head}", result.len());
            return Reply {
                text: Some(text),
                calls: Vec::new(),
                pieces: PIECES,
                items: Vec::new(),
                function_call: None,
            };
        }
        let script = user_text
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null);
        Reply::scripted(&script)
    }

    /// The reply a script asks for (a default text when it asks for nothing).
    fn scripted(script: &Value) -> Reply {
        let calls = scripted_calls(script);
        let text = script
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let items: Vec<Value> = list(script, "items").to_vec();
        let function_call = script
            .get("function_call")
            .filter(|f| f.is_object())
            .cloned();
        let text = match text {
            None if calls.is_empty() && items.is_empty() && function_call.is_none() => {
                Some(DEFAULT_TEXT.to_owned())
            }
            text => text,
        };
        let pieces = script
            .get("pieces")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .map_or(PIECES, |n| n.clamp(1, 4096));
        Reply {
            text,
            calls,
            pieces,
            items,
            function_call,
        }
    }

    /// True when the reply proposes anything to run.
    fn has_calls(&self) -> bool {
        !(self.calls.is_empty() && self.items.is_empty() && self.function_call.is_none())
    }
}

/// A request header holding JSON.
fn header_json(headers: &HeaderMap, name: &str) -> Option<Value> {
    let raw = headers.get(name)?.to_str().ok()?;
    serde_json::from_str(raw).ok()
}

/// `{"tool", "arguments"}` or `{"tool_calls": [{"name", "arguments"}]}` → (name, arguments).
fn scripted_calls(script: &Value) -> Vec<(String, Value)> {
    let one = |v: &Value, key: &str| -> Option<(String, Value)> {
        let name = v.get(key)?.as_str()?.to_owned();
        Some((
            name,
            v.get("arguments").cloned().unwrap_or_else(|| json!({})),
        ))
    };
    if let Some(list) = script.get("tool_calls").and_then(Value::as_array) {
        return list.iter().filter_map(|c| one(c, "name")).collect();
    }
    one(script, "tool").into_iter().collect()
}

/// Text of a content value: a string, or the `text` fields of an array of parts/blocks joined.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn model_of(request: &Value) -> String {
    field(request, "model").unwrap_or("demo-model").to_owned()
}

fn wants_stream(request: &Value) -> bool {
    request.get("stream").and_then(Value::as_bool) == Some(true)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits `s` into about `n` pieces at char boundaries (at least one piece, never an empty one
/// unless `s` is empty).
fn pieces(s: &str, n: usize) -> Vec<&str> {
    let step = s.len().div_ceil(n.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + step).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    if out.is_empty() {
        out.push(s);
    }
    out
}

fn openai_bad_json() -> Response {
    let err = json!({"error": {"message": "request body is not JSON", "type": "invalid_request_error", "param": null, "code": "invalid_json"}});
    (StatusCode::BAD_REQUEST, Json(err)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Server-sent events, written in several pieces.

/// An SSE stream under construction: events, plus the one to cut in the middle and the one to
/// write with CRLF line ends cut between `\r` and `\n`.
#[derive(Default)]
struct Sse {
    events: Vec<(Option<String>, String)>,
    cut: Option<usize>,
    crlf: Option<usize>,
}

impl Sse {
    /// A `data:`-only event (Chat Completions style).
    fn data(&mut self, data: String) {
        self.events.push((None, data));
    }

    /// An event with an `event:` line.
    fn named(&mut self, name: &str, data: String) {
        self.events.push((Some(name.to_owned()), data));
    }

    /// An event named after its payload's `type` (Responses and Anthropic style).
    fn typed(&mut self, payload: Value) {
        let name = field(&payload, "type").map(str::to_owned);
        self.events.push((name, payload.to_string()));
    }

    /// A typed event with a `sequence_number` (Responses style).
    fn sequenced(&mut self, mut payload: Value) {
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("sequence_number".into(), json!(self.events.len()));
        }
        self.typed(payload);
    }

    fn cut_last(&mut self) {
        self.cut = self.events.len().checked_sub(1);
    }

    fn crlf_last(&mut self) {
        self.crlf = self.events.len().checked_sub(1);
    }

    /// The body writes, in order.
    fn writes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (name, data)) in self.events.iter().enumerate() {
            let crlf = self.crlf == Some(i);
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            if let Some(name) = name {
                text.push_str(&format!("event: {name}{eol}"));
            }
            text.push_str(&format!("data: {data}{eol}{eol}"));
            let at = if crlf {
                text.find('\r').map(|p| p + 1)
            } else if self.cut == Some(i) {
                let mut at = text.len() / 2;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                Some(at)
            } else {
                None
            };
            match at {
                Some(at) => {
                    out.push(text[..at].to_owned());
                    out.push(text[at..].to_owned());
                }
                None => out.push(text),
            }
        }
        out
    }

    /// A `text/event-stream` response whose writes go out one by one, `WRITE_PAUSE` apart.
    fn into_response(self) -> Response {
        let writes = self.writes();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
        tokio::spawn(async move {
            for w in writes {
                if tx.send(Ok(Bytes::from(w))).await.is_err() {
                    return;
                }
                let pause = WRITE_PAUSE_MS.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        });
        let headers = [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ];
        (headers, Body::from_stream(ReceiverStream::new(rx))).into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions.
