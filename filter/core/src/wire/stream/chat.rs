//! OpenAI Chat Completions chunks: `choices[].delta.tool_calls[]` fragments keyed by
//! (choice index, `tool_calls[].index`), legacy `delta.function_call`, `data: [DONE]`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{as_index, sse, Call, Held, Removal, Seen, Unknown};
use crate::wire::calls;
use crate::wire::kinds::{self, Position};

/// The chunk's choices with their index (the `index` field, else the position).
fn choices(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(pos, c)| (as_index(c.get("index")).unwrap_or(pos), c))
}

fn has_call(delta: &Value) -> bool {
    let tools = delta
        .get("tool_calls")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    tools || delta.get("function_call").is_some_and(Value::is_object)
}

fn has_text(delta: &Value) -> bool {
    delta
        .get("content")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn envelope(v: &Value) -> Option<Map<String, Value>> {
    let mut m = v.as_object()?.clone();
    m.shift_remove("choices");
    m.shift_remove("usage");
    Some(m)
}

fn note_text(seen: &mut Seen, choice: usize) {
    if !seen.text_choices.contains(&choice) {
        seen.text_choices.push(choice);
    }
}

/// Notes a passing chunk; true when it starts a tool call.
pub(super) fn observe(seen: &mut Seen, v: Option<&Value>) -> bool {
    let Some(v) = v else {
        return false;
    };
    if seen.envelope.is_none() && v.get("choices").is_some() {
        seen.envelope = envelope(v);
    }
    let mut call = false;
    for (ci, c) in choices(v) {
        let Some(delta) = c.get("delta") else {
            continue;
        };
        call |= has_call(delta);
        if has_text(delta) {
            note_text(seen, ci);
        }
    }
    call
}

/// The first `tool_calls[]` entry of a chunk whose `type` the filter does not know.
pub(super) fn unknown(v: Option<&Value>) -> Option<Unknown> {
    for (_, c) in choices(v?) {
        let entries = c.pointer("/delta/tool_calls").and_then(Value::as_array);
        for tc in entries.into_iter().flatten() {
            if let Some(ty) = tc.get("type").and_then(Value::as_str) {
                if kinds::handling(Position::ChatStreamToolCall, ty).is_none() {
                    return Some(Unknown::new(Position::ChatStreamToolCall, ty, true));
                }
            }
        }
    }
    None
}

/// Merges one delta into the accumulated value as the OpenAI SDKs do (`accumulate_delta`):
/// strings and numbers are concatenated or added, objects merged, `index` and `type` replaced.
pub(super) fn accumulate(acc: &mut Value, delta: &Value) {
    let (Some(acc), Some(delta)) = (acc.as_object_mut(), delta.as_object()) else {
        return;
    };
    for (k, d) in delta {
        let Some(a) = acc.get_mut(k).filter(|a| !a.is_null()) else {
            acc.insert(k.clone(), d.clone());
            continue;
        };
        if k == "index" || k == "type" {
            *a = d.clone();
            continue;
        }
        match (a, d) {
            (Value::String(a), Value::String(d)) => a.push_str(d),
            (a @ Value::Object(_), d @ Value::Object(_)) => accumulate(a, d),
            (Value::Number(a), Value::Number(d)) => {
                if let (Some(x), Some(y)) = (a.as_i64(), d.as_i64()) {
                    *a = serde_json::Number::from(x.saturating_add(y));
                }
            }
            (a, d) => *a = d.clone(),
        }
    }
}

/// Calls per (choice, `tool_calls[].index`), each entry accumulated from its fragments as the
/// SDKs assemble it (a name split over fragments is judged whole: `dele` + `te_repository`),
/// then read as a `function` or `custom` call ([`calls::chat_tool_call`]). A legacy
/// `delta.function_call` is the choice's call at index 0.
pub(super) fn calls(events: &[Held]) -> Vec<Call> {
    // (choice, index, legacy, accumulated entry, fragments that carried a name)
    let mut acc: Vec<(usize, usize, bool, Value, usize)> = Vec::new();
    let mut slot = |choice: usize, index: usize, legacy: bool, delta: &Value| {
        let named = ["/name", "/function/name", "/custom/name"].iter().any(|p| {
            delta
                .pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
        });
        match acc
            .iter_mut()
            .find(|(c, i, l, _, _)| *c == choice && *i == index && *l == legacy)
        {
            Some((_, _, _, a, names)) => {
                accumulate(a, delta);
                *names += usize::from(named);
            }
            None => acc.push((choice, index, legacy, delta.clone(), usize::from(named))),
        }
    };
    for v in events.iter().filter_map(|e| e.json.as_ref()) {
        for (ci, c) in choices(v) {
            let Some(delta) = c.get("delta") else {
                continue;
            };
            let tools = delta.get("tool_calls").and_then(Value::as_array);
            for (pos, tc) in tools.into_iter().flatten().enumerate() {
                slot(ci, as_index(tc.get("index")).unwrap_or(pos), false, tc);
            }
            if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
                slot(ci, 0, true, f);
            }
        }
    }
    acc.into_iter()
        .map(|(choice, index, legacy, entry, names)| {
            let get =
                |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let mut call = Call {
                choice,
                index,
                legacy,
                split: names > 1,
                ..Call::default()
            };
            if legacy {
                call.name = get(&entry, "name");
                call.raw = get(&entry, "arguments");
            } else {
                call.id = get(&entry, "id");
                match calls::chat_tool_call(&entry) {
                    Some(c) if entry.get("type").and_then(Value::as_str) == Some("custom") => {
                        call.name = c.name;
                        call.parsed = Some((c.arguments, c.duplicate_keys));
                    }
                    Some(c) => {
                        call.name = c.name;
                        call.raw = entry
                            .pointer("/function/arguments")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                    }
                    None => {
                        let ty = get(&entry, "type");
                        let c = calls::unknown_item(&entry, &kinds::safe_type_name(&ty));
                        call.name = c.name;
                        call.parsed = Some((c.arguments, false));
                        call.unknown = true;
                    }
                }
            }
            call.item = Some(entry);
            call
        })
        .collect()
}

