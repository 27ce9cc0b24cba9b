//! Issue 16, paths: every odd form of every route's path (`filter/core/testdata/paths.jsonl`),
//! sent byte for byte through real Envoy with the built `.wasm` and the state service to the demo
//! upstream, which serves every such form like the canonical path (a normalising server). A
//! deny-listed tool call proposed on the odd path must be judged (removed, `x-llmfw-decision:
//! block`; MCP: refused before it runs) or the request refused — never passed. Run twice: with
//! `envoy/envoy.yaml` as shipped (Envoy normalises, and answers 400 to escaped slashes), and with
//! its path normalisation removed (the filter's own normal form must still catch every form).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmfw_tests::envoy::inline_plugin_config;
use llmfw_tests::paths::repo_root;
use llmfw_tests::stack::RawReply;
use llmfw_tests::{raw_http, Stack, StackOptions, Store};
use serde_json::{json, Value};

const DENIED: &str = "delete_files";

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join("filter/core/testdata/paths.jsonl"))
        .expect("read paths.jsonl");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("_comment").is_none())
        .collect()
}

/// The shipped plugin config of `envoy/envoy.yaml`, with a callout timeout for a loaded machine.
fn shipped_plugin_config() -> Value {
    let yaml = std::fs::read_to_string(repo_root().join("envoy/envoy.yaml")).unwrap();
    let mut config = inline_plugin_config(&yaml).unwrap();
    config["state_service"]["timeout_ms"] = json!(3000);
    config
}

