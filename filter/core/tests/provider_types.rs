//! Every item, block, part, role, event and content type of the four wire formats' current
//! public schemas is inspected or refused: none passes silently.
//!
//! `tests/data/provider_types.json` is generated from the official SDKs' type definitions by
//! `scripts/gen-provider-types.py` (the SDK versions are recorded in it). For each type at each
//! position this test asserts that the filter knows it (`wire::kinds`) and then drives a probe
//! value of that type through the real parsing path: a type read as text or data must bring its
//! probe string to the detectors, a call type must become a judged call, no known type may be
//! taken for an unknown one (and none that is no call may become one). A type the SDKs add later fails
//! the first assertion until the filter handles it; a made-up type is shown to be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use llmfw_core::wire::kinds::{self, Handling, Position};
use llmfw_core::wire::stream::StreamFilter;
use llmfw_core::wire::Format;
use serde_json::{json, Value};

const PROBE: &str = "zz-probe-text";
const DATA: &str = include_str!("data/provider_types.json");

fn positions() -> BTreeMap<String, Vec<String>> {
    let doc: Value = serde_json::from_str(DATA).unwrap();
    serde_json::from_value(doc["positions"].clone()).unwrap()
}

/// Fields a type of any position may carry its text in; `part` is the type of its content parts.
fn probe_fields(ty: &str, part: &str) -> Value {
    json!({"type": ty, "id": "x1", "call_id": "c1", "tool_use_id": "t1", "name": "probe_tool",
        "text": PROBE, "thinking": PROBE, "output": PROBE, "result": PROBE, "title": PROBE,
        "content": [{"type": part, "text": PROBE}],
        "summary": [{"type": "summary_text", "text": PROBE}],
        "source": {"type": "text", "media_type": "text/plain", "data": PROBE},
        "arguments": "{}", "input": {}, "tools": [{"name": "t", "description": PROBE}]})
}

fn has_probe(texts: &[llmfw_core::wire::Text]) -> bool {
    texts.iter().any(|t| t.text.contains(PROBE))
}

/// Drives one type through the request parser; returns (probe read, unknown).
fn request_probe(position: Position, ty: &str) -> (bool, bool) {
    let (format, body) = match position {
        Position::ChatRequestRole => (
            Format::OpenAiChat,
            json!({"messages": [{"role": ty, "content": PROBE}]}),
        ),
        Position::ChatRequestContentPart => (
            Format::OpenAiChat,
            json!({"messages": [{"role": "user", "content": [{"type": ty, "text": PROBE, "refusal": PROBE}]}]}),
        ),
        Position::ChatRequestToolCall => (
            Format::OpenAiChat,
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c1", "type": ty,
                ty: {"name": "probe_tool", "arguments": "{}", "input": ""}}]},
                {"role": "tool", "tool_call_id": "c1", "content": PROBE}]}),
        ),
        Position::ResponsesRequestInputItem => (
            Format::OpenAiResponses,
            json!({"input": [probe_fields(ty, "input_text")]}),
        ),
        Position::ResponsesRequestContentPart => (
            Format::OpenAiResponses,
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": ty, "text": PROBE}]}]}),
        ),
        Position::ResponsesRequestToolOutputPart => (
            Format::OpenAiResponses,
            json!({"input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": ty, "text": PROBE}]}]}),
        ),
        Position::AnthropicRequestBlock => (
            Format::Anthropic,
            json!({"messages": [{"role": "user", "content": [probe_fields(ty, "text")]}]}),
        ),
        Position::AnthropicRequestToolResultBlock => (
            Format::Anthropic,
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                "content": [probe_fields(ty, "text")]}]}]}),
        ),
        Position::AnthropicRequestSystemBlock => (
            Format::Anthropic,
            json!({"system": [{"type": ty, "text": PROBE}], "messages": []}),
        ),
        other => panic!("{} is not a request position", other.name()),
    };
    let view = format.request_view(&body);
    (has_probe(&view.texts), !view.unknown.is_empty())
}

/// Drives one type through the response parser; returns (calls, unknown).
fn response_probe(position: Position, ty: &str) -> (usize, bool) {
    let (format, body) = match position {
        Position::ChatResponseToolCall => (
            Format::OpenAiChat,
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [{"id": "c", "type": ty,
                ty: {"name": "probe_tool", "arguments": "{}", "input": PROBE}}]}}]}),
        ),
        Position::ResponsesResponseOutputItem => (
            Format::OpenAiResponses,
            json!({"output": [probe_fields(ty, "output_text")]}),
        ),
        Position::ResponsesResponseContentPart => (
            Format::OpenAiResponses,
            json!({"output": [{"type": "message", "role": "assistant", "content": [{"type": ty, "text": PROBE}]}]}),
        ),
        Position::AnthropicResponseBlock => (
            Format::Anthropic,
            json!({"content": [probe_fields(ty, "text")]}),
        ),
        other => panic!("{} is not a response position", other.name()),
    };
    let view = format.response_view(&body);
    (view.calls.len(), !view.unknown.is_empty())
}

