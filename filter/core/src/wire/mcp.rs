//! MCP: JSON-RPC 2.0 over Streamable HTTP, one message or a batch (an array) per body.
//!
//! Request: a `tools/call` message (`params.name`, `params.arguments`) is a call to judge; `choice`
//! is its position in the batch (0 for a single message) and `id` its JSON-RPC id as JSON text
//! (`1`, `"abc"`; empty for a notification). `prompts/get` string arguments are user texts.
//! Response (also each SSE event's data): `result.content` (with `structuredContent`) of a tool call,
//! `result.contents[].text` of a resource read and `result.messages[].content.text` of a prompt are
//! tool results; `result.tools[]` of a tool list are definitions. A refused call is answered
//! locally with a tool result flagged `isError`, which agents show to their model and move on.

use serde_json::{json, Map, Value};

use super::{ProposedCall, Provenance, RequestView, Text};

/// JSON-RPC code for "this batch member was not executed because another was refused".
const NOT_EXECUTED: i64 = -32001;

/// The messages of a body with their batch position and pointer prefix (`""` or `/N`).
fn messages(body: &Value) -> Vec<(usize, String, &Value)> {
    match body {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(n, m)| (n, format!("/{n}"), m))
            .collect(),
        other => vec![(0, String::new(), other)],
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Every `tools/call` as a call to judge, and `prompts/get` string arguments as user texts.
pub fn request_view(body: &Value) -> RequestView {
    let mut view = RequestView::default();
    for (n, prefix, m) in messages(body) {
        let params = m.get("params");
        match str_field(m, "method") {
            "tools/call" => view.calls.push(ProposedCall {
                choice: n,
                index: 0,
                id: m.get("id").map(Value::to_string).unwrap_or_default(),
                name: params
                    .map(|p| str_field(p, "name"))
                    .unwrap_or("")
                    .to_owned(),
                arguments: match params.and_then(|p| p.get("arguments")) {
                    None | Some(Value::Null) => Ok(json!({})),
                    Some(v @ Value::Object(_)) => Ok(v.clone()),
                    Some(other) => Err(other.to_string()),
                },
                // The body arrives parsed: a repeated key is already gone.
                duplicate_keys: false,
            }),
            "prompts/get" => {
                let Some(args) = params
                    .and_then(|p| p.get("arguments"))
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                for (k, v) in args {
                    if let Some(text) = v.as_str().filter(|t| !t.is_empty()) {
                        view.texts.push(Text {
                            provenance: Provenance::User,
                            text: text.to_owned(),
                            pointer: format!("{prefix}/params/arguments/{}", escape(k)),
                            tool: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    view
}

/// Text of a tool result's `content` blocks (`text`, and the `text` of embedded resources), with
/// `structuredContent` serialized after it.
fn tool_result_text(result: &Map<String, Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(blocks) = result.get("content").and_then(Value::as_array) {
        for b in blocks {
            let text = match str_field(b, "type") {
                "text" => b.get("text").and_then(Value::as_str),
                "resource" => b.pointer("/resource/text").and_then(Value::as_str),
                _ => None,
            };
            parts.extend(text.filter(|t| !t.is_empty()).map(str::to_owned));
        }
    }
    if let Some(s) = result.get("structuredContent").filter(|s| !s.is_null()) {
        parts.push(s.to_string());
    }
    parts.join("\n")
}

/// Tool results (`ToolResult`, tool name unknown) and tool definitions (`ToolDefinition`) of every
/// message of a response.
pub fn response_texts(body: &Value) -> Vec<Text> {
    let mut out = Vec::new();
    for (_, prefix, m) in messages(body) {
        let Some(result) = m.get("result").and_then(Value::as_object) else {
            continue;
        };
        let text = tool_result_text(result);
        if !text.is_empty() {
            out.push(tool_result(text, format!("{prefix}/result/content")));
        }
        if let Some(contents) = result.get("contents").and_then(Value::as_array) {
            for (k, c) in contents.iter().enumerate() {
                if let Some(text) = c.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        let pointer = format!("{prefix}/result/contents/{k}/text");
                        out.push(tool_result(text.to_owned(), pointer));
                    }
                }
            }
        }
        if let Some(msgs) = result.get("messages").and_then(Value::as_array) {
            for (k, pm) in msgs.iter().enumerate() {
                if let Some(text) = pm.pointer("/content/text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        let pointer = format!("{prefix}/result/messages/{k}/content/text");
                        out.push(tool_result(text.to_owned(), pointer));
                    }
                }
            }
        }
        if let Some(tools) = result.get("tools").and_then(Value::as_array) {
            for (k, t) in tools.iter().enumerate() {
                out.extend(tool_definition(
                    t,
                    format!("{prefix}/result/tools/{k}/description"),
                ));
            }
        }
    }
    out
}

fn tool_result(text: String, pointer: String) -> Text {
    Text {
        provenance: Provenance::ToolResult,
        text,
        pointer,
        tool: None,
    }
}

/// A `tools/list` entry: name, title, description and input schema, one per line.
fn tool_definition(tool: &Value, pointer: String) -> Option<Text> {
    let name = tool.get("name").and_then(Value::as_str);
    let mut lines: Vec<String> = ["name", "title", "description"]
        .iter()
        .filter_map(|k| tool.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(schema) = tool.get("inputSchema").filter(|s| !s.is_null()) {
        lines.push(schema.to_string());
    }
    (!lines.is_empty()).then(|| Text {
        provenance: Provenance::ToolDefinition,
        text: lines.join("\n"),
        pointer,
        tool: name.map(str::to_owned),
    })
}

/// Replaces the text at `pointer`: a tool result's `…/result/content` becomes one text block with
/// the notice (and its `structuredContent`, which carries the same data, is dropped); any other
/// pointer (a description, a resource or prompt text) becomes the notice string. A tool without a
/// description gets one.
pub fn redact(body: &mut Value, pointer: &str, notice: &str) -> bool {
    if let Some(parent) = pointer.strip_suffix("/content") {
        if parent == "/result" || parent.ends_with("/result") {
            let Some(result) = body.pointer_mut(parent).and_then(Value::as_object_mut) else {
                return false;
            };
            result.insert(
                "content".to_owned(),
                json!([{"type": "text", "text": notice}]),
            );
            result.shift_remove("structuredContent");
            return true;
        }
    }
    match body.pointer_mut(pointer) {
        Some(v) => {
            *v = Value::String(notice.to_owned());
            true
        }
        None => super::insert_description(body, pointer, notice),
    }
}

/// `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message","data":{"code"}}}`.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": message, "data": {"code": code}}})
        .to_string()
        .into_bytes()
}

fn refused(id: Value, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}], "isError": true}})
}

