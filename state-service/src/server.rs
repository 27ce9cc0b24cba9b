//! Wiring: opens the store, serves gRPC (Evaluate, health, reflection) and admin HTTP until a
//! shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use llmfw_api::grpc::state_service_server::StateServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::admin::{self, AdminState};
use crate::engine::EngineConfig;
use crate::grpc::StateServer;
use crate::metrics::Metrics;
use crate::store::Store;

/// Bound listeners of a running service.
pub struct Listeners {
    /// gRPC (HTTP/2 plaintext).
    pub grpc: TcpListener,
    /// Admin HTTP.
    pub admin: TcpListener,
}

/// Serves on already-bound listeners until `shutdown` resolves. The store must be open and
/// migrated; health reports SERVING from the start.
pub async fn serve(
    store: Arc<dyn Store>,
    config: EngineConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<StateServiceServer<StateServer>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(llmfw_api::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let service = StateServer::new(store.clone(), config, metrics.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let admin_app = admin::router(AdminState { store, metrics });
    let admin_stop = stopped(stop_rx.clone());
    let admin = tokio::spawn(async move {
        axum::serve(listeners.admin, admin_app)
            .with_graceful_shutdown(admin_stop)
            .await
    });

    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(StateServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), stopped(stop_rx))
        .await?;
    admin.await??;
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
