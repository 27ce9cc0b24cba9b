//! End-to-end with the official OpenAI and Anthropic Python SDKs as clients: streamed replies
//! whose proposed tool call the filter refuses must still parse in the SDKs' stream iterators and
//! stream helpers (`tests/sdk/check_streams.py`), and allowed calls must arrive whole; an answer
//! text with an exfiltrating image and a key, split over many deltas, must be redacted in
//! whatever each SDK assembles (JSON, stream iterators, stream helpers, repeated full texts).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::json;

/// The SDK checks make about twenty requests; this bounds a hung one.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `.venv/bin/python` with both SDKs importable, or a failure telling how to get it.
fn sdk_python(root: &std::path::Path) -> PathBuf {
    let python = root.join(".venv/bin/python");
    let importable = std::process::Command::new(&python)
        .args(["-c", "import openai, anthropic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        importable,
        "{} cannot import the openai and anthropic SDKs: run `make tools` \
         (scripts/ensure-tools.sh installs them into .venv)",
        python.display()
    );
    python
}

/// Runs one SDK check script against a stack with `delete_*` denied.
async fn run_script(label: &str, script: &str) -> anyhow::Result<()> {
    let root = repo_root();
    let python = sdk_python(&root);
    let stack = Stack::start(StackOptions {
        label: label.to_owned(),
        plugin_config: json!({
            "routes": [
                {"path_prefix": "/v1/chat/completions", "format": "openai_chat"},
                {"path_prefix": "/v1/responses", "format": "openai_responses"},
                {"path_prefix": "/v1/messages", "format": "anthropic"}
            ],
            "state_service": {"cluster": "llmfw_state", "timeout_ms": 1000, "failure_mode": "closed"},
            "tools": {"deny": ["delete_*"]},
            "detect": {"exfil_allow_hosts": ["docs.example.com"]}
        }),
        store: Some(Store::Sqlite),
        state_port: None,
    })
    .await?;

    let run = tokio::process::Command::new(&python)
        .arg(root.join(script))
        .arg(stack.listen_port.to_string())
        .current_dir(&root)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{script} ran over {SCRIPT_TIMEOUT:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{script} failed ({}); run `make tools` if an SDK is missing:\n{stdout}\n{stderr}",
        out.status
    );
    drop(stack);
    Ok(())
}

#[tokio::test]
async fn official_sdks_parse_refused_and_allowed_tool_call_streams() -> anyhow::Result<()> {
    run_script("sdk", "tests/sdk/check_streams.py").await
}

/// Issue 16: the SDKs receive the filter's decision on Responses `shell_call`, `custom_tool_call`
/// and `mcp_approval_request` items, Chat custom tool calls, and types the filter does not know
/// (`tests/sdk/check_items.py`).
#[tokio::test]
async fn official_sdks_receive_decisions_on_every_call_shape() -> anyhow::Result<()> {
    run_script("sdk-items", "tests/sdk/check_items.py").await
}
