//! Loopback soak (`make soak`, not part of `make test`): the real stack under steady mixed traffic
//! for `SOAK_SECONDS` (default 600) at `SOAK_RPS` slots/s (default 40; a slot is one request, or
//! the three requests of a campaign), on SQLite or (`SOAK_STORE=postgres`) PostgreSQL.
//!
//! Traffic, by request number: benign tool calls (JSON and streamed), text-only chats (no
//! callout), 64 KB agent transcripts whose last tool result is new (the scan cache fills to its
//! budget), deny-listed tools (refused statelessly) and three-step campaigns (nmap → exploit →
//! data export on one host, each by a fresh operator; the export is blocked). Checked: every reply
//! is what its kind expects (no unexpected error); Envoy's and the state service's RSS, sampled
//! every `SOAK_SAMPLE_SECONDS` (default 10), do not grow after warm-up (the filter's per-VM wasm
//! memory gauges are sampled and summarised too); the events stored (admin
//! API, summed over operators) equal the tool calls the state service decided, and Envoy's
//! callouts equal the service's evaluations with no callout failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmfw_tests::stack::default_plugin_config;
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    errors: AtomicU64,
    /// Tool calls the state service decided (each one stored event).
    decided_events: AtomicU64,
    /// HTTP requests through Envoy (a campaign slot sends three).
    http: AtomicU64,
}

fn request(user: &str, stream: bool) -> Value {
    json!({
        "model": "demo-model",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are an operations agent."},
            {"role": "user", "content": user}
        ]
    })
}

const PROSE: &str = "The quarterly report summarises revenue by region, the open incidents of the \
    platform team and the migration plan for the billing database. Each section lists owners, \
    deadlines and the risks the team sees for the next quarter. ";

fn prose(n: usize) -> String {
    PROSE.repeat(n / PROSE.len() + 1)[..n].to_owned()
}

/// About 64 KB: system prompt, user message, 20 tool calls and results (the shape of
/// `scripts/bench.sh`'s transcript); the last result is new to this request.
fn transcript(w: usize, i: u64) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": prose(2000)}),
        json!({"role": "user", "content": prose(600)}),
    ];
    for n in 0..20 {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{n}"), "type": "function",
            "function": {"name": "search_docs", "arguments": json!({"query": format!("incident {n}")}).to_string()}}]}));
        let content = if n == 19 {
            format!("turn w{w}-{i} {}", prose(2880))
        } else {
            prose(2900)
        };
        messages
            .push(json!({"role": "tool", "tool_call_id": format!("call_{n}"), "content": content}));
    }
    json!({"model": "demo-model", "messages": messages})
}

/// The filter's per-VM wasm memory gauges (`wasmcustom.llmfw.vm.<n>.memory_bytes`), by VM.
async fn wasm_memory(stack: &Stack) -> Vec<(u32, u64)> {
    let text = match reqwest::get(format!(
        "http://127.0.0.1:{}/stats?filter=memory_bytes",
        stack.admin_port
    ))
    .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<(u32, u64)> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            let vm = k
                .strip_prefix("wasmcustom.llmfw.vm.")?
                .strip_suffix(".memory_bytes")?;
            Some((vm.parse().ok()?, v.trim().parse().ok()?))
        })
        .collect();
    out.sort_unstable();
    out
}

fn tool(name: &str, args: Value) -> String {
    json!({"tool": name, "arguments": args}).to_string()
}