/// The refusal text for a batch position (several refusals joined with `\n`), if any.
fn refusal_at(refusals: &[(usize, String)], n: usize) -> Option<String> {
    let texts: Vec<&str> = refusals
        .iter()
        .filter(|(p, _)| *p == n)
        .map(|(_, t)| t.as_str())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

/// The reply to a request whose calls were refused: for each `(batch position, refusal text)` a
/// JSON-RPC result `{"content":[{"type":"text","text":…}],"isError":true}` with that request's
/// id; calls of the batch not refused get a JSON-RPC error saying they were not executed.
///
/// A batch answers only its requests (members with a `method` and an `id`); notifications get
/// nothing. When that leaves nothing to answer (or the body is not a message), the reply is one
/// refusal result with `id: null`, so the body is always a JSON-RPC message.
pub fn refusal_reply(request: &Value, refusals: &[(usize, String)]) -> Vec<u8> {
    let all = || {
        let texts: Vec<&str> = refusals.iter().map(|(_, t)| t.as_str()).collect();
        texts.join("\n")
    };
    let reply = match request {
        Value::Array(items) => {
            let replies: Vec<Value> = items
                .iter()
                .enumerate()
                .filter(|(_, m)| m.get("method").is_some())
                .filter_map(|(n, m)| {
                    let id = m.get("id")?.clone();
                    Some(match refusal_at(refusals, n) {
                        Some(text) => refused(id, &text),
                        None => json!({"jsonrpc": "2.0", "id": id, "error": {
                            "code": NOT_EXECUTED,
                            "message": "not executed: another call in this batch was refused by the firewall"
                        }}),
                    })
                })
                .collect();
            if replies.is_empty() {
                refused(Value::Null, &all())
            } else {
                Value::Array(replies)
            }
        }
        single => {
            let id = single.get("id").cloned().unwrap_or(Value::Null);
            refused(id, &refusal_at(refusals, 0).unwrap_or_else(all))
        }
    };
    reply.to_string().into_bytes()
}

#[cfg(test)]
#[path = "mcp_tests.rs"]
mod tests;
