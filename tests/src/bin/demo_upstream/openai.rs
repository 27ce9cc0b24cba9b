//! OpenAI Chat Completions and Responses, JSON and streamed.

use super::*;

pub(crate) async fn chat_completions(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = c.completions.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_bad_json();
    };
    let messages = list(&request, "messages");
    let tool_result = messages
        .last()
        .filter(|m| field(m, "role") == Some("tool"))
        .map(|m| content_text(m.get("content")));
    let user_text = messages
        .iter()
        .rev()
        .find(|m| field(m, "role") == Some("user"))
        .map(|m| content_text(m.get("content")));
    let reply = Reply::plan(&headers, tool_result, user_text);
    let (id, model, created) = (format!("chatcmpl-demo-{n}"), model_of(&request), unix_now());
    let finish =
        if reply.function_call.is_some() && reply.calls.is_empty() && reply.items.is_empty() {
            "function_call"
        } else if reply.has_calls() {
            "tool_calls"
        } else {
            "stop"
        };
    if wants_stream(&request) {
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": null,
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            .to_string()
        };
        let mut sse = Sse::default();
        sse.data(chunk(json!({"role": "assistant", "content": ""}), None));
        if let Some(text) = &reply.text {
            for (k, piece) in pieces(text, reply.pieces).into_iter().enumerate() {
                sse.data(chunk(json!({"content": piece}), None));
                if k == 1 {
                    sse.cut_last();
                }
            }
        }
        for (i, (name, args)) in reply.calls.iter().enumerate() {
            let head = json!({"index": i, "id": format!("call_{n}_{i}"), "type": "function",
                              "function": {"name": name, "arguments": ""}});
            sse.data(chunk(json!({"tool_calls": [head]}), None));
            for (k, piece) in pieces(&args.to_string(), PIECES).into_iter().enumerate() {
                let frag = json!({"index": i, "function": {"arguments": piece}});
                sse.data(chunk(json!({"tool_calls": [frag]}), None));
                if k == 1 {
                    sse.cut_last();
                }
            }
        }
        for (k, entry) in reply.items.iter().enumerate() {
            let i = reply.calls.len() + k;
            let mut entry = entry.clone();
            entry["index"] = json!(i);
            // A custom call's name is split over two fragments (the SDKs concatenate them).
            let name = entry
                .pointer("/custom/name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match name {
                Some(name) if name.len() > 1 => {
                    let (a, b) = name.split_at(name.len() / 2);
                    let input = entry.pointer("/custom/input").cloned().unwrap_or(json!(""));
                    entry["custom"] = json!({"name": a, "input": ""});
                    sse.data(chunk(json!({"tool_calls": [entry]}), None));
                    let rest = json!({"index": i, "custom": {"name": b, "input": input}});
                    sse.data(chunk(json!({"tool_calls": [rest]}), None));
                }
                _ => sse.data(chunk(json!({"tool_calls": [entry]}), None)),
            }
        }
        if let Some(f) = &reply.function_call {
            sse.data(chunk(json!({"function_call": f}), None));
        }
        sse.data(chunk(json!({}), Some(finish)));
        sse.crlf_last();
        sse.data("[DONE]".to_owned());
        return sse.into_response();
    }
    let mut tool_calls: Vec<Value> = reply
        .calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{n}_{i}"), "type": "function",
                   "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    tool_calls.extend(reply.items.iter().cloned());
    let mut message = if tool_calls.is_empty() {
        json!({"role": "assistant", "content": reply.text})
    } else {
        json!({"role": "assistant", "content": reply.text, "tool_calls": tool_calls})
    };
    if let Some(f) = &reply.function_call {
        message["function_call"] = f.clone();
    }
    let prompt_tokens = body.len() / 4;
    Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 16, "total_tokens": prompt_tokens + 16}
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses.

