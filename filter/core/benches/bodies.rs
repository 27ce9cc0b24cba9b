//! Request and response bodies shared by the criterion benches (`exchange.rs`) and the callgrind
//! driver (`examples/profile_exchange.rs`), so both measure the same inputs.
#![allow(dead_code)]

use std::sync::Arc;

use llmfw_core::config::Config;
use llmfw_core::flow::{Clock, Exchange, ResponseHeadersAction};
use serde_json::{json, Value};
use std::hint::black_box;

/// The plugin config of the benches, scan cache off: every iteration scans every text (the
/// cost of a request whose texts were never seen before).
pub const CONFIG: &[u8] = br#"{
  "state_service": {"cluster": "llmfw_state", "timeout_ms": 200, "failure_mode": "closed"},
  "tools": {"deny": ["delete_*", "*_shell"]},
  "detect": {"scan_cache_bytes": 0}
}"#;

/// [`CONFIG`] with answer-text redaction off (`detect.response_text: off`).
pub const CONFIG_REPLY_OFF: &[u8] = br#"{
  "state_service": {"cluster": "llmfw_state", "timeout_ms": 200, "failure_mode": "closed"},
  "tools": {"deny": ["delete_*", "*_shell"]},
  "detect": {"scan_cache_bytes": 0, "response_text": "off"}
}"#;

/// The same with the default scan cache (4 MiB per VM).
pub const CONFIG_CACHED: &[u8] = br#"{
  "state_service": {"cluster": "llmfw_state", "timeout_ms": 200, "failure_mode": "closed"},
  "tools": {"deny": ["delete_*", "*_shell"]}
}"#;

pub const PROSE: &str =
    "The quarterly report summarises revenue by region, the open incidents of the \
platform team and the migration plan for the billing database. Each section lists owners, \
deadlines and the risks the team sees for the next quarter. ";

pub fn prose(bytes: usize) -> String {
    PROSE.repeat(bytes / PROSE.len() + 1)[..bytes].to_owned()
}

/// A chat request of about `4 KiB`: system prompt, a few turns.
pub fn chat_4k() -> Vec<u8> {
    json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": prose(1200)},
            {"role": "user", "content": prose(900)},
            {"role": "assistant", "content": prose(900)},
            {"role": "user", "content": prose(900)}
        ]
    })
    .to_string()
    .into_bytes()
}

/// An agent transcript of about 64 KiB with 20 tool calls and their results.
pub fn transcript_64k() -> Vec<u8> {
    transcript_turn(u64::MAX)
}

/// The 64 KiB transcript as turn `turn` of an agent loop resends it: the same system prompt,
/// user message and first 19 tool calls and results, and a last tool result new to this turn
/// (`u64::MAX`: the plain transcript). With the scan cache on, only the new result is scanned.
pub fn transcript_turn(turn: u64) -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": prose(2000)}),
        json!({"role": "user", "content": prose(600)}),
    ];
    for i in 0..20 {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{i}"), "type": "function",
            "function": {"name": "search_docs", "arguments": json!({"query": format!("incident {i}")}).to_string()}
        }]}));
        let mut content = prose(2900);
        if i == 19 && turn != u64::MAX {
            content.replace_range(..24, &format!("turn {turn:>19}"));
        }
        messages
            .push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": content}));
    }
    json!({"model": "gpt-4o", "messages": messages})
        .to_string()
        .into_bytes()
}

/// A response proposing two tool calls.
pub fn tool_response() -> Vec<u8> {
    let call = |id: &str, name: &str, args: Value| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}});
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [
                call("c1", "http_request", json!({"method": "GET", "url": "https://api.example.com/v1/items?page=2"})),
                call("c2", "read_file", json!({"path": "/srv/app/config.yaml"}))
            ]}}]
    })
    .to_string()
    .into_bytes()
}

/// A short text answer, shaped like the demo upstream's (what `scripts/bench.sh`'s `chat_4k`
/// and `transcript_64k` requests get back).
pub fn text_response() -> Vec<u8> {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "demo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Here is a short answer about the report."},
            "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1017, "completion_tokens": 16, "total_tokens": 1033}
    })
    .to_string()
    .into_bytes()
}

/// A chat completion whose answer is `bytes` of prose (answer-text redaction scans all of it).
pub fn long_text_response(bytes: usize) -> Vec<u8> {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "demo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": prose(bytes)},
            "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1017, "completion_tokens": 1600, "total_tokens": 2617}
    })
    .to_string()
    .into_bytes()
}

pub fn headers() -> Vec<(String, String)> {
    [
        (":path", "/v1/chat/completions"),
        (":method", "POST"),
        ("x-llmfw-operator", "bench"),
        ("x-llmfw-session", "s1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

pub const CLOCK: Clock = Clock {
    now_ms: 1,
    context_id: 1,
};

pub fn request_path(config: &Arc<Config>, body: &[u8]) {
    let mut ex = Exchange::new(Arc::clone(config));
    ex.on_request_headers(&headers());
    let _ = black_box(ex.on_request_body(black_box(body), CLOCK));
}

pub fn response_path(config: &Arc<Config>, request: &[u8], response: &[u8]) {
    let mut ex = Exchange::new(Arc::clone(config));
    ex.on_request_headers(&headers());
    let _ = ex.on_request_body(request, CLOCK);
    let rh = [
        (":status".to_owned(), "200".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    if matches!(ex.on_response_headers(&rh), ResponseHeadersAction::Inspect) {
        let _ = black_box(ex.on_response_body(black_box(response), CLOCK));
    }
}

/// A streamed chat completion of about 8 KiB: 20 text deltas, then two tool calls with their
/// arguments in fragments, the finish chunk and `[DONE]` (split into 40 chunks by the caller).
pub fn streamed_tool_calls() -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        format!("data: {v}\n\n")
    };
    let mut stream = String::new();
    let text = prose(3000);
    for part in text.as_bytes().chunks(150) {
        let part = String::from_utf8_lossy(part);
        stream += &chunk(json!({"content": part}), Value::Null);
    }
    let calls = [
        (
            "call_1",
            "http_request",
            json!({"method": "GET", "url": "https://api.example.com/v1/items?page=2", "headers": {"accept": "application/json"}}),
        ),
        (
            "call_2",
            "read_file",
            json!({"path": "/srv/app/config.yaml", "encoding": "utf-8", "max_bytes": 65536}),
        ),
    ];
    for (i, (id, name, args)) in calls.iter().enumerate() {
        stream += &chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        );
        let args = args.to_string();
        for part in args.as_bytes().chunks(12) {
            let part = String::from_utf8_lossy(part);
            stream += &chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                Value::Null,
            );
        }
    }
    stream += &chunk(json!({}), json!("tool_calls"));
    stream += "data: [DONE]\n\n";
    stream.into_bytes()
}

/// The stream filter alone: feed every chunk, assemble the calls, release the held part.
pub fn stream_path(chunks: &[&[u8]]) {
    use llmfw_core::wire::stream::StreamFilter;
    use llmfw_core::wire::Format;
    let mut f = StreamFilter::new(Format::OpenAiChat, 256 * 1024);
    let mut out = 0;
    for c in chunks {
        out += f.feed(black_box(c)).map_or(0, |o| o.len());
    }
    let calls = f.finish();
    black_box((out, calls, f.release()));
}
