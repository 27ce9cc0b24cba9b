//! OpenAI Responses (`/v1/responses`), non-streaming.
//!
//! Request: `instructions` (the system prompt) and `input`, either a string (one user message) or
//! an array of items: messages (`type: "message"` or no type, with `role` and `content` a string or
//! an array of parts with `text`), `function_call` items from the history (their names are recorded
//! by `call_id`) and `function_call_output` items (tool results, `output` a string or an array of
//! parts). `tools[]` are definitions. Response: `output[]` items; `function_call` items are the
//! proposed calls (`arguments` a JSON string), `message` items hold the assistant's text. Blocked
//! calls are removed; when no call is left a completed assistant `message` item carrying the
//! refusals takes the place of the first removed one, which is a valid response an agent loops on.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::kinds::{self, Handling, Position};
use super::{
    calls, content_text, tool_definitions, ProposedCall, Provenance, Removal, RequestView,
    ResponseView, Text,
};

fn item_type(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or("")
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The system prompt (`instructions` and every `system`/`developer` message joined), the first
/// user message, every text with its provenance (`function_call_output` items are tool results,
/// named after the `function_call` with the same `call_id`), and the tool definitions.
pub fn request_view(body: &Value) -> RequestView {
    let mut view = RequestView::default();
    let mut system: Vec<String> = Vec::new();
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        system.push(instructions.to_owned());
        if !instructions.is_empty() {
            view.texts.push(Text {
                provenance: Provenance::System,
                text: instructions.to_owned(),
                pointer: "/instructions".to_owned(),
                tool: None,
            });
        }
    }
    match body.get("input") {
        Some(Value::String(s)) => {
            view.first_user = Some(s.clone());
            if !s.is_empty() {
                view.texts.push(Text {
                    provenance: Provenance::User,
                    text: s.clone(),
                    pointer: "/input".to_owned(),
                    tool: None,
                });
            }
        }
        Some(Value::Array(items)) => input_items(items, &mut view, &mut system),
        _ => {}
    }
    view.texts.extend(tool_definitions(body));
    if !system.is_empty() {
        view.system = Some(system.join("\n"));
    }
    view
}

/// Item types whose `output` is a string (or text parts) that a notice can replace.
const REDACTABLE_OUTPUT: &[&str] = &[
    "function_call_output",
    "custom_tool_call_output",
    "local_shell_call_output",
    "apply_patch_call_output",
    "mcp_call",
];

fn input_items(items: &[Value], view: &mut RequestView, system: &mut Vec<String>) {
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let kind = match item_type(item) {
            "" => "message",
            k => k,
        };
        let Some(handling) = kinds::handling(Position::ResponsesRequestInputItem, kind) else {
            view.unknown.push(kinds::unknown_at(
                Position::ResponsesRequestInputItem,
                kind,
                format!("/input/{i}"),
                (0, i),
            ));
            continue;
        };
        match handling {
            Handling::HistoryCall => {
                call_names.push((str_field(item, "call_id"), calls::history_name(item)));
            }
            Handling::Data => data_item(i, item, kind, &call_names, view),
            Handling::Definitions => {
                let text = calls::data_text(item);
                if !text.is_empty() {
                    view.texts.push(Text {
                        provenance: Provenance::ToolDefinition,
                        text,
                        pointer: String::new(),
                        tool: None,
                    });
                }
            }
            Handling::Text if kind == "reasoning" => {
                let mut parts: Vec<&str> = Vec::new();
                for key in ["summary", "content"] {
                    for p in item
                        .get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        parts.extend(p.get("text").and_then(Value::as_str));
                    }
                }
                if !parts.is_empty() {
                    view.texts.push(Text {
                        provenance: Provenance::Assistant,
                        text: parts.join("\n"),
                        pointer: String::new(),
                        tool: None,
                    });
                }
            }
            Handling::Text => message_item(i, item, view, system),
            _ => {}
        }
    }
}

