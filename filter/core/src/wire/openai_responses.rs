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

use super::{content_text, tool_definitions, ProposedCall, Provenance, Removal, RequestView, Text};

/// Item types whose `output` is a tool result, with the item type of the matching call.
const OUTPUT_ITEMS: &[&str] = &["function_call_output", "custom_tool_call_output"];
/// Item types that call a tool (`name` under `call_id`).
const CALL_ITEMS: &[&str] = &["function_call", "custom_tool_call"];

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

fn input_items(items: &[Value], view: &mut RequestView, system: &mut Vec<String>) {
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let kind = item_type(item);
        if CALL_ITEMS.contains(&kind) {
            call_names.push((str_field(item, "call_id"), str_field(item, "name")));
            continue;
        }
        if OUTPUT_ITEMS.contains(&kind) {
            let id = str_field(item, "call_id");
            let tool = call_names
                .iter()
                .find(|(cid, _)| !id.is_empty() && *cid == id)
                .map(|(_, n)| (*n).to_owned());
            if let Some(text) = item
                .get("output")
                .and_then(content_text)
                .filter(|t| !t.is_empty())
            {
                view.texts.push(Text {
                    provenance: Provenance::ToolResult,
                    text,
                    pointer: format!("/input/{i}/output"),
                    tool,
                });
            }
            continue;
        }
        if !(kind.is_empty() || kind == "message") {
            // Reasoning, item references, hosted tool calls: nothing an agent wrote.
            continue;
        }
        let role = str_field(item, "role");
        let text = item.get("content").and_then(content_text);
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

/// Every `function_call` item of `output`: choice 0, index = position in `output`, id = `call_id`
/// (the item `id` when there is none).
pub fn proposed_calls(body: &Value) -> Vec<ProposedCall> {
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        return Vec::new();
    };
    output
        .iter()
        .enumerate()
        .filter(|(_, item)| item_type(item) == "function_call")
        .map(|(i, item)| {
            let id = match str_field(item, "call_id") {
                "" => str_field(item, "id"),
                id => id,
            };
            let (arguments, duplicate_keys) = super::parse_arguments(item.get("arguments"));
            ProposedCall {
                choice: 0,
                index: i,
                id: id.to_owned(),
                name: str_field(item, "name").to_owned(),
                arguments,
                duplicate_keys,
            }
        })
        .collect()
}

/// Removes the given `function_call` items (removals of other choices or of other items are
/// ignored). When no `function_call` is left, an assistant `message` item with the refusals takes
/// the place of the first removed item, and a top-level `output_text` is recomputed.
pub fn remove_calls(body: &mut Value, removals: &[Removal]) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let Some(output) = obj.get_mut("output").and_then(Value::as_array_mut) else {
        return;
    };
    let mut mine: Vec<&Removal> = removals
        .iter()
        .filter(|r| r.choice == 0 && output.get(r.index).map(item_type) == Some("function_call"))
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
    if output.iter().any(|item| item_type(item) == "function_call") {
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
