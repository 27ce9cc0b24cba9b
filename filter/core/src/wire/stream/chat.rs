//! OpenAI Chat Completions chunks: `choices[].delta.tool_calls[]` fragments keyed by
//! (choice index, `tool_calls[].index`), legacy `delta.function_call`, `data: [DONE]`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{as_index, sse, Call, Held, Removal, Seen};

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

fn fragment(call: &mut Call, f: &Value) {
    let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("");
    if call.name.is_empty() {
        get("name").clone_into(&mut call.name);
    }
    call.raw.push_str(get("arguments"));
}

/// Calls per (choice, `tool_calls[].index`): id and name from the first fragment carrying them,
/// arguments concatenated.
pub(super) fn calls(events: &[Held]) -> Vec<Call> {
    let mut out: Vec<Call> = Vec::new();
    let slot = |out: &mut Vec<Call>, choice: usize, index: usize| -> usize {
        match out.iter().position(|c| c.at(choice, index)) {
            Some(i) => i,
            None => {
                out.push(Call {
                    choice,
                    index,
                    ..Call::default()
                });
                out.len() - 1
            }
        }
    };
    for v in events.iter().filter_map(|e| e.json.as_ref()) {
        for (ci, c) in choices(v) {
            let Some(delta) = c.get("delta") else {
                continue;
            };
            let tools = delta.get("tool_calls").and_then(Value::as_array);
            for (pos, tc) in tools.into_iter().flatten().enumerate() {
                let i = slot(&mut out, ci, as_index(tc.get("index")).unwrap_or(pos));
                let Some(call) = out.get_mut(i) else { continue };
                if call.id.is_empty() {
                    if let Some(id) = tc.get("id").and_then(Value::as_str) {
                        id.clone_into(&mut call.id);
                    }
                }
                if let Some(f) = tc.get("function") {
                    fragment(call, f);
                }
            }
            if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
                let i = slot(&mut out, ci, 0);
                if let Some(call) = out.get_mut(i) {
                    call.legacy = true;
                    fragment(call, f);
                }
            }
        }
    }
    out
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
            let delta = if call.legacy {
                json!({"function_call": function})
            } else {
                json!({"tool_calls": [{"index": n, "id": call.id, "type": "function", "function": function}]})
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
