//! `llmfw replay`: the campaigns `llmfw eval` scores, sent as real LLM or MCP traffic
//! through Envoy with the filter and the state service, scored from what the agent received.
//!
//! Per scenario, per step: for an LLM provider, a request with the conversation so far (the
//! user's prompt, then every earlier call that went through with its tool result, in the
//! provider's shape) that the scripted upstream answers with the step's call (JSON, or SSE with
//! `--stream`); for MCP, a `tools/call` the scripted server answers with the step's result. The
//! step's action is what the agent experienced: the call arrived (`allow`, or `warn` with the
//! firewall's header or stream comment), it was replaced by a refusal (`require_approval` when the
//! refusal asks for approval, else `block`), the request was refused (`block`), and `redact` when
//! the step's tool result was neutralised. Simulated time goes in `x-llmfw-replay-clock`, which
//! the filter honours only with `replay_clock: true` (the private stack sets it).
//!
//! Campaigns are isolated as in `llmfw eval` (fresh state per campaign): the operator id is
//! sent as `OPERATOR@RUN-SCENARIO`, the session as `SESSION@RUN`. Risk per step (for `risk.svg`
//! and `max_risk`) is read afterwards from the state service's admin API, by request id.

mod output;
mod private;
pub mod traffic;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::ValueEnum;
use llmfw_eval::{self as eval, Labels, Scenario, ScenarioResult};
use serde::Serialize;
use serde_json::Value;

use output::{write_outputs, Progress};
use private::{Parts, PrivateStack, StartOptions};
use traffic::{Next, Seen, Turn};

/// The traffic a replay speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenaiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenaiResponses,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// MCP Streamable HTTP `tools/call` (`/mcp`).
    Mcp,
}

impl Provider {
    /// Path and plugin-config format name.
    fn route(self) -> (&'static str, &'static str) {
        match self {
            Provider::OpenaiChat => ("/v1/chat/completions", "openai_chat"),
            Provider::OpenaiResponses => ("/v1/responses", "openai_responses"),
            Provider::Anthropic => ("/v1/messages", "anthropic"),
            Provider::Mcp => ("/mcp", "mcp"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Provider::OpenaiChat => "openai-chat",
            Provider::OpenaiResponses => "openai-responses",
            Provider::Anthropic => "anthropic",
            Provider::Mcp => "mcp",
        }
    }
}

/// Arguments of `llmfw replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Scenario file: JSONL or the seed's `phase2_dataset.json` (as `llmfw eval`).
    #[arg(long)]
    pub scenarios: PathBuf,
    /// Plugin config (the filter's JSON) for the private Envoy; also classifies steps for
    /// `exfil_allowed`.
    #[arg(long)]
    pub policy: PathBuf,
    /// State-service config for the private state service.
    #[arg(long)]
    pub state_config: Option<PathBuf>,
    /// Traffic to send.
    #[arg(long, value_enum, default_value = "openai-chat")]
    pub provider: Provider,
    /// Ask for streamed (SSE) responses.
    #[arg(long)]
    pub stream: bool,
    /// An Envoy listener that already runs the filter (with `replay_clock: true`); without it a
    /// private stack is started and stopped.
    #[arg(long)]
    pub target: Option<String>,
    /// The state service's admin API, to read risk per step (private stack: its own).
    #[arg(long)]
    pub admin_url: Option<String>,
    /// Bearer token for `--admin-url`, read from this file.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Store for the private state service (default: `OUT/stack/state.db`, a SQLite file made
    /// fresh for each run and left for inspection with the logs).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Output directory (results.jsonl, steps.jsonl, summary.json, summary.md, risk.svg,
    /// rates.svg; stack logs in `stack/`).
    #[arg(long)]
    pub out: PathBuf,
    /// Campaigns replayed at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// `results.jsonl` of `llmfw eval` on the same scenarios: write `comparison.md`.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Envoy binary (default: `LLMFW_ENVOY`, the repository's `.venv`, `PATH`).
    #[arg(long)]
    pub envoy: Option<PathBuf>,
    /// Filter module (default: `target/wasm32-wasip1/wasm/llmfw_filter.wasm` beside this binary).
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// Directory with `llmfw-state` and `llmfw-demo-upstream` (default: this binary's).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// Reason prefix of a decision taken without the state service (its failure mode).
const CALLOUT_FAILED: &str = "state service unavailable";

/// One step of `steps.jsonl`: what was sent (tool name only) and what came back.
#[derive(Debug, Clone, Serialize)]
struct StepRecord {
    scenario: String,
    step: usize,
    tool: String,
    action: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk: Option<f64>,
}

/// Where the traffic goes, and what every campaign shares.
struct Run {
    http: reqwest::Client,
    url: String,
    admin_url: Option<String>,
    admin_token: Option<String>,
    provider: Provider,
    stream: bool,
    tag: String,
    policy: llmfw_core::config::Config,
    steps_done: AtomicUsize,
    /// A private stack: a failed state-service callout invalidates the run.
    private: bool,
    /// Steps decided without the state service (its callout failed).
    callout_failures: AtomicUsize,
}

/// `llmfw replay`: runs, writes the files, returns the summary text.
pub fn main(args: &ReplayArgs) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(replay(args))
}

