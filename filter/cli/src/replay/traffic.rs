//! One scenario step as real provider traffic, and what the agent would read back from it.
//!
//! Requests carry the conversation so far in the provider's own shape: the user's prompt, then for
//! every earlier call that went through, the assistant's tool call and the tool's result. The
//! scripted upstream is told the step's call in the `x-demo-reply` header. The decision is read
//! only from what reached the client: status, body, the `x-llmfw-*` headers, and on streams the
//! events and the `: llmfw decision=…` comment.

use serde_json::{json, Map, Value};

use super::Provider;

/// The system prompt every replayed conversation starts with.
const SYSTEM: &str = "You are an operations agent. Use the tools to complete the task.";
/// The user's first message when a scenario has no `prompt`.
const DEFAULT_PROMPT: &str = "Carry out the assigned task with the tools you have.";
/// The scripted reply after the last step: the model answers with text.
pub const FINAL_TEXT: &str = "Done.";
/// Reason prefix the filter writes for a neutralised tool result.
const REDACTED_REASON: &str = "tool result redacted";
/// Start of the notice that replaces a neutralised tool result (MCP answers).
const REDACTED_NOTICE: &str = "[llmfw] This tool output was removed";
/// Start of the refusal text that replaces a removed call.
const REFUSAL: &str = "[llmfw] Tool call";

/// An earlier call that went through, and what the tool returned.
#[derive(Clone, Debug)]
pub struct Turn {
    /// Call id the replay gives the call in the conversation.
    pub id: String,
    /// Tool name.
    pub tool: String,
    /// Arguments.
    pub arguments: Value,
    /// The tool's output.
    pub result: String,
}

/// What the next reply should contain.
pub enum Next<'a> {
    /// The step's tool call.
    Call { tool: &'a str, arguments: &'a Value },
    /// A closing text answer (delivers the last tool result to the model).
    Text,
}

/// One request: path, body and the headers besides identity.
pub struct Request {
    /// Path on the Envoy listener.
    pub path: &'static str,
    /// JSON body.
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

/// JSON with every non-ASCII character escaped, so it fits in a header value.
pub fn ascii_json(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn script(next: &Next<'_>) -> String {
    let v = match next {
        Next::Call { tool, arguments } => {
            json!({"tool_calls": [{"name": tool, "arguments": arguments}]})
        }
        Next::Text => json!({"text": FINAL_TEXT}),
    };
    ascii_json(&v)
}

/// Tool definitions for every tool the scenario uses (names only; open schemas).
fn tool_names<'a>(history: &'a [Turn], next: &'a Next<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = history.iter().map(|t| t.tool.as_str()).collect();
    if let Next::Call { tool, .. } = next {
        names.push(tool);
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// The request for an LLM provider: the conversation so far, then ask for `next`.
pub fn llm_request(
    provider: Provider,
    stream: bool,
    prompt: Option<&str>,
    history: &[Turn],
    next: &Next<'_>,
) -> Request {
    let prompt = prompt.unwrap_or(DEFAULT_PROMPT);
    let names = tool_names(history, next);
    let (path, body) = match provider {
        Provider::OpenaiChat => {
            let mut messages = vec![
                json!({"role": "system", "content": SYSTEM}),
                json!({"role": "user", "content": prompt}),
            ];
            for t in history {
                messages.push(
                    json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": t.id, "type": "function",
                    "function": {"name": t.tool, "arguments": t.arguments.to_string()}}]}),
                );
                messages.push(json!({"role": "tool", "tool_call_id": t.id, "content": t.result}));
            }
            let tools: Vec<Value> = names
                .iter()
                .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}))
                .collect();
            (
                "/v1/chat/completions",
                json!({"model": "replay", "messages": messages, "tools": tools, "stream": stream}),
            )
        }
        Provider::OpenaiResponses => {
            let mut input = vec![json!({"role": "user", "content": prompt})];
            for t in history {
                input.push(
                    json!({"type": "function_call", "call_id": t.id, "name": t.tool,
                                  "arguments": t.arguments.to_string()}),
                );
                input.push(
                    json!({"type": "function_call_output", "call_id": t.id, "output": t.result}),
                );
            }
            let tools: Vec<Value> = names
                .iter()
                .map(|n| json!({"type": "function", "name": n, "parameters": {"type": "object"}}))
                .collect();
            (
                "/v1/responses",
                json!({"model": "replay", "instructions": SYSTEM, "input": input, "tools": tools,
                       "stream": stream}),
            )
        }
        Provider::Anthropic | Provider::Mcp => {
            let mut messages = vec![json!({"role": "user", "content": prompt})];
            for t in history {
                messages.push(json!({"role": "assistant", "content": [
                    {"type": "tool_use", "id": t.id, "name": t.tool, "input": t.arguments}]}));
                messages.push(json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": t.id, "content": t.result}]}));
            }
            let tools: Vec<Value> = names
                .iter()
                .map(|n| json!({"name": n, "input_schema": {"type": "object"}}))
                .collect();
            (
                "/v1/messages",
                json!({"model": "replay", "max_tokens": 1024, "system": SYSTEM,
                       "messages": messages, "tools": tools, "stream": stream}),
            )
        }
    };
    Request {
        path,
        body,
        headers: vec![("x-demo-reply", script(next))],
    }
}

