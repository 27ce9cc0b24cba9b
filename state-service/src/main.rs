//! `llmfw-state` binary: parses flags, sets up logging, opens the store, serves until SIGINT or
//! SIGTERM.

use anyhow::Context as _;
use clap::Parser as _;
use llmfw_state::config::{redact_url, Cli, Command, LogFormat};
use llmfw_state::{bench, server, store};

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
    if let Some(Command::Eval(args)) = &cli.command {
        println!("{}", llmfw_state::eval::main(args)?);
        return Ok(());
    }
    let args = cli.serve_args();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match args.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let config = args.engine_config()?;
    let url = redact_url(&args.database_url);
    tracing::info!(store = args.store_kind(), database_url = %url, "opening store");
    let store = store::open(&args.database_url)
        .await
        .with_context(|| format!("opening store {url}"))?;
    let listeners = server::bind(args.listen, args.admin_listen).await?;
    tracing::info!(
        grpc = %listeners.grpc.local_addr()?,
        admin = %listeners.admin.local_addr()?,
        store = store.kind(),
        "llmfw-state listening"
    );
    server::serve(store, config, listeners, shutdown_signal()).await
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
