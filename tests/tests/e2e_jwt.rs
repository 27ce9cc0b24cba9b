//! End-to-end: `envoy/examples/jwt-identity` — jwt_authn verifies the bearer token against the
//! local JWKS before the llmfw filter; the filter takes the operator from the verified `sub`
//! claim (jwt_authn's dynamic metadata), never from the `x-llmfw-operator` header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmfw_tests::paths::repo_root;
use llmfw_tests::stack::RawReply;
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

const TARGET: &str = "corp-a.example.com";

fn token(name: &str) -> String {
    let path = repo_root().join(format!("envoy/examples/jwt-identity/tokens/{name}.jwt"));
    std::fs::read_to_string(&path).unwrap().trim().to_owned()
}

fn proposal(tool: &str) -> Value {
    json!({
        "model": "demo-model",
        "messages": [{"role": "user",
                      "content": json!({"tool": tool, "arguments": {"target": TARGET}}).to_string()}]
    })
}

async fn post(stack: &Stack, token: Option<&str>, session: &str, tool: &str) -> RawReply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("x-llmfw-session", session),
        // A client trying to pick its operator: ignored with operator_from_jwt.
        ("x-llmfw-operator", "alice"),
    ];
    if let Some(a) = auth.as_deref() {
        headers.push(("authorization", a));
    }
    stack
        .post_with("/v1/chat/completions", &headers, &proposal(tool))
        .await
        .unwrap()
}

fn tool_names(reply: &RawReply) -> Vec<String> {
    let body = reply.json().unwrap();
    body["choices"][0]["message"]["tool_calls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn jwt_sub_is_the_operator_and_bad_tokens_never_reach_the_filter() -> anyhow::Result<()> {
    let dir = repo_root().join("envoy/examples/jwt-identity");
    let mut plugin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plugin.json"))?)?;
    // The example's config, with a callout timeout that tolerates a loaded CI machine.
    plugin["state_service"]["timeout_ms"] = json!(2000);
    let opts = StackOptions {
        plugin_config: plugin,
        ..StackOptions::new("jwt", Some(Store::Sqlite))
    };
    let stack = Stack::start_with_envoy_config(opts, &dir.join("envoy.yaml")).await?;

    // Rejected by jwt_authn: neither the filter nor the upstream sees these requests.
    for (token, want) in [
        (None, "Jwt is missing"),
        (Some(token("forged")), "Jwt verification fails"),
        (Some(token("expired")), "Jwt is expired"),
        (Some("not-a-jwt".to_owned()), "Jwt is not in the form"),
    ] {
        let reply = post(&stack, token.as_deref(), "s0", "nmap").await;
        assert_eq!(reply.status, 401, "{want}: {}", reply.text());
        assert!(
            reply.text().contains(want),
            "want {want:?}, got {}",
            reply.text()
        );
    }
    assert_eq!(stack.upstream_stats().await?["completions"], 0);
    assert_eq!(
        stack.envoy_counter("wasmcustom.llmfw.callout.sent").await?,
        0
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.decision.allow")
            .await?,
        0
    );

    // bob runs recon and an exploit against one host, claiming to be alice in the header.
    let alice = token("alice");
    let bob = token("bob");
    for tool in ["nmap", "exploit_framework"] {
        let reply = post(&stack, Some(&bob), "s1", tool).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(tool_names(&reply), vec![tool], "{}", reply.text());
    }
    // The kill chain is bob's, in any session: his exfiltration is blocked...
    let reply = post(&stack, Some(&bob), "s2", "data_export").await;
    assert!(
        tool_names(&reply).is_empty(),
        "bob's export passed: {}",
        reply.text()
    );
    assert_eq!(reply.header("x-llmfw-decision").as_deref(), Some("block"));
    // ...while alice, whose name bob sent in the header, has no history: hers passes.
    let reply = post(&stack, Some(&alice), "s3", "data_export").await;
    assert_eq!(tool_names(&reply), vec!["data_export"], "{}", reply.text());
    assert_ne!(reply.header("x-llmfw-decision").as_deref(), Some("block"));

    let operators = stack.admin_get("/v1/operators").await?;
    let mut names: Vec<&str> = operators["operators"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["operator"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob"], "{operators}");
    Ok(())
}