/// `envoy/envoy.yaml` without its HCM path normalisation (a deployment that forgot it).
fn unnormalised_envoy_yaml(dir: &std::path::Path) -> std::path::PathBuf {
    let yaml = std::fs::read_to_string(repo_root().join("envoy/envoy.yaml")).unwrap();
    let mut out = String::new();
    let mut removed = 0;
    for line in yaml.lines() {
        let key = line.trim_start();
        if key.starts_with("normalize_path:")
            || key.starts_with("merge_slashes:")
            || key.starts_with("path_with_escaped_slashes_action:")
        {
            removed += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert_eq!(
        removed, 3,
        "envoy/envoy.yaml must set the three path settings"
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("envoy-unnormalised.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

fn body_for(format: &str) -> Value {
    let script = json!({"tool": DENIED, "arguments": {"path": "/"}}).to_string();
    match format {
        "openai_chat" => {
            json!({"model": "demo-model", "messages": [{"role": "user", "content": script}]})
        }
        "openai_responses" => json!({"model": "demo-model", "input": script}),
        "anthropic" => json!({"model": "claude-demo", "max_tokens": 256,
                              "messages": [{"role": "user", "content": script}]}),
        "mcp" => json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": DENIED, "arguments": {"path": "/"}}}),
        other => panic!("unknown format {other}"),
    }
}

/// Names of the tool calls the agent was handed in a reply of `format`.
fn proposed(format: &str, v: &Value) -> Vec<String> {
    let names = |items: Option<&Vec<Value>>, pick: &dyn Fn(&Value) -> Option<String>| {
        items
            .into_iter()
            .flatten()
            .filter_map(pick)
            .collect::<Vec<_>>()
    };
    match format {
        "openai_chat" => names(v["choices"][0]["message"]["tool_calls"].as_array(), &|c| {
            c["function"]["name"].as_str().map(str::to_owned)
        }),
        "openai_responses" => names(v["output"].as_array(), &|i| {
            (i["type"] == "function_call")
                .then(|| i["name"].as_str().map(str::to_owned))
                .flatten()
        }),
        "anthropic" => names(v["content"].as_array(), &|b| {
            (b["type"] == "tool_use")
                .then(|| b["name"].as_str().map(str::to_owned))
                .flatten()
        }),
        _ => Vec::new(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// The filter judged the call: removed (LLM formats) or refused before it ran (MCP).
    Judged,
    /// The request was refused with this status before reaching the upstream.
    Refused(u16),
}

async fn outcome(stack: &Stack, case: &Value, reply: &RawReply) -> Seen {
    let format = case["format"].as_str().unwrap();
    let stats = stack.upstream_stats().await.unwrap();
    assert_eq!(
        stats["mcp_calls_by_tool"][DENIED],
        Value::Null,
        "{case}: the denied MCP call ran: {stats}"
    );
    if reply.status != 200 {
        return Seen::Refused(reply.status);
    }
    let v = reply.json().unwrap();
    assert!(
        !proposed(format, &v).iter().any(|n| n == DENIED),
        "{case}: the denied call reached the agent: {v}"
    );
    if format == "mcp" {
        assert_eq!(v["result"]["isError"], true, "{case}: {v}");
    } else {
        assert_eq!(
            reply.header("x-llmfw-decision").as_deref(),
            Some("block"),
            "{case}: {v}"
        );
    }
    Seen::Judged
}

async fn run(label: &str, envoy_yaml: Option<std::path::PathBuf>, unnormalised: bool) {
    let opts = StackOptions {
        label: label.to_owned(),
        plugin_config: shipped_plugin_config(),
        store: Some(Store::Sqlite),
        state_port: None,
    };
    let stack = match envoy_yaml {
        Some(path) => Stack::start_with_envoy_config(opts, &path).await.unwrap(),
        None => Stack::start(opts).await.unwrap(),
    };
    let mut failures = Vec::new();
    for case in cases() {
        let path = case["path"].as_str().unwrap();
        let format = case["format"].as_str().unwrap();
        let body = body_for(format).to_string();
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("x-llmfw-operator", "paths"),
            ("x-llmfw-session", "s-paths"),
        ];
        let reply = raw_http::send(stack.listen_port, "POST", path, &headers, body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let seen = outcome(&stack, &case, &reply).await;
        let want = if case["envoy"] == "reject" && !unnormalised {
            Seen::Refused(400)
        } else if case["served"] == false {
            // A server that decodes once does not serve it (404): nothing to judge.
            Seen::Refused(404)
        } else {
            Seen::Judged
        };
        if seen != want {
            failures.push(format!(
                "{path} ({format}): {seen:?}, want {want:?}: {}",
                reply.text()
            ));
        }
    }
    // A path no route names is refused by default (unmatched_path: refuse), never passed.
    for path in [
        "/v1/chat/completion",
        "/v1/embeddings",
        "/v1/chat/completionz",
    ] {
        let reply = raw_http::send(
            stack.listen_port,
            "POST",
            path,
            &[("content-type", "application/json")],
            body_for("openai_chat").to_string().as_bytes(),
        )
        .await
        .unwrap();
        let code = reply.json().ok().map(|v| v["error"]["code"].clone());
        let judged = path.ends_with("completionz"); // starts with the chat route's prefix
        if judged {
            let case = json!({"format": "openai_chat", "path": path});
            if reply.status != 404 && outcome(&stack, &case, &reply).await != Seen::Judged {
                failures.push(format!("{path}: not judged: {}", reply.text()));
            }
        } else if reply.status != 404 || code != Some(json!("llmfw_unmatched_path")) {
            failures.push(format!("{path}: {} {}", reply.status, reply.text()));
        }
    }
    assert!(
        stack
            .envoy_counter("wasmcustom.llmfw.request.unmatched_path")
            .await
            .unwrap()
            >= 2
    );
    if !failures.is_empty() {
        eprintln!("{}", stack.logs());
        panic!(
            "{} path forms got through:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[tokio::test]
async fn odd_paths_are_judged_or_refused_with_the_shipped_envoy_config() {
    run("paths-shipped", None, false).await;
}

#[tokio::test]
async fn odd_paths_are_judged_or_refused_when_envoy_does_not_normalise() {
    let dir = repo_root().join("target/e2e/paths-unnormalised-config");
    let yaml = unnormalised_envoy_yaml(&dir);
    run("paths-unnormalised", Some(yaml), true).await;
}