/// A tool's or hosted tool's output: its `output` when that is what a notice can replace, else
/// every string of the item (not redactable in place: poison there refuses the request).
fn data_item(
    i: usize,
    item: &Value,
    kind: &str,
    call_names: &[(&str, &str)],
    view: &mut RequestView,
) {
    let id = str_field(item, "call_id");
    let tool = call_names
        .iter()
        .find(|(cid, _)| !id.is_empty() && *cid == id)
        .map(|(_, n)| (*n).to_owned())
        .or_else(|| item.get("name").and_then(Value::as_str).map(str::to_owned));
    let output = item.get("output");
    if kind == "function_call_output" || kind == "custom_tool_call_output" {
        kinds::note_parts(
            output,
            Position::ResponsesRequestToolOutputPart,
            &format!("/input/{i}/output"),
            0,
            &mut view.unknown,
        );
    }
    let redactable =
        REDACTABLE_OUTPUT.contains(&kind) && output.is_some_and(|o| o.is_string() || o.is_array());
    let (text, pointer) = if redactable && kind != "mcp_call" {
        let text = output.map(calls::data_text).unwrap_or_default();
        (text, format!("/input/{i}/output"))
    } else if redactable && item.get("error").is_none_or(Value::is_null) {
        // mcp_call: the server's output is the result; the arguments are the model's own.
        let text = output.map(calls::data_text).unwrap_or_default();
        (text, format!("/input/{i}/output"))
    } else {
        (calls::data_text(item), String::new())
    };
    if !text.is_empty() {
        view.texts.push(Text {
            provenance: Provenance::ToolResult,
            text,
            pointer,
            tool,
        });
    }
}

fn message_item(i: usize, item: &Value, view: &mut RequestView, system: &mut Vec<String>) {
    let role = str_field(item, "role");
    let content = item.get("content");
    kinds::note_parts(
        content,
        Position::ResponsesRequestContentPart,
        &format!("/input/{i}/content"),
        0,
        &mut view.unknown,
    );
    let text = content.and_then(content_text);
    let provenance = match role {
        "system" | "developer" => {
            system.extend(text.clone());
            Provenance::System
        }
        "assistant" => Provenance::Assistant,
        _ => {
            if role == "user" && view.first_user.is_none() {
                view.first_user = Some(text.clone().unwrap_or_default());
            }
            Provenance::User
        }
    };
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        view.texts.push(Text {
            provenance,
            text,
            pointer: format!("/input/{i}/content"),
            tool: None,
        });
    }
}

/// The assistant's text: one text per `message` item of `output`.
pub fn response_texts(body: &Value) -> Vec<Text> {
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        return Vec::new();
    };
    output
        .iter()
        .enumerate()
        .filter(|(_, item)| item_type(item) == "message")
        .filter_map(|(i, item)| {
            let text = item.get("content").and_then(content_text)?;
            (!text.is_empty()).then(|| Text {
                provenance: Provenance::Assistant,
                text,
                pointer: format!("/output/{i}/content"),
                tool: None,
            })
        })
        .collect()
}

/// Replaces the value at `pointer` by the notice in the same shape: a string stays a string, an
/// array of parts becomes one text part of the type the first part had (`input_text` or
/// `output_text`). A tool definition without a description gets one.
pub fn redact(body: &mut Value, pointer: &str, notice: &str) -> bool {
    if let Some(v) = body.pointer_mut(pointer) {
        *v = replacement(v, pointer, notice);
        return true;
    }
    super::insert_description(body, pointer, notice)
}

fn replacement(old: &Value, pointer: &str, notice: &str) -> Value {
    let Value::Array(parts) = old else {
        return Value::String(notice.to_owned());
    };
    let known = ["input_text", "output_text", "text"];
    let part_type = parts
        .iter()
        .map(item_type)
        .find(|t| known.contains(t))
        .unwrap_or(if pointer.starts_with("/output/") {
            "output_text"
        } else {
            "input_text"
        });
    if part_type == "output_text" {
        json!([{"type": "output_text", "text": notice, "annotations": []}])
    } else {
        json!([{"type": part_type, "text": notice}])
    }
}

