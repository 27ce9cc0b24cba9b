//! Issue 16 regressions through real Envoy with the built `.wasm`: LLM streams fail closed on
//! events serde cannot read (NaN, Infinity, nesting past its depth), and streamed calls are
//! judged as the clients assemble them (a Chat name split over deltas; a Responses call whose
//! `output_item.added` and `.done` disagree; an item only in `response.completed`). Upstream
//! answers are scripted with the demo upstream's raw mode, split into several writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmfw_tests::stack::RawReply;
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

async fn stack(label: &str) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        label: label.to_owned(),
        plugin_config: json!({
            "routes": [
                {"path_prefix": "/v1/chat/completions", "format": "openai_chat"},
                {"path_prefix": "/v1/responses", "format": "openai_responses"},
                {"path_prefix": "/v1/messages", "format": "anthropic"}
            ],
            "state_service": {"cluster": "llmfw_state", "timeout_ms": 1000, "failure_mode": "closed"},
            "tools": {"deny": ["delete_*"]}
        }),
        store: Some(Store::Sqlite),
        state_port: None,
    })
    .await
}

/// The upstream streams `events` (one write each).
async fn stream(stack: &Stack, path: &str, events: &[String]) -> anyhow::Result<RawReply> {
    let body = events.concat();
    let mut at = 0;
    let mut splits = Vec::new();
    for e in events {
        at += e.len();
        splits.push(at.to_string());
    }
    let hex_body = hex::encode(body.as_bytes());
    let splits = splits.join(",");
    let request = json!({"model": "m", "max_tokens": 5, "stream": true, "input": "hi",
        "messages": [{"role": "user", "content": "hi"}]});
    stack
        .post_bytes(
            path,
            &[
                ("content-type", "application/json"),
                ("x-demo-raw-body", &hex_body),
                ("x-demo-raw-splits", &splits),
            ],
            request.to_string().into_bytes(),
        )
        .await
}

fn data(v: &str) -> String {
    format!("data: {v}\n\n")
}

fn named(v: &Value) -> String {
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap())
}

fn chunk(delta: Value) -> String {
    data(&json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}).to_string())
}

#[tokio::test]
async fn unreadable_events_end_the_stream_in_every_llm_format() -> anyhow::Result<()> {
    let stack = stack("forms-unreadable").await?;
    let hi = chunk(json!({"role": "assistant", "content": "hi"}));
    let nan = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"delete_files","arguments":"{}"}}]},"logprobs":NaN}]}"#;
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let resp = json!({"id": "r", "object": "response", "status": "in_progress", "output": []});
    let cases = vec![
        ("/v1/chat/completions", vec![hi.clone(), data(nan), data("[DONE]")]),
        ("/v1/chat/completions", vec![hi.clone(), data(&deep), data("[DONE]")]),
        ("/v1/responses", vec![
            named(&json!({"type": "response.created", "response": resp})),
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"f\",\"call_id\":\"c\",\"name\":\"delete_files\",\"arguments\":\"\",\"n\":Infinity}}\n\n".to_owned(),
        ]),
        ("/v1/messages", vec![
            named(&json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": []}})),
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"delete_files\",\"input\":{\"n\":-Infinity}}}\n\n".to_owned(),
            named(&json!({"type": "message_stop"})),
        ]),
    ];
    let n = cases.len() as u64;
    for (path, events) in cases {
        let r = stream(&stack, path, &events).await?;
        let text = r.text();
        assert!(
            !text.contains("NaN")
                && !text.contains("Infinity")
                && !text.contains("[[[")
                && !text.contains("delete_files"),
            "{path} passed raw: {}",
            &text[..text.len().min(400)]
        );
        assert!(
            text.contains("llmfw_uninspectable_response") || text.contains("cannot parse"),
            "{path}: {text}"
        );
    }
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.uninspected.unreadable_event")
            .await?,
        n
    );
    assert!(stack.envoy_ready().await);
    Ok(())
}

#[tokio::test]
async fn streamed_calls_are_judged_as_the_client_assembles_them() -> anyhow::Result<()> {
    let stack = stack("forms-assemble").await?;
    // Chat: the name split over two deltas is judged whole.
    let events = vec![
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "dele", "arguments": ""}}]}),
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"name": "te_files", "arguments": "{\"path\":\"/\"}"}}]}),
        ),
        data("[DONE]"),
    ];
    let r = stream(&stack, "/v1/chat/completions", &events).await?;
    let text = r.text();
    assert!(
        !text.contains("\"tool_calls\""),
        "the split call passed: {text}"
    );
    assert!(
        text.contains("delete_files") && text.contains("blocked"),
        "{text}"
    );

    // Responses: announced as get_weather, done and completed as delete_files.
    let resp = |output: Value| json!({"id": "r", "object": "response", "status": "completed", "output": output});
    let item = |name: &str, args: &str| json!({"type": "function_call", "id": "fc", "call_id": "c", "name": name, "arguments": args});
    let events = vec![
        named(&json!({"type": "response.created", "response": resp(json!([]))})),
        named(
            &json!({"type": "response.output_item.added", "output_index": 0, "item": item("get_weather", "")}),
        ),
        named(
            &json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc", "delta": "{}"}),
        ),
        named(
            &json!({"type": "response.output_item.done", "output_index": 0, "item": item("delete_files", "{}")}),
        ),
        named(
            &json!({"type": "response.completed", "response": resp(json!([item("delete_files", "{}")]))}),
        ),
    ];
    let r = stream(&stack, "/v1/responses", &events).await?;
    let (events, _) = r.sse();
    assert!(
        events
            .iter()
            .all(|(_, e)| e["item"]["type"] != "function_call"),
        "{}",
        r.text()
    );
    let completed = events
        .iter()
        .find(|(n, _)| n == "response.completed")
        .unwrap();
    let output = completed.1["response"]["output"].as_array().unwrap();
    assert!(
        output.iter().all(|i| i["type"] != "function_call"),
        "{}",
        completed.1
    );
    assert!(
        r.text().contains("disagree") || r.text().contains("delete_files"),
        "{}",
        r.text()
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.uninspected.stream_forms")
            .await?,
        1
    );

    // Responses: an item only in response.completed (never announced) is judged.
    let events = vec![
        named(&json!({"type": "response.created", "response": resp(json!([]))})),
        named(
            &json!({"type": "response.completed", "response": resp(json!([item("delete_files", "{}")]))}),
        ),
    ];
    let r = stream(&stack, "/v1/responses", &events).await?;
    let (events, _) = r.sse();
    let completed = events
        .iter()
        .find(|(n, _)| n == "response.completed")
        .unwrap();
    let output = completed.1["response"]["output"].as_array().unwrap();
    assert!(
        output.iter().all(|i| i["type"] != "function_call"),
        "{}",
        completed.1
    );
    Ok(())
}
