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

// ---------- OpenAI Chat ----------

fn chat_chunk(choice: Value) -> Value {
    json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "choices": [choice]})
}

fn chat_delta(delta: Value) -> Value {
    chat_chunk(json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}))
}

/// Text, then (optionally) two calls with arguments in 5-character fragments; CRLF line ends.
fn chat_stream(with_calls: bool, terminal: bool) -> (String, String) {
    let nl = "\r\n";
    let mut text = String::new();
    text += &sse_line(
        None,
        &chat_delta(json!({"role": "assistant", "content": "", "refusal": null})),
        nl,
    );
    for w in ["Let me ", "check ", "that."] {
        text += &sse_line(None, &chat_delta(json!({"content": w})), nl);
    }
    let mut rest = String::new();
    if with_calls {
        for (i, (id, name, args)) in [
            ("call_a", "get_weather", ARGS_A),
            ("call_b", "read_file", ARGS_B),
        ]
        .into_iter()
        .enumerate()
        {
            rest += &sse_line(
                None,
                &chat_delta(
                    json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
                ),
                nl,
            );
            for p in pieces(args, 5) {
                rest += &sse_line(
                    None,
                    &chat_delta(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                    ),
                    nl,
                );
            }
        }
    }
    if terminal {
        let reason = if with_calls { "tool_calls" } else { "stop" };
        rest += &sse_line(
            None,
            &chat_chunk(
                json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}),
            ),
            nl,
        );
        rest += &format!("data: [DONE]{nl}{nl}");
    }
    (text, rest)
}

fn events(bytes: &[u8]) -> Vec<crate::wire::sse::Event> {
    let mut f = Framer::new(CAP);
    let mut out = f.feed(bytes).unwrap();
    out.extend(f.finish());
    out
}

/// Feeds `bytes` in chunks of `n`; returns what passed.
fn feed_all(f: &mut StreamFilter, bytes: &[u8], n: usize) -> Vec<u8> {
    let mut passed = Vec::new();
    for c in bytes.chunks(n.max(1)) {
        passed.extend(f.feed(c).unwrap());
    }
    passed
}

/// Accumulates a chat stream like the SDKs do: (content, calls (id, name, args), finish reason).
fn chat_accumulate(bytes: &[u8]) -> (String, Vec<(String, String, Value)>, String) {
    let evs = events(bytes);
    let (last, body) = evs.split_last().unwrap();
    assert!(last.is_done(), "stream ends with [DONE]");
    let mut content = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut reason = String::new();
    for e in body {
        assert!(!e.is_done());
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(v["id"], "chatcmpl-9");
        assert_eq!(v["model"], "gpt-4o-2024-08-06");
        assert_eq!(v["object"], "chat.completion.chunk");
        for c in v["choices"].as_array().unwrap() {
            let d = &c["delta"];
            content += d["content"].as_str().unwrap_or("");
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"].as_u64().unwrap() as usize;
                assert!(i <= calls.len(), "tool_calls indices are contiguous");
                if i == calls.len() {
                    calls.push(Default::default());
                }
                let slot = &mut calls[i];
                slot.0 += tc["id"].as_str().unwrap_or("");
                slot.1 += tc["function"]["name"].as_str().unwrap_or("");
                slot.2 += tc["function"]["arguments"].as_str().unwrap_or("");
            }
            if let Some(r) = c["finish_reason"].as_str() {
                reason = r.to_owned();
            }
        }
    }
    let calls = calls
        .into_iter()
        .map(|(id, n, a)| (id, n, serde_json::from_str(&a).unwrap()))
        .collect();
    (content, calls, reason)
}

fn removal(index: usize, refusal: &str) -> Removal {
    Removal {
        choice: 0,
        index,
        refusal: refusal.to_owned(),
    }
}

#[test]
fn chat_text_only_passes_at_once() {
    let (text, rest) = chat_stream(false, true);
    let all = format!("{text}{rest}");
    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    let passed = feed_all(&mut f, all.as_bytes(), 7);
    assert!(!f.holding());
    assert_eq!(passed, all.as_bytes());
    assert!(f.finish().is_empty());
    assert!(f.release().is_empty());
}

#[test]
fn chat_calls_are_held_and_assembled() {
    let (text, rest) = chat_stream(true, true);
    let all = format!("{text}{rest}");
    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    let passed = feed_all(&mut f, all.as_bytes(), 11);
    assert!(f.holding());
    assert_eq!(
        passed,
        text.as_bytes(),
        "text streams before the first call"
    );
    let calls = f.finish();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].choice, calls[0].index), (0, 0));
    assert_eq!(calls[0].id, "call_a");
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(
        calls[0].arguments,
        Ok(json!({"city": "Paris", "unit": "celsius"}))
    );
    assert_eq!((calls[1].index, calls[1].name.as_str()), (1, "read_file"));
    assert!(!calls[1].duplicate_keys);
    assert_eq!(f.release(), rest.as_bytes());
}