pub(crate) async fn responses(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let n = c.responses.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_bad_json();
    };
    let (tool_result, user_text) = match request.get("input") {
        Some(Value::String(s)) => (None, Some(s.clone())),
        Some(Value::Array(items)) => (
            items
                .last()
                .filter(|i| {
                    let ty = field(i, "type").unwrap_or("");
                    ty.ends_with("_call_output") || ty == "mcp_call"
                })
                .map(|i| match i.get("output") {
                    Some(o @ (Value::String(_) | Value::Array(_)))
                        if !content_text(Some(o)).is_empty() =>
                    {
                        content_text(Some(o))
                    }
                    Some(o) => o.to_string(),
                    None => String::new(),
                }),
            items
                .iter()
                .rev()
                .find(|i| field(i, "role") == Some("user"))
                .map(|i| content_text(i.get("content"))),
        ),
        _ => (None, None),
    };
    let reply = Reply::plan(&headers, tool_result, user_text);
    let input_tokens = body.len() / 4;
    let envelope = |status: &str, output: Vec<Value>, usage: Value| {
        json!({"id": format!("resp_demo_{n}"), "object": "response", "created_at": unix_now(),
               "status": status, "error": null, "incomplete_details": null,
               "instructions": request.get("instructions"), "max_output_tokens": null,
               "model": model_of(&request), "output": output, "parallel_tool_calls": true,
               "previous_response_id": null, "temperature": 1.0, "text": {"format": {"type": "text"}},
               "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
               "usage": usage, "metadata": {}})
    };
    let usage = json!({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                       "output_tokens": 16, "output_tokens_details": {"reasoning_tokens": 0},
                       "total_tokens": input_tokens + 16});
    let message_item = |text: &str, status: &str| {
        let content = if status == "completed" {
            json!([{"type": "output_text", "text": text, "annotations": []}])
        } else {
            json!([])
        };
        json!({"type": "message", "id": format!("msg_{n}"), "status": status, "role": "assistant", "content": content})
    };
    let call_item = |i: usize, name: &str, arguments: &str, status: &str| {
        json!({"type": "function_call", "id": format!("fc_{n}_{i}"), "call_id": format!("call_{n}_{i}"),
               "name": name, "arguments": arguments, "status": status})
    };
    let mut output = Vec::new();
    if let Some(text) = &reply.text {
        output.push(message_item(text, "completed"));
    }
    for (i, (name, args)) in reply.calls.iter().enumerate() {
        output.push(call_item(i, name, &args.to_string(), "completed"));
    }
    output.extend(reply.items.iter().cloned());
    let full = envelope("completed", output, usage);
    if !wants_stream(&request) {
        return Json(full).into_response();
    }
    let mut sse = Sse::default();
    let started = envelope("in_progress", Vec::new(), Value::Null);
    sse.sequenced(json!({"type": "response.created", "response": started}));
    sse.sequenced(json!({"type": "response.in_progress", "response": started}));
    sse.crlf_last();
    let mut index = 0;
    if let Some(text) = &reply.text {
        let (item_id, part) = (
            format!("msg_{n}"),
            json!({"type": "output_text", "text": text, "annotations": []}),
        );
        let at = json!({"item_id": item_id, "output_index": index, "content_index": 0});
        let with = |kind: &str, extra: Value| {
            let mut v = at.clone();
            if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
                obj.insert("type".into(), json!(kind));
                obj.extend(extra);
            }
            v
        };
        sse.sequenced(json!({"type": "response.output_item.added", "output_index": index, "item": message_item(text, "in_progress")}));
        sse.sequenced(with(
            "response.content_part.added",
            json!({"part": {"type": "output_text", "text": "", "annotations": []}}),
        ));
        for (k, piece) in pieces(text, reply.pieces).into_iter().enumerate() {
            sse.sequenced(with(
                "response.output_text.delta",
                json!({"delta": piece, "logprobs": []}),
            ));
            if k == 1 {
                sse.cut_last();
            }
        }
        sse.sequenced(with(
            "response.output_text.done",
            json!({"text": text, "logprobs": []}),
        ));
        sse.sequenced(with("response.content_part.done", json!({"part": part})));
        sse.sequenced(json!({"type": "response.output_item.done", "output_index": index, "item": message_item(text, "completed")}));
        index += 1;
    }
    for (i, (name, args)) in reply.calls.iter().enumerate() {
        let arguments = args.to_string();
        let item_id = format!("fc_{n}_{i}");
        sse.sequenced(json!({"type": "response.output_item.added", "output_index": index, "item": call_item(i, name, "", "in_progress")}));
        for (k, piece) in pieces(&arguments, PIECES).into_iter().enumerate() {
            sse.sequenced(json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": index, "delta": piece}));
            if k == 1 {
                sse.cut_last();
            }
        }
        sse.sequenced(json!({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": index, "name": name, "arguments": arguments}));
        sse.sequenced(json!({"type": "response.output_item.done", "output_index": index, "item": call_item(i, name, &arguments, "completed")}));
        index += 1;
    }
    for item in &reply.items {
        let mut added = item.clone();
        let custom = field(item, "type") == Some("custom_tool_call");
        if custom {
            added["input"] = json!("");
        }
        added["status"] = json!("in_progress");
        sse.sequenced(
            json!({"type": "response.output_item.added", "output_index": index, "item": added}),
        );
        if custom {
            let input = field(item, "input").unwrap_or_default();
            let item_id = item.get("id").cloned().unwrap_or(Value::Null);
            for piece in pieces(input, PIECES) {
                sse.sequenced(json!({"type": "response.custom_tool_call_input.delta", "item_id": item_id, "output_index": index, "delta": piece}));
            }
            sse.sequenced(json!({"type": "response.custom_tool_call_input.done", "item_id": item_id, "output_index": index, "input": input}));
        }
        sse.sequenced(
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        );
        index += 1;
    }
    sse.sequenced(json!({"type": "response.completed", "response": full}));
    sse.into_response()
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages.
