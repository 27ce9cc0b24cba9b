//! MCP: JSON-RPC 2.0 over Streamable HTTP, one message or a batch (an array) per body.
//!
//! Request: a `tools/call` message (`params.name`, `params.arguments`) is a call to judge; `choice`
//! is its position in the batch (0 for a single message) and `id` its JSON-RPC id as JSON text
//! (`1`, `"abc"`; empty for a notification). `prompts/get` string arguments are user texts.
//! Response (also each SSE event's data): every text a server sends, in judged units ([`scan`]):
//! tool results, resource contents (blobs decoded when they are text), prompt messages, errors,
//! server requests (`sampling/createMessage`, `elicitation/create`) and notifications, and the
//! entries of tool, prompt and resource lists at any depth of their schemas. A refused call is
//! answered locally with a tool result flagged `isError`, which agents show to their model and
//! move on.

use serde_json::{json, Value};

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

use scan::escape;

#[path = "mcp_scan.rs"]
pub mod scan;

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
                defect: None,
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

/// The judged units of a server's answer (every text it carries, see [`scan`]) as texts: tool
/// results, resource contents, prompt messages, errors, server requests and notifications
/// (`ToolResult`), and tools/prompts/resources list entries (`ToolDefinition`).
pub fn response_texts(body: &Value) -> Vec<Text> {
    scan::units(body).into_iter().map(|u| u.text).collect()
}

/// Replaces the text at `pointer`: a unit pointer of [`response_texts`] is neutralised whole in
/// the shape its kind requires (see [`scan`]: a tool result becomes one text block with the
/// notice and loses its `structuredContent` (then marked `isError`); a list entry, `params` or `result` has every
/// free-text string replaced); any other pointer (a request's prompt argument, a description)
/// becomes the notice string. A tool without a description gets one.
pub fn redact(body: &mut Value, pointer: &str, notice: &str) -> bool {
    if scan::replace_unit(body, pointer, notice) {
        return true;
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
