//! `llmfw-demo`: replays the four demo scenarios of `make run` through Envoy and prints the
//! decision the agent experienced for each tool call (read from the reply, not a side channel).

use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Replays the llmfw demo scenarios through Envoy")]
struct Args {
    /// Envoy listener with the llmfw filter.
    #[arg(long, default_value = "http://127.0.0.1:10000")]
    envoy: String,
}

struct Step {
    tool: &'static str,
    arguments: Value,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let target = "corp-a.example.com";
    let scenarios = [
        (
            "benign",
            "demo-dev",
            "demo-s-benign",
            vec![Step {
                tool: "get_weather",
                arguments: json!({"city": "Berlin"}),
            }],
        ),
        (
            "blocked tool",
            "demo-dev",
            "demo-s-tool",
            vec![Step {
                tool: "delete_repository",
                arguments: json!({"repository": "payments"}),
            }],
        ),
        (
            "blocked campaign",
            "demo-attacker",
            "demo-s-campaign",
            vec![
                Step {
                    tool: "nmap",
                    arguments: json!({"target": target, "flags": "-sV -p-"}),
                },
                Step {
                    tool: "exploit_framework",
                    arguments: json!({"target": target, "module": "CVE-2024-0001"}),
                },
                Step {
                    tool: "data_export",
                    arguments: json!({"target": target, "format": "csv"}),
                },
            ],
        ),
        (
            // leaves a two-target campaign with a pivot and a pending approval for the dashboard
            "approval needed",
            "demo-intruder",
            "demo-s-pivot",
            vec![
                Step {
                    tool: "nmap",
                    arguments: json!({"target": "10.20.0.5", "flags": "-sV"}),
                },
                Step {
                    tool: "exploit_framework",
                    arguments: json!({"target": "10.20.0.5", "module": "CVE-2024-0001"}),
                },
                Step {
                    tool: "nmap",
                    arguments: json!({"target": "10.20.0.9", "flags": "-sS"}),
                },
                Step {
                    tool: "ssh_connect",
                    arguments: json!({"host": "10.20.0.5", "user": "root"}),
                },
            ],
        ),
    ];
    for (i, (name, operator, session, steps)) in scenarios.iter().enumerate() {
        println!(
            "scenario {} · {name} (operator {operator}, session {session})",
            i + 1
        );
        for step in steps {
            let line = decide(&http, &args.envoy, operator, session, step).await?;
            println!("  {:<18} → {line}", step.tool);
        }
    }
    Ok(())
}

async fn decide(
    http: &reqwest::Client,
    envoy: &str,
    operator: &str,
    session: &str,
    step: &Step,
) -> anyhow::Result<String> {
    let script = json!({"tool": step.tool, "arguments": step.arguments}).to_string();
    let body = json!({
        "model": "demo-model",
        "messages": [
            {"role": "system", "content": "You are an operations agent."},
            {"role": "user", "content": script}
        ]
    });
    let resp = http
        .post(format!("{envoy}/v1/chat/completions"))
        .header("x-llmfw-operator", operator)
        .header("x-llmfw-session", session)
        .json(&body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let decision = header("x-llmfw-decision").unwrap_or_else(|| "allow".to_owned());
    let reasons = header("x-llmfw-reasons");
    let reply: Value = resp.json().await?;
    if status != 200 {
        return Ok(format!(
            "http {status}: {}",
            reply["error"]["message"].as_str().unwrap_or("?")
        ));
    }
    let message = &reply["choices"][0]["message"];
    let passed = message["tool_calls"]
        .as_array()
        .is_some_and(|calls| calls.iter().any(|c| c["function"]["name"] == step.tool));
    Ok(if passed {
        match reasons {
            Some(r) => format!("{decision:<6} tool call passed ({r})"),
            None => format!("{decision:<6} tool call passed"),
        }
    } else {
        format!(
            "{decision:<6} {}",
            message["content"].as_str().unwrap_or("(no content)")
        )
    })
}
