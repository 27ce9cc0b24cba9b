//! Entry points shared by the cargo-fuzz targets (`filter/fuzz`) and by the test that replays
//! every input they ever crashed on (`filter/core/tests/fuzz_regressions.rs`). Each must return
//! without panicking for any input; that is the whole property.

use std::sync::{Arc, OnceLock};

use crate::config::Config;
use crate::flow::{
    CalloutReply, Clock, Exchange, RequestDecision, ResponseDecision, ResponseHeadersAction,
};
use crate::wire::{self, Format, Removal};

/// Parses and validates arbitrary bytes as a plugin config.
pub fn plugin_config(data: &[u8]) {
    let _ = Config::from_json(data);
}

const EXCHANGE_CONFIG: &[u8] = br#"{
  "state_service": {"cluster": "llmfw_state", "timeout_ms": 100, "failure_mode": "closed"},
  "tools": {"deny": ["delete_*", "*_shell"]}
}"#;

/// One whole exchange on the default route. `data` is split at `0xFF` bytes into the request body,
/// the response body and the state service's reply (absent = the callout failed).
pub fn exchange(data: &[u8]) {
    // Compiled once, as the filter does in on_configure (rule compilation is not per request).
    static CONFIG: OnceLock<Option<Arc<Config>>> = OnceLock::new();
    let Some(config) = CONFIG.get_or_init(|| Config::from_json(EXCHANGE_CONFIG).ok().map(Arc::new))
    else {
        return;
    };
    let mut parts = data.splitn(3, |b| *b == 0xFF);
    let request = parts.next().unwrap_or_default();
    let response = parts.next().unwrap_or_default();
    let reply = parts.next();

    let mut ex = Exchange::new(Arc::clone(config));
    let header = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    ex.on_request_headers(&[
        header(":path", "/v1/chat/completions"),
        header(":method", "POST"),
        header("x-llmfw-operator", "fuzz"),
    ]);
    let clock = Clock {
        now_ms: 1,
        context_id: 1,
    };
    let _ = ex.request_body_progress(request.len(), true);
    if matches!(
        ex.on_request_body(request, clock),
        RequestDecision::Reply(_) | RequestDecision::Decided(_) | RequestDecision::Callout(_)
    ) {
        return;
    }
    let response_headers = [
        header(":status", "200"),
        header("content-type", "application/json"),
    ];
    if !matches!(
        ex.on_response_headers(&response_headers),
        ResponseHeadersAction::Inspect
    ) {
        return;
    }
    let _ = ex.response_body_progress(response.len(), true);
    if let ResponseDecision::Callout(_) = ex.on_response_body(response, clock) {
        let _ = ex.on_callout_reply(reply.map_or(CalloutReply::Failed, CalloutReply::Ok));
    }
}

/// Arbitrary bytes as a body of every wire format: the view, the calls and the response texts are
/// extracted, every call is removed, every text pointer redacted, and (MCP) a refusal reply built.
pub fn wire_formats(data: &[u8]) {
    for format in [
        Format::OpenAiChat,
        Format::OpenAiResponses,
        Format::Anthropic,
        Format::Mcp,
    ] {
        let Ok(body) = wire::parse_body(format, data) else {
            continue;
        };
        let view = format.request_view(&body);
        let texts = format.response_texts(&body);
        let removals: Vec<Removal> = format
            .proposed_calls(&body)
            .iter()
            .map(|c| Removal {
                choice: c.choice,
                index: c.index,
                refusal: format!("{} was blocked", c.name),
            })
            .collect();
        let mut edited = body.clone();
        format.remove_calls(&mut edited, &removals);
        let _ = format.proposed_calls(&edited);
        for t in view.texts.iter().chain(texts.iter()) {
            let _ = format.redact(&mut edited, &t.pointer, "[llmfw: removed]");
        }
        let _ = edited.to_string();
        let _ = format.error_body("blocked", "llmfw_blocked");
        if format == Format::Mcp {
            let refusals: Vec<(usize, String)> = view
                .calls
                .iter()
                .map(|c| (c.choice, format!("{} was refused", c.name)))
                .collect();
            let _ = wire::mcp::refusal_reply(&body, &refusals);
        }
    }
}

/// Chunks of a fuzz input: split at `0xFF` bytes (never valid in UTF-8 text, so the content
/// itself rarely needs one).
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == 0xFF)
}

/// The SSE framer over the chunks of `data`; true when the raw bytes of the events equal the
/// input (always, unless an event hit the cap). The cargo-fuzz target asserts it.
pub fn sse_framer_round_trip(data: &[u8]) -> bool {
    let mut framer = crate::wire::sse::Framer::new(512);
    let mut raw = Vec::new();
    for chunk in chunks(data) {
        match framer.feed(chunk) {
            Ok(events) => raw.extend(events.into_iter().flat_map(|e| e.raw)),
            Err(_) => return true,
        }
    }
    raw.extend(framer.finish().into_iter().flat_map(|e| e.raw));
    raw == chunks(data).flatten().copied().collect::<Vec<u8>>()
}

