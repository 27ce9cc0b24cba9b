//! OpenAI Responses events: a call is an output item of type `function_call`
//! (`response.output_item.added`, `response.function_call_arguments.delta`/`.done`,
//! `response.output_item.done`), keyed by `output_index`.
//!
//! The SDKs append an item on every `response.output_item.added` and address later events by
//! `output_index`, so held items are renumbered from the first free index; `sequence_number`
//! continues from the last one that passed when the upstream used it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{as_index, set, sse, Call, Held, Removal, Seen, Unknown};
use crate::wire::calls;
use crate::wire::kinds::{self, Handling, Position};

const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

fn kind<'a>(name: Option<&'a str>, v: &'a Value) -> &'a str {
    v.get("type").and_then(Value::as_str).or(name).unwrap_or("")
}

/// True for an item judged as a call: a call type, or a type the filter does not know.
fn is_call_item(item: Option<&Value>) -> bool {
    let Some(ty) = item.and_then(|i| i.get("type")).and_then(Value::as_str) else {
        return false;
    };
    matches!(
        kinds::handling(Position::ResponsesResponseOutputItem, ty),
        Some(Handling::Call) | None
    )
}

/// Events that carry a call's input (`function_call_arguments`, `custom_tool_call_input`,
/// `shell_call_command`).
fn is_call_event(k: &str) -> bool {
    kinds::handling(Position::ResponsesStreamEvent, k) == Some(Handling::Call)
}

/// True when the event's `response.output` (lifecycle events) holds a call item.
fn output_has_call(v: &Value) -> bool {
    v.pointer("/response/output")
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|i| is_call_item(Some(i))))
}

/// The first thing of an unknown type in an event: the event type, its item's type, or the
/// type of an item of its `response.output`.
pub(super) fn unknown(name: Option<&str>, v: Option<&Value>) -> Option<Unknown> {
    let v = v?;
    let k = kind(name, v);
    if kinds::handling(Position::ResponsesStreamEvent, k).is_none() {
        return Some(Unknown::new(Position::ResponsesStreamEvent, k, false));
    }
    let output = v.pointer("/response/output").and_then(Value::as_array);
    for item in v
        .get("item")
        .into_iter()
        .chain(output.into_iter().flatten())
    {
        let ty = item.get("type").and_then(Value::as_str).unwrap_or("");
        if kinds::handling(Position::ResponsesResponseOutputItem, ty).is_none() {
            return Some(Unknown::new(
                Position::ResponsesResponseOutputItem,
                ty,
                true,
            ));
        }
    }
    None
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
    let added = k == "response.output_item.added" || k == "response.output_item.done";
    if (added && is_call_item(v.get("item"))) || is_call_event(k) || output_has_call(v) {
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

/// The forms of one call item seen in the held events.
#[derive(Debug, Default)]
struct Forms {
    index: usize,
    /// `output_item.added`'s item.
    added: Option<Value>,
    /// Concatenated input deltas (`function_call_arguments.delta`, `custom_tool_call_input.delta`).
    deltas: String,
    /// `function_call_arguments.done` / `custom_tool_call_input.done`.
    done: Option<String>,
    /// `function_call_arguments.done`'s `name`.
    done_name: Option<String>,
    item_id: String,
    /// `output_item.done`'s item.
    item_done: Option<Value>,
    /// The item of the terminal event's `response.output`.
    completed: Option<Value>,
}

/// The field of an item that its input deltas build: `input` for custom tool calls, else
/// `arguments`.
fn input_key(item: &Value) -> &'static str {
    if item.get("type").and_then(Value::as_str) == Some("custom_tool_call") {
        "input"
    } else {
        "arguments"
    }
}

impl Forms {
    /// The item as the client assembles it: the announced item with the deltas (and the
    /// `.done` text) applied, replaced by `output_item.done`'s item, replaced by the terminal
    /// event's item.
    fn assembled(&self) -> Value {
        if let Some(item) = self.completed.as_ref().or(self.item_done.as_ref()) {
            return item.clone();
        }
        let mut item = self
            .added
            .clone()
            .unwrap_or_else(|| json!({"type": "function_call", "id": self.item_id}));
        let key = input_key(&item);
        let mut input = text(Some(&item), key);
        input.push_str(&self.deltas);
        if let Some(done) = &self.done {
            input.clone_from(done);
        }
        set(&mut item, key, json!(input));
        if let Some(name) = self
            .done_name
            .as_ref()
            .filter(|_| text(Some(&item), "name").is_empty())
        {
            set(&mut item, "name", json!(name));
        }
        item
    }
}

/// Calls per `output_index`, each judged as the item the client assembles ([`Forms::assembled`],
/// read by [`calls::responses_item`]); items only in the terminal event's `response.output`
/// are calls too.
pub(super) fn calls(events: &[Held]) -> Vec<Call> {
    let mut acc: Vec<Forms> = Vec::new();
    let mut terminal: Option<&Value> = None;
    for e in events {
        let Some(v) = e.json.as_ref() else { continue };
        let k = kind(e.name.as_deref(), v);
        if v.pointer("/response/output").is_some() && output_has_call(v) {
            terminal = Some(v);
        }
        let item = v.get("item");
        let call_item = k.starts_with("response.output_item.") && is_call_item(item);
        if !(is_call_event(k) || call_item) {
            continue;
        }
        let Some(index) = as_index(v.get("output_index")) else {
            continue;
        };
        let pos = match acc.iter().position(|a| a.index == index) {
            Some(p) => p,
            None => {
                acc.push(Forms {
                    index,
                    ..Forms::default()
                });
                acc.len() - 1
            }
        };
        let Some(f) = acc.get_mut(pos) else { continue };
        if f.item_id.is_empty() {
            f.item_id = item.map_or_else(|| text(Some(v), "item_id"), |i| text(Some(i), "id"));
        }
        match k {
            "response.output_item.added" => f.added = item.cloned(),
            "response.output_item.done" => f.item_done = item.cloned(),
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                f.deltas.push_str(&text(Some(v), "delta"));
            }
            "response.function_call_arguments.done" => {
                f.done = Some(text(Some(v), "arguments"));
                f.done_name = v.get("name").and_then(Value::as_str).map(str::to_owned);
            }
            "response.custom_tool_call_input.done" => f.done = Some(text(Some(v), "input")),
            _ => {}
        }
    }
    if let Some(output) = terminal
        .and_then(|v| v.pointer("/response/output"))
        .and_then(Value::as_array)
    {
        for (pos, item) in output.iter().enumerate() {
            if !is_call_item(Some(item)) {
                continue;
            }
            let id = text(Some(item), "id");
            let found = acc.iter_mut().find(|f| !id.is_empty() && f.item_id == id);
            match found {
                Some(f) => f.completed = Some(item.clone()),
                None => acc.push(Forms {
                    index: pos,
                    item_id: id,
                    completed: Some(item.clone()),
                    ..Forms::default()
                }),
            }
        }
    }
    acc.into_iter().map(|f| call_of(&f)).collect()
}

