//! The private stack `llmfw replay` starts when no `--target` is given: the state service on a
//! temporary SQLite file (or `--database-url`), the real Envoy with the built module, and the demo
//! upstream in scripted mode, each on a free loopback port. Every process is killed when the
//! stack drops (end of the replay, an error, Ctrl-C or SIGTERM); logs stay in `OUT/stack/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use llmfw_testkit::envoy::{bootstrap, command as envoy_command, EnvoyLayout};
use llmfw_testkit::process::{wait_until, Proc};
use llmfw_testkit::{free_port, tail};

/// The Envoy cluster name of the state service in `envoy/envoy.yaml`.
const STATE_CLUSTER: &str = "llmfw_state";

/// Lowest state-service callout timeout of the private Envoy.
const MIN_TIMEOUT_MS: u64 = 2000;

/// Where the parts come from.
pub struct Parts {
    /// `envoy` binary.
    pub envoy: PathBuf,
    /// `llmfw_filter.wasm`.
    pub wasm: PathBuf,
    /// Directory with `llmfw-state` and `llmfw-demo-upstream`.
    pub bin_dir: PathBuf,
}

impl Parts {
    /// Defaults: binaries next to this one (`target/<profile>/`), the module from `make wasm`
    /// beside them (`target/wasm32-wasip1/wasm/`), Envoy from `LLMFW_ENVOY`, the repository's
    /// `.venv` (`make tools`), or `PATH`.
    pub fn locate(
        envoy: Option<PathBuf>,
        wasm: Option<PathBuf>,
        bin_dir: Option<PathBuf>,
    ) -> anyhow::Result<Parts> {
        let exe = std::env::current_exe().context("locating the llmfw binary")?;
        let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let bin_dir = bin_dir.unwrap_or_else(|| exe_dir.clone());
        let wasm = wasm.unwrap_or_else(|| {
            exe_dir
                .parent()
                .map(|t| t.join("wasm32-wasip1/wasm/llmfw_filter.wasm"))
                .unwrap_or_default()
        });
        let envoy = envoy
            .or_else(|| std::env::var_os("LLMFW_ENVOY").map(PathBuf::from))
            .unwrap_or_else(|| {
                let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/envoy");
                if venv.exists() {
                    venv
                } else {
                    PathBuf::from("envoy")
                }
            });
        for (what, path) in [
            ("the filter module (run `make wasm`)", &wasm),
            (
                "llmfw-state (run `make build`)",
                &bin_dir.join("llmfw-state"),
            ),
            (
                "llmfw-demo-upstream (run `make build`)",
                &bin_dir.join("llmfw-demo-upstream"),
            ),
        ] {
            if !path.exists() {
                bail!("{what} not found at {}", path.display());
            }
        }
        Ok(Parts {
            envoy,
            wasm,
            bin_dir,
        })
    }
}

/// The plugin config as the private Envoy runs it: the user's policy with `replay_clock` on, the
/// state-service cluster pointed at the private service with a callout timeout of at least 2 s,
/// and a route for `path` when no route covers it.
pub fn private_policy(policy: &Value, path: &str, format: &str) -> anyhow::Result<Value> {
    let mut p = policy.clone();
    let Some(obj) = p.as_object_mut() else {
        bail!("the policy must be a JSON object")
    };
    obj.insert("replay_clock".into(), Value::Bool(true));
    if let Some(state) = obj.get_mut("state_service").and_then(Value::as_object_mut) {
        state.insert("cluster".into(), json!(STATE_CLUSTER));
        // A replay measures decisions, not latency: on a loaded machine a short callout timeout
        // would turn into failure-mode decisions. At least 2 s here; the replay still fails if a
        // callout fails.
        let timeout = state.get("timeout_ms").and_then(Value::as_u64).unwrap_or(0);
        state.insert("timeout_ms".into(), json!(timeout.max(MIN_TIMEOUT_MS)));
    }
    let routes = obj
        .entry("routes")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .context("policy routes must be an array")?;
    let covered = routes.iter().any(|r| {
        r.get("path_prefix")
            .and_then(Value::as_str)
            .is_some_and(|pre| path.starts_with(pre))
    });
    if !covered {
        routes.push(json!({"path_prefix": path, "format": format}));
    }
    llmfw_core::config::Config::from_json(p.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    Ok(p)
}

/// A running private stack.
pub struct PrivateStack {
    /// Envoy listener URL.
    pub url: String,
    /// State-service admin URL.
    pub admin_url: String,
    /// Its bearer token.
    pub admin_token: String,
    procs: Vec<Proc>,
}

/// Options of [`PrivateStack::start`].
pub struct StartOptions<'a> {
    /// Parts to run.
    pub parts: &'a Parts,
    /// Directory for logs, configs and the SQLite file.
    pub dir: &'a Path,
    /// Plugin config (already through [`private_policy`]).
    pub policy: &'a Value,
    /// State-service config file.
    pub state_config: Option<&'a Path>,
    /// Store URL; default a SQLite file in `dir`.
    pub database_url: Option<&'a str>,
}

