//! OpenAI Chat chunk streams.

use serde_json::{json, Value};

use super::*;

pub(super) fn chat_chunk(choice: Value) -> Value {
    json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "choices": [choice]})
}

pub(super) fn chat_delta(delta: Value) -> Value {
    chat_chunk(json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}))
}

/// Text, then (optionally) two calls with arguments in 5-character fragments; CRLF line ends.
pub(super) fn chat_stream(with_calls: bool, terminal: bool) -> (String, String) {
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

pub(super) fn chat_accumulate(bytes: &[u8]) -> (String, Vec<(String, String, Value)>, String) {
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