/// The MCP `tools/call` for a step; the scripted server returns `result`.
pub fn mcp_request(stream: bool, id: u64, tool: &str, arguments: &Value, result: &str) -> Request {
    let mut headers = vec![
        (
            "x-demo-result",
            ascii_json(&Value::String(result.to_owned())),
        ),
        ("accept", "application/json, text/event-stream".to_owned()),
    ];
    if stream {
        headers.push(("x-demo-sse", "1".to_owned()));
    }
    Request {
        path: "/mcp",
        body: json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                     "params": {"name": tool, "arguments": arguments}}),
        headers,
    }
}

/// What the agent read back.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Seen {
    /// HTTP status.
    pub status: u16,
    /// Names of the tool calls the agent received (LLM) / true if the MCP call ran.
    pub calls: Vec<String>,
    /// Assistant text (refusals land here) or MCP result text.
    pub text: String,
    /// `x-llmfw-decision` (or the stream comment's `decision=`).
    pub decision: Option<String>,
    /// `x-llmfw-reasons` split on `"; "` (or the stream comment's `reasons=`).
    pub reasons: Vec<String>,
    /// A firewall error code in an error body (`llmfw_prompt_blocked`, …).
    pub firewall_error: Option<String>,
    /// The MCP result was marked `isError`.
    pub mcp_error: bool,
}

impl Seen {
    /// How many tool results the firewall neutralised in this exchange.
    pub fn redactions(&self) -> usize {
        let by_reason = self
            .reasons
            .iter()
            .filter(|r| r.starts_with(REDACTED_REASON))
            .count();
        let by_notice = self.text.matches(REDACTED_NOTICE).count();
        by_reason.max(by_notice)
    }

    /// The action on the proposed call `tool`, as the agent experienced it.
    pub fn call_action(&self, tool: &str) -> &'static str {
        if self.firewall_error.is_some() {
            return "block";
        }
        if self.calls.iter().any(|c| c == tool) {
            let own: Vec<&String> = self
                .reasons
                .iter()
                .filter(|r| !r.starts_with(REDACTED_REASON))
                .collect();
            return match self.decision.as_deref() {
                Some("warn") if !own.is_empty() || self.reasons.is_empty() => "warn",
                _ => "allow",
            };
        }
        if self.text.contains("approval required") {
            "require_approval"
        } else {
            "block"
        }
    }

    /// For MCP: the call's action (the call ran unless the firewall answered for it).
    pub fn mcp_action(&self) -> &'static str {
        if self.firewall_error.is_some() {
            return "block";
        }
        if self.text.starts_with(REFUSAL) {
            return if self.text.contains("approval required") {
                "require_approval"
            } else {
                "block"
            };
        }
        if self.redactions() > 0 {
            return "redact";
        }
        match self.decision.as_deref() {
            Some("warn") => "warn",
            Some("require_approval") => "require_approval",
            Some("block") => "block",
            _ => "allow",
        }
    }
}

impl Seen {
    /// Status and the firewall's `x-llmfw-decision` / `x-llmfw-reasons` headers.
    fn from_headers(status: u16, headers: &reqwest::header::HeaderMap) -> Seen {
        Seen {
            status,
            decision: header(headers, "x-llmfw-decision"),
            reasons: header(headers, "x-llmfw-reasons")
                .map(|r| split_reasons(&r))
                .unwrap_or_default(),
            ..Seen::default()
        }
    }

