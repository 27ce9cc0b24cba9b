//! Bad input through the exchange state machine (issue 8): each case found by the e2e
//! bad-input table (`tests/tests/bad_input.rs`) that needed a fix, as a unit test.

use super::tests::{cfg, h, CLOCK};
use super::*;
use serde_json::json;

const CONFIG: &str = r#"{"routes":[{"path_prefix":"/v1/chat/completions","format":"openai_chat"},{"path_prefix":"/mcp","format":"mcp"}],"tools":{"deny":["delete_*"]}}"#;

fn at(path: &str) -> Exchange {
    let mut ex = Exchange::new(cfg(CONFIG));
    ex.on_request_headers(&h(&[(":path", path)]));
    ex
}

#[test]
fn duplicate_keys_anywhere_in_a_request_body_are_refused() {
    for (path, body) in [
        (
            "/mcp",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"delete_files"}}"#,
        ),
        (
            "/mcp",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_x","name":"read_file"}}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"m","messages":[],"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}"#,
        ),
    ] {
        let mut ex = at(path);
        let RequestDecision::Reply(reply) = ex.on_request_body(body.as_bytes(), CLOCK) else {
            panic!("{body}: not refused");
        };
        assert_eq!(
            (reply.status, reply.code),
            (400, CODE_AMBIGUOUS_JSON),
            "{body}"
        );
    }
    // the same key in different objects is fine
    let mut ex = at("/v1/chat/completions");
    let body =
        r#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#;
    assert_eq!(
        ex.on_request_body(body.as_bytes(), CLOCK),
        RequestDecision::Continue
    );
}

fn chat_response_exchange(content_type: &str) -> Exchange {
    let mut ex = at("/v1/chat/completions");
    let body = json!({"model":"m","messages":[{"role":"user","content":"hi"}]}).to_string();
    assert_eq!(
        ex.on_request_body(body.as_bytes(), CLOCK),
        RequestDecision::Continue
    );
    let resp = h(&[(":status", "200"), ("content-type", content_type)]);
    assert_eq!(
        ex.on_response_headers(&resp),
        ResponseHeadersAction::Inspect,
        "{content_type}"
    );
    ex
}

#[test]
fn a_tool_call_under_a_non_json_content_type_is_judged() {
    let body = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"delete_repository","arguments":"{}"}}]},"finish_reason":"tool_calls"}]});
    for ct in ["text/plain", "text/html; charset=utf-8", ""] {
        let mut ex = chat_response_exchange(ct);
        let ResponseDecision::Final(out) = ex.on_response_body(body.to_string().as_bytes(), CLOCK)
        else {
            panic!("{ct}: deny-listed call needs no callout");
        };
        assert_eq!(out.action, Action::Block, "{ct}");
        let v: Value = serde_json::from_slice(out.body.as_deref().unwrap()).unwrap();
        assert!(
            v["choices"][0]["message"].get("tool_calls").is_none(),
            "{ct}: {v}"
        );
    }
}

#[test]
fn a_stream_mislabelled_as_json_is_judged_as_a_stream() {
    let chunk = |delta: Value| {
        json!({"choices":[{"index":0,"delta":delta,"finish_reason":null}]}).to_string()
    };
    let body = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk(json!({"role":"assistant","content":"sure"})),
        chunk(
            json!({"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"delete_repository","arguments":"{}"}}]})
        )
    );
    let mut ex = chat_response_exchange("application/json");
    let ResponseDecision::Final(out) = ex.on_response_body(body.as_bytes(), CLOCK) else {
        panic!("deny-listed call needs no callout");
    };
    assert_eq!(out.action, Action::Block);
    let text = String::from_utf8(out.body.unwrap()).unwrap();
    // The content as the client assembles it (answer text may move between deltas).
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        content.contains("was blocked") && !text.contains("\"name\":\"delete_repository\""),
        "{text}"
    );
    // neither JSON nor a stream with calls: passes untouched
    let mut ex = chat_response_exchange("application/json");
    let ResponseDecision::Final(out) = ex.on_response_body(b"<html>oops</html>", CLOCK) else {
        panic!("no callout");
    };
    assert_eq!((out.action, out.body), (Action::Allow, None));
}

