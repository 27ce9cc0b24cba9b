//! End-to-end with the official MCP Python SDK as the client (`tests/sdk/check_mcp.py`) and the
//! reference server `@modelcontextprotocol/server-everything` (streamable HTTP) as the upstream,
//! through real Envoy and the filter: tools/call, progress notifications while a call runs, a
//! sampling request the client answers inside the call's stream, the GET notification stream,
//! and a call carrying an injection refused. A second test runs the SDK client against a hostile server built
//! with the SDK itself (`tests/sdk/poisoned_mcp_server.py`): every channel it poisons (tool
//! result, nested inputSchema description, sampling request, elicitation, log and progress
//! notifications) reaches the client neutralised. SDK and server are installed (pinned) by
//! `scripts/ensure-tools.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use llmfw_tests::{Stack, StackOptions, Store, UpstreamServer};
use serde_json::json;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn everything(root: &std::path::Path) -> PathBuf {
    let js = root.join(
        ".venv/npm/server-everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
    );
    assert!(
        js.exists(),
        "{} is missing: run `make tools` (scripts/ensure-tools.sh installs it)",
        js.display()
    );
    js
}

fn sdk_python(root: &std::path::Path) -> PathBuf {
    let python = root.join(".venv/bin/python");
    let importable = Command::new(&python)
        .args(["-c", "import mcp.client.streamable_http"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        importable,
        "the mcp SDK is missing from .venv: run `make tools`"
    );
    python
}

fn plugin_config() -> serde_json::Value {
    json!({
        "routes": [{"path_prefix": "/mcp", "format": "mcp"}],
        "state_service": {"cluster": "llmfw_state", "timeout_ms": 1000, "failure_mode": "closed"},
        "tools": {"deny": ["delete_*"]}
    })
}

/// Runs an SDK client script against Envoy's listener; its stdout, or a failure with all logs.
async fn run_script(stack: &Stack, python: &PathBuf, script: &str) -> anyhow::Result<String> {
    let root = repo_root();
    let run = tokio::process::Command::new(python)
        .arg(root.join(script))
        .arg(stack.listen_port.to_string())
        .current_dir(&root)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{script} ran over {SCRIPT_TIMEOUT:?}\n{}", stack.logs()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}\n{}",
        out.status,
        stack.logs()
    );
    Ok(stdout)
}

#[tokio::test]
async fn official_mcp_sdk_through_the_filter_against_server_everything() -> anyhow::Result<()> {
    let root = repo_root();
    let python = sdk_python(&root);
    let js = everything(&root);
    let stack = Stack::start_with_upstream(
        StackOptions {
            label: "mcp-sdk".to_owned(),
            plugin_config: plugin_config(),
            store: Some(Store::Sqlite),
            state_port: None,
        },
        UpstreamServer {
            name: "server-everything".to_owned(),
            command: Box::new(move |port| {
                let mut cmd = Command::new("node");
                cmd.arg(&js)
                    .arg("streamableHttp")
                    .env("PORT", port.to_string());
                cmd
            }),
            ready_path: "/mcp".to_owned(),
        },
    )
    .await?;

    let stdout = run_script(&stack, &python, "tests/sdk/check_mcp.py").await?;
    for step in [
        "ok tools_call",
        "ok progress",
        "ok sampling",
        "ok get_stream",
        "ok poisoned_call_refused",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    // The refusal was the filter's decision.
    let blocked = stack
        .envoy_counter("wasmcustom.llmfw.decision.block")
        .await?;
    assert!(blocked >= 1, "decision.block = {blocked}\n{}", stack.logs());
    Ok(())
}

#[tokio::test]
async fn official_mcp_sdk_gets_every_poisoned_channel_of_a_hostile_sdk_server_neutralised(
) -> anyhow::Result<()> {
    let root = repo_root();
    let python = sdk_python(&root);
    let server_python = python.clone();
    let script = root.join("tests/sdk/poisoned_mcp_server.py");
    let stack = Stack::start_with_upstream(
        StackOptions {
            label: "mcp-poisoned".to_owned(),
            plugin_config: plugin_config(),
            store: Some(Store::Sqlite),
            state_port: None,
        },
        UpstreamServer {
            name: "poisoned-mcp-server".to_owned(),
            command: Box::new(move |port| {
                let mut cmd = Command::new(&server_python);
                cmd.arg(&script).arg(port.to_string());
                cmd
            }),
            ready_path: "/mcp".to_owned(),
        },
    )
    .await?;
    let stdout = run_script(&stack, &python, "tests/sdk/check_mcp_poisoned.py").await?;
    for step in [
        "ok tools_list_nested_description_redacted",
        "ok tool_result_redacted",
        "ok sampling_request_redacted",
        "ok elicitation_redacted",
        "ok notifications_redacted",
    ] {
        assert!(stdout.contains(step), "{step} missing:\n{stdout}");
    }
    // The notification stream's decision is counted when Envoy closes that stream.
    let warned = stack
        .envoy_counter_at_least("wasmcustom.llmfw.decision.warn", 5, Duration::from_secs(10))
        .await?;
    assert!(warned >= 5, "decision.warn = {warned}\n{}", stack.logs());
    Ok(())
}
