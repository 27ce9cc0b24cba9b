//! `llmfw-state` binary: parses flags, sets up logging, opens the store, serves until SIGINT or
//! SIGTERM; `migrate` and `prune` run once and exit.

use anyhow::Context as _;
use clap::Parser as _;
use llmfw_state::config::{
    read_engine_config, redact_url, resolve_admin_token, Cli, Command, LogFormat, ADMIN_TOKEN_ENV,
};
use llmfw_state::{bench, retention, server, store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Bench(args)) = cli.command {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .init();
        println!("{}", bench::run(args).await?);
        return Ok(());
    }
    if let Some(Command::Migrate(args)) = &cli.command {
        init_logs(LogFormat::Text);
        let url = redact_url(&args.database_url);
        let version = store::migrate(&args.database_url)
            .await
            .with_context(|| format!("migrating {url}"))?;
        println!("migrated {url} to schema version {version}");
        return Ok(());
    }
    if let Some(Command::Prune(args)) = &cli.command {
        init_logs(LogFormat::Text);
        let url = redact_url(&args.database_url);
        let config = read_engine_config(args.state_config.as_deref())?;
        let store = store::open(&args.database_url)
            .await
            .with_context(|| format!("opening store {url}"))?;
        let age = std::time::Duration::from_secs(args.retention_hours.saturating_mul(3600));
        let out = retention::prune_once(store.as_ref(), &config, age, retention::now_ms()).await?;
        println!(
            "pruned {} events and {} budget counter buckets older than {} h from {url}",
            out.events, out.budget_counters, args.retention_hours
        );
        return Ok(());
    }
    let args = cli.serve_args();
    init_logs(args.log_format);
    let config = args.engine_config()?;
    let admin_token = resolve_admin_token(
        args.admin_token_file.as_deref(),
        std::env::var(ADMIN_TOKEN_ENV).ok(),
    )?;
    let url = redact_url(&args.database_url);
    tracing::info!(store = args.store_kind(), database_url = %url, migrate = !args.no_migrate, "opening store");
    let store = store::open_store(&args.database_url, !args.no_migrate)
        .await
        .with_context(|| format!("opening store {url}"))?;
    let tls = args.tls()?;
    let listeners = server::bind(args.listen, args.admin_listen).await?;
    tracing::info!(
        grpc = %listeners.grpc.local_addr()?,
        admin = %listeners.admin.local_addr()?,
        admin_api = if admin_token.is_some() { "on" } else { "off (no admin token)" },
        retention_hours = args.retention_hours,
        store = store.kind(),
        grpc_tls = tls.as_ref().map_or("off", |t| t.mode()),
        "llmfw-state listening"
    );
    let options = server::ServeOptions {
        admin_token,
        retention: args.retention(),
        prune_interval: std::time::Duration::from_secs(args.prune_interval_s),
        tls,
        group_commit: args.group_commit(),
    };
    server::serve_with(store, config, options, listeners, shutdown_signal()).await
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for sigint");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("sigint received, shutting down"),
        () = term => tracing::info!("sigterm received, shutting down"),
    }
}
