//! Hand-written streams of each format, checked the way the official SDKs consume them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::wire::sse::Framer;

const CAP: usize = 64 * 1024;

fn sse_line(name: Option<&str>, v: &Value, nl: &str) -> String {
    let mut s = String::new();
    if let Some(n) = name {
        s.push_str(&format!("event: {n}{nl}"));
    }
    s.push_str(&format!("data: {v}{nl}{nl}"));
    s
}

/// Splits a JSON string into pieces of `n` characters.
fn pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

const ARGS_A: &str = r#"{"city": "Paris", "unit": "celsius"}"#;
const ARGS_B: &str = r#"{"path": "/srv/app/config.yaml"}"#;

mod anthropic;
mod chat;
mod responses;

use anthropic::{anthropic_accumulate, anthropic_stream};
use chat::{chat_accumulate, chat_delta, chat_stream};
use responses::responses_stream;

pub(super) fn events(bytes: &[u8]) -> Vec<crate::wire::sse::Event> {
    let mut f = Framer::new(CAP);
    let mut out = f.feed(bytes).unwrap();
    out.extend(f.finish());
    out
}

/// Feeds `bytes` in chunks of `n`; returns what passed.
pub(super) fn feed_all(f: &mut StreamFilter, bytes: &[u8], n: usize) -> Vec<u8> {
    let mut passed = Vec::new();
    for c in bytes.chunks(n.max(1)) {
        passed.extend(f.feed(c).unwrap());
    }
    passed
}

/// Accumulates a chat stream like the SDKs do: (content, calls (id, name, args), finish reason).
pub(super) fn removal(index: usize, refusal: &str) -> Removal {
    Removal {
        choice: 0,
        index,
        refusal: refusal.to_owned(),
    }
}

// ---------- errors, MCP, leftovers ----------

#[test]
fn error_events_parse() {
    let e = error_event(Format::OpenAiChat, "stopped", "llmfw_stream_too_large");
    let evs = events(&e);
    let v: Value = serde_json::from_str(&evs[0].data).unwrap();
    assert_eq!(v["error"]["code"], "llmfw_stream_too_large");
    assert!(evs[1].is_done());
    let evs = events(&error_event(Format::OpenAiResponses, "stopped", "c"));
    assert_eq!(evs[0].event.as_deref(), Some("error"));
    let evs = events(&error_event(
        Format::Anthropic,
        "stopped",
        "llmfw_state_unavailable",
    ));
    let v: Value = serde_json::from_str(&evs[0].data).unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    let mut f = StreamFilter::new(Format::OpenAiResponses, CAP);
    let (text, _) = responses_stream(true);
    feed_all(&mut f, text.as_bytes(), 50);
    let v: Value = serde_json::from_str(&events(&f.error_event("x", "c"))[0].data).unwrap();
    assert_eq!(v["sequence_number"], 9);
}

#[test]
fn mcp_passes_through_and_leftover_is_kept() {
    let mut f = StreamFilter::new(Format::Mcp, 4);
    assert_eq!(
        f.feed(b"data: {\"jsonrpc\":\"2.0\"}").unwrap(),
        b"data: {\"jsonrpc\":\"2.0\"}"
    );
    assert!(f.finish().is_empty() && f.release().is_empty() && !f.holding());

    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    assert!(f.feed(b"data: {\"choices\":[]}").unwrap().is_empty());
    assert!(f.finish().is_empty());
    assert_eq!(f.rewrite(&[]), b"data: {\"choices\":[]}");
}

fn stream_of(format: Format) -> String {
    let (a, b) = match format {
        Format::OpenAiChat => chat_stream(true, true),
        Format::OpenAiResponses => responses_stream(true),
        _ => anthropic_stream(true),
    };
    // An unterminated last event exercises the framer's flush.
    let mut s = format!("{a}{b}");
    s.truncate(s.trim_end().len());
    s
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_bytes_and_calls(
        cuts in proptest::collection::vec(0usize..20_000, 0..24),
        which in 0usize..3,
    ) {
        let format = [Format::OpenAiChat, Format::OpenAiResponses, Format::Anthropic][which];
        let stream = stream_of(format);
        let bytes = stream.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut whole = StreamFilter::new(format, CAP);
        let mut expected = whole.feed(bytes).unwrap();
        let calls = whole.finish();
        expected.extend(whole.release());
        prop_assert_eq!(&expected, &bytes.to_vec());
        prop_assert_eq!(calls.len(), 2);

        let mut f = StreamFilter::new(format, CAP);
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            out.extend(f.feed(&bytes[prev..c]).unwrap());
            prev = c;
        }
        prop_assert_eq!(f.finish(), calls);
        out.extend(f.release());
        prop_assert_eq!(out, bytes.to_vec());
    }
}

#[test]
fn fuzz_seeds_round_trip_and_hold_calls() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz/sse_stream");
    let mut n = 0;
    for file in std::fs::read_dir(dir).unwrap().flatten() {
        let data = std::fs::read(file.path()).unwrap();
        assert!(
            crate::fuzzing::sse_stream_round_trip(&data),
            "{:?}",
            file.path()
        );
        assert!(crate::fuzzing::sse_framer_round_trip(&data));
        let name = file.file_name().to_string_lossy().into_owned();
        let format = match name.split('_').next() {
            Some("anthropic") => Format::Anthropic,
            _ if name.starts_with("openai_chat") => Format::OpenAiChat,
            _ => Format::OpenAiResponses,
        };
        let mut f = StreamFilter::new(format, CAP);
        for chunk in data.split(|b| *b == 0xFF) {
            f.feed(chunk).unwrap();
        }
        assert_eq!(f.finish().len(), 2, "{name}");
        n += 1;
    }
    assert!(n >= 6);
}

#[test]
fn held_text_after_a_call_is_kept_and_renumbered() {
    let ev = |v: Value| sse_line(v["type"].as_str(), &v, "\n");
    let mut s = ev(json!({"type": "message_start", "message": {"id": "m", "content": []}}));
    s += &ev(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "rm", "input": {}}}),
    );
    s += &ev(json!({"type": "content_block_stop", "index": 0}));
    s += &ev(
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    );
    s += &ev(
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Done."}}),
    );
    s += &ev(json!({"type": "content_block_stop", "index": 1}));
    let mut f = StreamFilter::new(Format::Anthropic, CAP);
    let mut out = feed_all(&mut f, s.as_bytes(), 8);
    let calls = f.finish();
    assert_eq!(calls[0].arguments, Ok(json!({})));
    out.extend(f.rewrite(&[removal(0, "No.")]));
    let (text, calls, reason) = anthropic_accumulate(&out);
    assert_eq!(
        (text.as_str(), calls.len(), reason.as_str()),
        ("Done.No.", 0, "end_turn")
    );

    // Chat: content after the call stays, in order, before the refusal.
    let (text, _) = chat_stream(false, false);
    let mut s = text;
    s += &sse_line(
        None,
        &chat_delta(
            json!({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "rm", "arguments": "{}"}}]}),
        ),
        "\n",
    );
    s += &sse_line(None, &chat_delta(json!({"content": " More."})), "\n");
    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    let mut out = feed_all(&mut f, s.as_bytes(), 8);
    out.extend(f.rewrite(&[removal(0, "No.")]));
    let (content, calls, reason) = chat_accumulate(&out);
    assert_eq!(content, "Let me check that. More.\n\nNo.");
    assert!(calls.is_empty());
    assert_eq!(reason, "stop");
}
