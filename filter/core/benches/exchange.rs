//! Criterion benches of the core on the hot paths: a 4 KB chat request, a 64 KB agent transcript
//! with 20 tool results (scan cache off: every text is new), the same transcript resent in an
//! agent loop with the scan cache on (only the newest tool result is new), a response
//! proposing tool calls (up to the encoded callout), and the SSE framer on 1 MiB of tiny events.
//! Results go to docs/performance.md (`make bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use llmfw_core::config::Config;

mod bodies;
use bodies::*;

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
    // The agent loop with the scan cache: the history was scanned on earlier turns, the last
    // tool result is new every iteration (built outside the measurement).
    let cached = Arc::new(Config::from_json(CONFIG_CACHED).unwrap());
    request_path(&cached, &transcript_turn(0));
    let mut turn = 0;
    g.bench_function("transcript_64k_resent_cached", |b| {
        b.iter_batched(
            || {
                turn += 1;
                transcript_turn(turn)
            },
            |body| request_path(&cached, &body),
            BatchSize::SmallInput,
        )
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
    let bytes = streamed_tool_calls();
    let chunks: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(40)).collect();

    let mut g = c.benchmark_group("response");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("streamed_response_tool_calls", |b| {
        b.iter(|| stream_path(&chunks))
    });
    g.finish();
}

/// The SSE framer on 1 MiB of tiny events (`data: x` + blank line, ~116 k events), fed as one
/// buffered body (an MCP answer read whole) and as 16 KiB chunks (a stream). Shows whether the
/// framer's work grows with the body (linear) or with body × events (quadratic).
fn sse_framer_tiny_events(c: &mut Criterion) {
    use llmfw_core::wire::sse::Framer;
    let bytes = b"data: x\n\n".repeat((1 << 20) / 9);
    let mut g = c.benchmark_group("sse_framer");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    for (name, size) in [
        ("tiny_events_1mib_one_chunk", bytes.len()),
        ("tiny_events_1mib_16k_chunks", 16 * 1024),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut f = Framer::new(2 << 20);
                let mut n = 0;
                for c in bytes.chunks(size) {
                    n += f.feed(std::hint::black_box(c)).map_or(0, |e| e.len());
                }
                std::hint::black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(
    core,
    benches,
    streamed_response_tool_calls,
    sse_framer_tiny_events
);
criterion_main!(core);
