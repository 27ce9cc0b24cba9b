//! LLM streams fail closed on events serde cannot read, and calls are judged as the clients
//! assemble them: a name split over Chat deltas is judged whole, the forms of a Responses call
//! (added, deltas, `.done`, `response.completed`) must agree, an item only in
//! `response.completed` is judged, an Anthropic block index started twice is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::items_tests::{responses_stream, stream_answer, DENY};
use super::*;
use crate::metrics::Uninspected;

fn data(v: &str) -> String {
    format!("data: {v}\n\n")
}

fn named(name: &str, v: &Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

fn chat_chunk(delta: Value) -> String {
    data(&json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}).to_string())
}

#[test]
fn unreadable_events_end_every_llm_stream() {
    let nan = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"delete_files","arguments":"{}"}}]},"logprobs":NaN}]}"#;
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let start = chat_chunk(json!({"role": "assistant", "content": "hi"}));
    for bad in [nan.to_owned(), deep.clone()] {
        let (sent, out) = stream_answer(
            "{}",
            Format::OpenAiChat,
            &[start.clone(), data(&bad), data("[DONE]")],
        );
        assert_eq!(out.action, Action::Block, "{sent}");
        assert!(
            !sent.contains("NaN") && !sent.contains("[[[") && !sent.contains("delete_files"),
            "{sent}"
        );
        assert!(
            sent.contains(CODE_UNINSPECTABLE) && sent.contains("hi"),
            "{sent}"
        );
        assert!(out.uninspected.contains(Uninspected::UnreadableEvent));
    }
    let item = json!({"type": "function_call", "id": "fc", "call_id": "c", "name": "get_weather", "arguments": "{}"});
    let mut events = responses_stream(&item, &[]);
    events.insert(
        2,
        named(
            "response.output_text.delta",
            &json!({"type": "response.output_text.delta"}),
        )
        .replace('}', ",\"n\":Infinity}"),
    );
    let (sent, out) = stream_answer("{}", Format::OpenAiResponses, &events);
    assert_eq!(out.action, Action::Block);
    assert!(
        sent.contains("response.created") && sent.contains(CODE_UNINSPECTABLE),
        "{sent}"
    );
    let events = vec![
        named("message_start", &json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": []}})),
        format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}},\"n\":{}}}\n\n", "-Infinity"),
        named("message_stop", &json!({"type": "message_stop"})),
    ];
    let (sent, out) = stream_answer("{}", Format::Anthropic, &events);
    assert_eq!(out.action, Action::Block);
    assert!(
        sent.contains("message_start") && sent.contains("\"type\":\"error\""),
        "{sent}"
    );
}

#[test]
fn a_split_chat_name_is_judged_whole_and_re_emitted_whole() {
    let split = |a: &str, b: &str| {
        vec![
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": a, "arguments": ""}}]}),
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"name": b, "arguments": "{\"r\":1}"}}]}),
            ),
            data("[DONE]"),
        ]
    };
    let (sent, out) = stream_answer(DENY, Format::OpenAiChat, &split("dele", "te_repository"));
    assert_eq!(out.action, Action::Block, "{sent}");
    assert!(
        sent.contains("delete_repository") && !sent.contains("\"tool_calls\""),
        "{sent}"
    );
    // Allowed: one fragment carries the whole name, so a client that keeps the first fragment
    // reads what was judged.
    let (sent, out) = stream_answer(DENY, Format::OpenAiChat, &split("get_", "weather"));
    assert_eq!(out.action, Action::Allow, "{sent}");
    assert!(sent.contains("\"name\":\"get_weather\""), "{sent}");
    assert!(!sent.contains("\"name\":\"get_\""), "{sent}");
}

#[test]
fn responses_forms_must_agree() {
    // Announced as get_weather, done as delete_repo.
    let done = json!({"type": "function_call", "id": "fc", "call_id": "c", "name": "delete_repo", "arguments": "{}"});
    let added = json!({"type": "function_call", "id": "fc", "call_id": "c", "name": "get_weather", "arguments": ""});
    let mut events = responses_stream(&done, &[]);
    events[1] = named(
        "response.output_item.added",
        &json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
    );
    let (sent, out) = stream_answer("{}", Format::OpenAiResponses, &events);
    assert_eq!(out.action, Action::Block, "{sent}");
    assert!(
        sent.contains("disagree") && !sent.contains("\"type\":\"function_call\""),
        "{sent}"
    );
    assert!(out.uninspected.contains(Uninspected::StreamForms));
    // Deltas build other arguments than the done item carries.
    let item = json!({"type": "function_call", "id": "fc", "call_id": "c", "name": "read_file", "arguments": "{\"path\":\"/srv/a\"}"});
    let deltas = [
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc", "delta": "{\"path\":\"/etc/shadow\"}"}),
    ];
    let (sent, out) = stream_answer(
        "{}",
        Format::OpenAiResponses,
        &responses_stream(&item, &deltas),
    );
    assert_eq!(out.action, Action::Block, "{sent}");
    // Agreeing forms pass.
    let deltas = [
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc", "delta": "{\"path\": \"/srv/a\"}"}),
    ];
    let (sent, out) = stream_answer(
        "{}",
        Format::OpenAiResponses,
        &responses_stream(&item, &deltas),
    );
    assert_eq!(out.action, Action::Allow, "{sent}");
}

#[test]
fn an_item_only_in_response_completed_is_judged() {
    let resp = |output: Value| json!({"id": "resp_1", "object": "response", "status": "completed", "output": output});
    let hidden = json!({"type": "function_call", "id": "fc9", "call_id": "c9", "name": "delete_repo", "arguments": "{}"});
    let events = vec![
        named(
            "response.created",
            &json!({"type": "response.created", "response": resp(json!([]))}),
        ),
        named(
            "response.completed",
            &json!({"type": "response.completed", "response": resp(json!([hidden]))}),
        ),
    ];
    let (sent, out) = stream_answer(DENY, Format::OpenAiResponses, &events);
    assert_eq!(out.action, Action::Block, "{sent}");
    assert!(
        !sent.contains("\"type\":\"function_call\"") && sent.contains("delete_repo"),
        "{sent}"
    );
}

#[test]
fn an_anthropic_block_index_started_twice_is_refused() {
    let start = |name: &str| {
        named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": format!("tu_{name}"), "name": name, "input": {}}}),
        )
    };
    let events = vec![
        named(
            "message_start",
            &json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": []}}),
        ),
        start("get_weather"),
        start("read_file"),
        named(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ),
        named(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        ),
        named("message_stop", &json!({"type": "message_stop"})),
    ];
    let (sent, out) = stream_answer("{}", Format::Anthropic, &events);
    assert_eq!(out.action, Action::Block, "{sent}");
    assert!(sent.contains("twice"), "{sent}");
}
