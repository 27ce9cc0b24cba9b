//! `llmfw`: scan corpora with the filter's own core, validate plugin configs, evaluate and replay
//! campaigns.
//!
//! ```text
//! llmfw scan --config FILE --input CASES.jsonl [--as auto|prompt|tool_result|tool_args] \
//!            [--tool NAME --arg KEY] --output OUT.jsonl
//! llmfw check-config FILE
//! llmfw replay --scenarios FILE --policy PLUGIN_CONFIG.json [--state-config FILE] \
//!              [--provider openai-chat|openai-responses|anthropic|mcp] [--stream] \
//!              [--target URL [--admin-url URL]] --out DIR
//! llmfw eval --scenarios FILE --policy PLUGIN_CONFIG.json [--state-config FILE] \
//!            [--ablate COMPONENT]... [--ablations] --out DIR
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use llmfw::{scan_record, ScanAs, Summary};
use llmfw_core::config::Config;

#[derive(Parser)]
#[command(
    name = "llmfw",
    version,
    about = "llmfw: scan texts and tool calls, validate plugin configs, replay campaigns through Envoy"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum As {
    Auto,
    Prompt,
    ToolResult,
    ToolArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Scan JSONL records (`text`, `tool_calls` or `steps`); one decision line per record.
    Scan {
        /// Plugin config JSON (the filter's `configuration`); empty file = defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Input JSONL.
        #[arg(long)]
        input: PathBuf,
        /// How to read `text`.
        #[arg(long = "as", value_enum, default_value = "auto")]
        scan_as: As,
        /// Tool name for `--as tool_args`.
        #[arg(long, default_value = "tool")]
        tool: String,
        /// Argument key for `--as tool_args`.
        #[arg(long, default_value = "input")]
        arg: String,
        /// Output JSONL (`-` for stdout).
        #[arg(long, default_value = "-")]
        output: String,
    },
    /// Validate a plugin config; exit 1 with the field named on error.
    CheckConfig {
        /// Plugin config JSON.
        file: PathBuf,
    },
    /// Replay scenarios as real LLM/MCP traffic through Envoy with the filter and the state
    /// service (a private stack unless --target), scored from what the agent received.
    Replay(llmfw::replay::ReplayArgs),
    /// Replay campaigns natively through the filter's classifier and the campaign engine with
    /// simulated time (no Envoy, no store); write results and metrics.
    Eval(llmfw_eval::EvalArgs),
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let bytes = match path {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => Vec::new(),
    };
    Config::from_json(&bytes).map_err(|e| anyhow::anyhow!("invalid config: {e}"))
}

fn scan(config: &Config, input: &PathBuf, how: &ScanAs, output: &str) -> anyhow::Result<Summary> {
    let reader =
        BufReader::new(File::open(input).with_context(|| format!("opening {}", input.display()))?);
    let mut out: Box<dyn Write> = if output == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(
            File::create(output).with_context(|| format!("creating {output}"))?,
        ))
    };
    let mut summary = Summary::default();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(rec) = serde_json::from_str::<serde_json::Value>(&line) else {
            summary.invalid += 1;
            continue;
        };
        let r = scan_record(config, &rec, how);
        summary.add(&r);
        serde_json::to_writer(&mut out, &r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Replay(args) => llmfw::replay::main(&args).map(|text| println!("{text}")),
        Cmd::Eval(args) => llmfw_eval::main(&args).map(|text| println!("{text}")),
        Cmd::CheckConfig { file } => load_config(Some(&file)).map(|c| {
            eprintln!(
                "ok: {} route(s), detect {}",
                c.routes.routes.len(),
                if c.detect.config().enabled {
                    "on"
                } else {
                    "off"
                }
            );
        }),
        Cmd::Scan {
            config,
            input,
            scan_as,
            tool,
            arg,
            output,
        } => {
            let how = match scan_as {
                As::Auto => ScanAs::Auto,
                As::Prompt => ScanAs::Prompt,
                As::ToolResult => ScanAs::ToolResult,
                As::ToolArgs => ScanAs::ToolArgs { tool, arg },
            };
            load_config(config.as_ref()).and_then(|c| scan(&c, &input, &how, &output)).map(|s| {
                let [allow, warn, approval, block] = s.by_action;
                eprintln!(
                    "scanned {} records ({} invalid lines): allow {allow}, warn {warn}, require_approval {approval}, block {block}",
                    s.records, s.invalid
                );
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llmfw: {e:#}");
            ExitCode::FAILURE
        }
    }
}
