//! The operator dashboard in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `dashboard/e2e/dashboard.mjs`) against a real stack: Envoy with the built
//! `.wasm`, `llmfw-state` serving the embedded dashboard, the demo upstream. Traffic through
//! Envoy leaves an operator with several targets, a pivot and a pending REQUIRE_APPROVAL; the
//! browser logs in (a wrong token is refused, no `/v1` data is readable without one), checks
//! the overview against the API, searches and opens the operator, checks the campaign graph,
//! and approves the call; then the agent's retried call passes through Envoy and the audit
//! trail names who approved. Screenshots of each page land in the test's directory, or in
//! `docs/dashboard/` with `LLMFW_BLESS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use llmfw_tests::paths::repo_root;
use llmfw_tests::stack::{tail, ADMIN_TOKEN};
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

const OPERATOR: &str = "mallory-ops";
const OTHER: &str = "bob-dev";
const SESSION: &str = "m1";
const DECIDED_BY: &str = "alice-secops";

/// The lateral step that lands in the approval band.
fn held_call() -> (&'static str, Value) {
    ("ssh_connect", json!({"host": "10.20.0.5", "user": "root"}))
}

async fn drive_traffic(stack: &Stack) -> anyhow::Result<String> {
    let steps = [
        ("nmap", json!({"target": "10.20.0.5", "flags": "-sV"})),
        (
            "exploit_framework",
            json!({"target": "10.20.0.5", "module": "CVE-2024-0001"}),
        ),
        ("nmap", json!({"target": "10.20.0.9", "flags": "-sS"})),
    ];
    for (tool, args) in steps {
        let reply = stack.propose(OPERATOR, SESSION, tool, args).await?;
        eprintln!(
            "{tool}: {:?} {:?}",
            reply.header("x-llmfw-decision"),
            reply.header("x-llmfw-reasons")
        );
        assert_eq!(reply.tool_names(), vec![tool], "{}", reply.body);
    }
    let benign = stack
        .propose(OTHER, "b1", "get_weather", json!({"city": "Berlin"}))
        .await?;
    assert_eq!(benign.tool_names(), vec!["get_weather"], "{}", benign.body);

    let (tool, args) = held_call();
    let held = stack.propose(OPERATOR, SESSION, tool, args).await?;
    assert!(held.tool_names().is_empty(), "{}", held.body);
    assert_eq!(
        held.header("x-llmfw-decision").as_deref(),
        Some("require_approval"),
        "{:?}",
        held.header("x-llmfw-reasons")
    );
    Ok(held
        .header("x-llmfw-approval-id")
        .expect("approval id header"))
}

fn node_script(stack: &Stack, expect: &Value, shots: &std::path::Path) -> anyhow::Result<Value> {
    let dashboard = repo_root().join("dashboard");
    assert!(
        dashboard.join("node_modules/playwright-core").is_dir(),
        "dashboard/node_modules is missing: run `make dashboard` (make test does)"
    );
    let out = Command::new("node")
        .arg("e2e/dashboard.mjs")
        .current_dir(&dashboard)
        .env(
            "LLMFW_DASH_URL",
            format!("http://127.0.0.1:{}", stack.state_admin_port),
        )
        .env("LLMFW_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("LLMFW_EXPECT", expect.to_string())
        .env("LLMFW_SHOTS", shots)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test failed ({}):\n{stdout}\n{stderr}\n--- stack logs ---\n{}",
        out.status,
        tail(&stack.logs(), 40)
    );
    let last = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(last)?)
}

async fn dashboard_flow(label: &str, store: Store, bless: bool) -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::new(label, Some(store))).await?;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", stack.state_admin_port);
    let page = http.get(format!("{base}/dashboard/")).send().await?;
    assert_eq!(
        page.status(),
        200,
        "the dashboard is not embedded in llmfw-state: run `make dashboard` and rebuild"
    );

    let approval_id = drive_traffic(&stack).await?;
    let approval = stack
        .admin_get(&format!("/v1/approvals/{approval_id}"))
        .await?;
    let approval = &approval["approval"];
    assert_eq!(approval["status"], "pending");
    // the exact call is kept with the approval (canonical JSON of what the model proposed)
    let kept: Value = serde_json::from_str(approval["arguments_json"].as_str().unwrap())?;
    assert_eq!(kept, held_call().1);
    let graph = stack
        .admin_get(&format!("/v1/operators/{OPERATOR}/graph"))
        .await?;
    let targets: Vec<&str> = graph["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 2, "{graph}");
    assert!(
        !graph["pivots"].as_array().unwrap().is_empty(),
        "the scan after the exploit is a pivot: {graph}"
    );

    let expect = json!({
        "operator": OPERATOR,
        "search": "mallory",
        "other_operator": OTHER,
        "targets": targets,
        "pivots": 1,
        "tools": ["nmap", "exploit_framework", "ssh_connect"],
        "approval": {
            "id": approval_id,
            "tool": approval["tool"],
            "args_digest": approval["args_digest"],
            "arguments": held_call().1,
        },
        "decided_by": DECIDED_BY,
    });
    let shots = if bless {
        repo_root().join("docs/dashboard")
    } else {
        stack.dir.join("shots")
    };
    let summary = node_script(&stack, &expect, &shots)?;
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["approved"], approval_id.as_str(), "{summary}");
    for name in [
        "login",
        "overview",
        "operators",
        "operator",
        "graph",
        "approvals",
    ] {
        let png = std::fs::read(shots.join(format!("{name}.png")))?;
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{name}.png"
        );
    }

    // The agent retries the held call: approved once, it now passes through Envoy.
    let (tool, args) = held_call();
    let retry = stack.propose(OPERATOR, SESSION, tool, args.clone()).await?;
    assert_eq!(retry.tool_names(), vec![tool], "{}", retry.body);
    let consumed = stack
        .admin_get(&format!("/v1/approvals/{approval_id}"))
        .await?;
    assert_eq!(consumed["approval"]["status"], "consumed", "{consumed}");
    // … once: the same call again needs a new approval
    let again = stack.propose(OPERATOR, SESSION, tool, args).await?;
    assert!(again.tool_names().is_empty(), "{}", again.body);

    let audit = stack.admin_get("/v1/audit").await?;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == approval_id.as_str())
        .unwrap_or_else(|| panic!("no audit entry for {approval_id}: {audit}"));
    assert_eq!(entry["actor"], DECIDED_BY);
    assert_eq!(entry["action"], "approve");
    Ok(())
}

#[tokio::test]
async fn dashboard_logs_in_shows_the_campaign_and_approves_on_sqlite() -> anyhow::Result<()> {
    let bless = std::env::var_os("LLMFW_BLESS").is_some_and(|v| v == "1");
    dashboard_flow("dashboard-sqlite", Store::Sqlite, bless).await
}

#[tokio::test]
async fn dashboard_flow_on_postgres() -> anyhow::Result<()> {
    dashboard_flow("dashboard-pg", Store::Postgres, false).await
}
