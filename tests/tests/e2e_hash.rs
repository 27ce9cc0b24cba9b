//! End-to-end: with the state-service cluster on `RING_HASH` (as in
//! `envoy/examples/openai-sidecar`), every callout of one operator reaches the same replica,
//! because the filter sets the callout's `:authority` to the operator's hash key and Envoy's wasm
//! host hashes gRPC callouts on it. Two replicas on separate SQLite files; each replica's
//! `/v1/operators` says whom it served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use llmfw_tests::paths::{free_port, repo_root, scratch_dir, workspace_bin};
use llmfw_tests::process::{wait_until, Proc};
use llmfw_tests::stack::ADMIN_TOKEN;
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

const ONE_ENDPOINT: &str = "              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: 50051 }";

async fn operators(admin_port: u16) -> BTreeSet<String> {
    let body: Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{admin_port}/v1/operators"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operator"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn ring_hash_keeps_each_operator_on_one_state_replica() -> anyhow::Result<()> {
    let example = repo_root().join("envoy/examples/openai-sidecar");
    let yaml = std::fs::read_to_string(example.join("envoy.yaml"))?;
    assert!(
        yaml.contains("lb_policy: RING_HASH"),
        "the example no longer hashes"
    );
    assert_eq!(yaml.matches(ONE_ENDPOINT).count(), 1);

    // A second replica, listed after the one the harness starts.
    let (port2, admin2) = (free_port()?, free_port()?);
    let two = format!(
        "{ONE_ENDPOINT}\n              - endpoint:\n                  address:\n                    \
         socket_address: {{ address: 127.0.0.1, port_value: {port2} }}"
    );
    let dir = scratch_dir("hash-replica2")?;
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, yaml.replace(ONE_ENDPOINT, &two))?;
    let mut cmd = Command::new(workspace_bin("llmfw-state"));
    cmd.arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("replica2.db").display()))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port2}"))
        .arg("--admin-listen")
        .arg(format!("127.0.0.1:{admin2}"))
        .env("LLMFW_ADMIN_TOKEN", ADMIN_TOKEN);
    let _replica2 = Proc::spawn("llmfw-state-2", cmd, &dir.join("replica2.log"))?;
    wait_until("replica 2", Duration::from_secs(30), || async move {
        reqwest::get(format!("http://127.0.0.1:{admin2}/readyz"))
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    })
    .await?;

    let mut plugin: Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("plugin.json"))?)?;
    plugin["state_service"]["timeout_ms"] = json!(2000);
    let opts = StackOptions {
        plugin_config: plugin,
        ..StackOptions::new("hash", Some(Store::Sqlite))
    };
    let stack = Stack::start_with_envoy_config(opts, &config).await?;

    let all: BTreeSet<String> = (1..=8).map(|i| format!("op{i}")).collect();
    for op in &all {
        for n in 0..3 {
            let reply = stack
                .propose(
                    op,
                    &format!("s{n}"),
                    "get_weather",
                    json!({"city": "Berlin"}),
                )
                .await?;
            assert_eq!(reply.tool_names(), vec!["get_weather"], "{}", reply.body);
        }
    }
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.callout.failure")
            .await?,
        0
    );
    let one = operators(stack.state_admin_port).await;
    let two = operators(admin2).await;
    assert!(
        one.is_disjoint(&two),
        "an operator reached both replicas: {one:?} / {two:?}"
    );
    assert_eq!(&one | &two, all, "{one:?} / {two:?}");
    Ok(())
}
