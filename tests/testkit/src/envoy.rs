//! Envoy bootstrap for a private stack (`llmfw replay`, the e2e tests), derived from
//! `envoy/envoy.yaml` (the config `make run` uses, built into this binary) so replays and tests
//! exercise exactly what users run: the same filters in the same order, with free ports, the
//! absolute path of the built module, and the caller's plugin config.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// `envoy/envoy.yaml` as shipped.
pub const ENVOY_YAML: &str = include_str!("../../../envoy/envoy.yaml");

/// Ports and paths of one Envoy instance.
pub struct EnvoyLayout<'a> {
    pub listen_port: u16,
    pub admin_port: u16,
    pub upstream_port: u16,
    pub state_port: u16,
    pub wasm: &'a Path,
}

/// The ports and module path written in `envoy/envoy.yaml`.
const LOCAL_ADMIN: &str = "port_value: 9901 }";
const LOCAL_LISTEN: &str = "port_value: 10000 }";
const LOCAL_UPSTREAM: &str = "port_value: 18080 }";
const LOCAL_STATE: &str = "port_value: 50051 }";
const LOCAL_WASM: &str = "filename: target/wasm32-wasip1/wasm/llmfw_filter.wasm";
const CONFIG_BLOCK: &str = "value: |";

/// Renders `envoy/envoy.yaml` with `layout` and `plugin_config`. Fails if the file no longer has
/// the exact places it rewrites, so the tests cannot silently drift from the shipped config.
pub fn bootstrap(
    layout: &EnvoyLayout<'_>,
    plugin_config: &serde_json::Value,
) -> anyhow::Result<String> {
    render(ENVOY_YAML, "envoy/envoy.yaml", None, layout, plugin_config)
}

/// Like [`bootstrap`] for another config written for the same local ports (the `envoy/examples/`
/// configs): 10000 listener, 9901 admin, 18080 upstream, 50051 state service, the module at
/// `target/wasm32-wasip1/wasm/llmfw_filter.wasm`, one `value: |` plugin config block. Files it
/// names under `envoy/` (e.g. a JWKS) are made absolute against the repository that holds `path`.
pub fn bootstrap_from(
    path: &Path,
    layout: &EnvoyLayout<'_>,
    plugin_config: &serde_json::Value,
) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // the repository root: the parent of the `envoy` directory the file sits in
    let root = path
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "envoy"))
        .and_then(Path::parent);
    render(
        &text,
        &path.display().to_string(),
        root,
        layout,
        plugin_config,
    )
}

fn render(
    text: &str,
    origin: &str,
    root: Option<&Path>,
    layout: &EnvoyLayout<'_>,
    plugin_config: &serde_json::Value,
) -> anyhow::Result<String> {
    let mut out = text.to_owned();
    for (from, to) in [
        (
            LOCAL_ADMIN.to_owned(),
            format!("port_value: {} }}", layout.admin_port),
        ),
        (
            LOCAL_LISTEN.to_owned(),
            format!("port_value: {} }}", layout.listen_port),
        ),
        (
            LOCAL_UPSTREAM.to_owned(),
            format!("port_value: {} }}", layout.upstream_port),
        ),
        (
            LOCAL_STATE.to_owned(),
            format!("port_value: {} }}", layout.state_port),
        ),
        (
            LOCAL_WASM.to_owned(),
            format!("filename: \"{}\"", layout.wasm.display()),
        ),
    ] {
        if out.matches(&from).count() != 1 {
            bail!("{origin} must contain `{from}` exactly once");
        }
        out = out.replacen(&from, &to, 1);
    }
    // Other files the config names relative to the repo root (e.g. a JWKS).
    let out = match root {
        Some(root) => out.replace(
            "filename: envoy/",
            format!("filename: {}/envoy/", root.display()).as_str(),
        ),
        None => out,
    };
    replace_config_block(&out, plugin_config)
        .with_context(|| format!("plugin config block of {origin}"))
}

/// Lines of the one `value: |` block: the key line and the end (exclusive) of its block.
fn config_block(lines: &[&str]) -> anyhow::Result<(usize, usize)> {
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with(CONFIG_BLOCK))
        .map(|(i, _)| i)
        .collect();
    let [start] = starts[..] else {
        bail!(
            "want one `{CONFIG_BLOCK}` plugin config block, found {}",
            starts.len()
        )
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key_indent = indent(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= key_indent)
        .unwrap_or(lines.len());
    Ok((start, end))
}

/// The plugin config JSON written in the one `value: |` block of an Envoy config.
pub fn inline_plugin_config(yaml: &str) -> anyhow::Result<serde_json::Value> {
    let lines: Vec<&str> = yaml.lines().collect();
    let (start, end) = config_block(&lines)?;
    let block = lines[start + 1..end].join("\n");
    serde_json::from_str(&block).context("the plugin config block is not JSON")
}

/// Replaces the block scalar after the one `value: |` line with the JSON of `plugin_config`.
fn replace_config_block(yaml: &str, plugin_config: &serde_json::Value) -> anyhow::Result<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let (start, end) = config_block(&lines)?;
    // A JSON string literal is a valid YAML flow scalar.
    let value = serde_json::Value::String(plugin_config.to_string()).to_string();
    let head = lines[start].trim_end().trim_end_matches('|').trim_end();
    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.push(format!("{head} {value}"));
    out.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    Ok(out.join("\n") + "\n")
}

/// `envoy -c CONFIG` with the flags every private instance needs (one worker, no hot restart,
/// info logs with a compact prefix).
pub fn command(envoy: &Path, config: &Path) -> Command {
    command_at_level(envoy, config, "info")
}

/// Like [`command`] with another log level (`trace`, `debug`, `info`, `warn`, ...).
pub fn command_at_level(envoy: &Path, config: &Path, level: &str) -> Command {
    let mut cmd = Command::new(envoy);
    cmd.arg("-c").arg(config).args([
        "--concurrency",
        "1",
        "--disable-hot-restart",
        "-l",
        level,
        "--log-format",
        "[%Y-%m-%d %T.%e][%l][%n] %v",
    ]);
    cmd
}