/// The reason when the forms of a call the client could read disagree: the item as announced
/// with its deltas (or `.done` text), `output_item.done`'s item and the terminal event's item
/// must read as the same call (type, name, arguments), and `function_call_arguments.done`'s
/// name must be that name.
pub(super) const FORMS_DISAGREE: &str =
    "the stream's forms of this call disagree (output_item.added, deltas, .done, response.completed)";

fn disagree(f: &Forms) -> bool {
    let mut forms: Vec<Value> = Vec::new();
    if f.added.is_some() && (!f.deltas.is_empty() || f.done.is_some()) {
        let partial = Forms {
            item_done: None,
            completed: None,
            added: f.added.clone(),
            deltas: f.deltas.clone(),
            done: f.done.clone(),
            done_name: f.done_name.clone(),
            item_id: f.item_id.clone(),
            index: f.index,
        };
        forms.push(partial.assembled());
    }
    forms.extend(f.item_done.clone());
    forms.extend(f.completed.clone());
    let read = |item: &Value| {
        let ty = text(Some(item), "type");
        match calls::responses_item(item) {
            Some(c) => (ty, c.name, c.arguments.map_err(|raw| raw.trim().to_owned())),
            None => (ty, String::new(), Ok(item.clone())),
        }
    };
    let mut seen = forms.iter().map(read);
    let Some(first) = seen.next() else {
        return false;
    };
    if let Some(name) = f.done_name.as_ref().filter(|n| !n.is_empty()) {
        if *name != first.1 {
            return true;
        }
    }
    if let Some(added) = &f.added {
        let name = text(Some(added), "name");
        if text(Some(added), "type") != first.0 || !(name.is_empty() || name == first.1) {
            return true;
        }
    }
    seen.any(|other| other != first)
}

fn call_of(f: &Forms) -> Call {
    let item = f.assembled();
    let ty = text(Some(&item), "type");
    let mut call = Call {
        index: f.index,
        item_id: f.item_id.clone(),
        id: match text(Some(&item), "call_id") {
            id if id.is_empty() => f.item_id.clone(),
            id => id,
        },
        ..Call::default()
    };
    match calls::responses_item(&item) {
        Some(c) if ty == "function_call" => {
            call.name = c.name;
            call.raw = text(Some(&item), "arguments");
        }
        Some(c) => {
            call.name = c.name;
            call.parsed = Some((c.arguments, c.duplicate_keys));
        }
        None => {
            let c = calls::unknown_item(&item, &kinds::safe_type_name(&ty));
            call.name = c.name;
            call.parsed = Some((c.arguments, false));
            call.unknown = true;
        }
    }
    if disagree(f) {
        call.defect = Some(FORMS_DISAGREE);
    }
    call.item = Some(item);
    call
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

/// The complete item of an allowed call, and its events at `index`: for a `function_call` the
/// argument events; for other items `output_item.added` and `.done` with the whole item.
fn call_events(out: &mut Out, call: &Call, index: usize) -> Value {
    if let Some(item) = call
        .item
        .clone()
        .filter(|i| text(Some(i), "type") != "function_call")
    {
        out.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        out.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item.clone()}),
        );
        return item;
    }
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
///
/// The same error is also under `error` (`{message, type, code}`): the OpenAI SDKs raise an
/// `APIError` for an `event: error` whose data has an `error` object, and would otherwise hand
/// the event on as a plain `ResponseErrorEvent` that a stream helper does not stop at.
pub(super) fn error_event(message: &str, code: &str, seq: Option<u64>) -> Vec<u8> {
    let mut v = json!({"type": "error", "code": code, "message": message, "param": null,
        "error": {"message": message, "type": "invalid_request_error", "code": code}});
    if let Some(n) = seq {
        set(&mut v, "sequence_number", json!(n));
    }
    sse(Some("error"), &v)
}
