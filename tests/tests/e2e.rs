//! End-to-end: real Envoy + the built `llmfw_filter.wasm` + the `llmfw-state` binary + the demo
//! upstream (issue 2's acceptance tests). Each test runs its own stack on free ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use llmfw_tests::stack::{default_plugin_config, envoy_command, tail};
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::json;

const TARGET: &str = "corp-a.example.com";

fn opts(label: &str, store: Option<Store>, failure_mode: &str, deny: &[&str]) -> StackOptions {
    StackOptions {
        label: label.to_owned(),
        plugin_config: default_plugin_config(failure_mode, deny),
        store,
        state_port: None,
    }
}

#[tokio::test]
async fn benign_tool_call_passes_unchanged_and_text_makes_no_callout() -> anyhow::Result<()> {
    let stack = Stack::start(opts("benign", Some(Store::Sqlite), "closed", &["delete_*"])).await?;
    let args = json!({"city": "Berlin", "units": "metric"});
    let reply = stack
        .propose("alice", "s-benign", "get_weather", args.clone())
        .await?;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.tool_names(), vec!["get_weather"], "{}", reply.body);
    let sent: serde_json::Value = serde_json::from_str(
        reply.message()["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap_or("null"),
    )?;
    assert_eq!(sent, args);
    assert_eq!(reply.body["choices"][0]["finish_reason"], "tool_calls");
    assert!(
        matches!(
            reply.header("x-llmfw-decision").as_deref(),
            None | Some("allow")
        ),
        "unexpected decision header {:?}",
        reply.header("x-llmfw-decision")
    );
    assert_eq!(
        stack.envoy_counter("wasmcustom.llmfw.callout.sent").await?,
        1
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.decision.allow")
            .await?,
        1
    );

    let text = stack
        .chat("alice", "s-benign", "What is the capital of France?")
        .await?;
    assert_eq!(text.status, 200);
    assert!(text.tool_names().is_empty());
    assert_eq!(
        stack.envoy_counter("wasmcustom.llmfw.callout.sent").await?,
        1,
        "a reply without tool calls made a callout"
    );
    Ok(())
}

#[tokio::test]
async fn deny_listed_tool_call_is_replaced_by_a_refusal() -> anyhow::Result<()> {
    let stack = Stack::start(opts(
        "deny",
        Some(Store::Sqlite),
        "closed",
        &["delete_*", "rm_rf"],
    ))
    .await?;
    let reply = stack
        .propose(
            "alice",
            "s-deny",
            "delete_database",
            json!({"database": "prod"}),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.tool_names().is_empty(),
        "denied call still present: {}",
        reply.body
    );
    assert_eq!(reply.message()["role"], "assistant");
    assert!(
        reply.content().contains("delete_database"),
        "refusal should name the tool: {}",
        reply.content()
    );
    assert!(
        reply.content().to_lowercase().contains("block"),
        "{}",
        reply.content()
    );
    assert_eq!(reply.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        reply.body["object"], "chat.completion",
        "other fields must survive"
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.decision.block")
            .await?,
        1
    );
    // The denial is stateless: nothing needed the state service.
    assert_eq!(
        stack.envoy_counter("wasmcustom.llmfw.callout.sent").await?,
        0
    );
    Ok(())
}

/// nmap → exploit → data export against one external host in one session: allowed at first,
/// blocked before the exfiltration call; the operator is still blocked in a new session. The
/// state service is restarted (SIGKILL) between every two events: the block must survive it.
async fn campaign_is_blocked_and_survives_restarts(store: Store) -> anyhow::Result<()> {
    let label = format!("campaign-{store:?}").to_lowercase();
    let mut stack = Stack::start(opts(&label, Some(store), "closed", &[])).await?;

    let recon = stack
        .propose(
            "mallory",
            "s1",
            "nmap",
            json!({"target": TARGET, "flags": "-sV -p-"}),
        )
        .await?;
    assert_eq!(
        recon.tool_names(),
        vec!["nmap"],
        "recon should pass: {}",
        recon.body
    );

    stack.kill_state();
    stack.start_state().await?;
    let exploit = stack
        .propose(
            "mallory",
            "s1",
            "exploit_framework",
            json!({"target": TARGET, "module": "CVE-2024-0001"}),
        )
        .await?;
    assert_eq!(
        exploit.tool_names(),
        vec!["exploit_framework"],
        "exploit should still pass: {}",
        exploit.body
    );

    stack.kill_state();
    stack.start_state().await?;
    let exfil = stack
        .propose(
            "mallory",
            "s1",
            "data_export",
            json!({"target": TARGET, "format": "csv"}),
        )
        .await?;
    assert!(
        exfil.tool_names().is_empty(),
        "exfiltration was not blocked: {}",
        exfil.body
    );
    assert!(
        exfil.content().contains("data_export"),
        "{}",
        exfil.content()
    );
    assert_eq!(exfil.header("x-llmfw-decision").as_deref(), Some("block"));

    stack.kill_state();
    stack.start_state().await?;
    let again = stack
        .propose(
            "mallory",
            "s2-new",
            "data_export",
            json!({"target": TARGET, "format": "csv"}),
        )
        .await?;
    assert!(
        again.tool_names().is_empty(),
        "new session escaped the block: {}",
        again.body
    );
    assert_eq!(again.header("x-llmfw-decision").as_deref(), Some("block"));

    // Another operator is not affected by mallory's history.
    let other = stack
        .propose("bob", "s3", "get_weather", json!({"city": "Oslo"}))
        .await?;
    assert_eq!(other.tool_names(), vec!["get_weather"]);
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.callout.failure")
            .await?,
        0,
        "{}",
        stack.logs()
    );
    Ok(())
}

