//! Anthropic Messages (`/v1/messages`), non-streaming.
//!
//! Request: `system` (a string or an array of text blocks) and `messages[]` with `role` and
//! `content`, a string or an array of blocks: `text`, `tool_use` (`id`, `name`, `input`; the names
//! are recorded by id) and `tool_result` (`tool_use_id`, `content` a string or blocks), each tool
//! result its own text. `tools[]` are definitions. Response: `content[]` blocks; `tool_use` blocks
//! are the proposed calls (`input` arrives as an object), `text` blocks the assistant's text.
//! Blocked calls are removed; when none is left a text block with the refusals is appended and
//! `stop_reason: "tool_use"` becomes `"end_turn"`, which is a valid message an agent loops on.

use serde_json::{json, Value};

use super::kinds::{self, Handling, Position};
use super::{
    calls, tool_definitions, ProposedCall, Provenance, Removal, RequestView, ResponseView, Text,
};

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Text of a string or of the `text` blocks of an array, joined with `\n`.
fn blocks_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|b| matches!(block_type(b), "text" | ""))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// The system prompt, the first user message, every text with its provenance (each `tool_result`
/// block is a tool result named after the `tool_use` with the same id), and the tool definitions.
///
/// A message's text blocks are one text, redactable as the whole `content` unless the message also
/// holds `tool_use`/`tool_result` blocks (replacing those would break the call pairing): then its
/// pointer is empty. Each tool result's pointer is its own `content`.
pub fn request_view(body: &Value) -> RequestView {
    let mut view = RequestView::default();
    kinds::note_parts(
        body.get("system"),
        Position::AnthropicRequestSystemBlock,
        "/system",
        0,
        &mut view.unknown,
    );
    if let Some(system) = body.get("system").and_then(blocks_text) {
        if !system.is_empty() {
            view.texts.push(Text {
                provenance: Provenance::System,
                text: system.clone(),
                pointer: "/system".to_owned(),
                tool: None,
            });
        }
        view.system = Some(system);
    }
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        let mut call_names: Vec<(&str, &str)> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            message_texts(i, m, &mut call_names, &mut view);
        }
    }
    view.texts.extend(tool_definitions(body));
    view
}

