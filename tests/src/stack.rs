//! One e2e stack: demo upstream + state service (SQLite file or a fresh PostgreSQL database, or
//! none) + Envoy with the llmfw filter, each on free loopback ports.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::paths::{envoy_bin, free_port, repo_root, scratch_dir, wasm_module, workspace_bin};
use crate::pg::TestDb;
use llmfw_testkit::envoy::{bootstrap_from, EnvoyLayout};
use llmfw_testkit::process::{wait_until, Proc};
pub use llmfw_testkit::tail;

/// Which store the state service runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

pub struct StackOptions {
    pub label: String,
    /// The filter's plugin config; `state_service.cluster` should be `llmfw_state`.
    pub plugin_config: Value,
    /// `None`: no state service process at all (its port stays closed).
    pub store: Option<Store>,
    /// Use this port for the state-service cluster (e.g. a listener the test already holds, so
    /// no other process can take the number in between); default: a free port.
    pub state_port: Option<u16>,
}

impl StackOptions {
    /// A stack with the default plugin config plus `tools.deny` and `failure_mode`.
    pub fn new(label: &str, store: Option<Store>) -> StackOptions {
        StackOptions {
            label: label.to_owned(),
            plugin_config: default_plugin_config("closed", &[]),
            store,
            state_port: None,
        }
    }
}

/// The plugin config used by the e2e tests.
pub fn default_plugin_config(failure_mode: &str, deny: &[&str]) -> Value {
    json!({
        "routes": [{"path_prefix": "/v1/chat/completions", "format": "openai_chat"}],
        "identity": {"operator_header": "x-llmfw-operator", "session_header": "x-llmfw-session", "tenant_header": "x-llmfw-tenant"},
        "state_service": {"cluster": "llmfw_state", "timeout_ms": 500, "failure_mode": failure_mode},
        "tools": {"deny": deny}
    })
}

/// The admin API token every stack's state service runs with (see [`Stack::admin_get`]).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";

/// A raw reply.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.bytes).with_context(|| {
            format!(
                "reply is not JSON (status {}): {}",
                self.status,
                self.text()
            )
        })
    }
    /// SSE events as (event name, data JSON) — comments and `[DONE]` skipped; `done` tells
    /// whether `[DONE]` was seen.
    pub fn sse(&self) -> (Vec<(String, Value)>, bool) {
        let text = self.text().replace("\r\n", "\n");
        let mut out = Vec::new();
        let mut done = false;
        for block in text.split("\n\n") {
            let mut name = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
            if data.is_empty() {
                continue;
            }
            let data = data.join("\n");
            if data.trim() == "[DONE]" {
                done = true;
                continue;
            }
            if let Ok(v) = serde_json::from_str(&data) {
                out.push((name, v));
            }
        }
        (out, done)
    }
}

