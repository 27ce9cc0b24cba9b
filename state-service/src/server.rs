//! Wiring: serves gRPC (Evaluate, health, reflection) and admin HTTP, and runs the retention
//! task, until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use llmfw_api::grpc::state_service_server::StateServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::admin::{self, AdminState, AdminToken};
use crate::batch::GroupCommit;
use crate::engine::EngineConfig;
use crate::grpc::StateServer;
use crate::metrics::Metrics;
use crate::store::Store;

/// Bound listeners of a running service.
pub struct Listeners {
    /// gRPC (HTTP/2; TLS when [`ServeOptions::tls`] is set).
    pub grpc: TcpListener,
    /// Admin HTTP.
    pub admin: TcpListener,
}

/// Options of [`serve_with`] beyond the engine configuration.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Bearer token of the admin API; `None` turns `/v1` and `/openapi.json` off.
    pub admin_token: Option<AdminToken>,
    /// Age after which events are pruned; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Time between two prunes (the first one interval after the start).
    pub prune_interval: Duration,
    /// TLS (or mutual TLS) on the gRPC listener; `None`: plaintext HTTP/2.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Group commit of concurrent `Evaluate` calls.
    pub group_commit: GroupCommit,
}

impl Default for ServeOptions {
    /// No admin API, no retention.
    fn default() -> Self {
        ServeOptions {
            admin_token: None,
            retention: None,
            prune_interval: Duration::from_secs(3600),
            tls: None,
            group_commit: GroupCommit::default(),
        }
    }
}

/// Serves on already-bound listeners until `shutdown` resolves, without admin API or retention
/// ([`ServeOptions::default`]). The store must be open and migrated; health reports SERVING
/// from the start.
pub async fn serve(
    store: Arc<dyn Store>,
    config: EngineConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(store, config, ServeOptions::default(), listeners, shutdown).await
}

/// [`serve`] with options: the admin token and retention.
pub async fn serve_with(
    store: Arc<dyn Store>,
    config: EngineConfig,
    options: ServeOptions,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // a bad certificate or key fails here, before anything is served
    let mut grpc_server =
        crate::tls::configure(tonic::transport::Server::builder(), options.tls.as_ref())?;
    let metrics = Arc::new(Metrics::default());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<StateServiceServer<StateServer>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(llmfw_api::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let config = Arc::new(config);
    let service = StateServer::new(
        store.clone(),
        (*config).clone(),
        metrics.clone(),
        options.group_commit,
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let retention = options.retention.map(|age| {
        tokio::spawn(crate::retention::run(
            store.clone(),
            config.clone(),
            metrics.clone(),
            age,
            options.prune_interval,
            stopped(stop_rx.clone()),
        ))
    });
    let admin_app = admin::router(AdminState {
        store,
        metrics,
        config,
        token: options.admin_token,
    });
    let admin_stop = stopped(stop_rx.clone());
    let admin = tokio::spawn(async move {
        axum::serve(listeners.admin, admin_app)
            .with_graceful_shutdown(admin_stop)
            .await
    });

    grpc_server
        .add_service(health_service)
        .add_service(reflection)
        .add_service(StateServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), stopped(stop_rx))
        .await?;
    admin.await??;
    if let Some(task) = retention {
        task.await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Binds both listeners.
pub async fn bind(grpc: SocketAddr, admin: SocketAddr) -> anyhow::Result<Listeners> {
    Ok(Listeners {
        grpc: TcpListener::bind(grpc).await?,
        admin: TcpListener::bind(admin).await?,
    })
}