/// A chunk with the upstream envelope and one choice.
fn chunk(envelope: &Map<String, Value>, choice: Value) -> Vec<u8> {
    let mut m = envelope.clone();
    m.insert("choices".to_owned(), Value::Array(vec![choice]));
    sse(None, &Value::Object(m))
}

/// Held chunks without their call fragments and finish reasons (kept in order), then per
/// affected choice the allowed calls (renumbered), the refusals as content, the finish chunk;
/// then usage chunks and `[DONE]`.
pub(super) fn rewrite(
    seen: &Seen,
    events: &[Held],
    calls: &[Call],
    removals: &[Removal],
) -> Vec<u8> {
    let mut seen = seen.clone();
    let mut out = Vec::new();
    let mut usage = Vec::new();
    // Choice → finish reason sent upstream in the held part.
    let mut finish: BTreeMap<usize, Option<String>> = BTreeMap::new();
    for e in events {
        let Some(v) = e.json.as_ref().filter(|v| v.get("choices").is_some()) else {
            if !e.done {
                out.extend_from_slice(&e.raw);
            }
            continue;
        };
        if seen.envelope.is_none() {
            seen.envelope = envelope(v);
        }
        let Some(list) = v.get("choices").and_then(Value::as_array) else {
            out.extend_from_slice(&e.raw);
            continue;
        };
        if list.is_empty() {
            usage.extend_from_slice(&e.raw);
            continue;
        }
        let mut changed = false;
        let mut kept = Vec::new();
        for (ci, c) in choices(v) {
            let mut c = c.clone();
            if let Some(reason) = c.get("finish_reason").filter(|r| !r.is_null()) {
                finish.insert(ci, reason.as_str().map(str::to_owned));
                super::set(&mut c, "finish_reason", Value::Null);
                changed = true;
            }
            if let Some(delta) = c.get_mut("delta").and_then(Value::as_object_mut) {
                let a = delta.shift_remove("tool_calls").is_some();
                let b = delta.shift_remove("function_call").is_some();
                changed |= a || b;
            }
            let delta = c.get("delta");
            if delta.is_some_and(has_text) {
                note_text(&mut seen, ci);
            }
            let keep = delta
                .and_then(Value::as_object)
                .is_some_and(|d| d.values().any(|x| !x.is_null()));
            if keep {
                kept.push(c);
            } else {
                changed = true;
            }
        }
        if !changed {
            out.extend_from_slice(&e.raw);
        } else if !kept.is_empty() {
            let mut v = v.clone();
            super::set(&mut v, "choices", Value::Array(kept));
            out.extend(sse(None, &v));
        }
    }
    let env = seen
        .envelope
        .clone()
        .unwrap_or_else(|| Map::from_iter([("object".to_owned(), json!("chat.completion.chunk"))]));
    let mut affected: Vec<usize> = calls.iter().map(|c| c.choice).collect();
    affected.extend(finish.keys().copied());
    affected.sort_unstable();
    affected.dedup();
    let mut reasons = Vec::new();
    for &ci in &affected {
        let mine = calls.iter().filter(|c| c.choice == ci);
        let allowed: Vec<&Call> = mine
            .clone()
            .filter(|c| c.removal(removals).is_none())
            .collect();
        for (n, call) in allowed.iter().enumerate() {
            let function = json!({"name": call.name, "arguments": call.raw});
            let delta = match &call.item {
                _ if call.legacy => json!({"function_call": function}),
                // The entry as the client assembled it (custom calls, unknown types), renumbered.
                Some(entry) if entry.get("function").is_none() => {
                    let mut entry = entry.clone();
                    super::set(&mut entry, "index", json!(n));
                    json!({ "tool_calls": [entry] })
                }
                _ => {
                    json!({"tool_calls": [{"index": n, "id": call.id, "type": "function", "function": function}]})
                }
            };
            out.extend(chunk(
                &env,
                json!({"index": ci, "delta": delta, "logprobs": null, "finish_reason": null}),
            ));
        }
        let refusals: Vec<&str> = mine
            .filter_map(|c| c.removal(removals))
            .map(|r| r.refusal.as_str())
            .collect();
        if !refusals.is_empty() {
            let mut text = refusals.join("\n");
            if seen.text_choices.contains(&ci) {
                text.insert_str(0, "\n\n");
            }
            out.extend(chunk(&env, json!({"index": ci, "delta": {"content": text}, "logprobs": null, "finish_reason": null})));
        }
        let reason = match (allowed.first(), finish.get(&ci).cloned().flatten()) {
            (Some(c), _) if c.legacy => "function_call".to_owned(),
            (Some(_), _) => "tool_calls".to_owned(),
            (None, Some(r)) if r != "tool_calls" && r != "function_call" => r,
            (None, _) => "stop".to_owned(),
        };
        reasons.push((ci, reason));
    }
    for (ci, reason) in reasons {
        out.extend(chunk(
            &env,
            json!({"index": ci, "delta": {}, "logprobs": null, "finish_reason": reason}),
        ));
    }
    out.extend(usage);
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}