impl PrivateStack {
    /// Starts the three processes and waits until each answers.
    pub async fn start(o: StartOptions<'_>) -> anyhow::Result<PrivateStack> {
        std::fs::create_dir_all(o.dir).with_context(|| format!("creating {}", o.dir.display()))?;
        let ports = [
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
        ];
        let [listen, admin, upstream, state, state_admin] = ports;
        let db_file = o.dir.join("state.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_file.display()));
        }
        let database_url = o
            .database_url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sqlite://{}", db_file.display()));

        let mut procs = Vec::new();
        let mut cmd = Command::new(o.parts.bin_dir.join("llmfw-demo-upstream"));
        cmd.args(["--write-pause-ms", "0", "--listen"])
            .arg(format!("127.0.0.1:{upstream}"));
        procs.push(Proc::spawn(
            "demo upstream",
            cmd,
            &o.dir.join("upstream.log"),
        )?);

        // the admin API answers only with a token: a fresh one for this run
        let token = fresh_token();
        let token_file = o.dir.join("admin-token");
        write_private(&token_file, &token)?;
        let mut cmd = Command::new(o.parts.bin_dir.join("llmfw-state"));
        cmd.arg("--admin-token-file")
            .arg(&token_file)
            .arg("--database-url")
            .arg(&database_url)
            .arg("--listen")
            .arg(format!("127.0.0.1:{state}"))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{state_admin}"))
            // replayed events carry their scenario's time, which may be long past
            .args(["--retention-hours", "0"])
            .env_remove("LLMFW_ADMIN_TOKEN")
            .env("RUST_LOG", "warn");
        if let Some(c) = o.state_config {
            cmd.arg("--state-config").arg(c);
        }
        procs.push(Proc::spawn("state service", cmd, &o.dir.join("state.log"))?);

        let config = o.dir.join("envoy.yaml");
        let layout = EnvoyLayout {
            listen_port: listen,
            admin_port: admin,
            upstream_port: upstream,
            state_port: state,
            wasm: &o.parts.wasm,
        };
        std::fs::write(&config, bootstrap(&layout, o.policy)?)?;
        procs.push(Proc::spawn(
            "envoy",
            envoy_command(&o.parts.envoy, &config),
            &o.dir.join("envoy.log"),
        )?);

        let mut stack = PrivateStack {
            url: format!("http://127.0.0.1:{listen}"),
            admin_url: format!("http://127.0.0.1:{state_admin}"),
            admin_token: token,
            procs,
        };
        let http = reqwest::Client::new();
        for (what, url) in [
            (
                "demo upstream",
                format!("http://127.0.0.1:{upstream}/healthz"),
            ),
            ("state service", format!("{}/readyz", stack.admin_url)),
            ("envoy", format!("http://127.0.0.1:{admin}/ready")),
        ] {
            let up = wait_until(what, Duration::from_secs(30), || {
                let (c, u) = (http.clone(), url.clone());
                async move { c.get(u).send().await.is_ok_and(|r| r.status().is_success()) }
            })
            .await;
            if let Err(e) = up {
                stack.check()?;
                bail!("{e}\n{}", stack.logs());
            }
        }
        Ok(stack)
    }

    /// Fails, naming the process and the end of its log, if a part has exited.
    pub fn check(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            if !p.running() {
                bail!(
                    "{} exited unexpectedly; its log ({}) ends:\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log_text(), 15)
                );
            }
        }
        Ok(())
    }

    /// The end of every log.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| {
                format!(
                    "--- {} ({}) ---\n{}\n",
                    p.name,
                    p.log.display(),
                    tail(&p.log_text(), 20)
                )
            })
            .collect()
    }

    /// Process ids of the parts (for `OUT/stack/pids`).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.procs
            .iter()
            .filter_map(|p| p.pid().map(|id| (p.name.clone(), id)))
            .collect()
    }
}

/// 128 random bits as hex, from the standard library's per-process random hash keys.
fn fresh_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
