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
    /// Apply the database migrations and exit (e.g. as a Kubernetes Job before `serve
    /// --no-migrate`).
    Migrate(MigrateArgs),
    /// Delete events older than the retention once and exit.
    Prune(PruneArgs),
}

/// Flags of `migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Store: `sqlite://PATH` (created if missing) or `postgres://…` / `postgresql://…`.
    #[arg(
        long,
        env = "LLMFW_DATABASE_URL",
        default_value = "sqlite://llmfw-state.db",
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Flags of `prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Store: `sqlite://PATH` or `postgres://…` / `postgresql://…` (migrated first).
    #[arg(
        long,
        env = "LLMFW_DATABASE_URL",
        default_value = "sqlite://llmfw-state.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Delete events older than this many hours (at least 1).
    #[arg(long, env = "LLMFW_RETENTION_HOURS", default_value_t = crate::retention::DEFAULT_RETENTION_HOURS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_hours: u64,
    /// Engine configuration file: its budget windows decide which budget counters can go.
    #[arg(long, env = "LLMFW_STATE_CONFIG")]
    pub state_config: Option<std::path::PathBuf>,
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
    /// gRPC listen address (HTTP/2; plaintext unless --tls-cert/--tls-key are given).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Serve gRPC over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "LLMFW_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "LLMFW_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Require client certificates that chain to these CA certificates (PEM): mutual TLS.
    /// Needs --tls-cert and --tls-key.
    #[arg(long, env = "LLMFW_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// Admin HTTP listen address (/healthz, /readyz, /metrics; the /v1 admin API with a token).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// File holding the bearer token of the admin API (/v1, /openapi.json). Alternatively the
    /// token itself in the environment variable LLMFW_ADMIN_TOKEN. Neither: the API is off.
    #[arg(long, env = "LLMFW_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Delete events older than this many hours (sessions and operator profiles keep their
    /// summaries); 0 keeps events forever.
    #[arg(long, env = "LLMFW_RETENTION_HOURS", default_value_t = crate::retention::DEFAULT_RETENTION_HOURS)]
    pub retention_hours: u64,
    /// Seconds between two retention prunes (the first one this long after the start).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub prune_interval_s: u64,
    /// Do not apply migrations at start-up; fail unless the schema is current (run `llmfw-state
    /// migrate` first).
    #[arg(long)]
    pub no_migrate: bool,
    /// Log format on stderr: `text` (key=value) or `json`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Group commit: most `Evaluate` calls committed in one transaction (the calls that queued
    /// while the previous batch committed); 1 = one transaction per call.
    #[arg(long, env = "LLMFW_GROUP_COMMIT_MAX", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub group_commit_max: u64,
    /// Group commit: writer lanes (batches in flight at once; an operator always uses the same
    /// lane); 0 = 1 on SQLite, 12 on PostgreSQL.
    #[arg(long, env = "LLMFW_GROUP_COMMIT_WRITERS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=64))]
    pub group_commit_writers: u64,
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

/// The environment variable holding the admin token itself.
pub const ADMIN_TOKEN_ENV: &str = "LLMFW_ADMIN_TOKEN";

/// The admin token from a token file or the value of [`ADMIN_TOKEN_ENV`] (empty = unset); both
/// set is an error, so it is never unclear which one is in force.
pub fn resolve_admin_token(
    file: Option<&std::path::Path>,
    env: Option<String>,
) -> Result<Option<crate::admin::AdminToken>, crate::admin::InvalidToken> {
    use crate::admin::{AdminToken, InvalidToken};
    let env = env.filter(|v| !v.trim().is_empty());
    match (file, env) {
        (Some(_), Some(_)) => Err(InvalidToken(format!(
            "both --admin-token-file and {ADMIN_TOKEN_ENV} are set; use one"
        ))),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| InvalidToken(format!("reading {}: {e}", path.display())))?;
            AdminToken::new(&text)
                .map(Some)
                .map_err(|e| InvalidToken(format!("{}: {}", path.display(), e.0)))
        }
        (None, Some(value)) => AdminToken::new(&value)
            .map(Some)
            .map_err(|e| InvalidToken(format!("{ADMIN_TOKEN_ENV}: {}", e.0))),
        (None, None) => Ok(None),
    }
}

/// Reads an engine configuration file (defaults without one), validated.
pub fn read_engine_config(
    path: Option<&std::path::Path>,
) -> Result<EngineConfig, crate::engine::InvalidConfig> {
    let cfg = match path {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                crate::engine::InvalidConfig(format!("reading {}: {e}", path.display()))
            })?;
            EngineConfig::from_json(&bytes)
                .map_err(|e| crate::engine::InvalidConfig(format!("{}: {}", path.display(), e.0)))?
        }
        None => EngineConfig::default(),
    };
    cfg.validate()?;
    Ok(cfg)
}

impl ServeArgs {
    /// The retention of events; `None` when `--retention-hours 0`.
    pub fn retention(&self) -> Option<std::time::Duration> {
        (self.retention_hours > 0)
            .then(|| std::time::Duration::from_secs(self.retention_hours.saturating_mul(3600)))
    }

