//! OpenAI Responses streams.

use serde_json::{json, Value};

use super::*;

pub(super) fn responses_stream(terminal: bool) -> (String, String) {
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
pub(super) fn responses_accumulate(
    bytes: &[u8],
) -> (String, Vec<(String, String, Value)>, Vec<String>) {
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