/// What the agent got back for one chat completion.
#[derive(Debug)]
pub struct ChatReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl ChatReply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    /// The first choice's message.
    pub fn message(&self) -> &Value {
        &self.body["choices"][0]["message"]
    }
    /// Names of the tool calls the agent would execute.
    pub fn tool_names(&self) -> Vec<String> {
        self.message()["tool_calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["function"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// The assistant's text (the refusal when a call was blocked).
    pub fn content(&self) -> String {
        self.message()["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// An upstream server started in place of the demo upstream (see [`Stack::start_with_upstream`]).
pub struct UpstreamServer {
    /// Process name in logs.
    pub name: String,
    /// The command that starts it listening on 127.0.0.1 at the given port.
    pub command: Box<dyn Fn(u16) -> Command + Send + Sync>,
    /// Path of a GET that answers once it is up (any status).
    pub ready_path: String,
}

pub struct Stack {
    pub dir: PathBuf,
    pub envoy: Proc,
    pub upstream: Proc,
    pub state: Option<Proc>,
    pub listen_port: u16,
    pub admin_port: u16,
    pub upstream_port: u16,
    pub state_port: u16,
    pub state_admin_port: u16,
    pub database_url: Option<String>,
    /// Extra flags [`Stack::start_state`] passes to `llmfw-state` (e.g. `--tls-cert …`).
    pub state_args: Vec<std::ffi::OsString>,
    /// `RUST_LOG` of the state service (`info` unless started by [`Stack::start_at_log_level`]).
    state_log_level: String,
    _db: Option<TestDb>,
    http: reqwest::Client,
}

impl Stack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        Stack::start_with_envoy_config(opts, &repo_root().join("envoy/envoy.yaml")).await
    }

    /// Like [`Stack::start`] with another Envoy config written for the local ports of
    /// `envoy/envoy.yaml` (e.g. one of `envoy/examples/*/envoy.yaml`).
    pub async fn start_with_envoy_config(
        opts: StackOptions,
        envoy_yaml: &std::path::Path,
    ) -> anyhow::Result<Stack> {
        Stack::start_inner(opts, envoy_yaml, "info").await
    }

    /// Like [`Stack::start`] with Envoy at log level `level` (e.g. `debug`) and the state service
    /// at `RUST_LOG=level` (the log-hygiene test reads everything they print).
    pub async fn start_at_log_level(opts: StackOptions, level: &str) -> anyhow::Result<Stack> {
        Stack::start_inner(opts, &repo_root().join("envoy/envoy.yaml"), level).await
    }

    async fn start_inner(
        opts: StackOptions,
        envoy_yaml: &std::path::Path,
        level: &str,
    ) -> anyhow::Result<Stack> {
        Stack::start_full(opts, envoy_yaml, level, None).await
    }

    /// Like [`Stack::start`] with another upstream server in place of the demo upstream:
    /// `upstream.command(port)` starts it on the given port, and it is up once `GET
    /// upstream.ready_path` gets any HTTP answer.
    pub async fn start_with_upstream(
        opts: StackOptions,
        upstream: UpstreamServer,
    ) -> anyhow::Result<Stack> {
        Stack::start_full(
            opts,
            &repo_root().join("envoy/envoy.yaml"),
            "info",
            Some(upstream),
        )
        .await
    }

    async fn start_full(
        opts: StackOptions,
        envoy_yaml: &std::path::Path,
        level: &str,
        custom: Option<UpstreamServer>,
    ) -> anyhow::Result<Stack> {
        let dir = scratch_dir(&opts.label)?;
        let wasm = wasm_module();
        if !wasm.exists() {
            bail!(
                "{} is missing: run `make wasm` (make test does)",
                wasm.display()
            );
        }
        let (listen_port, admin_port, upstream_port) = (free_port()?, free_port()?, free_port()?);
        let state_port = match opts.state_port {
            Some(p) => p,
            None => free_port()?,
        };
        let state_admin_port = free_port()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?;

        let (upstream, upstream_ready) = match &custom {
            None => {
                let mut cmd = Command::new(workspace_bin("llmfw-demo-upstream"));
                cmd.arg("--listen")
                    .arg(format!("127.0.0.1:{upstream_port}"));
                let proc = Proc::spawn("demo-upstream", cmd, &dir.join("upstream.log"))?;
                (proc, "/healthz".to_owned())
            }
            Some(server) => {
                let proc = Proc::spawn(
                    &server.name,
                    (server.command)(upstream_port),
                    &dir.join("upstream.log"),
                )?;
                (proc, server.ready_path.clone())
            }
        };
        let any_answer = custom.is_some();

        let (db, database_url) = match opts.store {
            None => (None, None),
            Some(Store::Sqlite) => (
                None,
                Some(format!("sqlite://{}", dir.join("state.db").display())),
            ),
            Some(Store::Postgres) => {
                let db = TestDb::create(&opts.label).await?;
                let url = db.url.clone();
                (Some(db), Some(url))
            }
        };
        let config_path = dir.join("envoy.yaml");
        let layout = EnvoyLayout {
            listen_port,
            admin_port,
            upstream_port,
            state_port,
            wasm: &wasm,
        };
        std::fs::write(
            &config_path,
            bootstrap_from(envoy_yaml, &layout, &opts.plugin_config)?,
        )?;
        let envoy = Proc::spawn(
            "envoy",
            llmfw_testkit::envoy::command_at_level(&envoy_bin(), &config_path, level),
            &dir.join("envoy.log"),
        )?;

        let mut stack = Stack {
            dir,
            envoy,
            upstream,
            state: None,
            listen_port,
            admin_port,
            upstream_port,
            state_port,
            state_admin_port,
            database_url,
            state_args: Vec::new(),
            state_log_level: level.to_owned(),
            _db: db,
            http,
        };
        if stack.database_url.is_some() {
            stack.start_state().await?;
        }
        let client = stack.http.clone();
        let upstream_url = format!("http://127.0.0.1:{upstream_port}{upstream_ready}");
        let up = wait_until("upstream", Duration::from_secs(30), || {
            let (c, u) = (client.clone(), upstream_url.clone());
            async move {
                c.get(u)
                    .send()
                    .await
                    .map(|r| any_answer || r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        if let Err(e) = up {
            bail!(
                "{e}\n--- upstream log ---\n{}",
                tail(&stack.upstream.log_text(), 60)
            );
        }
        let ready = format!("http://127.0.0.1:{admin_port}/ready");
        let envoy_up = wait_until("envoy", Duration::from_secs(30), || {
            let (c, u) = (client.clone(), ready.clone());
            async move {
                c.get(u)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        if let Err(e) = envoy_up {
            bail!(
                "{e}\n--- envoy log ---\n{}",
                tail(&stack.envoy.log_text(), 60)
            );
        }
        Ok(stack)
    }

    /// Starts (or restarts) the state service on the same database and ports.
    pub async fn start_state(&mut self) -> anyhow::Result<()> {
        let Some(url) = self.database_url.clone() else {
            bail!("this stack has no store")
        };
        let mut cmd = Command::new(workspace_bin("llmfw-state"));
        cmd.arg("--database-url")
            .arg(&url)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.state_port))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{}", self.state_admin_port))
            .args(&self.state_args)
            .env("LLMFW_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", &self.state_log_level);
        let proc = Proc::spawn("llmfw-state", cmd, &self.dir.join("state.log"))?;
        self.state = Some(proc);
        let client = self.http.clone();
        let ready = format!("http://127.0.0.1:{}/readyz", self.state_admin_port);
        let up = wait_until("state service", Duration::from_secs(30), || {
            let (c, u) = (client.clone(), ready.clone());
            async move {
                c.get(u)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        if let Err(e) = up {
            let log = self.state.as_ref().map(Proc::log_text).unwrap_or_default();
            bail!("{e}\n--- state log ---\n{}", tail(&log, 60));
        }
        Ok(())
    }

    /// Stops the state service (SIGTERM, then SIGKILL).
    pub fn stop_state(&mut self) {
        if let Some(mut p) = self.state.take() {
            p.stop(Duration::from_secs(5));
        }
    }

    /// Kills the state service without warning (SIGKILL).
    pub fn kill_state(&mut self) {
        if let Some(mut p) = self.state.take() {
            p.kill();
        }
    }

    /// Sends one chat completion through Envoy as `operator`/`session` with `user_text` as the
    /// last user message (the demo upstream turns a JSON `{"tool",...}` message into a tool call).
    pub async fn chat(
        &self,
        operator: &str,
        session: &str,
        user_text: &str,
    ) -> anyhow::Result<ChatReply> {
        let body = json!({
            "model": "demo-model",
            "messages": [
                {"role": "system", "content": "You are an operations agent."},
                {"role": "user", "content": user_text}
            ],
            "tools": [{"type": "function", "function": {"name": "any", "parameters": {"type": "object"}}}]
        });
        self.post_raw(operator, session, body.to_string().into_bytes())
            .await
    }

    /// Asks the demo upstream to propose `tool(arguments)`.
    pub async fn propose(
        &self,
        operator: &str,
        session: &str,
        tool: &str,
        arguments: Value,
    ) -> anyhow::Result<ChatReply> {
        self.chat(
            operator,
            session,
            &json!({"tool": tool, "arguments": arguments}).to_string(),
        )
        .await
    }

    /// Posts raw bytes to the chat completions route.
    pub async fn post_raw(
        &self,
        operator: &str,
        session: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<ChatReply> {
        let resp = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/v1/chat/completions",
                self.listen_port
            ))
            .header("content-type", "application/json")
            .header("x-llmfw-operator", operator)
            .header("x-llmfw-session", session)
            .header("x-llmfw-tenant", "e2e")
            .body(body)
            .send()
            .await
            .context("request through envoy")?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "reply is not JSON (status {status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        Ok(ChatReply {
            status,
            headers,
            body,
        })
    }

    /// Posts a JSON body to any path through Envoy with the identity headers and `extra`
    /// headers; returns the raw reply (streams are read to the end).
    pub async fn send(
        &self,
        path: &str,
        operator: &str,
        session: &str,
        extra: &[(&str, &str)],
        body: &Value,
    ) -> anyhow::Result<RawReply> {
        let mut req = self
            .http
            .post(format!("http://127.0.0.1:{}{path}", self.listen_port))
            .header("content-type", "application/json")
            .header("x-llmfw-operator", operator)
            .header("x-llmfw-session", session)
            .header("x-llmfw-tenant", "e2e");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = req
            .body(body.to_string())
            .send()
            .await
            .context("request through envoy")?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?.to_vec();
        Ok(RawReply {
            status,
            headers,
            bytes,
        })
    }

    /// GET on the state service's admin API (`/v1/...`) with [`ADMIN_TOKEN`]; the JSON answer.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.state_admin_port))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("GET {path}: {text}"))
    }

    /// POSTs `body` to `path` through Envoy with exactly the headers given (no identity headers).
    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> anyhow::Result<RawReply> {
        let mut req = self
            .http
            .post(format!("http://127.0.0.1:{}{path}", self.listen_port))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body.to_string()).send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?.to_vec();
        Ok(RawReply {
            status,
            headers,
            bytes,
        })
    }

    /// POSTs raw `body` bytes to `path` through Envoy with exactly the headers given (nothing
    /// added, not even `content-type`); the raw reply, streams read to the end.
    pub async fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<RawReply> {
        let mut req = self
            .http
            .post(format!("http://127.0.0.1:{}{path}", self.listen_port));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .context("request through envoy")?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?.to_vec();
        Ok(RawReply {
            status,
            headers,
            bytes,
        })
    }

    /// Every log file this stack's processes wrote: (process name, text).
    pub fn log_files(&self) -> Vec<(String, String)> {
        [Some(&self.envoy), Some(&self.upstream), self.state.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| (p.name.clone(), p.log_text()))
            .collect()
    }

    /// The demo upstream's `/stats` (per-endpoint counters).
    pub async fn upstream_stats(&self) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!("http://127.0.0.1:{}/stats", self.upstream_port))
            .send()
            .await?;
        Ok(resp.json().await?)
    }

    /// A counter from Envoy's `/stats` (e.g. `wasmcustom.llmfw.decision.block`); 0 if absent.
    pub async fn envoy_counter(&self, name: &str) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(format!(
                "http://127.0.0.1:{}/stats?filter={name}",
                self.admin_port
            ))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Polls [`Stack::envoy_counter`] until it reaches `min` or `wait` passes, and returns the last
    /// value read. Envoy counts a streamed exchange's decision when the stream ends, which can be
    /// after the client has read everything it needed.
    pub async fn envoy_counter_at_least(
        &self,
        name: &str,
        min: u64,
        wait: Duration,
    ) -> anyhow::Result<u64> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let value = self.envoy_counter(name).await?;
            if value >= min || std::time::Instant::now() >= deadline {
                return Ok(value);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Envoy's `/ready` answers 200.
    pub async fn envoy_ready(&self) -> bool {
        let url = format!("http://127.0.0.1:{}/ready", self.admin_port);
        self.http
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    }

    /// All logs of this stack, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in [Some(&self.envoy), Some(&self.upstream), self.state.as_ref()]
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "--- {} ({}) ---\n{}\n",
                p.name,
                p.log.display(),
                tail(&p.log_text(), 80)
            ));
        }
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        } else {
            self.envoy.kill();
            self.upstream.kill();
            self.kill_state();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `envoy -c CONFIG` with the flags every test instance needs.
pub fn envoy_command(config: &std::path::Path) -> Command {
    llmfw_testkit::envoy::command(&envoy_bin(), config)
}
