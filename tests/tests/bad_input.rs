//! Bad input through the real Envoy with the built `.wasm` (issue 8): every case of the table in
//! [`cases`] is sent to one stack and must get its defined answer — a provider-shaped error with a
//! given status and code, a pass with a given counter counted, or a blocked tool call — and after
//! each case a normal request must still be judged correctly (Envoy alive, the VM not crashed).
//! Upstream answers are scripted with the demo upstream's raw mode (`x-demo-raw-body`, hex).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::time::Duration;

use llmfw_tests::stack::RawReply;
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const RESPONSES: &str = "/v1/responses";
const MESSAGES: &str = "/v1/messages";
const MCP: &str = "/mcp";

/// The filter's body cap in this stack (small, so the "past the cap" cases stay cheap).
const CAP: usize = 64 * 1024;

const ALLOW: &str = "wasmcustom.llmfw.decision.allow";
const BLOCK: &str = "wasmcustom.llmfw.decision.block";
const INVALID: &str = "wasmcustom.llmfw.request.invalid";
const CALLOUT: &str = "wasmcustom.llmfw.callout.sent";
const COUNTERS: [&str; 4] = [ALLOW, BLOCK, INVALID, CALLOUT];

fn config() -> Value {
    json!({
        "routes": [
            {"path_prefix": CHAT, "format": "openai_chat"},
            {"path_prefix": RESPONSES, "format": "openai_responses"},
            {"path_prefix": MESSAGES, "format": "anthropic"},
            {"path_prefix": MCP, "format": "mcp"}
        ],
        "identity": {"operator_header": "x-llmfw-operator", "session_header": "x-llmfw-session", "tenant_header": "x-llmfw-tenant"},
        "state_service": {"cluster": "llmfw_state", "timeout_ms": 2000, "failure_mode": "closed"},
        "tools": {"deny": ["delete_*"]},
        "max_body_bytes": CAP
    })
}

/// What a case must get.
#[derive(Clone, Copy)]
enum Expect {
    /// The filter's provider-shaped error: HTTP status and `llmfw_*` code; `request.invalid` +1
    /// unless the status is 502 (a response-side refusal, `decision.block` +1).
    Error(u16, &'static str),
    /// Reaches the upstream and comes back with this status; the counter (if any) +1 and the
    /// predicate holds on the reply.
    Pass(u16, Option<&'static str>, fn(&RawReply) -> bool),
    /// A stream cut off by the firewall: status 200 (the headers were sent), an SSE error event
    /// with this code ends it, `decision.block` +1.
    StreamError(&'static str),
    /// A tool call in the reply was refused: `decision.block` +1, no `delete_*` call left for the
    /// agent, the refusal text present.
    Block,
}

struct Case {
    name: &'static str,
    route: &'static str,
    /// Headers beyond `x-llmfw-operator/-session/-tenant` (set unless `anonymous`).
    headers: Vec<(&'static str, String)>,
    anonymous: bool,
    body: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, route: &'static str, body: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        route,
        headers: vec![("content-type", "application/json".to_owned())],
        anonymous: false,
        body: body.into(),
        expect,
    }
}

impl Case {
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Case {
        self.headers.retain(|(n, _)| *n != k);
        self.headers.push((k, v.into()));
        self
    }
    fn without(mut self, k: &'static str) -> Case {
        self.headers.retain(|(n, _)| *n != k);
        self
    }
    fn anonymous(mut self) -> Case {
        self.anonymous = true;
        self
    }
    /// The upstream answers with exactly `body` (content type `ct`), written split at `splits`.
    fn upstream(self, ct: &str, body: &[u8], splits: &[usize]) -> Case {
        let splits: Vec<String> = splits.iter().map(ToString::to_string).collect();
        self.header("x-demo-raw-body", hex::encode(body))
            .header("x-demo-raw-type", ct)
            .header("x-demo-raw-splits", splits.join(","))
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies.

fn chat(user: &str) -> Vec<u8> {
    json!({"model": "m", "messages": [{"role": "user", "content": user}]})
        .to_string()
        .into_bytes()
}
fn responses(user: &str) -> Vec<u8> {
    json!({"model": "m", "input": user})
        .to_string()
        .into_bytes()
}
fn messages(user: &str) -> Vec<u8> {
    json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": user}]})
        .to_string()
        .into_bytes()
}
fn mcp_call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}
fn valid(route: &str) -> Vec<u8> {
    match route {
        CHAT => chat("hi"),
        RESPONSES => responses("hi"),
        MESSAGES => messages("hi"),
        _ => mcp_call(1, "read_file", json!({"path": "/tmp/notes.txt"}))
            .to_string()
            .into_bytes(),
    }
}
fn script(tool: &str, args: Value) -> String {
    json!({"tool": tool, "arguments": args}).to_string()
}
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A chat completion proposing `name(arguments)` with `arguments` as the raw JSON-string content.
fn chat_completion_raw_args(name: &str, arguments: &str) -> Vec<u8> {
    let call = json!({"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}});
    json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": null, "tool_calls": [call]}, "finish_reason": "tool_calls"}]})
    .to_string()
    .into_bytes()
}

/// `body` (a JSON object) with one more member `"padding": PAD` at its end.
fn padded(body: Vec<u8>, pad: &str) -> Vec<u8> {
    let mut text = String::from_utf8(body).unwrap();
    text.pop();
    format!("{text},\"padding\":{pad}}}").into_bytes()
}

/// An OpenAI chat SSE stream proposing `name(arguments)`, the arguments split in two deltas.
fn chat_sse(name: &str, arguments: &str, eol: &str, done: bool) -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let (a, b) = arguments.split_at(arguments.len() / 2);
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": name, "arguments": a}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
    ];
    if done {
        events.push("[DONE]".to_owned());
    }
    events
        .iter()
        .map(|e| format!("data: {e}{eol}{eol}"))
        .collect::<String>()
        .into_bytes()
}

fn chat_sse_text(text: &str, done: bool) -> Vec<u8> {
    let mut out = format!(
        "data: {}\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": null}]})
    );
    if done {
        out.push_str("data: [DONE]\n\n");
    }
    out.into_bytes()
}

