//! Criterion benches of the core on the hot paths: a 4 KB chat request, a 64 KB agent transcript
//! with 20 tool results, and a response proposing tool calls (up to the encoded callout).
//! Results go to docs/performance.md (`make bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llmfw_core::config::Config;
use llmfw_core::flow::{Clock, Exchange, ResponseHeadersAction};
use serde_json::{json, Value};

const CONFIG: &[u8] = br#"{
  "state_service": {"cluster": "llmfw_state", "timeout_ms": 200, "failure_mode": "closed"},
  "tools": {"deny": ["delete_*", "*_shell"]}
}"#;

const PROSE: &str = "The quarterly report summarises revenue by region, the open incidents of the \
platform team and the migration plan for the billing database. Each section lists owners, \
deadlines and the risks the team sees for the next quarter. ";

fn prose(bytes: usize) -> String {
    PROSE.repeat(bytes / PROSE.len() + 1)[..bytes].to_owned()
}

/// A chat request of about `4 KiB`: system prompt, a few turns.
fn chat_4k() -> Vec<u8> {
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
fn transcript_64k() -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": prose(2000)}),
        json!({"role": "user", "content": prose(600)}),
    ];
    for i in 0..20 {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{i}"), "type": "function",
            "function": {"name": "search_docs", "arguments": json!({"query": format!("incident {i}")}).to_string()}
        }]}));
        messages.push(
            json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": prose(2900)}),
        );
    }
    json!({"model": "gpt-4o", "messages": messages})
        .to_string()
        .into_bytes()
}

/// A response proposing two tool calls.
fn tool_response() -> Vec<u8> {
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

fn headers() -> Vec<(String, String)> {
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

const CLOCK: Clock = Clock {
    now_ms: 1,
    context_id: 1,
};

fn request_path(config: &Arc<Config>, body: &[u8]) {
    let mut ex = Exchange::new(Arc::clone(config));
    ex.on_request_headers(&headers());
    let _ = black_box(ex.on_request_body(black_box(body), CLOCK));
}

fn response_path(config: &Arc<Config>, request: &[u8], response: &[u8]) {
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

fn benches(c: &mut Criterion) {
    let Ok(config) = Config::from_json(CONFIG) else {
        return;
    };
    let config = Arc::new(config);
    let small = chat_4k();
    let large = transcript_64k();
    let response = tool_response();

    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("chat_4k", |b| b.iter(|| request_path(&config, &small)));
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("transcript_64k_20_tool_results", |b| {
        b.iter(|| request_path(&config, &large))
    });
    g.finish();

    let mut g = c.benchmark_group("response");
    g.throughput(Throughput::Bytes(response.len() as u64));
    g.bench_function("two_tool_calls_to_callout", |b| {
        b.iter(|| response_path(&config, &small, &response))
    });
    g.finish();
}

/// A streamed chat completion of about 8 KiB in 40 upstream chunks: 20 text deltas, then two tool
/// calls with their arguments in fragments, the finish chunk and `[DONE]`. Measures the stream
/// filter alone: feed every chunk, assemble the calls, release the held part.
fn streamed_response_tool_calls(c: &mut Criterion) {
    use llmfw_core::wire::stream::StreamFilter;
    use llmfw_core::wire::Format;
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
    let bytes = stream.into_bytes();
    let chunks: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(40)).collect();

    let mut g = c.benchmark_group("response");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("streamed_response_tool_calls", |b| {
        b.iter(|| {
            let mut f = StreamFilter::new(Format::OpenAiChat, 256 * 1024);
            let mut out = 0;
            for c in &chunks {
                out += f.feed(black_box(c)).map_or(0, |o| o.len());
            }
            let calls = f.finish();
            black_box((out, calls, f.release()))
        })
    });
    g.finish();
}

criterion_group!(core, benches, streamed_response_tool_calls);
criterion_main!(core);