/// Sends request `i` of worker `w`; returns whether the reply was what its kind expects and how
/// many events the state service decided for it.
async fn one(stack: &Stack, w: usize, i: u64) -> Result<u64, String> {
    let kind = i % 10;
    let session = format!("w{w}-{i}");
    let op = format!("soak-{w}");
    match kind {
        0..=3 => {
            let r = stack
                .send(
                    "/v1/chat/completions",
                    &op,
                    &session,
                    &[],
                    &request(&tool("get_weather", json!({"city": "Berlin"})), false),
                )
                .await
                .map_err(|e| e.to_string())?;
            let v = r.json().map_err(|e| e.to_string())?;
            let name = &v["choices"][0]["message"]["tool_calls"][0]["function"]["name"];
            if r.status == 200 && name == "get_weather" && r.header("x-llmfw-decision").is_none() {
                Ok(1)
            } else {
                Err(format!(
                    "benign: {} {:?} {v}",
                    r.status,
                    r.header("x-llmfw-decision")
                ))
            }
        }
        4 => {
            let r = stack
                .send(
                    "/v1/chat/completions",
                    &op,
                    &session,
                    &[],
                    &request(
                        &tool("read_file", json!({"path": "/srv/app/README.md"})),
                        true,
                    ),
                )
                .await
                .map_err(|e| e.to_string())?;
            let text = r.text();
            let (events, done) = r.sse();
            let called = events.iter().any(|(_, e)| {
                e["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "read_file"
            });
            if r.status == 200 && done && called && !text.contains("llmfw decision=") {
                Ok(1)
            } else {
                Err(format!("stream: {} {text}", r.status))
            }
        }
        6 => {
            // an agent loop's 64 KB transcript: the history resent, the last tool result new
            let r = stack
                .send(
                    "/v1/chat/completions",
                    &op,
                    &session,
                    &[],
                    &transcript(w, i),
                )
                .await
                .map_err(|e| e.to_string())?;
            let v = r.json().map_err(|e| e.to_string())?;
            if r.status == 200 && v["choices"][0]["message"]["content"].is_string() {
                Ok(0)
            } else {
                Err(format!("transcript: {} {v}", r.status))
            }
        }
        5 => {
            let r = stack
                .send(
                    "/v1/chat/completions",
                    &op,
                    &session,
                    &[],
                    &request("Summarise the deployment notes.", false),
                )
                .await
                .map_err(|e| e.to_string())?;
            let v = r.json().map_err(|e| e.to_string())?;
            if r.status == 200 && v["choices"][0]["message"]["content"].is_string() {
                Ok(0)
            } else {
                Err(format!("text: {} {v}", r.status))
            }
        }
        7 => {
            let r = stack
                .send(
                    "/v1/chat/completions",
                    &op,
                    &session,
                    &[],
                    &request(
                        &tool("delete_repository", json!({"repo": "acme/app"})),
                        false,
                    ),
                )
                .await
                .map_err(|e| e.to_string())?;
            let v = r.json().map_err(|e| e.to_string())?;
            let content = v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default();
            if r.status == 200
                && r.header("x-llmfw-decision").as_deref() == Some("block")
                && content.contains("deny-listed")
            {
                Ok(0)
            } else {
                Err(format!("deny: {} {v}", r.status))
            }
        }
        _ => {
            // a campaign by a fresh operator, all three steps in one go
            let op = format!("camp-{w}-{i}");
            let host = format!("h{w}-{i}.corp.example.com");
            let steps = [
                ("nmap", json!({"target": host})),
                (
                    "exploit_framework",
                    json!({"target": host, "module": "cve-2024-0001"}),
                ),
                ("data_export", json!({"target": host, "dest": "s3://drop"})),
            ];
            for (n, (name, args)) in steps.into_iter().enumerate() {
                let r = stack
                    .send(
                        "/v1/chat/completions",
                        &op,
                        &session,
                        &[],
                        &request(&tool(name, args), false),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let v = r.json().map_err(|e| e.to_string())?;
                let passed =
                    v["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == name;
                let decision = r.header("x-llmfw-decision");
                let reasons = r.header("x-llmfw-reasons").unwrap_or_default();
                let ok = match n {
                    0 => passed && decision.is_none(),
                    1 => passed,
                    _ => {
                        !passed
                            && decision.as_deref() == Some("block")
                            && reasons.contains("kill chain")
                    }
                };
                if r.status != 200 || !ok || reasons.contains("unavailable") {
                    return Err(format!(
                        "campaign step {name}: {} {decision:?} {reasons} {v}",
                        r.status
                    ));
                }
            }
            Ok(3)
        }
    }
}

async fn stored_events(stack: &Stack) -> u64 {
    let mut total = 0;
    for page in 0.. {
        let v = stack
            .admin_get(&format!("/v1/operators?limit=1000&offset={}", page * 1000))
            .await
            .unwrap();
        let ops = v["operators"].as_array().cloned().unwrap_or_default();
        total += ops
            .iter()
            .map(|o| o["events"].as_u64().unwrap_or(0))
            .sum::<u64>();
        if ops.len() < 1000 {
            break;
        }
    }
    total
}

async fn state_metric(stack: &Stack, name: &str) -> u64 {
    let text = reqwest::get(format!(
        "http://127.0.0.1:{}/metrics",
        stack.state_admin_port
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: run with make soak"]
async fn soak() {
    let seconds = env_u64("SOAK_SECONDS", 600);
    let rps = env_u64("SOAK_RPS", 40).max(1);
    let sample_every = Duration::from_secs(env_u64("SOAK_SAMPLE_SECONDS", 10).max(1));
    let workers = 8usize;
    let store = match std::env::var("SOAK_STORE").as_deref() {
        Ok("postgres") => Store::Postgres,
        _ => Store::Sqlite,
    };
    let stack = Arc::new(
        Stack::start(StackOptions {
            label: "soak".to_owned(),
            plugin_config: default_plugin_config("closed", &["delete_*"]),
            store: Some(store),
            state_port: None,
        })
        .await
        .unwrap(),
    );
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let first_errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    // each worker sends every `workers / rps` seconds (a campaign counts as one slot)
    let interval = Duration::from_secs_f64(workers as f64 / rps as f64);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (stack, counts, stop, errs) = (
            stack.clone(),
            counts.clone(),
            stop.clone(),
            first_errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + interval.mul_f64(w as f64 / workers as f64),
                interval,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = w as u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                counts.sent.fetch_add(1, Ordering::Relaxed);
                let http = if i % 10 == 9 { 3 } else { 1 };
                counts.http.fetch_add(http, Ordering::Relaxed);
                match one(&stack, w, i).await {
                    Ok(n) => {
                        counts.decided_events.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        let mut errs = errs.lock().unwrap();
                        if errs.len() < 10 {
                            errs.push(e);
                        }
                    }
                }
                i += 1;
            }
        }));
    }
    let state_pid = stack.state.as_ref().and_then(|p| p.pid());
    let envoy_pid = stack.envoy.pid();
    let mut samples: Vec<(u64, u64, u64, u64)> = Vec::new(); // (s, sent, envoy KiB, state KiB)
    let mut wasm_samples: Vec<Vec<(u32, u64)>> = Vec::new(); // per sample: (vm, bytes)
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(
            sample_every.min(Duration::from_secs(seconds).saturating_sub(started.elapsed())),
        )
        .await;
        let s = (
            started.elapsed().as_secs(),
            counts.sent.load(Ordering::Relaxed),
            rss_kib(envoy_pid),
            rss_kib(state_pid),
        );
        let wasm = wasm_memory(&stack).await;
        eprintln!(
            "soak t={:>4}s sent={:>6} envoy_rss={:>6} KiB state_rss={:>6} KiB wasm_memory={}",
            s.0,
            s.1,
            s.2,
            s.3,
            wasm.iter()
                .map(|(vm, b)| format!("vm{vm}:{}KiB", b / 1024))
                .collect::<Vec<_>>()
                .join(",")
        );
        samples.push(s);
        wasm_samples.push(wasm);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = counts.sent.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    let decided = counts.decided_events.load(Ordering::Relaxed);
    let stored = stored_events(&stack).await;
    let callouts = stack
        .envoy_counter("wasmcustom.llmfw.callout.sent")
        .await
        .unwrap();
    let failures = stack
        .envoy_counter("wasmcustom.llmfw.callout.failure")
        .await
        .unwrap();
    let evaluations = state_metric(&stack, "llmfw_state_evaluations_total").await;

    // RSS: median of the second fifth (after warm-up) vs median of the last fifth
    let n = samples.len();
    let window = |a: usize, b: usize, f: fn(&(u64, u64, u64, u64)) -> u64| {
        median(
            samples[a.min(n.saturating_sub(1))..b.clamp(a.min(n.saturating_sub(1)) + 1, n)]
                .iter()
                .map(f)
                .collect(),
        )
    };
    let (early_a, early_b, late_a) = (n / 5, (2 * n / 5).max(n / 5 + 1), n - (n / 5).max(1));
    let envoy = (
        window(early_a, early_b, |s| s.2),
        window(late_a, n, |s| s.2),
    );
    let state = (
        window(early_a, early_b, |s| s.3),
        window(late_a, n, |s| s.3),
    );
    // wasm linear memory per VM: first sample, last sample, max
    let mut wasm_vms: Vec<u32> = wasm_samples.iter().flatten().map(|(vm, _)| *vm).collect();
    wasm_vms.sort_unstable();
    wasm_vms.dedup();
    let of = |sample: Option<&Vec<(u32, u64)>>, vm: u32| {
        sample
            .and_then(|s| s.iter().find(|(v, _)| *v == vm))
            .map_or(0, |(_, b)| *b)
    };
    let wasm_memory: serde_json::Map<String, Value> = wasm_vms
        .iter()
        .map(|&vm| {
            let max = wasm_samples.iter().map(|s| of(Some(s), vm)).max();
            (
                format!("vm{vm}"),
                json!({"first": of(wasm_samples.first(), vm), "last": of(wasm_samples.last(), vm), "max": max}),
            )
        })
        .collect();
    let summary = json!({
        "seconds": elapsed.round(),
        "store": format!("{store:?}").to_lowercase(),
        "slots": sent,
        "http_requests": counts.http.load(Ordering::Relaxed),
        "http_rps": (counts.http.load(Ordering::Relaxed) as f64 / elapsed * 10.0).round() / 10.0,
        "unexpected": errors,
        "decided_events": decided,
        "stored_events": stored,
        "callouts": callouts,
        "callout_failures": failures,
        "evaluations": evaluations,
        "envoy_rss_kib": {"after_warmup": envoy.0, "end": envoy.1, "max": samples.iter().map(|s| s.2).max()},
        "state_rss_kib": {"after_warmup": state.0, "end": state.1, "max": samples.iter().map(|s| s.3).max()},
        "wasm_memory_bytes": wasm_memory,
    });
    eprintln!("soak summary: {summary}");
    let out = llmfw_tests::paths::repo_root().join("target/soak");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.json"), format!("{summary:#}\n")).unwrap();

    assert_eq!(
        errors,
        0,
        "unexpected replies: {:#?}",
        first_errors.lock().unwrap()
    );
    assert_eq!(
        stored, decided,
        "events stored vs tool calls the state service decided"
    );
    assert_eq!(failures, 0, "callout failures");
    assert_eq!(
        callouts, evaluations,
        "Envoy callouts vs state-service evaluations"
    );
    for (name, (early, end)) in [("envoy", envoy), ("state service", state)] {
        let allowed = (early / 10).max(10 * 1024);
        assert!(
            end <= early + allowed,
            "{name} RSS grew from {early} KiB to {end} KiB (allowed +{allowed} KiB)"
        );
    }
}
