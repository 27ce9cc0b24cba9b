//! `llmfw-demo-upstream`: a scripted stand-in for an OpenAI-compatible LLM API.
//!
//! It answers `POST /v1/chat/completions` the way a model that wants to call a tool would:
//! when the last user message is a JSON object `{"tool": NAME, "arguments": {...}}` (or
//! `{"tool_calls": [{"name": NAME, "arguments": {...}}, ...]}`), the reply proposes exactly
//! those tool calls; any other message gets a short text answer. `make run` and the e2e tests
//! drive the firewall with it; it is a demo, not a model.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Scripted OpenAI-compatible upstream for the llmfw demo and tests")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
}

#[derive(Default)]
struct Counters {
    completions: AtomicU64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/healthz", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "demo upstream listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn stats(State(c): State<Arc<Counters>>) -> Json<Value> {
    Json(json!({ "completions": c.completions.load(Ordering::Relaxed) }))
}

async fn chat_completions(
    State(c): State<Arc<Counters>>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let n = c.completions.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let err = json!({"error": {"message": "request body is not JSON", "type": "invalid_request_error", "param": null, "code": "invalid_json"}});
        return (StatusCode::BAD_REQUEST, Json(err));
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo-model")
        .to_owned();
    let script = last_user_text(&request).and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let calls = script.as_ref().map(scripted_calls).unwrap_or_default();
    let message = if calls.is_empty() {
        json!({"role": "assistant", "content": "Hello from the llmfw demo upstream. Send {\"tool\": NAME, \"arguments\": {...}} as the user message to get a tool call."})
    } else {
        let tool_calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                json!({"id": format!("call_{n}_{i}"), "type": "function",
                       "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
        json!({"role": "assistant", "content": null, "tool_calls": tool_calls})
    };
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let reply = json!({
        "id": format!("chatcmpl-demo-{n}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": body.len() / 4, "completion_tokens": 16, "total_tokens": body.len() / 4 + 16}
    });
    (StatusCode::OK, Json(reply))
}

/// Text of the last `role: user` message (string content or the text parts of an array).
fn last_user_text(request: &Value) -> Option<String> {
    let messages = request.get("messages")?.as_array()?;
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match last.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// `{"tool", "arguments"}` or `{"tool_calls": [{"name", "arguments"}]}` → (name, arguments).
fn scripted_calls(script: &Value) -> Vec<(String, Value)> {
    let one = |v: &Value, key: &str| -> Option<(String, Value)> {
        let name = v.get(key)?.as_str()?.to_owned();
        Some((
            name,
            v.get("arguments").cloned().unwrap_or_else(|| json!({})),
        ))
    };
    if let Some(list) = script.get("tool_calls").and_then(Value::as_array) {
        return list.iter().filter_map(|c| one(c, "name")).collect();
    }
    one(script, "tool").into_iter().collect()
}
