//! A fixed amount of work on the benches' inputs, for instruction-count profiling under load:
//! `valgrind --tool=callgrind --toggle-collect='*profile_exchange::measured*' \
//!   target/release/examples/profile_exchange chat_4k 10`
//! (counts are repeatable where wall-clock time on shared cores is not); two warm-up runs (lazy
//! DFA caches are built on first use, once per VM) are not counted. Workloads: `chat_4k`,
//! `transcript_64k`, `transcript_64k_resent_cached`, `response`, `stream`, and what
//! `scripts/bench.sh` sends through Envoy (default scan cache, request and text answer):
//! `bench_chat_4k` (the same body every time), `bench_transcript_64k` (a new last result) and
//! `bench_tool_call` (a short request, an answer with two tool calls to the encoded callout);
//! `answer_8k` / `answer_8k_off`: an 8 KiB text answer with answer-text redaction on / off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use llmfw_core::config::Config;

#[path = "../benches/bodies.rs"]
mod bodies;
use bodies::*;

const TOOL_REQUEST: &[u8] =
    br#"{"model":"demo","messages":[{"role":"user","content":"What is the weather in Paris?"}]}"#;

#[inline(never)]
fn measured(work: &dyn Fn(), iterations: usize) {
    for _ in 0..iterations {
        work();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "chat_4k".to_owned());
    let iterations: usize = args.next().map_or(10, |s| s.parse().unwrap());
    let config = Arc::new(Config::from_json(CONFIG).unwrap());
    let cached = Arc::new(Config::from_json(CONFIG_CACHED).unwrap());
    let reply_off = Arc::new(Config::from_json(CONFIG_REPLY_OFF).unwrap());
    let answer_8k = long_text_response(8 * 1024);
    let turn = std::cell::Cell::new(0u64);
    let small = chat_4k();
    let large = transcript_64k();
    let response = tool_response();
    let answer = text_response();
    let stream = streamed_tool_calls();
    let chunks: Vec<&[u8]> = stream.chunks(stream.len().div_ceil(40)).collect();
    let work: Box<dyn Fn()> = match which.as_str() {
        "chat_4k" => Box::new(|| request_path(&config, &small)),
        "transcript_64k" => Box::new(|| request_path(&config, &large)),
        "response" => Box::new(|| response_path(&config, &small, &response)),
        "stream" => Box::new(|| stream_path(&chunks)),
        // An 8 KiB text answer, redacted in place (`detect.response_text`) and with it off.
        "answer_8k" => Box::new(|| response_path(&config, TOOL_REQUEST, &answer_8k)),
        "answer_8k_off" => Box::new(|| response_path(&reply_off, TOOL_REQUEST, &answer_8k)),
        // Building the body is inside the count here (the criterion bench leaves it out).
        "transcript_64k_resent_cached" => Box::new(|| {
            turn.set(turn.get() + 1);
            request_path(&cached, &transcript_turn(turn.get()));
        }),
        "bench_chat_4k" => Box::new(|| response_path(&cached, &small, &answer)),
        // A short request whose answer proposes tool calls: the `tool_call` workload's shape.
        "bench_tool_call" => Box::new(|| response_path(&cached, TOOL_REQUEST, &response)),
        "bench_transcript_64k" => Box::new(|| {
            turn.set(turn.get() + 1);
            response_path(&cached, &transcript_turn(turn.get()), &answer);
        }),
        other => panic!("unknown workload {other}"),
    };
    // Warm up outside the measured part: regex caches are built on first use, once per VM.
    work();
    work();
    measured(&*work, iterations);
}
