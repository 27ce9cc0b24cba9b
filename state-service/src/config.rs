//! Command line and environment configuration.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::engine::EngineConfig;

/// `llmfw-state`: the llmfw state service.
#[derive(Debug, Parser)]
#[command(
    name = "llmfw-state",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve`, accepted without the subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC and admin HTTP (the default).
    Serve(ServeArgs),
    /// Drive the gRPC API with concurrent clients; print events/s and latency percentiles.
    Bench(crate::bench::BenchArgs),
    /// Replay campaigns through the classifier and the engine; write results and metrics.
    Eval(crate::eval::EvalArgs),
}

impl Cli {
    /// The serve arguments, whether given with or without the subcommand.
    pub fn serve_args(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => args,
            _ => self.serve,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable key=value lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Store: `sqlite://PATH` (created if missing) or `postgres://…` / `postgresql://…`.
    #[arg(
        long,
        env = "LLMFW_DATABASE_URL",
        default_value = "sqlite://llmfw-state.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// gRPC listen address (HTTP/2 plaintext).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Admin HTTP listen address (/healthz, /readyz, /metrics).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// Log format on stderr: `text` (key=value) or `json`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Engine configuration file (JSON: authorisations, budgets, thresholds; see
    /// docs/config-reference.md). Without it: defaults, no authorisations.
    #[arg(long, env = "LLMFW_STATE_CONFIG")]
    pub state_config: Option<std::path::PathBuf>,
    /// Risk at or above which an event is blocked (overrides the file).
    #[arg(long)]
    pub block_threshold: Option<f64>,
    /// Risk at or above which an event needs approval (overrides the file).
    #[arg(long)]
    pub approval_threshold: Option<f64>,
    /// Risk at or above which an event is flagged (overrides the file).
    #[arg(long)]
    pub warn_threshold: Option<f64>,
}

impl ServeArgs {
    /// The engine configuration these flags (and `--state-config`) describe, validated.
    pub fn engine_config(&self) -> Result<EngineConfig, crate::engine::InvalidConfig> {
        let mut cfg = match &self.state_config {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    crate::engine::InvalidConfig(format!("reading {}: {e}", path.display()))
                })?;
                EngineConfig::from_json(&bytes).map_err(|e| {
                    crate::engine::InvalidConfig(format!("{}: {}", path.display(), e.0))
                })?
            }
            None => EngineConfig::default(),
        };
        if let Some(v) = self.block_threshold {
            cfg.block_threshold = v;
        }
        if let Some(v) = self.approval_threshold {
            cfg.approval_threshold = v;
        }
        if let Some(v) = self.warn_threshold {
            cfg.warn_threshold = v;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// `sqlite` or `postgres`, from the URL scheme.
    pub fn store_kind(&self) -> &'static str {
        if self.database_url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }
}

/// Replaces the password of a URL (`scheme://user:password@host/…`) with `***`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..rest_start],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_subcommand() {
        let cli = Cli::try_parse_from([
            "llmfw-state",
            "--database-url",
            "sqlite://x.db",
            "--listen",
            "127.0.0.1:1",
        ])
        .unwrap();
        let a = cli.serve_args();
        assert_eq!(a.database_url, "sqlite://x.db");
        assert_eq!(a.listen.port(), 1);
        assert_eq!(a.admin_listen.to_string(), "127.0.0.1:9090");
        let cli = Cli::try_parse_from(["llmfw-state", "serve", "--admin-listen", "0.0.0.0:9999"])
            .unwrap();
        assert_eq!(cli.serve_args().admin_listen.port(), 9999);
        let cli = Cli::try_parse_from(["llmfw-state", "--warn-threshold", "0.9"]).unwrap();
        assert!(cli.serve_args().engine_config().is_err());
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite://state.db"), "sqlite://state.db");
        assert_eq!(
            redact_url("postgres://u:p%40ss@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_url("nonsense"), "nonsense");
    }
}