/// Every call item of `output` (`function_call`, `custom_tool_call`, `local_shell_call`,
/// `shell_call`, `apply_patch_call`, `computer_call`, `mcp_approval_request`, ... read by
/// [`calls::responses_item`]): choice 0, index = position in `output`, id = `call_id` (the item
/// `id` when there is none); and the items of unknown types.
pub fn response_view(body: &Value) -> ResponseView {
    let mut view = ResponseView::default();
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        return view;
    };
    for (i, item) in output.iter().enumerate() {
        let kind = item_type(item);
        match kinds::handling(Position::ResponsesResponseOutputItem, kind) {
            None => view.unknown.push(kinds::unknown_at(
                Position::ResponsesResponseOutputItem,
                kind,
                format!("/output/{i}"),
                (0, i),
            )),
            Some(Handling::ModelText) if kind == "message" => kinds::note_parts(
                item.get("content"),
                Position::ResponsesResponseContentPart,
                &format!("/output/{i}/content"),
                0,
                &mut view.unknown,
            ),
            Some(Handling::Call) => {
                let Some(call) = calls::responses_item(item) else {
                    continue;
                };
                let id = match str_field(item, "call_id") {
                    "" => str_field(item, "id"),
                    id => id,
                };
                view.calls.push(ProposedCall {
                    choice: 0,
                    index: i,
                    id: id.to_owned(),
                    name: call.name,
                    arguments: call.arguments,
                    duplicate_keys: call.duplicate_keys,
                    defect: None,
                });
            }
            Some(_) => {}
        }
    }
    // An unknown part inside a message is judged (or refused) as the whole message item.
    for u in &mut view.unknown {
        if u.position == Position::ResponsesResponseContentPart {
            u.at = (
                0,
                u.pointer
                    .split('/')
                    .nth(2)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            );
        }
    }
    view
}

/// The proposed calls of [`response_view`].
pub fn proposed_calls(body: &Value) -> Vec<ProposedCall> {
    response_view(body).calls
}

/// Removes the given call items (and, under `inspect_text`, items of unknown types; removals of
/// other choices or of other items are ignored). When no call item is left, an assistant
/// `message` item with the refusals takes the place of the first removed item, and a top-level
/// `output_text` is recomputed.
pub fn remove_calls(body: &mut Value, removals: &[Removal]) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let Some(output) = obj.get_mut("output").and_then(Value::as_array_mut) else {
        return;
    };
    let mut mine: Vec<&Removal> = removals
        .iter()
        .filter(|r| r.choice == 0 && output.get(r.index).is_some_and(removable))
        .collect();
    mine.sort_by_key(|r| r.index);
    mine.dedup_by_key(|r| r.index);
    let Some(first) = mine.first().map(|r| r.index) else {
        return;
    };
    let mut hasher = Sha256::new();
    for r in mine.iter().rev() {
        if r.index < output.len() {
            let item = output.remove(r.index);
            hasher.update(str_field(&item, "call_id").as_bytes());
            hasher.update(str_field(&item, "id").as_bytes());
            hasher.update([0]);
        }
    }
    if output.iter().any(|item| {
        kinds::handling(Position::ResponsesResponseOutputItem, item_type(item))
            == Some(Handling::Call)
    }) {
        return;
    }
    let refusals: Vec<&str> = mine.iter().map(|r| r.refusal.as_str()).collect();
    let digest = hex::encode(hasher.finalize());
    let id = format!("msg_llmfw_{}", digest.get(..32).unwrap_or(&digest));
    let message = json!({
        "type": "message",
        "id": id,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": refusals.join("\n"), "annotations": []}],
    });
    output.insert(first.min(output.len()), message);
    if obj.get("output_text").is_some_and(Value::is_string) {
        let text = output_text(obj);
        obj.insert("output_text".to_owned(), Value::String(text));
    }
}

/// An item a removal may take out: a call item, or one the filter judged as a call because it
/// did not know its type (a message with an unknown part included).
fn removable(item: &Value) -> bool {
    let known = kinds::handling(Position::ResponsesResponseOutputItem, item_type(item));
    match known {
        Some(Handling::Call) | None => true,
        Some(_) if item_type(item) == "message" => item
            .get("content")
            .and_then(Value::as_array)
            .is_some_and(|parts| {
                parts.iter().any(|p| {
                    kinds::handling(Position::ResponsesResponseContentPart, item_type(p)).is_none()
                })
            }),
        Some(_) => false,
    }
}

/// What the SDKs compute as `output_text`: every `output_text` part of every message, joined.
fn output_text(obj: &Map<String, Value>) -> String {
    let Some(output) = obj.get("output").and_then(Value::as_array) else {
        return String::new();
    };
    output
        .iter()
        .filter(|item| item_type(item) == "message")
        .filter_map(|item| item.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|part| item_type(part) == "output_text")
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect()
}

/// `{"error":{"message","type":"invalid_request_error","param":null,"code"}}`, as for Chat.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    super::openai_chat::error_body(message, code)
}

#[cfg(test)]
#[path = "openai_responses_tests.rs"]
mod tests;

/// Arbitrary JSON for the never-panics properties of every format's tests.
#[cfg(test)]
#[path = "arb_json.rs"]
pub(crate) mod arb_json;
