//! OpenAI Responses events: a call is an output item of type `function_call`
//! (`response.output_item.added`, `response.function_call_arguments.delta`/`.done`,
//! `response.output_item.done`), keyed by `output_index`.
//!
//! The SDKs append an item on every `response.output_item.added` and address later events by
//! `output_index`, so held items are renumbered from the first free index; `sequence_number`
//! continues from the last one that passed when the upstream used it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{as_index, set, sse, Call, Held, Removal, Seen};

const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

fn kind<'a>(name: Option<&'a str>, v: &'a Value) -> &'a str {
    v.get("type").and_then(Value::as_str).or(name).unwrap_or("")
}

fn is_call_item(item: Option<&Value>) -> bool {
    item.and_then(|i| i.get("type")).and_then(Value::as_str) == Some("function_call")
}

/// Notes a passing event; true when it starts a tool call.
pub(super) fn observe(
    seen: &mut Seen,
    name: Option<&str>,
    v: Option<&Value>,
    raw_len: usize,
    cap: usize,
) -> bool {
    let Some(v) = v else {
        return false;
    };
    let k = kind(name, v);
    let added = k == "response.output_item.added";
    if (added && is_call_item(v.get("item"))) || k.starts_with("response.function_call_arguments.")
    {
        return true;
    }
    if let Some(n) = v.get("sequence_number").and_then(Value::as_u64) {
        seen.seq = Some(n);
    }
    match k {
        "response.created" | "response.in_progress" => {
            seen.response = v.get("response").cloned();
            false
        }
        "response.output_item.added" => {
            if let Some(i) = as_index(v.get("output_index")) {
                seen.next_index = seen.next_index.max(i.saturating_add(1));
            }
            false
        }
        "response.output_item.done" => {
            if let Some(item) = v.get("item") {
                if seen.items_bytes.saturating_add(raw_len) <= cap {
                    seen.items_bytes += raw_len;
                    seen.items.push(item.clone());
                }
            }
            false
        }
        _ => false,
    }
}

