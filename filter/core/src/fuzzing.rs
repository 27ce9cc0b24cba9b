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
        RequestDecision::Reply(_) | RequestDecision::Callout(_)
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

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// The fuzz targets by name, for the regression test.
pub const TARGETS: &[(&str, Entry)] = &[
    ("plugin_config", plugin_config),
    ("exchange", exchange),
    ("wire_formats", wire_formats),
];