#[test]
fn chat_rewrite_removes_one_call() {
    let (text, rest) = chat_stream(true, true);
    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    let mut out = feed_all(&mut f, format!("{text}{rest}").as_bytes(), 13);
    f.finish();
    out.extend(f.rewrite(&[removal(0, "Blocked: get_weather.")]));
    let (content, calls, reason) = chat_accumulate(&out);
    assert_eq!(content, "Let me check that.\n\nBlocked: get_weather.");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "call_b");
    assert_eq!(calls[0].1, "read_file");
    assert_eq!(calls[0].2, json!({"path": "/srv/app/config.yaml"}));
    assert_eq!(reason, "tool_calls");
}

#[test]
fn chat_rewrite_removes_all_and_ends_without_terminal() {
    for terminal in [true, false] {
        let (text, rest) = chat_stream(true, terminal);
        let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
        let mut out = feed_all(&mut f, format!("{text}{rest}").as_bytes(), 3);
        assert_eq!(f.finish().len(), 2);
        out.extend(f.rewrite(&[removal(0, "No."), removal(1, "Not that either.")]));
        let (content, calls, reason) = chat_accumulate(&out);
        assert_eq!(content, "Let me check that.\n\nNo.\nNot that either.");
        assert!(calls.is_empty());
        assert_eq!(reason, "stop");
    }
}

#[test]
fn chat_legacy_function_call_and_cap() {
    let nl = "\n";
    let mut s = sse_line(
        None,
        &chat_delta(
            json!({"role": "assistant", "function_call": {"name": "run", "arguments": ""}}),
        ),
        nl,
    );
    s += &sse_line(
        None,
        &chat_delta(json!({"function_call": {"arguments": "{\"a\":1,\"a\":2}"}})),
        nl,
    );
    let mut f = StreamFilter::new(Format::OpenAiChat, CAP);
    assert!(feed_all(&mut f, s.as_bytes(), 5).is_empty());
    let calls = f.finish();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].duplicate_keys);
    let (_, calls, reason) = chat_accumulate(&f.rewrite(&[]));
    assert!(
        calls.is_empty(),
        "legacy calls are re-emitted as function_call"
    );
    assert_eq!(reason, "function_call");

    let (text, rest) = chat_stream(true, true);
    let mut f = StreamFilter::new(Format::OpenAiChat, 600);
    let all = format!("{text}{rest}");
    let err = all
        .as_bytes()
        .chunks(64)
        .map(|c| f.feed(c))
        .find_map(Result::err);
    assert_eq!(err, Some(StreamError::TooLarge { cap: 600 }));
    assert!(f.feed(b"data: {}\n\n").is_err(), "the error is sticky");
}

// ---------- Anthropic ----------

fn anthropic_stream(terminal: bool) -> (String, String) {
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
fn anthropic_accumulate(bytes: &[u8]) -> (String, Vec<(String, String, Value)>, String) {
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

// ---------- OpenAI Responses ----------

fn responses_stream(terminal: bool) -> (String, String) {
    let nl = "\n";
    let mut seq = 0u64;
    let mut ev = |mut v: Value| {
        v["sequence_number"] = json!(seq);
        seq += 1;
        sse_line(v["type"].as_str(), &v, nl)
    };
    let resp = |status: &str, output: Value| {
        json!({"id": "resp_1", "object": "response",
        "created_at": 1700000000, "status": status, "model": "gpt-4.1", "output": output})
    };
    let msg = json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "text": "Let me check."}]});
    let mut text =
        ev(json!({"type": "response.created", "response": resp("in_progress", json!([]))}));
    text +=
        &ev(json!({"type": "response.in_progress", "response": resp("in_progress", json!([]))}));
    text += &ev(
        json!({"type": "response.output_item.added", "output_index": 0,
        "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
    );
    text += &ev(
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "part": {"type": "output_text", "annotations": [], "text": ""}}),
    );
    for w in ["Let me ", "check."] {
        text += &ev(
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
            "content_index": 0, "delta": w}),
        );
    }
    text += &ev(
        json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "text": "Let me check."}),
    );
    text += &ev(
        json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "part": msg["content"][0]}),
    );
    text += &ev(json!({"type": "response.output_item.done", "output_index": 0, "item": msg}));
    let mut rest = String::new();
    let mut output = vec![msg.clone()];
    for (i, (id, name, args)) in [
        ("call_a", "get_weather", ARGS_A),
        ("call_b", "read_file", ARGS_B),
    ]
    .into_iter()
    .enumerate()
    {
        let oi = i + 1;
        let fc = format!("fc_{oi}");
        let item = json!({"id": fc, "type": "function_call", "status": "in_progress", "arguments": "",
            "call_id": id, "name": name});
        rest +=
            &ev(json!({"type": "response.output_item.added", "output_index": oi, "item": item}));
        for p in pieces(args, 6) {
            rest += &ev(
                json!({"type": "response.function_call_arguments.delta", "item_id": fc,
                "output_index": oi, "delta": p}),
            );
        }
        rest += &ev(
            json!({"type": "response.function_call_arguments.done", "item_id": fc,
            "output_index": oi, "arguments": args}),
        );
        let mut done = item.clone();
        done["arguments"] = json!(args);
        done["status"] = json!("completed");
        rest += &ev(json!({"type": "response.output_item.done", "output_index": oi, "item": done}));
        output.push(done);
    }
    if terminal {
        rest += &ev(
            json!({"type": "response.completed", "response": resp("completed", json!(output))}),
        );
    }
    (text, rest)
}