fn text(v: Option<&Value>, key: &str) -> String {
    v.and_then(|x| x.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Calls per `output_index`: name, `call_id` and item id from the item; arguments from
/// `function_call_arguments.done`, else `output_item.done`'s item, else the concatenated deltas.
pub(super) fn calls(events: &[Held]) -> Vec<Call> {
    // (call, concatenated deltas, arguments of `.done`, arguments of the done item)
    let mut acc: Vec<(Call, String, Option<String>, Option<String>)> = Vec::new();
    for e in events {
        let Some(v) = e.json.as_ref() else { continue };
        let k = kind(e.name.as_deref(), v);
        let call_event = k.starts_with("response.function_call_arguments.");
        let item = v.get("item");
        let call_item = k.starts_with("response.output_item.") && is_call_item(item);
        if !(call_event || call_item) {
            continue;
        }
        let Some(index) = as_index(v.get("output_index")) else {
            continue;
        };
        let pos = match acc.iter().position(|a| a.0.index == index) {
            Some(p) => p,
            None => {
                let call = Call {
                    index,
                    ..Call::default()
                };
                acc.push((call, String::new(), None, None));
                acc.len() - 1
            }
        };
        let Some((call, deltas, done, item_done)) = acc.get_mut(pos) else {
            continue;
        };
        if let Some(item) = item {
            for (field, key) in [
                (&mut call.id, "call_id"),
                (&mut call.item_id, "id"),
                (&mut call.name, "name"),
            ] {
                if field.is_empty() {
                    *field = text(Some(item), key);
                }
            }
            call.item = Some(item.clone());
        }
        if call.item_id.is_empty() {
            call.item_id = text(Some(v), "item_id");
        }
        match k {
            "response.output_item.added" => deltas.push_str(&text(item, "arguments")),
            "response.output_item.done" => *item_done = Some(text(item, "arguments")),
            "response.function_call_arguments.delta" => deltas.push_str(&text(Some(v), "delta")),
            "response.function_call_arguments.done" => {
                *done = Some(text(Some(v), "arguments"));
                if call.name.is_empty() {
                    call.name = text(Some(v), "name");
                }
            }
            _ => {}
        }
    }
    acc.into_iter()
        .map(|(mut call, deltas, done, item_done)| {
            call.raw = done.or(item_done).unwrap_or(deltas);
            call
        })
        .collect()
}

/// Emits events with `sequence_number` continuing from the upstream's (when it used them).
struct Out {
    bytes: Vec<u8>,
    seq: Option<u64>,
}

impl Out {
    fn next_seq(&mut self, v: &Value) -> Option<u64> {
        if self.seq.is_none() {
            let first = v.get("sequence_number").and_then(Value::as_u64)?;
            self.seq = Some(first.saturating_sub(1));
        }
        self.seq = self.seq.map(|n| n.saturating_add(1));
        self.seq
    }

    /// A new event of type `ty`.
    fn emit(&mut self, ty: &str, mut v: Value) {
        set(&mut v, "type", json!(ty));
        if let Some(n) = self.next_seq(&Value::Null) {
            set(&mut v, "sequence_number", json!(n));
        }
        self.bytes.extend(sse(Some(ty), &v));
    }

    /// A held event with `output_index` (if given) and `sequence_number` updated; raw if unchanged.
    fn held(&mut self, e: &Held, v: &Value, index: Option<usize>) {
        let seq = self.next_seq(v);
        let same_seq = seq.is_none() || v.get("sequence_number").and_then(Value::as_u64) == seq;
        let same_index = index.is_none_or(|i| as_index(v.get("output_index")) == Some(i));
        if same_seq && same_index {
            self.bytes.extend_from_slice(&e.raw);
            return;
        }
        let mut v = v.clone();
        if let Some(n) = seq {
            set(&mut v, "sequence_number", json!(n));
        }
        if let Some(i) = index {
            set(&mut v, "output_index", json!(i));
        }
        let ty = kind(e.name.as_deref(), &v).to_owned();
        self.bytes.extend(sse(Some(&ty), &v));
    }
}

/// The complete item of an allowed call, and its events at `index`.
fn call_events(out: &mut Out, call: &Call, index: usize) -> Value {
    let mut item = call.item.clone().unwrap_or_else(|| {
        json!({"id": call.item_id, "type": "function_call", "call_id": call.id, "name": call.name})
    });
    set(&mut item, "arguments", json!(""));
    set(&mut item, "status", json!("in_progress"));
    out.emit(
        "response.output_item.added",
        json!({"output_index": index, "item": item}),
    );
    let ids = json!({"item_id": call.item_id, "output_index": index});
    if !call.raw.is_empty() {
        let mut d = ids.clone();
        set(&mut d, "delta", json!(call.raw));
        out.emit("response.function_call_arguments.delta", d);
    }
    let mut d = ids;
    set(&mut d, "arguments", json!(call.raw));
    out.emit("response.function_call_arguments.done", d);
    set(&mut item, "arguments", json!(call.raw));
    set(&mut item, "status", json!("completed"));
    out.emit(
        "response.output_item.done",
        json!({"output_index": index, "item": item.clone()}),
    );
    item
}

/// The refusal as a message item with one `output_text` part, and its events at `index`.
fn message_events(out: &mut Out, text: &str, index: usize) -> Value {
    let id = format!("msg_llmfw_refusal_{index}");
    let part = json!({"type": "output_text", "annotations": [], "text": text});
    let item = json!({"id": id, "type": "message", "status": "completed", "role": "assistant",
        "content": [part.clone()]});
    out.emit(
        "response.output_item.added",
        json!({"output_index": index, "item": {"id": id, "type": "message",
            "status": "in_progress", "role": "assistant", "content": []}}),
    );
    let at = json!({"item_id": id, "output_index": index, "content_index": 0});
    let with = |k: &str, v: Value| {
        let mut d = at.clone();
        set(&mut d, k, v);
        d
    };
    out.emit(
        "response.content_part.added",
        with(
            "part",
            json!({"type": "output_text", "annotations": [], "text": ""}),
        ),
    );
    let mut d = with("delta", json!(text));
    set(&mut d, "logprobs", json!([]));
    out.emit("response.output_text.delta", d);
    let mut d = with("text", json!(text));
    set(&mut d, "logprobs", json!([]));
    out.emit("response.output_text.done", d);
    out.emit("response.content_part.done", with("part", part));
    out.emit(
        "response.output_item.done",
        json!({"output_index": index, "item": item.clone()}),
    );
    item
}

/// Held events in order with allowed call items re-emitted whole, refused ones dropped, output
/// indices renumbered; then a message item with the refusals and the terminal event with
/// `response.output` adjusted (synthesised as `response.completed` when the upstream sent none).
pub(super) fn rewrite(
    seen: &Seen,
    events: &[Held],
    calls: &[Call],
    removals: &[Removal],
) -> Vec<u8> {
    let mut out = Out {
        bytes: Vec::new(),
        seq: seen.seq,
    };
    let mut next = seen.next_index;
    let mut map: BTreeMap<usize, Option<usize>> = BTreeMap::new();
    let mut terminal: Option<(String, Value)> = None;
    // Complete items of the held part, for a synthesised `response.completed`.
    let mut items: Vec<Value> = Vec::new();
    for e in events {
        let Some(v) = e.json.as_ref() else {
            out.bytes.extend_from_slice(&e.raw);
            continue;
        };
        let k = kind(e.name.as_deref(), v);
        if TERMINAL.contains(&k) {
            terminal = Some((k.to_owned(), v.clone()));
            continue;
        }
        let Some(old) = as_index(v.get("output_index")) else {
            out.held(e, v, None);
            continue;
        };
        let call = calls.iter().find(|c| c.index == old);
        if k == "response.output_item.added" && !map.contains_key(&old) {
            match call {
                Some(c) if c.removal(removals).is_some() => {
                    map.insert(old, None);
                }
                Some(c) => {
                    map.insert(old, Some(next));
                    items.push(call_events(&mut out, c, next));
                    next += 1;
                }
                None => {
                    map.insert(old, Some(next));
                    out.held(e, v, Some(next));
                    next += 1;
                }
            }
            continue;
        }
        if call.is_some() {
            continue;
        }
        match map.get(&old) {
            Some(Some(new)) => {
                if k == "response.output_item.done" {
                    items.extend(v.get("item").cloned());
                }
                out.held(e, v, Some(*new));
            }
            Some(None) => {}
            None => out.held(e, v, None),
        }
    }
    let refused: Vec<&Call> = calls
        .iter()
        .filter(|c| c.removal(removals).is_some())
        .collect();
    let refusals: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.removal(removals))
        .map(|r| r.refusal.as_str())
        .collect();
    let message =
        (!refusals.is_empty()).then(|| message_events(&mut out, &refusals.join("\n"), next));
    let (ty, mut v) = terminal.unwrap_or_else(|| {
        let mut response = seen
            .response
            .clone()
            .unwrap_or_else(|| json!({"object": "response"}));
        set(&mut response, "status", json!("completed"));
        let mut output = seen.items.clone();
        output.extend(items);
        set(&mut response, "output", Value::Array(output));
        (
            "response.completed".to_owned(),
            json!({"type": "response.completed", "response": response}),
        )
    });
    if let Some(output) = v
        .pointer_mut("/response/output")
        .and_then(Value::as_array_mut)
    {
        output.retain(|item| {
            let same = |key: &str, want: &str| !want.is_empty() && text(Some(item), key) == want;
            !(is_call_item(Some(item))
                && refused
                    .iter()
                    .any(|c| same("id", &c.item_id) || same("call_id", &c.id)))
        });
        output.extend(message);
    }
    if let Some(n) = out.next_seq(&v) {
        set(&mut v, "sequence_number", json!(n));
    }
    out.bytes.extend(sse(Some(&ty), &v));
    out.bytes
}

/// `event: error` with `{"type":"error","code","message","param":null}` and, when known, the
/// next `sequence_number`.
pub(super) fn error_event(message: &str, code: &str, seq: Option<u64>) -> Vec<u8> {
    let mut v = json!({"type": "error", "code": code, "message": message, "param": null});
    if let Some(n) = seq {
        set(&mut v, "sequence_number", json!(n));
    }
    sse(Some("error"), &v)
}