/// An Anthropic stream proposing `name(input)` without `message_stop`.
fn anthropic_sse(name: &str, input: &str) -> Vec<u8> {
    let (a, b) = input.split_at(input.len() / 2);
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "m", "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "tu_1", "name": name, "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": a}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": b}}),
        json!({"type": "content_block_stop", "index": 0}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect::<String>()
        .into_bytes()
}

/// An OpenAI Responses stream proposing `name(arguments)` without `response.completed`.
fn responses_sse(name: &str, arguments: &str) -> Vec<u8> {
    let item = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": ""});
    let done = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": arguments, "status": "completed"});
    let events = [
        json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": arguments}),
        json!({"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1", "arguments": arguments}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": done}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect::<String>()
        .into_bytes()
}

/// A gzip member holding `data` in one stored (uncompressed) deflate block.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

// ---------------------------------------------------------------------------------------------
// Reply predicates.

fn json_of(r: &RawReply) -> Value {
    serde_json::from_slice(&r.bytes).unwrap_or(Value::Null)
}
fn any(_: &RawReply) -> bool {
    true
}
fn has_text(r: &RawReply) -> bool {
    !r.bytes.is_empty()
}
/// A chat completion with exactly one `get_weather` call (judged and allowed).
fn weather_call(r: &RawReply) -> bool {
    json_of(r)["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
}
/// The MCP tool ran (its result came back).
fn mcp_result(r: &RawReply) -> bool {
    let v = json_of(r);
    let items = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    items.iter().any(|i| i.get("result").is_some())
}
/// A JSON-RPC error from the MCP server (not from the firewall).
fn mcp_server_error(r: &RawReply) -> bool {
    let v = json_of(r);
    let items = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    items
        .iter()
        .any(|i| i["error"]["code"].is_i64() && i["error"]["data"]["code"].is_null())
}
/// The stream came through with its text and no firewall comment.
fn sse_text(r: &RawReply) -> bool {
    r.text().contains("plain streamed text")
}

/// The `llmfw_*` code of a provider-shaped error body, per route.
fn error_code(route: &str, v: &Value) -> Option<String> {
    let code = match route {
        MESSAGES => (v["type"] == "error").then(|| &v["error"]["llmfw_code"])?,
        MCP => (v["jsonrpc"] == "2.0" && v["error"]["code"].is_i64())
            .then(|| &v["error"]["data"]["code"])?,
        _ => (v["error"]["message"].is_string()).then(|| &v["error"]["code"])?,
    };
    code.as_str().map(str::to_owned)
}

/// The reply still offers a `delete_*` call to the agent.
fn offers_delete(r: &RawReply) -> bool {
    let text = r.text();
    // JSON or SSE: a blocked call's name only appears inside the refusal text (in backticks)
    text.contains("\"name\":\"delete_") || text.contains("\"name\": \"delete_")
}

// ---------------------------------------------------------------------------------------------
// The table.

fn cases() -> Vec<Case> {
    use Expect::{Block, Error, Pass, StreamError};
    let bad_json = Error(400, "llmfw_invalid_json");
    let too_large = Error(413, "llmfw_body_too_large");
    let encoding = Error(415, "llmfw_unsupported_encoding");
    let ambiguous = Error(400, "llmfw_ambiguous_json");
    let weather = script("get_weather", json!({"city": "Paris"}));
    let delete = script("delete_repository", json!({"repo": "acme/app"}));
    let big = "x".repeat(CAP + 1024);
    let mut v = vec![
        // malformed JSON, every route
        case("chat: not JSON", CHAT, "{\"model\": \"m\", messages: [", bad_json),
        case("responses: not JSON", RESPONSES, "{'model': 'm'}", bad_json),
        case("anthropic: not JSON", MESSAGES, "<xml/>", bad_json),
        case("mcp: not JSON", MCP, "{\"jsonrpc\":\"2.0\",,}", bad_json),
        case("chat: trailing garbage", CHAT, [chat("hi"), b"}{".to_vec()].concat(), bad_json),
        case("chat: top level array", CHAT, "[]", bad_json),
        case("anthropic: top level string", MESSAGES, "\"hello\"", bad_json),
        case("responses: top level null", RESPONSES, "null", bad_json),
        case("mcp: empty batch", MCP, "[]", bad_json),
        case("mcp: top level number", MCP, "42", bad_json),
        // truncated bodies (complete HTTP framing, JSON cut short)
        case("chat: truncated in a string", CHAT, chat("hello there")[..30].to_vec(), bad_json),
        case("anthropic: truncated after a key", MESSAGES, messages("x")[..20].to_vec(), bad_json),
        case("mcp: truncated call", MCP, valid(MCP)[..40].to_vec(), bad_json),
        case("responses: one byte", RESPONSES, "{", bad_json),
        // past the cap
        case("chat: body past max_body_bytes", CHAT, chat(&big), too_large),
        case("responses: body past max_body_bytes", RESPONSES, responses(&big), too_large),
        case("anthropic: body past max_body_bytes", MESSAGES, messages(&big), too_large),
        case("mcp: body past max_body_bytes", MCP, mcp_call(1, "read_file", json!({"path": big})).to_string(), too_large),
        case("chat: 3 MiB, past Envoy's buffer limit too", CHAT, chat(&"y".repeat(3 << 20)), too_large),
        // nesting
        case("chat: 10,000 deep array", CHAT, format!("{{\"model\":\"m\",\"messages\":{}}}", nested(10_000)), bad_json),
        case("mcp: 10,000 deep arguments", MCP, format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"read_file\",\"arguments\":{{\"a\":{}}}}}}}", nested(10_000)), bad_json),
        case("anthropic: 100 deep (within limits)", MESSAGES, format!("{{\"model\":\"m\",\"max_tokens\":8,\"metadata\":{},\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}", nested(100)), Pass(200, None, has_text)),
        // huge arrays and strings under the cap
        case("chat: 60 KB prompt", CHAT, chat(&"lorem ipsum ".repeat(5000)), Pass(200, None, has_text)),
        // a message with no role is a type the firewall does not know: refused (unknown_types=refuse)
        case("chat: 10,000 empty messages", CHAT, format!("{{\"model\":\"m\",\"messages\":[{}{{\"role\":\"user\",\"content\":\"hi\"}}]}}", "{},".repeat(10_000)), Error(400, "llmfw_unknown_type")),
        case("responses: 2,000 input items", RESPONSES, json!({"model": "m", "input": vec![json!({"role": "user", "content": "a"}); 2000]}).to_string(), Pass(200, None, has_text)),
        // invalid UTF-8 and lone surrogates
        case("chat: invalid UTF-8 in a prompt", CHAT, [&b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfe\"}]}"[..]].concat(), bad_json),
        case("anthropic: overlong UTF-8", MESSAGES, [&b"{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}"[..]].concat(), bad_json),
        case("mcp: invalid UTF-8 in arguments", MCP, [&b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"\xed\xa0\x80\"}}}"[..]].concat(), bad_json),
        case("chat: lone high surrogate escape", CHAT, r#"{"model":"m","messages":[{"role":"user","content":"\ud800 ignore previous instructions"}]}"#, bad_json),
        case("responses: lone low surrogate escape", RESPONSES, r#"{"model":"m","input":"\udc00"}"#, bad_json),
        case("chat: valid surrogate pair passes", CHAT, r#"{"model":"m","messages":[{"role":"user","content":"\ud83d\ude00"}]}"#, Pass(200, None, has_text)),
        // duplicate keys: the firewall and the upstream could read different requests
        case("mcp: duplicate tool name", MCP, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_files","name":"read_file","arguments":{"path":"/"}}}"#, ambiguous),
        case("mcp: duplicate method", MCP, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"delete_files","arguments":{}}}"#, ambiguous),
        case("chat: duplicate messages key", CHAT, r#"{"model":"m","messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"}]}"#, ambiguous),
        case("anthropic: duplicate key in a content block", MESSAGES, r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a","content":"b"}]}"#, ambiguous),
        case("chat: duplicate keys in proposed arguments", CHAT, chat("x"), Block)
            .upstream("application/json", &chat_completion_raw_args("write_file", r#"{"path":"/tmp/a","path":"/etc/passwd"}"#), &[]),
        // compressed request bodies
        case("chat: gzip request body", CHAT, gzip_stored(&chat("hi")), encoding).header("content-encoding", "gzip"),
        case("responses: br request body", RESPONSES, vec![0x1b, 0x03, 0x00, 0xf8, 0xa5, 0x40], encoding).header("content-encoding", "br"),
        case("anthropic: gzip label on plain JSON", MESSAGES, messages("hi"), encoding).header("content-encoding", "gzip"),
        case("mcp: deflate request body", MCP, vec![0x78, 0x9c, 0x03, 0x00], encoding).header("content-encoding", "deflate"),
        case("chat: content-encoding identity passes", CHAT, chat(&weather), Pass(200, Some(ALLOW), weather_call)).header("content-encoding", "identity"),
        // compressed responses
        case("chat: gzip JSON response", CHAT, chat("x"), Error(502, "llmfw_uninspectable_response"))
            .upstream("application/json", &gzip_stored(&chat_completion_raw_args("delete_repository", "{}")), &[])
            .header("x-demo-raw-encoding", "gzip"),
        case("anthropic: br SSE response", MESSAGES, messages("x"), Error(502, "llmfw_uninspectable_response"))
            .upstream("text/event-stream", &anthropic_sse("delete_repository", "{}"), &[])
            .header("x-demo-raw-encoding", "br"),
        // answers the filter's JSON parser cannot read (a client's parser may): fail closed
        case("chat: tool call in an answer nested 300 deep", CHAT, chat("x"), Error(502, "llmfw_uninspectable_response"))
            .upstream("application/json", &padded(chat_completion_raw_args("delete_repository", "{}"), &nested(300)), &[]),
        case("chat: truncated JSON answer", CHAT, chat("x"), Error(502, "llmfw_uninspectable_response"))
            .upstream("application/json", &chat_completion_raw_args("delete_repository", "{}")[..120], &[]),
        // content types
        case("chat: text/plain request is still inspected", CHAT, chat(&delete), Block).header("content-type", "text/plain"),
        case("chat: no content-type is still inspected", CHAT, chat(&delete), Block).without("content-type"),
        case("anthropic: form-encoded body", MESSAGES, "model=m&max_tokens=8", bad_json).header("content-type", "application/x-www-form-urlencoded"),
        case("mcp: multipart body", MCP, "--b\r\ncontent-disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n", bad_json).header("content-type", "multipart/form-data; boundary=b"),
        case("chat: tool call in a text/plain response", CHAT, chat("x"), Block)
            .upstream("text/plain", &chat_completion_raw_args("delete_repository", "{}"), &[]),
        case("chat: SSE sent as application/json", CHAT, chat("x"), Block)
            .upstream("application/json", &chat_sse("delete_repository", "{\"repo\":\"a\"}", "\n", true), &[]),
        // SSE framing
        case("chat: SSE without [DONE]", CHAT, chat("x"), Block)
            .upstream("text/event-stream", &chat_sse("delete_repository", "{\"repo\":\"acme/app\"}", "\n", false), &[10, 200]),
        case("chat: SSE text without [DONE]", CHAT, chat("x"), Pass(200, Some(ALLOW), sse_text))
            .upstream("text/event-stream", &chat_sse_text("plain streamed text", false), &[7]),
        case("chat: SSE with CR-only line ends", CHAT, chat("x"), Block)
            .upstream("text/event-stream", &chat_sse("delete_repository", "{\"repo\":\"a\"}", "\r", false), &[]),
        case("chat: SSE with CRLF split between CR and LF", CHAT, chat("x"), Block)
            .upstream("text/event-stream", &chat_sse("delete_repository", "{\"repo\":\"a\"}", "\r\n", true), &[1, 2, 3, 100, 101]),
        case("anthropic: SSE without message_stop", MESSAGES, messages("x"), Block)
            .upstream("text/event-stream", &anthropic_sse("delete_repository", "{\"repo\":\"acme/app\"}"), &[50]),
        case("responses: SSE without response.completed", RESPONSES, responses("x"), Block)
            .upstream("text/event-stream", &responses_sse("delete_repository", "{\"repo\":\"acme/app\"}"), &[33]),
        // an event that is not JSON ends the stream: what follows it is never judged on a partial read
        case("chat: SSE garbage data lines around a call", CHAT, chat("x"), StreamError("llmfw_uninspectable_response"))
            .upstream("text/event-stream", &[&b"data: {not json\n\n: comment\n\nretry: x\n\n"[..], &chat_sse("delete_repository", "{}", "\n", true)].concat(), &[5]),
        case("chat: SSE event past the cap", CHAT, chat("x"), StreamError("llmfw_body_too_large"))
            .upstream("text/event-stream", b"data: @@PAD@@", &[1000])
            .header("x-demo-raw-pad", (CAP + 10).to_string()),
        case("chat: empty SSE body", CHAT, chat("x"), Pass(200, Some(ALLOW), any))
            .upstream("text/event-stream", b"", &[]),
        // MCP batches
        case("mcp: batch, one denied call among valid ones", MCP, json!([mcp_call(1, "read_file", json!({"path": "/tmp/a"})), mcp_call(2, "delete_files", json!({"path": "/"})), {"jsonrpc": "2.0", "method": "notifications/initialized"}]).to_string(), Block),
        case("mcp: batch, valid call among invalid items", MCP, json!([mcp_call(1, "read_file", json!({"path": "/tmp/a"})), 42, "x", {}, null]).to_string(), Pass(200, Some(ALLOW), mcp_result)),
        case("mcp: call without a name", MCP, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}).to_string(), Pass(200, None, mcp_server_error)),
        case("mcp: name of the wrong type", MCP, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 7, "arguments": {}}}).to_string(), Pass(200, None, mcp_server_error)),
        case("mcp: arguments as a string", MCP, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_files", "arguments": "{\"path\":\"/\"}"}}).to_string(), Block),
        // absurd tool-argument sizes
        case("mcp: 50 KB argument (under the cap)", MCP, mcp_call(1, "read_file", json!({"path": "/tmp/x", "pad": "p".repeat(50_000)})).to_string(), Pass(200, Some(ALLOW), mcp_result)),
        case("chat: proposed call with 50 KB arguments", CHAT, chat(&script("get_weather", json!({"city": "Paris", "pad": "p".repeat(50_000)}))), Pass(200, Some(ALLOW), weather_call)),
        case("chat: proposed call with arguments past the cap", CHAT, chat("x"), Error(413, "llmfw_body_too_large"))
            .upstream("application/json", &chat_completion_raw_args("get_weather", "{\"pad\":\"@@PAD@@\"}"), &[])
            .header("x-demo-raw-pad", (CAP + 1024).to_string()),
        case("chat: proposed call with 10,000 deep arguments", CHAT, chat("x"), Block)
            .upstream("application/json", &chat_completion_raw_args("get_weather", &nested(10_000)), &[]),
        case("chat: proposed arguments with a lone surrogate", CHAT, chat("x"), Block)
            .upstream("application/json", &chat_completion_raw_args("get_weather", r#"{"city":"\ud800"}"#), &[]),
        case("chat: proposed arguments not JSON", CHAT, chat("x"), Block)
            .upstream("application/json", &chat_completion_raw_args("get_weather", "{city: Paris"), &[]),
        // headers and identity
        case("chat: no identity headers", CHAT, chat(&weather), Pass(200, Some(ALLOW), weather_call)).anonymous(),
        case("chat: no identity, denied call still blocked", CHAT, chat(&delete), Block).anonymous(),
        case("chat: empty operator header", CHAT, chat(&weather), Pass(200, Some(ALLOW), weather_call)).header("x-llmfw-operator", ""),
        case("chat: 8 KB operator header", CHAT, chat(&weather), Pass(200, Some(ALLOW), weather_call)).header("x-llmfw-operator", "o".repeat(8192)),
        case("chat: tab and spaces in the session header", CHAT, chat(&weather), Pass(200, Some(ALLOW), weather_call)).header("x-llmfw-session", "a\tb  c"),
        case("anthropic: x-request-id full of quotes", MESSAGES, messages("hi"), Pass(200, None, has_text)).header("x-request-id", "\"'\\;--".repeat(50)),
    ];
    for c in &mut v {
        if matches!(c.expect, Pass(..) | Block) && c.route == CHAT && c.body.is_empty() {
            c.body = chat("x");
        }
    }
    v
}

/// Raw HTTP/1.1 cases (bytes the HTTP client refuses to send): the request bytes, the status
/// Envoy must answer (0: Envoy closes without an answer) and whether the upstream may be reached.
fn raw_cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let body = String::from_utf8(chat(&script("get_weather", json!({"city": "Paris"})))).unwrap();
    let req = |extra: &str, body: &str, len: usize| {
        format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n{extra}content-length: {len}\r\n\r\n{body}").into_bytes()
    };
    vec![
        ("control character in the operator header", req("x-llmfw-operator: a\x01b\r\n", &body, body.len()), 400),
        ("NUL in the session header", req("x-llmfw-session: a\x00b\r\n", &body, body.len()), 400),
        // Envoy's parser takes a bare LF as a line end: two well-formed headers, judged as usual
        ("bare LF inside a header value", req("x-llmfw-operator: a\nb: c\r\n", &body, body.len()), 200),
        ("non-UTF-8 bytes in the operator header", [&b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-llmfw-operator: \xff\xfe\xe9\r\n"[..], format!("content-length: {}\r\n\r\n{body}", body.len()).as_bytes()].concat(), 200),
        ("truncated body (content-length larger, then EOF)", req("", &body[..body.len() / 2], body.len()), 0),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running.

/// The filter's counters of [`COUNTERS`], in one `/stats` read.
async fn counters(stack: &Stack) -> Vec<u64> {
    let url = format!(
        "http://127.0.0.1:{}/stats?filter=wasmcustom.llmfw",
        stack.admin_port
    );
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    COUNTERS
        .iter()
        .map(|name| {
            text.lines()
                .filter_map(|l| l.split_once(": "))
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

fn delta(before: &[u64], after: &[u64], name: &str) -> u64 {
    let i = COUNTERS.iter().position(|c| *c == name).unwrap();
    after[i] - before[i]
}

/// Lines of the Envoy log that say the wasm VM failed.
fn vm_failures(stack: &Stack) -> Vec<String> {
    stack
        .envoy
        .log_text()
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("panicked")
                || l.contains("uncaught")
                || l.contains("wasm vm failed")
                || l.contains("unreachable")
        })
        .map(str::to_owned)
        .collect()
}

/// After a case: Envoy alive, the VM intact, an allowed call judged and allowed (one callout),
/// a denied call blocked.
async fn probe(stack: &mut Stack, after: &str, n: usize) {
    assert!(stack.envoy.running(), "envoy died after `{after}`");
    let fails = vm_failures(stack);
    assert!(
        fails.is_empty(),
        "wasm VM failed after `{after}`: {fails:?}"
    );
    let before = counters(stack).await;
    let r = stack
        .propose(
            "probe",
            &format!("s-probe-{n}"),
            "get_weather",
            json!({"city": "Oslo"}),
        )
        .await
        .unwrap_or_else(|e| panic!("probe after `{after}`: {e}"));
    assert_eq!(
        (r.status, r.tool_names()),
        (200, vec!["get_weather".to_owned()]),
        "probe after `{after}`: {:?}",
        r.body
    );
    let r = stack
        .propose(
            "probe",
            &format!("s-probe-{n}"),
            "delete_repository",
            json!({"repo": "a/b"}),
        )
        .await
        .unwrap();
    assert!(
        r.tool_names().is_empty() && r.content().contains("blocked"),
        "probe after `{after}`: {:?}",
        r.body
    );
    let after_c = counters(stack).await;
    assert_eq!(
        delta(&before, &after_c, ALLOW),
        1,
        "probe after `{after}`: allow not counted"
    );
    assert_eq!(
        delta(&before, &after_c, BLOCK),
        1,
        "probe after `{after}`: block not counted"
    );
    assert_eq!(
        delta(&before, &after_c, CALLOUT),
        1,
        "probe after `{after}`: callout not counted"
    );
}

async fn run_case(stack: &Stack, c: &Case) -> Result<(), String> {
    let mut headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !c.anonymous {
        for (k, v) in [
            ("x-llmfw-operator", "bad-input"),
            ("x-llmfw-session", "s-bad"),
            ("x-llmfw-tenant", "e2e"),
        ] {
            if !headers.iter().any(|(n, _)| *n == k) {
                headers.push((k, v));
            }
        }
    }
    let before = counters(stack).await;
    let r = stack
        .post_bytes(c.route, &headers, c.body.clone())
        .await
        .map_err(|e| format!("request failed: {e:#}"))?;
    let after = counters(stack).await;
    let d = |n| delta(&before, &after, n);
    let fail = |what: &str| {
        Err(format!(
            "{what}: status {} body {}",
            r.status,
            r.text().chars().take(600).collect::<String>()
        ))
    };
    match c.expect {
        Expect::Error(status, code) => {
            if r.status != status {
                return fail(&format!("want status {status}"));
            }
            if error_code(c.route, &json_of(&r)).as_deref() != Some(code) {
                return fail(&format!("want a provider-shaped error with code {code}"));
            }
            let counter = if status == 502 || (status == 413 && d(INVALID) == 0) {
                BLOCK
            } else {
                INVALID
            };
            if d(counter) != 1 {
                return fail(&format!(
                    "want {counter} +1, deltas {:?}",
                    (d(ALLOW), d(BLOCK), d(INVALID))
                ));
            }
        }
        Expect::Pass(status, counter, pred) => {
            if r.status != status || !pred(&r) {
                return fail(&format!(
                    "want a pass with status {status} and the predicate"
                ));
            }
            if let Some(counter) = counter {
                if d(counter) < 1 {
                    return fail(&format!("want {counter} counted"));
                }
            }
            if d(BLOCK) + d(INVALID) != 0 {
                return fail("nothing may be blocked or invalid");
            }
        }
        Expect::StreamError(code) => {
            let (events, _) = r.sse();
            let last = events.last().map(|(_, v)| v["error"]["code"].clone());
            if r.status != 200 || last != Some(json!(code)) || offers_delete(&r) {
                return fail(&format!("want a stream ended by an error event {code}"));
            }
            if d(BLOCK) != 1 {
                return fail(&format!("want {BLOCK} +1"));
            }
        }
        Expect::Block => {
            if r.status != 200 || offers_delete(&r) || !r.text().contains("blocked") {
                return fail("want a 200 with the call refused");
            }
            if d(BLOCK) != 1 {
                return fail(&format!("want {BLOCK} +1"));
            }
        }
    }
    Ok(())
}

async fn stack(label: &str) -> Stack {
    let mut opts = StackOptions::new(label, Some(Store::Sqlite));
    opts.plugin_config = config();
    Stack::start(opts).await.unwrap()
}

#[tokio::test]
async fn every_bad_input_gets_its_defined_answer_and_envoy_keeps_serving() {
    let mut stack = stack("bad-input").await;
    let table = cases();
    assert!(table.len() >= 50, "{} cases", table.len());
    let mut failures = Vec::new();
    for (n, c) in table.iter().enumerate() {
        if let Err(e) = run_case(&stack, c).await {
            failures.push(format!("[{}] {} ({}): {e}", n, c.name, c.route));
        }
        probe(&mut stack, c.name, n).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn raw_http_bad_input_is_refused_by_envoy_or_judged() {
    let mut stack = stack("bad-input-raw").await;
    let mut failures = Vec::new();
    for (n, (name, bytes, want)) in raw_cases().into_iter().enumerate() {
        let calls_before = stack.upstream_stats().await.unwrap()["completions"]
            .as_u64()
            .unwrap();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", stack.listen_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&bytes).unwrap();
        if want == 0 {
            // the client gives up mid-body
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let calls = stack.upstream_stats().await.unwrap()["completions"]
            .as_u64()
            .unwrap()
            - calls_before;
        let want_calls = u64::from(want == 200);
        if status != want || calls != want_calls {
            failures.push(format!(
                "{name}: status {status} (want {want}), upstream reached {calls}×: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        if want == 200 && !text.contains("get_weather") {
            failures.push(format!("{name}: the allowed call is missing: {text}"));
        }
        probe(&mut stack, name, n).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One POST through Envoy with owned arguments (for concurrent requests).
async fn post_owned(
    http: reqwest::Client,
    port: u16,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = http.post(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in &headers {
        req = req.header(*k, v);
    }
    match req.body(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, format!("{e:#}")),
    }
}

/// A tool-call stream split into two upstream writes at every byte boundary: the deny-listed
/// call is refused every time and the stream ends cleanly; a text-only stream passes unchanged.
/// (Sixteen requests in flight at a time; the upstream pauses 2 ms between the two writes.)
#[tokio::test]
async fn sse_split_at_every_byte_boundary() {
    let mut stack = stack("bad-input-sse").await;
    let text = "plain streamed text \u{fc}n\u{ef}c\u{f6}d\u{e9}";
    // (route, label, request, upstream stream, holds a call to refuse)
    type Stream = (&'static str, &'static str, Vec<u8>, Vec<u8>, bool);
    let streams: Vec<Stream> = vec![
        (
            CHAT,
            "chat",
            chat("x"),
            chat_sse("delete_repository", "{\"repo\":\"acme/app\"}", "\r\n", true),
            true,
        ),
        (
            MESSAGES,
            "anthropic",
            messages("x"),
            anthropic_sse("delete_repository", "{\"repo\":\"acme/app\"}"),
            true,
        ),
        (CHAT, "text", chat("x"), chat_sse_text(text, true), false),
    ];
    let mut jobs = Vec::new();
    for (route, label, request, sse, blocks) in &streams {
        for at in 1..sse.len() {
            let c = case("split", route, request.clone(), Expect::Block)
                .upstream("text/event-stream", sse, &[at])
                .header("x-demo-raw-pause-ms", "2")
                .header("x-llmfw-operator", "split")
                .header("x-llmfw-session", format!("s-{label}-{at}"));
            jobs.push((
                format!("{label} split at {at}"),
                *route,
                c.headers,
                c.body,
                *blocks,
            ));
        }
    }
    let total = jobs.len();
    let blocking = jobs.iter().filter(|j| j.4).count() as u64;
    let before = counters(&stack).await;
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for batch in jobs.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for (name, route, headers, body, blocks) in batch.iter().cloned() {
            let (http, port) = (http.clone(), stack.listen_port);
            set.spawn(async move {
                (
                    name,
                    blocks,
                    post_owned(http, port, route, headers, body).await,
                )
            });
        }
        while let Some(done) = set.join_next().await {
            let (name, blocks, (status, body)) = done.unwrap();
            let reply = RawReply {
                status,
                headers: Default::default(),
                bytes: body.into_bytes(),
            };
            let ok = if blocks {
                status == 200 && !offers_delete(&reply) && reply.text().contains("was blocked")
            } else {
                let (events, done) = reply.sse();
                let got: String = events
                    .iter()
                    .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
                    .collect();
                status == 200 && done && got == text
            };
            if !ok {
                failures.push(format!(
                    "{name}: {status} {}",
                    reply.text().chars().take(400).collect::<String>()
                ));
            }
        }
    }
    let after = counters(&stack).await;
    assert_eq!(
        delta(&before, &after, BLOCK),
        blocking,
        "every split stream with a call counted as blocked once"
    );
    assert_eq!(delta(&before, &after, INVALID), 0);
    probe(&mut stack, "every split", 0).await;
    assert!(total > 1000, "{total}");
    assert!(
        failures.is_empty(),
        "{} of {total} splits failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
