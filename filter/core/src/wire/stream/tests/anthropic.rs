//! Anthropic Messages streams.

use serde_json::{json, Value};

use super::*;

pub(super) fn anthropic_stream(terminal: bool) -> (String, String) {
    let nl = "\r\n";
    let ev = |v: Value| sse_line(v["type"].as_str(), &v, nl);
    let mut text = ev(
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    text += &ev(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    text += &ev(json!({"type": "ping"}));
    for w in ["Let me ", "check."] {
        text += &ev(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
        );
    }
    text += &ev(json!({"type": "content_block_stop", "index": 0}));
    let mut rest = String::new();
    for (i, (id, name, args)) in [
        ("toolu_a", "get_weather", ARGS_A),
        ("toolu_b", "read_file", ARGS_B),
    ]
    .into_iter()
    .enumerate()
    {
        let i = i + 1;
        rest += &ev(json!({"type": "content_block_start", "index": i,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
        for p in pieces(args, 4) {
            rest += &ev(json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": p}}));
        }
        rest += &ev(json!({"type": "content_block_stop", "index": i}));
    }
    if terminal {
        rest += &ev(
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 42}}),
        );
        rest += &ev(json!({"type": "message_stop"}));
    }
    (text, rest)
}

/// Accumulates like the Anthropic SDK: (text, tool uses (id, name, input), stop reason).
pub(super) fn anthropic_accumulate(bytes: &[u8]) -> (String, Vec<(String, String, Value)>, String) {
    let evs = events(bytes);
    let mut blocks: Vec<(Value, String)> = Vec::new();
    let mut reason = String::new();
    let mut stopped = false;
    for e in &evs {
        assert!(!stopped, "nothing after message_stop");
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.event.as_deref(), v["type"].as_str());
        let idx = v["index"].as_u64().map(|i| i as usize);
        match v["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(idx, Some(blocks.len()), "blocks are appended in order");
                blocks.push((v["content_block"].clone(), String::new()));
            }
            "content_block_delta" => {
                let b = &mut blocks[idx.unwrap()];
                let d = &v["delta"];
                b.1 += d["text"].as_str().or(d["partial_json"].as_str()).unwrap();
            }
            "content_block_stop" => assert!(idx.unwrap() < blocks.len()),
            "message_delta" => {
                reason = v["delta"]["stop_reason"].as_str().unwrap().to_owned();
                assert!(v["usage"]["output_tokens"].is_u64());
            }
            "message_stop" => stopped = true,
            _ => {}
        }
    }
    assert!(stopped);
    let mut text = String::new();
    let mut calls = Vec::new();
    for (b, acc) in blocks {
        match b["type"].as_str().unwrap() {
            "text" => text += &acc,
            "tool_use" => calls.push((
                b["id"].as_str().unwrap().to_owned(),
                b["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(if acc.is_empty() { "{}" } else { &acc }).unwrap(),
            )),
            _ => {}
        }
    }
    (text, calls, reason)
}

#[test]
fn anthropic_hold_assemble_release() {
    let (text, rest) = anthropic_stream(true);
    let mut f = StreamFilter::new(Format::Anthropic, CAP);
    let passed = feed_all(&mut f, format!("{text}{rest}").as_bytes(), 9);
    assert_eq!(passed, text.as_bytes());
    let calls = f.finish();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].choice, calls[0].index, calls[0].id.as_str()),
        (0, 1, "toolu_a")
    );
    assert_eq!(
        calls[1].arguments,
        Ok(json!({"path": "/srv/app/config.yaml"}))
    );
    assert_eq!(f.release(), rest.as_bytes());

    let mut f = StreamFilter::new(Format::Anthropic, CAP);
    assert_eq!(feed_all(&mut f, text.as_bytes(), 9), text.as_bytes());
    assert!(!f.holding() && f.finish().is_empty());
}

#[test]
fn anthropic_rewrite() {
    for terminal in [true, false] {
        let (text, rest) = anthropic_stream(terminal);
        let all = format!("{text}{rest}");
        let mut f = StreamFilter::new(Format::Anthropic, CAP);
        let mut out = feed_all(&mut f, all.as_bytes(), 17);
        f.finish();
        out.extend(f.rewrite(&[removal(1, "Blocked: get_weather.")]));
        let (t, calls, reason) = anthropic_accumulate(&out);
        assert_eq!(t, "Let me check.Blocked: get_weather.");
        assert_eq!(
            calls,
            vec![(
                "toolu_b".into(),
                "read_file".into(),
                json!({"path": "/srv/app/config.yaml"})
            )]
        );
        assert_eq!(reason, "tool_use");

        let mut f = StreamFilter::new(Format::Anthropic, CAP);
        let mut out = feed_all(&mut f, all.as_bytes(), 17);
        out.extend(f.rewrite(&[removal(1, "A."), removal(2, "B.")]));
        let (t, calls, reason) = anthropic_accumulate(&out);
        assert_eq!(t, "Let me check.A.\nB.");
        assert!(calls.is_empty());
        assert_eq!(reason, "end_turn");
    }
}