/// Accumulates like the OpenAI SDK's response stream: (texts, calls (call_id, name, args), final
/// output item types).
fn responses_accumulate(bytes: &[u8]) -> (String, Vec<(String, String, Value)>, Vec<String>) {
    let evs = events(bytes);
    let mut output: Vec<Value> = Vec::new();
    let mut last_seq: Option<u64> = None;
    let mut completed = None;
    for e in &evs {
        assert!(completed.is_none(), "nothing after response.completed");
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.event.as_deref(), v["type"].as_str());
        let seq = v["sequence_number"].as_u64().unwrap();
        assert_eq!(
            seq,
            last_seq.map_or(0, |n| n + 1),
            "sequence numbers continue"
        );
        last_seq = Some(seq);
        let oi = v["output_index"].as_u64().map(|i| i as usize);
        match v["type"].as_str().unwrap() {
            "response.output_item.added" => {
                assert_eq!(oi, Some(output.len()));
                output.push(v["item"].clone());
            }
            "response.content_part.added" => {
                output[oi.unwrap()]["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(v["part"].clone());
            }
            "response.output_text.delta" => {
                let ci = v["content_index"].as_u64().unwrap() as usize;
                let t = &mut output[oi.unwrap()]["content"][ci]["text"];
                *t = json!(format!(
                    "{}{}",
                    t.as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                ));
            }
            "response.function_call_arguments.delta" => {
                let a = &mut output[oi.unwrap()]["arguments"];
                *a = json!(format!(
                    "{}{}",
                    a.as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                ));
            }
            "response.output_item.done" => {
                let i = oi.unwrap();
                assert_eq!(output[i]["id"], v["item"]["id"]);
                output[i] = v["item"].clone();
            }
            "response.completed" => completed = Some(v["response"].clone()),
            _ => assert!(oi.is_none_or(|i| i < output.len())),
        }
    }
    let completed = completed.expect("response.completed");
    assert_eq!(
        completed["output"],
        json!(output),
        "final output matches the events"
    );
    let mut text = String::new();
    let mut calls = Vec::new();
    for item in &output {
        match item["type"].as_str().unwrap() {
            "message" => text += item["content"][0]["text"].as_str().unwrap(),
            "function_call" => calls.push((
                item["call_id"].as_str().unwrap().to_owned(),
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
            )),
            _ => {}
        }
    }
    let kinds = output
        .iter()
        .map(|i| i["type"].as_str().unwrap().to_owned())
        .collect();
    (text, calls, kinds)
}

#[test]
fn responses_hold_assemble_release() {
    let (text, rest) = responses_stream(true);
    let mut f = StreamFilter::new(Format::OpenAiResponses, CAP);
    let passed = feed_all(&mut f, format!("{text}{rest}").as_bytes(), 21);
    assert_eq!(passed, text.as_bytes());
    let calls = f.finish();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].choice, calls[0].index, calls[0].id.as_str()),
        (0, 1, "call_a")
    );
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(
        calls[1].arguments,
        Ok(json!({"path": "/srv/app/config.yaml"}))
    );
    assert_eq!(f.release(), rest.as_bytes());
}

#[test]
fn responses_rewrite() {
    for terminal in [true, false] {
        let (text, rest) = responses_stream(terminal);
        let all = format!("{text}{rest}");
        let mut f = StreamFilter::new(Format::OpenAiResponses, CAP);
        let mut out = feed_all(&mut f, all.as_bytes(), 31);
        f.finish();
        out.extend(f.rewrite(&[removal(1, "Blocked: get_weather.")]));
        let (t, calls, kinds) = responses_accumulate(&out);
        assert_eq!(t, "Let me check.Blocked: get_weather.");
        assert_eq!(
            calls,
            vec![(
                "call_b".into(),
                "read_file".into(),
                json!({"path": "/srv/app/config.yaml"})
            )]
        );
        assert_eq!(kinds, ["message", "function_call", "message"]);

        let mut f = StreamFilter::new(Format::OpenAiResponses, CAP);
        let mut out = feed_all(&mut f, all.as_bytes(), 31);
        out.extend(f.rewrite(&[removal(1, "A."), removal(2, "B.")]));
        let (t, calls, kinds) = responses_accumulate(&out);
        assert_eq!(t, "Let me check.A.\nB.");
        assert!(calls.is_empty());
        assert_eq!(kinds, ["message", "message"]);
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