#[tokio::test]
async fn campaign_blocked_across_sessions_and_restarts_sqlite() -> anyhow::Result<()> {
    campaign_is_blocked_and_survives_restarts(Store::Sqlite).await
}

#[tokio::test]
async fn campaign_blocked_across_sessions_and_restarts_postgres() -> anyhow::Result<()> {
    campaign_is_blocked_and_survives_restarts(Store::Postgres).await
}

/// After failures Envoy must still serve ordinary traffic and the VM must not have crashed.
async fn assert_envoy_healthy(stack: &Stack) -> anyhow::Result<()> {
    let text = stack.chat("alice", "s-health", "hello").await?;
    assert_eq!(text.status, 200, "{}", text.body);
    assert!(stack.envoy_ready().await);
    let log = stack.envoy.log_text();
    assert!(
        !log.contains("panicked"),
        "the wasm VM panicked:\n{}",
        tail(&log, 40)
    );
    Ok(())
}

#[tokio::test]
async fn state_service_down_fail_closed_blocks_with_reason() -> anyhow::Result<()> {
    let stack = Stack::start(opts("down-closed", None, "closed", &[])).await?;
    let reply = stack
        .propose("alice", "s1", "nmap", json!({"target": TARGET}))
        .await?;
    assert!(
        reply.tool_names().is_empty(),
        "fail-closed let the call through: {}",
        reply.body
    );
    assert!(
        reply.content().contains("state service unavailable"),
        "{}",
        reply.content()
    );
    assert_eq!(reply.header("x-llmfw-decision").as_deref(), Some("block"));
    assert!(
        stack
            .envoy_counter("wasmcustom.llmfw.callout.failure")
            .await?
            >= 1
    );
    assert_envoy_healthy(&stack).await
}

#[tokio::test]
async fn state_service_down_fail_open_passes_with_warning() -> anyhow::Result<()> {
    let stack = Stack::start(opts("down-open", None, "open", &[])).await?;
    let reply = stack
        .propose("alice", "s1", "nmap", json!({"target": TARGET}))
        .await?;
    assert_eq!(reply.tool_names(), vec!["nmap"], "{}", reply.body);
    assert_eq!(reply.header("x-llmfw-decision").as_deref(), Some("warn"));
    let reasons = reply.header("x-llmfw-reasons").unwrap_or_default();
    assert!(reasons.contains("state service unavailable"), "{reasons}");
    assert_envoy_healthy(&stack).await
}

/// A state service that accepts connections and never answers: the callout times out. Bound
/// before the stack starts, so no other process can take the port number in between.
async fn hung_state_service() -> anyhow::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    Ok((
        port,
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        }),
    ))
}

#[tokio::test]
async fn callout_timeout_fail_closed_and_open() -> anyhow::Result<()> {
    for (mode, passes) in [("closed", false), ("open", true)] {
        let (port, hung) = hung_state_service().await?;
        let stack = Stack::start(StackOptions {
            state_port: Some(port),
            ..opts(&format!("timeout-{mode}"), None, mode, &[])
        })
        .await?;
        let started = std::time::Instant::now();
        let reply = stack
            .propose("alice", "s1", "nmap", json!({"target": TARGET}))
            .await?;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the callout timeout was not honoured"
        );
        if passes {
            assert_eq!(reply.tool_names(), vec!["nmap"], "{}", reply.body);
            assert_eq!(reply.header("x-llmfw-decision").as_deref(), Some("warn"));
        } else {
            assert!(reply.tool_names().is_empty(), "{}", reply.body);
            assert!(
                reply.content().contains("state service unavailable"),
                "{}",
                reply.content()
            );
        }
        assert!(
            stack
                .envoy_counter("wasmcustom.llmfw.callout.failure")
                .await?
                >= 1
        );
        assert_envoy_healthy(&stack).await?;
        hung.abort();
    }
    Ok(())
}

