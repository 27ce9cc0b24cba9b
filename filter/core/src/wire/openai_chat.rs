//! OpenAI Chat Completions, non-streaming.
//!
//! Request: `messages[]` with `role` and `content` (a string or an array of parts with `text`).
//! Response: `choices[].message.tool_calls[]` with `id`, `function.name` and `function.arguments`
//! (a JSON string). Blocked calls are removed; a choice left without calls gets the refusal as
//! `message.content` and `finish_reason: "stop"`, which is a valid completion an agent loops on.

use serde_json::{json, Value};

use super::{content_text, tool_definitions, ProposedCall, Provenance, Removal, RequestView, Text};

/// System prompt (all `system`/`developer` messages joined), the first user message, every
/// message text with its provenance (`role: tool` messages are tool results; the tool's name is
/// taken from the assistant call with the same `tool_call_id`), and the tool definitions.
pub fn request_view(body: &Value) -> RequestView {
    let mut view = RequestView::default();
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return view;
    };
    let mut system: Vec<String> = Vec::new();
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let text = m.get("content").and_then(content_text);
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                let name = c
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                call_names.push((id, name));
            }
        }
        let (provenance, tool) = match role {
            "system" | "developer" => (Provenance::System, None),
            "user" => (Provenance::User, None),
            "assistant" => (Provenance::Assistant, None),
            "tool" | "function" => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                let name = call_names
                    .iter()
                    .find(|(cid, _)| !id.is_empty() && *cid == id)
                    .map(|(_, n)| (*n).to_owned())
                    .or_else(|| m.get("name").and_then(Value::as_str).map(str::to_owned));
                (Provenance::ToolResult, name)
            }
            _ => (Provenance::User, None),
        };
        match role {
            "system" | "developer" => system.extend(text.clone()),
            "user" if view.first_user.is_none() => {
                view.first_user = Some(text.clone().unwrap_or_default());
            }
            _ => {}
        }
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            view.texts.push(Text {
                provenance,
                text,
                pointer: format!("/messages/{i}/content"),
                tool,
            });
        }
    }
    view.texts.extend(tool_definitions(body));
    if !system.is_empty() {
        view.system = Some(system.join("\n"));
    }
    view
}

/// The assistant's text in each choice.
pub fn response_texts(body: &Value) -> Vec<Text> {
    let Some(choices) = body.get("choices").and_then(Value::as_array) else {
        return Vec::new();
    };
    choices
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let text = c.pointer("/message/content").and_then(content_text)?;
            (!text.is_empty()).then(|| Text {
                provenance: Provenance::Assistant,
                text,
                pointer: format!("/choices/{i}/message/content"),
                tool: None,
            })
        })
        .collect()
}

/// Replaces a message's content (or a tool's description) by the notice: a string is valid
/// content for every role. A missing `description` is added when its parent object exists.
pub fn redact(body: &mut Value, pointer: &str, notice: &str) -> bool {
    if let Some(v) = body.pointer_mut(pointer) {
        *v = Value::String(notice.to_owned());
        return true;
    }
    super::insert_description(body, pointer, notice)
}

/// Every `function` tool call in every choice, in order.
pub fn proposed_calls(body: &Value) -> Vec<ProposedCall> {
    let mut out = Vec::new();
    let Some(choices) = body.get("choices").and_then(Value::as_array) else {
        return out;
    };
    for (ci, choice) in choices.iter().enumerate() {
        let Some(calls) = choice
            .pointer("/message/tool_calls")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, call) in calls.iter().enumerate() {
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let func = call.get("function");
            let name = func
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let (arguments, duplicate_keys) =
                super::parse_arguments(func.and_then(|f| f.get("arguments")));
            out.push(ProposedCall {
                choice: ci,
                index: i,
                id,
                name,
                arguments,
                duplicate_keys,
            });
        }
    }
    out
}

/// Removes the given calls; a choice left with no calls gets the refusals as its content.
pub fn remove_calls(body: &mut Value, removals: &[Removal]) {
    let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    for (ci, choice) in choices.iter_mut().enumerate() {
        let mut mine: Vec<&Removal> = removals.iter().filter(|r| r.choice == ci).collect();
        if mine.is_empty() {
            continue;
        }
        mine.sort_by_key(|r| r.index);
        let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
            continue;
        };
        let left = match message.get_mut("tool_calls").and_then(Value::as_array_mut) {
            Some(calls) => {
                for r in mine.iter().rev() {
                    if r.index < calls.len() {
                        calls.remove(r.index);
                    }
                }
                calls.len()
            }
            None => 0,
        };
        if left > 0 {
            continue;
        }
        message.shift_remove("tool_calls");
        let refusal: Vec<&str> = mine.iter().map(|r| r.refusal.as_str()).collect();
        let mut text = refusal.join("\n");
        if let Some(prev) = message.get("content").and_then(Value::as_str) {
            if !prev.is_empty() {
                text = format!("{prev}\n\n{text}");
            }
        }
        message.insert("content".to_owned(), Value::String(text));
        if let Some(c) = choice.as_object_mut() {
            c.insert("finish_reason".to_owned(), Value::String("stop".to_owned()));
        }
    }
}

/// `{"error":{"message","type":"invalid_request_error","param":null,"code"}}`.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
        .to_string()
        .into_bytes()
}
