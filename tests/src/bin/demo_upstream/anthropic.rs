//! Anthropic Messages, JSON and streamed.

use super::*;

pub(crate) async fn messages(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let n = c.messages.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let err = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "request body is not JSON"}});
        return (StatusCode::BAD_REQUEST, Json(err)).into_response();
    };
    let messages = list(&request, "messages");
    let tool_result = messages
        .last()
        .filter(|m| field(m, "role") == Some("user"))
        .and_then(|m| m.get("content")?.as_array()?.last())
        .filter(|b| field(b, "type").is_some_and(|t| t.ends_with("tool_result")))
        .map(|b| match b.get("content") {
            Some(c @ (Value::String(_) | Value::Array(_))) if !content_text(Some(c)).is_empty() => {
                content_text(Some(c))
            }
            Some(c) => c.to_string(),
            None => String::new(),
        });
    let user_text = messages
        .iter()
        .rev()
        .find(|m| field(m, "role") == Some("user"))
        .map(|m| match m.get("content") {
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter(|b| field(b, "type") == Some("text"))
                .filter_map(|b| field(b, "text"))
                .collect(),
            content => content_text(content),
        });
    let reply = Reply::plan(&headers, tool_result, user_text);
    let (id, model) = (format!("msg_demo_{n}"), model_of(&request));
    let stop_reason = if reply.has_calls() {
        "tool_use"
    } else {
        "end_turn"
    };
    let (input_tokens, output_tokens) = (body.len() / 4, 16);
    let mut blocks = Vec::new();
    if let Some(text) = &reply.text {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (i, (name, args)) in reply.calls.iter().enumerate() {
        blocks.push(json!({"type": "tool_use", "id": format!("toolu_{n}_{i}"), "name": name, "input": args}));
    }
    blocks.extend(reply.items.iter().cloned());
    if !wants_stream(&request) {
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
        }))
        .into_response();
    }
    let mut sse = Sse::default();
    sse.typed(json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}));
    sse.typed(json!({"type": "ping"}));
    sse.crlf_last();
    for (index, block) in blocks.iter().enumerate() {
        let (start, deltas) = match field(block, "type") {
            Some("text") => {
                let text = field(block, "text").unwrap_or_default();
                let deltas: Vec<Value> = pieces(text, reply.pieces)
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect();
                (json!({"type": "text", "text": ""}), deltas)
            }
            Some(t) if t != "tool_use" => (block.clone(), Vec::new()),
            _ => {
                let input = block.get("input").map(Value::to_string).unwrap_or_default();
                let deltas: Vec<Value> = pieces(&input, PIECES)
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect();
                let start = json!({"type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {}});
                (start, deltas)
            }
        };
        sse.typed(json!({"type": "content_block_start", "index": index, "content_block": start}));
        for (k, delta) in deltas.into_iter().enumerate() {
            sse.typed(json!({"type": "content_block_delta", "index": index, "delta": delta}));
            if k == 1 {
                sse.cut_last();
            }
        }
        sse.typed(json!({"type": "content_block_stop", "index": index}));
    }
    sse.typed(json!({"type": "message_delta",
                     "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                     "usage": {"output_tokens": output_tokens}}));
    sse.typed(json!({"type": "message_stop"}));
    sse.into_response()
}

// ---------------------------------------------------------------------------------------------
// MCP (JSON-RPC 2.0 over Streamable HTTP).