    /// The stream comment `decision=ACTION reasons=R1; R2` (the decision of a stream, whose
    /// headers left before it was made).
    fn comment(&mut self, comment: Option<&str>) {
        if let Some(c) = comment {
            let rest = c.strip_prefix("decision=").unwrap_or("");
            let (decision, reasons) = rest.split_once(" reasons=").unwrap_or((rest, ""));
            self.decision = Some(decision.to_owned());
            self.reasons = split_reasons(reasons);
        }
    }
}

fn is_sse(headers: &reqwest::header::HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|c| c.contains("event-stream"))
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn split_reasons(s: &str) -> Vec<String> {
    s.split("; ")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// SSE blocks as (event name, data) plus the firewall's comment, if any.
fn sse_events(text: &str) -> (Vec<(String, Value)>, Option<String>) {
    let text = text.replace("\r\n", "\n");
    let mut out = Vec::new();
    let mut comment = None;
    for block in text.split("\n\n") {
        let mut name = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(c) = line.strip_prefix(": llmfw ") {
                comment = Some(c.to_owned());
            } else if let Some(v) = line.strip_prefix("event:") {
                v.trim().clone_into(&mut name);
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if let Ok(v) = serde_json::from_str(&data.join("\n")) {
            out.push((name, v));
        }
    }
    (out, comment)
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Reads an LLM provider's reply (JSON or SSE).
pub fn read_llm(
    provider: Provider,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Seen {
    let mut seen = Seen::from_headers(status, headers);
    let text = String::from_utf8_lossy(body);
    if !is_sse(headers) {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if status != 200 {
            seen.firewall_error = firewall_code(&v);
            seen.text = text.chars().take(300).collect();
            return seen;
        }
        json_reply(provider, &v, &mut seen);
        return seen;
    }
    let (events, comment) = sse_events(&text);
    seen.comment(comment.as_deref());
    for (name, v) in &events {
        if seen.firewall_error.is_none() {
            seen.firewall_error = firewall_code(v);
        }
        stream_event(provider, name, v, &mut seen);
    }
    seen
}

/// The firewall's error code in a provider-shaped error (`error.code`, Anthropic's
/// `error.llmfw_code`, MCP's `error.data.code`), if it is one of ours.
fn firewall_code(v: &Value) -> Option<String> {
    ["/error/code", "/error/llmfw_code", "/error/data/code"]
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .find(|c| c.starts_with("llmfw_"))
        .map(str::to_owned)
}

fn json_reply(provider: Provider, v: &Value, seen: &mut Seen) {
    match provider {
        Provider::OpenaiChat => {
            let msg = &v["choices"][0]["message"];
            seen.text = str_of(msg, "/content").to_owned();
            for c in msg["tool_calls"].as_array().into_iter().flatten() {
                seen.calls.push(str_of(c, "/function/name").to_owned());
            }
        }
        Provider::OpenaiResponses => {
            for item in v["output"].as_array().into_iter().flatten() {
                match str_of(item, "/type") {
                    "function_call" => seen.calls.push(str_of(item, "/name").to_owned()),
                    "message" => {
                        for part in item["content"].as_array().into_iter().flatten() {
                            seen.text.push_str(str_of(part, "/text"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Provider::Anthropic | Provider::Mcp => {
            for block in v["content"].as_array().into_iter().flatten() {
                match str_of(block, "/type") {
                    "tool_use" => seen.calls.push(str_of(block, "/name").to_owned()),
                    "text" => seen.text.push_str(str_of(block, "/text")),
                    _ => {}
                }
            }
        }
    }
}

fn stream_event(provider: Provider, name: &str, v: &Value, seen: &mut Seen) {
    match provider {
        Provider::OpenaiChat => {
            let delta = &v["choices"][0]["delta"];
            seen.text.push_str(str_of(delta, "/content"));
            for c in delta["tool_calls"].as_array().into_iter().flatten() {
                let n = str_of(c, "/function/name");
                if !n.is_empty() {
                    seen.calls.push(n.to_owned());
                }
            }
        }
        Provider::OpenaiResponses => match name {
            "response.output_item.added" if str_of(v, "/item/type") == "function_call" => {
                seen.calls.push(str_of(v, "/item/name").to_owned());
            }
            "response.output_text.delta" => seen.text.push_str(str_of(v, "/delta")),
            _ => {}
        },
        Provider::Anthropic | Provider::Mcp => match name {
            "content_block_start" if str_of(v, "/content_block/type") == "tool_use" => {
                seen.calls.push(str_of(v, "/content_block/name").to_owned());
            }
            "content_block_start" => seen.text.push_str(str_of(v, "/content_block/text")),
            "content_block_delta" => seen.text.push_str(str_of(v, "/delta/text")),
            _ => {}
        },
    }
}

/// Reads an MCP `tools/call` answer (JSON or SSE).
pub fn read_mcp(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Seen {
    let mut seen = Seen::from_headers(status, headers);
    let text = String::from_utf8_lossy(body);
    let reply = if is_sse(headers) {
        let (events, comment) = sse_events(&text);
        seen.comment(comment.as_deref());
        events
            .into_iter()
            .map(|(_, v)| v)
            .next()
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    if status != 200 {
        seen.firewall_error = firewall_code(&reply);
        seen.text = text.chars().take(300).collect();
        return seen;
    }
    let result = reply.get("result").cloned().unwrap_or(Value::Null);
    seen.mcp_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    for part in result["content"].as_array().into_iter().flatten() {
        seen.text.push_str(str_of(part, "/text"));
    }
    if reply.get("error").is_some() {
        seen.text = str_of(&reply, "/error/message").to_owned();
    }
    seen
}

/// A short description of an unexpected reply, for error messages (no content beyond 200 chars
/// of the upstream's or Envoy's own error body).
pub fn describe(status: u16, body: &[u8]) -> String {
    let head: String = String::from_utf8_lossy(body).chars().take(200).collect();
    format!("HTTP {status}: {head}")
}

/// The arguments as an object (scenario steps may carry other JSON).
pub fn arguments_object(v: &Value) -> Value {
    match v {
        Value::Object(_) => v.clone(),
        Value::Null => Value::Object(Map::new()),
        other => json!({ "value": other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_escapes_non_ascii_and_round_trips() {
        let v = json!({"t": "naïve 𝄞 ok\n"});
        let s = ascii_json(&v);
        assert!(s.is_ascii(), "{s}");
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }

    #[test]
    fn stream_comment_and_calls_are_read() {
        let body = b": llmfw decision=warn reasons=tool result redacted: pi.x; scope\n\n\
data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"nmap\",\"arguments\":\"\"}}]}}]}\n\n\
data: [DONE]\n\n";
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("content-type", "text/event-stream".parse().unwrap());
        let seen = read_llm(Provider::OpenaiChat, 200, &h, body);
        assert_eq!(seen.calls, vec!["nmap"]);
        assert_eq!(seen.decision.as_deref(), Some("warn"));
        assert_eq!(seen.redactions(), 1);
        // the call's own reason ("scope") makes it a warn
        assert_eq!(seen.call_action("nmap"), "warn");
        // only the redaction: the call itself was allowed
        let only = Seen {
            calls: vec!["nmap".into()],
            decision: Some("warn".into()),
            reasons: vec!["tool result redacted: pi.x".into()],
            ..Seen::default()
        };
        assert_eq!(only.call_action("nmap"), "allow");
    }

    #[test]
    fn refusals_and_firewall_errors() {
        let refused = Seen {
            text: "[llmfw] Tool call `x` was blocked: approval required: id a1 (r)".into(),
            ..Seen::default()
        };
        assert_eq!(refused.call_action("x"), "require_approval");
        assert_eq!(refused.mcp_action(), "require_approval");
        let blocked = Seen {
            text: "[llmfw] Tool call `x` was blocked: tool is deny-listed".into(),
            ..Seen::default()
        };
        assert_eq!(blocked.call_action("x"), "block");
        let h = reqwest::header::HeaderMap::new();
        let body = br#"{"error":{"message":"m","type":"invalid_request_error","code":"llmfw_prompt_blocked"}}"#;
        let seen = read_llm(Provider::OpenaiChat, 400, &h, body);
        assert_eq!(seen.firewall_error.as_deref(), Some("llmfw_prompt_blocked"));
        assert_eq!(seen.call_action("x"), "block");
        let redacted = Seen {
            text: format!("{REDACTED_NOTICE} by the firewall"),
            ..Seen::default()
        };
        assert_eq!(redacted.mcp_action(), "redact");
    }
}
