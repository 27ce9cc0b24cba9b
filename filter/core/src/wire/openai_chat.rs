//! OpenAI Chat Completions, non-streaming.
//!
//! Request: `messages[]` with `role` and `content` (a string or an array of parts with `text`).
//! Response: `choices[].message.tool_calls[]` with `id`, `function.name` and `function.arguments`
//! (a JSON string). Blocked calls are removed; a choice left without calls gets the refusal as
//! `message.content` and `finish_reason: "stop"`, which is a valid completion an agent loops on.

use serde_json::{json, Value};

use super::kinds::{self, Position};
use super::{
    calls, content_text, tool_definitions, ProposedCall, Provenance, Removal, RequestView,
    ResponseView, Text,
};

/// The `index` of the call read from a legacy `message.function_call` (there is one per
/// message, beside or instead of `tool_calls`).
pub const LEGACY_FUNCTION_CALL: usize = usize::MAX;

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
        if kinds::handling(Position::ChatRequestRole, role).is_none() {
            view.unknown.push(kinds::unknown_at(
                Position::ChatRequestRole,
                role,
                format!("/messages/{i}"),
                (0, i),
            ));
            continue;
        }
        kinds::note_parts(
            m.get("content"),
            Position::ChatRequestContentPart,
            &format!("/messages/{i}/content"),
            0,
            &mut view.unknown,
        );
        let text = m.get("content").and_then(content_text);
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for (k, c) in calls.iter().enumerate() {
                let ty = c.get("type").and_then(Value::as_str).unwrap_or("function");
                if kinds::handling(Position::ChatRequestToolCall, ty).is_none() {
                    view.unknown.push(kinds::unknown_at(
                        Position::ChatRequestToolCall,
                        ty,
                        format!("/messages/{i}/tool_calls/{k}"),
                        (0, i),
                    ));
                }
                let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                call_names.push((id, calls::history_name(c)));
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

/// Every call in every choice, in order: `tool_calls[]` entries of type `function` and `custom`
/// (see [`calls::chat_tool_call`]), then a legacy `message.function_call` (index
/// [`LEGACY_FUNCTION_CALL`]); entries of other types are unknown.
pub fn response_view(body: &Value) -> ResponseView {
    let mut view = ResponseView::default();
    let Some(choices) = body.get("choices").and_then(Value::as_array) else {
        return view;
    };
    for (ci, choice) in choices.iter().enumerate() {
        let message = choice.get("message");
        let entries = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array);
        for (i, call) in entries.into_iter().flatten().enumerate() {
            let id = call.get("id").and_then(Value::as_str).unwrap_or("");
            let Some(c) = calls::chat_tool_call(call) else {
                let ty = call.get("type").and_then(Value::as_str).unwrap_or("");
                view.unknown.push(kinds::unknown_at(
                    Position::ChatResponseToolCall,
                    ty,
                    format!("/choices/{ci}/message/tool_calls/{i}"),
                    (ci, i),
                ));
                continue;
            };
            view.calls.push(ProposedCall {
                choice: ci,
                index: i,
                id: id.to_owned(),
                name: c.name,
                arguments: c.arguments,
                duplicate_keys: c.duplicate_keys,
                defect: None,
            });
        }
        if let Some(f) = message
            .and_then(|m| m.get("function_call"))
            .filter(|f| !f.is_null())
        {
            let name = f.get("name").and_then(Value::as_str).unwrap_or("");
            let (arguments, duplicate_keys) = super::parse_arguments(f.get("arguments"));
            let arguments = if f.is_object() {
                arguments
            } else {
                Err(f.to_string())
            };
            view.calls.push(ProposedCall {
                choice: ci,
                index: LEGACY_FUNCTION_CALL,
                id: String::new(),
                name: name.to_owned(),
                arguments,
                duplicate_keys,
                defect: None,
            });
        }
    }
    view
}

/// The proposed calls of [`response_view`].
pub fn proposed_calls(body: &Value) -> Vec<ProposedCall> {
    response_view(body).calls
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
        if mine.iter().any(|r| r.index == LEGACY_FUNCTION_CALL) {
            message.shift_remove("function_call");
        }
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
        let legacy_left = message.get("function_call").is_some_and(|f| !f.is_null());
        if left > 0 || legacy_left {
            continue;
        }
        message.shift_remove("tool_calls");
        message.shift_remove("function_call");
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
