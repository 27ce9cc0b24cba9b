//! Anthropic Messages events: a call is a `content_block_start` of type `tool_use` with the
//! arguments in `input_json_delta.partial_json` fragments of the same block index.
//!
//! The SDKs append a block on every `content_block_start` and address deltas by index, so block
//! indices must stay contiguous: held blocks are renumbered from the first free index.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{as_index, set, sse, Call, Held, Removal, Seen, Unknown};
use crate::wire::calls;
use crate::wire::kinds::{self, Handling, Position};

/// A `content_block_start` of a block judged as a call: `tool_use`, or a type the filter does
/// not know.
fn is_tool_start(v: &Value) -> bool {
    let Some(ty) = v.pointer("/content_block/type").and_then(Value::as_str) else {
        return false;
    };
    matches!(
        kinds::handling(Position::AnthropicStreamBlock, ty),
        Some(Handling::Call) | None
    )
}

/// The first thing of an unknown type in an event: the event type, the started block's type,
/// the delta's type. A `message_start` whose message already holds content is refused as
/// unknown too: the SDKs start their snapshot from it, calls included.
pub(super) fn unknown(name: Option<&str>, v: Option<&Value>) -> Option<Unknown> {
    let v = v?;
    let kind = v.get("type").and_then(Value::as_str).or(name).unwrap_or("");
    if kinds::handling(Position::AnthropicStreamEvent, kind).is_none() {
        return Some(Unknown::new(Position::AnthropicStreamEvent, kind, false));
    }
    let ty = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
    match kind {
        "content_block_start"
            if kinds::handling(Position::AnthropicStreamBlock, ty("/content_block/type"))
                .is_none() =>
        {
            Some(Unknown::new(
                Position::AnthropicStreamBlock,
                ty("/content_block/type"),
                true,
            ))
        }
        "content_block_delta"
            if kinds::handling(Position::AnthropicStreamDelta, ty("/delta/type")).is_none() =>
        {
            Some(Unknown::new(
                Position::AnthropicStreamDelta,
                ty("/delta/type"),
                false,
            ))
        }
        "message_start"
            if v.pointer("/message/content")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty()) =>
        {
            Some(Unknown::new(
                Position::AnthropicStreamEvent,
                "message_start.content",
                false,
            ))
        }
        _ => None,
    }
}

/// Notes a passing event; true when it starts a tool call.
pub(super) fn observe(seen: &mut Seen, name: Option<&str>, v: Option<&Value>) -> bool {
    let Some(v) = v else {
        return false;
    };
    let kind = v.get("type").and_then(Value::as_str).or(name);
    if kind != Some("content_block_start") {
        return false;
    }
    if is_tool_start(v) {
        return true;
    }
    if let Some(i) = as_index(v.get("index")) {
        seen.next_index = seen.next_index.max(i.saturating_add(1));
    }
    false
}

/// The reason a call is refused when its block index was started twice.
const INDEX_TWICE: &str = "the stream starts this content block index twice";