/// Feeds one event of this type through a stream filter with the default policy (refuse):
/// true when it was refused as unknown.
fn stream_refuses(position: Position, ty: &str) -> bool {
    let (format, event) = match position {
        Position::ChatStreamToolCall => (
            Format::OpenAiChat,
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "type": ty}]}}]}),
        ),
        Position::ResponsesStreamEvent => (
            Format::OpenAiResponses,
            json!({"type": ty, "output_index": 0, "item": {"type": "message", "id": "m", "content": []}}),
        ),
        Position::AnthropicStreamEvent => (
            Format::Anthropic,
            json!({"type": ty, "index": 0, "content_block": {"type": "text", "text": ""},
                "delta": {"type": "text_delta", "text": ""}, "message": {"content": []}}),
        ),
        Position::AnthropicStreamDelta => (
            Format::Anthropic,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": ty}}),
        ),
        Position::AnthropicStreamBlock => (
            Format::Anthropic,
            json!({"type": "content_block_start", "index": 0, "content_block": probe_fields(ty, "text")}),
        ),
        other => panic!("{} is not a stream position", other.name()),
    };
    let mut f = StreamFilter::new(format, 64 * 1024);
    let bytes = format!("data: {event}\n\n");
    match f.feed(bytes.as_bytes()) {
        Ok(_) => {
            f.finish();
            f.error().is_some()
        }
        Err(e) => matches!(e, llmfw_core::wire::stream::StreamError::UnknownType { .. }),
    }
}

fn check(position: Position, ty: &str) -> Result<(), String> {
    let handling = kinds::handling(position, ty);
    let Some(h) = handling else {
        return Err(format!(
            "{} `{ty}` is not known to the filter",
            position.name()
        ));
    };
    let fail = |what: &str| {
        Err(format!(
            "{} `{ty}` ({}): {what}",
            position.name(),
            h.as_str()
        ))
    };
    match position {
        Position::ChatResponseMessageField | Position::ChatStreamDeltaField => Ok(()),
        Position::ChatStreamToolCall
        | Position::ResponsesStreamEvent
        | Position::AnthropicStreamEvent
        | Position::AnthropicStreamDelta
        | Position::AnthropicStreamBlock => {
            if stream_refuses(position, ty) {
                fail("a known stream type was refused as unknown")
            } else {
                Ok(())
            }
        }
        Position::ChatResponseToolCall
        | Position::ResponsesResponseOutputItem
        | Position::ResponsesResponseContentPart
        | Position::AnthropicResponseBlock => {
            let (calls, unknown) = response_probe(position, ty);
            match h {
                _ if unknown => fail("taken for an unknown type"),
                Handling::Call if calls == 0 => fail("a call type did not become a judged call"),
                Handling::Call => Ok(()),
                _ if calls > 0 => fail("a type that is no call became one"),
                _ => Ok(()),
            }
        }
        _ => {
            let (read, unknown) = request_probe(position, ty);
            match h {
                _ if unknown => fail("taken for an unknown type"),
                Handling::Text | Handling::Data | Handling::Definitions if !read => {
                    fail("its text never reached the detectors")
                }
                _ => Ok(()),
            }
        }
    }
}

#[test]
fn every_sdk_type_of_the_llm_formats_is_inspected_or_refused() {
    let doc: Value = serde_json::from_str(DATA).unwrap();
    println!("provider types from {}", doc["sdk_versions"]);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, types) in positions() {
        if name.starts_with("mcp.") {
            continue;
        }
        let position = Position::from_name(&name).unwrap_or_else(|| {
            panic!("position {name} of the generated list is unknown to wire::kinds")
        });
        for ty in &types {
            checked += 1;
            if let Err(e) = check(position, ty) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} types:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} types checked");
}

#[test]
fn a_type_no_sdk_lists_is_refused_at_every_position() {
    for &position in Position::ALL {
        let ty = "zz_future_type";
        assert_eq!(kinds::handling(position, ty), None);
        let refused = match position {
            Position::ChatResponseMessageField | Position::ChatStreamDeltaField => continue,
            Position::ChatStreamToolCall
            | Position::ResponsesStreamEvent
            | Position::AnthropicStreamEvent
            | Position::AnthropicStreamDelta
            | Position::AnthropicStreamBlock => stream_refuses(position, ty),
            Position::ChatResponseToolCall
            | Position::ResponsesResponseOutputItem
            | Position::ResponsesResponseContentPart
            | Position::AnthropicResponseBlock => response_probe(position, ty).1,
            _ => request_probe(position, ty).1,
        };
        assert!(
            refused,
            "{}: a made-up type was not refused",
            position.name()
        );
    }
}

#[test]
fn every_mcp_content_and_server_message_type_is_read() {
    let list = positions();
    for ty in &list["mcp.content_block"] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [
            {"type": ty, "text": PROBE, "uri": "file:///x", "name": PROBE, "mimeType": "text/plain",
             "resource": {"uri": "file:///x", "mimeType": "text/plain", "text": PROBE}}]}});
        assert!(
            has_probe(&Format::Mcp.response_texts(&body)),
            "mcp content `{ty}` not read"
        );
    }
    for method in &list["mcp.server_message"] {
        let body =
            json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": {"message": PROBE}});
        assert!(
            has_probe(&Format::Mcp.response_texts(&body)),
            "mcp message `{method}` not read"
        );
    }
}

#[test]
fn the_threat_model_coverage_table_names_every_type() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/threat-model.md"
    ))
    .unwrap();
    let section = doc
        .split("## LLM format coverage")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/threat-model.md has no \"LLM format coverage\" section");
    let mut missing = Vec::new();
    for &position in Position::ALL {
        let row = format!("| `{}` |", position.name());
        let rows: Vec<&str> = section.lines().filter(|l| l.starts_with(&row)).collect();
        for (ty, _) in kinds::known(position) {
            if !rows.iter().any(|r| r.contains(&format!("`{ty}`"))) {
                missing.push(format!("{} `{ty}`", position.name()));
            }
        }
    }
    assert!(missing.is_empty(), "not in the table: {missing:?}");
}