    /// The engine configuration these flags (and `--state-config`) describe, validated.
    pub fn engine_config(&self) -> Result<EngineConfig, crate::engine::InvalidConfig> {
        let mut cfg = read_engine_config(self.state_config.as_deref())?;
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

    /// The group-commit settings of these flags.
    pub fn group_commit(&self) -> crate::batch::GroupCommit {
        crate::batch::GroupCommit {
            max_batch: usize::try_from(self.group_commit_max).unwrap_or(1),
            writers: usize::try_from(self.group_commit_writers).unwrap_or(0),
        }
    }

    /// The gRPC listener's TLS files; `None`: plaintext.
    pub fn tls(&self) -> Result<Option<crate::tls::TlsFiles>, crate::tls::TlsError> {
        crate::tls::TlsFiles::from_flags(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_client_ca.as_deref(),
        )
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
        // both listeners default to loopback: exposing them is an explicit choice
        assert!(a.admin_listen.ip().is_loopback(), "{}", a.admin_listen);
        let defaults = Cli::try_parse_from(["llmfw-state"]).unwrap().serve_args();
        assert!(
            defaults.admin_listen.ip().is_loopback(),
            "{}",
            defaults.admin_listen
        );
        assert!(defaults.listen.ip().is_loopback(), "{}", defaults.listen);
        let cli = Cli::try_parse_from(["llmfw-state", "serve", "--admin-listen", "0.0.0.0:9999"])
            .unwrap();
        assert_eq!(cli.serve_args().admin_listen.port(), 9999);
        let cli = Cli::try_parse_from(["llmfw-state", "--warn-threshold", "0.9"]).unwrap();
        assert!(cli.serve_args().engine_config().is_err());
        let a = Cli::try_parse_from(["llmfw-state"]).unwrap().serve_args();
        assert_eq!(
            a.retention(),
            Some(std::time::Duration::from_secs(720 * 3600))
        );
        assert!(!a.no_migrate);
        assert!(a.admin_token_file.is_none());
        assert_eq!(a.tls().unwrap(), None, "TLS is off by default");
        assert_eq!(a.group_commit(), crate::batch::GroupCommit::default());
        let a = Cli::try_parse_from(["llmfw-state", "--group-commit-max", "1"])
            .unwrap()
            .serve_args();
        assert_eq!(a.group_commit().max_batch, 1);
        assert!(Cli::try_parse_from(["llmfw-state", "--group-commit-max", "0"]).is_err());
        let a = Cli::try_parse_from([
            "llmfw-state",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-ca",
            "ca.pem",
        ])
        .unwrap()
        .serve_args();
        assert_eq!(a.tls().unwrap().map(|t| t.mode()), Some("mtls"));
        let a = Cli::try_parse_from(["llmfw-state", "--tls-key", "k.pem"])
            .unwrap()
            .serve_args();
        assert!(a.tls().is_err());
        let a = Cli::try_parse_from(["llmfw-state", "--retention-hours", "0", "--no-migrate"])
            .unwrap()
            .serve_args();
        assert_eq!(a.retention(), None);
        assert!(a.no_migrate);
        let cli =
            Cli::try_parse_from(["llmfw-state", "migrate", "--database-url", "sqlite://m.db"])
                .unwrap();
        assert!(
            matches!(cli.command, Some(Command::Migrate(m)) if m.database_url == "sqlite://m.db")
        );
        let cli = Cli::try_parse_from(["llmfw-state", "prune", "--retention-hours", "2"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Prune(p)) if p.retention_hours == 2));
        assert!(Cli::try_parse_from(["llmfw-state", "prune", "--retention-hours", "0"]).is_err());
    }

    /// Every flag of `serve`, `migrate` and `prune` has a row in docs/config-reference.md.
    #[test]
    fn config_reference_documents_every_flag() {
        use clap::CommandFactory as _;
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config-reference.md"),
        )
        .unwrap();
        let section = doc
            .split("## State service (`llmfw-state`)")
            .nth(1)
            .unwrap();
        let cli = Cli::command();
        let mut commands = vec![cli.clone()];
        for name in ["migrate", "prune"] {
            commands.push(cli.find_subcommand(name).unwrap().clone());
        }
        for cmd in commands {
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version"].contains(&long) {
                    continue;
                }
                assert!(
                    section.contains(&format!("| `--{long}` |")),
                    "docs/config-reference.md: no row for `{} --{long}`",
                    cmd.get_name()
                );
            }
        }
        assert!(section.contains("`LLMFW_ADMIN_TOKEN`"));
    }

    #[test]
    fn admin_token_comes_from_one_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "0123456789abcdef-file\n").unwrap();
        let t = resolve_admin_token(Some(&file), None).unwrap().unwrap();
        assert!(t.matches("0123456789abcdef-file"));
        let t = resolve_admin_token(None, Some("0123456789abcdef-env".into()))
            .unwrap()
            .unwrap();
        assert!(t.matches("0123456789abcdef-env"));
        assert!(resolve_admin_token(None, Some("  ".into()))
            .unwrap()
            .is_none());
        assert!(resolve_admin_token(None, None).unwrap().is_none());
        assert!(resolve_admin_token(Some(&file), Some("0123456789abcdef-env".into())).is_err());
        assert!(resolve_admin_token(None, Some("short".into())).is_err());
        assert!(resolve_admin_token(Some(&dir.path().join("missing")), None).is_err());
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