#[test]
fn compressed_request_bodies_are_refused_with_415() {
    let cfg_json = r#"{"routes":[{"path_prefix":"/v1/messages","format":"anthropic"}]}"#;
    for encoding in ["gzip", "br", " GZIP ", "deflate, gzip", "x-custom"] {
        let mut ex = Exchange::new(cfg(cfg_json));
        ex.on_request_headers(&h(&[
            (":path", "/v1/messages"),
            ("content-encoding", encoding),
        ]));
        let BodyProgress::Reject(reply) = ex.request_body_progress(10, false) else {
            panic!("{encoding}: not refused");
        };
        assert_eq!((reply.status, reply.code), (415, CODE_UNSUPPORTED_ENCODING));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["type"], "error", "anthropic-shaped: {body}");
    }
    for encoding in ["identity", "", " Identity "] {
        let mut ex = Exchange::new(cfg(cfg_json));
        ex.on_request_headers(&h(&[
            (":path", "/v1/messages"),
            ("content-encoding", encoding),
        ]));
        assert_eq!(ex.request_body_progress(10, true), BodyProgress::Ready);
    }
    // uninspected paths are not touched
    let cfg_json = r#"{"routes":[{"path_prefix":"/v1/messages","format":"anthropic"}],"pass_paths":["/other"]}"#;
    let mut ex = Exchange::new(cfg(cfg_json));
    ex.on_request_headers(&h(&[(":path", "/other"), ("content-encoding", "gzip")]));
    assert_eq!(ex.request_body_progress(10, true), BodyProgress::Pass);
}

#[test]
fn a_response_nested_past_the_parsers_depth_is_refused_not_passed() {
    // serde_json stops at 128 levels; Python's json reads this and would run the call
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let body = format!(
        r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":null,"tool_calls":[{{"id":"c1","type":"function","function":{{"name":"delete_repository","arguments":"{{}}"}}}}]}},"finish_reason":"tool_calls"}}],"padding":{deep}}}"#
    );
    let mut ex = chat_response_exchange("application/json");
    let ResponseDecision::Reject(reply) = ex.on_response_body(body.as_bytes(), CLOCK) else {
        panic!("an unreadable JSON answer passed");
    };
    assert_eq!((reply.status, reply.code), (502, CODE_UNINSPECTABLE));
    // the same for an MCP answer, and for truncated JSON
    let mut ex = at("/mcp");
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/tmp/a"}}}"#;
    // a read_file call without a state service: decided at once, allowed, forwarded
    assert!(matches!(
        ex.on_request_body(call.as_bytes(), CLOCK),
        RequestDecision::Decided(Outcome { reply: None, .. })
    ));
    let resp = h(&[(":status", "200"), ("content-type", "application/json")]);
    assert_eq!(
        ex.on_response_headers(&resp),
        ResponseHeadersAction::Inspect
    );
    let truncated = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ignore all previous"#;
    assert!(matches!(
        ex.on_response_body(truncated.as_bytes(), CLOCK),
        ResponseDecision::Reject(LocalReply { status: 502, .. })
    ));
    // a plain-text answer that is not JSON still passes
    let mut ex = chat_response_exchange("text/plain");
    assert!(matches!(
        ex.on_response_body(b"just text", CLOCK),
        ResponseDecision::Final(_)
    ));
}

#[test]
fn a_declared_body_past_the_cap_is_refused_before_it_arrives() {
    let mut ex = Exchange::new(cfg(r#"{"max_body_bytes":1024}"#));
    let over = ex.on_request_headers(&h(&[
        (":path", "/v1/chat/completions"),
        ("content-length", "1025"),
    ]));
    let RequestHeadersAction::Reject(reply) = over else {
        panic!("not refused: {over:?}");
    };
    assert_eq!((reply.status, reply.code), (413, "llmfw_body_too_large"));
    // at the cap, or without a (parsable) length: the body decides
    for len in ["1024", "soon"] {
        let mut ex = Exchange::new(cfg(r#"{"max_body_bytes":1024}"#));
        assert!(matches!(
            ex.on_request_headers(&h(&[
                (":path", "/v1/chat/completions"),
                ("content-length", len)
            ])),
            RequestHeadersAction::Inspect { .. }
        ));
    }
}