/// Calls per content block index: id and name from `content_block_start`, arguments the
/// concatenated `partial_json` (else the start's non-empty `input`).
pub(super) fn calls(events: &[Held]) -> Vec<Call> {
    let mut out: Vec<Call> = Vec::new();
    for e in events {
        let Some(v) = e.json.as_ref() else { continue };
        let Some(index) = as_index(v.get("index")) else {
            continue;
        };
        match e.kind() {
            "content_block_start" if is_tool_start(v) => {
                let block = v.get("content_block");
                let get = |k: &str| {
                    block
                        .and_then(|b| b.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                // The SDKs append a block on every start: a second start of one index leaves
                // two blocks the deltas cannot both reach, so the call is refused.
                let twice = out.iter().any(|c| c.index == index);
                out.retain(|c| c.index != index);
                let ty = get("type");
                let mut call = Call {
                    choice: 0,
                    index,
                    id: get("id"),
                    name: get("name"),
                    item: block.and_then(|b| b.get("input")).cloned(),
                    ..Call::default()
                };
                if ty != "tool_use" {
                    // A block the filter does not know, judged as a call (`inspect_text`).
                    let c = calls::unknown_item(
                        block.unwrap_or(&Value::Null),
                        &kinds::safe_type_name(&ty),
                    );
                    call.name = c.name;
                    call.parsed = Some((c.arguments, false));
                    call.unknown = true;
                    call.item = None;
                }
                if twice {
                    call.defect = Some(INDEX_TWICE);
                }
                out.push(call);
            }
            "content_block_delta" => {
                let Some(call) = out.iter_mut().find(|c| c.index == index) else {
                    continue;
                };
                if let Some(part) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                    call.raw.push_str(part);
                }
            }
            _ => {}
        }
    }
    for call in &mut out {
        let input = call.item.take();
        if call.raw.is_empty() {
            if let Some(obj) = input.filter(|i| i.as_object().is_some_and(|o| !o.is_empty())) {
                call.raw = obj.to_string();
            }
        }
    }
    out
}

fn event(v: &Value) -> Vec<u8> {
    sse(v.get("type").and_then(Value::as_str), v)
}

/// The held event with its block index set to `index` (raw when unchanged).
fn reindexed(e: &Held, v: &Value, index: usize) -> Vec<u8> {
    if as_index(v.get("index")) == Some(index) {
        return e.raw.clone();
    }
    let mut v = v.clone();
    set(&mut v, "index", json!(index));
    event(&v)
}

fn tool_block(call: &Call, index: usize) -> Vec<u8> {
    let start = json!({"type": "content_block_start", "index": index,
        "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}});
    let mut out = event(&start);
    if !call.raw.is_empty() {
        out.extend(event(
            &json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": call.raw}}),
        ));
    }
    out.extend(event(
        &json!({"type": "content_block_stop", "index": index}),
    ));
    out
}

/// Held events in order with allowed tool blocks re-emitted whole, refused ones dropped, block
/// indices renumbered; then a text block with the refusals, `message_delta` and `message_stop`.
pub(super) fn rewrite(
    seen: &Seen,
    events: &[Held],
    calls: &[Call],
    removals: &[Removal],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = seen.next_index;
    // Held block index → new index (None: dropped).
    let mut map: BTreeMap<usize, Option<usize>> = BTreeMap::new();
    let mut stop: Option<Value> = None;
    let mut allowed_left = false;
    for e in events {
        let Some(v) = e.json.as_ref() else {
            out.extend_from_slice(&e.raw);
            continue;
        };
        let index = as_index(v.get("index"));
        // An allowed block of an unknown type is re-emitted as it came (not as a tool_use).
        let call = index
            .and_then(|i| calls.iter().find(|c| c.index == i))
            .filter(|c| !(c.unknown && c.removal(removals).is_none()));
        match (e.kind(), index) {
            ("message_delta", _) => stop = Some(v.clone()),
            ("message_stop", _) => {}
            ("content_block_start", Some(old)) => {
                if map.contains_key(&old) {
                    continue;
                }
                match call {
                    Some(c) if c.removal(removals).is_some() => {
                        map.insert(old, None);
                    }
                    Some(c) => {
                        map.insert(old, Some(next));
                        out.extend(tool_block(c, next));
                        allowed_left = true;
                        next += 1;
                    }
                    None => {
                        map.insert(old, Some(next));
                        out.extend(reindexed(e, v, next));
                        next += 1;
                    }
                }
            }
            ("content_block_delta" | "content_block_stop", Some(old)) => {
                if call.is_some() {
                    continue;
                }
                match map.get(&old) {
                    Some(Some(new)) => out.extend(reindexed(e, v, *new)),
                    Some(None) => {}
                    None => out.extend_from_slice(&e.raw),
                }
            }
            _ => out.extend_from_slice(&e.raw),
        }
    }
    let refusals: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.removal(removals))
        .map(|r| r.refusal.as_str())
        .collect();
    if !refusals.is_empty() {
        let text = refusals.join("\n");
        out.extend(event(&json!({"type": "content_block_start", "index": next,
            "content_block": {"type": "text", "text": ""}})));
        out.extend(event(&json!({"type": "content_block_delta", "index": next,
            "delta": {"type": "text_delta", "text": text}})));
        out.extend(event(&json!({"type": "content_block_stop", "index": next})));
    }
    let mut stop = stop.unwrap_or_else(|| {
        json!({"type": "message_delta", "delta": {"stop_reason": null, "stop_sequence": null},
            "usage": {"output_tokens": 0}})
    });
    let original = stop
        .pointer("/delta/stop_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let reason = match original {
        _ if allowed_left => "tool_use".to_owned(),
        Some(r) if r != "tool_use" => r,
        _ => "end_turn".to_owned(),
    };
    match stop.get_mut("delta") {
        Some(d) => set(d, "stop_reason", json!(reason)),
        None => set(
            &mut stop,
            "delta",
            json!({"stop_reason": reason, "stop_sequence": null}),
        ),
    }
    if stop.get("usage").is_none() {
        set(&mut stop, "usage", json!({"output_tokens": 0}));
    }
    out.extend(event(&stop));
    out.extend(event(&json!({"type": "message_stop"})));
    out
}

/// `event: error` with `{"type":"error","error":{"type","message"}}` (see [`super::error_event`]).
pub(super) fn error_event(message: &str, code: &str) -> Vec<u8> {
    let kind = if code.contains("unavailable") || code.contains("timeout") {
        "overloaded_error"
    } else {
        "api_error"
    };
    event(&json!({"type": "error", "error": {"type": kind, "message": message}}))
}