/// Starts Envoy with `plugin_config` and expects it to refuse the config with a log line that
/// names `field`.
async fn rejected(
    label: &str,
    plugin_config: serde_json::Value,
    field: &str,
) -> anyhow::Result<()> {
    use llmfw_tests::envoy::{bootstrap, EnvoyLayout};
    use llmfw_tests::paths::{free_port, scratch_dir, wasm_module};
    use llmfw_tests::process::Proc;
    let dir = scratch_dir(label)?;
    let wasm = wasm_module();
    let layout = EnvoyLayout {
        listen_port: free_port()?,
        admin_port: free_port()?,
        upstream_port: free_port()?,
        state_port: free_port()?,
        wasm: &wasm,
    };
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, bootstrap(&layout, &plugin_config)?)?;
    let mut envoy = Proc::spawn("envoy", envoy_command(&config), &dir.join("envoy.log"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let needle = "invalid plugin config";
    while std::time::Instant::now() < deadline {
        let log = envoy.log_text();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            assert!(
                line.contains(field),
                "the log line does not name `{field}`: {line}"
            );
            envoy.kill();
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(());
        }
        if !envoy.running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "no `{needle}` log line naming `{field}`:\n{}",
        tail(&envoy.log_text(), 40)
    )
}

#[tokio::test]
async fn bad_plugin_config_is_rejected_with_a_log_line_naming_the_field() -> anyhow::Result<()> {
    let mut unknown = default_plugin_config("closed", &[]);
    unknown["tools"]["frobnicate"] = json!(true);
    rejected("bad-unknown", unknown, "frobnicate").await?;

    let mut bad_value = default_plugin_config("closed", &[]);
    bad_value["state_service"]["timeout_ms"] = json!(0);
    rejected("bad-timeout", bad_value, "timeout_ms").await?;

    let mut bad_mode = default_plugin_config("closed", &[]);
    bad_mode["state_service"]["failure_mode"] = json!("sideways");
    rejected("bad-mode", bad_mode, "sideways").await
}

/// Exploit then lateral movement on one host lands in the approval band: the call is refused with
/// an approval id the operator can act on, in the body and in a header.
#[tokio::test]
async fn require_approval_refuses_with_an_approval_id() -> anyhow::Result<()> {
    let stack = Stack::start(opts("approval", Some(Store::Sqlite), "closed", &[])).await?;
    let first = stack
        .propose(
            "carol",
            "s1",
            "exploit_framework",
            json!({"target": "db1.example.net"}),
        )
        .await?;
    assert_eq!(
        first.tool_names(),
        vec!["exploit_framework"],
        "{}",
        first.body
    );
    let reply = stack
        .propose(
            "carol",
            "s1",
            "ssh_connect",
            json!({"host": "db1.example.net", "user": "root"}),
        )
        .await?;
    assert!(reply.tool_names().is_empty(), "{}", reply.body);
    assert_eq!(
        reply.header("x-llmfw-decision").as_deref(),
        Some("require_approval")
    );
    let id = reply
        .header("x-llmfw-approval-id")
        .expect("approval id header");
    assert!(!id.is_empty());
    assert!(
        reply.content().contains("approval required") && reply.content().contains(&id),
        "{}",
        reply.content()
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.decision.require_approval")
            .await?,
        1
    );
    Ok(())
}

/// Requests the filter cannot inspect get a provider-shaped error with a clear code, and Envoy
/// serves the next request normally.
#[tokio::test]
async fn bad_requests_get_openai_error_bodies() -> anyhow::Result<()> {
    let stack = Stack::start(opts("bad-request", Some(Store::Sqlite), "closed", &[])).await?;
    let reply = stack
        .post_raw(
            "alice",
            "s1",
            b"{\"model\": \"x\", \"messages\": [".to_vec(),
        )
        .await?;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["error"]["code"], "llmfw_invalid_json",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["type"], "invalid_request_error");

    let huge = format!(
        "{{\"model\":\"x\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(1_200_000)
    );
    let reply = stack.post_raw("alice", "s1", huge.into_bytes()).await?;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.body["error"]["code"], "llmfw_body_too_large",
        "{}",
        reply.body
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.request.invalid")
            .await?,
        2
    );
    assert_envoy_healthy(&stack).await
}
