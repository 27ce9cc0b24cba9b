//! Shared by the in-process server tests (`grpc.rs`, `admin.rs`): a real `llmfw-state` server
//! (gRPC + admin) on loopback ports chosen by the OS, and the Evaluate request they send.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use llmfw_api::grpc::state_service_client::StateServiceClient;
use llmfw_api::v1;
use llmfw_state::engine::EngineConfig;
use llmfw_state::server::{self, Listeners, ServeOptions};
use llmfw_state::store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process until [`Server::stop`].
pub struct Server {
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Serves `store` with the default engine config and `options`.
pub async fn serve(store: Arc<dyn Store>, options: ServeOptions) -> Server {
    let listeners = Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let grpc = listeners.grpc.local_addr().unwrap();
    let admin = listeners.admin.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_with(
        store,
        EngineConfig::default(),
        options,
        listeners,
        async move {
            let _ = rx.await;
        },
    ));
    Server {
        grpc,
        admin,
        stop,
        task,
    }
}

impl Server {
    pub async fn client(&self) -> StateServiceClient<tonic::transport::Channel> {
        StateServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Stops the server and checks it ended without error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// One proposed call of `tool` on host `target` by `operator` in `session` (tenant `acme`).
pub fn evaluate_request(
    operator: &str,
    session: &str,
    request_id: &str,
    tool: &str,
    target: &str,
    observed_at_ms: i64,
) -> v1::EvaluateRequest {
    v1::EvaluateRequest {
        subject: Some(v1::Subject {
            tenant: "acme".into(),
            operator: operator.into(),
            session: session.into(),
        }),
        request_id: request_id.into(),
        observed_at_ms,
        events: vec![v1::ToolEvent {
            call_id: "call-1".into(),
            tool: tool.into(),
            targets: vec![v1::Target {
                value: target.into(),
                kind: v1::TargetKind::Host as i32,
                in_scope: false,
            }],
            args_digest: "ab".repeat(32),
            ..Default::default()
        }],
        ..Default::default()
    }
}