async fn replay(args: &ReplayArgs) -> anyhow::Result<String> {
    // also fails, before anything starts, on a state config the service would refuse
    let (scenarios, policy_cfg, _) =
        eval::load(&args.scenarios, &args.policy, args.state_config.as_deref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let policy_json: Value = serde_json::from_slice(&std::fs::read(&args.policy)?)
        .with_context(|| format!("{}", args.policy.display()))?;

    let mut stack = None;
    let mut admin_token = match &args.admin_token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let (url, admin_url) = match &args.target {
        Some(t) => (t.trim_end_matches('/').to_owned(), args.admin_url.clone()),
        None => {
            let parts = Parts::locate(args.envoy.clone(), args.wasm.clone(), args.bin_dir.clone())?;
            let (path, format) = args.provider.route();
            let policy = private::private_policy(&policy_json, path, format)?;
            let dir = args.out.join("stack");
            let s = PrivateStack::start(StartOptions {
                parts: &parts,
                dir: &dir,
                policy: &policy,
                state_config: args.state_config.as_deref(),
                database_url: args.database_url.as_deref(),
            })
            .await?;
            let pids: String = s.pids().iter().map(|(n, p)| format!("{p} {n}\n")).collect();
            std::fs::write(dir.join("pids"), pids)?;
            eprintln!(
                "llmfw replay: private stack up (envoy {}, logs in {})",
                s.url,
                dir.display()
            );
            let urls = (s.url.clone(), Some(s.admin_url.clone()));
            admin_token = Some(s.admin_token.clone());
            stack = Some(s);
            urls
        }
    };
    let tag = format!(
        "r{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() % 0xffff_ffff)
            .unwrap_or(0)
    );
    let run = Arc::new(Run {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        url,
        admin_url,
        admin_token,
        provider: args.provider,
        stream: args.stream,
        tag,
        policy: policy_cfg,
        steps_done: AtomicUsize::new(0),
        private: stack.is_some(),
        callout_failures: AtomicUsize::new(0),
    });

    let total_steps: usize = scenarios.iter().map(|(s, _)| s.steps.len()).sum();
    let work = run_all(
        run.clone(),
        &scenarios,
        usize::from(args.concurrency),
        total_steps,
    );
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick() => {
                if let Some(s) = stack.as_mut() {
                    if let Err(e) = s.check() {
                        break Err(e.context(format!(
                            "replay stopped after {} of {total_steps} steps",
                            run.steps_done.load(Ordering::Relaxed)
                        )));
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break Err(anyhow::anyhow!("interrupted (Ctrl-C)")),
            _ = term.recv() => break Err(anyhow::anyhow!("terminated (SIGTERM)")),
        }
    };
    // a part that died during the last steps still fails the run; after failed callouts give a
    // killed part a moment to be reaped (its exit is not instant), so a dead state service is
    // reported as such and not as a run decided by the failure mode
    if let Some(s) = stack.as_mut() {
        if run.callout_failures.load(Ordering::Relaxed) > 0 {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while s.check().is_ok() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        s.check().with_context(|| {
            format!(
                "replay stopped after {} of {total_steps} steps",
                run.steps_done.load(Ordering::Relaxed)
            )
        })?;
    }
    let per_campaign = outcome?;
    drop(stack);
    let mut text = write_outputs(args, &scenarios, per_campaign)?;
    let failed = run.callout_failures.load(Ordering::Relaxed);
    if failed > 0 {
        let line = format!(
            "\n{failed} of {total_steps} steps were decided by the failure mode: the state \
             service callout failed.\n"
        );
        eprint!("llmfw replay: warning: {line}");
        text.push_str(&line);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(args.out.join("summary.md"))?;
        f.write_all(line.as_bytes())?;
    }
    Ok(text)
}

/// What one campaign produced.
struct Campaign {
    result: ScenarioResult,
    steps: Vec<StepRecord>,
    risk: Vec<f64>,
    malicious: bool,
}

async fn run_all(
    run: Arc<Run>,
    scenarios: &[(Scenario, Labels)],
    concurrency: usize,
    total_steps: usize,
) -> anyhow::Result<Vec<Campaign>> {
    let started = Instant::now();
    let progress = Progress::new(scenarios.len(), total_steps);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut set = tokio::task::JoinSet::new();
    for (i, (s, l)) in scenarios.iter().enumerate() {
        let (run, sem, s, l) = (run.clone(), sem.clone(), s.clone(), l.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let c = campaign(&run, &s, &l)
                .await
                .with_context(|| format!("scenario {}", s.id))?;
            anyhow::Ok((i, c))
        });
    }
    let mut out: Vec<Option<Campaign>> = (0..scenarios.len()).map(|_| None).collect();
    let mut done = 0;
    while let Some(joined) = set.join_next().await {
        let (i, c) = joined.context("a campaign task failed")??;
        out[i] = Some(c);
        done += 1;
        progress.show(done, run.steps_done.load(Ordering::Relaxed), started);
    }
    progress.finish(started);
    Ok(out.into_iter().flatten().collect())
}

/// The step's tool result as the tool would return it.
fn tool_result(step: &eval::Step) -> String {
    step.result
        .clone()
        .unwrap_or_else(|| format!("{{\"status\":\"ok\",\"tool\":{:?}}}", step.tool))
}

async fn campaign(run: &Run, s: &Scenario, labels: &Labels) -> anyhow::Result<Campaign> {
    let operator = format!("{}@{}-{}", s.operator, run.tag, s.id);
    let session = format!("{}@{}", s.session, run.tag);
    let mut actions: Vec<&'static str> = Vec::with_capacity(s.steps.len());
    let mut records: Vec<StepRecord> = Vec::with_capacity(s.steps.len());
    let mut history: Vec<(usize, Turn)> = Vec::new();
    let mut redactions_seen = 0;
    let mut pending_result: Option<usize> = None;
    for (k, step) in s.steps.iter().enumerate() {
        let arguments = traffic::arguments_object(&step.arguments);
        let clock = (step.t * 1000.0).round() as i64;
        let request_id = format!("{}#{k}", s.id);
        let (seen, action) = if run.provider == Provider::Mcp {
            let req = traffic::mcp_request(
                run.stream,
                k as u64 + 1,
                &step.tool,
                &arguments,
                &tool_result(step),
            );
            let (status, headers, body) =
                send(run, &req, &operator, &session, clock, &request_id).await?;
            let seen = traffic::read_mcp(status, &headers, &body);
            check_reply(&seen, &body)?;
            let action = seen.mcp_action();
            (seen, action)
        } else {
            let turns: Vec<Turn> = history.iter().map(|(_, t)| t.clone()).collect();
            let next = Next::Call {
                tool: &step.tool,
                arguments: &arguments,
            };
            let req =
                traffic::llm_request(run.provider, run.stream, s.prompt.as_deref(), &turns, &next);
            let (status, headers, body) =
                send(run, &req, &operator, &session, clock, &request_id).await?;
            let seen = traffic::read_llm(run.provider, status, &headers, &body);
            check_reply(&seen, &body)?;
            redactions_seen =
                attribute_redaction(&seen, redactions_seen, pending_result.take(), &mut actions);
            let action = seen.call_action(&step.tool);
            if matches!(action, "allow" | "warn") {
                history.push((
                    k,
                    Turn {
                        id: format!("call_{k}"),
                        tool: step.tool.clone(),
                        arguments: arguments.clone(),
                        result: tool_result(step),
                    },
                ));
                pending_result = Some(k);
            }
            (seen, action)
        };
        if seen.text.contains(CALLOUT_FAILED)
            || seen.reasons.iter().any(|r| r.starts_with(CALLOUT_FAILED))
        {
            if run.private {
                bail!(
                    "step {}: the state service callout failed ({})",
                    k + 1,
                    seen.reasons.join("; ")
                );
            }
            run.callout_failures.fetch_add(1, Ordering::Relaxed);
        }
        actions.push(action);
        records.push(StepRecord {
            scenario: s.id.clone(),
            step: k + 1,
            tool: step.tool.clone(),
            action,
            status: seen.status,
            reasons: seen.reasons.clone(),
            risk: None,
        });
        run.steps_done.fetch_add(1, Ordering::Relaxed);
    }
    // Deliver the last tool result to the model, so its neutralisation is seen too.
    if let Some(k) = pending_result {
        let turns: Vec<Turn> = history.iter().map(|(_, t)| t.clone()).collect();
        let req = traffic::llm_request(
            run.provider,
            run.stream,
            s.prompt.as_deref(),
            &turns,
            &Next::Text,
        );
        let t = s.steps.get(k).map_or(0.0, |st| st.t);
        let request_id = format!("{}#final", s.id);
        let (status, headers, body) = send(
            run,
            &req,
            &operator,
            &session,
            (t * 1000.0).round() as i64,
            &request_id,
        )
        .await?;
        let seen = traffic::read_llm(run.provider, status, &headers, &body);
        check_reply(&seen, &body)?;
        attribute_redaction(&seen, redactions_seen, Some(k), &mut actions);
        if let Some(r) = records.get_mut(k) {
            r.action = actions[k];
        }
    }
    for (r, a) in records.iter_mut().zip(&actions) {
        r.action = a;
    }

    let risks = risk_per_step(run, &operator, &session, s).await?;
    let mut exfil_classified: Vec<bool> = s
        .steps
        .iter()
        .map(|st| {
            let c = llmfw_core::tools::classify(&run.policy, &st.tool, &st.arguments);
            c.phase == llmfw_api::v1::Phase::Exfiltration
                || c.category == llmfw_core::tools::classify::category::EXFILTRATION
        })
        .collect();
    let mut curve = Vec::with_capacity(s.steps.len());
    let mut last = 0.0;
    let mut max_risk = 0.0f64;
    for (k, r) in records.iter_mut().enumerate() {
        if let Some((risk, phase)) = risks.get(&k) {
            r.risk = Some(*risk);
            last = *risk;
            max_risk = max_risk.max(*risk);
            if phase.as_deref() == Some("exfiltration") {
                exfil_classified[k] = true;
            }
        }
        curve.push(last);
    }
    let result = eval::score(s, labels, actions, max_risk, &exfil_classified);
    Ok(Campaign {
        result,
        steps: records,
        risk: curve,
        malicious: labels.malicious,
    })
}

/// Marks the step whose tool result entered the conversation last as `redact` when this reply
/// reports one more neutralised tool result than the replies before. Returns the new count.
fn attribute_redaction(
    seen: &Seen,
    before: usize,
    newest: Option<usize>,
    actions: &mut [&'static str],
) -> usize {
    let now = seen.redactions();
    if now > before {
        if let Some(a) = newest.and_then(|k| actions.get_mut(k)) {
            if eval::action_rank(a) < eval::action_rank("redact") {
                *a = "redact";
            }
        }
    }
    now.max(before)
}

/// An answer the replay cannot score (Envoy or the upstream failed, not the firewall) stops it.
fn check_reply(seen: &Seen, body: &[u8]) -> anyhow::Result<()> {
    let ok = seen.status == 200 || seen.firewall_error.is_some();
    if !ok {
        bail!(
            "unexpected reply, not a firewall decision: {}",
            traffic::describe(seen.status, body)
        );
    }
    Ok(())
}

async fn send(
    run: &Run,
    req: &traffic::Request,
    operator: &str,
    session: &str,
    clock_ms: i64,
    request_id: &str,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
    let id = &run.policy.identity;
    let mut b = run
        .http
        .post(format!("{}{}", run.url, req.path))
        .header("content-type", "application/json")
        .header(id.operator.as_str(), operator)
        .header(id.session.as_str(), session)
        .header(
            llmfw_core::config::REPLAY_CLOCK_HEADER,
            clock_ms.to_string(),
        )
        .header("x-request-id", request_id);
    for (k, v) in &req.headers {
        b = b.header(*k, v.as_str());
    }
    let resp = b
        .body(req.body.to_string())
        .send()
        .await
        .with_context(|| format!("POST {}{}", run.url, req.path))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.context("reading the reply")?.to_vec();
    Ok((status, headers, body))
}

/// Risk and phase per step from the admin API's session view (by request id `SCENARIO#k`).
async fn risk_per_step(
    run: &Run,
    operator: &str,
    session: &str,
    s: &Scenario,
) -> anyhow::Result<std::collections::HashMap<usize, (f64, Option<String>)>> {
    let mut out = std::collections::HashMap::new();
    let Some(admin) = &run.admin_url else {
        return Ok(out);
    };
    let mut url = reqwest::Url::parse(admin).context("--admin-url")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("--admin-url cannot be a base URL"))?
        .extend(["v1", "sessions", session]);
    url.query_pairs_mut()
        .append_pair("operator", operator)
        .append_pair("limit", "1000");
    let mut req = run.http.get(url);
    if let Some(t) = &run.admin_token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .context("reading risk from the admin API")?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        // nothing stored: every step was decided without the state service
        return Ok(out);
    }
    if !resp.status().is_success() {
        bail!("admin API answered {} for session {session}", resp.status());
    }
    let v: Value = resp.json().await?;
    let prefix = format!("{}#", s.id);
    for e in v["events"].as_array().into_iter().flatten() {
        let Some(k) = e["request_id"]
            .as_str()
            .and_then(|r| r.strip_prefix(&prefix))
            .and_then(|k| k.parse::<usize>().ok())
        else {
            continue;
        };
        let risk = e["risk"].as_f64().unwrap_or(0.0);
        let phase = e["phase"].as_str().map(str::to_owned);
        let entry = out.entry(k).or_insert((risk, phase.clone()));
        if risk > entry.0 {
            *entry = (risk, phase);
        }
    }
    Ok(out)
}