/// [`sse_framer_round_trip`] as a fuzz entry point.
pub fn sse_framer(data: &[u8]) {
    let _ = sse_framer_round_trip(data);
}

/// The stream filter of every format over the chunks of `data`: feed, finish, then release
/// (checked: what passed plus what was released equals the input, unless the cap was hit) and
/// a rewrite removing every call, and an error event. The cargo-fuzz target asserts the result.
pub fn sse_stream_round_trip(data: &[u8]) -> bool {
    use crate::wire::stream::{error_event, StreamFilter};
    use crate::wire::{Format, Removal};
    let input: Vec<u8> = chunks(data).flatten().copied().collect();
    let mut ok = true;
    for format in [
        Format::OpenAiChat,
        Format::OpenAiResponses,
        Format::Anthropic,
        Format::Mcp,
    ] {
        let mut filter = StreamFilter::new(format, 16 * 1024);
        let mut passed = Vec::new();
        let mut failed = false;
        for chunk in chunks(data) {
            match filter.feed(chunk) {
                Ok(out) => passed.extend(out),
                Err(_) => {
                    let _ = filter.error_event("stopped", "llmfw_stream_too_large");
                    let _ = error_event(format, "stopped", "llmfw_stream_too_large");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            continue;
        }
        let calls = filter.finish();
        let mut copy = filter.clone();
        passed.extend(copy.release());
        ok &= passed == input;
        let removals: Vec<Removal> = calls
            .iter()
            .map(|c| Removal {
                choice: c.choice,
                index: c.index,
                refusal: "blocked".to_owned(),
            })
            .collect();
        let _ = filter.rewrite(&removals);
    }
    ok
}

/// [`sse_stream_round_trip`] as a fuzz entry point.
pub fn sse_stream(data: &[u8]) {
    let _ = sse_stream_round_trip(data);
}

/// The sanitiser and every span decoder on `data` as (lossy) UTF-8.
pub fn sanitize_decode(data: &[u8]) {
    use crate::sanitize::{self, decode};
    let text = String::from_utf8_lossy(data);
    let _ = sanitize::sanitize(&text, sanitize::Limits::default());
    let _ = sanitize::normalize(&text);
    let _ = decode::decode_once(&text);
    let _ = (
        decode::base64(&text),
        decode::base32(&text),
        decode::hex(&text),
    );
    let _ = (
        decode::percent(&text),
        decode::html(&text),
        decode::escapes(&text),
    );
    let _ = decode::rot13_candidate(&text);
}

const MCP_CONFIG: &[u8] = br#"{
  "routes": [{"path_prefix": "/mcp", "format": "mcp"}],
  "tools": {"deny": ["delete_*"]},
  "max_body_bytes": 65536
}"#;

/// One MCP exchange: `data` split at `0xFF` into the request body, then response chunks. The
/// first byte of the response part picks the answer's shape: even = a JSON body (buffered), odd
/// = an SSE stream fed chunk by chunk (the per-event judge). Run with a time limit
/// (`scripts/fuzz.sh` passes `-timeout`), so input that is slow to judge is a finding too.
pub fn mcp_exchange(data: &[u8]) {
    static CONFIG: OnceLock<Option<Arc<Config>>> = OnceLock::new();
    let Some(config) = CONFIG.get_or_init(|| Config::from_json(MCP_CONFIG).ok().map(Arc::new))
    else {
        return;
    };
    let mut parts = chunks(data);
    let request = parts.next().unwrap_or_default();
    let rest: Vec<&[u8]> = parts.collect();
    let mut ex = Exchange::new(Arc::clone(config));
    let header = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    ex.on_request_headers(&[header(":path", "/mcp"), header(":method", "POST")]);
    let clock = Clock {
        now_ms: 1,
        context_id: 1,
    };
    if matches!(
        ex.on_request_body(request, clock),
        RequestDecision::Reply(_) | RequestDecision::Decided(_) | RequestDecision::Callout(_)
    ) {
        return;
    }
    let sse = rest
        .first()
        .and_then(|c| c.first())
        .is_some_and(|b| b % 2 == 1);
    let ct = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    match ex.on_response_headers(&[header(":status", "200"), header("content-type", ct)]) {
        ResponseHeadersAction::Stream => {
            let n = rest.len();
            for (i, chunk) in rest.into_iter().enumerate() {
                let _ = ex.on_response_chunk(chunk, i + 1 == n, clock);
            }
            let _ = ex.on_response_chunk(&[], true, clock);
        }
        ResponseHeadersAction::Inspect => {
            let body: Vec<u8> = rest.concat();
            let _ = ex.response_body_progress(body.len(), true);
            let _ = ex.on_response_body(&body, clock);
        }
        _ => {}
    }
}

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// The fuzz targets by name, for the regression test.
pub const TARGETS: &[(&str, Entry)] = &[
    ("plugin_config", plugin_config),
    ("exchange", exchange),
    ("wire_formats", wire_formats),
    ("sse_framer", sse_framer),
    ("sse_stream", sse_stream),
    ("sanitize_decode", sanitize_decode),
    ("mcp_exchange", mcp_exchange),
];