fn message_texts<'a>(
    i: usize,
    m: &'a Value,
    call_names: &mut Vec<(&'a str, &'a str)>,
    view: &mut RequestView,
) {
    let role = str_field(m, "role");
    let provenance = if role == "assistant" {
        Provenance::Assistant
    } else {
        Provenance::User
    };
    let content = m.get("content");
    let mut pairing = false;
    if let Some(blocks) = content.and_then(Value::as_array) {
        for (j, b) in blocks.iter().enumerate() {
            let ty = block_type(b);
            let texty = ty.is_empty() && b.get("text").is_some_and(Value::is_string);
            if b.is_string() || texty {
                continue;
            }
            let Some(handling) = kinds::handling(Position::AnthropicRequestBlock, ty) else {
                view.unknown.push(kinds::unknown_at(
                    Position::AnthropicRequestBlock,
                    ty,
                    format!("/messages/{i}/content/{j}"),
                    (0, j),
                ));
                continue;
            };
            match handling {
                Handling::HistoryCall => {
                    pairing = true;
                    call_names.push((str_field(b, "id"), str_field(b, "name")));
                }
                Handling::Data if ty == "tool_result" || ty == "mcp_tool_result" => {
                    pairing = true;
                    tool_result(i, j, b, call_names, view);
                }
                Handling::Data => {
                    // A document, a search result, or a server tool's result: every string is
                    // untrusted data. Server results answer a `server_tool_use` (pairing).
                    pairing |= ty.ends_with("_tool_result");
                    let id = str_field(b, "tool_use_id");
                    let tool = call_names
                        .iter()
                        .find(|(cid, _)| !id.is_empty() && *cid == id)
                        .map(|(_, n)| (*n).to_owned());
                    let text = calls::data_text(b);
                    if !text.is_empty() {
                        view.texts.push(Text {
                            provenance: Provenance::ToolResult,
                            text,
                            pointer: String::new(),
                            tool,
                        });
                    }
                }
                Handling::Text if ty == "thinking" => {
                    if let Some(t) = b
                        .get("thinking")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                    {
                        view.texts.push(Text {
                            provenance: Provenance::Assistant,
                            text: t.to_owned(),
                            pointer: String::new(),
                            tool: None,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    let text = content.and_then(blocks_text);
    if role == "user" && view.first_user.is_none() {
        view.first_user = Some(text.clone().unwrap_or_default());
    }
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        view.texts.push(Text {
            provenance,
            text,
            pointer: if pairing {
                String::new()
            } else {
                format!("/messages/{i}/content")
            },
            tool: None,
        });
    }
}

/// One `tool_result` block: its content (a string, or blocks: text, documents, search results,
/// browser state, tool references) is one tool-result text, redactable as the block's `content`.
fn tool_result(i: usize, j: usize, b: &Value, call_names: &[(&str, &str)], view: &mut RequestView) {
    let id = str_field(b, "tool_use_id");
    let tool = call_names
        .iter()
        .find(|(cid, _)| !id.is_empty() && *cid == id)
        .map(|(_, n)| (*n).to_owned());
    let pointer = format!("/messages/{i}/content/{j}/content");
    let content = b.get("content");
    kinds::note_parts(
        content,
        Position::AnthropicRequestToolResultBlock,
        &pointer,
        0,
        &mut view.unknown,
    );
    let text = match content {
        Some(Value::String(s)) => s.clone(),
        Some(v) => calls::data_text(v),
        None => String::new(),
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

/// The assistant's text: one text per `text` block of `content`.
pub fn response_texts(body: &Value) -> Vec<Text> {
    let Some(blocks) = body.get("content").and_then(Value::as_array) else {
        return Vec::new();
    };
    blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| block_type(b) == "text")
        .filter_map(|(j, b)| {
            let text = b.get("text").and_then(Value::as_str)?;
            (!text.is_empty()).then(|| Text {
                provenance: Provenance::Assistant,
                text: text.to_owned(),
                pointer: format!("/content/{j}/text"),
                tool: None,
            })
        })
        .collect()
}

/// Replaces the value at `pointer` by the notice as a string (valid for `system`, a message's
/// `content`, a `tool_result`'s `content` and a text block's `text`). A tool definition without a
/// description gets one.
pub fn redact(body: &mut Value, pointer: &str, notice: &str) -> bool {
    match body.pointer_mut(pointer) {
        Some(v) => {
            *v = Value::String(notice.to_owned());
            true
        }
        None => super::insert_description(body, pointer, notice),
    }
}

/// Every `tool_use` block of `content` (client tools, the computer and browser toolsets):
/// choice 0, index = block index, arguments = `input`; and the blocks of unknown types.
pub fn response_view(body: &Value) -> ResponseView {
    let mut view = ResponseView::default();
    let Some(blocks) = body.get("content").and_then(Value::as_array) else {
        return view;
    };
    for (j, b) in blocks.iter().enumerate() {
        match kinds::handling(Position::AnthropicResponseBlock, block_type(b)) {
            None => view.unknown.push(kinds::unknown_at(
                Position::AnthropicResponseBlock,
                block_type(b),
                format!("/content/{j}"),
                (0, j),
            )),
            Some(Handling::Call) => view.calls.push(ProposedCall {
                choice: 0,
                index: j,
                id: str_field(b, "id").to_owned(),
                name: str_field(b, "name").to_owned(),
                arguments: input_arguments(b.get("input")),
                // `input` arrives parsed: a repeated key is already gone.
                duplicate_keys: false,
                defect: None,
            }),
            Some(_) => {}
        }
    }
    view
}

/// A `tool_use` block's `input`: an object (missing or null = `{}`), anything else unparsable.
pub(crate) fn input_arguments(input: Option<&Value>) -> Result<Value, String> {
    match input {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(other) => Err(other.to_string()),
    }
}

/// A block a removal may take out: `tool_use`, or a block of a type the filter does not know.
fn removable(b: &Value) -> bool {
    matches!(
        kinds::handling(Position::AnthropicResponseBlock, block_type(b)),
        Some(Handling::Call) | None
    )
}

/// The proposed calls of [`response_view`].
pub fn proposed_calls(body: &Value) -> Vec<ProposedCall> {
    response_view(body).calls
}

/// Removes the given `tool_use` blocks (removals of other choices or other blocks are ignored).
/// When none is left, a text block with the refusals is appended and `stop_reason: "tool_use"`
/// becomes `"end_turn"`.
pub fn remove_calls(body: &mut Value, removals: &[Removal]) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let Some(blocks) = obj.get_mut("content").and_then(Value::as_array_mut) else {
        return;
    };
    let mut mine: Vec<&Removal> = removals
        .iter()
        .filter(|r| r.choice == 0 && blocks.get(r.index).is_some_and(removable))
        .collect();
    if mine.is_empty() {
        return;
    }
    mine.sort_by_key(|r| r.index);
    mine.dedup_by_key(|r| r.index);
    for r in mine.iter().rev() {
        if r.index < blocks.len() {
            blocks.remove(r.index);
        }
    }
    if blocks.iter().any(|b| block_type(b) == "tool_use") {
        return;
    }
    let refusals: Vec<&str> = mine.iter().map(|r| r.refusal.as_str()).collect();
    blocks.push(json!({"type": "text", "text": refusals.join("\n")}));
    if obj.get("stop_reason").and_then(Value::as_str) == Some("tool_use") {
        obj.insert("stop_reason".to_owned(), json!("end_turn"));
    }
}

/// `{"type":"error","error":{"type":"invalid_request_error","message","llmfw_code"}}`: Anthropic's
/// error shape; the SDKs read `error.type` and `error.message` and keep the extra `llmfw_code`.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": "invalid_request_error", "message": message, "llmfw_code": code}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
